//! Model-based property test of `ZSet` against a `BTreeMap` oracle: random operation
//! sequences, with small and changing encoding limits so both encodings and the
//! conversions between them (packed → skiplist on growth, skiplist → packed on
//! `shrink_if_small`) are exercised. Then ZSCAN's guarantee on the skiplist: every member
//! present for a whole scan is returned, whatever score changes, insertions, removals and
//! arena compactions happen between the calls; and forged cursors end.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use keyspace::types::{zset::cmp_entries, Limits, ZSet};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<u8>, f64),
    Remove(Vec<u8>),
    Pop(bool),
    RemoveRanks(usize, usize),
    Shrink,
    Limits(usize, usize),
}

fn member() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0u8..40).prop_map(|i| format!("m{i}").into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..30),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-5i64..5).prop_map(|i| i as f64),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(1.5),
        Just(1e300),
        Just(-2.25),
        (any::<i64>()).prop_map(|i| i as f64),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (member(), score()).prop_map(|(m, s)| Op::Insert(m, s)),
        2 => member().prop_map(Op::Remove),
        1 => any::<bool>().prop_map(Op::Pop),
        1 => (0usize..50, 0usize..8).prop_map(|(a, n)| Op::RemoveRanks(a, a + n)),
        1 => Just(Op::Shrink),
        1 => (0usize..20, 0usize..20).prop_map(|(e, v)| Op::Limits(e, v)),
    ]
}

fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
    v
}

fn check_same(
    z: &ZSet,
    model: &BTreeMap<Vec<u8>, f64>,
    limits: &Limits,
) -> Result<(), TestCaseError> {
    z.check();
    let want = sorted(model);
    let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
    prop_assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        prop_assert_eq!(&g.0, &w.0);
        prop_assert_eq!(g.1, w.1);
    }
    prop_assert_eq!(z.len(), want.len());
    if z.encoding() == "listpack" {
        prop_assert!(z.len() <= limits.zset_max_listpack_entries || z.is_empty());
    }
    for (i, (m, s)) in want.iter().enumerate() {
        prop_assert_eq!(z.rank(m).map(|(r, _)| r), Some(i));
        prop_assert_eq!(z.score(m), Some(*s));
        prop_assert_eq!(z.get(i).map(|(m, _)| m.to_vec()), Some(m.clone()));
        let below = z.partition_point(|sc, _| sc < *s);
        prop_assert_eq!(below, want.iter().filter(|e| e.1 < *s).count());
    }
    let mut rev = Vec::new();
    z.for_range(1, want.len(), true, |m, _| rev.push(m.to_vec()));
    let expect: Vec<Vec<u8>> = want.iter().skip(1).rev().map(|e| e.0.clone()).collect();
    prop_assert_eq!(rev, expect);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn zset_behaves_like_a_sorted_map(ops in proptest::collection::vec(op(), 1..120)) {
        let mut limits = Limits { zset_max_listpack_entries: 8, zset_max_listpack_value: 10, ..Limits::default() };
        let mut z = ZSet::with_hint(0, 0, &limits);
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(m, s) => {
                    let old = z.insert(&m, s, &limits);
                    let prev = model.get(&m).copied();
                    prop_assert_eq!(old, prev);
                    if prev.is_none_or(|p| p != s) {
                        model.insert(m, s);
                    }
                }
                Op::Remove(m) => {
                    prop_assert_eq!(z.remove(&m), model.remove(&m));
                }
                Op::Pop(max) => {
                    let want = sorted(&model);
                    let w = if max { want.last() } else { want.first() };
                    let got = z.pop(max);
                    prop_assert_eq!(got.as_ref().map(|g| g.0.clone()), w.map(|w| w.0.clone()));
                    if let Some((m, _)) = got {
                        model.remove(&m);
                    }
                }
                Op::RemoveRanks(a, b) => {
                    let want = sorted(&model);
                    let n = z.remove_ranks(a, b);
                    let doomed: Vec<_> = want.iter().skip(a).take(b.saturating_sub(a)).collect();
                    prop_assert_eq!(n, doomed.len());
                    for (m, _) in doomed {
                        model.remove(m);
                    }
                }
                Op::Shrink => {
                    z.shrink_if_small(&limits);
                    let fits = model.len() <= limits.zset_max_listpack_entries
                        && model.keys().all(|m| m.len() <= limits.zset_max_listpack_value);
                    if fits {
                        prop_assert_eq!(z.encoding(), "listpack");
                    }
                }
                Op::Limits(e, v) => {
                    limits.zset_max_listpack_entries = e;
                    limits.zset_max_listpack_value = v;
                }
            }
            if z.encoding() == "listpack" {
                // Only growth converts; a packed set may exceed newly lowered limits.
                let lim = Limits { zset_max_listpack_entries: usize::MAX, ..limits };
                check_same(&z, &model, &lim)?;
            } else {
                check_same(&z, &model, &limits)?;
            }
        }
    }

    #[test]
    fn large_sets_keep_ranks(n in 400usize..1500, seed in any::<u64>()) {
        let limits = Limits::default();
        let mut z = ZSet::new();
        let mut model = BTreeMap::new();
        let mut x = seed | 1;
        for _ in 0..n {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let m = format!("e{}", x % 700).into_bytes();
            let s = (x % 97) as f64;
            z.insert(&m, s, &limits);
            model.insert(m, s);
            if x % 5 == 0 { let _ = z.pop(x % 2 == 0).map(|(m, _)| model.remove(&m)); }
        }
        prop_assert_eq!(z.encoding(), "skiplist");
        check_same(&z, &model, &limits)?;
        while let Some((m, _)) = z.pop(false) {
            prop_assert!(model.remove(&m).is_some());
        }
        prop_assert!(model.is_empty());
    }

    /// Score updates (in place and moving), removals and re-insertions on a large set, with
    /// members from empty to a few hundred bytes (nodes of every size, freed and reused, and
    /// arena compaction).
    #[test]
    fn large_sets_survive_updates_and_removals(n in 300usize..3000, seed in any::<u64>()) {
        let limits = Limits::default();
        let mut z = ZSet::with_hint(1000, 0, &limits);
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        let mut x = seed | 1;
        for step in 0..n {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let id = x % 400;
            let m = match id % 4 {
                0 => format!("{id}").into_bytes(),
                1 => vec![b'l'; 50 + (id as usize % 7) * 60],
                _ => format!("member:{id}").into_bytes(),
            };
            let s = match x % 5 {
                0 => -0.0,
                1 => (x % 13) as f64,
                2 => f64::INFINITY,
                _ => ((x >> 8) % 1000) as f64 / 8.0,
            };
            if x % 7 < 2 {
                prop_assert_eq!(z.remove(&m), model.remove(&m));
            } else {
                let old = z.insert(&m, s, &limits);
                let prev = model.get(&m).copied();
                prop_assert_eq!(old, prev);
                if prev.is_none_or(|p| p != s) {
                    model.insert(m, s);
                }
            }
            if step % 97 == 0 {
                check_same(&z, &model, &limits)?;
            }
        }
        check_same(&z, &model, &limits)?;
    }
}

