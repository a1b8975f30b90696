//! Model test of `List` against a `VecDeque<Vec<u8>>` oracle: random push, pop, set,
//! insert, remove and trim sequences under several node limits, so that lists move between
//! the listpack and quicklist encodings in both directions.

use std::collections::VecDeque;

use keyspace::types::list::{End, List};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Push(bool, Vec<Vec<u8>>),
    Pop(bool, usize),
    Set(i64, Vec<u8>),
    Insert(usize, bool, Vec<u8>),
    Remove(usize, i64),
    Trim(i64, i64),
    Get(i64),
    Range(usize, bool, usize),
}

fn element() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(b'a'..b'e', 0..4),
        2 => (0i64..100_000).prop_map(|i| i.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 100..400),
        1 => (0usize..2).prop_map(|_| vec![b'L'; 5000]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), proptest::collection::vec(element(), 1..40)).prop_map(|(h, v)| Op::Push(h, v)),
        4 => (any::<bool>(), 0usize..60).prop_map(|(h, n)| Op::Pop(h, n)),
        2 => (-80i64..80, element()).prop_map(|(i, v)| Op::Set(i, v)),
        2 => (0usize..100, any::<bool>(), element()).prop_map(|(i, a, v)| Op::Insert(i, a, v)),
        2 => (0usize..100, -3i64..3).prop_map(|(i, c)| Op::Remove(i, c)),
        1 => (-60i64..60, -60i64..60).prop_map(|(a, b)| Op::Trim(a, b)),
        2 => (-80i64..80).prop_map(Op::Get),
        2 => (0usize..100, any::<bool>(), 0usize..50).prop_map(|(i, r, n)| Op::Range(i, r, n)),
    ]
}

fn end(head: bool) -> End {
    if head {
        End::Head
    } else {
        End::Tail
    }
}

