//! List commands, blocking ones included: pushes and pops at both ends, indexes and ranges,
//! LINSERT/LREM/LTRIM/LPOS, moves between lists and their blocking forms. Behaviour and
//! error texts follow Redis 7.4's `t_list.c`.
//!
//! Blocking commands answer at once when a list can serve them, exactly as their
//! non-blocking forms; otherwise they call `cx.block` and write no reply. [`parse_timeout`]
//! is the shared parser of a blocking command's timeout in seconds.

use bytes::Bytes;
use keyspace::types::list::{End, List};
use keyspace::{class, event, Event, Shard, Value};

use crate::args::{is, parse_i64};
use crate::blocking::{BlockRequest, TimeoutReply};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult, WRONGTYPE};
use crate::spec::{flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[
    command!("lpush", -3, WRITE | DENYOOM | FAST, Keys::ONE, lpush,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    command!("rpush", -3, WRITE | DENYOOM | FAST, Keys::ONE, rpush,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        summary: "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    command!("lpushx", -3, WRITE | DENYOOM | FAST, Keys::ONE, lpushx,
        acl: &["list"], group: "list", since: "2.2.0",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        summary: "Prepends one or more elements to a list only when the list exists."),
    command!("rpushx", -3, WRITE | DENYOOM | FAST, Keys::ONE, rpushx,
        acl: &["list"], group: "list", since: "2.2.0",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        summary: "Appends an element to a list only when the list exists."),
    command!("lpop", -2, WRITE | FAST, Keys::ONE, lpop,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(N) where N is the number of elements returned",
        summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    command!("rpop", -2, WRITE | FAST, Keys::ONE, rpop,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(N) where N is the number of elements returned",
        summary: "Returns and removes the last elements of the list. Deletes the list if the last element was popped."),
    command!("llen", 2, READONLY | FAST, Keys::ONE, llen,
        acl: &["list"], group: "list", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the length of a list."),
    command!("lrange", 4, READONLY, Keys::ONE, lrange,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
        summary: "Returns a range of elements from a list."),
    command!("lindex", 3, READONLY, Keys::ONE, lindex,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
        summary: "Returns an element from a list by its index."),
    command!("lset", 4, WRITE | DENYOOM, Keys::ONE, lset,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
        summary: "Sets the value of an element in a list by its index."),
    command!("linsert", 5, WRITE | DENYOOM, Keys::ONE, linsert,
        acl: &["list"], group: "list", since: "2.2.0",
        complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
        summary: "Inserts an element before or after another element in a list."),
    command!("lrem", 4, WRITE, Keys::ONE, lrem,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
        summary: "Removes elements from a list. Deletes the list if the last element was removed."),
    command!("ltrim", 4, WRITE, Keys::ONE, ltrim,
        acl: &["list"], group: "list", since: "1.0.0",
        complexity: "O(N) where N is the number of elements to be removed by the operation.",
        summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    command!("lpos", -3, READONLY, Keys::ONE, lpos,
        acl: &["list"], group: "list", since: "6.0.6",
        complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
        summary: "Returns the index of matching elements in a list."),
    command!("lmove", 5, WRITE | DENYOOM, Keys { first: 1, last: 2, step: 1 }, lmove,
        acl: &["list"], group: "list", since: "6.2.0", complexity: "O(1)",
        summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved."),
    command!("rpoplpush", 3, WRITE | DENYOOM, Keys { first: 1, last: 2, step: 1 }, rpoplpush,
        acl: &["list"], group: "list", since: "1.2.0", complexity: "O(1)",
        summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped."),
    command!("lmpop", -4, WRITE | MOVABLE_KEYS, Keys::NONE, lmpop,
        acl: &["list"], group: "list", since: "7.0.0",
        complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        summary: "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped."),
    command!("blpop", -3, WRITE | BLOCKING, Keys { first: 1, last: -2, step: 1 }, blpop,
        acl: &["list"], group: "list", since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    command!("brpop", -3, WRITE | BLOCKING, Keys { first: 1, last: -2, step: 1 }, brpop,
        acl: &["list"], group: "list", since: "2.0.0",
        complexity: "O(N) where N is the number of provided keys.",
        summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    command!("blmove", 6, WRITE | DENYOOM | BLOCKING, Keys { first: 1, last: 2, step: 1 }, blmove,
        acl: &["list"], group: "list", since: "6.2.0", complexity: "O(1)",
        summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    command!("brpoplpush", 4, WRITE | DENYOOM | BLOCKING, Keys { first: 1, last: 2, step: 1 }, brpoplpush,
        acl: &["list"], group: "list", since: "2.2.0", complexity: "O(1)",
        summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    command!("blmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, Keys::NONE, blmpop,
        acl: &["list"], group: "list", since: "7.0.0",
        complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
];

// ---------------------------------------------------------------------------------------
// Events and error texts
// ---------------------------------------------------------------------------------------

const fn list_event(name: &'static str) -> Event {
    Event {
        name,
        class: class::LIST,
    }
}

pub const LPUSH: Event = list_event("lpush");
pub const RPUSH: Event = list_event("rpush");
pub const LPOP: Event = list_event("lpop");
pub const RPOP: Event = list_event("rpop");
pub const LSET: Event = list_event("lset");
pub const LINSERT: Event = list_event("linsert");
pub const LREM: Event = list_event("lrem");
pub const LTRIM: Event = list_event("ltrim");

const INDEX_OUT_OF_RANGE: CmdError = CmdError::new("ERR index out of range");
const RANK_ZERO: CmdError = CmdError::new(
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
);
const RANK_RANGE: CmdError = CmdError::new(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
);
const COUNT_NEGATIVE: CmdError = CmdError::new("ERR COUNT can't be negative");
const MAXLEN_NEGATIVE: CmdError = CmdError::new("ERR MAXLEN can't be negative");
const NUMKEYS: CmdError = CmdError::new("ERR numkeys should be greater than 0");
const COUNT_POSITIVE: CmdError = CmdError::new("ERR count should be greater than 0");
const TIMEOUT_NOT_FLOAT: CmdError = CmdError::new("ERR timeout is not a float or out of range");
const TIMEOUT_NEGATIVE: CmdError = CmdError::new("ERR timeout is negative");
const TIMEOUT_OUT_OF_RANGE: CmdError = CmdError::new("ERR timeout is out of range");

/// Redis's `getTimeoutFromObjectOrReply` in seconds, for every blocking command: `arg` is a
/// float number of seconds (rounded up to whole ms); returns the absolute deadline in ms,
/// or None for 0 (wait forever).
pub fn parse_timeout(arg: &[u8], now_ms: u64) -> Result<Option<u64>, CmdError> {
    let secs = keyspace::value::parse_long_double(arg).ok_or(TIMEOUT_NOT_FLOAT)?;
    let ms = secs * 1000.0;
    if ms > i64::MAX as f64 {
        return Err(TIMEOUT_OUT_OF_RANGE);
    }
    let ms = ms.ceil();
    if ms < 0.0 {
        return Err(TIMEOUT_NEGATIVE);
    }
    let ms = ms as i64;
    if ms == 0 {
        return Ok(None);
    }
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    if ms > i64::MAX - now {
        return Err(TIMEOUT_OUT_OF_RANGE);
    }
    Ok(Some((now + ms) as u64))
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `list-max-listpack-size` now.
fn fill(cx: &Ctx<'_>) -> i64 {
    cx.server.config.limits.read().list_max_listpack_size
}

fn list_ref(v: &Value) -> Result<&List, CmdError> {
    match v {
        Value::List(l) => Ok(l),
        _ => Err(WRONGTYPE),
    }
}

fn list_mut(shard: &mut Shard, pos: usize) -> Result<&mut List, CmdError> {
    match shard.value_mut(pos) {
        Value::List(l) => Ok(l),
        _ => Err(WRONGTYPE),
    }
}

fn pop_event(end: End) -> Event {
    match end {
        End::Head => LPOP,
        End::Tail => RPOP,
    }
}

fn push_event(end: End) -> Event {
    match end {
        End::Head => LPUSH,
        End::Tail => RPUSH,
    }
}

/// `LEFT` / `RIGHT`.
fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Head)
    } else if is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(errors::SYNTAX)
    }
}

/// Redis's `getRangeLongFromObjectOrReply` with a message for both failures.
fn parse_range(arg: &[u8], min: i64, err: CmdError) -> Result<i64, CmdError> {
    match keyspace::parse_canonical_i64(arg) {
        Some(v) if v >= min => Ok(v),
        _ => Err(err),
    }
}

/// Pops up to `n` elements of the list at `pos` from `end`, writing them (as an array when
/// `array`, else the single bulk), then announces the pop and deletes the key if emptied.
#[allow(clippy::too_many_arguments)]
fn pop_and_reply(
    shard: &mut Shard,
    op: &keyspace::OpCtx<'_>,
    out: &mut protocol::ReplyWriter,
    pos: usize,
    key: &[u8],
    end: End,
    n: usize,
    array: bool,
    fill: i64,
) -> CmdResult {
    let list = list_mut(shard, pos)?;
    if array {
        out.array(n.min(list.len()));
    }
    list.pop(end, n, fill, |v| out.bulk(v));
    let empty = list.is_empty();
    op.emit(key, pop_event(end));
    if empty {
        shard.remove(pos);
        op.emit(key, event::DEL);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------------------

/// LPUSH/RPUSH/LPUSHX/RPUSHX; `xx`: only onto an existing list.
fn push_generic(cx: &mut Ctx<'_>, args: &[Bytes], end: End, xx: bool) -> CmdResult {
    let key = &args[1];
    let fill = fill(cx);
    let mut k = cx.store.lock(key);
    let pos = match k.find(key) {
        Some(pos) => {
            list_ref(k.shard.value(pos))?;
            pos
        }
        None if xx => {
            cx.out.int(0);
            return Ok(());
        }
        None => k
            .shard
            .insert(&k.op, k.hash, key, Value::List(Box::default())),
    };
    let list = list_mut(&mut k.shard, pos)?;
    list.push(end, &args[2..], fill);
    let len = list.len();
    k.op.emit(key, push_event(end));
    cx.out.int(len as i64);
    Ok(())
}

fn lpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(cx, args, End::Head, false)
}

fn rpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(cx, args, End::Tail, false)
}

fn lpushx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(cx, args, End::Head, true)
}

fn rpushx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_generic(cx, args, End::Tail, true)
}

// ---------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------

/// LPOP/RPOP key [count].
fn pop_generic(cx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(errors::wrong_arity(if end == End::Head {
            "lpop"
        } else {
            "rpop"
        }));
    }
    let count = match args.get(2) {
        Some(a) => Some(crate::args::parse_u64(a, errors::POSITIVE)?),
        None => None,
    };
    let key = &args[1];
    let fill = fill(cx);
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        match count {
            Some(_) => cx.out.null_array(),
            None => cx.out.null(),
        }
        return Ok(());
    };
    list_ref(k.shard.value(pos))?;
    match count {
        Some(0) => cx.out.array(0),
        Some(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            pop_and_reply(&mut k.shard, &k.op, cx.out, pos, key, end, n, true, fill)?;
        }
        None => pop_and_reply(&mut k.shard, &k.op, cx.out, pos, key, end, 1, false, fill)?,
    }
    Ok(())
}

fn lpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_generic(cx, args, End::Head)
}

fn rpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_generic(cx, args, End::Tail)
}

/// Pops from the first non-empty list among `keys`: BLPOP/BRPOP (`count` None: replies
/// [key, element]) and LMPOP/BLMPOP (replies [key, [elements]]). Returns false when no
/// list could serve (nothing written).
fn pop_first_of(
    cx: &mut Ctx<'_>,
    keys: &[Bytes],
    end: End,
    count: Option<usize>,
) -> Result<bool, CmdError> {
    let fill = fill(cx);
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    for (key, &(hash, sid)) in keys.iter().zip(&placed) {
        let shard = locked.shard(sid);
        let Some(pos) = shard.lookup(&op, hash, key) else {
            continue;
        };
        let len = list_ref(shard.value(pos))?.len();
        if len == 0 {
            continue;
        }
        // Propagated as Redis does: [LR]POP key, with the count popped for [B]LMPOP.
        let mut effect = vec![
            Bytes::from_static(if end == End::Head { b"LPOP" } else { b"RPOP" }),
            key.clone(),
        ];
        if let Some(n) = count {
            effect.push(Bytes::from(n.min(len).to_string()));
        }
        crate::propagate::rewrite(effect);
        cx.out.array(2);
        cx.out.bulk(key);
        match count {
            Some(n) => pop_and_reply(shard, &op, cx.out, pos, key, end, n, true, fill)?,
            None => pop_and_reply(shard, &op, cx.out, pos, key, end, 1, false, fill)?,
        }
        return Ok(true);
    }
    Ok(false)
}

/// BLPOP/BRPOP key [key ...] timeout.
fn bpop_generic(cx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    let deadline = parse_timeout(&args[args.len() - 1], cx.store.now_ms)?;
    let keys = &args[1..args.len() - 1];
    if !pop_first_of(cx, keys, end, None)? {
        cx.block(BlockRequest {
            keys: keys.to_vec(),
            deadline_ms: deadline,
            on_timeout: TimeoutReply::NullArray,
            retry_args: None,
        });
    }
    Ok(())
}

fn blpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop_generic(cx, args, End::Head)
}

fn brpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop_generic(cx, args, End::Tail)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count], and BLMPOP with a timeout first.
fn mpop_generic(cx: &mut Ctx<'_>, args: &[Bytes], numkeys_idx: usize) -> CmdResult {
    let numkeys = parse_range(&args[numkeys_idx], 1, NUMKEYS)? as u64;
    let where_idx = (numkeys_idx as u64 + 1).saturating_add(numkeys);
    if where_idx >= args.len() as u64 {
        return Err(errors::SYNTAX);
    }
    let where_idx = where_idx as usize;
    let end = parse_end(&args[where_idx])?;
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            count = Some(parse_range(&args[j + 1], 1, COUNT_POSITIVE)?);
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    let keys = &args[numkeys_idx + 1..where_idx];
    let deadline = if numkeys_idx == 2 {
        Some(parse_timeout(&args[1], cx.store.now_ms)?)
    } else {
        None
    };
    if pop_first_of(cx, keys, end, Some(count))? {
        return Ok(());
    }
    match deadline {
        Some(deadline_ms) => cx.block(BlockRequest {
            keys: keys.to_vec(),
            deadline_ms,
            on_timeout: TimeoutReply::NullArray,
            retry_args: None,
        }),
        None => cx.out.null_array(),
    }
    Ok(())
}

fn lmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    mpop_generic(cx, args, 1)
}

