//! The Lua 5.1 engine behind EVAL and FUNCTION: one Lua state per server with Redis's
//! sandbox and `redis` table, the script cache, function libraries, and the conversions
//! between Lua values and RESP.
//!
//! # Layout
//! - this file: [`Engine`] (script cache, libraries, running a script or function) and the
//!   [`Host`] trait through which a script's `redis.call` reaches the commands.
//! - `bootstrap.lua`: the sandbox (read-only globals, Redis's error texts), the `redis`
//!   table, `redis.register_function`, and the error handler that gives an error its
//!   script position.
//! - [`convert`]: RESP reply → Lua value and Lua value → RESP reply, as Redis documents.
//! - [`libs`]: cjson, cmsgpack, bit and struct, which Lua 5.1 itself lacks.
//! - [`sha1`]: script digests.
//! - `rand48`: Redis's `math.random`/`math.randomseed` (rand48, so seeded sequences match).
//!
//! # Invariants
//! - Knows nothing about commands, keys or clients: a script reaches them only through
//!   [`Host::call`], which returns the command's reply as RESP bytes.
//! - Errors come back as complete reply texts with their code (`ERR ...`, `NOSCRIPT ...`).

pub mod convert;
pub mod libs;
mod rand48;
pub mod sha1;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use protocol::ReplyWriter;

pub use sha1::sha1_hex;

/// Script and function flags (`#!lua flags=...`, `register_function{flags=...}`).
pub mod flags {
    pub const NO_WRITES: u32 = 1;
    pub const ALLOW_OOM: u32 = 2;
    pub const ALLOW_STALE: u32 = 4;
    pub const NO_CLUSTER: u32 = 8;
    pub const ALLOW_CROSS_SLOT: u32 = 16;
    /// A script without a shebang: Redis's backwards-compatible EVAL mode.
    pub const EVAL_COMPAT: u32 = 32;

    /// Names in FUNCTION LIST order.
    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    pub fn parse(name: &str) -> Option<u32> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }
}

/// What a running script reaches the server through.
pub trait Host {
    /// Runs one command for `redis.call`/`redis.pcall`, with replies in RESP2 or RESP3
    /// (`resp3`). `Ok`: the command's reply (an error reply included) as RESP bytes.
    /// `Err`: the complete text of a refusal before the command ran (`ERR Unknown Redis
    /// command called from script`, ...).
    fn call(&mut self, args: Vec<Bytes>, resp3: bool) -> Result<Bytes, String>;
    /// Whether `name` is a command (`redis.acl_check_cmd`).
    fn command_exists(&mut self, name: &[u8]) -> bool;
}

/// A cached EVAL script.
pub struct Script {
    pub body: Bytes,
    pub flags: u32,
    func: Function,
}

/// One function of a library.
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: u32,
    pub library: String,
    func: Function,
}

/// A loaded library.
pub struct Library {
    pub name: String,
    pub code: Bytes,
    /// Its functions' names, sorted.
    pub functions: Vec<String>,
}

/// Redis's version as `redis.REDIS_VERSION` reports it.
const VERSION: &str = "7.4.0";
const VERSION_NUM: i64 = 0x070400;

/// The Lua state and everything loaded into it.
pub struct Engine {
    lua: Lua,
    internal: Table,
    /// The bootstrap's `run`, which every script and function call goes through.
    run_fn: Function,
    /// The host of the run in progress, for `redis.call` and friends.
    host: Arc<HostSlot>,
    scripts: HashMap<String, Script>,
    libraries: BTreeMap<String, Library>,
    functions: BTreeMap<String, FunctionInfo>,
    kill: Arc<AtomicBool>,
    long_run: Arc<LongRun>,
}

/// What the instruction hook does once per run, the first time it fires (the script has run
/// 100,000 instructions): the host's chance to move its other work off this thread, so that
/// short scripts never pay for it.
#[derive(Default)]
struct LongRun {
    hook: std::sync::OnceLock<fn()>,
    fired: AtomicBool,
}