/// Member `id`: lengths vary with the id, so nodes come in several sizes and freed ones are
/// reused by members of the same size.
fn scan_member(id: u16) -> Vec<u8> {
    let mut m = format!("m{id}").into_bytes();
    m.resize(m.len() + (id as usize % 5) * 9, b'x');
    m
}

#[derive(Clone, Debug)]
enum ScanOp {
    Step(usize),
    Set(u16, f64),
    Remove(u16),
    Compact,
}

fn scan_op() -> impl Strategy<Value = ScanOp> {
    prop_oneof![
        4 => (1usize..25).prop_map(ScanOp::Step),
        4 => (0u16..600, score()).prop_map(|(m, s)| ScanOp::Set(m, s)),
        2 => (0u16..600).prop_map(ScanOp::Remove),
        1 => Just(ScanOp::Compact),
    ]
}

/// One ZSCAN call: checks that each returned entry is in the set with its current score,
/// records it in `seen`.
fn scan_step(
    z: &ZSet,
    cursor: u64,
    count: usize,
    model: &HashMap<Vec<u8>, f64>,
    seen: &mut BTreeSet<Vec<u8>>,
) -> Result<u64, TestCaseError> {
    let mut bad = None;
    let next = z.scan(cursor, count, |m, s| {
        if model.get(m).is_none_or(|&w| w.to_bits() != s.to_bits()) {
            bad = Some(m.to_vec());
        }
        seen.insert(m.to_vec());
    });
    prop_assert_eq!(bad, None::<Vec<u8>>);
    Ok(next)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// ZSCAN steps interleaved with score changes (which move members across the cursor in
    /// score order), insertions, removals and compactions: once the cursor is back to 0,
    /// every member present since the first call has been returned.
    #[test]
    fn zscan_returns_every_member_present_throughout(
        initial in 1usize..400,
        ops in proptest::collection::vec(scan_op(), 1..150),
    ) {
        let limits = Limits::default();
        let mut z = ZSet::with_hint(1000, 0, &limits);
        let mut model: HashMap<Vec<u8>, f64> = HashMap::new();
        for id in 0..initial as u16 {
            let m = scan_member(id);
            z.insert(&m, f64::from(id % 17), &limits);
            model.insert(m, f64::from(id % 17));
        }
        prop_assert_eq!(z.encoding(), "skiplist");
        // Members present since the scan began and not removed since.
        let mut throughout: BTreeSet<Vec<u8>> = model.keys().cloned().collect();
        let mut seen = BTreeSet::new();
        let mut cursor = 0u64;
        // Whether a scan is under way; whether one has completed.
        let mut started = false;
        let mut completed = false;
        let mut ops = ops.into_iter();
        loop {
            let op = match ops.next() {
                Some(op) => op,
                None if completed && !started => break,
                // Out of operations: finish the scan.
                None => ScanOp::Step(10),
            };
            match op {
                ScanOp::Step(count) => {
                    cursor = scan_step(&z, cursor, count, &model, &mut seen)?;
                    started = true;
                    if cursor == 0 {
                        let missed: Vec<_> = throughout.difference(&seen).collect();
                        prop_assert!(missed.is_empty(), "missed {:?}", missed);
                        // A new scan begins.
                        throughout = model.keys().cloned().collect();
                        seen.clear();
                        started = false;
                        completed = true;
                    }
                }
                ScanOp::Set(id, s) => {
                    let m = scan_member(id);
                    let old = z.insert(&m, s, &limits);
                    prop_assert_eq!(old, model.get(&m).copied());
                    // An equal score (-0.0 == 0.0) changes nothing.
                    if old.is_none_or(|o| o != s) {
                        model.insert(m, s);
                    }
                }
                ScanOp::Remove(id) => {
                    let m = scan_member(id);
                    prop_assert_eq!(z.remove(&m), model.remove(&m));
                    throughout.remove(&m);
                }
                ScanOp::Compact => z.compact(),
            }
            z.check();
            prop_assert_eq!(z.len(), model.len());
        }
    }

    /// Cursors the set never issued (any u64, and positions in the current and previous
    /// compaction generations) end without a panic and return only members.
    #[test]
    fn zscan_forged_cursors_end(
        n in 1usize..500,
        compactions in 0u32..3,
        cursors in proptest::collection::vec(any::<u64>(), 1..12),
        count in 1usize..30,
    ) {
        let limits = Limits::default();
        let mut z = ZSet::with_hint(1000, 0, &limits);
        let mut model = HashMap::new();
        for id in 0..n as u16 {
            let m = scan_member(id);
            z.insert(&m, f64::from(id % 3), &limits);
            model.insert(m, f64::from(id % 3));
        }
        for id in (0..n as u16).step_by(3) {
            let m = scan_member(id);
            z.remove(&m);
            model.remove(&m);
        }
        for _ in 0..compactions {
            z.compact();
        }
        z.check();
        let generation = u64::from(compactions);
        for c in cursors {
            for start in [
                c,
                (generation << 32) | (c >> 48),
                (generation.wrapping_sub(1) << 32) | (c >> 50),
            ] {
                let mut cursor = start;
                let mut seen = BTreeSet::new();
                for calls in 0.. {
                    // Each call moves strictly down, by at least a node header's 3 words.
                    prop_assert!(calls <= 200_000, "scan from {} does not end", start);
                    cursor = scan_step(&z, cursor, count, &model, &mut seen)?;
                    if cursor == 0 {
                        break;
                    }
                }
            }
        }
    }
}