fn blmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    mpop_generic(cx, args, 2)
}

// ---------------------------------------------------------------------------------------
// Moves
// ---------------------------------------------------------------------------------------

/// LMOVE/RPOPLPUSH and the blocking forms: pops from `src` at `from`, pushes onto `dst` at
/// `to`. With `block`, an absent source blocks instead of answering nil.
fn move_generic(
    cx: &mut Ctx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
    block: Option<Option<u64>>,
) -> CmdResult {
    let fill = fill(cx);
    let (mut locked, placed) = cx.store.lock_keys([&src[..], &dst[..]]);
    let op = cx.store.op();
    let ((sh, ss), (dh, ds)) = (placed[0], placed[1]);
    let Some(spos) = locked.shard(ss).lookup(&op, sh, src) else {
        drop(locked);
        match block {
            Some(deadline_ms) => cx.block(BlockRequest {
                keys: vec![src.clone()],
                deadline_ms,
                on_timeout: TimeoutReply::NullArray,
                retry_args: None,
            }),
            None => cx.out.null(),
        }
        return Ok(());
    };
    list_ref(locked.shard(ss).value(spos))?;
    if let Some(dpos) = locked.shard(ds).lookup(&op, dh, dst) {
        list_ref(locked.shard(ds).value(dpos))?;
    }
    // Looking the destination up may have reclaimed an expired key and moved slots: find
    // the source again.
    let Some(spos) = locked.shard(ss).find(sh, src) else {
        cx.out.null();
        return Ok(());
    };
    let mut value = None;
    list_mut(locked.shard(ss), spos)?.pop(from, 1, fill, |v| value = Some(v.to_vec()));
    let Some(value) = value else {
        cx.out.null();
        return Ok(());
    };
    // Push (the destination may be the source itself).
    let dshard = locked.shard(ds);
    let dpos = match dshard.find(dh, dst) {
        Some(p) => p,
        None => dshard.insert(&op, dh, dst, Value::List(Box::default())),
    };
    list_mut(dshard, dpos)?.push(to, &[&value[..]], fill);
    op.emit(dst, push_event(to));
    cx.out.bulk(&value);
    // Then the source's pop, and its deletion if that emptied it.
    op.emit(src, pop_event(from));
    let sshard = locked.shard(ss);
    if let Some(spos) = sshard.find(sh, src) {
        if list_ref(sshard.value(spos))?.is_empty() {
            sshard.remove(spos);
            op.emit(src, event::DEL);
        }
    }
    Ok(())
}

