//! Model-based tests of `Set`: random operation sequences checked step by step against a
//! `BTreeSet` oracle, with small encoding limits so that sets go through every conversion
//! Redis 7.4 makes (intset -> listpack -> hashtable, intset -> hashtable, SADD's size hint,
//! SPOP's rebuild of a hash table as a listpack, and back to intset for integer results);
//! the order of intsets (ascending) and listpacks (insertion); SSCAN's guarantee over a whole
//! iteration while members come and go.

use std::collections::BTreeSet;

use keyspace::parse_canonical_i64;
use keyspace::types::set::Member;
use keyspace::types::{Limits, Set};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Enc {
    Int,
    Lp,
    Ht,
}

fn limits() -> Limits {
    Limits {
        set_max_intset_entries: 12,
        set_max_listpack_entries: 6,
        set_max_listpack_value: 6,
        ..Limits::default()
    }
}

/// Member pool: small and wide integers, non-canonical integers, short and long strings.
fn member(i: u8) -> Vec<u8> {
    match i % 8 {
        0..=2 => format!("{}", i as i64 * 7 - 60).into_bytes(),
        3 => format!("{}", (i as i64) << 40).into_bytes(),
        4 => format!("0{i}").into_bytes(),
        5 => format!("s{i}").into_bytes(),
        6 => format!("long-member-{i}").into_bytes(),
        _ => vec![b'x', i],
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(Vec<u8>),
    /// SADD with this many arguments (its size hint) on an existing set.
    AddMany(Vec<u8>),
    Remove(u8),
    Pop,
    PopMany(u8),
    /// One SSCAN call with this COUNT, starting an iteration if none is under way.
    Scan(u8),
    /// Rebuild as SINTERSTORE does with only integers.
    ToIntset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u8>().prop_map(|i| Op::Add(vec![i])),
        1 => proptest::collection::vec(any::<u8>(), 1..16).prop_map(Op::AddMany),
        3 => any::<u8>().prop_map(Op::Remove),
        1 => Just(Op::Pop),
        1 => (1u8..20).prop_map(Op::PopMany),
        2 => (1u8..6).prop_map(Op::Scan),
        1 => Just(Op::ToIntset),
    ]
}

/// The oracle: members, expected encoding, and the expected order while packed.
struct Model {
    members: BTreeSet<Vec<u8>>,
    enc: Enc,
    order: Vec<Vec<u8>>,
}

impl Model {
    fn add(&mut self, m: &[u8], lim: &Limits) {
        if self.members.contains(m) {
            return;
        }
        let int = parse_canonical_i64(m);
        match self.enc {
            Enc::Int if int.is_some() => {
                if self.members.len() + 1 > lim.set_max_intset_entries {
                    self.enc = Enc::Ht;
                }
            }
            Enc::Int => {
                let widest = self.members.iter().map(Vec::len).max().unwrap_or(0);
                if self.members.len() < lim.set_max_listpack_entries
                    && m.len() <= lim.set_max_listpack_value
                    && widest <= lim.set_max_listpack_value
                {
                    self.order = self.sorted_ints();
                    self.enc = Enc::Lp;
                } else {
                    self.enc = Enc::Ht;
                }
            }
            Enc::Lp => {
                if self.members.len() >= lim.set_max_listpack_entries
                    || m.len() > lim.set_max_listpack_value
                {
                    self.enc = Enc::Ht;
                }
            }
            Enc::Ht => {}
        }
        self.members.insert(m.to_vec());
        self.order.push(m.to_vec());
    }

    fn remove(&mut self, m: &[u8]) {
        self.members.remove(m);
        self.order.retain(|x| x != m);
    }

    fn sorted_ints(&self) -> Vec<Vec<u8>> {
        let mut ints: Vec<i64> = self
            .members
            .iter()
            .filter_map(|m| parse_canonical_i64(m))
            .collect();
        ints.sort_unstable();
        ints.into_iter()
            .map(|i| i.to_string().into_bytes())
            .collect()
    }
}

fn enc_name(e: Enc) -> &'static str {
    match e {
        Enc::Int => "intset",
        Enc::Lp => "listpack",
        Enc::Ht => "hashtable",
    }
}

fn contents(s: &Set) -> Vec<Vec<u8>> {
    s.iter().map(Member::to_vec).collect()
}

