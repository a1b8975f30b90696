//! Model-based tests of the keyspace: random operation sequences on a `Keyspace` with few
//! shards, checked step by step against a `BTreeMap` oracle of (value, expiry time) — lazy
//! and active expiry, SCAN's guarantee over a whole iteration while keys come and go, and
//! RANDOMKEY.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use keyspace::{Access, Clock, Keyspace, KeyspaceConfig, ManualClock, Value};
use proptest::prelude::*;

const KEYS: u8 = 48;

#[derive(Clone, Debug)]
enum Op {
    /// SET with an optional TTL in ms.
    Set(u8, u8, Option<u16>),
    Get(u8),
    Del(u8),
    /// Set the TTL (ms) of an existing key.
    Expire(u8, u16),
    Persist(u8),
    Advance(u16),
    /// One SCAN call with this COUNT, starting an iteration if none is under way.
    Scan(u8),
    RandomKey,
    ActiveExpire,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    prop_oneof![
        6 => (key.clone(), any::<u8>(), proptest::option::of(1..3000u16))
            .prop_map(|(k, v, t)| Op::Set(k, v, t)),
        3 => key.clone().prop_map(Op::Get),
        2 => key.clone().prop_map(Op::Del),
        2 => (key.clone(), 1..3000u16).prop_map(|(k, t)| Op::Expire(k, t)),
        1 => key.prop_map(Op::Persist),
        2 => (0..1500u16).prop_map(Op::Advance),
        4 => (1..8u8).prop_map(Op::Scan),
        1 => Just(Op::RandomKey),
        1 => Just(Op::ActiveExpire),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key:{k}").into_bytes()
}

fn bytes(v: &Value) -> Vec<u8> {
    v.to_vec().unwrap_or_default()
}

/// The oracle: what each key holds and when it expires (absolute ms).
#[derive(Default)]
struct Model {
    map: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
}

impl Model {
    fn live(&self, k: &[u8], now: u64) -> Option<&Vec<u8>> {
        self.map
            .get(k)
            .filter(|(_, e)| e.is_none_or(|e| e > now))
            .map(|(v, _)| v)
    }