/// Where the permanent `redis.call`, `redis.pcall` and `redis.acl_check_cmd` callbacks find
/// the [`Host`] of the run in progress: [`Engine::run`] puts it here for the run's duration,
/// so no callback is created per run.
#[derive(Default)]
struct HostSlot(std::cell::Cell<Option<std::ptr::NonNull<dyn Host + 'static>>>);

// SAFETY: the slot is only touched by the thread running the Lua state (the engine is
// `&mut` for the whole of `Engine::run`, and the callbacks run inside it).
unsafe impl Send for HostSlot {}
// SAFETY: as above; no two threads use one Lua state at once.
unsafe impl Sync for HostSlot {}

impl HostSlot {
    /// Runs `f` with the host, or returns `None` outside a run. The host is taken out of
    /// the slot while `f` runs, so a nested use finds none instead of aliasing it.
    fn with<R>(&self, f: impl FnOnce(&mut dyn Host) -> R) -> Option<R> {
        let mut host = self.0.take()?;
        // SAFETY: `Engine::run` stored a pointer from a `&mut dyn Host` that outlives the
        // run and that it does not touch until the run ends (clearing the slot); taking it
        // out makes this the only reference for `f`'s duration.
        let r = f(unsafe { host.as_mut() });
        self.0.set(Some(host));
        Some(r)
    }

    /// `redis.call` (`raise`) / `redis.pcall` with the run's host: (value, raise-it).
    fn call(
        &self,
        lua: &Lua,
        internal: &Table,
        raise: bool,
        args: mlua::MultiValue,
    ) -> mlua::Result<(Value, bool)> {
        self.with(|host| convert::redis_call(lua, internal, host, raise, args))
            .ok_or_else(no_run)?
    }
}

/// Empties the host slot when a run ends, however it ends.
struct ClearHost<'a>(&'a HostSlot);

impl Drop for ClearHost<'_> {
    fn drop(&mut self) {
        self.0 .0.set(None);
    }
}

fn no_run() -> mlua::Error {
    mlua::Error::runtime("redis.call used outside a script run")
}

