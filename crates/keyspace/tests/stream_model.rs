//! Model-based tests of `Stream`: random appends, deletions, trims and range reads checked
//! against a `BTreeMap` oracle, plus consumer-group PEL bookkeeping against a plain map of
//! owners. Approximate trims are checked for what Redis guarantees: only a head of the
//! stream goes, never below the target, and the same final state as the exact trim once
//! the exact trim's cut is on a node boundary. Bulk appends fill many nodes (of up to 100
//! entries) with field lists that match the node's first entry or differ from it, and runs
//! of deletions empty whole nodes.

use std::collections::BTreeMap;

use keyspace::types::stream::{Group, Stream, StreamId, Trim};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Append with an automatic ID at time `last ms + dt` (dt may be 0: same millisecond).
    Add(u8, u8, u8),
    /// Append n entries, in the same millisecond or not, with fields of the given shape.
    AddMany(u8, bool, u8),
    /// Delete the n-th live entry (modulo the length), or a missing ID.
    Del(u16),
    /// Delete a run of consecutive live entries from the n-th on.
    DelRun(u16, u8),
    TrimMaxLen(u16, bool, u16),
    TrimMinId(u16, bool),
    Range(u16, u16, bool, u8),
    /// Deliver up to n new entries to consumer c.
    Deliver(u8, u8),
    /// Acknowledge the n-th pending entry.
    Ack(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..3u8, 0..4u8, any::<u8>()).prop_map(|(dt, f, v)| Op::Add(dt, f, v)),
        1 => (1..=250u8, any::<bool>(), any::<u8>()).prop_map(|(n, t, f)| Op::AddMany(n, t, f)),
        3 => any::<u16>().prop_map(Op::Del),
        1 => (any::<u16>(), 1..=150u8).prop_map(|(n, l)| Op::DelRun(n, l)),
        2 => (0..300u16, any::<bool>(), 0..400u16).prop_map(|(n, a, l)| Op::TrimMaxLen(n, a, l)),
        1 => (0..600u16, any::<bool>()).prop_map(|(n, a)| Op::TrimMinId(n, a)),
        3 => (0..600u16, 0..600u16, any::<bool>(), 0..20u8)
            .prop_map(|(a, b, r, c)| Op::Range(a, b, r, c)),
        2 => (0..3u8, 0..5u8).prop_map(|(c, n)| Op::Deliver(c, n)),
        2 => any::<u16>().prop_map(Op::Ack),
    ]
}

type Oracle = BTreeMap<StreamId, Vec<Vec<u8>>>;

fn check_same(s: &Stream, o: &Oracle) {
    assert_eq!(s.len(), o.len());
    let got: Vec<(StreamId, Vec<Vec<u8>>)> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .map(|(id, f)| (id, f.iter().map(<[u8]>::to_vec).collect()))
        .collect();
    let want: Vec<(StreamId, Vec<Vec<u8>>)> = o.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(got, want);
    let back: Vec<StreamId> = s
        .range(StreamId::MIN, StreamId::MAX, true)
        .map(|(id, _)| id)
        .collect();
    assert!(back.iter().rev().eq(o.keys()));
    let items = |f: Option<(StreamId, keyspace::types::stream::Fields<'_>)>| {
        f.map(|(id, f)| (id, f.iter().map(<[u8]>::to_vec).collect::<Vec<_>>()))
    };
    let entry = |e: Option<(&StreamId, &Vec<Vec<u8>>)>| e.map(|(k, v)| (*k, v.clone()));
    assert_eq!(items(s.first_entry()), entry(o.iter().next()));
    assert_eq!(items(s.last_entry()), entry(o.iter().next_back()));
    // Point reads of a sample of entries, and of IDs just beside them (usually absent).
    for (id, v) in o.iter().step_by(o.len() / 16 + 1) {
        let f = s.get(*id).expect("live entry");
        assert_eq!(f.len(), v.len());
        assert!(f.iter().eq(v.iter().map(Vec::as_slice)));
        for near in [id.next(), id.prev()].into_iter().flatten() {
            assert_eq!(s.get(near).is_some(), o.contains_key(&near));
        }
    }
    let live_bytes: usize = o.values().flatten().map(Vec::len).sum();
    assert!(s.heap_size() >= live_bytes);
    let first = o.keys().next().copied().unwrap_or_default();
    assert_eq!(s.first_id, first, "recorded first id");
    assert_eq!(s.last_valid_id(), o.keys().next_back().copied());
}

