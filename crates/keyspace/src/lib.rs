//! The keyspace of Cinnabar: databases split into shards by key hash, each shard behind its
//! own lock, plus the change feed every write is announced on.
//!
//! # Layout
//! - [`compact`]: `CompactBytes`, inline-or-boxed byte strings used for keys.
//! - [`value`]: `Value`, what a key holds, and its `Kind`.
//! - [`shard`]: `Shard`, a dense slot vector with a hash index and an expiry index.
//! - [`feed`]: the change feed (`Change`, `ChangeListener`, events with Redis's names).
//! - [`clock`]: the time source (system or manual).
//! - [`evict`]: access tracking (LRU clock / LFU counter) and eviction by maxmemory policy.
//! - [`snapshot`]: point-in-time snapshots by shard-granular copy-before-write.
//! - this file: `Keyspace` (all databases behind the world lock), `Db`, `Access`, `Locked`.
//!
//! # Invariants
//! - Knows nothing about RESP, sockets or clients.
//! - Every mutation is published on the feed while the shard lock that made it is held.
//! - Shards of one database are locked in ascending index order; whole-keyspace operations
//!   (FLUSHALL, SWAPDB, EXEC, scripts) hold the world lock exclusively and ordinary commands
//!   hold it shared, so any command holding it exclusively sees and makes one atomic step.

pub mod clock;
pub mod compact;
pub mod evict;
pub mod feed;
pub mod shard;
mod slots;
pub mod snapshot;
pub mod types;
pub mod value;

use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use rand::Rng;

pub use clock::{Clock, ManualClock, SystemClock};
pub use compact::CompactBytes;
pub use feed::{class, event, Change, ChangeListener, Event, Feed};
pub use shard::{OpCtx, Shard, ShardStats};
pub use value::{parse_canonical_i64, Kind, Value};

use shard::KeyHasher;

/// Sizes fixed at start-up.
#[derive(Clone, Copy, Debug)]
pub struct KeyspaceConfig {
    pub databases: usize,
    /// Shards per database; rounded up to a power of two.
    pub shards: usize,
}

impl Default for KeyspaceConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        KeyspaceConfig {
            databases: 16,
            shards: (cores * 4).next_power_of_two().max(8),
        }
    }
}

/// One database: its shards.
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
    marks: snapshot::Marks,
}

impl Db {
    fn new(
        shards: usize,
        hasher: KeyHasher,
        hub: &Arc<snapshot::Hub>,
        tracking: &Arc<evict::Tracking>,
    ) -> Self {
        Db {
            shards: (0..shards)
                .map(|_| Mutex::new(Shard::new(hasher, tracking.clone())))
                .collect(),
            marks: snapshot::Marks::new(shards, hub.clone()),
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Locks shard `i`. While a snapshot waits for this shard, it is written out first.
    #[inline]
    pub fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        let guard = self.shards[i].lock();
        if self.marks.is_pending(i) {
            self.marks.settle(i, &guard);
        }
        guard
    }

    /// Locks the given shards (any order, duplicates allowed) in ascending order.
    pub fn lock_many(&self, ids: impl IntoIterator<Item = usize>) -> Locked<'_> {
        let mut ids: Vec<usize> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let guards = ids.iter().map(|&i| self.lock(i)).collect();
        Locked { ids, guards }
    }

    /// Locks every shard, in order.
    pub fn lock_all(&self) -> Locked<'_> {
        self.lock_many(0..self.shards.len())
    }

    /// Number of keys (expired ones not yet reclaimed included, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Several shards of one database, locked in ascending order.
pub struct Locked<'a> {
    ids: Vec<usize>,
    guards: Vec<MutexGuard<'a, Shard>>,
}

impl<'a> Locked<'a> {
    /// The locked shard `id`; it must be one of those locked.
    #[inline]
    pub fn shard(&mut self, id: usize) -> &mut Shard {
        let i = self.ids.binary_search(&id).unwrap_or_else(|i| {
            debug_assert!(false, "shard {id} not locked");
            i.min(self.guards.len() - 1)
        });
        &mut self.guards[i]
    }

    /// The locked shards with their ids.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Shard)> + use<'_, 'a> {
        self.ids
            .iter()
            .copied()
            .zip(self.guards.iter_mut().map(|g| &mut **g))
    }
}

/// All databases; reached through an [`Access`].
pub struct Dbs {
    dbs: Vec<Db>,
}

impl Dbs {
    #[inline]
    pub fn db(&self, i: usize) -> &Db {
        &self.dbs[i]
    }

