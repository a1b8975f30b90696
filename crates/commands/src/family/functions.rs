//! FUNCTION (LOAD, LIST, DELETE, FLUSH, DUMP, RESTORE, STATS, KILL, HELP), FCALL and
//! FCALL_RO over the libraries of the server's Lua engine (see `scripting.rs` for the
//! engine and the busy-script gate). DUMP and RESTORE use Redis's payload: per library
//! the RDB function opcode and its code as an RDB string, then the RDB version and a CRC64.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use protocol::ReplyWriter;
use scripting::{flags as sflags, Target};

use crate::args::is;
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::family::scripting::{
    flush_mode, owned, run_target, split_keys, state, Announced, Scripting,
};
use crate::family::server::help_reply;
use crate::glob::matches as glob_match;
use crate::spec::{flag::*, CommandSpec, Keys};

const RDB_OPCODE_FUNCTION2: u8 = 245;
/// The RDB version FUNCTION DUMP writes: the one key DUMP writes, so that the Redis versions
/// that RESTORE cinnabar's key payloads (7.0 and later) restore its function payloads too.
fn dump_version() -> u16 {
    crate::family::persistence::RDB_VERSION.number()
}
/// The highest RDB version FUNCTION RESTORE accepts (Redis 7.4's).
const MAX_RDB_VERSION: u16 = persistence::dump::MAX_VERSION;

fn sync_counts(st: &Scripting, engine: &scripting::Engine) {
    st.libraries
        .store(engine.libraries().count(), Ordering::Relaxed);
    st.functions
        .store(engine.function_count(), Ordering::Relaxed);
}