/// What runs: an EVAL script (by digest) or a function (by name).
pub enum Target<'a> {
    Script(&'a str),
    Function(&'a str),
}

fn lua_err(e: mlua::Error) -> String {
    format!("ERR internal Lua error: {e}")
}

/// Replaces CR and LF by spaces, as Redis does in error replies.
pub fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

impl Engine {
    /// A fresh Lua state with the sandbox and the libraries.
    pub fn new() -> Result<Engine, String> {
        // SAFETY: the debug library is loaded only to build the error handler (which needs
        // `debug.getinfo`); the bootstrap removes it from the globals before any user code.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::default(),
            )
        };
        let kill = Arc::new(AtomicBool::new(false));
        let internal = lua.create_table().map_err(lua_err)?;
        let host = Arc::new(HostSlot::default());
        Self::setup(&lua, &internal, &kill, &host).map_err(lua_err)?;
        let run_fn: Function = internal.get("run").map_err(lua_err)?;
        let hook_kill = kill.clone();
        let long_run = Arc::new(LongRun::default());
        let hook_long_run = long_run.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| {
                if hook_kill.load(Ordering::Relaxed) {
                    return Err(mlua::Error::runtime(KILLED));
                }
                if !hook_long_run.fired.swap(true, Ordering::Relaxed) {
                    if let Some(f) = hook_long_run.hook.get() {
                        f();
                    }
                }
                Ok(VmState::Continue)
            },
        );
        Ok(Engine {
            lua,
            internal,
            run_fn,
            host,
            scripts: HashMap::new(),
            libraries: BTreeMap::new(),
            functions: BTreeMap::new(),
            kill,
            long_run,
        })
    }

    /// Sets what runs once per script run when the script turns out to be long (see
    /// `LongRun`); set once, later calls are ignored.
    pub fn set_long_run_hook(&self, f: fn()) {
        let _ = self.long_run.hook.set(f);
    }

    fn setup(
        lua: &Lua,
        internal: &Table,
        kill: &Arc<AtomicBool>,
        host: &Arc<HostSlot>,
    ) -> mlua::Result<()> {
        let g = lua.globals();
        libs::install(lua, &g)?;
        rand48::install(lua, &g.get::<Table>("math")?)?;
        let getinfo: Function = g.get::<Table>("debug")?.get("getinfo")?;
        internal.set("version", VERSION)?;
        internal.set("version_num", VERSION_NUM)?;
        internal.set("resp", 2)?;
        internal.set(
            "sha1hex",
            lua.create_function(|_, v: Value| {
                let bytes = match &v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(_) | Value::Number(_) => {
                        convert::lua_number_text(&v).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                Ok(sha1_hex(&bytes))
            })?,
        )?;
        internal.set(
            "log",
            lua.create_function(|_, (level, msg): (i64, mlua::String)| {
                let msg = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
                match level {
                    0 => tracing::debug!(target: "lua", "{msg}"),
                    1 => tracing::trace!(target: "lua", "{msg}"),
                    2 => tracing::info!(target: "lua", "{msg}"),
                    _ => tracing::warn!(target: "lua", "{msg}"),
                }
                Ok(())
            })?,
        )?;
        let k = kill.clone();
        internal.set(
            "killed",
            lua.create_function(move |_, ()| Ok(k.load(Ordering::Relaxed)))?,
        )?;
        internal.set("pending", lua.create_table()?)?;
        // redis.call is a C function (as in Redis) so a script's `return redis.call(...)`
        // keeps the script's frame for the error position. Its error table travels in
        // `last_error`, the Lua error itself being a marker the error handler recognises.
        let (int2, slot) = (internal.clone(), host.clone());
        internal.set(
            "call_raise",
            lua.create_function(move |lua, args: mlua::MultiValue| {
                let (v, failed) = slot.call(lua, &int2, true, args)?;
                if failed {
                    int2.raw_set("last_error", v)?;
                    return Err(mlua::Error::runtime(CALL_ERROR));
                }
                Ok(v)
            })?,
        )?;
        let (int2, slot) = (internal.clone(), host.clone());
        internal.set(
            "pcall",
            lua.create_function(move |lua, args: mlua::MultiValue| {
                Ok(slot.call(lua, &int2, false, args)?.0)
            })?,
        )?;
        let slot = host.clone();
        internal.set(
            "command_exists",
            lua.create_function(move |_, name: mlua::String| {
                slot.with(|host| host.command_exists(&name.as_bytes()))
                    .ok_or_else(no_run)
            })?,
        )?;
        lua.load(include_str!("bootstrap.lua"))
            .set_name("=cinnabar")
            .call::<()>((g, internal.clone(), getinfo))?;
        Ok(())
    }

    /// The flag a SCRIPT KILL / FUNCTION KILL sets; the running script stops at its next
    /// check (every 100,000 Lua instructions).
    pub fn kill_flag(&self) -> Arc<AtomicBool> {
        self.kill.clone()
    }

    // ---- EVAL scripts ----

    /// Compiles and caches `body` (EVAL, SCRIPT LOAD). Returns its digest.
    pub fn load_script(&mut self, body: &Bytes) -> Result<String, String> {
        let sha = sha1_hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = parse_script_shebang(body)?;
        let env: Table = self.internal.get("env").map_err(lua_err)?;
        let func = self
            .lua
            .load(&code[..])
            .set_name("@user_script")
            .set_environment(env)
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {} ",
                    one_line(&syntax_message(&e))
                )
            })?;
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.clone(),
                flags,
                func,
            },
        );
        Ok(sha)
    }

    /// The cached script with this digest (lower-case hex).
    pub fn script(&self, sha: &str) -> Option<&Script> {
        self.scripts.get(sha)
    }

    /// SCRIPT FLUSH.
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
        let _ = self.lua.gc_collect();
    }

    // ---- Functions ----

    /// FUNCTION LOAD: runs the library's code, which registers its functions. Returns the
    /// library's name.
    pub fn load_library(&mut self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (name, body) = parse_library_shebang(code)?;
        if !replace && self.libraries.contains_key(&name) {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let pending = self.run_library_code(&body)?;
        if pending.is_empty() {
            return Err("ERR No functions registered".to_string());
        }
        for f in &pending {
            if let Some(existing) = self.functions.get(&f.name) {
                if existing.library != name {
                    return Err(format!("ERR Function {} already exists", f.name));
                }
            }
        }
        self.remove_library(&name);
        let mut names: Vec<String> = pending.iter().map(|f| f.name.clone()).collect();
        names.sort();
        for mut f in pending {
            f.library = name.clone();
            self.functions.insert(f.name.clone(), f);
        }
        self.libraries.insert(
            name.clone(),
            Library {
                name: name.clone(),
                code: code.clone(),
                functions: names,
            },
        );
        Ok(name)
    }

    /// Checks that `code` is a loadable library without keeping it (FUNCTION RESTORE
    /// validates every library before changing anything).
    pub fn check_library(&mut self, code: &Bytes) -> Result<(String, Vec<String>), String> {
        let (name, body) = parse_library_shebang(code)?;
        let pending = self.run_library_code(&body)?;
        if pending.is_empty() {
            return Err("ERR No functions registered".to_string());
        }
        Ok((name, pending.into_iter().map(|f| f.name).collect()))
    }

    fn run_library_code(&mut self, body: &[u8]) -> Result<Vec<FunctionInfo>, String> {
        let lua = &self.lua;
        let internal = &self.internal;
        let fenv: Table = internal.get("fenv").map_err(lua_err)?;
        let func = lua
            .load(body)
            .set_name("@user_function")
            .set_environment(fenv)
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling function: {}",
                    one_line(&syntax_message(&e))
                )
            })?;
        let pending = lua.create_table().map_err(lua_err)?;
        internal.set("pending", pending.clone()).map_err(lua_err)?;
        let loader: Value = internal.get("loader").map_err(lua_err)?;
        let redis: Value = internal.get("redis").map_err(lua_err)?;
        internal.set("fredis", loader).map_err(lua_err)?;
        let load: Function = internal.get("load").map_err(lua_err)?;
        let result = load.call::<(bool, Value)>(func);
        internal.set("fredis", redis).map_err(lua_err)?;
        let _ = internal.set("pending", lua.create_table().map_err(lua_err)?);
        let (ok, err) = result.map_err(lua_err)?;
        if !ok {
            let msg = match &err {
                Value::Table(t) => t
                    .raw_get::<Option<mlua::String>>("err")
                    .ok()
                    .flatten()
                    .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                    .unwrap_or_default(),
                other => format!("ERR {other:?}"),
            };
            return Err(format!(
                "ERR Error registering functions: {}",
                one_line(&msg)
            ));
        }
        let mut out = Vec::new();
        for entry in pending.sequence_values::<Table>() {
            let entry = entry.map_err(lua_err)?;
            out.push(FunctionInfo {
                name: entry.get("name").map_err(lua_err)?,
                description: entry.get("description").map_err(lua_err)?,
                flags: entry
                    .get::<Option<u32>>("flags")
                    .map_err(lua_err)?
                    .unwrap_or(0),
                library: String::new(),
                func: entry.get("callback").map_err(lua_err)?,
            });
        }
        Ok(out)
    }

    fn remove_library(&mut self, name: &str) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            self.functions.remove(f);
        }
        Some(lib)
    }

    /// FUNCTION DELETE. Returns whether the library existed.
    pub fn delete_library(&mut self, name: &str) -> bool {
        self.remove_library(name).is_some()
    }

    /// FUNCTION FLUSH.
    pub fn flush_functions(&mut self) {
        self.libraries.clear();
        self.functions.clear();
        let _ = self.lua.gc_collect();
    }

    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    pub fn library(&self, name: &str) -> Option<&Library> {
        self.libraries.get(name)
    }

    pub fn function(&self, name: &str) -> Option<&FunctionInfo> {
        self.functions.get(name)
    }

    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// Bytes used by the Lua state (INFO used_memory_lua).
    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }

    // ---- Running ----

    /// Runs a cached script or a function with `keys` and `args`, writing its reply to
    /// `out` (whose protocol is the caller's). `Err`: the complete error text.
    pub fn run(
        &mut self,
        target: Target<'_>,
        keys: &[Bytes],
        args: &[Bytes],
        host: &mut dyn Host,
        out: &mut ReplyWriter,
    ) -> Result<(), String> {
        let (func, name, eval) = match target {
            Target::Script(sha) => match self.scripts.get(sha) {
                Some(s) => (s.func.clone(), sha.to_string(), true),
                None => return Err(NOSCRIPT.to_string()),
            },
            Target::Function(name) => match self.functions.get(name) {
                Some(f) => (f.func.clone(), f.name.clone(), false),
                None => return Err("ERR Function not found".to_string()),
            },
        };
        // The flag is cleared when a run ends, not when it starts: a kill that arrives
        // before the first instruction still counts.
        self.long_run.fired.store(false, Ordering::Relaxed);
        let lua = &self.lua;
        let host: std::ptr::NonNull<dyn Host + '_> = std::ptr::NonNull::from(host);
        // SAFETY: only the lifetime is erased; `_clear` empties the slot before this
        // function returns, so the pointer is never used past the borrow it came from.
        let host: std::ptr::NonNull<dyn Host + 'static> = unsafe { std::mem::transmute(host) };
        self.host.0.set(Some(host));
        let _clear = ClearHost(&self.host);
        let result = (|| -> mlua::Result<Result<(), String>> {
            let keys_t = lua.create_sequence_from(
                keys.iter()
                    .map(|k| lua.create_string(k))
                    .collect::<mlua::Result<Vec<_>>>()?,
            )?;
            let args_t = lua.create_sequence_from(
                args.iter()
                    .map(|a| lua.create_string(a))
                    .collect::<mlua::Result<Vec<_>>>()?,
            )?;
            let (ok, value, resp): (bool, Value, i64) =
                self.run_fn.call((&func, keys_t, args_t, eval))?;
            if ok {
                convert::write_reply(&value, resp == 3, out);
                Ok(Ok(()))
            } else {
                Ok(Err(self::error_text(&value, &name)))
            }
        })();
        let killed = self.kill.swap(false, Ordering::Relaxed);
        let result = result.map_err(lua_err)?;
        match result {
            Err(mut text) if killed => {
                // The hook's error, whatever pcall made of it on the way.
                let pos = text.find(" script: ").unwrap_or(text.len());
                text.replace_range(..pos, KILLED_REPLY);
                let _ = eval;
                Err(text)
            }
            other => other,
        }
    }
}

