//! String commands: GET, SET and its variants, GETEX/GETDEL/GETSET, MGET/MSET/MSETNX,
//! APPEND, STRLEN, ranges, counters (INCR..., INCRBYFLOAT) and LCS. Behaviour and error
//! texts follow Redis's `t_string.c`.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use keyspace::{event, Value};
use longdouble::LongDouble;

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
    command!("setnx", 3, WRITE | DENYOOM | FAST, Keys::ONE, setnx,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Set the string value of a key only when the key doesn't exist."),
    command!("setex", 4, WRITE | DENYOOM, Keys::ONE, setex,
        acl: &["string"], group: "string", since: "2.0.0", complexity: "O(1)",
        summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    command!("psetex", 4, WRITE | DENYOOM, Keys::ONE, psetex,
        acl: &["string"], group: "string", since: "2.6.0", complexity: "O(1)",
        summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."),
    command!("getset", 3, WRITE | DENYOOM | FAST, Keys::ONE, getset,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the previous string value of a key after setting it to a new value."),
    command!("getex", -2, WRITE | FAST, Keys::ONE, getex,
        acl: &["string"], group: "string", since: "6.2.0", complexity: "O(1)",
        summary: "Returns the string value of a key after setting its expiration time."),
    command!("getdel", 2, WRITE | FAST, Keys::ONE, getdel,
        acl: &["string"], group: "string", since: "6.2.0", complexity: "O(1)",
        summary: "Returns the string value of a key after deleting the key."),
    command!("mget", -2, READONLY | FAST, Keys::ALL, mget,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(N) where N is the number of keys to retrieve.",
        summary: "Atomically returns the string values of one or more keys."),
    command!("mset", -3, WRITE | DENYOOM, Keys::PAIRS, mset,
        acl: &["string"], group: "string", since: "1.0.1", complexity: "O(N) where N is the number of keys to set.",
        summary: "Atomically creates or modifies the string values of one or more keys."),
    command!("msetnx", -3, WRITE | DENYOOM, Keys::PAIRS, msetnx,
        acl: &["string"], group: "string", since: "1.0.1", complexity: "O(N) where N is the number of keys to set.",
        summary: "Atomically modifies the string values of one or more keys only when all keys don't exist."),
    command!("append", 3, WRITE | DENYOOM | FAST, Keys::ONE, append,
        acl: &["string"], group: "string", since: "2.0.0",
        complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
        summary: "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    command!("strlen", 2, READONLY | FAST, Keys::ONE, strlen,
        acl: &["string"], group: "string", since: "2.2.0", complexity: "O(1)",
        summary: "Returns the length of a string value."),
    command!("getrange", 4, READONLY, Keys::ONE, getrange,
        acl: &["string"], group: "string", since: "2.4.0", complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
        summary: "Returns a substring of the string stored at a key."),
    command!("substr", 4, READONLY, Keys::ONE, getrange,
        acl: &["string"], group: "string", since: "1.0.0", complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
        summary: "Returns a substring from a string value."),
    command!("setrange", 4, WRITE | DENYOOM, Keys::ONE, setrange,
        acl: &["string"], group: "string", since: "2.2.0",
        complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
        summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
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
    command!("incrbyfloat", 3, WRITE | DENYOOM | FAST, Keys::ONE, incrbyfloat,
        acl: &["string"], group: "string", since: "2.6.0", complexity: "O(1)",
        summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    command!("lcs", -3, READONLY, Keys { first: 1, last: 2, step: 1 }, lcs,
        acl: &["string"], group: "string", since: "7.0.0",
        complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        summary: "Finds the longest common substring."),
];

/// Writes a string value as a bulk string.
#[inline]
fn reply_value(out: &mut protocol::ReplyWriter, v: &Value) {
    let mut buf = itoa::Buffer::new();
    match v.as_bytes(&mut buf) {
        Some(b) => out.bulk(b),
        None => out.null(),
    }
}

/// proto-max-bulk-len: the longest string APPEND and SETRANGE may build.
fn max_string_len(cx: &Ctx<'_>) -> u64 {
    cx.server.config.proto_max_bulk_len.load(Ordering::Relaxed)
}

/// Redis's `checkStringLength`: refuses a string of `size + extra` bytes.
fn check_string_length(cx: &Ctx<'_>, size: usize, extra: usize) -> CmdResult {
    match (size as u64).checked_add(extra as u64) {
        Some(total) if total <= max_string_len(cx) => Ok(()),
        _ => Err(errors::STRING_TOO_LONG),
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

// ----- SET and its options ------------------------------------------------------------------

/// Option flags of SET and GETEX, as Redis's `OBJ_*` flags.
mod opt {
    pub const NX: u32 = 1 << 0;
    pub const XX: u32 = 1 << 1;
    pub const EX: u32 = 1 << 2;
    pub const PX: u32 = 1 << 3;
    pub const KEEPTTL: u32 = 1 << 4;
    pub const GET: u32 = 1 << 5;
    pub const EXAT: u32 = 1 << 6;
    pub const PXAT: u32 = 1 << 7;
    pub const PERSIST: u32 = 1 << 8;
    pub const ANY_EXPIRE: u32 = EX | PX | EXAT | PXAT;
}

/// Parsed SET/GETEX options: flags and the unparsed expire argument.
struct ExtArgs<'a> {
    flags: u32,
    expire: Option<&'a [u8]>,
}

/// Redis's `parseExtendedStringArgumentsOrReply`: options from `args[start..]`; `set` picks
/// the SET options (NX XX GET KEEPTTL) over GETEX's (PERSIST). Repeating an option is
/// allowed, combining exclusive ones is a syntax error.
fn parse_extended(args: &[Bytes], start: usize, set: bool) -> Result<ExtArgs<'_>, CmdError> {
    use opt::*;
    let mut x = ExtArgs {
        flags: 0,
        expire: None,
    };
    let mut j = start;
    while j < args.len() {
        let a = &args[j];
        let next = args.get(j + 1);
        let f = x.flags;
        let expire_ok = |own: u32| f & (KEEPTTL | PERSIST | (ANY_EXPIRE & !own)) == 0;
        if set && is(a, "nx") && f & XX == 0 {
            x.flags |= NX;
        } else if set && is(a, "xx") && f & NX == 0 {
            x.flags |= XX;
        } else if set && is(a, "get") {
            x.flags |= GET;
        } else if set && is(a, "keepttl") && f & (PERSIST | ANY_EXPIRE) == 0 {
            x.flags |= KEEPTTL;
        } else if !set && is(a, "persist") && f & (ANY_EXPIRE | KEEPTTL) == 0 {
            x.flags |= PERSIST;
        } else if let Some(unit) = [(EX, "ex"), (PX, "px"), (EXAT, "exat"), (PXAT, "pxat")]
            .into_iter()
            .find(|&(u, name)| is(a, name) && expire_ok(u) && next.is_some())
            .map(|(u, _)| u)
        {
            x.flags |= unit;
            x.expire = next.map(|n| &n[..]);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    Ok(x)
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry time (ms) of an EX/PX/EXAT/
/// PXAT argument; `cmd` names the command in the error.
fn expire_at_ms(flags: u32, arg: &[u8], now_ms: u64, cmd: &str) -> Result<u64, CmdError> {
    let n = parse_i64(arg)?;
    let seconds = flags & (opt::EX | opt::EXAT) != 0;
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(errors::invalid_expire(cmd));
    }
    let ms = if seconds { n * 1000 } else { n };
    let at = if flags & (opt::EX | opt::PX) != 0 {
        ms.checked_add(now_ms as i64)
    } else {
        Some(ms)
    };
    match at {
        Some(at) if at > 0 => Ok(at as u64),
        _ => Err(errors::invalid_expire(cmd)),
    }
}

/// What a SET-family command replies when it sets (`Ok`: +OK, `One`: :1) and when NX/XX
/// stop it (+OK → nil, :1 → :0).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetReply {
    Ok,
    One,
}

/// Redis's `setGenericCommand`: SET, SETNX, SETEX and PSETEX.
fn set_generic(
    cx: &mut Ctx<'_>,
    key: &[u8],
    val: &[u8],
    x: ExtArgs<'_>,
    cmd: &str,
    reply: SetReply,
) -> CmdResult {
    let at = match x.expire {
        Some(e) => Some(expire_at_ms(x.flags, e, cx.store.now_ms, cmd)?),
        None => None,
    };
    let get = x.flags & opt::GET != 0;
    let mut k = cx.store.lock(key);
    if get {
        match k.string_pos(key, true)? {
            Some(pos) => reply_value(cx.out, k.shard.value(pos)),
            None => cx.out.null(),
        }
    }
    let found = k.find(key).is_some();
    if (x.flags & opt::NX != 0 && found) || (x.flags & opt::XX != 0 && !found) {
        if !get {
            match reply {
                SetReply::Ok => cx.out.null(),
                SetReply::One => cx.out.int(0),
            }
        }
        return Ok(());
    }
    let keep_ttl = x.flags & opt::KEEPTTL != 0;
    let pos = k.set(key, Value::string(val), keep_ttl, event::SET);
    if let Some(at) = at {
        k.shard.set_expire(pos, Some(at));
        k.op.emit(key, event::EXPIRE);
    }
    if !get {
        match reply {
            SetReply::Ok => cx.out.ok(),
            SetReply::One => cx.out.int(1),
        }
    }
    Ok(())
}

fn set(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let x = parse_extended(args, 3, true)?;
    set_generic(cx, &args[1], &args[2], x, "set", SetReply::Ok)
}

fn setnx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let x = ExtArgs {
        flags: opt::NX,
        expire: None,
    };
    set_generic(cx, &args[1], &args[2], x, "setnx", SetReply::One)
}

fn setex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let x = ExtArgs {
        flags: opt::EX,
        expire: Some(&args[2]),
    };
    set_generic(cx, &args[1], &args[3], x, "setex", SetReply::Ok)
}

fn psetex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let x = ExtArgs {
        flags: opt::PX,
        expire: Some(&args[2]),
    };
    set_generic(cx, &args[1], &args[3], x, "psetex", SetReply::Ok)
}

fn getset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    match k.string_pos(key, true)? {
        Some(pos) => reply_value(cx.out, k.shard.value(pos)),
        None => cx.out.null(),
    }
    k.set(key, Value::string(&args[2]), false, event::SET);
    Ok(())
}

fn getex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let x = parse_extended(args, 2, false)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.string_pos(key, true)? else {
        cx.out.null();
        return Ok(());
    };
    let at = match x.expire {
        Some(e) => Some(expire_at_ms(x.flags, e, k.op.now_ms, "getex")?),
        None => None,
    };
    reply_value(cx.out, k.shard.value(pos));
    let absolute = x.flags & (opt::EXAT | opt::PXAT) != 0;
    match at {
        Some(at) if absolute && at <= k.op.now_ms => {
            k.shard.remove(pos);
            k.op.emit(key, event::DEL);
        }
        Some(at) => {
            k.shard.set_expire(pos, Some(at));
            k.op.emit(key, event::EXPIRE);
        }
        None if x.flags & opt::PERSIST != 0 && k.shard.expire_at(pos).is_some() => {
            k.shard.set_expire(pos, None);
            k.op.emit(key, event::PERSIST);
        }
        None => {}
    }
    Ok(())
}

fn getdel(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    match k.string_pos(key, true)? {
        Some(pos) => {
            reply_value(cx.out, k.shard.value(pos));
            k.shard.remove(pos);
            k.op.emit(key, event::DEL);
        }
        None => cx.out.null(),
    }
    Ok(())
}

// ----- multi-key ----------------------------------------------------------------------------

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

/// MSET and MSETNX: with `nx`, sets nothing (and replies 0) when any key exists.
fn mset_generic(cx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(errors::wrong_arity(if nx { "msetnx" } else { "mset" }));
    }
    let pairs = &args[1..];
    let (mut locked, placed) = cx.store.lock_keys(pairs.iter().step_by(2).map(|k| &k[..]));
    let op = cx.store.op();
    if nx {
        let busy = pairs
            .iter()
            .step_by(2)
            .zip(&placed)
            .any(|(key, &(hash, shard))| locked.shard(shard).lookup(&op, hash, key).is_some());
        if busy {
            cx.out.int(0);
            return Ok(());
        }
    }
    for (kv, &(hash, shard)) in pairs.chunks_exact(2).zip(&placed) {
        locked
            .shard(shard)
            .upsert(&op, hash, &kv[0], Value::string(&kv[1]), false);
        op.emit(&kv[0], event::SET);
    }
    if nx {
        cx.out.int(1);
    } else {
        cx.out.ok();
    }
    Ok(())
}

