//! The WATCH registry: which clients watch which (database, key), fed by the change feed.
//!
//! As Redis's `multi.c`: a change to a watched key marks every client watching it dirty, and
//! its next EXEC answers a null array. The rules of Redis 7.4 for keys that are not plainly
//! written:
//! - A key that was logically expired (still stored) when it was WATCHed counts as absent:
//!   its removal by expiry is no change (`watchedKey.expired`).
//! - FLUSHDB/FLUSHALL dirty the watchers of keys that existed; SWAPDB those of keys that
//!   exist in either database (the registry cannot look at the keyspace while the change is
//!   published, so a swap's "exists in the other database" is checked at EXEC, where the
//!   other database's contents now live).
//! - EXEC fails when a watched key that existed at WATCH time has expired since, even if
//!   nobody touched it (Redis's `isWatchedKeyExpired`).
//!
//! Cost when nobody watches: one atomic load per change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use keyspace::{class, event, Change, ChangeListener};
use parking_lot::Mutex;

use crate::context::Store;

/// What a watched key was when it was WATCHed (or what it became without dirtying).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Absent,
    Existed,
    /// Stored but logically expired.
    Expired,
}

struct Watch {
    dirty: Arc<AtomicBool>,
    state: KeyState,
    /// A SWAPDB replaced the database's contents; whether the key exists in them is
    /// checked at EXEC.
    swapped: bool,
}

impl Watch {
    fn touch(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }
}

type DbWatches = HashMap<Bytes, Vec<Watch>>;

/// Every watched key of every database, with its watchers.
#[derive(Default)]
pub struct WatchRegistry {
    /// Number of (client, key) watches: the feed listener's one load when it is zero.
    count: AtomicUsize,
    dbs: Mutex<HashMap<usize, DbWatches>>,
}

impl WatchRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of (client, key) watches (INFO's `watching_clients`-like figures, tests).
    pub fn watches(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Adds a watch; false when this client already watches the key. Called with the key's
    /// shard locked, so no change to it can slip between reading its state and this.
    fn add(&self, dirty: &Arc<AtomicBool>, db: usize, key: &[u8], state: KeyState) -> bool {
        let mut dbs = self.dbs.lock();
        let watchers = dbs
            .entry(db)
            .or_default()
            .entry(Bytes::copy_from_slice(key))
            .or_default();
        if watchers.iter().any(|w| Arc::ptr_eq(&w.dirty, dirty)) {
            return false;
        }
        watchers.push(Watch {
            dirty: dirty.clone(),
            state,
            swapped: false,
        });
        self.count.fetch_add(1, Ordering::Release);
        true
    }

    fn remove(&self, dirty: &Arc<AtomicBool>, keys: &[(usize, Bytes)]) {
        let mut dbs = self.dbs.lock();
        let mut removed = 0;
        for (db, key) in keys {
            let Some(map) = dbs.get_mut(db) else { continue };
            if let Some(watchers) = map.get_mut(key) {
                let before = watchers.len();
                watchers.retain(|w| !Arc::ptr_eq(&w.dirty, dirty));
                removed += before - watchers.len();
                if watchers.is_empty() {
                    map.remove(key);
                }
            }
            if map.is_empty() {
                dbs.remove(db);
            }
        }
        self.count.fetch_sub(removed, Ordering::Release);
    }

    /// (state, swapped) of one client's watch of a key.
    fn state_of(&self, dirty: &Arc<AtomicBool>, db: usize, key: &[u8]) -> Option<(KeyState, bool)> {
        let dbs = self.dbs.lock();
        dbs.get(&db)?
            .get(key)?
            .iter()
            .find(|w| Arc::ptr_eq(&w.dirty, dirty))
            .map(|w| (w.state, w.swapped))
    }
}

impl ChangeListener for WatchRegistry {
    fn on_change(&self, change: &Change<'_>) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut dbs = self.dbs.lock();
        match *change {
            Change::Key { db, key, event } => {
                if event.class == class::KEY_MISS {
                    return;
                }
                let Some(watchers) = dbs.get_mut(&db).and_then(|m| m.get_mut(key)) else {
                    return;
                };
                for w in watchers {
                    if event == event::EXPIRED && w.state == KeyState::Expired && !w.swapped {
                        // An already expired key removed: no logical change.
                        w.state = KeyState::Absent;
                    } else {
                        w.touch();
                    }
                }
            }
            Change::Flush { db } => {
                for (_, map) in dbs.iter_mut().filter(|(d, _)| db.is_none_or(|x| x == **d)) {
                    for w in map.values_mut().flatten() {
                        match (w.state, w.swapped) {
                            // After a swap the stored contents are unknown here: assume the
                            // key existed (a spurious failure at worst, never a lost one).
                            (KeyState::Existed, _) | (_, true) => w.touch(),
                            (KeyState::Expired, false) => w.state = KeyState::Absent,
                            (KeyState::Absent, false) => {}
                        }
                    }
                }
            }
            Change::Swap { a, b } => {
                if a == b {
                    return;
                }
                for d in [a, b] {
                    let Some(map) = dbs.get_mut(&d) else { continue };
                    for w in map.values_mut().flatten() {
                        if w.state == KeyState::Existed || w.swapped {
                            w.touch();
                        } else {
                            w.swapped = true;
                        }
                    }
                }
            }
            // Announced again as a `Key` event.
            Change::FieldsExpired { .. } => {}
        }
    }
}

/// One client's watches; dropping it (UNWATCH, EXEC, DISCARD, RESET, disconnection)
/// removes them from the registry.
pub struct Watching {
    registry: Arc<WatchRegistry>,
    dirty: Arc<AtomicBool>,
    keys: Vec<(usize, Bytes)>,
}

impl Watching {
    pub fn new(registry: Arc<WatchRegistry>) -> Self {
        Watching {
            registry,
            dirty: Arc::new(AtomicBool::new(false)),
            keys: Vec::new(),
        }
    }

    /// Number of watched keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a watched key has changed.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Watches `key` of `db` in the state it has now. The caller holds the key's shard.
    pub fn add(&mut self, db: usize, key: &[u8], state: KeyState) {
        if self.registry.add(&self.dirty, db, key, state) {
            self.keys.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// EXEC's verdict: whether the transaction must fail. Besides the changes already seen,
    /// a key that existed at WATCH time and has expired since fails it, and so does a key
    /// that a SWAPDB brought in. Runs under exclusive access, so nothing changes meanwhile.
    pub fn failed_at_exec(&self, store: &Store<'_>) -> bool {
        if self.is_dirty() {
            return true;
        }
        for (db, key) in &self.keys {
            let Some((state, swapped)) = self.registry.state_of(&self.dirty, *db, key) else {
                continue;
            };
            let lock = store.lock_in(*db, key);
            // `find`, not `lookup`: looking must not reclaim (and so announce) the key.
            let live = match lock.shard.find(lock.hash, key) {
                Some(pos) => Some(!lock.shard.expired_at(pos, store.now_ms)),
                None => None,
            };
            let failed = if swapped {
                live == Some(true)
            } else {
                state == KeyState::Existed && live == Some(false)
            };
            if failed {
                return true;
            }
        }
        false
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            self.registry.remove(&self.dirty, &self.keys);
        }
    }
}
