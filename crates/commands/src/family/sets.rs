//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE,
//! the algebra (SINTER SINTERCARD SUNION SDIFF and their STORE forms) and SSCAN. Behaviour,
//! encodings of stored results and error texts follow Redis 7.4's `t_set.c`.

use bytes::Bytes;
use keyspace::types::set::Member;
use keyspace::types::{Limits, Set};
use keyspace::{class, event, Event, Locked, OpCtx, Shard, Value};
use protocol::ReplyWriter;

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::{Ctx, Store};
use crate::errors::{self, CmdError, CmdResult, WRONGTYPE};
use crate::glob;
use crate::spec::{flag::*, CommandSpec, Keys};

pub const SADD: Event = Event {
    name: "sadd",
    class: class::SET,
};
pub const SREM: Event = Event {
    name: "srem",
    class: class::SET,
};
pub const SPOP: Event = Event {
    name: "spop",
    class: class::SET,
};
pub const SINTERSTORE: Event = Event {
    name: "sinterstore",
    class: class::SET,
};
pub const SUNIONSTORE: Event = Event {
    name: "sunionstore",
    class: class::SET,
};
pub const SDIFFSTORE: Event = Event {
    name: "sdiffstore",
    class: class::SET,
};

pub static COMMANDS: &[CommandSpec] = &[
    command!("sadd", -3, WRITE | DENYOOM | FAST, Keys::ONE, sadd,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        summary: "Adds one or more members to a set. Creates the key if it doesn't exist."),
    command!("srem", -3, WRITE | FAST, Keys::ONE, srem,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N) where N is the number of members to be removed.",
        summary: "Removes one or more members from a set. Deletes the set if the last member was removed."),
    command!("smembers", 2, READONLY, Keys::ONE, smembers,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N) where N is the set cardinality.",
        summary: "Returns all members of a set."),
    command!("sismember", 3, READONLY | FAST, Keys::ONE, sismember,
        acl: &["set"], group: "set", since: "1.0.0", complexity: "O(1)",
        summary: "Determines whether a member belongs to a set."),
    command!("smismember", -3, READONLY | FAST, Keys::ONE, smismember,
        acl: &["set"], group: "set", since: "6.2.0",
        complexity: "O(N) where N is the number of elements being checked for membership",
        summary: "Determines whether multiple members belong to a set."),
    command!("scard", 2, READONLY | FAST, Keys::ONE, scard,
        acl: &["set"], group: "set", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the number of members in a set."),
    command!("spop", -2, WRITE | FAST, Keys::ONE, spop,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    command!("srandmember", -2, READONLY, Keys::ONE, srandmember,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        summary: "Get one or multiple random members from a set"),
    command!("smove", 4, WRITE | FAST, Keys { first: 1, last: 2, step: 1 }, smove,
        acl: &["set"], group: "set", since: "1.0.0", complexity: "O(1)",
        summary: "Moves a member from one set to another."),
    command!("sinter", -2, READONLY, Keys::ALL, sinter,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        summary: "Returns the intersect of multiple sets."),
    command!("sintercard", -3, READONLY | MOVABLE_KEYS, Keys::NONE, sintercard,
        acl: &["set"], group: "set", since: "7.0.0",
        complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        summary: "Returns the number of members of the intersect of multiple sets."),
    command!("sinterstore", -3, WRITE | DENYOOM, Keys::ALL, sinterstore,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        summary: "Stores the intersect of multiple sets in a key."),
    command!("sunion", -2, READONLY, Keys::ALL, sunion,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        summary: "Returns the union of multiple sets."),
    command!("sunionstore", -3, WRITE | DENYOOM, Keys::ALL, sunionstore,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        summary: "Stores the union of multiple sets in a key."),
    command!("sdiff", -2, READONLY, Keys::ALL, sdiff,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        summary: "Returns the difference of multiple sets."),
    command!("sdiffstore", -3, WRITE | DENYOOM, Keys::ALL, sdiffstore,
        acl: &["set"], group: "set", since: "1.0.0",
        complexity: "O(N) where N is the total number of elements in all given sets.",
        summary: "Stores the difference of multiple sets in a key."),
    command!("sscan", -3, READONLY, Keys::ONE, sscan,
        acl: &["set"], group: "set", since: "2.8.0", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        summary: "Iterates over members of a set."),
];

const NUMKEYS: CmdError = CmdError::new("ERR numkeys should be greater than 0");
const NUMKEYS_ARGS: CmdError =
    CmdError::new("ERR Number of keys can't be greater than number of args");
const LIMIT_NEGATIVE: CmdError = CmdError::new("ERR LIMIT can't be negative");
const NOVALUES: CmdError = CmdError::new("ERR NOVALUES option can only be used in HSCAN");

fn limits(cx: &Ctx<'_>) -> Limits {
    *cx.server.config.limits.read()
}

#[inline]
fn reply_member(out: &mut ReplyWriter, m: Member<'_>) {
    match m {
        Member::Int(i) => out.bulk_from_int(i),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// The set at `pos`, WRONGTYPE for other types.
#[inline]
fn as_set(v: &Value) -> Result<&Set, CmdError> {
    match v {
        Value::Set(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

#[inline]
fn as_set_mut(v: &mut Value) -> Result<&mut Set, CmdError> {
    match v {
        Value::Set(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

// ----- single-key commands -------------------------------------------------------------------

fn sadd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let members = &args[2..];
    let lim = limits(cx);
    let mut k = cx.store.lock(key);
    let pos = match k.find(key) {
        Some(pos) => {
            as_set_mut(k.shard.value_mut(pos))?.maybe_convert(members.len(), &lim);
            pos
        }
        None => {
            let set = Set::with_first(&members[0], members.len(), &lim);

            k.shard
                .insert(&k.op, k.hash, key, Value::Set(Box::new(set)))
        }
    };
    let set = as_set_mut(k.shard.value_mut(pos))?;
    let added = members.iter().filter(|m| set.add(m, &lim)).count();
    if added > 0 {
        k.op.emit(key, SADD);
    }
    cx.out.int(added as i64);
    Ok(())
}

fn srem(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        cx.out.int(0);
        return Ok(());
    };
    let set = as_set_mut(k.shard.value_mut(pos))?;
    let mut removed = 0;
    for m in &args[2..] {
        if set.remove(m) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    let emptied = set.is_empty();
    if removed > 0 {
        k.op.emit(key, SREM);
        if emptied {
            k.shard.remove(pos);
            k.op.emit(key, event::DEL);
        }
    }
    cx.out.int(removed);
    Ok(())
}

fn smembers(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find_read(key) else {
        cx.out.set(0);
        return Ok(());
    };
    let set = as_set(k.shard.value(pos))?;
    cx.out.set(set.len());
    for m in set.iter() {
        reply_member(cx.out, m);
    }
    Ok(())
}

fn sismember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let mut k = cx.store.lock(key);
    let found = match k.find_read(key) {
        Some(pos) => as_set(k.shard.value(pos))?.contains(&args[2]),
        None => false,
    };
    cx.out.int(found as i64);
    Ok(())
}

fn smismember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let mut k = cx.store.lock(key);
    let set = match k.find_read(key) {
        Some(pos) => Some(as_set(k.shard.value(pos))?),
        None => None,
    };
    cx.out.array(args.len() - 2);
    for m in &args[2..] {
        cx.out.int(set.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn scard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let mut k = cx.store.lock(key);
    let n = match k.find_read(key) {
        Some(pos) => as_set(k.shard.value(pos))?.len(),
        None => 0,
    };
    cx.out.int(n as i64);
    Ok(())
}

fn spop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(errors::SYNTAX);
    }
    let count = match args.get(2) {
        // Redis's getPositiveLongFromObjectOrReply: one message for both failures.
        Some(a) => match parse_i64(a) {
            Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(errors::POSITIVE),
        },
        None => None,
    };
    let key = &args[1][..];
    let lim = limits(cx);
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        match count {
            Some(_) => cx.out.set(0),
            None => cx.out.null(),
        }
        return Ok(());
    };
    let set = as_set_mut(k.shard.value_mut(pos))?;
    let mut rng = rand::thread_rng();
    match count {
        None => {
            let m = set.pop_random(&mut rng).unwrap_or_default();
            // Propagated as Redis does: the member removed, not the random choice.
            crate::propagate::rewrite(vec![
                Bytes::from_static(b"SREM"),
                Bytes::copy_from_slice(key),
                Bytes::copy_from_slice(&m),
            ]);
            k.op.emit(key, SPOP);
            cx.out.bulk(&m);
        }
        Some(0) => {
            cx.out.set(0);
            return Ok(());
        }
        Some(n) if n >= set.len() => {
            // Redis answers with the union of the one set, then deletes it.
            let all = union_diff(&[Some(&*set)], SetOp::Union, &lim);
            crate::propagate::rewrite(vec![
                Bytes::from_static(b"DEL"),
                Bytes::copy_from_slice(key),
            ]);
            k.op.emit(key, SPOP);
            cx.out.set(all.len());
            for m in all.iter() {
                reply_member(cx.out, m);
            }
            k.shard.remove(pos);
            k.op.emit(key, event::DEL);
            return Ok(());
        }
        Some(n) => {
            let popped = set.pop_many(n, &mut rng, &lim);
            // Propagated as Redis does: SREMs of the members removed, 1024 at a time.
            for batch in popped.chunks(1024) {
                let mut srem = vec![Bytes::from_static(b"SREM"), Bytes::copy_from_slice(key)];
                srem.extend(batch.iter().map(|m| Bytes::copy_from_slice(m)));
                crate::propagate::rewrite(srem);
            }
            k.op.emit(key, SPOP);
            cx.out.set(popped.len());
            for m in &popped {
                cx.out.bulk(m);
            }
        }
    }
    if as_set(k.shard.value(pos))?.is_empty() {
        k.shard.remove(pos);
        k.op.emit(key, event::DEL);
    }
    Ok(())
}

/// The most bytes one SRANDMEMBER reply with a negative count may take: Redis would build
/// it whatever the size (and run out of memory); Cinnabar refuses counts that cannot fit.
fn srandmember_reply_budget(cx: &Ctx<'_>) -> u64 {
    cx.server
        .config
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(1 << 20)
}

fn srandmember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(errors::SYNTAX);
    }
    let count = match args.get(2) {
        Some(a) => {
            let n = parse_i64(a)?;
            if n == i64::MIN {
                return Err(CmdError::err(format_args!(
                    "value is out of range, value must between {} and {}",
                    -i64::MAX,
                    i64::MAX
                )));
            }
            Some(n)
        }
        None => None,
    };
    let budget = srandmember_reply_budget(cx);
    let key = &args[1][..];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find_read(key) else {
        match count {
            Some(_) => cx.out.array(0),
            None => cx.out.null(),
        }
        return Ok(());
    };
    let set = as_set(k.shard.value(pos))?;
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        if let Some(m) = set.random(&mut rng) {
            reply_member(cx.out, m);
        }
        return Ok(());
    };
    let want = count.unsigned_abs();
    if want == 0 {
        cx.out.array(0);
        return Ok(());
    }
    if count < 0 || want == 1 {
        // With repeats: the reply may be far larger than the set.
        if want > 1024 {
            let widest = set
                .iter()
                .map(|m| m.with_bytes(<[u8]>::len))
                .max()
                .unwrap_or(0) as u64;
            let limit = budget / (widest + 16);
            if want > limit {
                return Err(CmdError::err(format_args!(
                    "value is out of range, value must between -{limit} and {}",
                    i64::MAX
                )));
            }
        }
        cx.out.array(want as usize);
        for _ in 0..want {
            if let Some(m) = set.random(&mut rng) {
                reply_member(cx.out, m);
            }
        }
        return Ok(());
    }
    let picked = set.sample_distinct(usize::try_from(want).unwrap_or(usize::MAX), &mut rng);
    cx.out.array(picked.len());
    for m in picked {
        reply_member(cx.out, m);
    }
    Ok(())
}

fn smove(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (&args[1][..], &args[2][..], &args[3][..]);
    let lim = limits(cx);
    let (mut locked, placed) = cx.store.lock_keys([src, dst]);
    let op = cx.store.op();
    let ((sh, ss), (dh, ds)) = (placed[0], placed[1]);
    // Reclaim expired keys first: removals move slots.
    let src_found = locked.shard(ss).lookup(&op, sh, src).is_some();
    let dst_found = locked.shard(ds).lookup(&op, dh, dst).is_some();
    if !src_found {
        cx.out.int(0);
        return Ok(());
    }
    let spos = locked.shard(ss).find(sh, src).ok_or(errors::NO_SUCH_KEY)?;
    as_set(locked.shard(ss).value(spos))?;
    if dst_found {
        let dpos = locked.shard(ds).find(dh, dst).ok_or(errors::NO_SUCH_KEY)?;
        as_set(locked.shard(ds).value(dpos))?;
    }
    if src == dst {
        let found = as_set(locked.shard(ss).value(spos))?.contains(member);
        cx.out.int(found as i64);
        return Ok(());
    }
    let set = as_set_mut(locked.shard(ss).value_mut(spos))?;
    if !set.remove(member) {
        cx.out.int(0);
        return Ok(());
    }
    let emptied = set.is_empty();
    op.emit(src, SREM);
    if emptied {
        locked.shard(ss).remove(spos);
        op.emit(src, event::DEL);
    }
    let d = locked.shard(ds);
    let dpos = match d.find(dh, dst) {
        Some(p) => p,
        None => {
            let set = Set::with_first(member, 1, &lim);

            d.insert(&op, dh, dst, Value::Set(Box::new(set)))
        }
    };
    if as_set_mut(d.value_mut(dpos))?.add(member, &lim) {
        op.emit(dst, SADD);
    }
    cx.out.int(1);
    Ok(())
}

// ----- the algebra ---------------------------------------------------------------------------

/// Several keys' shards, locked, with each key's hash and shard id.
struct Many<'a> {
    locked: Locked<'a>,
    placed: Vec<(u64, usize)>,
}

impl<'a> Many<'a> {
    fn lock(store: &'a Store<'_>, keys: &[&[u8]]) -> Many<'a> {
        let (locked, placed) = store.lock_keys(keys.iter().copied());
        Many { locked, placed }
    }

    /// Reclaims expired keys among `keys[i]` for `i` in `range` (counting hits and misses
    /// when `read`), before any position is taken.
    fn reclaim(
        &mut self,
        op: &OpCtx<'_>,
        keys: &[&[u8]],
        range: std::ops::Range<usize>,
        read: bool,
    ) {
        for i in range {
            let (h, s) = self.placed[i];
            let shard = self.locked.shard(s);
            if read {
                shard.lookup_read(op, h, keys[i]);
            } else {
                shard.lookup(op, h, keys[i]);
            }
        }
    }

    /// The sets of `keys[i]` for `i` in `range`: None for a missing key, WRONGTYPE (for the
    /// first key in order holding another type) otherwise.
    fn sets(
        &mut self,
        keys: &[&[u8]],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Option<&Set>>, CmdError> {
        let shards: Vec<(usize, &Shard)> = self.locked.iter_mut().map(|(i, s)| (i, &*s)).collect();
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let (h, s) = self.placed[i];
            let shard = shards
                .binary_search_by_key(&s, |x| x.0)
                .map(|j| shards[j].1)
                .map_err(|_| errors::NO_SUCH_KEY)?;
            out.push(match shard.find(h, keys[i]) {
                Some(pos) => Some(as_set(shard.value(pos))?),
                None => None,
            });
        }
        Ok(out)
    }

    /// Stores `result` at `keys[0]` (or deletes it when empty), announcing `ev`. Returns the
    /// stored cardinality.
    fn store(&mut self, op: &OpCtx<'_>, dst: &[u8], result: Set, ev: Event) -> usize {
        let (h, s) = self.placed[0];
        let shard = self.locked.shard(s);
        let n = result.len();
        if n == 0 {
            if let Some(pos) = shard.find(h, dst) {
                shard.remove(pos);
                op.emit(dst, event::DEL);
            }
            return 0;
        }
        shard.upsert(op, h, dst, Value::Set(Box::new(result)), false);
        op.emit(dst, ev);
        n
    }
}

