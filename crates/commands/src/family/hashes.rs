//! Hash commands: HSET and friends, counters, HRANDFIELD, HSCAN and the 7.4 field expiry
//! commands (HEXPIRE ... HPERSIST). Behaviour and error texts follow Redis 7.4's `t_hash.c`.
//!
//! Expired fields vanish lazily — every command that finds a hash first sweeps its due fields
//! (announced as `hexpired`), and the key goes (`del`) when its last field does — and
//! actively: [`FieldSweep`], run by the server's cron, walks the keyspace a slice per tick
//! and reclaims the due fields of hashes nobody touches, with the same events.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use keyspace::types::{hash, Hash, Limits};
use keyspace::{class, event, Event, Shard, Value};
use longdouble::LongDouble;
use protocol::Protocol;
use rand::Rng;

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::{Ctx, KeyLock};
use crate::errors::{self, CmdError, CmdResult, WRONGTYPE};
use crate::glob;
use crate::spec::{flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[
    command!("hset", -4, WRITE | DENYOOM | FAST, Keys::ONE, hset,
        acl: &["hash"], group: "hash", since: "2.0.0",
        complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
        summary: "Creates or modifies the value of a field in a hash."),
    command!("hsetnx", 4, WRITE | DENYOOM | FAST, Keys::ONE, hsetnx,
        acl: &["hash"], group: "hash", since: "2.0.0", complexity: "O(1)",
        summary: "Sets the value of a field in a hash only when the field doesn't exist."),
    command!("hmset", -4, WRITE | DENYOOM | FAST, Keys::ONE, hmset,
        acl: &["hash"], group: "hash", since: "2.0.0",
        complexity: "O(N) where N is the number of fields being set.",
        summary: "Sets the values of multiple fields."),
    command!("hget", 3, READONLY | FAST, Keys::ONE, hget,
        acl: &["hash"], group: "hash", since: "2.0.0", complexity: "O(1)",
        summary: "Returns the value of a field in a hash."),
    command!("hmget", -3, READONLY | FAST, Keys::ONE, hmget,
        acl: &["hash"], group: "hash", since: "2.0.0",
        complexity: "O(N) where N is the number of fields being requested.",
        summary: "Returns the values of all fields in a hash."),
    command!("hgetall", 2, READONLY, Keys::ONE, hgetall,
        acl: &["hash"], group: "hash", since: "2.0.0",
        complexity: "O(N) where N is the size of the hash.",
        summary: "Returns all fields and values in a hash."),
    command!("hkeys", 2, READONLY, Keys::ONE, hkeys,
        acl: &["hash"], group: "hash", since: "2.0.0",
        complexity: "O(N) where N is the size of the hash.",
        summary: "Returns all fields in a hash."),
    command!("hvals", 2, READONLY, Keys::ONE, hvals,
        acl: &["hash"], group: "hash", since: "2.0.0",
        complexity: "O(N) where N is the size of the hash.",
        summary: "Returns all values in a hash."),
    command!("hdel", -3, WRITE | FAST, Keys::ONE, hdel,
        acl: &["hash"], group: "hash", since: "2.0.0",
        complexity: "O(N) where N is the number of fields to be removed.",
        summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain."),
    command!("hexists", 3, READONLY | FAST, Keys::ONE, hexists,
        acl: &["hash"], group: "hash", since: "2.0.0", complexity: "O(1)",
        summary: "Determines whether a field exists in a hash."),
    command!("hlen", 2, READONLY | FAST, Keys::ONE, hlen,
        acl: &["hash"], group: "hash", since: "2.0.0", complexity: "O(1)",
        summary: "Returns the number of fields in a hash."),
    command!("hstrlen", 3, READONLY | FAST, Keys::ONE, hstrlen,
        acl: &["hash"], group: "hash", since: "3.2.0", complexity: "O(1)",
        summary: "Returns the length of the value of a field."),
    command!("hincrby", 4, WRITE | DENYOOM | FAST, Keys::ONE, hincrby,
        acl: &["hash"], group: "hash", since: "2.0.0", complexity: "O(1)",
        summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist."),
    command!("hincrbyfloat", 4, WRITE | DENYOOM | FAST, Keys::ONE, hincrbyfloat,
        acl: &["hash"], group: "hash", since: "2.6.0", complexity: "O(1)",
        summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist."),
    command!("hrandfield", -2, READONLY, Keys::ONE, hrandfield,
        acl: &["hash"], group: "hash", since: "6.2.0",
        complexity: "O(N) where N is the number of fields returned",
        summary: "Returns one or more random fields from a hash."),
    command!("hscan", -3, READONLY, Keys::ONE, hscan,
        acl: &["hash"], group: "hash", since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        summary: "Iterates over fields and values of a hash."),
    command!("hexpire", -6, WRITE | DENYOOM | FAST, Keys::ONE, hexpire,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Set expiry for hash field using relative time to expire (seconds)"),
    command!("hpexpire", -6, WRITE | DENYOOM | FAST, Keys::ONE, hpexpire,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Set expiry for hash field using relative time to expire (milliseconds)"),
    command!("hexpireat", -6, WRITE | DENYOOM | FAST, Keys::ONE, hexpireat,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Set expiry for hash field using an absolute Unix timestamp (seconds)"),
    command!("hpexpireat", -6, WRITE | DENYOOM | FAST, Keys::ONE, hpexpireat,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Set expiry for hash field using an absolute Unix timestamp (milliseconds)"),
    command!("httl", -5, READONLY | FAST, Keys::ONE, httl,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Returns the TTL in seconds of a hash field."),
    command!("hpttl", -5, READONLY | FAST, Keys::ONE, hpttl,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Returns the TTL in milliseconds of a hash field."),
    command!("hexpiretime", -5, READONLY | FAST, Keys::ONE, hexpiretime,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Returns the expiration time of a hash field as a Unix timestamp, in seconds."),
    command!("hpexpiretime", -5, READONLY | FAST, Keys::ONE, hpexpiretime,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Returns the expiration time of a hash field as a Unix timestamp, in msec."),
    command!("hpersist", -5, WRITE | FAST, Keys::ONE, hpersist,
        acl: &["hash"], group: "hash", since: "7.4.0",
        complexity: "O(N) where N is the number of specified fields",
        summary: "Removes the expiration time for each specified field"),
];

// ---------------------------------------------------------------------------------------
// Events and error texts
// ---------------------------------------------------------------------------------------

const fn hash_event(name: &'static str) -> Event {
    Event {
        name,
        class: class::HASH,
    }
}

pub const HSET: Event = hash_event("hset");
pub const HDEL: Event = hash_event("hdel");
pub const HINCRBY: Event = hash_event("hincrby");
pub const HINCRBYFLOAT: Event = hash_event("hincrbyfloat");
pub const HEXPIRE: Event = hash_event("hexpire");
pub const HPERSIST: Event = hash_event("hpersist");
/// Fields removed by their TTL, and the hash deleted with the last of them: announced as
/// Redis does, propagated as `HDEL` (`class::FIELD_EXPIRY`).
pub const HEXPIRED: Event = Event {
    name: "hexpired",
    class: class::HASH | class::FIELD_EXPIRY,
};
const DEL_EXPIRED_FIELDS: Event = Event {
    name: "del",
    class: class::GENERIC | class::FIELD_EXPIRY,
};

const HASH_NOT_INTEGER: CmdError = CmdError::new("ERR hash value is not an integer");
const HASH_NOT_FLOAT: CmdError = CmdError::new("ERR hash value is not a float");
const NAN_OR_INF_INCR: CmdError = CmdError::new("ERR value is NaN or Infinity");
/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)` on LLONG_MIN.
const COUNT_RANGE: CmdError = CmdError::new(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
);
const OUT_OF_RANGE: CmdError = CmdError::new("ERR value is out of range");
const FIELDS_MISSING: CmdError =
    CmdError::new("ERR Mandatory argument FIELDS is missing or not at the right position");
const NUMFIELDS_EXPIRE: CmdError =
    CmdError::new("ERR Parameter `numFields` should be greater than 0");
const NUMFIELDS_POSITIVE: CmdError =
    CmdError::new("ERR Number of fields must be a positive integer");
const NUMFIELDS_MISMATCH: CmdError =
    CmdError::new("ERR The `numfields` parameter must match the number of arguments");
const EXPIRE_NEGATIVE: CmdError = CmdError::new("ERR invalid expire time, must be >= 0");

/// Latest field expiry time Redis accepts (`HFE_MAX_ABS_TIME_MSEC`, 2^46 - 1 ms).
const HFE_MAX_ABS_TIME_MSEC: i64 = ((1i64 << 48) - 1) >> 2;

// ---------------------------------------------------------------------------------------
// Type API
// ---------------------------------------------------------------------------------------

fn hash_ref(s: &Shard, pos: usize) -> Result<&Hash, CmdError> {
    match s.value(pos) {
        Value::Hash(h) => Ok(h),
        _ => Err(WRONGTYPE),
    }
}

fn hash_mut(s: &mut Shard, pos: usize) -> Result<&mut Hash, CmdError> {
    match s.value_mut(pos) {
        Value::Hash(h) => Ok(h),
        _ => Err(WRONGTYPE),
    }
}

/// Finds the hash at `key` (counting a hit or miss when `read`), WRONGTYPE for other types.
/// Due fields are swept first (`hexpired`); a hash left empty is deleted (`del`) and None
/// returned.
fn find_hash(k: &mut KeyLock<'_>, key: &[u8], read: bool) -> Result<Option<usize>, CmdError> {
    let pos = if read { k.find_read(key) } else { k.find(key) };
    let Some(pos) = pos else { return Ok(None) };
    let now = k.op.now_ms;
    let h = hash_mut(&mut k.shard, pos)?;
    let expired = h.expire_fields(now);
    if !expired.is_empty() {
        let empty = h.is_empty();
        announce_expired_fields(&k.op, key, &expired, empty);
        if empty {
            k.shard.remove(pos);
            return Ok(None);
        }
    }
    Ok(Some(pos))
}

/// Announces fields removed by their TTL: `hexpired` (and `del` when the hash is left
/// `empty`) for notifications and the other listeners, their names for propagation.
fn announce_expired_fields(
    op: &keyspace::OpCtx<'_>,
    key: &[u8],
    fields: &[Box<[u8]>],
    empty: bool,
) {
    op.emit_fields_expired(key, fields);
    op.emit(key, HEXPIRED);
    if empty {
        op.emit(key, DEL_EXPIRED_FIELDS);
    }
}

/// Whether the value at `pos` is a hash with a field due at `now_ms`.
fn fields_due(shard: &Shard, pos: usize, now_ms: u64) -> bool {
    matches!(shard.value(pos), Value::Hash(h) if h.next_expire().is_some_and(|t| t <= now_ms))
}

/// Sweeps out the due fields of the hash at `pos`, if it is one: announces `hexpired`, and
/// removes the key (announcing `del`) when no field is left. Returns how many fields went.
fn expire_due_fields(shard: &mut Shard, op: &keyspace::OpCtx<'_>, pos: usize) -> usize {
    let Value::Hash(h) = shard.value_mut(pos) else {
        return 0;
    };
    let expired = h.expire_fields(op.now_ms);
    if expired.is_empty() {
        return 0;
    }
    let empty = h.is_empty();
    let key = shard.key(pos).to_vec();
    announce_expired_fields(op, &key, &expired, empty);
    if empty {
        shard.remove(pos);
    }
    expired.len()
}

/// The active expiry of hash fields: a cursor over every database's shards that the cron
/// advances a time slice per tick, sweeping the due fields of each hash it passes (Redis
/// 7.4's `activeExpireCycle` reclaims them through an index of volatile hashes instead).
/// While no hash in the process has a field TTL, a tick costs one atomic load.
#[derive(Clone, Debug, Default)]
pub struct FieldSweep {
    db: usize,
    shard: usize,
    /// Slots above this position in the current shard were visited (0: start from the top).
    top: usize,
    /// The last run stopped at a due hash because writers held the order lock: the next
    /// one waits for it first.
    wait_order: bool,
}

impl FieldSweep {
    /// Runs for at most `budget` (checking the clock every few hundred keys); returns the
    /// number of fields it removed.
    pub fn run(&mut self, server: &crate::Server, budget: std::time::Duration) -> usize {
        /// Slots visited between two looks at the clock.
        const CHUNK: usize = 256;
        if hash::volatile_hashes() == 0 {
            return 0;
        }
        let deadline = std::time::Instant::now() + budget;
        // The HDELs reach the AOF and replicas in order with the writers: logged with no
        // writer between its change and its log entry, under the order lock. Taken before
        // the keyspace locks after a run that could not get it, else per removal if free.
        let order = std::mem::take(&mut self.wait_order).then(|| server.propagation.order());
        let keyspace = &server.keyspace;
        let access = keyspace.shared();
        let (dbs, shards) = (access.len(), keyspace.shards_per_db());
        let mut removed = 0;
        // At most one full pass per call.
        for _ in 0..=dbs * shards {
            if self.db >= dbs {
                self.db = 0;
                self.shard = 0;
                self.top = 0;
            }
            let op = keyspace.op_ctx(self.db);
            let mut s = access.db(self.db).lock(self.shard);
            if self.top == 0 || self.top > s.len() {
                self.top = s.len();
            }
            while self.top > 0 {
                let lo = self.top.saturating_sub(CHUNK);
                // Top down: a removal moves the last (already visited) slot into the hole.
                for pos in (lo..self.top).rev() {
                    if s.expired_at(pos, op.now_ms) || !fields_due(&s, pos, op.now_ms) {
                        continue;
                    }
                    // A writer holding the order lock may be waiting for this shard: stop
                    // here and resume next tick, holding it first.
                    let taken = if order.is_none() && server.propagation.is_active() {
                        match server.propagation.try_order() {
                            Some(guard) => Some(guard),
                            None => {
                                self.top = pos + 1;
                                self.wait_order = true;
                                return removed;
                            }
                        }
                    } else {
                        None
                    };
                    removed += expire_due_fields(&mut s, &op, pos);
                    drop(taken);
                }
                self.top = lo;
                if std::time::Instant::now() >= deadline {
                    if self.top == 0 {
                        self.next_shard(shards);
                    }
                    return removed;
                }
            }
            drop(s);
            self.next_shard(shards);
        }
        removed
    }

    fn next_shard(&mut self, shards: usize) {
        self.top = 0;
        self.shard += 1;
        if self.shard == shards {
            self.shard = 0;
            self.db += 1;
        }
    }
}

/// The position of the hash at `key`, created empty when absent (the caller fills it).
fn hash_or_create(k: &mut KeyLock<'_>, key: &[u8], found: Option<usize>) -> usize {
    match found {
        Some(pos) => pos,
        None => {
            let (op, hash) = (k.op, k.hash);
            k.shard
                .insert(&op, hash, key, Value::Hash(Box::new(Hash::new())))
        }
    }
}

/// Removes the key at `pos` if its hash is empty; returns whether it did (announcing `del`).
fn drop_if_empty(k: &mut KeyLock<'_>, key: &[u8], pos: usize) -> bool {
    if hash_ref(&k.shard, pos).is_ok_and(|h| h.is_empty()) {
        k.shard.remove(pos);
        k.op.emit(key, event::DEL);
        return true;
    }
    false
}

fn limits(cx: &Ctx<'_>) -> Limits {
    *cx.server.config.limits.read()
}

fn resp3(cx: &Ctx<'_>) -> bool {
    cx.out.proto == Protocol::Resp3
}

// ---------------------------------------------------------------------------------------
// HSET, HSETNX, HMSET, HGET, HMGET, HGETALL, HKEYS, HVALS
// ---------------------------------------------------------------------------------------

/// HSET and HMSET: sets the pairs; returns how many fields were new.
fn set_pairs(cx: &mut Ctx<'_>, args: &[Bytes], name: &str) -> Result<i64, CmdError> {
    if args.len() % 2 == 1 {
        return Err(errors::wrong_arity(name));
    }
    let limits = limits(cx);
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let found = find_hash(&mut k, key, false)?;
    let pos = hash_or_create(&mut k, key, found);
    let h = hash_mut(&mut k.shard, pos)?;
    let mut created = 0;
    for pair in args[2..].chunks_exact(2) {
        created += i64::from(h.insert(&pair[0], &pair[1], &limits));
    }
    k.op.emit(key, HSET);
    Ok(created)
}

fn hset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = set_pairs(cx, args, "hset")?;
    cx.out.int(n);
    Ok(())
}

fn hmset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_pairs(cx, args, "hmset")?;
    cx.out.ok();
    Ok(())
}

fn hsetnx(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let limits = limits(cx);
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let found = find_hash(&mut k, key, false)?;
    if let Some(pos) = found {
        if hash_ref(&k.shard, pos)?.contains(&args[2]) {
            cx.out.int(0);
            return Ok(());
        }
    }
    let pos = hash_or_create(&mut k, key, found);
    hash_mut(&mut k.shard, pos)?.insert(&args[2], &args[3], &limits);
    k.op.emit(key, HSET);
    cx.out.int(1);
    Ok(())
}

fn hget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    match find_hash(&mut k, key, true)? {
        Some(pos) => match hash_ref(&k.shard, pos)?.get(&args[2]) {
            Some(v) => cx.out.bulk(v),
            None => cx.out.null(),
        },
        None => cx.out.null(),
    }
    Ok(())
}

fn hmget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let found = find_hash(&mut k, key, true)?;
    let h = match found {
        Some(pos) => Some(hash_ref(&k.shard, pos)?),
        None => None,
    };
    cx.out.array(args.len() - 2);
    for f in &args[2..] {
        match h.and_then(|h| h.get(f)) {
            Some(v) => cx.out.bulk(v),
            None => cx.out.null(),
        }
    }
    Ok(())
}

/// HGETALL, HKEYS and HVALS.
fn get_all(cx: &mut Ctx<'_>, args: &[Bytes], keys: bool, values: bool) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_hash(&mut k, key, true)? else {
        if keys && values {
            cx.out.map(0);
        } else {
            cx.out.array(0);
        }
        return Ok(());
    };
    let h = hash_ref(&k.shard, pos)?;
    if keys && values {
        cx.out.map(h.len());
    } else {
        cx.out.array(h.len());
    }
    for (f, v) in h.iter() {
        if keys {
            cx.out.bulk(f);
        }
        if values {
            cx.out.bulk(v);
        }
    }
    Ok(())
}

fn hgetall(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    get_all(cx, args, true, true)
}

fn hkeys(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    get_all(cx, args, true, false)
}

fn hvals(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    get_all(cx, args, false, true)
}

// ---------------------------------------------------------------------------------------
// HDEL, HEXISTS, HLEN, HSTRLEN
// ---------------------------------------------------------------------------------------

fn hdel(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_hash(&mut k, key, false)? else {
        cx.out.int(0);
        return Ok(());
    };
    let h = hash_mut(&mut k.shard, pos)?;
    let mut deleted = 0;
    for f in &args[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        k.op.emit(key, HDEL);
        drop_if_empty(&mut k, key, pos);
    }
    cx.out.int(deleted);
    Ok(())
}

/// Replies with `f(hash)`, or `absent` when there is no hash.
fn read_int(cx: &mut Ctx<'_>, key: &[u8], absent: i64, f: impl Fn(&Hash) -> i64) -> CmdResult {
    let mut k = cx.store.lock(key);
    let n = match find_hash(&mut k, key, true)? {
        Some(pos) => f(hash_ref(&k.shard, pos)?),
        None => absent,
    };
    cx.out.int(n);
    Ok(())
}

fn hexists(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_int(cx, &args[1], 0, |h| i64::from(h.contains(&args[2])))
}

fn hlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_int(cx, &args[1], 0, |h| h.len() as i64)
}

fn hstrlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_int(cx, &args[1], 0, |h| {
        h.get(&args[2]).map_or(0, |v| v.len() as i64)
    })
}

// ---------------------------------------------------------------------------------------
// HINCRBY, HINCRBYFLOAT
// ---------------------------------------------------------------------------------------

fn hincrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let incr = parse_i64(&args[3])?;
    let limits = limits(cx);
    let (key, field) = (&args[1], &args[2]);
    let mut k = cx.store.lock(key);
    let found = find_hash(&mut k, key, false)?;
    let old = match found {
        Some(pos) => match hash_ref(&k.shard, pos)?.get(field) {
            Some(v) => keyspace::parse_canonical_i64(v).ok_or(HASH_NOT_INTEGER)?,
            None => 0,
        },
        None => 0,
    };
    let new = old.checked_add(incr).ok_or(errors::OVERFLOW)?;
    let pos = hash_or_create(&mut k, key, found);
    let text = itoa::Buffer::new().format(new).as_bytes().to_vec();
    hash_mut(&mut k.shard, pos)?.insert(field, &text, &limits);
    k.op.emit(key, HINCRBY);
    cx.out.int(new);
    Ok(())
}

/// HINCRBYFLOAT: the sum is computed in `long double` and printed as Redis's `ld2string`.
fn hincrbyfloat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let incr = LongDouble::parse(&args[3]).ok_or(errors::NOT_FLOAT)?;
    if !incr.is_finite() {
        return Err(NAN_OR_INF_INCR);
    }
    let limits = limits(cx);
    let (key, field) = (&args[1], &args[2]);
    let mut k = cx.store.lock(key);
    let found = find_hash(&mut k, key, false)?;
    let old = match found {
        Some(pos) => match hash_ref(&k.shard, pos)?.get(field) {
            Some(v) => LongDouble::parse(v).ok_or(HASH_NOT_FLOAT)?,
            None => LongDouble::zero(),
        },
        None => LongDouble::zero(),
    };
    let new = old + incr;
    if !new.is_finite() {
        return Err(errors::NAN_OR_INF);
    }
    let pos = hash_or_create(&mut k, key, found);
    let text = new.to_human();
    hash_mut(&mut k.shard, pos)?.insert(field, text.as_bytes(), &limits);
    k.op.emit(key, HINCRBYFLOAT);
    // As Redis: replicas and the AOF get the result, not a float operation to redo.
    crate::propagate::rewrite(vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        field.clone(),
        Bytes::copy_from_slice(text.as_bytes()),
    ]);
    cx.out.bulk(text.as_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------------------

/// Writes one HRANDFIELD element: the field, or with values a pair (nested in RESP3, flat
/// in RESP2).
fn reply_pick(out: &mut protocol::ReplyWriter, pair: (&[u8], &[u8]), values: bool, r3: bool) {
    if values && r3 {
        out.array(2);
    }
    out.bulk(pair.0);
    if values {
        out.bulk(pair.1);
    }
}

fn hrandfield(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut count = None;
    let mut values = false;
    if args.len() >= 3 {
        let l = parse_i64(&args[2])?;
        if l == i64::MIN {
            return Err(COUNT_RANGE);
        }
        if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withvalues")) {
            return Err(errors::SYNTAX);
        }
        if args.len() == 4 {
            values = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(OUT_OF_RANGE);
            }
        }
        count = Some(l);
    }
    let r3 = resp3(cx);
    let max_reply = cx.server.config.proto_max_bulk_len.load(Ordering::Relaxed);
    let mut k = cx.store.lock(key);
    let found = find_hash(&mut k, key, true)?;
    let Some(l) = count else {
        match found {
            Some(pos) if hash_ref(&k.shard, pos)?.is_empty() => cx.out.null(),
            Some(pos) => {
                let h = hash_ref(&k.shard, pos)?;
                let i = rand::thread_rng().gen_range(0..h.len());
                match h.pair_at(i) {
                    Some((f, _)) => cx.out.bulk(f),
                    None => cx.out.null(),
                }
            }
            None => cx.out.null(),
        }
        return Ok(());
    };
    let Some(pos) = found else {
        cx.out.array(0);
        return Ok(());
    };
    let h = hash_ref(&k.shard, pos)?;
    let size = h.len();
    if size == 0 {
        cx.out.array(0);
        return Ok(());
    }
    let n = l.unsigned_abs() as usize;
    let width = if values && !r3 { 2 } else { 1 };
    let mut rng = rand::thread_rng();
    if l < 0 || n == 1 {
        // Repeats allowed. The reply is bounded by proto-max-bulk-len: each element takes
        // at least 4 bytes, and generation stops once the reply outgrows the bound.
        if (n as u128) * 4 > u128::from(max_reply) {
            return Err(OUT_OF_RANGE);
        }
        // A packed hash is copied out once so each pick is O(1).
        let packed: Vec<(&[u8], &[u8])> = if h.is_packed() {
            h.iter().collect()
        } else {
            Vec::new()
        };
        let mark = cx.out.len();
        cx.out.array(n * width);
        for _ in 0..n {
            let i = rng.gen_range(0..size);
            let pair = if h.is_packed() {
                packed.get(i).copied()
            } else {
                h.pair_at(i)
            };
            if let Some(pair) = pair {
                reply_pick(cx.out, pair, values, r3);
            }
            if (cx.out.len() - mark) as u64 > max_reply {
                cx.out.truncate(mark);
                return Err(OUT_OF_RANGE);
            }
        }
        return Ok(());
    }
    if n >= size {
        cx.out.array(size * width);
        for pair in h.iter() {
            reply_pick(cx.out, pair, values, r3);
        }
        return Ok(());
    }
    // Distinct fields: a random sample of positions.
    let picks = rand::seq::index::sample(&mut rng, size, n);
    cx.out.array(n * width);
    if h.is_packed() {
        let mut chosen = vec![false; size];
        for i in picks.iter() {
            chosen[i] = true;
        }
        for (pair, _) in h.iter().zip(&chosen).filter(|(_, &c)| c) {
            reply_pick(cx.out, pair, values, r3);
        }
    } else {
        for i in picks.iter() {
            if let Some(pair) = h.pair_at(i) {
                reply_pick(cx.out, pair, values, r3);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------------------

fn hscan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = crate::args::parse_cursor(&args[2])?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_hash(&mut k, key, true)? else {
        cx.out.array(2);
        cx.out.bulk(b"0");
        cx.out.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut novalues = false;
    let mut i = 3;
    while i < args.len() {
        let has_value = args.len() - i >= 2;
        if is(&args[i], "count") && has_value {
            let n = parse_i64(&args[i + 1])?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else if is(&args[i], "match") && has_value {
            let p = &args[i + 1][..];
            pattern = (p != b"*").then_some(p);
            i += 2;
        } else if is(&args[i], "novalues") {
            novalues = true;
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let h = hash_ref(&k.shard, pos)?;
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| glob::matches(p, f, false)) {
            found.push((f, v));
        }
    });
    cx.out.array(2);
    cx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    cx.out.array(found.len() * if novalues { 1 } else { 2 });
    for (f, v) in found {
        cx.out.bulk(f);
        if !novalues {
            cx.out.bulk(v);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Field expiry: HEXPIRE family, HTTL family, HPERSIST
// ---------------------------------------------------------------------------------------

/// Checks `FIELDS numfields field...` starting at `at` (the FIELDS word); returns the
/// fields. `count_err` is the command's error for a bad `numfields`.
fn parse_fields(args: &[Bytes], at: usize, count_err: CmdError) -> Result<&[Bytes], CmdError> {
    if !args.get(at).is_some_and(|a| is(a, "fields")) {
        return Err(FIELDS_MISSING);
    }
    let n = args
        .get(at + 1)
        .and_then(|a| keyspace::parse_canonical_i64(a))
        .filter(|&n| n >= 1)
        .ok_or(count_err)?;
    let rest = &args[(at + 2).min(args.len())..];
    if n as u64 != rest.len() as u64 {
        return Err(NUMFIELDS_MISMATCH);
    }
    Ok(rest)
}

/// Condition of the HEXPIRE family.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

impl Cond {
    /// Whether `when` may replace `current` (None: no TTL, which GT and LT take as infinite).
    fn allows(self, current: Option<u64>, when: u64) -> bool {
        match self {
            Cond::Always => true,
            Cond::Nx => current.is_none(),
            Cond::Xx => current.is_some(),
            Cond::Gt => current.is_some_and(|c| when > c),
            Cond::Lt => current.is_none_or(|c| when < c),
        }
    }
}

/// HEXPIRE, HPEXPIRE, HEXPIREAT and HPEXPIREAT: `seconds` is the unit of the time argument,
/// `absolute` whether it is a Unix time. Per field: -2 no such field, 0 condition not met,
/// 1 set, 2 deleted (time already past).
fn hexpire_generic(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    seconds: bool,
    absolute: bool,
    cmd: &str,
) -> CmdResult {
    let key = &args[1];
    let now = cx.store.now_ms;
    let mut k = cx.store.lock(key);
    let found = find_hash(&mut k, key, false)?;
    let mut when = parse_i64(&args[2])?;
    if when < 0 {
        return Err(EXPIRE_NEGATIVE);
    }
    if seconds {
        if when > HFE_MAX_ABS_TIME_MSEC / 1000 {
            return Err(errors::invalid_expire(cmd));
        }
        when *= 1000;
    }
    let base = if absolute { 0 } else { now as i64 };
    if when > HFE_MAX_ABS_TIME_MSEC - base {
        return Err(errors::invalid_expire(cmd));
    }
    let when = (when + base) as u64;
    let cond = match &args[3] {
        a if is(a, "nx") => Cond::Nx,
        a if is(a, "xx") => Cond::Xx,
        a if is(a, "gt") => Cond::Gt,
        a if is(a, "lt") => Cond::Lt,
        _ => Cond::Always,
    };
    let at = if cond == Cond::Always { 3 } else { 4 };
    let fields = parse_fields(args, at, NUMFIELDS_EXPIRE)?;
    cx.out.array(fields.len());
    let Some(pos) = found else {
        for _ in fields {
            cx.out.int(-2);
        }
        return Ok(());
    };
    let h = hash_mut(&mut k.shard, pos)?;
    let (mut updated, mut deleted) = (0, 0);
    for f in fields {
        let code = if !h.contains(f) {
            -2
        } else if !cond.allows(h.expire_at(f), when) {
            0
        } else if when <= now {
            h.remove(f);
            deleted += 1;
            2
        } else {
            h.set_expire(f, when);
            updated += 1;
            1
        };
        cx.out.int(code);
    }
    if deleted > 0 {
        if !drop_if_empty(&mut k, key, pos) {
            k.op.emit(key, HEXPIRED);
        }
    } else if updated > 0 {
        k.op.emit(key, HEXPIRE);
    }
    Ok(())
}

fn hexpire(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hexpire_generic(cx, args, true, false, "hexpire")
}

fn hpexpire(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hexpire_generic(cx, args, false, false, "hpexpire")
}

fn hexpireat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hexpire_generic(cx, args, true, true, "hexpireat")
}

fn hpexpireat(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hexpire_generic(cx, args, false, true, "hpexpireat")
}

/// HTTL and friends: per field -2 no such field, -1 no TTL, else the time left (`absolute`:
/// the expiry time), in seconds rounded up or in ms. A missing key replies nil.
fn httl_generic(cx: &mut Ctx<'_>, args: &[Bytes], ms: bool, absolute: bool) -> CmdResult {
    let key = &args[1];
    let now = cx.store.now_ms;
    let mut k = cx.store.lock(key);
    let Some(pos) = find_hash(&mut k, key, true)? else {
        cx.out.null();
        return Ok(());
    };
    let fields = parse_fields(args, 2, NUMFIELDS_POSITIVE)?;
    let h = hash_ref(&k.shard, pos)?;
    let base = if absolute { 0 } else { now };
    cx.out.array(fields.len());
    for f in fields {
        let n = if !h.contains(f) {
            -2
        } else {
            match h.expire_at(f) {
                None => -1,
                Some(at) => {
                    let left = at.saturating_sub(base) as i64;
                    if ms {
                        left
                    } else {
                        (left + 999) / 1000
                    }
                }
            }
        };
        cx.out.int(n);
    }
    Ok(())
}

fn httl(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    httl_generic(cx, args, false, false)
}

fn hpttl(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    httl_generic(cx, args, true, false)
}

fn hexpiretime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    httl_generic(cx, args, false, true)
}

fn hpexpiretime(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    httl_generic(cx, args, true, true)
}

/// HPERSIST: per field -2 no such field, -1 no TTL, 1 TTL removed. A missing key replies nil.
fn hpersist(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_hash(&mut k, key, false)? else {
        cx.out.null();
        return Ok(());
    };
    let fields = parse_fields(args, 2, NUMFIELDS_POSITIVE)?;
    let h = hash_mut(&mut k.shard, pos)?;
    let mut changed = false;
    cx.out.array(fields.len());
    for f in fields {
        let n = if !h.contains(f) {
            -2
        } else if h.persist(f) {
            changed = true;
            1
        } else {
            -1
        };
        cx.out.int(n);
    }
    if changed {
        k.op.emit(key, HPERSIST);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_conditions_as_redis() {
        assert!(Cond::Nx.allows(None, 5));
        assert!(!Cond::Nx.allows(Some(1), 5));
        assert!(Cond::Xx.allows(Some(1), 5));
        assert!(!Cond::Xx.allows(None, 5));
        assert!(!Cond::Gt.allows(None, 5));
        assert!(Cond::Gt.allows(Some(4), 5));
        assert!(!Cond::Gt.allows(Some(5), 5));
        assert!(Cond::Lt.allows(None, 5));
        assert!(Cond::Lt.allows(Some(6), 5));
        assert!(!Cond::Lt.allows(Some(5), 5));
    }

    /// Collects the events published on the feed.
    #[derive(Default)]
    struct Recorder(parking_lot::Mutex<Vec<String>>);

    impl keyspace::ChangeListener for Recorder {
        fn on_change(&self, change: &keyspace::Change<'_>) {
            if let keyspace::Change::Key { key, event, .. } = change {
                self.0
                    .lock()
                    .push(format!("{}:{}", event.name, String::from_utf8_lossy(key)));
            }
        }
    }

    /// Runs `cmds` (space-separated words) on a fresh server whose clock starts at 1000 ms
    /// and moves by `@N` lines; returns the events announced.
    fn events_of(cmds: &[&str]) -> Vec<String> {
        use keyspace::Clock;
        use std::sync::Arc;
        let clock = Arc::new(keyspace::ManualClock::new(1000));
        let ks = keyspace::Keyspace::new(
            keyspace::KeyspaceConfig {
                databases: 1,
                shards: 1,
            },
            clock.clone(),
        );
        let server = crate::server::Server::with_keyspace(crate::config::Config::new(None), ks);
        let rec = Arc::new(Recorder::default());
        server.keyspace.feed.subscribe(rec.clone());
        let handle = Arc::new(crate::client::ClientHandle::new(
            1,
            "a".into(),
            "b".into(),
            0,
        ));
        let mut client = crate::client::Client::new(handle, true);
        let mut out = protocol::ReplyWriter::new(Protocol::Resp2);
        for c in cmds {
            if let Some(ms) = c.strip_prefix('@') {
                clock.advance(ms.parse().unwrap_or(0));
                continue;
            }
            let args: Vec<Bytes> = c
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            crate::dispatch::dispatch(&server, &mut client, &mut out, &args, clock.now_ms());
        }
        let events = rec.0.lock().clone();
        events
    }

    #[test]
    fn writes_announce_redis_events() {
        assert_eq!(
            events_of(&[
                "HSET h a 1 b 2",
                "HSETNX h a 1",
                "HSETNX h c 3",
                "HINCRBY h n 1",
                "HINCRBYFLOAT h x 1.5",
                "HDEL h zz",
                "HDEL h a b",
                "HDEL h c n x",
            ]),
            [
                "new:h",
                "hset:h",
                "hset:h",
                "hincrby:h",
                "hincrbyfloat:h",
                "hdel:h",
                "hdel:h",
                "del:h"
            ]
        );
        assert_eq!(
            events_of(&[
                "HSET h a 1 b 2 c 3",
                "HPEXPIRE h 100 FIELDS 1 a",
                "HPEXPIRE h 100 NX FIELDS 1 a",
                "HPERSIST h FIELDS 1 a",
                "HPERSIST h FIELDS 1 a",
                "HPEXPIRE h 0 FIELDS 1 a",
                "HPEXPIRE h 10 FIELDS 2 b c",
                "@10",
                "HLEN h",
                "HSET h d 4",
                "HEXPIRE h 0 FIELDS 1 d",
            ]),
            [
                "new:h",
                "hset:h",
                "hexpire:h",
                "hpersist:h",
                "hexpired:h",
                "hexpire:h",
                "hexpired:h",
                "del:h",
                "new:h",
                "hset:h",
                "del:h",
            ]
        );
    }

    #[test]
    fn fields_block_is_checked_as_redis() {
        let v = |s: &str| -> Vec<Bytes> {
            s.split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        let args = v("httl k FIELDS 2 a b");
        assert_eq!(
            parse_fields(&args, 2, NUMFIELDS_POSITIVE).map(|f| f.len()),
            Ok(2)
        );
        let args = v("httl k FIELDS 3 a b");
        assert_eq!(
            parse_fields(&args, 2, NUMFIELDS_POSITIVE),
            Err(NUMFIELDS_MISMATCH)
        );
        let args = v("httl k FIELDS 0 a");
        assert_eq!(
            parse_fields(&args, 2, NUMFIELDS_POSITIVE),
            Err(NUMFIELDS_POSITIVE)
        );
        let args = v("httl k FIELD 1 a");
        assert_eq!(
            parse_fields(&args, 2, NUMFIELDS_POSITIVE),
            Err(FIELDS_MISSING)
        );
    }
}
