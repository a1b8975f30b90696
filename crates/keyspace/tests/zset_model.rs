//! Model-based property test of `ZSet` against a `BTreeMap` oracle: random operation
//! sequences, with small and changing encoding limits so both encodings and the
//! conversions between them (packed → skiplist on growth, skiplist → packed on
//! `shrink_if_small`) are exercised.

use std::collections::BTreeMap;

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