/// Redis's reply when EVALSHA names no cached script.
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const CALL_ERROR: &str = "\u{1}redis.call error";
const KILLED: &str = "Script killed by user with SCRIPT KILL...";
const KILLED_REPLY: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The reply text of a script's error table `{err=, source=, line=}` (luaCallFunction).
fn error_text(value: &Value, name: &str) -> String {
    let Value::Table(t) = value else {
        return format!("ERR Error running script {name}, execution failure");
    };
    let get = |k: &str| -> Option<String> {
        match t.raw_get::<Value>(k).ok()? {
            Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            v @ (Value::Integer(_) | Value::Number(_)) => {
                convert::lua_number_text(&v).map(|b| String::from_utf8_lossy(&b).into_owned())
            }
            _ => None,
        }
    };
    let mut msg = get("err").unwrap_or_default();
    if let (Some(source), Some(line)) = (get("source"), get("line")) {
        msg.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    one_line(&msg)
}

/// The Lua message of a compilation error.
fn syntax_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Splits `#!lua flags=...` off a script. Returns the flags and the code, whose first line
/// is emptied (so line numbers match the body's).
fn parse_script_shebang(body: &[u8]) -> Result<(u32, Vec<u8>), String> {
    if !body.starts_with(b"#!") {
        return Ok((flags::EVAL_COMPAT, body.to_vec()));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut f = 0;
    for part in parts {
        if let Some(list) = part.strip_prefix("flags=") {
            for name in list.split(',').filter(|n| !n.is_empty()) {
                match flags::parse(name) {
                    Some(b) => f |= b,
                    None => return Err(format!("ERR Unexpected flag in script shebang: {name}")),
                }
            }
        } else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        }
    }
    Ok((f, body[end..].to_vec()))
}

/// Splits `#!lua name=lib` off a library (functionExtractLibMetaData).
fn parse_library_shebang(code: &[u8]) -> Result<(String, Vec<u8>), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".to_string());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".to_string());
    };
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    let mut name: Option<String> = None;
    for part in parts {
        match part.strip_prefix("name=") {
            Some(n) => {
                if name.is_some() {
                    return Err(
                        "ERR Invalid metadata value, name argument was given multiple times"
                            .to_string(),
                    );
                }
                name = Some(n.to_string());
            }
            None => return Err(format!("ERR Invalid metadata value given: {part}")),
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".to_string());
    };
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_string());
    }
    Ok((name, code[end..].to_vec()))
}