fn mset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    mset_generic(cx, args, false)
}

fn msetnx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    mset_generic(cx, args, true)
}

// ----- lengths and ranges -------------------------------------------------------------------

fn append(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, extra) = (&args[1], &args[2]);
    let mut k = cx.store.lock(key);
    let len = match k.string_pos(key, false)? {
        None => {
            k.shard.insert(&k.op, k.hash, key, Value::string(extra));
            extra.len()
        }
        Some(pos) => {
            let cur = k.shard.value(pos).str_len().unwrap_or(0);
            check_string_length(cx, cur, extra.len())?;
            k.shard.value_mut(pos).append(extra)
        }
    };
    k.op.emit(key, event::APPEND);
    cx.out.int(len as i64);
    Ok(())
}

fn strlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let n = match k.string_pos(&args[1], true)? {
        Some(pos) => k.shard.value(pos).str_len().unwrap_or(0),
        None => 0,
    };
    cx.out.int(n as i64);
    Ok(())
}

/// The byte range GETRANGE returns for `start..=end` of a string of `len` bytes, with
/// Redis's clamping of negative and out-of-range indexes; None for the empty string.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    (start <= end && len > 0).then_some((start as usize, end as usize))
}

/// GETRANGE and SUBSTR.
fn getrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = parse_i64(&args[2])?;
    let end = parse_i64(&args[3])?;
    let mut k = cx.store.lock(&args[1]);
    let Some(pos) = k.string_pos(&args[1], true)? else {
        cx.out.bulk(b"");
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let s = k.shard.value(pos).as_bytes(&mut buf).unwrap_or_default();
    match clamp_range(start, end, s.len()) {
        Some((a, b)) => cx.out.bulk(&s[a..=b]),
        None => cx.out.bulk(b""),
    }
    Ok(())
}