/// Redis's `sinterGenericCommand` walk: members of the smallest set found in all others,
/// passed to `f` until it returns false. None when some set is missing (the result is empty).
fn intersect<'s>(sets: &[Option<&'s Set>], mut f: impl FnMut(Member<'s>) -> bool) {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return;
    };
    sets.sort_by_key(|s| s.len());
    let first = sets[0];
    for m in first.iter() {
        let everywhere = sets[1..]
            .iter()
            .all(|s| std::ptr::eq(*s, first) || s.contains_member(m));
        if everywhere && !f(m) {
            return;
        }
    }
}

/// The intersection as SINTERSTORE builds it: an intset when the smallest set is one, else
/// a listpack; integers only end as an intset when they fit.
fn intersection(sets: &[Option<&Set>], lim: &Limits) -> Set {
    let starts_int = sets
        .iter()
        .flatten()
        .min_by_key(|s| s.len())
        .is_some_and(|s| s.is_intset());
    let mut dst = if starts_int {
        Set::new_intset()
    } else {
        Set::new_packed()
    };
    let mut only_integers = true;
    intersect(sets, |m| {
        if only_integers && m.as_int().is_none() {
            only_integers = false;
        }
        dst.add_member(m, lim);
        true
    });
    if only_integers && !dst.is_empty() {
        dst.maybe_to_intset(lim);
    }
    dst
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// Redis's `sunionDiffGenericCommand`: the union or difference, built in a set that starts
/// as an intset and converts as members arrive (with Redis's choice of diff algorithm, on
/// which the result's encoding depends).
fn union_diff(sets: &[Option<&Set>], op: SetOp, lim: &Limits) -> Set {
    let mut dst = Set::new_intset();
    match op {
        SetOp::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    dst.add_member(m, lim);
                }
            }
        }
        SetOp::Diff => {
            let Some(first) = sets[0] else { return dst };
            if sets[1..].iter().flatten().any(|s| std::ptr::eq(*s, first)) {
                return dst;
            }
            let mut one: u64 = 0;
            let mut two: u64 = 0;
            for s in sets.iter().flatten() {
                one += first.len() as u64;
                two += s.len() as u64;
            }
            if one / 2 <= two {
                let mut rest: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
                rest.sort_by_key(|s| std::cmp::Reverse(s.len()));
                for m in first.iter() {
                    if !rest.iter().any(|s| s.contains_member(m)) {
                        dst.add_member(m, lim);
                    }
                }
            } else {
                for (j, s) in sets.iter().enumerate() {
                    let Some(s) = s else { continue };
                    for m in s.iter() {
                        if j == 0 {
                            dst.add_member(m, lim);
                        } else {
                            dst.remove_member(m);
                        }
                    }
                    if dst.is_empty() {
                        break;
                    }
                }
            }
        }
    }
    dst
}

