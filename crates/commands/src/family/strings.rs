//! String commands: GET, SET and friends, counters, ranges.

use bytes::Bytes;
use keyspace::{event, Value};

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::spec::{flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[
    command!("get", 2, READONLY | FAST, Keys::ONE, get,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the string value of a key."),
    command!("set", -3, WRITE | DENYOOM, Keys::ONE, set,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    command!("incr", 2, WRITE | DENYOOM | FAST, Keys::ONE, incr,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    command!("decr", 2, WRITE | DENYOOM | FAST, Keys::ONE, decr,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    command!("incrby", 3, WRITE | DENYOOM | FAST, Keys::ONE, incrby,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    command!("decrby", 3, WRITE | DENYOOM | FAST, Keys::ONE, decrby,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    command!("mget", -2, READONLY | FAST, Keys::ALL, mget,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(N) where N is the number of keys to retrieve.",
        summary: "Atomically returns the string values of one or more keys."),
    command!("mset", -3, WRITE | DENYOOM, Keys::PAIRS, mset,
        acl: &["string"], group: "string", since: "1.0.1", complexity: "O(N) where N is the number of keys to set.",
        summary: "Atomically creates or modifies the string values of one or more keys."),
];

/// Writes the value at `pos` of a locked shard as a bulk string.
#[inline]
fn reply_value(out: &mut protocol::ReplyWriter, v: &Value) {
    let mut buf = itoa::Buffer::new();
    match v.as_bytes(&mut buf) {
        Some(b) => out.bulk(b),
        None => out.null(),
    }
}

fn get(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    match k.string_pos(&args[1], true)? {
        Some(pos) => reply_value(cx.out, k.shard.value(pos)),
        None => cx.out.null(),
    }
    Ok(())
}

/// When a SET-family command makes a key expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    None,
    KeepTtl,
    /// Absolute time in ms.
    At(u64),
    Persist,
}

/// Parses `EX|PX|EXAT|PXAT <n>` at `args[i]`, returning the absolute expiry time.
/// `cmd` names the command in the "invalid expire time" error.
pub(crate) fn parse_expire_option(
    opt: &[u8],
    arg: &[u8],
    now_ms: u64,
    cmd: &str,
) -> Result<u64, CmdError> {
    let n = parse_i64(arg)?;
    if n <= 0 {
        return Err(errors::invalid_expire(cmd));
    }
    let (ms, absolute) = if is(opt, "ex") {
        (n.checked_mul(1000), false)
    } else if is(opt, "px") {
        (Some(n), false)
    } else if is(opt, "exat") {
        (n.checked_mul(1000), true)
    } else {
        (Some(n), true)
    };
    let ms = ms.ok_or_else(|| errors::invalid_expire(cmd))?;
    if absolute {
        Ok(ms as u64)
    } else {
        (ms as u64)
            .checked_add(now_ms)
            .filter(|&v| v <= i64::MAX as u64)
            .ok_or_else(|| errors::invalid_expire(cmd))
    }
}

fn set(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut expiry = Expiry::None;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") && !xx {
            nx = true;
        } else if is(a, "xx") && !nx {
            xx = true;
        } else if is(a, "get") {
            get = true;
        } else if is(a, "keepttl") && expiry == Expiry::None {
            expiry = Expiry::KeepTtl;
        } else if (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
            && expiry == Expiry::None
            && i + 1 < args.len()
        {
            expiry = Expiry::At(parse_expire_option(
                a,
                &args[i + 1],
                cx.store.now_ms,
                "set",
            )?);
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let existing = k.find(key);
    if get {
        if let Some(pos) = existing {
            if !k.shard.value(pos).is_string() {
                return Err(errors::WRONGTYPE);
            }
        }
    }
    if (nx && existing.is_some()) || (xx && existing.is_none()) {
        match existing.filter(|_| get) {
            Some(pos) => reply_value(cx.out, k.shard.value(pos)),
            None => cx.out.null(),
        }
        return Ok(());
    }
    let value = Value::string(&args[2]);
    let old = match existing {
        Some(pos) => {
            let old = k.shard.replace(pos, value);
            if expiry != Expiry::KeepTtl {
                k.shard.set_expire(pos, None);
            }
            k.shard.touch(pos, &k.op);
            if let Expiry::At(at) = expiry {
                k.shard.set_expire(pos, Some(at));
            }
            Some(old)
        }
        None => {
            let pos = k.shard.insert(&k.op, k.hash, key, value);
            if let Expiry::At(at) = expiry {
                k.shard.set_expire(pos, Some(at));
            }
            None
        }
    };
    k.op.emit(key, event::SET);
    if matches!(expiry, Expiry::At(_)) {
        k.op.emit(key, event::EXPIRE);
    }
    if get {
        match old {
            Some(v) => reply_value(cx.out, &v),
            None => cx.out.null(),
        }
    } else {
        cx.out.ok();
    }
    Ok(())
}

/// Adds `delta` to the integer at `key` and replies with the result.
pub(crate) fn incr_by(cx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let mut k = cx.store.lock(key);
    let n = match k.string_pos(key, false)? {
        Some(pos) => {
            let cur = match k.shard.value(pos) {
                Value::Int(i) => *i,
                v => {
                    let mut buf = itoa::Buffer::new();
                    v.as_bytes(&mut buf)
                        .and_then(keyspace::parse_canonical_i64)
                        .ok_or(errors::NOT_INTEGER)?
                }
            };
            let n = cur.checked_add(delta).ok_or(errors::OVERFLOW)?;
            *k.shard.value_mut(pos) = Value::Int(n);
            n
        }
        None => {
            k.shard.insert(&k.op, k.hash, key, Value::Int(delta));
            delta
        }
    };
    k.op.emit(key, event::INCRBY);
    cx.out.int(n);
    Ok(())
}

fn incr(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(cx, &args[1], 1)
}

fn decr(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(cx, &args[1], -1)
}

fn incrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let d = parse_i64(&args[2])?;
    incr_by(cx, &args[1], d)
}

fn decrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let d = parse_i64(&args[2])?;
    if d == i64::MIN {
        return Err(CmdError::new("ERR decrement would overflow"));
    }
    incr_by(cx, &args[1], -d)
}

fn mget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..];
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    cx.out.array(keys.len());
    for (key, &(hash, shard)) in keys.iter().zip(&placed) {
        let s = locked.shard(shard);
        match s.lookup_read(&op, hash, key) {
            Some(pos) if s.value(pos).is_string() => reply_value(cx.out, s.value(pos)),
            _ => cx.out.null(),
        }
    }
    Ok(())
}

fn mset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 == 0 {
        return Err(errors::wrong_arity("mset"));
    }
    let pairs = &args[1..];
    let (mut locked, placed) = cx.store.lock_keys(pairs.iter().step_by(2).map(|k| &k[..]));
    let op = cx.store.op();
    for (kv, &(hash, shard)) in pairs.chunks_exact(2).zip(&placed) {
        locked
            .shard(shard)
            .upsert(&op, hash, &kv[0], Value::string(&kv[1]), false);
        op.emit(&kv[0], event::SET);
    }
    cx.out.ok();
    Ok(())
}