fn lmove(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = parse_end(&args[3])?;
    let to = parse_end(&args[4])?;
    move_generic(cx, &args[1], &args[2], from, to, None)
}

fn rpoplpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    move_generic(cx, &args[1], &args[2], End::Tail, End::Head, None)
}

fn blmove(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = parse_end(&args[3])?;
    let to = parse_end(&args[4])?;
    let deadline = parse_timeout(&args[5], cx.store.now_ms)?;
    move_generic(cx, &args[1], &args[2], from, to, Some(deadline))?;
    // Served: propagated as LMOVE (Redis's rewrite).
    crate::propagate::rewrite_if_written(vec![
        Bytes::from_static(b"LMOVE"),
        args[1].clone(),
        args[2].clone(),
        args[3].clone(),
        args[4].clone(),
    ]);
    Ok(())
}

fn brpoplpush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let deadline = parse_timeout(&args[3], cx.store.now_ms)?;
    move_generic(cx, &args[1], &args[2], End::Tail, End::Head, Some(deadline))?;
    // Served: propagated as RPOPLPUSH (Redis's rewrite).
    crate::propagate::rewrite_if_written(vec![
        Bytes::from_static(b"RPOPLPUSH"),
        args[1].clone(),
        args[2].clone(),
    ]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------

fn llen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let n = match k.find_read(&args[1]) {
        Some(pos) => list_ref(k.shard.value(pos))?.len(),
        None => 0,
    };
    cx.out.int(n as i64);
    Ok(())
}