/// Field/value pairs for bulk appends. Most entries repeat one field list (so a node's
/// entries usually match its first entry's names); the shape byte and the entry's number
/// vary the names, their count, integer-looking items and empty ones.
fn many_items(shape: u8, i: u8) -> Vec<Vec<u8>> {
    let v = format!("v{i}").into_bytes();
    match (shape % 4, i % (shape / 4 % 8 + 2)) {
        // Differing count.
        (0, 0) => vec![
            b"a".to_vec(),
            v.clone(),
            b"b".to_vec(),
            v,
            b"c".to_vec(),
            Vec::new(),
        ],
        // Same count, other names.
        (1, 0) => vec![b"x".to_vec(), v.clone(), b"y".to_vec(), v],
        // Same names in another order.
        (2, 0) => vec![b"b".to_vec(), v.clone(), b"a".to_vec(), v],
        // Integer-looking names and values, and an empty name.
        (3, 0) => vec![b"12".to_vec(), i.to_string().into_bytes(), Vec::new(), v],
        _ => vec![b"a".to_vec(), v.clone(), b"b".to_vec(), v],
    }
}

fn run(ops: Vec<Op>) {
    let mut s = Stream::default();
    let mut o = Oracle::new();
    let mut ms = 1u64;
    let mut added = 0u64;
    let mut max_deleted = StreamId::MIN;
    s.groups
        .insert(b"g"[..].into(), Group::new(StreamId::MIN, 0));
    // Oracle of the PEL: id -> owner.
    let mut pel: BTreeMap<StreamId, u8> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Add(dt, f, v) => {
                ms += u64::from(dt);
                let id = s.next_id(None, ms).expect("ids left");
                assert!(id > s.last_id);
                let items: Vec<Vec<u8>> = (0..=f)
                    .flat_map(|i| [format!("f{i}").into_bytes(), vec![v; usize::from(v % 7)]])
                    .collect();
                s.append(id, &items);
                o.insert(id, items);
                added += 1;
            }
            Op::AddMany(n, tick, shape) => {
                for i in 0..n {
                    if tick && i.is_multiple_of(3) {
                        ms += 1;
                    }
                    let id = s.next_id(None, ms).expect("ids left");
                    let items = many_items(shape, i);
                    s.append(id, &items);
                    o.insert(id, items);
                    added += 1;
                }
            }
            Op::DelRun(n, len) => {
                let ids: Vec<StreamId> = o
                    .keys()
                    .skip(usize::from(n) % o.len().max(1))
                    .take(usize::from(len))
                    .copied()
                    .collect();
                for id in ids {
                    o.remove(&id);
                    assert!(s.delete(id));
                    max_deleted = max_deleted.max(id);
                }
                // Nodes left with no live entry by XDEL are gone (only an exact trim can
                // leave one such node, at the head).
                assert!(s.node_count() <= o.len() + 1);
            }
            Op::Del(n) => {
                let id = if o.is_empty() || n % 5 == 0 {
                    StreamId::new(u64::from(n), 0)
                } else {
                    *o.keys().nth(usize::from(n) % o.len()).expect("in range")
                };
                let was = o.remove(&id).is_some();
                assert_eq!(s.delete(id), was);
                if was && id > max_deleted {
                    max_deleted = id;
                }
            }
            Op::TrimMaxLen(n, approx, limit) => {
                let before: Vec<StreamId> = o.keys().copied().collect();
                let limit = if approx { u64::from(limit) } else { 0 };
                let removed = s.trim(Trim::MaxLen(u64::from(n)), approx, limit);
                let keep = if approx {
                    assert!(s.len() >= usize::from(n).min(before.len()));
                    if limit > 0 {
                        assert!(removed <= limit);
                    }
                    before.len() - removed as usize
                } else {
                    before.len().min(usize::from(n))
                };
                assert_eq!(removed as usize, before.len() - keep);
                for id in &before[..before.len() - keep] {
                    o.remove(id);
                }
            }
            Op::TrimMinId(n, approx) => {
                let min = StreamId::new(u64::from(n), 0);
                let removed = s.trim(Trim::MinId(min), approx, 0) as usize;
                let below = o.range(..min).count();
                if approx {
                    assert!(removed <= below);
                } else {
                    assert_eq!(removed, below);
                }
                let gone: Vec<StreamId> = o.keys().take(removed).copied().collect();
                for id in gone {
                    o.remove(&id);
                }
            }
            Op::Range(a, b, rev, count) => {
                let (a, b) = (
                    StreamId::new(u64::from(a), 0),
                    StreamId::new(u64::from(b), 5),
                );
                let want: Vec<StreamId> = if a <= b {
                    let it = o.range(a..=b).map(|(k, _)| *k);
                    if rev {
                        it.rev().collect()
                    } else {
                        it.collect()
                    }
                } else {
                    Vec::new()
                };
                let want: Vec<StreamId> = want.into_iter().take(usize::from(count)).collect();
                let got: Vec<StreamId> = s
                    .range(a, b, rev)
                    .take(usize::from(count))
                    .map(|e| e.0)
                    .collect();
                assert_eq!(got, want);
            }
            Op::Deliver(c, n) => {
                let name = [b'c', b'0' + c];
                let g = s.groups.get_mut(&b"g"[..]).expect("group");
                g.create_consumer(&name, 0);
                let after = g.last_id;
                let ids = s.deliver_new(b"g", &name, after, usize::from(n), false, 7);
                let want: Vec<StreamId> = o
                    .range(after.next().unwrap_or(StreamId::MAX)..)
                    .map(|(k, _)| *k)
                    .take(if n == 0 { usize::MAX } else { usize::from(n) })
                    .collect();
                assert_eq!(ids, want);
                for id in ids {
                    pel.insert(id, c);
                }
            }
            Op::Ack(n) => {
                if let Some(&id) = pel.keys().nth(usize::from(n) % pel.len().max(1)) {
                    pel.remove(&id);
                    assert!(s.groups.get_mut(&b"g"[..]).expect("group").ack(id));
                }
            }
        }
        check_same(&s, &o);
        assert_eq!(s.entries_added, added);
        assert_eq!(s.max_deleted_id, max_deleted);
        let g = &s.groups[&b"g"[..]];
        let got: BTreeMap<StreamId, u8> = g
            .pel
            .iter()
            .map(|(id, n)| (*id, n.consumer[1] - b'0'))
            .collect();
        assert_eq!(got, pel);
        for (name, c) in &g.consumers {
            for id in &c.pel {
                assert_eq!(&g.pel[id].consumer, name);
            }
        }
        let owned: usize = g.consumers.values().map(|c| c.pel.len()).sum();
        assert_eq!(owned, g.pel.len());
        if let Some(lag) = s.lag(g) {
            assert!(lag >= 0);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn stream_matches_btreemap(ops in proptest::collection::vec(op(), 1..400)) {
        run(ops);
    }
}

