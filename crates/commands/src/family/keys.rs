//! Generic key commands: existence, deletion, expiry, iteration, renaming, copying and moving
//! keys between databases, object introspection, and the database-wide DBSIZE / FLUSH* /
//! SWAPDB. Replies and error texts follow Redis 7.4's `db.c`, `expire.c` and `object.c`.

use bytes::Bytes;
use keyspace::{event, Kind, OpCtx, Value};

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::{Ctx, KeyLock};
use crate::errors::{self, CmdError, CmdResult};
use crate::glob;
use crate::spec::{flag::*, CommandSpec, Keys};

/// Keys at arguments 1 and 2 (RENAME, COPY).
const TWO_KEYS: Keys = Keys {
    first: 1,
    last: 2,
    step: 1,
};

/// The key of an OBJECT subcommand.
const SUB_KEY: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    command!("encoding", 3, READONLY, SUB_KEY, object_encoding,
        acl: &["keyspace"], group: "generic", since: "2.2.3", complexity: "O(1)",
        summary: "Returns the internal encoding of a Redis object."),
    command!("freq", 3, READONLY, SUB_KEY, object_freq,
        acl: &["keyspace"], group: "generic", since: "4.0.0", complexity: "O(1)",
        summary: "Returns the logarithmic access frequency counter of a Redis object."),
    command!("idletime", 3, READONLY, SUB_KEY, object_idletime,
        acl: &["keyspace"], group: "generic", since: "2.2.3", complexity: "O(1)",
        summary: "Returns the time since the last access to a Redis object."),
    command!("refcount", 3, READONLY, SUB_KEY, object_refcount,
        acl: &["keyspace"], group: "generic", since: "2.2.3", complexity: "O(1)",
        summary: "Returns the reference count of a value of a key."),
    command!("help", 2, LOADING | STALE, Keys::NONE, object_help,
        acl: &["keyspace"], group: "generic", since: "6.2.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!("del", -2, WRITE, Keys::ALL, del,
        acl: &["keyspace"], group: "generic", since: "1.0.0",
        complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
        summary: "Deletes one or more keys."),
    command!("unlink", -2, WRITE | FAST, Keys::ALL, del,
        acl: &["keyspace"], group: "generic", since: "4.0.0",
        complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
        summary: "Asynchronously deletes one or more keys."),
    command!("exists", -2, READONLY | FAST, Keys::ALL, exists,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(N) where N is the number of keys to check.",
        summary: "Determines whether one or more keys exist."),
    command!("type", 2, READONLY | FAST, Keys::ONE, type_,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Determines the type of value stored at a key."),
    command!("expire", -3, WRITE | FAST, Keys::ONE, expire,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Sets the expiration time of a key in seconds."),
    command!("pexpire", -3, WRITE | FAST, Keys::ONE, pexpire,
        acl: &["keyspace"], group: "generic", since: "2.6.0", complexity: "O(1)",
        summary: "Sets the expiration time of a key in milliseconds."),
    command!("expireat", -3, WRITE | FAST, Keys::ONE, expireat,
        acl: &["keyspace"], group: "generic", since: "1.2.0", complexity: "O(1)",
        summary: "Sets the expiration time of a key to a Unix timestamp."),
    command!("pexpireat", -3, WRITE | FAST, Keys::ONE, pexpireat,
        acl: &["keyspace"], group: "generic", since: "2.6.0", complexity: "O(1)",
        summary: "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    command!("ttl", 2, READONLY | FAST, Keys::ONE, ttl,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the expiration time in seconds of a key."),
    command!("pttl", 2, READONLY | FAST, Keys::ONE, pttl,
        acl: &["keyspace"], group: "generic", since: "2.6.0", complexity: "O(1)",
        summary: "Returns the expiration time in milliseconds of a key."),
    command!("expiretime", 2, READONLY | FAST, Keys::ONE, expiretime,
        acl: &["keyspace"], group: "generic", since: "7.0.0", complexity: "O(1)",
        summary: "Returns the expiration time of a key as a Unix timestamp."),
    command!("pexpiretime", 2, READONLY | FAST, Keys::ONE, pexpiretime,
        acl: &["keyspace"], group: "generic", since: "7.0.0", complexity: "O(1)",
        summary: "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    command!("persist", 2, WRITE | FAST, Keys::ONE, persist,
        acl: &["keyspace"], group: "generic", since: "2.2.0", complexity: "O(1)",
        summary: "Removes the expiration time of a key."),
    command!("keys", 2, READONLY, Keys::NONE, keys,
        acl: &["keyspace", "dangerous"], group: "generic", since: "1.0.0",
        complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        summary: "Returns all key names that match a pattern."),
    command!("scan", -2, READONLY, Keys::NONE, scan,
        acl: &["keyspace"], group: "generic", since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        summary: "Iterates over the key names in the database."),
    command!("rename", 3, WRITE, TWO_KEYS, rename,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Renames a key and overwrites the destination."),
    command!("renamenx", 3, WRITE | FAST, TWO_KEYS, renamenx,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Renames a key only when the target key name doesn't exist."),
    command!("randomkey", 1, READONLY, Keys::NONE, randomkey,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Returns a random key name from the database."),
    command!("touch", -2, READONLY | FAST, Keys::ALL, touch,
        acl: &["keyspace"], group: "generic", since: "3.2.1",
        complexity: "O(N) where N is the number of keys that will be touched.",
        summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    command!("copy", -3, WRITE | DENYOOM, TWO_KEYS, copy,
        acl: &["keyspace"], group: "generic", since: "6.2.0",
        complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        summary: "Copies the value of a key to a new key."),
    command!("move", 3, WRITE | FAST, Keys::ONE, move_,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Moves a key to another database."),
    command!("object", -2, 0, Keys::NONE, object,
        acl: &[], group: "generic", since: "2.2.3", complexity: "Depends on subcommand.",
        summary: "A container for object introspection commands.", subcommands: OBJECT_SUBCOMMANDS),
    command!("dbsize", 1, READONLY | FAST, Keys::NONE, dbsize,
        acl: &["keyspace"], group: "server", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the number of keys in the database."),
    command!("swapdb", 3, WRITE | FAST | EXCLUSIVE, Keys::NONE, swapdb,
        acl: &["keyspace", "dangerous"], group: "server", since: "4.0.0",
        complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        summary: "Swaps two Redis databases."),
    command!("flushall", -1, WRITE | EXCLUSIVE, Keys::NONE, flushall,
        acl: &["keyspace", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(N) where N is the total number of keys in all databases",
        summary: "Removes all keys from all databases."),
    command!("flushdb", -1, WRITE | EXCLUSIVE, Keys::NONE, flushdb,
        acl: &["keyspace", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(N) where N is the number of keys in the selected database",
        summary: "Remove all keys from the current database."),
];

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Looks a key up as Redis's `lookupKeyReadWithFlags(LOOKUP_NOTOUCH)`: reclaims it if
/// expired and counts a keyspace hit or miss, without refreshing its access time.
fn find_counted(k: &mut KeyLock<'_>, key: &[u8]) -> Option<usize> {
    let pos = k.find(key);
    if pos.is_some() {
        k.shard.stats.hits += 1;
    } else {
        k.shard.stats.misses += 1;
    }
    pos
}

/// Parses a database index as MOVE / COPY DB do (`getIntFromObjectOrReply`, then a range
/// check).
fn parse_db(cx: &Ctx<'_>, arg: &[u8]) -> Result<usize, CmdError> {
    let n = parse_i64(arg)?;
    let n = i32::try_from(n).map_err(|_| errors::NOT_INT32)?;
    usize::try_from(n)
        .ok()
        .filter(|&d| d < cx.store.keyspace.databases())
        .ok_or(errors::DB_INDEX)
}

/// Whether Redis would store this value as a shared integer object (OBJECT REFCOUNT answers
/// `INT_MAX` for those): integers 0..10000, unless maxmemory is set with an LRU/LFU policy.
fn is_shared_integer(cx: &Ctx<'_>, v: &Value) -> bool {
    let Value::Int(i) = v else { return false };
    if !(0..10_000).contains(i) {
        return false;
    }
    let policy = cx.server.config.get("maxmemory-policy").unwrap_or_default();
    cx.server.config.get_i64("maxmemory") == 0
        || !(policy.contains("lru") || policy.contains("lfu"))
}

fn lfu_policy(cx: &Ctx<'_>) -> bool {
    cx.server
        .config
        .get("maxmemory-policy")
        .is_some_and(|p| p.contains("lfu"))
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH
// ---------------------------------------------------------------------------------------

/// Removes `keys` from the current database; returns how many existed. Expired keys count
/// as absent (and are announced as `expired`).
pub(crate) fn delete_keys(cx: &mut Ctx<'_>, keys: &[Bytes]) -> i64 {
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    let mut n = 0;
    for (key, &(hash, shard)) in keys.iter().zip(&placed) {
        let s = locked.shard(shard);
        if let Some(pos) = s.lookup(&op, hash, key) {
            s.remove(pos);
            op.emit(key, event::DEL);
            n += 1;
        }
    }
    n
}

/// DEL and UNLINK (values are dropped in place: none is large enough yet to be worth
/// handing to another thread).
fn del(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = delete_keys(cx, &args[1..]);
    cx.out.int(n);
    Ok(())
}

fn exists(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..];
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    let mut n = 0;
    for (key, &(hash, shard)) in keys.iter().zip(&placed) {
        let s = locked.shard(shard);
        if s.lookup(&op, hash, key).is_some() {
            s.stats.hits += 1;
            n += 1;
        } else {
            s.stats.misses += 1;
        }
    }
    cx.out.int(n);
    Ok(())
}

fn type_(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    match find_counted(&mut k, &args[1]) {
        Some(pos) => cx.out.simple(k.shard.value(pos).kind().name().as_bytes()),
        None => cx.out.simple(b"none"),
    }
    Ok(())
}

fn touch(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..];
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    let n = keys
        .iter()
        .zip(&placed)
        .filter(|(key, &(hash, shard))| locked.shard(shard).lookup_read(&op, hash, key).is_some())
        .count();
    cx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT, TTL PTTL EXPIRETIME PEXPIRETIME, PERSIST
// ---------------------------------------------------------------------------------------

/// The conditions of EXPIRE-family commands.
#[derive(Clone, Copy, Default)]
struct ExpireIf {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireIf {
    /// Parses `NX | XX | GT | LT` as Redis's `parseExtendedExpireArgumentsOrReply`.
    fn parse(opts: &[Bytes]) -> Result<ExpireIf, CmdError> {
        let mut c = ExpireIf::default();
        for o in opts {
            if is(o, "nx") {
                c.nx = true;
            } else if is(o, "xx") {
                c.xx = true;
            } else if is(o, "gt") {
                c.gt = true;
            } else if is(o, "lt") {
                c.lt = true;
            } else {
                return Err(errors::unsupported_option(o));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(errors::EXPIRE_NX_AND_OTHERS);
        }
        if c.gt && c.lt {
            return Err(errors::EXPIRE_GT_AND_LT);
        }
        Ok(c)
    }

    /// Whether a new expiry time `when` may replace `current` (None: no TTL, which GT and LT
    /// treat as infinite).
    fn allows(&self, current: Option<i64>, when: i64) -> bool {
        !((self.nx && current.is_some())
            || (self.xx && current.is_none())
            || (self.gt && current.is_none_or(|c| when <= c))
            || (self.lt && current.is_some_and(|c| when >= c)))
    }
}

/// EXPIRE and friends: `seconds` says the unit of the argument, `absolute` whether it is a
/// Unix time rather than a delay. `cmd` names the command in the error text.
fn expire_generic(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    seconds: bool,
    absolute: bool,
    cmd: &str,
) -> CmdResult {
    let cond = ExpireIf::parse(&args[3..])?;
    let mut when = parse_i64(&args[2])?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(errors::invalid_expire(cmd));
        }
        when *= 1000;
    }
    let now = cx.store.now_ms as i64;
    let base = if absolute { 0 } else { now };
    if when > i64::MAX - base {
        return Err(errors::invalid_expire(cmd));
    }
    when += base;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        cx.out.int(0);
        return Ok(());
    };
    let current = k.shard.expire_at(pos).map(|t| t as i64);
    if !cond.allows(current, when) {
        cx.out.int(0);
        return Ok(());
    }
    if when <= now {
        // Already past: the key goes now, announced as a deletion (as Redis propagates DEL).
        k.shard.remove(pos);
        k.op.emit(key, event::DEL);
    } else {
        k.shard.set_expire(pos, Some(when as u64));
        k.op.emit(key, event::EXPIRE);
    }
    cx.out.int(1);
    Ok(())
}

fn expire(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, true, false, "expire")
}

fn pexpire(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, false, false, "pexpire")
}

fn expireat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, true, true, "expireat")
}

fn pexpireat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(cx, args, false, true, "pexpireat")
}

/// TTL and friends, as Redis's `ttlGenericCommand`: -2 without the key, -1 without a TTL;
/// seconds are rounded to the nearest (`(ms + 500) / 1000`), absolute times included.
fn ttl_generic(cx: &mut Ctx<'_>, key: &[u8], ms: bool, absolute: bool) -> CmdResult {
    let now = cx.store.now_ms as i64;
    let mut k = cx.store.lock(key);
    let reply = match find_counted(&mut k, key) {
        None => -2,
        Some(pos) => match k.shard.expire_at(pos) {
            None => -1,
            Some(at) => {
                let t = if absolute { at as i64 } else { at as i64 - now }.max(0);
                if ms {
                    t
                } else {
                    (t + 500) / 1000
                }
            }
        },
    };
    cx.out.int(reply);
    Ok(())
}

fn ttl(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, &args[1], false, false)
}

fn pttl(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, &args[1], true, false)
}

fn expiretime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, &args[1], false, true)
}

