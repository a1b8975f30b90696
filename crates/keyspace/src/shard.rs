//! `Shard`: one lock's worth of keys — a dense slot vector, a hash index over it, and the
//! expiry index of its volatile keys.
//!
//! Slots are dense: removing a key moves the last slot into the hole, so slots only ever move
//! to lower positions. SCAN walks positions from the top down, which is what lets it return
//! every key present for a whole iteration while the shard grows and shrinks.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rand::Rng;

use crate::compact::CompactBytes;
use crate::evict::Tracking;
use crate::feed::{event, Change, Event, Feed};
use crate::value::Value;

const NO_EXPIRE: u32 = u32::MAX;

pub(crate) type KeyHasher = foldhash::fast::FixedState;

/// One key with its value: 56 bytes.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    key: CompactBytes,
    value: Value,
    /// Last access: the LRU clock in seconds, or the LFU time and counter (`evict.rs`).
    pub(crate) lru: u32,
    /// Position of this key in `Shard::expires`, or `NO_EXPIRE`.
    exp: u32,
}

/// Counters kept under the shard lock (summed over shards for INFO).
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

/// What an operation on a shard needs to know about its surroundings.
#[derive(Clone, Copy)]
pub struct OpCtx<'a> {
    pub db: usize,
    pub now_ms: u64,
    pub feed: &'a Feed,
}

impl OpCtx<'_> {
    /// Announces a change of `key` on the feed.
    #[inline]
    pub fn emit(&self, key: &[u8], event: Event) {
        self.feed.publish(&Change::Key {
            db: self.db,
            key,
            event,
        });
    }

    /// Announces the fields of the hash at `key` that its TTLs removed.
    pub fn emit_fields_expired(&self, key: &[u8], fields: &[Box<[u8]>]) {
        self.feed.publish(&Change::FieldsExpired {
            db: self.db,
            key,
            fields,
        });
    }

    /// The LRU clock: seconds, wrapping.
    #[inline]
    pub fn lru_clock(&self) -> u32 {
        (self.now_ms / 1000) as u32
    }
}

pub struct Shard {
    index: HashTable<u32>,
    pub(crate) slots: crate::slots::Slots<Slot>,
    /// (slot position, expiry time in ms) of every key with a TTL.
    pub(crate) expires: Vec<(u32, u64)>,
    hasher: KeyHasher,
    /// Where the active expire cycle resumes in `expires`.
    expire_cursor: usize,
    pub stats: ShardStats,
    /// How accesses are recorded (LRU clock or LFU counter), shared by the keyspace.
    pub(crate) tracking: std::sync::Arc<Tracking>,
}

impl Shard {
    pub(crate) fn new(hasher: KeyHasher, tracking: std::sync::Arc<Tracking>) -> Self {
        Shard {
            index: HashTable::new(),
            slots: Default::default(),
            expires: Vec::new(),
            hasher,
            expire_cursor: 0,
            stats: ShardStats::default(),
            tracking,
        }
    }

    #[inline]
    fn hash_of(hasher: &KeyHasher, key: &[u8]) -> u64 {
        hasher.hash_one(key)
    }