fn lindex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let Some(pos) = k.find_read(&args[1]) else {
        cx.out.null();
        return Ok(());
    };
    let list = list_ref(k.shard.value(pos))?;
    let index = parse_i64(&args[2])?;
    match list.get(index) {
        Some(v) => cx.out.bulk(v),
        None => cx.out.null(),
    }
    Ok(())
}

/// Redis's `addListRangeReply` bounds: the first index and the number of elements.
fn range_bounds(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

fn lrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = parse_i64(&args[2])?;
    let end = parse_i64(&args[3])?;
    let mut k = cx.store.lock(&args[1]);
    let Some(pos) = k.find_read(&args[1]) else {
        cx.out.array(0);
        return Ok(());
    };
    let list = list_ref(k.shard.value(pos))?;
    match range_bounds(list.len(), start, end) {
        Some((from, n)) => {
            cx.out.array(n);
            for v in list.iter_from(from, false).take(n) {
                cx.out.bulk(v);
            }
        }
        None => cx.out.array(0),
    }
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "rank") && more {
            rank = match keyspace::parse_canonical_i64(&args[j + 1]) {
                None => return Err(errors::NOT_INTEGER),
                Some(i64::MIN) => return Err(RANK_RANGE),
                Some(0) => return Err(RANK_ZERO),
                Some(r) => r,
            };
        } else if is(&args[j], "count") && more {
            count = Some(crate::args::parse_u64(&args[j + 1], COUNT_NEGATIVE)?);
        } else if is(&args[j], "maxlen") && more {
            maxlen = crate::args::parse_u64(&args[j + 1], MAXLEN_NEGATIVE)?;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 2;
    }
    let rev = rank < 0;
    let rank = rank.unsigned_abs();
    let ele = &args[2];
    let mut k = cx.store.lock(&args[1]);
    let Some(pos) = k.find_read(&args[1]) else {
        match count {
            Some(_) => cx.out.array(0),
            None => cx.out.null(),
        }
        return Ok(());
    };
    let list = list_ref(k.shard.value(pos))?;
    let len = list.len();
    // Matching positions in scan order, from the rank-th match on, at most `count` of them
    // (all when 0), within the first `maxlen` elements scanned (all when 0).
    let scan = || {
        let start = if rev { len.saturating_sub(1) } else { 0 };
        let limit = if maxlen == 0 {
            usize::MAX
        } else {
            usize::try_from(maxlen).unwrap_or(usize::MAX)
        };
        list.iter_from(start, rev)
            .take(limit)
            .enumerate()
            .filter(|(_, e)| *e == &ele[..])
            .skip(usize::try_from(rank - 1).unwrap_or(usize::MAX))
            .map(move |(i, _)| if rev { len - i - 1 } else { i } as i64)
    };
    match count {
        None => match scan().next() {
            Some(i) => cx.out.int(i),
            None => cx.out.null(),
        },
        Some(c) => {
            let take = if c == 0 {
                usize::MAX
            } else {
                usize::try_from(c).unwrap_or(usize::MAX)
            };
            // Two passes (count, then write) instead of collecting: no allocation.
            cx.out.array(scan().take(take).count());
            for i in scan().take(take) {
                cx.out.int(i);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Edits
// ---------------------------------------------------------------------------------------

fn lset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let fill = fill(cx);
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        return Err(errors::NO_SUCH_KEY);
    };
    list_ref(k.shard.value(pos))?;
    let index = parse_i64(&args[2])?;
    if !list_mut(&mut k.shard, pos)?.set(index, &args[3], fill) {
        return Err(INDEX_OUT_OF_RANGE);
    }
    k.op.emit(key, LSET);
    cx.out.ok();
    Ok(())
}

fn linsert(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(errors::SYNTAX);
    };
    let key = &args[1];
    let fill = fill(cx);
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        cx.out.int(0);
        return Ok(());
    };
    match list_mut(&mut k.shard, pos)?.insert(&args[3], &args[4], after, fill) {
        Some(len) => {
            k.op.emit(key, LINSERT);
            cx.out.int(len as i64);
        }
        None => cx.out.int(-1),
    }
    Ok(())
}