    pub fn len(&self) -> usize {
        self.dbs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// Locks two shards, each named by (database, shard), in ascending (database, shard)
    /// order — the global lock order, of which "ascending within one database" is a part.
    /// Locking the same shard twice yields one lock.
    pub fn lock_pair(&self, a: (usize, usize), b: (usize, usize)) -> Pair<'_> {
        if a == b {
            return Pair {
                first: self.dbs[a.0].lock(a.1),
                second: None,
                a_first: true,
            };
        }
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let first = self.dbs[lo.0].lock(lo.1);
        let second = self.dbs[hi.0].lock(hi.1);
        Pair {
            first,
            second: Some(second),
            a_first: a < b,
        }
    }
}

/// Two shards locked by [`Dbs::lock_pair`]: `a()` and `b()` are the shards asked for, in the
/// order they were named (the same shard when both names were equal).
pub struct Pair<'a> {
    first: MutexGuard<'a, Shard>,
    second: Option<MutexGuard<'a, Shard>>,
    a_first: bool,
}

impl Pair<'_> {
    /// The shard named first.
    pub fn a(&mut self) -> &mut Shard {
        match (&mut self.second, self.a_first) {
            (Some(s), false) => s,
            _ => &mut self.first,
        }
    }

    /// The shard named second.
    pub fn b(&mut self) -> &mut Shard {
        match (&mut self.second, self.a_first) {
            (Some(s), true) => s,
            _ => &mut self.first,
        }
    }
}

/// Held while a command runs: the world lock, shared or exclusive.
pub enum Access<'a> {
    Shared(RwLockReadGuard<'a, Dbs>),
    Exclusive(RwLockWriteGuard<'a, Dbs>),
    /// Lent by a command that holds the world lock exclusively to the commands it runs
    /// (EXEC's queued commands, a script's `redis.call`).
    Lent(&'a mut Dbs),
}

impl Deref for Access<'_> {
    type Target = Dbs;
    fn deref(&self) -> &Dbs {
        match self {
            Access::Shared(g) => g,
            Access::Exclusive(g) => g,
            Access::Lent(d) => d,
        }
    }
}

impl Access<'_> {
    /// The databases for whole-keyspace changes; None under shared access.
    pub fn exclusive(&mut self) -> Option<&mut Dbs> {
        match self {
            Access::Shared(_) => None,
            Access::Exclusive(g) => Some(&mut **g),
            Access::Lent(d) => Some(&mut **d),
        }
    }
}

/// Every database, the world lock, the hasher that places keys on shards, the clock and the
/// change feed.
pub struct Keyspace {
    world: RwLock<Dbs>,
    hasher: KeyHasher,
    shard_mask: usize,
    databases: usize,
    clock: Arc<dyn Clock>,
    pub feed: Feed,
    expire_cursor: AtomicUsize,
    snapshots: Arc<snapshot::Hub>,
    /// How accesses are recorded, shared with every shard (see `evict.rs`).
    tracking: Arc<evict::Tracking>,
    /// Keys evicted since start (INFO stats evicted_keys).
    pub evicted: std::sync::atomic::AtomicU64,
}