/// An SSCAN under way: cursor, members present since it began, members returned.
type ScanState = (u64, BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn set_matches_model(first in any::<u8>(), ops in proptest::collection::vec(op(), 1..80), seed in any::<u64>()) {
        let lim = limits();
        let mut rng = SmallRng::seed_from_u64(seed);
        let first = member(first);
        let mut set = Set::with_first(&first, 1, &lim);
        let mut model = Model {
            members: BTreeSet::new(),
            enc: if parse_canonical_i64(&first).is_some() { Enc::Int } else { Enc::Lp },
            order: Vec::new(),
        };
        prop_assert!(set.add(&first, &lim));
        model.add(&first, &lim);
        let mut scan: Option<ScanState> = None;
        for op in ops {
            match op {
                Op::Add(i) => {
                    let m = member(i[0]);
                    let new = !model.members.contains(&m);
                    prop_assert_eq!(set.add(&m, &lim), new);
                    model.add(&m, &lim);
                }
                Op::AddMany(is) => {
                    set.maybe_convert(is.len(), &lim);
                    let over = match model.enc {
                        Enc::Int => is.len() > lim.set_max_intset_entries,
                        Enc::Lp => is.len() > lim.set_max_listpack_entries,
                        Enc::Ht => false,
                    };
                    if over {
                        model.enc = Enc::Ht;
                    }
                    for i in is {
                        let m = member(i);
                        let new = !model.members.contains(&m);
                        prop_assert_eq!(set.add(&m, &lim), new);
                        model.add(&m, &lim);
                    }
                }
                Op::Remove(i) => {
                    let m = member(i);
                    prop_assert_eq!(set.remove(&m), model.members.contains(&m));
                    prop_assert_eq!(set.contains(&m), false);
                    model.remove(&m);
                }
                Op::Pop => {
                    if let Some(m) = set.pop_random(&mut rng) {
                        prop_assert!(model.members.contains(&m));
                        model.remove(&m);
                    } else {
                        prop_assert!(model.members.is_empty());
                    }
                }
                Op::PopMany(n) => {
                    let n = n as usize;
                    let len = model.members.len();
                    let popped = set.pop_many(n, &mut rng, &lim);
                    prop_assert_eq!(popped.len(), n.min(len));
                    let distinct: BTreeSet<_> = popped.iter().cloned().collect();
                    prop_assert_eq!(distinct.len(), popped.len());
                    for m in &popped {
                        prop_assert!(model.members.contains(m));
                        model.remove(m);
                    }
                    if n >= len {
                        model.enc = Enc::Int;
                        model.order.clear();
                    } else if model.enc == Enc::Ht && (len - n) * 5 <= n {
                        // Rebuilt from the remaining members, starting as a listpack: a
                        // new value, so an SSCAN under way has no guarantee left.
                        scan = None;
                        let rest = std::mem::take(&mut model.members);
                        model.enc = Enc::Lp;
                        model.order.clear();
                        let actual_order = contents(&set);
                        for m in actual_order {
                            prop_assert!(rest.contains(&m));
                            model.add(&m, &lim);
                        }
                        prop_assert_eq!(&model.members, &rest);
                    }
                }
                Op::Scan(count) => {
                    let (cursor, mut present, mut seen) = scan.take().unwrap_or_else(|| {
                        (0, model.members.clone(), BTreeSet::new())
                    });
                    present.retain(|m| model.members.contains(m));
                    let next = set.scan(cursor, count as usize, |m| {
                        seen.insert(m.to_vec());
                    });
                    if next == 0 {
                        for m in &present {
                            prop_assert!(seen.contains(m), "scan missed {:?}", m);
                        }
                    } else {
                        prop_assert!(set.is_table());
                        scan = Some((next, present, seen));
                    }
                }
                Op::ToIntset => {
                    // Only ever done to a freshly built set: no SSCAN can be under way.
                    scan = None;
                    if model.members.iter().all(|m| parse_canonical_i64(m).is_some()) {
                        set.maybe_to_intset(&lim);
                        if model.members.len() <= lim.set_max_intset_entries {
                            model.enc = Enc::Int;
                        }
                    }
                }
            }
            // Members removed at any point are not owed by the SSCAN under way.
            if let Some((_, present, _)) = scan.as_mut() {
                present.retain(|m| model.members.contains(m));
            }
            prop_assert_eq!(set.len(), model.members.len());
            prop_assert_eq!(set.encoding(), enc_name(model.enc));
            let got: BTreeSet<Vec<u8>> = contents(&set).into_iter().collect();
            prop_assert_eq!(&got, &model.members);
            match model.enc {
                Enc::Int => prop_assert_eq!(contents(&set), model.sorted_ints()),
                Enc::Lp => prop_assert_eq!(contents(&set), model.order.clone()),
                Enc::Ht => {}
            }
            for m in &model.members {
                prop_assert!(set.contains(m));
            }
            if let Some(m) = set.random(&mut rng) {
                prop_assert!(model.members.contains(&m.to_vec()));
            }
            let k = set.len() / 2;
            let sample = set.sample_distinct(k, &mut rng);
            let distinct: BTreeSet<Vec<u8>> = sample.iter().map(|m| m.to_vec()).collect();
            prop_assert_eq!(distinct.len(), k);
        }
    }
}

