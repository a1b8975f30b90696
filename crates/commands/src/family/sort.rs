//! SORT and SORT_RO over lists, sets and sorted sets: BY patterns (constant = `nosort`,
//! `*` substitution, `key->field` hash lookups), LIMIT, GET (`#` for the element itself),
//! ASC/DESC, ALPHA and STORE. Behaviour and error texts follow Redis 7.4's `sort.c`.
//!
//! BY and GET patterns may name any key of the database, so a SORT that uses them locks
//! every shard of the database (in ascending order, as always); one that does not locks
//! only the shards of its key and its STORE destination.

use std::cmp::Ordering;

use bytes::Bytes;
use keyspace::types::List;
use keyspace::{class, event, Event, Keyspace, Locked, OpCtx, Value};

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult, WRONGTYPE};
use crate::spec::{flag::*, CommandSpec, Keys};

pub const SORTSTORE: Event = Event {
    name: "sortstore",
    class: class::LIST,
};

pub static COMMANDS: &[CommandSpec] = &[
    command!("sort", -2, WRITE | DENYOOM | MOVABLE_KEYS, Keys::ONE, sort,
        acl: &["set", "sortedset", "list", "dangerous"], group: "generic", since: "1.0.0",
        complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
        summary: "Sorts the elements in a list, a set, or a sorted set, optionally storing the result."),
    command!("sort_ro", -2, READONLY | MOVABLE_KEYS, Keys::ONE, sort_ro,
        acl: &["set", "sortedset", "list", "dangerous"], group: "generic", since: "7.0.0",
        complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
        summary: "Returns the sorted elements of a list, a set, or a sorted set."),
];

const NOT_DOUBLE: CmdError = CmdError::new("ERR One or more scores can't be converted into double");

fn sort(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(cx, args, false)
}

fn sort_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(cx, args, true)
}

/// Parsed options.
struct Opts<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    by: Option<&'a [u8]>,
    /// BY names a constant: nothing to sort.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