    fn live_keys(&self, now: u64) -> BTreeSet<Vec<u8>> {
        self.map
            .iter()
            .filter(|(_, (_, e))| e.is_none_or(|e| e > now))
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// A SCAN iteration under way.
struct Scan {
    cursor: u64,
    /// Keys live at every step since the iteration started.
    throughout: BTreeSet<Vec<u8>>,
    seen: BTreeSet<Vec<u8>>,
}

struct Harness {
    ks: Keyspace,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new(shards: usize) -> Self {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let ks = Keyspace::new(
            KeyspaceConfig {
                databases: 2,
                shards,
            },
            clock.clone(),
        );
        Harness { ks, clock }
    }

    /// Runs `f` on the locked shard of `k` with its hash and an operation context.
    fn with<R>(
        &self,
        k: &[u8],
        f: impl FnOnce(&mut keyspace::Shard, u64, &keyspace::OpCtx<'_>) -> R,
    ) -> R {
        let access = self.ks.shared();
        let h = self.ks.hash(k);
        let mut s = access.db(0).lock(self.ks.shard_of(h));
        let cx = self.ks.op_ctx(0);
        f(&mut s, h, &cx)
    }

    /// (volatile keys, stale keys) per shard, from the oracle's view of which key lives where.
    fn stale_per_shard(&self, model: &Model) -> Vec<(usize, usize)> {
        let now = self.clock.now_ms();
        let access: Access<'_> = self.ks.shared();
        let mut out = vec![(0, 0); self.ks.shards_per_db()];
        for (i, slot) in out.iter_mut().enumerate() {
            slot.0 = access.db(0).lock(i).volatile_len();
        }
        for (k, (_, e)) in &model.map {
            if e.is_some_and(|e| e <= now) {
                out[self.ks.shard_of(self.ks.hash(k))].1 += 1;
            }
        }
        out
    }
}

fn run(shards: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let h = Harness::new(shards);
    let mut model = Model::default();
    let mut scan: Option<Scan> = None;
    for op in ops {
        let now = h.clock.now_ms();
        match op {
            Op::Set(k, v, ttl) => {
                let (k, v) = (key(k), vec![b'v', v]);
                let at = ttl.map(|t| now + u64::from(t));
                h.with(&k, |s, hash, cx| {
                    let (pos, _) = s.upsert(cx, hash, &k, Value::string(&v), false);
                    s.set_expire(pos, at);
                });
                model.map.insert(k, (v, at));
            }
            Op::Get(k) => {
                let k = key(k);
                let got = h.with(&k, |s, hash, cx| {
                    s.lookup(cx, hash, &k).map(|p| bytes(s.value(p)))
                });
                prop_assert_eq!(got.as_ref(), model.live(&k, now), "GET {:?}", k);
            }
            Op::Del(k) => {
                let k = key(k);
                let existed = h.with(&k, |s, hash, cx| {
                    s.lookup(cx, hash, &k).map(|p| s.remove(p)).is_some()
                });
                prop_assert_eq!(existed, model.live(&k, now).is_some());
                model.map.remove(&k);
            }
            Op::Expire(k, t) => {
                let k = key(k);
                let at = now + u64::from(t);
                let found = h.with(&k, |s, hash, cx| {
                    s.lookup(cx, hash, &k)
                        .map(|p| s.set_expire(p, Some(at)))
                        .is_some()
                });
                prop_assert_eq!(found, model.live(&k, now).is_some());
                if found {
                    if let Some(e) = model.map.get_mut(&k) {
                        e.1 = Some(at);
                    }
                }
            }
            Op::Persist(k) => {
                let k = key(k);
                let had = h.with(&k, |s, hash, cx| {
                    s.lookup(cx, hash, &k).map(|p| {
                        let had = s.expire_at(p).is_some();
                        s.set_expire(p, None);
                        had
                    })
                });
                let want = model.live(&k, now).map(|_| model.map[&k].1.is_some());
                prop_assert_eq!(had, want);
                if had.is_some() {
                    if let Some(e) = model.map.get_mut(&k) {
                        e.1 = None;
                    }
                }
            }
            Op::Advance(ms) => h.clock.advance(u64::from(ms)),
            Op::Scan(count) => {
                let st = scan.get_or_insert_with(|| Scan {
                    cursor: 0,
                    throughout: model.live_keys(now),
                    seen: BTreeSet::new(),
                });
                let access = h.ks.shared();
                let mut batch = Vec::new();
                st.cursor =
                    h.ks.scan(&access, 0, st.cursor, usize::from(count), |k, v| {
                        batch.push((k.to_vec(), bytes(v)));
                    });
                drop(access);
                for (k, v) in batch {
                    prop_assert_eq!(model.live(&k, now), Some(&v), "SCAN returned {:?}", k);
                    st.seen.insert(k);
                }
                if st.cursor == 0 {
                    let missed: Vec<_> = st.throughout.difference(&st.seen).collect();
                    prop_assert!(missed.is_empty(), "SCAN missed {:?}", missed);
                    scan = None;
                }
            }
            Op::RandomKey => {
                let access = h.ks.shared();
                let got = h.ks.random_key(&access, 0);
                match got {
                    Some(k) => prop_assert!(model.live(&k, now).is_some(), "RANDOMKEY {:?}", k),
                    None => prop_assert!(model.live_keys(now).is_empty()),
                }
            }
            Op::ActiveExpire => {
                h.ks.active_expire_cycle(Duration::from_secs(5));
                model.forget_expired_if_reclaimed(&h, now);
                // Every shard ends on a round over its whole volatile set (at most 20 keys)
                // or over 8 rounds of 20 that were at most a quarter stale.
                for (volatile, stale) in h.stale_per_shard(&model) {
                    prop_assert!(
                        stale <= volatile.saturating_sub(20),
                        "{stale} stale of {volatile} volatile after an ample cycle"
                    );
                }
                // What is left is exactly the live keys and the stale ones counted above.
                let live = model.live_keys(now);
                let access = h.ks.shared();
                let total: usize = (0..h.ks.shards_per_db())
                    .map(|i| access.db(0).lock(i).len())
                    .sum();
                drop(access);
                let stale: usize = h.stale_per_shard(&model).iter().map(|s| s.1).sum();
                prop_assert_eq!(total, live.len() + stale);
            }
        }
        // Lazy expiry never shows an expired key; track presence for the SCAN in progress.
        let now = h.clock.now_ms();
        if let Some(st) = scan.as_mut() {
            let live = model.live_keys(now);
            st.throughout.retain(|k| live.contains(k));
        }
        // Forget expired entries the keyspace reclaimed (lazily, on this step's lookups).
        model.forget_expired_if_reclaimed(&h, now);
    }
    Ok(())
}

impl Model {
    /// Drops oracle entries for expired keys the keyspace no longer holds (reclaimed lazily
    /// or by the active cycle), so per-shard stale counts stay exact.
    fn forget_expired_if_reclaimed(&mut self, h: &Harness, now: u64) {
        let access = h.ks.shared();
        self.map.retain(|k, (_, e)| {
            if e.is_none_or(|e| e > now) {
                return true;
            }
            let hash = h.ks.hash(k);
            access
                .db(0)
                .lock(h.ks.shard_of(hash))
                .find(hash, k)
                .is_some()
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn keyspace_matches_model(shards in prop_oneof![Just(1usize), Just(2), Just(4)],
                              ops in proptest::collection::vec(op(), 1..300)) {
        run(shards, ops)?;
    }
}

/// A large set of volatile keys, half of them expired and spread evenly: one cycle with an
/// ample budget leaves at most about a quarter of the volatile keys stale.
#[test]
fn active_expire_leaves_at_most_a_quarter_stale() {
    let h = Harness::new(2);
    let now = h.clock.now_ms();
    let mut model = Model::default();
    for i in 0..20_000u32 {
        let k = format!("v:{i}").into_bytes();
        let at = now + if i % 2 == 0 { 10 } else { 1_000_000 };
        h.with(&k, |s, hash, cx| {
            let pos = s.insert(cx, hash, &k, Value::string(b"x"));
            s.set_expire(pos, Some(at));
        });
        model.map.insert(k, (b"x".to_vec(), Some(at)));
    }
    h.clock.advance(10);
    let removed = h.ks.active_expire_cycle(Duration::from_secs(30));
    assert!(removed > 0);
    model.forget_expired_if_reclaimed(&h, h.clock.now_ms());
    let per_shard = h.stale_per_shard(&model);
    let volatile: usize = per_shard.iter().map(|s| s.0).sum();
    let stale: usize = per_shard.iter().map(|s| s.1).sum();
    assert!(
        stale * 100 <= volatile * 30,
        "{stale} stale of {volatile} volatile"
    );
}

/// Regression: SCAN keeps its guarantee when a shard shrinks below the cursor between calls.
#[test]
fn scan_survives_shrinking_shard() {
    let h = Harness::new(1);
    let keys: Vec<Vec<u8>> = (0..100u32).map(|i| format!("k{i}").into_bytes()).collect();
    for k in &keys {
        h.with(k, |s, hash, cx| {
            s.insert(cx, hash, k, Value::string(b"v"));
        });
    }
    let access = h.ks.shared();
    let mut seen = BTreeSet::new();
    let mut cursor = h.ks.scan(&access, 0, 0, 10, |k, _| {
        seen.insert(k.to_vec());
    });
    drop(access);
    // Delete 80 keys, among them many not yet visited; the 20 kept must all be returned.
    for k in &keys[20..] {
        h.with(k, |s, hash, cx| {
            if let Some(p) = s.lookup(cx, hash, k) {
                s.remove(p);
            }
        });
    }
    while cursor != 0 {
        let access = h.ks.shared();
        cursor = h.ks.scan(&access, 0, cursor, 10, |k, _| {
            seen.insert(k.to_vec());
        });
    }
    for k in &keys[..20] {
        assert!(seen.contains(k), "missed {:?}", String::from_utf8_lossy(k));
    }
}