fn fcall_generic(cx: &mut Ctx<'_>, args: &[Bytes], ro: bool) -> CmdResult {
    let st = state(cx.server)?;
    let _announced = Announced(&st);
    let (keys, argv) = split_keys(args)?;
    let mut engine = st.engine.lock();
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let Some(f) = engine.function(&name) else {
        return Err(CmdError::new("ERR Function not found"));
    };
    let no_writes = f.flags & sflags::NO_WRITES != 0;
    if ro && !no_writes {
        return Err(CmdError::new(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    run_target(
        cx,
        &st,
        &mut engine,
        Target::Function(&name),
        args,
        keys,
        argv,
        ro || no_writes,
    )
}

fn fcall(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    fcall_generic(cx, args, false)
}

fn fcall_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    fcall_generic(cx, args, true)
}

fn load(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    for a in &args[2..args.len() - 1] {
        if is(a, "replace") {
            replace = true;
        } else {
            return Err(CmdError::err(format_args!(
                "Unknown option given: {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    let code = &args[args.len() - 1];
    let st = state(cx.server)?;
    let mut engine = st.engine.lock();
    let name = engine.load_library(code, replace).map_err(owned)?;
    sync_counts(&st, &engine);
    // Libraries are not keys: the command logs itself for the AOF and replicas.
    crate::propagate::rewrite(args.to_vec());
    cx.out.bulk(name.as_bytes());
    Ok(())
}

fn delete(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = state(cx.server)?;
    let mut engine = st.engine.lock();
    if !engine.delete_library(&String::from_utf8_lossy(&args[2])) {
        return Err(CmdError::new("ERR Library not found"));
    }
    sync_counts(&st, &engine);
    crate::propagate::rewrite(args.to_vec());
    cx.out.ok();
    Ok(())
}

fn flush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")?;
    let st = state(cx.server)?;
    let mut engine = st.engine.lock();
    engine.flush_functions();
    sync_counts(&st, &engine);
    crate::propagate::rewrite(args.to_vec());
    cx.out.ok();
    Ok(())
}

fn list(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "withcode") {
            if with_code {
                return Err(CmdError::new("ERR Unknown argument withcode"));
            }
            with_code = true;
        } else if is(&args[i], "libraryname") {
            if pattern.is_some() {
                return Err(CmdError::new("ERR library name argument was already given"));
            }
            i += 1;
            let Some(p) = args.get(i) else {
                return Err(CmdError::new("ERR library name argument was not given"));
            };
            pattern = Some(p);
        } else {
            return Err(CmdError::err(format_args!(
                "Unknown argument {}",
                String::from_utf8_lossy(&args[i])
            )));
        }
        i += 1;
    }
    let st = state(cx.server)?;
    let engine = st.engine.lock();
    let libs: Vec<_> = engine
        .libraries()
        .filter(|l| pattern.is_none_or(|p| glob_match(p, l.name.as_bytes(), false)))
        .collect();
    let out = &mut *cx.out;
    out.array(libs.len());
    for lib in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for fname in &lib.functions {
            let Some(f) = engine.function(fname) else {
                out.null();
                continue;
            };
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = sflags::NAMES
                .iter()
                .filter(|(b, _)| f.flags & b != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.bulk(n.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

/// FUNCTION STATS' reply (also answered by the busy gate while a script runs).
pub(crate) fn write_stats(st: &Scripting, out: &mut ReplyWriter) {
    out.map(2);
    out.bulk(b"running_script");
    match st.running_info() {
        Some((name, command, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(command.len());
            for a in &command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        None => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(st.libraries.load(Ordering::Relaxed) as i64);
    out.bulk(b"functions_count");
    out.int(st.functions.load(Ordering::Relaxed) as i64);
}

fn stats(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let st = state(cx.server)?;
    write_stats(&st, cx.out);
    Ok(())
}

fn kill(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    // A running function is killed by the busy gate; here none runs.
    let st = state(cx.server)?;
    crate::family::scripting::kill(&st, false)?;
    cx.out.ok();
    Ok(())
}

// ---- DUMP / RESTORE ----

/// CRC-64/Jones (reflected), Redis's `crc64`.
fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95AC_9329_AC4B_C9B5;
    let mut crc: u64 = 0;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn rdb_len(out: &mut Vec<u8>, len: usize) {
    if len < 64 {
        out.push(len as u8);
    } else if len < 16384 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u32::MAX as usize {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

fn dump(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let st = state(cx.server)?;
    let engine = st.engine.lock();
    let mut out = Vec::new();
    for lib in engine.libraries() {
        out.push(RDB_OPCODE_FUNCTION2);
        rdb_len(&mut out, lib.code.len());
        out.extend_from_slice(&lib.code);
    }
    out.extend_from_slice(&dump_version().to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    cx.out.bulk(&out);
    Ok(())
}

const BAD_PAYLOAD: CmdError = CmdError::new("ERR DUMP payload version or checksum are wrong");
const CORRUPT: CmdError = CmdError::new("ERR payload is corrupted");

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CmdError> {
        if self.b.len() - self.pos < n {
            return Err(CORRUPT);
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, CmdError> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &x| (a << 8) | x as u64))
    }

    /// An RDB length; Err for the special encodings' marker (returned as Ok(None)).
    fn len(&mut self) -> Result<(Option<u8>, u64), CmdError> {
        let c = self.take(1)?[0];
        Ok(match c >> 6 {
            0 => (None, (c & 0x3f) as u64),
            1 => (None, (((c & 0x3f) as u64) << 8) | self.take(1)?[0] as u64),
            2 if c == 0x80 => (None, self.be(4)?),
            2 if c == 0x81 => (None, self.be(8)?),
            3 => (Some(c & 0x3f), 0),
            _ => return Err(CORRUPT),
        })
    }

    fn string(&mut self) -> Result<Vec<u8>, CmdError> {
        match self.len()? {
            (None, n) => {
                let n = usize::try_from(n).map_err(|_| CORRUPT)?;
                Ok(self.take(n)?.to_vec())
            }
            (Some(3), _) => {
                let (_, clen) = self.len()?;
                let (_, len) = self.len()?;
                let clen = usize::try_from(clen).map_err(|_| CORRUPT)?;
                let data = self.take(clen)?;
                lzf_decompress(data, len as usize).ok_or(CORRUPT)
            }
            (Some(enc @ 0..=2), _) => {
                let v: i64 = match enc {
                    0 => self.take(1)?[0] as i8 as i64,
                    1 => i16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]) as i64,
                    _ => {
                        let b = self.take(4)?;
                        i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                    }
                };
                Ok(v.to_string().into_bytes())
            }
            _ => Err(CORRUPT),
        }
    }
}

fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(4)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run)?;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += *input.get(ip)? as usize;
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            run += 2;
            if back > out.len() || out.len() + run > len {
                return None;
            }
            let start = out.len() - back;
            for k in 0..run {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

fn restore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy =
        match args.get(3) {
            None => Policy::Append,
            Some(p) if args.len() == 4 && is(p, "append") => Policy::Append,
            Some(p) if args.len() == 4 && is(p, "replace") => Policy::Replace,
            Some(p) if args.len() == 4 && is(p, "flush") => Policy::Flush,
            Some(_) => return Err(CmdError::new(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let payload = &args[2];
    if payload.len() < 10 {
        return Err(BAD_PAYLOAD);
    }
    let body_len = payload.len() - 10;
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| BAD_PAYLOAD)?);
    if version > MAX_RDB_VERSION || crc64(&payload[..payload.len() - 8]) != crc {
        return Err(BAD_PAYLOAD);
    }
    let mut r = Reader {
        b: &payload[..body_len],
        pos: 0,
    };
    let mut codes = Vec::new();
    while r.pos < body_len {
        let op = r.take(1)?[0];
        if op != RDB_OPCODE_FUNCTION2 {
            return Err(CmdError::new("ERR given type is not a function"));
        }
        codes.push(Bytes::from(r.string()?));
    }
    let st = state(cx.server)?;
    let mut engine = st.engine.lock();
    // Validate everything before changing anything.
    let mut incoming: Vec<(String, Vec<String>)> = Vec::new();
    for code in &codes {
        let (name, fnames) = engine.check_library(code).map_err(owned)?;
        if incoming.iter().any(|(n, _)| *n == name) {
            return Err(CmdError::err(format_args!("Library {name} already exists")));
        }
        incoming.push((name, fnames));
    }
    if policy != Policy::Flush {
        for (name, fnames) in &incoming {
            if policy == Policy::Append && engine.library(name).is_some() {
                return Err(CmdError::err(format_args!("Library {name} already exists")));
            }
            for f in fnames {
                if let Some(existing) = engine.function(f) {
                    if existing.library != *name || policy == Policy::Append {
                        return Err(CmdError::err(format_args!("Function {f} already exists")));
                    }
                }
            }
        }
    } else {
        engine.flush_functions();
    }
    for code in &codes {
        engine.load_library(code, true).map_err(owned)?;
    }
    sync_counts(&st, &engine);
    crate::propagate::rewrite(args.to_vec());
    cx.out.ok();
    Ok(())
}

fn help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "function",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}

/// Never runs: the dispatcher resolves a subcommand or rejects the arity first.
fn container(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(errors::wrong_arity("function"))
}

const RUN: u32 = NOSCRIPT | SKIP_MONITOR | STALE | MOVABLE_KEYS | EXCLUSIVE;
const MANAGE: u32 = NOSCRIPT | EXCLUSIVE;

static SUBCOMMANDS: &[CommandSpec] = &[
    command!("delete", 3, MANAGE | WRITE, Keys::NONE, delete,
        acl: &["scripting"], group: "scripting", since: "7.0.0", complexity: "O(1)",
        summary: "Deletes a library and its functions."),
    command!("dump", 2, MANAGE, Keys::NONE, dump,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "O(N) where N is the number of functions",
        summary: "Dumps all libraries into a serialized binary payload."),
    command!("flush", -2, MANAGE | WRITE, Keys::NONE, flush,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "O(N) where N is the number of functions deleted",
        summary: "Deletes all libraries and functions."),
    command!("help", 2, LOADING | STALE, Keys::NONE, help,
        acl: &["scripting"], group: "scripting", since: "7.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
    command!("kill", 2, NOSCRIPT | ALLOW_BUSY, Keys::NONE, kill,
        acl: &["scripting"], group: "scripting", since: "7.0.0", complexity: "O(1)",
        summary: "Terminates a function during execution."),
    command!("list", -2, MANAGE, Keys::NONE, list,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "O(N) where N is the number of functions",
        summary: "Returns information about all libraries."),
    command!("load", -3, MANAGE | WRITE | DENYOOM, Keys::NONE, load,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "O(1) (considering compilation time is redundant)",
        summary: "Creates a library."),
    command!("restore", -3, MANAGE | WRITE | DENYOOM, Keys::NONE, restore,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "O(N) where N is the number of functions on the payload",
        summary: "Restores all libraries from a payload."),
    command!("stats", 2, NOSCRIPT | ALLOW_BUSY, Keys::NONE, stats,
        acl: &["scripting"], group: "scripting", since: "7.0.0", complexity: "O(1)",
        summary: "Returns information about a function during execution."),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!("fcall", -3, RUN | MAY_REPLICATE, Keys::NONE, fcall,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "Depends on the function that is executed.",
        summary: "Invokes a function."),
    command!("fcall_ro", -3, RUN | READONLY, Keys::NONE, fcall_ro,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "Depends on the function that is executed.",
        summary: "Invokes a read-only function."),
    command!("function", -2, 0, Keys::NONE, container,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "Depends on subcommand.",
        summary: "A container for function commands.",
        subcommands: SUBCOMMANDS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_jones() {
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }
}