fn setrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, data) = (&args[1], &args[3]);
    let offset = parse_i64(&args[2])?;
    let offset = usize::try_from(offset).map_err(|_| errors::OFFSET_RANGE)?;
    let mut k = cx.store.lock(key);
    let len = match k.string_pos(key, false)? {
        None => {
            if data.is_empty() {
                cx.out.int(0);
                return Ok(());
            }
            check_string_length(cx, offset, data.len())?;
            let mut v = Value::raw(b"");
            let n = v.set_range(offset, data);
            k.shard.insert(&k.op, k.hash, key, v);
            n
        }
        Some(pos) => {
            let cur = k.shard.value(pos).str_len().unwrap_or(0);
            if data.is_empty() {
                cx.out.int(cur as i64);
                return Ok(());
            }
            check_string_length(cx, offset, data.len())?;
            k.shard.value_mut(pos).set_range(offset, data)
        }
    };
    k.op.emit(key, event::SETRANGE);
    cx.out.int(len as i64);
    Ok(())
}

// ----- counters -----------------------------------------------------------------------------

/// Adds `delta` to the integer at `key` (TTL kept) and replies with the result.
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
        return Err(errors::DECREMENT_OVERFLOW);
    }
    incr_by(cx, &args[1], -d)
}

/// INCRBYFLOAT: the stored value is parsed before the increment and the sum computed in
/// `long double`, as in Redis; the result is stored as text (Redis's embstr), keeping the TTL.
fn incrbyfloat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = k.string_pos(key, false)?;
    let cur = match pos {
        Some(p) => match k.shard.value(p) {
            Value::Int(i) => LongDouble::from_i64(*i),
            v => {
                let mut buf = itoa::Buffer::new();
                let text = v.as_bytes(&mut buf).unwrap_or_default();
                LongDouble::parse(text).ok_or(errors::NOT_FLOAT)?
            }
        },
        None => LongDouble::zero(),
    };
    let incr = LongDouble::parse(&args[2]).ok_or(errors::NOT_FLOAT)?;
    let sum = cur + incr;
    if !sum.is_finite() {
        return Err(errors::NAN_OR_INF);
    }
    let text = sum.to_human();
    let value = Value::raw(text.as_bytes());
    match pos {
        Some(p) => *k.shard.value_mut(p) = value,
        None => {
            k.shard.insert(&k.op, k.hash, key, value);
        }
    }
    k.op.emit(key, event::INCRBYFLOAT);
    // As Redis: replicas and the AOF get the result, not a float operation to redo.
    crate::propagate::rewrite(vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        Bytes::copy_from_slice(text.as_bytes()),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    cx.out.bulk(text.as_bytes());
    Ok(())
}