impl Keyspace {
    pub fn new(config: KeyspaceConfig, clock: Arc<dyn Clock>) -> Self {
        let shards = config.shards.max(1).next_power_of_two();
        let hasher = KeyHasher::with_seed(rand::thread_rng().gen());
        let snapshots = Arc::new(snapshot::Hub::default());
        let tracking = Arc::new(evict::Tracking::default());
        let dbs = (0..config.databases.max(1))
            .map(|_| Db::new(shards, hasher, &snapshots, &tracking))
            .collect();
        Keyspace {
            world: RwLock::new(Dbs { dbs }),
            hasher,
            shard_mask: shards - 1,
            databases: config.databases.max(1),
            clock,
            feed: Feed::default(),
            expire_cursor: AtomicUsize::new(0),
            snapshots,
            tracking,
            evicted: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn shards_per_db(&self) -> usize {
        self.shard_mask + 1
    }

    /// Shared access: what ordinary commands hold.
    #[inline]
    pub fn shared(&self) -> Access<'_> {
        Access::Shared(self.world.read())
    }

    /// Exclusive access: nothing else runs meanwhile.
    pub fn exclusive(&self) -> Access<'_> {
        Access::Exclusive(self.world.write())
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard a key hash belongs to (high bits; the shard's table uses the low ones).
    #[inline]
    pub fn shard_of(&self, hash: u64) -> usize {
        (hash >> 40) as usize & self.shard_mask
    }

    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// An operation context for database `db` at the current time.
    #[inline]
    pub fn op_ctx(&self, db: usize) -> OpCtx<'_> {
        OpCtx {
            db,
            now_ms: self.now_ms(),
            feed: &self.feed,
        }
    }

    /// Removes every key of `db` (all databases if None). Returns the old contents so the
    /// caller may drop them on another thread (FLUSHALL ASYNC). A snapshot in progress gets
    /// the flushed shards it still waits for first.
    pub fn flush(&self, dbs: &mut Dbs, db: Option<usize>) -> Vec<Db> {
        let shards = self.shards_per_db();
        let mut old = Vec::new();
        for (i, d) in dbs.dbs.iter_mut().enumerate() {
            if db.is_none_or(|x| x == i) {
                d.settle_all();
                old.push(std::mem::replace(
                    d,
                    Db::new(shards, self.hasher, &self.snapshots, &self.tracking),
                ));
            }
        }
        self.feed.publish(&Change::Flush { db });
        old
    }

    /// Exchanges the contents of two databases.
    pub fn swap(&self, dbs: &mut Dbs, a: usize, b: usize) {
        dbs.dbs.swap(a, b);
        self.feed.publish(&Change::Swap { a, b });
    }

    /// The active expire cycle: samples volatile keys of every shard, as Redis's cycle does
    /// (see [`Shard::expire_sample`]), revisiting shards whose samples were more than a
    /// quarter expired until `budget` is spent. Returns the number of keys reclaimed.
    pub fn active_expire_cycle(&self, budget: std::time::Duration) -> usize {
        let deadline = std::time::Instant::now() + budget;
        let access = self.shared();
        let per_db = self.shards_per_db();
        let total = per_db * access.len();
        let start = self.expire_cursor.fetch_add(1, Ordering::Relaxed) % total;
        let mut removed = 0;
        let mut busy: Vec<usize> = (0..total).map(|i| (start + i) % total).collect();
        while !busy.is_empty() && std::time::Instant::now() < deadline {
            busy.retain(|&n| {
                let (db, shard) = (n / per_db, n % per_db);
                let cx = self.op_ctx(db);
                let mut s = access.db(db).lock(shard);
                let (n, more) = s.expire_sample(&cx, 16);
                removed += n;
                if !more {
                    s.maybe_shrink();
                }
                more
            });
        }
        removed
    }

    /// SCAN over database `db`. The cursor holds the shard in its low bits and the position
    /// within the shard above them. Returns the next cursor (0 when done).
    pub fn scan(
        &self,
        access: &Access<'_>,
        db: usize,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&[u8], &Value),
    ) -> u64 {
        let shards = self.shards_per_db() as u64;
        let bits = shards.trailing_zeros();
        let mut shard = (cursor & (shards - 1)) as usize;
        let mut top = (cursor >> bits) as usize;
        let now = self.now_ms();
        let mut budget = count.max(1);
        loop {
            let s = access.db(db).lock(shard);
            let before = if top == 0 || top > s.len() {
                s.len()
            } else {
                top
            };
            let next = s.scan(top, budget, now, &mut f);
            budget = budget.saturating_sub(before - next);
            drop(s);
            if next > 0 {
                return ((next as u64) << bits) | shard as u64;
            }
            shard += 1;
            top = 0;
            if shard as u64 == shards {
                return 0;
            }
            if budget == 0 {
                return shard as u64;
            }
        }
    }

    /// A random live key of `db`.
    pub fn random_key(&self, access: &Access<'_>, db: usize) -> Option<Vec<u8>> {
        let mut rng = rand::thread_rng();
        let d = access.db(db);
        let n = d.shard_count();
        let now = self.now_ms();
        for _ in 0..100 {
            let start = rng.gen_range(0..n);
            for k in 0..n {
                let s = d.lock((start + k) % n);
                if let Some(pos) = s.random_pos(&mut rng) {
                    if !s.expired_at(pos, now) {
                        return Some(s.key(pos).to_vec());
                    }
                    break;
                }
            }
        }
        // Mostly expired keys: fall back to a full walk.
        for i in 0..n {
            let s = d.lock(i);
            let mut found = None;
            s.for_each(now, |k, _| {
                if found.is_none() {
                    found = Some(k.to_vec());
                }
            });
            if found.is_some() {
                return found;
            }
        }
        None
    }
}