fn sinter(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys: Vec<&[u8]> = args[1..].iter().map(|a| &a[..]).collect();
    let op = cx.store.op();
    let mut many = Many::lock(&cx.store, &keys);
    many.reclaim(&op, &keys, 0..keys.len(), true);
    let sets = many.sets(&keys, 0..keys.len())?;
    let mut found: Vec<Member<'_>> = Vec::new();
    intersect(&sets, |m| {
        found.push(m);
        true
    });
    cx.out.set(found.len());
    for m in found {
        reply_member(cx.out, m);
    }
    Ok(())
}

fn sintercard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = match parse_i64(&args[1]) {
        Ok(n) if n >= 1 => n as u64,
        _ => return Err(NUMKEYS),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(NUMKEYS_ARGS);
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = end;
    while j < args.len() {
        if is(&args[j], "limit") && j + 1 < args.len() {
            limit = match parse_i64(&args[j + 1]) {
                Ok(n) if n >= 0 => n as u64,
                _ => return Err(LIMIT_NEGATIVE),
            };
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let keys: Vec<&[u8]> = args[2..end].iter().map(|a| &a[..]).collect();
    let op = cx.store.op();
    let mut many = Many::lock(&cx.store, &keys);
    many.reclaim(&op, &keys, 0..keys.len(), true);
    let sets = many.sets(&keys, 0..keys.len())?;
    let mut n = 0u64;
    intersect(&sets, |_| {
        n += 1;
        limit == 0 || n < limit
    });
    cx.out.int(n as i64);
    Ok(())
}

fn sunion(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    union_diff_reply(cx, args, SetOp::Union)
}

fn sdiff(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    union_diff_reply(cx, args, SetOp::Diff)
}

fn union_diff_reply(cx: &mut Ctx<'_>, args: &[Bytes], set_op: SetOp) -> CmdResult {
    let keys: Vec<&[u8]> = args[1..].iter().map(|a| &a[..]).collect();
    let lim = limits(cx);
    let op = cx.store.op();
    let mut many = Many::lock(&cx.store, &keys);
    many.reclaim(&op, &keys, 0..keys.len(), true);
    let sets = many.sets(&keys, 0..keys.len())?;
    let result = union_diff(&sets, set_op, &lim);
    cx.out.set(result.len());
    for m in result.iter() {
        reply_member(cx.out, m);
    }
    Ok(())
}

/// SINTERSTORE, SUNIONSTORE, SDIFFSTORE: `args[1]` is the destination, sources follow.
fn store_generic(cx: &mut Ctx<'_>, args: &[Bytes], set_op: Option<SetOp>) -> CmdResult {
    let keys: Vec<&[u8]> = args[1..].iter().map(|a| &a[..]).collect();
    let lim = limits(cx);
    let op = cx.store.op();
    let mut many = Many::lock(&cx.store, &keys);
    many.reclaim(&op, &keys, 1..keys.len(), true);
    many.reclaim(&op, &keys, 0..1, false);
    let sets = many.sets(&keys, 1..keys.len())?;
    let (result, ev) = match set_op {
        None => (intersection(&sets, &lim), SINTERSTORE),
        Some(o) => (
            union_diff(&sets, o, &lim),
            if o == SetOp::Union {
                SUNIONSTORE
            } else {
                SDIFFSTORE
            },
        ),
    };
    drop(sets);
    let n = many.store(&op, keys[0], result, ev);
    cx.out.int(n as i64);
    Ok(())
}

fn sinterstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    store_generic(cx, args, None)
}

fn sunionstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    store_generic(cx, args, Some(SetOp::Union))
}