    /// Number of keys, including expired ones not yet reclaimed.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.expires.len()
    }

    /// Position of `key`, expired or not.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slots[i as usize].key.as_bytes() == key)
            .map(|&i| i as usize)
    }

    /// Position of a live `key`; an expired key is removed on the way (announced as `expired`).
    #[inline]
    pub fn lookup(&mut self, cx: &OpCtx<'_>, hash: u64, key: &[u8]) -> Option<usize> {
        let pos = self.find(hash, key)?;
        if self.is_expired(pos, cx.now_ms) {
            self.expire_now(cx, pos);
            return None;
        }
        Some(pos)
    }

    /// Like [`Shard::lookup`], counting a keyspace hit or miss and refreshing the access time.
    #[inline]
    pub fn lookup_read(&mut self, cx: &OpCtx<'_>, hash: u64, key: &[u8]) -> Option<usize> {
        match self.lookup(cx, hash, key) {
            Some(pos) => {
                self.stats.hits += 1;
                self.touch(pos, cx);
                Some(pos)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    #[inline]
    fn is_expired(&self, pos: usize, now_ms: u64) -> bool {
        let e = self.slots[pos].exp;
        e != NO_EXPIRE && self.expires[e as usize].1 <= now_ms
    }

    fn expire_now(&mut self, cx: &OpCtx<'_>, pos: usize) {
        let (key, _value) = self.remove(pos);
        self.stats.expired += 1;
        cx.emit(key.as_bytes(), event::EXPIRED);
    }

    #[inline]
    pub fn key(&self, pos: usize) -> &[u8] {
        self.slots[pos].key.as_bytes()
    }

    #[inline]
    pub fn value(&self, pos: usize) -> &Value {
        &self.slots[pos].value
    }

    #[inline]
    pub fn value_mut(&mut self, pos: usize) -> &mut Value {
        &mut self.slots[pos].value
    }

    /// Replaces the value at `pos`, returning the old one.
    pub fn replace(&mut self, pos: usize, value: Value) -> Value {
        std::mem::replace(&mut self.slots[pos].value, value)
    }

    /// Seconds since the key was last accessed.
    pub fn idle_secs(&self, pos: usize, cx: &OpCtx<'_>) -> u32 {
        cx.lru_clock().wrapping_sub(self.slots[pos].lru)
    }

    /// Sets what OBJECT IDLETIME / OBJECT FREQ report for the key at `pos`, as Redis's
    /// `objectSetLRUOrLFU` (RESTORE IDLETIME/FREQ, a snapshot's IDLE/FREQ records): the
    /// idle time under LRU policies, the LFU counter under LFU ones; the other is ignored.
    pub fn set_access(
        &mut self,
        pos: usize,
        cx: &OpCtx<'_>,
        idle_secs: Option<u64>,
        freq: Option<u8>,
    ) {
        if self.tracking.is_lfu() {
            if let Some(f) = freq {
                self.slots[pos].lru = (crate::evict::lfu_minutes(cx.now_ms) << 8) | u32::from(f);
            }
        } else if let Some(idle) = idle_secs {
            let then = cx.now_ms.saturating_sub(idle.saturating_mul(1000));
            self.slots[pos].lru = crate::evict::lru_clock(then);
        }
    }

    /// Records an access to the key at `pos` (LRU clock, or LFU counter under LFU).
    pub fn touch(&mut self, pos: usize, cx: &OpCtx<'_>) {
        self.slots[pos].lru = self.tracking.accessed(self.slots[pos].lru, cx.now_ms);
    }

    /// Inserts a key known to be absent and announces it (`new`, as Redis's dbAdd); returns
    /// its position.
    pub fn insert(&mut self, cx: &OpCtx<'_>, hash: u64, key: &[u8], value: Value) -> usize {
        let pos = self.insert_quiet(cx, hash, key, value);
        cx.emit(key, event::NEW);
        pos
    }

    /// Inserts a key known to be absent without announcing it (loading a snapshot, which is
    /// not a change); returns its position.
    pub fn insert_quiet(&mut self, cx: &OpCtx<'_>, hash: u64, key: &[u8], value: Value) -> usize {
        debug_assert!(self.find(hash, key).is_none());
        let pos = self.slots.len();
        debug_assert!(pos < u32::MAX as usize);
        self.slots.push(Slot {
            key: CompactBytes::new(key),
            value,
            lru: self.tracking.fresh(cx.now_ms),
            exp: NO_EXPIRE,
        });
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, pos as u32, |&i| {
            Self::hash_of(hasher, slots[i as usize].key.as_bytes())
        });
        pos
    }

    /// Removes the key at `pos` and returns it with its value. The last slot moves into `pos`.
    pub fn remove(&mut self, pos: usize) -> (CompactBytes, Value) {
        let hash = Self::hash_of(&self.hasher, self.slots[pos].key.as_bytes());
        if let Ok(entry) = self.index.find_entry(hash, |&i| i as usize == pos) {
            entry.remove();
        } else {
            debug_assert!(false, "slot missing from index");
        }
        self.clear_expire(pos);
        let last = self.slots.len() - 1;
        let slot = self.slots.swap_remove(pos);
        if pos != last {
            let moved_hash = Self::hash_of(&self.hasher, self.slots[pos].key.as_bytes());
            if let Some(i) = self.index.find_mut(moved_hash, |&i| i as usize == last) {
                *i = pos as u32;
            }
            let e = self.slots[pos].exp;
            if e != NO_EXPIRE {
                self.expires[e as usize].0 = pos as u32;
            }
        }
        (slot.key, slot.value)
    }

    /// Expiry time of the key at `pos`, in ms since the epoch.
    #[inline]
    pub fn expire_at(&self, pos: usize) -> Option<u64> {
        let e = self.slots[pos].exp;
        (e != NO_EXPIRE).then(|| self.expires[e as usize].1)
    }

    /// Sets or clears the expiry time of the key at `pos`.
    pub fn set_expire(&mut self, pos: usize, at_ms: Option<u64>) {
        match at_ms {
            None => self.clear_expire(pos),
            Some(at) => {
                let e = self.slots[pos].exp;
                if e == NO_EXPIRE {
                    self.slots[pos].exp = self.expires.len() as u32;
                    self.expires.push((pos as u32, at));
                } else {
                    self.expires[e as usize].1 = at;
                }
            }
        }
    }

    fn clear_expire(&mut self, pos: usize) {
        let e = self.slots[pos].exp;
        if e == NO_EXPIRE {
            return;
        }
        self.slots[pos].exp = NO_EXPIRE;
        self.expires.swap_remove(e as usize);
        if let Some(&(moved_pos, _)) = self.expires.get(e as usize) {
            self.slots[moved_pos as usize].exp = e;
        }
    }

    /// Sets `key` to `value`: overwrites (dropping its TTL unless `keep_ttl`) or inserts.
    /// Returns the position and the previous value, if any.
    pub fn upsert(
        &mut self,
        cx: &OpCtx<'_>,
        hash: u64,
        key: &[u8],
        value: Value,
        keep_ttl: bool,
    ) -> (usize, Option<Value>) {
        match self.lookup(cx, hash, key) {
            Some(pos) => {
                let old = self.replace(pos, value);
                if !keep_ttl {
                    self.clear_expire(pos);
                }
                self.touch(pos, cx);
                (pos, Some(old))
            }
            None => (self.insert(cx, hash, key, value), None),
        }
    }

    /// Active expiry on this shard, as Redis's cycle: rounds of up to 20 volatile keys, taken
    /// in turn from where the previous call stopped (Redis's `expires_cursor`), removing those
    /// that are due; a set of at most 20 is swept whole. Stops once the last 8 rounds (160
    /// keys) were at most a quarter expired, so that one lucky round of 20 does not end a
    /// pass over a large, mostly stale set.
    /// Returns the number of keys removed and whether more rounds are wanted (all `rounds`
    /// ran without reaching the target).
    pub fn expire_sample(&mut self, cx: &OpCtx<'_>, rounds: usize) -> (usize, bool) {
        const WINDOW: usize = 8;
        let mut removed = 0;
        let mut recent = [(0usize, 0usize); WINDOW];
        for round in 0..rounds {
            let total = self.expires.len();
            if total <= 20 {
                // A small set: one pass over all of it leaves nothing stale.
                let mut i = 0;
                while i < self.expires.len() {
                    let (pos, at) = self.expires[i];
                    if at <= cx.now_ms {
                        self.expire_now(cx, pos as usize);
                        removed += 1;
                    } else {
                        i += 1;
                    }
                }
                return (removed, false);
            }
            let n = 20;
            let mut due = 0;
            for _ in 0..n {
                if self.expires.is_empty() {
                    break;
                }
                if self.expire_cursor >= self.expires.len() {
                    self.expire_cursor = 0;
                }
                let (pos, at) = self.expires[self.expire_cursor];
                if at <= cx.now_ms {
                    // The last entry moves into this place: the cursor stays to check it.
                    self.expire_now(cx, pos as usize);
                    due += 1;
                } else {
                    self.expire_cursor += 1;
                }
            }
            removed += due;
            recent[round % WINDOW] = (n, due);
            if round + 1 >= WINDOW {
                let (seen, expired) = recent.iter().fold((0, 0), |(a, b), &(n, d)| (a + n, b + d));
                if expired * 4 <= seen {
                    return (removed, false);
                }
            }
        }
        (removed, true)
    }

    /// Gives memory back after mass deletions.
    pub fn maybe_shrink(&mut self) {
        self.slots.shrink();
        if self.index.capacity() > 64 && self.index.len() < self.index.capacity() / 4 {
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.index.shrink_to(slots.len(), |&i| {
                Self::hash_of(hasher, slots[i as usize].key.as_bytes())
            });
        }
        if self.expires.capacity() > 64 && self.expires.len() < self.expires.capacity() / 4 {
            self.expires.shrink_to(self.expires.len() * 2);
        }
    }

    /// SCAN step within this shard. `top` is one past the next position to visit (0 means
    /// start from the top). Calls `f` for live keys at positions below `top`, downwards, until
    /// `budget` positions are visited; returns the new `top` (0 when the shard is done).
    pub fn scan(
        &self,
        top: usize,
        budget: usize,
        now_ms: u64,
        mut f: impl FnMut(&[u8], &Value),
    ) -> usize {
        let mut p = if top == 0 || top > self.slots.len() {
            self.slots.len()
        } else {
            top
        };
        let mut visited = 0;
        while p > 0 && visited < budget {
            p -= 1;
            visited += 1;
            if !self.is_expired(p, now_ms) {
                let s = &self.slots[p];
                f(s.key.as_bytes(), &s.value);
            }
        }
        p
    }

    /// Calls `f` for every live key.
    pub fn for_each(&self, now_ms: u64, mut f: impl FnMut(&[u8], &Value)) {
        for p in 0..self.slots.len() {
            if !self.is_expired(p, now_ms) {
                f(self.slots[p].key.as_bytes(), &self.slots[p].value);
            }
        }
    }

    /// A random key position (possibly expired), or None when empty.
    pub fn random_pos(&self, rng: &mut impl Rng) -> Option<usize> {
        (!self.slots.is_empty()).then(|| rng.gen_range(0..self.slots.len()))
    }

    /// Whether the key at `pos` is past its expiry time.
    pub fn expired_at(&self, pos: usize, now_ms: u64) -> bool {
        self.is_expired(pos, now_ms)
    }

    /// Approximate bytes used by this shard's tables and values.
    pub fn memory_estimate(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.index.capacity() * 5
            + self.expires.capacity() * 16
            + self
                .slots
                .iter()
                .map(|s| s.key.heap_size() + s.value.heap_size())
                .sum::<usize>()
    }

    /// Bytes attributable to the key at `pos` (MEMORY USAGE).
    pub fn usage_of(&self, pos: usize) -> usize {
        let s = &self.slots[pos];
        std::mem::size_of::<Slot>()
            + 8
            + s.key.heap_size()
            + s.value.heap_size()
            + if s.exp != NO_EXPIRE { 16 } else { 0 }
    }

    /// Sum of remaining TTLs (ms) of live volatile keys, for INFO keyspace's avg_ttl.
    pub fn ttl_sum(&self, now_ms: u64) -> (u64, u64) {
        let mut sum = 0u64;
        let mut n = 0u64;
        for &(_, at) in &self.expires {
            if at > now_ms {
                sum += at - now_ms;
                n += 1;
            }
        }
        (sum, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_56_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 56);
    }
}