fn pexpiretime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(cx, &args[1], true, true)
}

fn persist(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let n = match k.find(key) {
        Some(pos) if k.shard.expire_at(pos).is_some() => {
            k.shard.set_expire(pos, None);
            k.op.emit(key, event::PERSIST);
            1
        }
        _ => 0,
    };
    cx.out.int(n);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY, DBSIZE
// ---------------------------------------------------------------------------------------

fn keys(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pattern = &args[1][..];
    let all = pattern == b"*";
    let db = cx.store.access.db(cx.store.db);
    let now = cx.store.now_ms;
    let mut found: Vec<Vec<u8>> = Vec::new();
    for i in 0..db.shard_count() {
        db.lock(i).for_each(now, |k, _| {
            if all || glob::matches(pattern, k, false) {
                found.push(k.to_vec());
            }
        });
    }
    cx.out.array(found.len());
    for k in &found {
        cx.out.bulk(k);
    }
    Ok(())
}

fn scan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = crate::args::parse_cursor(&args[1])?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    // Some(None): a TYPE that names no type, which matches nothing (Redis 7.4 does not
    // reject it yet).
    let mut kind: Option<Option<Kind>> = None;
    let mut i = 2;
    while i < args.len() {
        let has_value = args.len() - i >= 2;
        if is(&args[i], "count") && has_value {
            let n = parse_i64(&args[i + 1])?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&args[i], "match") && has_value {
            let p = &args[i + 1][..];
            pattern = (p != b"*").then_some(p);
        } else if is(&args[i], "type") && has_value {
            kind = Some(Kind::from_name(&args[i + 1]));
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = cx
        .store
        .keyspace
        .scan(&cx.store.access, cx.store.db, cursor, count, |k, v| {
            let type_ok = kind.is_none_or(|want| want == Some(v.kind()));
            if type_ok && pattern.is_none_or(|p| glob::matches(p, k, false)) {
                found.push(k.to_vec());
            }
        });
    cx.out.array(2);
    cx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    cx.out.array(found.len());
    for k in &found {
        cx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    match cx.store.keyspace.random_key(&cx.store.access, cx.store.db) {
        Some(k) => cx.out.bulk(&k),
        None => cx.out.null(),
    }
    Ok(())
}

fn dbsize(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = cx.store.access.db(cx.store.db).len();
    cx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// RENAME, RENAMENX, COPY, MOVE
// ---------------------------------------------------------------------------------------

/// RENAME / RENAMENX; returns whether the key was renamed (NX: 0 when the target exists).
fn rename_generic(cx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (&args[1][..], &args[2][..]);
    let (mut locked, placed) = cx.store.lock_keys([src, dst]);
    let op = cx.store.op();
    let ((sh, ss), (dh, ds)) = (placed[0], placed[1]);
    if locked.shard(ss).lookup(&op, sh, src).is_none() {
        return Err(errors::NO_SUCH_KEY);
    }
    if src == dst {
        if nx {
            cx.out.int(0);
        } else {
            cx.out.ok();
        }
        return Ok(());
    }
    // Reclaims an expired target; its removal may move the source's slot, so positions are
    // looked up again right before each change.
    let target = locked.shard(ds).lookup(&op, dh, dst);
    if target.is_some() && nx {
        cx.out.int(0);
        return Ok(());
    }
    if let Some(pos) = target {
        locked.shard(ds).remove(pos);
    }
    let s = locked.shard(ss);
    let Some(pos) = s.find(sh, src) else {
        debug_assert!(false, "rename source vanished under its lock");
        return Err(errors::NO_SUCH_KEY);
    };
    let expire = s.expire_at(pos);
    let (_, value) = s.remove(pos);
    let d = locked.shard(ds);
    let pos = d.insert(&op, dh, dst, value);
    d.set_expire(pos, expire);
    op.emit(src, event::RENAME_FROM);
    op.emit(dst, event::RENAME_TO);
    if nx {
        cx.out.int(1);
    } else {
        cx.out.ok();
    }
    Ok(())
}

fn rename(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(cx, args, false)
}

fn renamenx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(cx, args, true)
}

fn copy(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst) = (&args[1][..], &args[2][..]);
    let src_db = cx.store.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "db") && j + 1 < args.len() {
            dst_db = parse_db(cx, &args[j + 1])?;
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if src_db == dst_db && src == dst {
        return Err(errors::SAME_OBJECT);
    }
    let ks = cx.store.keyspace;
    let (sh, dh) = (ks.hash(src), ks.hash(dst));
    let mut pair = cx
        .store
        .access
        .lock_pair((src_db, ks.shard_of(sh)), (dst_db, ks.shard_of(dh)));
    let sop = cx.store.op();
    let dop = OpCtx { db: dst_db, ..sop };
    let s = pair.a();
    let Some(pos) = s.lookup_read(&sop, sh, src) else {
        cx.out.int(0);
        return Ok(());
    };
    let (value, expire) = (s.value(pos).clone(), s.expire_at(pos));
    let d = pair.b();
    if let Some(pos) = d.lookup(&dop, dh, dst) {
        if !replace {
            cx.out.int(0);
            return Ok(());
        }
        d.remove(pos);
    }
    let pos = d.insert(&dop, dh, dst, value);
    d.set_expire(pos, expire);
    dop.emit(dst, event::COPY_TO);
    cx.out.int(1);
    Ok(())
}

fn move_(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let dst_db = parse_db(cx, &args[2])?;
    let src_db = cx.store.db;
    if dst_db == src_db {
        return Err(errors::SAME_OBJECT);
    }
    let ks = cx.store.keyspace;
    let hash = ks.hash(key);
    let shard = ks.shard_of(hash);
    let mut pair = cx.store.access.lock_pair((src_db, shard), (dst_db, shard));
    let sop = cx.store.op();
    let dop = OpCtx { db: dst_db, ..sop };
    let Some(pos) = pair.a().lookup(&sop, hash, key) else {
        cx.out.int(0);
        return Ok(());
    };
    if pair.b().lookup(&dop, hash, key).is_some() {
        cx.out.int(0);
        return Ok(());
    }
    let s = pair.a();
    let expire = s.expire_at(pos);
    let (_, value) = s.remove(pos);
    let d = pair.b();
    let pos = d.insert(&dop, hash, key, value);
    d.set_expire(pos, expire);
    sop.emit(key, event::MOVE_FROM);
    dop.emit(key, event::MOVE_TO);
    cx.out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

/// Never runs: the dispatcher resolves OBJECT's subcommands (and rejects a bare OBJECT by
/// arity) before any handler.
fn object(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Err(errors::unknown_subcommand(
        args.get(1).map_or(&b""[..], |a| &a[..]),
        "object",
    ))
}

/// Runs `f` on the value of OBJECT's key, or replies nil when it does not exist.
fn with_object(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    f: impl FnOnce(&Ctx<'_>, &keyspace::Shard, usize) -> Result<i64, CmdError>,
) -> CmdResult {
    let key = &args[2];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_counted(&mut k, key) else {
        drop(k);
        cx.out.null();
        return Ok(());
    };
    let n = f(cx, &k.shard, pos);
    drop(k);
    cx.out.int(n?);
    Ok(())
}

fn object_encoding(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[2];
    let mut k = cx.store.lock(key);
    match find_counted(&mut k, key) {
        Some(pos) => cx.out.bulk(k.shard.value(pos).encoding().as_bytes()),
        None => cx.out.null(),
    }
    Ok(())
}

fn object_freq(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    with_object(cx, args, |cx, shard, pos| {
        if !lfu_policy(cx) {
            return Err(errors::LFU_NOT_SELECTED);
        }
        // Redis's LFUDecrAndReturn: the counter after decay, without counting this access.
        Ok(i64::from(shard.lfu_freq(pos, cx.store.now_ms)))
    })
}

fn object_idletime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    with_object(cx, args, |cx, shard, pos| {
        if lfu_policy(cx) {
            return Err(errors::LFU_SELECTED);
        }
        Ok(i64::from(shard.idle_secs(pos, &cx.store.op())))
    })
}

fn object_refcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    with_object(cx, args, |cx, shard, pos| {
        Ok(if is_shared_integer(cx, shard.value(pos)) {
            i64::from(i32::MAX)
        } else {
            1
        })
    })
}

fn object_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    super::server::help_reply(
        cx.out,
        "object",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SWAPDB, FLUSHALL, FLUSHDB (exclusive access)
// ---------------------------------------------------------------------------------------

fn swapdb(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let index = |arg: &[u8], err: CmdError| {
        parse_i64(arg)
            .ok()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or(err)
    };
    let a = index(&args[1], errors::INVALID_FIRST_DB)?;
    let b = index(&args[2], errors::INVALID_SECOND_DB)?;
    let n = cx.store.keyspace.databases();
    let in_range = |i: i32| usize::try_from(i).ok().filter(|&i| i < n);
    let (Some(a), Some(b)) = (in_range(a), in_range(b)) else {
        return Err(errors::DB_INDEX);
    };
    if a != b {
        let keyspace = cx.store.keyspace;
        let Some(dbs) = cx.store.access.exclusive() else {
            debug_assert!(false, "SWAPDB without exclusive access");
            return Err(CmdError::err("SWAPDB requires exclusive access"));
        };
        keyspace.swap(dbs, a, b);
    }
    cx.out.ok();
    Ok(())
}

/// Parses FLUSHALL/FLUSHDB's optional ASYNC|SYNC; true for ASYNC.
fn flush_mode(args: &[Bytes]) -> Result<bool, CmdError> {
    match args.len() {
        1 => Ok(false),
        2 if is(&args[1], "async") => Ok(true),
        2 if is(&args[1], "sync") => Ok(false),
        _ => Err(errors::SYNTAX),
    }
}

fn flush(cx: &mut Ctx<'_>, args: &[Bytes], db: Option<usize>) -> CmdResult {
    let asynchronous = flush_mode(args)?;
    let keyspace = cx.store.keyspace;
    let Some(dbs) = cx.store.access.exclusive() else {
        debug_assert!(false, "flush without exclusive access");
        return Err(CmdError::err("flush requires exclusive access"));
    };
    let old = keyspace.flush(dbs, db);
    if asynchronous {
        std::thread::spawn(move || drop(old));
    } else {
        drop(old);
    }
    cx.out.ok();
    Ok(())
}

fn flushall(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush(cx, args, None)
}

fn flushdb(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = cx.store.db;
    flush(cx, args, Some(db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_as_strtoul() {
        assert_eq!(crate::args::parse_cursor(b"0"), Ok(0));
        assert_eq!(crate::args::parse_cursor(b""), Ok(0));
        assert_eq!(crate::args::parse_cursor(b"+7"), Ok(7));
        assert_eq!(crate::args::parse_cursor(b"007"), Ok(7));
        assert_eq!(crate::args::parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(
            crate::args::parse_cursor(b"18446744073709551615"),
            Ok(u64::MAX)
        );
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"abc",
            b"+",
            b"-",
            b"1x",
        ] {
            assert_eq!(
                crate::args::parse_cursor(bad),
                Err(errors::INVALID_CURSOR),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn expire_conditions() {
        let c = |o: &[&str]| {
            ExpireIf::parse(
                &o.iter()
                    .map(|s| Bytes::from(s.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(c(&["nx", "xx"]).err(), Some(errors::EXPIRE_NX_AND_OTHERS));
        assert_eq!(c(&["gt", "LT"]).err(), Some(errors::EXPIRE_GT_AND_LT));
        assert!(c(&["xx", "gt"]).is_ok());
        let gt = c(&["gt"]).unwrap_or_default();
        assert!(!gt.allows(None, 10));
        assert!(gt.allows(Some(5), 10));
        assert!(!gt.allows(Some(10), 10));
        let lt = c(&["lt"]).unwrap_or_default();
        assert!(lt.allows(None, 10));
        assert!(!lt.allows(Some(10), 10));
    }
}