/// ZSCAN once walked a skiplist in score order: a member whose score dropped behind the
/// cursor between two calls was never returned.
#[test]
fn zscan_returns_a_member_whose_score_drops_behind_the_cursor() {
    let limits = Limits::default();
    let mut z = ZSet::with_hint(1000, 0, &limits);
    for i in 0..300u32 {
        z.insert(format!("m{i}").as_bytes(), f64::from(i), &limits);
    }
    let mut seen = BTreeSet::new();
    let mut cursor = z.scan(0, 10, |m, _| {
        seen.insert(m.to_vec());
    });
    assert_ne!(cursor, 0);
    // Every member not yet returned moves to the lowest scores, then to the highest.
    let pending: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("m{i}").into_bytes())
        .filter(|m| !seen.contains(m))
        .collect();
    for (round, score) in [-1000.0, 1000.0].into_iter().enumerate() {
        for m in &pending {
            z.insert(m, score - f64::from(round as u32), &limits);
        }
        cursor = z.scan(cursor, 10, |m, _| {
            seen.insert(m.to_vec());
        });
    }
    while cursor != 0 {
        cursor = z.scan(cursor, 10, |m, _| {
            seen.insert(m.to_vec());
        });
    }
    assert_eq!(seen.len(), 300);
}

/// A long run of equal scores comes back COUNT at a time, not as one batch.
#[test]
fn zscan_splits_a_run_of_equal_scores() {
    let limits = Limits::default();
    let mut z = ZSet::with_hint(1000, 0, &limits);
    for i in 0..5000u32 {
        z.insert(format!("m{i}").as_bytes(), 7.0, &limits);
    }
    let mut cursor = 0;
    let mut calls = 0;
    let mut total = 0;
    loop {
        let mut batch = 0;
        cursor = z.scan(cursor, 10, |_, _| batch += 1);
        assert!(batch <= 10);
        total += batch;
        calls += 1;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!((total, calls), (5000, 500));
}

/// A packed set comes back whole with cursor 0, whatever the cursor and COUNT.
#[test]
fn zscan_returns_a_packed_set_whole() {
    let limits = Limits::default();
    let mut z = ZSet::new();
    for i in 0..20u32 {
        z.insert(format!("m{i}").as_bytes(), f64::from(i), &limits);
    }
    assert_eq!(z.encoding(), "listpack");
    for cursor in [0, 1, 12345, u64::MAX] {
        let mut n = 0;
        assert_eq!(z.scan(cursor, 1, |_, _| n += 1), 0);
        assert_eq!(n, 20);
    }
}