fn resolve(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn run(fill: i64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut list = List::new();
    let mut model: VecDeque<Vec<u8>> = VecDeque::new();
    for op in ops {
        match op {
            Op::Push(head, items) => {
                list.push(end(head), &items, fill);
                for i in items {
                    if head {
                        model.push_front(i)
                    } else {
                        model.push_back(i)
                    }
                }
            }
            Op::Pop(head, n) => {
                let mut got = Vec::new();
                let popped = list.pop(end(head), n, fill, |v| got.push(v.to_vec()));
                let mut want = Vec::new();
                for _ in 0..n {
                    let v = if head {
                        model.pop_front()
                    } else {
                        model.pop_back()
                    };
                    match v {
                        Some(v) => want.push(v),
                        None => break,
                    }
                }
                prop_assert_eq!(popped, want.len());
                prop_assert_eq!(got, want);
            }
            Op::Set(i, v) => {
                let ok = list.set(i, &v, fill);
                match resolve(model.len(), i) {
                    Some(i) => {
                        prop_assert!(ok);
                        model[i] = v;
                    }
                    None => prop_assert!(!ok),
                }
            }
            Op::Insert(pick, after, v) => {
                // Pivot: an element present (when any), or one that is absent.
                let pivot = if model.is_empty() {
                    b"absent".to_vec()
                } else {
                    model[pick % model.len()].clone()
                };
                let got = list.insert(&pivot, &v, after, fill);
                match model.iter().position(|e| *e == pivot) {
                    Some(p) => {
                        model.insert(if after { p + 1 } else { p }, v);
                        prop_assert_eq!(got, Some(model.len()));
                    }
                    None => prop_assert_eq!(got, None),
                }
            }
            Op::Remove(pick, count) => {
                let v = if model.is_empty() {
                    b"x".to_vec()
                } else {
                    model[pick % model.len()].clone()
                };
                let removed = list.remove(&v, count, fill);
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count.unsigned_abs() as usize
                };
                let mut n = 0;
                if count >= 0 {
                    let mut i = 0;
                    while i < model.len() {
                        if n < limit && model[i] == v {
                            model.remove(i);
                            n += 1;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    let mut i = model.len();
                    while i > 0 && n < limit {
                        i -= 1;
                        if model[i] == v {
                            model.remove(i);
                            n += 1;
                        }
                    }
                }
                prop_assert_eq!(removed, n);
            }
            Op::Trim(start, stop) => {
                let len = model.len() as i64;
                let s = if start < 0 {
                    (len + start).max(0)
                } else {
                    start
                };
                let e = if stop < 0 { len + stop } else { stop };
                let removed = list.trim(start, stop, fill);
                let kept: VecDeque<Vec<u8>> = if s > e || s >= len {
                    VecDeque::new()
                } else {
                    model
                        .iter()
                        .skip(s as usize)
                        .take((e.min(len - 1) - s + 1) as usize)
                        .cloned()
                        .collect()
                };
                prop_assert_eq!(removed, model.len() - kept.len());
                model = kept;
            }
            Op::Get(i) => {
                let want = resolve(model.len(), i).map(|i| model[i].as_slice());
                prop_assert_eq!(list.get(i), want);
            }
            Op::Range(from, rev, n) => {
                let got: Vec<&[u8]> = list.iter_from(from, rev).take(n).collect();
                let want: Vec<&[u8]> = if from >= model.len() {
                    Vec::new()
                } else if rev {
                    model
                        .iter()
                        .take(from + 1)
                        .rev()
                        .take(n)
                        .map(Vec::as_slice)
                        .collect()
                } else {
                    model.iter().skip(from).take(n).map(Vec::as_slice).collect()
                };
                prop_assert_eq!(got, want);
            }
        }
        prop_assert_eq!(list.len(), model.len());
        if let Err(e) = list.check() {
            return Err(TestCaseError::fail(e));
        }
        let all: Vec<&[u8]> = list.iter().collect();
        let want: Vec<&[u8]> = model.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(all, want);
        let back: Vec<&[u8]> = list.iter_from(list.len().saturating_sub(1), true).collect();
        let want_back: Vec<&[u8]> = model.iter().rev().map(Vec::as_slice).collect();
        prop_assert_eq!(back, want_back);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn behaves_like_a_deque(fill in prop_oneof![Just(-2i64), Just(-1), Just(0), Just(1), Just(3), Just(5), Just(-5)],
                            ops in proptest::collection::vec(op(), 1..80)) {
        run(fill, ops)?;
    }
}

#[test]
fn converts_both_ways_with_entry_limit() {
    let mut l = List::new();
    l.push(End::Tail, &[b"a", b"b", b"c", b"d"], 4);
    assert_eq!(l.encoding(), "listpack");
    l.push(End::Tail, &[b"e"], 4);
    assert_eq!(l.encoding(), "quicklist");
    assert_eq!(l.node_count(), 2);
    // Still two nodes after one pop: stays a quicklist.
    l.pop(End::Tail, 1, 4, |_| {});
    assert_eq!(l.encoding(), "quicklist");
    // One node of 2 entries (<= 4 / 2): back to a listpack.
    l.pop(End::Head, 2, 4, |_| {});
    assert_eq!(l.encoding(), "listpack");
    assert_eq!(l.iter().collect::<Vec<_>>(), vec![&b"c"[..], b"d"]);
}

#[test]
fn converts_both_ways_with_byte_limit() {
    let mut l = List::new();
    let small: Vec<Vec<u8>> = (0..10).map(|i| format!("v{i}").into_bytes()).collect();
    l.push(End::Tail, &small, -2);
    assert_eq!(l.encoding(), "listpack");
    let big = vec![b'x'; 9000];
    l.push(End::Head, &[&big[..]], -2);
    assert_eq!(l.encoding(), "quicklist");
    assert_eq!(l.node_count(), 2, "a large element gets a node of its own");
    assert_eq!(l.get(0), Some(&big[..]));
    assert_eq!(l.get(-1), Some(&b"v9"[..]));
    l.pop(End::Head, 1, -2, |_| {});
    assert_eq!(l.encoding(), "listpack");
    // LSET of a large element converts and splits the node around it; setting it back
    // small leaves several nodes, so (as in Redis) the list stays a quicklist until it
    // shrinks to one node.
    assert!(l.set(3, &big, -2));
    assert_eq!(l.encoding(), "quicklist");
    assert_eq!(l.node_count(), 3);
    assert!(l.set(3, b"small", -2));
    assert_eq!(l.get(3), Some(&b"small"[..]));
    assert_eq!(l.encoding(), "quicklist");
    l.trim(4, -1, -2);
    assert_eq!(l.encoding(), "listpack");
    assert_eq!(l.get(0), Some(&b"v4"[..]));
}

#[test]
fn index_walks_from_the_nearer_end_of_many_nodes() {
    let mut l = List::new();
    let items: Vec<Vec<u8>> = (0..20_000).map(|i| format!("{i}").into_bytes()).collect();
    l.push(End::Tail, &items, -2);
    assert!(l.node_count() > 5);
    for i in [0i64, 1, 5000, 9999, 10000, 19999, -1, -20000] {
        let want = if i < 0 { 20000 + i } else { i };
        assert_eq!(l.get(i), Some(format!("{want}").as_bytes()));
    }
    assert_eq!(l.get(20000), None);
    assert_eq!(l.get(-20001), None);
    let r: Vec<&[u8]> = l.iter_from(12345, false).take(3).collect();
    assert_eq!(r, vec![&b"12345"[..], b"12346", b"12347"]);
    assert!(l.check().is_ok());
}