fn lrem(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = parse_i64(&args[2])?;
    let key = &args[1];
    let fill = fill(cx);
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        cx.out.int(0);
        return Ok(());
    };
    let list = list_mut(&mut k.shard, pos)?;
    let removed = list.remove(&args[3], count, fill);
    let empty = list.is_empty();
    if removed > 0 {
        k.op.emit(key, LREM);
    }
    if empty {
        k.shard.remove(pos);
        k.op.emit(key, event::DEL);
    }
    cx.out.int(removed as i64);
    Ok(())
}

fn ltrim(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = parse_i64(&args[2])?;
    let end = parse_i64(&args[3])?;
    let key = &args[1];
    let fill = fill(cx);
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        cx.out.ok();
        return Ok(());
    };
    let list = list_mut(&mut k.shard, pos)?;
    list.trim(start, end, fill);
    let empty = list.is_empty();
    k.op.emit(key, LTRIM);
    if empty {
        k.shard.remove(pos);
        k.op.emit(key, event::DEL);
    }
    cx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_as_redis() {
        assert_eq!(parse_timeout(b"0", 1000), Ok(None));
        assert_eq!(parse_timeout(b"-0", 1000), Ok(None));
        assert_eq!(parse_timeout(b"0.0001", 1000), Ok(Some(1001)));
        assert_eq!(parse_timeout(b"1.5", 1000), Ok(Some(2500)));
        assert_eq!(parse_timeout(b"-1", 1000), Err(TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"-inf", 1000), Err(TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"inf", 1000), Err(TIMEOUT_OUT_OF_RANGE));
        assert_eq!(parse_timeout(b"1e300", 1000), Err(TIMEOUT_OUT_OF_RANGE));
        assert_eq!(parse_timeout(b"abc", 1000), Err(TIMEOUT_NOT_FLOAT));
        assert_eq!(parse_timeout(b" 1", 1000), Err(TIMEOUT_NOT_FLOAT));
        assert_eq!(parse_timeout(b"nan", 1000), Err(TIMEOUT_NOT_FLOAT));
    }
}