fn sdiffstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    store_generic(cx, args, Some(SetOp::Diff))
}

// ----- SSCAN ---------------------------------------------------------------------------------

fn sscan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = crate::args::parse_cursor(&args[2])?;
    let key = &args[1][..];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find_read(key) else {
        cx.out.array(2);
        cx.out.bulk(b"0");
        cx.out.array(0);
        return Ok(());
    };
    let set = as_set(k.shard.value(pos))?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
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
            return Err(NOVALUES);
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let mut found: Vec<Member<'_>> = Vec::new();
    let next = set.scan(cursor, count, |m| {
        if pattern.is_none_or(|p| m.with_bytes(|b| glob::matches(p, b, false))) {
            found.push(m);
        }
    });
    cx.out.array(2);
    cx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    cx.out.array(found.len());
    for m in found {
        reply_member(cx.out, m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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

    /// Runs `cmds` (space-separated words) on a fresh server; returns the events announced
    /// and the replies (RESP2).
    fn run(cmds: &[&str]) -> (Vec<String>, String) {
        let clock = Arc::new(keyspace::ManualClock::new(1000));
        let ks = keyspace::Keyspace::new(
            keyspace::KeyspaceConfig {
                databases: 1,
                shards: 4,
            },
            clock,
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
        let mut out = ReplyWriter::new(protocol::Protocol::Resp2);
        for c in cmds {
            let args: Vec<Bytes> = c
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            crate::dispatch::dispatch(&server, &mut client, &mut out, &args, 1000);
        }
        let events = rec.0.lock().clone();
        let replies = String::from_utf8_lossy(&out.buf).into_owned();
        (events, replies)
    }

    #[test]
    fn random_replies_have_the_asked_lengths() {
        let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        let sadd = format!("SADD s {}", members.join(" "));
        let (_, replies) = run(&[
            &sadd,
            "SRANDMEMBER s -500",
            "SRANDMEMBER s 150",
            "SRANDMEMBER s 10",
            "SPOP s 190",
            "OBJECT ENCODING s",
            "SCARD s",
        ]);
        let heads: Vec<&str> = replies
            .split("\r\n")
            .filter(|l| l.starts_with('*') || l.starts_with(':') || l.starts_with('+'))
            .collect();
        assert_eq!(
            heads,
            [":200", "*500", "*150", "*10", "*190", ":10"],
            "{replies}"
        );
        // SPOP left 10 of 200 (10 * 5 <= 190): Redis rebuilds the set, as a listpack.
        assert!(replies.contains("$8\r\nlistpack\r\n"), "{replies}");
        let (_, replies) = run(&[&sadd, "SRANDMEMBER s 150"]);
        let lines: Vec<&str> = replies.split("\r\n").collect();
        let picked: std::collections::BTreeSet<&str> = lines
            .iter()
            .filter(|l| l.starts_with('m'))
            .copied()
            .collect();
        assert_eq!(picked.len(), 150, "distinct members");
    }

    #[test]
    fn writes_announce_redis_events() {
        let (events, _) = run(&[
            "SADD s a b",
            "SADD s a",
            "SREM s x",
            "SREM s a",
            "SREM s b",
            "SADD s 1 2 3",
            "SPOP s",
            "SPOP s 0",
            "SPOP s 5",
            "SADD a 1 2",
            "SADD b 2 3",
            "SMOVE a b 1",
            "SMOVE a b 9",
            "SMOVE a c 2",
            "SINTERSTORE d b c",
            "SUNIONSTORE d b c",
            "SDIFFSTORE d b b",
            "SDIFFSTORE d b nosuch",
        ]);
        assert_eq!(
            events,
            [
                "new:s",
                "sadd:s",
                "srem:s",
                "srem:s",
                "del:s",
                "new:s",
                "sadd:s",
                "spop:s",
                "spop:s",
                "del:s",
                "new:a",
                "sadd:a",
                "new:b",
                "sadd:b",
                "srem:a",
                "sadd:b",
                "srem:a",
                "del:a",
                "new:c",
                "sadd:c",
                "new:d",
                "sinterstore:d",
                "sunionstore:d",
                "del:d",
                "new:d",
                "sdiffstore:d",
            ]
        );
    }

    #[test]
    fn cursors_parse_as_strtoul() {
        assert_eq!(crate::args::parse_cursor(b"0"), Ok(0));
        assert_eq!(crate::args::parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(crate::args::parse_cursor(b"x"), Err(errors::INVALID_CURSOR));
    }
}
