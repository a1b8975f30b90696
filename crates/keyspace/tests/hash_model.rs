//! Model test of `keyspace::types::Hash` against a `BTreeMap` oracle: random inserts,
//! removals, field TTLs and sweeps under small encoding limits, checking contents, length,
//! TTLs and the encoding (packed until either limit is passed, never back on deletes;
//! `from_pairs` converts back when the contents fit again), plus a full HSCAN walk.

use std::collections::{BTreeMap, BTreeSet};

use keyspace::types::{Hash, Limits};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, usize),
    Remove(u8),
    Expire(u8, u64),
    Persist(u8),
    Advance(u64),
    Rebuild,
}

fn field(i: u8) -> Vec<u8> {
    format!("f{i}").into_bytes()
}

fn value(i: u8, len: usize) -> Vec<u8> {
    vec![b'a' + i % 26; len]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, 0usize..12).prop_map(|(f, l)| Op::Insert(f, l)),
        2 => (0u8..12).prop_map(Op::Remove),
        2 => (0u8..12, 1u64..50).prop_map(|(f, t)| Op::Expire(f, t)),
        1 => (0u8..12).prop_map(Op::Persist),
        1 => (0u64..30).prop_map(Op::Advance),
        1 => Just(Op::Rebuild),
    ]
}

/// Field -> (value, expiry time).
type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

fn check(h: &Hash, model: &Model, packed_expected: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(h.len(), model.len());
    prop_assert_eq!(h.is_packed(), packed_expected);
    prop_assert_eq!(
        h.encoding(),
        if packed_expected {
            "listpack"
        } else {
            "hashtable"
        }
    );
    let got: BTreeMap<Vec<u8>, Vec<u8>> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
    let want: BTreeMap<Vec<u8>, Vec<u8>> = model
        .iter()
        .map(|(f, (v, _))| (f.clone(), v.clone()))
        .collect();
    prop_assert_eq!(got, want);
    for (f, (v, at)) in model {
        prop_assert_eq!(h.get(f), Some(&v[..]));
        prop_assert!(h.contains(f));
        prop_assert_eq!(h.expire_at(f), *at);
    }
    prop_assert_eq!(
        h.volatile_len(),
        model.values().filter(|(_, at)| at.is_some()).count()
    );
    for i in 0..h.len() {
        prop_assert!(h.pair_at(i).is_some());
    }
    prop_assert!(h.pair_at(h.len()).is_none());
    // A full HSCAN walk returns every field exactly once when nothing changes meanwhile.
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    loop {
        cursor = h.scan(cursor, 3, |f, _| {
            seen.insert(f.to_vec());
        });
        if cursor == 0 {
            break;
        }
    }
    prop_assert_eq!(seen, model.keys().cloned().collect::<BTreeSet<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn hash_behaves_like_a_map(ops in proptest::collection::vec(op(), 1..80)) {
        let limits = Limits {
            hash_max_listpack_entries: 6,
            hash_max_listpack_value: 8,
            ..Limits::default()
        };
        let mut h = Hash::new();
        let mut model = Model::new();
        let mut packed = true;
        let mut now = 1000u64;
        for op in ops {
            match op {
                Op::Insert(f, len) => {
                    let (f, v) = (field(f), value(f, len));
                    let created = h.insert(&f, &v, &limits);
                    prop_assert_eq!(created, !model.contains_key(&f));
                    model.insert(f, (v.clone(), None));
                    if v.len() > limits.hash_max_listpack_value
                        || model.len() > limits.hash_max_listpack_entries
                    {
                        packed = false;
                    }
                }
                Op::Remove(f) => {
                    let f = field(f);
                    prop_assert_eq!(h.remove(&f), model.remove(&f).is_some());
                }
                Op::Expire(f, t) => {
                    let f = field(f);
                    let at = now + t;
                    prop_assert_eq!(h.set_expire(&f, at), model.contains_key(&f));
                    if let Some(e) = model.get_mut(&f) {
                        e.1 = Some(at);
                    }
                }
                Op::Persist(f) => {
                    let f = field(f);
                    let had = model.get(&f).is_some_and(|e| e.1.is_some());
                    prop_assert_eq!(h.persist(&f), had);
                    if let Some(e) = model.get_mut(&f) {
                        e.1 = None;
                    }
                }
                Op::Advance(ms) => {
                    now += ms;
                    let due = model.values().filter(|(_, at)| at.is_some_and(|a| a <= now)).count();
                    prop_assert_eq!(h.expire_fields(now).len(), due);
                    model.retain(|_, (_, at)| at.is_none_or(|a| a > now));
                    if let Some(next) = h.next_expire() {
                        let min = model.values().filter_map(|(_, at)| *at).min();
                        prop_assert!(min.is_some_and(|m| next <= m));
                    }
                }
                Op::Rebuild => {
                    // As a load does: the encoding follows the contents again (both ways).
                    let mut r = Hash::from_pairs(h.iter(), &limits);
                    packed = model.len() <= limits.hash_max_listpack_entries
                        && model.iter().all(|(f, (v, _))| {
                            f.len() <= limits.hash_max_listpack_value
                                && v.len() <= limits.hash_max_listpack_value
                        });
                    for (f, (_, at)) in &model {
                        if let Some(at) = at {
                            prop_assert!(r.set_expire(f, *at));
                        }
                    }
                    h = r;
                }
            }
            check(&h, &model, packed)?;
        }
    }
}

#[test]
fn scan_returns_fields_present_throughout_while_the_table_changes() {
    let limits = Limits {
        hash_max_listpack_entries: 0,
        ..Limits::default()
    };
    let mut h = Hash::new();
    for i in 0..100u32 {
        h.insert(format!("k{i}").as_bytes(), b"v", &limits);
    }
    assert_eq!(h.encoding(), "hashtable");
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    let mut step = 0u32;
    loop {
        cursor = h.scan(cursor, 7, |f, _| {
            seen.insert(f.to_vec());
        });
        // Between calls, remove some fields that were never meant to survive and add others.
        h.remove(format!("k{}", 50 + step).as_bytes());
        h.insert(format!("new{step}").as_bytes(), b"v", &limits);
        step += 1;
        if cursor == 0 {
            break;
        }
    }
    for i in (0..50).chain(50 + step..100) {
        assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
    }
}

#[test]
fn huge_random_indexes_are_refused_without_panicking() {
    let mut h = Hash::new();
    h.insert(b"a", b"1", &Limits::default());
    assert!(h.pair_at(usize::MAX).is_none());
    assert_eq!(h.scan(u64::MAX, usize::MAX, |_, _| {}), 0);
}