fn parse(args: &[Bytes], readonly: bool) -> Result<Opts<'_>, CmdError> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        by: None,
        dontsort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            o.limit_start = parse_i64(&args[j + 1])?;
            o.limit_count = parse_i64(&args[j + 2])?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(&args[j + 1]);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            o.by = Some(&args[j + 1]);
            o.dontsort = !args[j + 1].contains(&b'*');
            j += 1;
        } else if is(a, "get") && left >= 1 {
            o.gets.push(&args[j + 1]);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// Whether looking `pattern` up may read a key (it is not `#` and has a `*`).
fn pattern_reads(pattern: &[u8]) -> bool {
    pattern != b"#" && pattern.contains(&b'*')
}

/// One element to sort: the element, its numeric score, its BY value for ALPHA.
struct Item {
    obj: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

fn sort_generic(cx: &mut Ctx<'_>, args: &[Bytes], readonly: bool) -> CmdResult {
    let mut o = parse(args, readonly)?;
    let key = &args[1][..];
    let ks = cx.store.keyspace;
    let op = cx.store.op();
    let lookups = o.by.is_some_and(|b| !o.dontsort && pattern_reads(b))
        || o.gets.iter().any(|g| pattern_reads(g));
    let db = cx.store.access.db(cx.store.db);
    let mut locked = if lookups {
        db.lock_all()
    } else {
        let mut ids = vec![ks.shard_of(ks.hash(key))];
        if let Some(dst) = o.store {
            ids.push(ks.shard_of(ks.hash(dst)));
        }
        db.lock_many(ids)
    };

    // The elements, copied out: pattern lookups may reclaim expired keys, which moves slots.
    let h = ks.hash(key);
    let s = locked.shard(ks.shard_of(h));
    let value = s.lookup_read(&op, h, key).map(|pos| s.value(pos));
    let kind = match value {
        None => Kind::Missing,
        Some(Value::Set(_)) => Kind::Set,
        Some(Value::List(_)) => Kind::List,
        Some(Value::ZSet(_)) => Kind::ZSet,
        Some(_) => return Err(WRONGTYPE),
    };
    if o.dontsort && kind == Kind::Set && o.store.is_some() {
        // A set has no order of its own: sort it so the stored result is deterministic.
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = match value {
        Some(Value::Set(st)) => st.len(),
        Some(Value::List(l)) => l.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;

    // LIMIT, clamped as Redis does.
    let mut start = o.limit_start.clamp(0, len);
    let count = o.limit_count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let mut items: Vec<Item> = Vec::new();
    let item = |obj: Vec<u8>| Item {
        obj,
        score: 0.0,
        cmp: None,
    };
    match value {
        Some(Value::Set(st)) => items.extend(st.iter().map(|m| item(m.to_vec()))),
        // Nothing to sort: lists and sorted sets give their native order (reversed with
        // DESC), and only the LIMIT range is loaded.
        Some(Value::ZSet(_) | Value::List(_)) if o.dontsort && end < start => {}
        Some(Value::ZSet(z)) if o.dontsort => {
            let (a, b) = if o.desc {
                (len - 1 - end, len - start)
            } else {
                (start, end + 1)
            };
            z.for_range(a as usize, b as usize, o.desc, |m, _| {
                items.push(item(m.to_vec()))
            });
            end -= start;
            start = 0;
        }
        Some(Value::ZSet(z)) => items.extend(z.iter().map(|(m, _)| item(m.to_vec()))),
        Some(Value::List(l)) if o.dontsort => {
            let (from, take) = if o.desc {
                (len - 1 - start, end - start + 1)
            } else {
                (start, end - start + 1)
            };
            items.extend(
                l.iter_from(from as usize, o.desc)
                    .take(take as usize)
                    .map(|e| item(e.to_vec())),
            );
            end -= start;
            start = 0;
        }
        Some(Value::List(l)) => items.extend(l.iter().map(|e| item(e.to_vec()))),
        _ => {}
    }

    // Scores (or ALPHA compare values), then the sort.
    let mut not_double = false;
    if !o.dontsort {
        for it in &mut items {
            let by = match o.by {
                Some(p) => match lookup(ks, &mut locked, &op, p, &it.obj) {
                    Some(v) => Some(v),
                    None => continue,
                },
                None => None,
            };
            if o.alpha {
                if o.by.is_some() {
                    it.cmp = by;
                }
            } else {
                match parse_strtod(by.as_deref().unwrap_or(&it.obj)) {
                    Some(s) => it.score = s,
                    None => not_double = true,
                }
            }
        }
        let (alpha, by, desc) = (o.alpha, o.by.is_some(), o.desc);
        items.sort_by(|a, b| {
            let c = compare(a, b, alpha, by);
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }

    let range: &[Item] = items
        .get(start.max(0) as usize..(end + 1).max(start).max(0) as usize)
        .unwrap_or(&[]);
    if not_double {
        return Err(NOT_DOUBLE);
    }
    let Some(dst) = o.store else {
        let n = if o.gets.is_empty() {
            range.len()
        } else {
            range.len() * o.gets.len()
        };
        cx.out.array(n);
        for it in range {
            if o.gets.is_empty() {
                cx.out.bulk(&it.obj);
            }
            for g in &o.gets {
                match lookup(ks, &mut locked, &op, g, &it.obj) {
                    Some(v) => cx.out.bulk(&v),
                    None => cx.out.null(),
                }
            }
        }
        return Ok(());
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    for it in range {
        if o.gets.is_empty() {
            out.push(it.obj.clone());
        }
        for g in &o.gets {
            out.push(lookup(ks, &mut locked, &op, g, &it.obj).unwrap_or_default());
        }
    }
    let n = out.len();
    store_list(ks, &mut locked, &op, cx, dst, out)?;
    cx.out.int(n as i64);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    Set,
    List,
    ZSet,
}

/// Redis's `sortCompare` (before DESC): scores then bytes; ALPHA by the BY values (missing
/// ones first) or by the elements.
fn compare(a: &Item, b: &Item, alpha: bool, by: bool) -> Ordering {
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.obj.cmp(&b.obj));
    }
    if by {
        return match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
    }
    a.obj.cmp(&b.obj)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` is
/// replaced by the element and the key read — a string, or with `->field` a hash field.
fn lookup(
    ks: &Keyspace,
    locked: &mut Locked<'_>,
    op: &OpCtx<'_>,
    pattern: &[u8],
    subst: &[u8],
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(subst.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let field = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < pattern.len());
    let key_end = field.unwrap_or(pattern.len());
    let mut name = Vec::with_capacity(key_end + subst.len());
    name.extend_from_slice(&pattern[..star]);
    name.extend_from_slice(subst);
    name.extend_from_slice(&pattern[star + 1..key_end]);
    let h = ks.hash(&name);
    let s = locked.shard(ks.shard_of(h));
    let pos = s.lookup_read(op, h, &name)?;
    match (s.value(pos), field) {
        (Value::Hash(hash), Some(f)) => {
            let field = &pattern[f + 2..];
            if hash.expire_at(field).is_some_and(|at| at <= op.now_ms) {
                return None;
            }
            hash.get(field).map(<[u8]>::to_vec)
        }
        (v, None) if v.is_string() => v.to_vec(),
        _ => None,
    }
}

/// Parses a score as C's `strtod` does for SORT: leading white space, decimal or
/// hexadecimal, `inf`/`infinity`; the whole text must be used; NaN and out-of-range values
/// (overflow or underflow, strtod's ERANGE) are refused. The empty string is 0.
fn parse_strtod(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return Some(0.0);
    }
    let t = std::str::from_utf8(s).ok()?;
    let t = t.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(hex)?
    } else {
        if body.is_empty()
            || !body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
            || !body.bytes().any(|c| c.is_ascii_digit())
        {
            return None;
        }
        let v: f64 = body.parse().ok()?;
        let mantissa_nonzero = body
            .split(['e', 'E'])
            .next()
            .is_some_and(|m| m.bytes().any(|c| (b'1'..=b'9').contains(&c)));
        if v.is_infinite() || (mantissa_nonzero && v < f64::MIN_POSITIVE) {
            return None;
        }
        v
    };
    Some(if neg { -v } else { v })
}

/// The part of a hexadecimal float after `0x`: digits, an optional fraction, an optional
/// binary exponent `p`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    v.is_finite().then_some(v)
}

/// Stores the result as a list at `dst` (replacing any value and its TTL), or deletes
/// `dst` when the result is empty.
fn store_list(
    ks: &Keyspace,
    locked: &mut Locked<'_>,
    op: &OpCtx<'_>,
    cx: &Ctx<'_>,
    dst: &[u8],
    items: Vec<Vec<u8>>,
) -> CmdResult {
    let h = ks.hash(dst);
    let s = locked.shard(ks.shard_of(h));
    if items.is_empty() {
        if let Some(pos) = s.lookup(op, h, dst) {
            s.remove(pos);
            op.emit(dst, event::DEL);
        }
        return Ok(());
    }
    let limits = *cx.server.config.limits.read();
    let list = List::from_items(&items, limits.list_max_listpack_size);
    s.upsert(op, h, dst, Value::List(Box::new(list)), false);
    op.emit(dst, SORTSTORE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_as_strtod() {
        assert_eq!(parse_strtod(b"1.5"), Some(1.5));
        assert_eq!(parse_strtod(b"  -2"), Some(-2.0));
        assert_eq!(parse_strtod(b""), Some(0.0));
        assert_eq!(parse_strtod(b"0x10"), Some(16.0));
        assert_eq!(parse_strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_strtod(b"1e-400"), None);
        assert_eq!(parse_strtod(b"0e-400"), Some(0.0));
        for bad in [&b"nan"[..], b"1 ", b"abc", b" ", b"1e999", b"."] {
            assert_eq!(parse_strtod(bad), None, "{bad:?}");
        }
    }
}