// ----- LCS ----------------------------------------------------------------------------------

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], as Redis's `lcsCommand`.
fn lcs(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (a, b) = {
        let keys = [&args[1][..], &args[2][..]];
        let (mut locked, placed) = cx.store.lock_keys(keys);
        let op = cx.store.op();
        let mut vals: [Option<Vec<u8>>; 2] = [None, None];
        for (i, (key, &(hash, shard))) in keys.iter().zip(&placed).enumerate() {
            let s = locked.shard(shard);
            if let Some(pos) = s.lookup_read(&op, hash, key) {
                vals[i] = Some(s.value(pos).to_vec().ok_or(errors::LCS_NOT_STRINGS)?);
            }
        }
        let [a, b] = vals;
        (a.unwrap_or_default(), b.unwrap_or_default())
    };

    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let o = &args[j];
        if is(o, "idx") {
            get_idx = true;
        } else if is(o, "len") {
            get_len = true;
        } else if is(o, "withmatchlen") {
            with_match_len = true;
        } else if is(o, "minmatchlen") && j + 1 < args.len() {
            min_match_len = parse_i64(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if get_idx && get_len {
        return Err(errors::LCS_IDX_AND_LEN);
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(errors::LCS_TOO_LONG);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > max_string_len(cx) {
        return Err(errors::LCS_TABLE_TOO_BIG);
    }
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(cells as usize)
        .map_err(|_| errors::LCS_ALLOC_FAILED)?;
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for jj in 1..=blen {
            table[i * w + jj] = if a[i - 1] == b[jj - 1] {
                table[(i - 1) * w + jj - 1] + 1
            } else {
                table[(i - 1) * w + jj].max(table[i * w + jj - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    if get_len {
        cx.out.int(total as i64);
        return Ok(());
    }

    // Walk back from the end, collecting the LCS and (for IDX) its matching ranges, last
    // first, exactly as Redis emits them.
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges: Vec<[usize; 4]> = Vec::new();
    let mut cur: Option<[usize; 4]> = None; // a_start, a_end, b_start, b_end
    let (mut i, mut jj) = (alen, blen);
    while i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            match &mut cur {
                None => cur = Some([i - 1, i - 1, jj - 1, jj - 1]),
                Some(r) if r[0] == i && r[2] == jj => {
                    r[0] -= 1;
                    r[2] -= 1;
                }
                Some(_) => emit = true,
            }
            if cur.is_some_and(|r| r[0] == 0 || r[2] == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if table[(i - 1) * w + jj] > table[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            emit = cur.is_some();
        }
        if emit {
            if let Some(r) = cur.take() {
                if (r[1] - r[0] + 1) as i64 >= min_match_len {
                    ranges.push(r);
                }
            }
        }
    }

    if !get_idx {
        cx.out.bulk(&result);
        return Ok(());
    }
    cx.out.map(2);
    cx.out.bulk(b"matches");
    cx.out.array(ranges.len());
    for r in &ranges {
        cx.out.array(if with_match_len { 3 } else { 2 });
        cx.out.array(2);
        cx.out.int(r[0] as i64);
        cx.out.int(r[1] as i64);
        cx.out.array(2);
        cx.out.int(r[2] as i64);
        cx.out.int(r[3] as i64);
        if with_match_len {
            cx.out.int((r[1] - r[0] + 1) as i64);
        }
    }
    cx.out.bulk(b"len");
    cx.out.int(total as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrange_clamps_as_redis() {
        assert_eq!(clamp_range(0, 3, 10), Some((0, 3)));
        assert_eq!(clamp_range(-3, -1, 10), Some((7, 9)));
        assert_eq!(clamp_range(0, -1, 10), Some((0, 9)));
        assert_eq!(clamp_range(5, 100, 10), Some((5, 9)));
        assert_eq!(clamp_range(-100, 2, 10), Some((0, 2)));
        assert_eq!(clamp_range(-1, -5, 10), None);
        assert_eq!(clamp_range(3, 1, 10), None);
        assert_eq!(clamp_range(0, -100, 10), Some((0, 0)));
        assert_eq!(clamp_range(0, 0, 0), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 4), Some((0, 3)));
    }

    #[test]
    fn extended_options_follow_redis() {
        let ok = |s: &str, set: bool| {
            let v: Vec<Bytes> = s
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            parse_extended(&v, if set { 3 } else { 2 }, set)
                .map(|x| (x.flags, x.expire.map(<[u8]>::to_vec)))
        };
        assert_eq!(
            ok("set k v ex 1 ex 2", true),
            Ok((opt::EX, Some(b"2".to_vec())))
        );
        assert!(ok("set k v nx nx get get", true).is_ok());
        assert!(ok("set k v ex 1 px 2", true).is_err());
        assert!(ok("set k v keepttl ex 1", true).is_err());
        assert!(ok("set k v ex", true).is_err());
        assert!(ok("set k v persist", true).is_err());
        assert!(ok("getex k persist", false).is_ok());
        assert!(ok("getex k persist ex 1", false).is_err());
        assert!(ok("getex k nx", false).is_err());
    }
}