/// The library name in `code`'s shebang, if it parses (FUNCTION RESTORE).
pub fn library_name(code: &[u8]) -> Result<String, String> {
    parse_library_shebang(code).map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoHost;
    impl Host for NoHost {
        fn call(&mut self, _args: Vec<Bytes>, _resp3: bool) -> Result<Bytes, String> {
            Ok(Bytes::from_static(b"+OK\r\n"))
        }
        fn command_exists(&mut self, _name: &[u8]) -> bool {
            true
        }
    }

    fn run_killed(body: &'static str) -> String {
        let mut e = Engine::new().expect("engine");
        let sha = e
            .load_script(&Bytes::from_static(body.as_bytes()))
            .expect("load");
        let kill = e.kill_flag();
        let t = std::thread::spawn(move || {
            let mut out = ReplyWriter::new(protocol::Protocol::Resp2);
            e.run(Target::Script(&sha), &[], &[], &mut NoHost, &mut out)
                .expect_err("killed")
        });
        while !kill.load(Ordering::Relaxed) && !t.is_finished() {
            std::thread::yield_now();
            kill.store(true, Ordering::Relaxed);
        }
        t.join().expect("join")
    }

    #[test]
    fn kill_stops_a_loop_even_through_pcall() {
        assert!(run_killed("while true do end").starts_with(KILLED_REPLY));
        assert!(
            run_killed("while true do pcall(function() while true do end end) end")
                .starts_with(KILLED_REPLY)
        );
    }
}
