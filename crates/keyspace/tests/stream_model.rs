//! Model-based tests of `Stream`: random appends, deletions, trims and range reads checked
//! against a `BTreeMap` oracle, plus consumer-group PEL bookkeeping against a plain map of
//! owners. Approximate trims are checked for what Redis guarantees: only a head of the
//! stream goes, never below the target, and the same final state as the exact trim once
//! the exact trim's cut is on a node boundary.

use std::collections::BTreeMap;

use keyspace::types::stream::{Group, Stream, StreamId, Trim};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Append with an automatic ID at time `last ms + dt` (dt may be 0: same millisecond).
    Add(u8, u8, u8),
    /// Delete the n-th live entry (modulo the length), or a missing ID.
    Del(u16),
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
        3 => any::<u16>().prop_map(Op::Del),
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
    let first = o.keys().next().copied().unwrap_or_default();
    assert_eq!(s.first_id, first, "recorded first id");
    assert_eq!(s.last_valid_id(), o.keys().next_back().copied());
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