/// Approximate MAXLEN trims whole nodes of 100 entries, as Redis's test "XADD with ~ MAXLEN
/// can propagate correctly" expects (1000 adds with MAXLEN ~ 555 leave 600).
#[test]
fn approx_maxlen_keeps_node_boundaries() {
    let mut s = Stream::default();
    for i in 0..1000u64 {
        let id = s.next_id(None, 1).expect("ids left");
        s.append(id, &[&b"xitem"[..], i.to_string().as_bytes()]);
        s.trim(Trim::MaxLen(555), true, 10_000);
    }
    assert_eq!(s.len(), 600);
}

/// Large entries fill a node by bytes (4096) before 100 entries.
#[test]
fn big_entries_close_nodes_by_size() {
    let mut s = Stream::default();
    for i in 1..=10u64 {
        s.append(StreamId::new(i, 0), &[&b"f"[..], &[b'x'; 1000][..]]);
    }
    assert!(s.node_count() >= 3);
    let removed = s.trim(Trim::MaxLen(5), true, 0);
    assert!(removed > 0 && s.len() >= 5);
}

/// XDEL flags entries inside their node; the node goes with its last live entry, and
/// approximate trims still cut on the original boundaries.
#[test]
fn deleting_a_whole_node_drops_it() {
    let mut s = Stream::default();
    for i in 1..=1000u64 {
        s.append(StreamId::new(i, 0), &[&b"f"[..], b"v"]);
    }
    assert_eq!(s.node_count(), 10);
    for i in 101..=199u64 {
        assert!(s.delete(StreamId::new(i, 0)));
    }
    assert_eq!(s.node_count(), 10, "one live entry keeps the node");
    assert!(s.delete(StreamId::new(200, 0)));
    assert_eq!(s.node_count(), 9);
    for i in (201..=300u64).step_by(2) {
        assert!(s.delete(StreamId::new(i, 0)));
    }
    assert_eq!(s.len(), 850);
    assert_eq!(s.node_count(), 9);
    // The first node (100 entries) and the half-deleted third (50) go whole.
    assert_eq!(s.trim(Trim::MaxLen(700), true, 0), 150);
    assert_eq!(s.first_id, StreamId::new(301, 0));
    assert_eq!(s.node_count(), 7);
    assert_eq!(s.range(StreamId::MIN, StreamId::MAX, false).count(), 700);
    // An exact MINID trim flags the head of the next node.
    assert_eq!(s.trim(Trim::MinId(StreamId::new(351, 0)), false, 0), 50);
    assert_eq!(s.node_count(), 7);
    assert_eq!(s.first_entry().map(|e| e.0), Some(StreamId::new(351, 0)));
}