#[test]
fn size_hint_picks_the_first_encoding() {
    let lim = Limits::default();
    assert_eq!(Set::with_first(b"1", 1, &lim).encoding(), "intset");
    assert_eq!(Set::with_first(b"1", 513, &lim).encoding(), "hashtable");
    assert_eq!(Set::with_first(b"a", 128, &lim).encoding(), "listpack");
    assert_eq!(Set::with_first(b"a", 129, &lim).encoding(), "hashtable");
    let small = Limits {
        set_max_intset_entries: 2,
        ..lim
    };
    assert_eq!(Set::with_first(b"1", 3, &small).encoding(), "listpack");
}

#[test]
fn wide_integers_fit_a_listpack_only_when_short_enough() {
    let lim = Limits {
        set_max_listpack_value: 5,
        ..Limits::default()
    };
    let mut s = Set::new_intset();
    s.add(b"123456", &lim);
    s.add(b"a", &lim);
    assert_eq!(s.encoding(), "hashtable");
    let mut s = Set::new_intset();
    s.add(b"-1234", &lim);
    s.add(b"a", &lim);
    assert_eq!(s.encoding(), "listpack");
    assert_eq!(contents(&s), vec![b"-1234".to_vec(), b"a".to_vec()]);
}

// ----- memory ----------------------------------------------------------------------------

/// Counts the bytes this thread has allocated and not freed (requested sizes, before the
/// allocator's rounding), so a test can weigh a value.
struct Counting;

thread_local! {
    static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|c| c.set(c.get() + delta));
}

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        track(l.size() as isize);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        track(-(l.size() as isize));
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        track(new as isize - l.size() as isize);
        unsafe { std::alloc::System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes of a boxed set (as a key holds it) built by SADD-like adds of `members`.
fn weigh(members: &[Vec<u8>]) -> (usize, &'static str) {
    let lim = Limits::default();
    let before = LIVE.with(|c| c.get());
    let mut set = Box::new(Set::with_first(&members[0], 1, &lim));
    for m in members {
        set.add(m, &lim);
    }
    let after = LIVE.with(|c| c.get());
    let enc = set.encoding();
    drop(set);
    ((after - before) as usize, enc)
}

/// Regression guard for D4 (memory is a feature): bytes per member, the boxed `Set` included,
/// stay near or below what Redis 7.4 spends (a listpack ~12 bytes per 10-byte member plus
/// its object, an intset 2 per small integer, a hash table ~30-35 with sds, bucket and
/// chained entries).
#[test]
fn sets_stay_compact() {
    let strings = |n: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("member:{i:03}").into_bytes())
            .collect()
    };
    let ints =
        |n: usize| -> Vec<Vec<u8>> { (0..n).map(|i| (i * 7).to_string().into_bytes()).collect() };
    let cases = [
        (strings(10), "listpack", 16.0),
        (strings(1000), "hashtable", 30.0),
        (ints(10), "intset", 6.0),
        (ints(1000), "hashtable", 24.0),
    ];
    for (members, enc, max_per_member) in cases {
        let (bytes, got) = weigh(&members);
        let per = bytes as f64 / members.len() as f64;
        println!(
            "{} members, {got}: {bytes} bytes, {per:.1} per member",
            members.len()
        );
        assert_eq!(got, enc);
        assert!(
            per <= max_per_member,
            "{enc} of {}: {per:.1} bytes per member",
            members.len()
        );
    }
}
