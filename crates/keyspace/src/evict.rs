//! Eviction (maxmemory): how key accesses are recorded (an LRU clock or Redis's LFU counter
//! in each slot's `lru` field), and picking keys to evict by policy — Redis's approximated
//! LRU/LFU/TTL with a pool of the best candidates seen in samples, or random picks.
//!
//! The slot's 32-bit `lru` field holds, as Redis's 24-bit one does, either the LRU clock
//! (seconds) or, under an LFU policy, `(minutes << 8) | counter`: a 16-bit time of the last
//! decrement in minutes and an 8-bit logarithmic access counter.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use rand::Rng;

use crate::compact::CompactBytes;
use crate::feed::event;
use crate::shard::{OpCtx, Shard};
use crate::{Access, Keyspace};

/// Counter of a new key under LFU (Redis's `LFU_INIT_VAL`), so it is not evicted at once.
pub const LFU_INIT_VAL: u32 = 5;

/// How accesses are recorded, shared by every shard of a keyspace: the LRU clock, or (under
/// an LFU maxmemory policy) the LFU counter with its log factor and decay time.
#[derive(Debug)]
pub struct Tracking {
    lfu: AtomicBool,
    log_factor: AtomicU32,
    decay_minutes: AtomicU32,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            lfu: AtomicBool::new(false),
            log_factor: AtomicU32::new(10),
            decay_minutes: AtomicU32::new(1),
        }
    }
}

impl Tracking {
    /// Sets the mode (`lfu`) and Redis's `lfu-log-factor` and `lfu-decay-time`.
    pub fn set(&self, lfu: bool, log_factor: u32, decay_minutes: u32) {
        self.log_factor.store(log_factor, Ordering::Relaxed);
        self.decay_minutes.store(decay_minutes, Ordering::Relaxed);
        self.lfu.store(lfu, Ordering::Relaxed);
    }

    #[inline]
    pub fn is_lfu(&self) -> bool {
        self.lfu.load(Ordering::Relaxed)
    }

    /// The `lru` field of a key created now.
    #[inline]
    pub(crate) fn fresh(&self, now_ms: u64) -> u32 {
        if self.is_lfu() {
            (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
        } else {
            lru_clock(now_ms)
        }
    }

    /// The `lru` field after an access (Redis's `updateLFU`, or the LRU clock).
    #[inline]
    pub(crate) fn accessed(&self, lru: u32, now_ms: u64) -> u32 {
        if self.is_lfu() {
            let counter = self.decayed(lru, now_ms);
            let counter = lfu_log_incr(
                counter,
                self.log_factor.load(Ordering::Relaxed),
                rand::thread_rng().gen::<f64>(),
            );
            (lfu_minutes(now_ms) << 8) | counter
        } else {
            lru_clock(now_ms)
        }
    }

    /// The LFU counter of an `lru` field after decay (Redis's `LFUDecrAndReturn`).
    pub fn decayed(&self, lru: u32, now_ms: u64) -> u32 {
        let decay = self.decay_minutes.load(Ordering::Relaxed);
        lfu_decr(lru, decay, now_ms)
    }
}

/// The LRU clock: seconds, wrapping.
#[inline]
pub(crate) fn lru_clock(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

/// Redis's `LFUGetTimeInMinutes`: minutes, 16 bits.
#[inline]
pub(crate) fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// Redis's `LFUDecrAndReturn`: the counter less one per `decay` minutes since the last
/// decrement time stored in the field.
pub fn lfu_decr(lru: u32, decay: u32, now_ms: u64) -> u32 {
    let ldt = (lru >> 8) & 0xffff;
    let counter = lru & 0xff;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let periods = elapsed.checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Redis's `LFULogIncr`: increments the 8-bit counter with probability
/// `1 / ((counter - LFU_INIT_VAL) * log_factor + 1)`; `r` is uniform in [0, 1).
pub fn lfu_log_incr(counter: u32, log_factor: u32, r: f64) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn from_name(name: &str) -> Option<Policy> {
        Some(match name {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => return None,
        })
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }
}

/// Size of the eviction pool (Redis's `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// A key sampled for eviction: higher `score` is evicted first (idle time, 255 minus the LFU
/// counter, or the inverse of the expiry time).
#[derive(Clone)]
struct Candidate {
    score: u64,
    db: usize,
    shard: usize,
    hash: u64,
    key: CompactBytes,
}

/// The eviction pool (Redis's `EvictionPoolLRU`): the best candidates sampled so far, in
/// ascending score. It outlives one eviction, so each eviction benefits from earlier samples.
#[derive(Default)]
pub struct Pool {
    entries: Vec<Candidate>,
}

impl Pool {
    /// Inserts a candidate where it belongs, dropping the worst one when full; a candidate
    /// worse than every entry of a full pool is not kept (Redis's `evictionPoolPopulate`).
    fn offer(&mut self, score: u64, make: impl FnOnce() -> Candidate) {
        let at = self.entries.partition_point(|c| c.score < score);
        if self.entries.len() >= POOL_SIZE {
            if at == 0 {
                return;
            }
            self.entries.remove(0);
            self.entries.insert(at - 1, make());
        } else {
            self.entries.insert(at, make());
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One eviction run: the shards that held candidates when it started, per database. Shards
/// found empty are dropped from it, so a run never revisits empty shards. A run may be kept
/// for later evictions (finding the shards locks every shard of every database); shards
/// that gained keys since are missed until a new run starts.
pub struct Run {
    policy: Policy,
    samples: usize,
    /// (db, shards with candidates).
    targets: Vec<(usize, Vec<usize>)>,
    /// Next database for the random policies (Redis's `next_db`).
    next_db: usize,
}

impl Run {
    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn samples(&self) -> usize {
        self.samples
    }
}

impl Keyspace {
    /// Replaces how accesses are recorded (CONFIG SET maxmemory-policy, lfu-*).
    pub fn set_tracking(&self, lfu: bool, log_factor: u32, decay_minutes: u32) {
        self.tracking.set(lfu, log_factor, decay_minutes);
    }

    /// Whether accesses are recorded as LFU counters.
    pub fn tracking_lfu(&self) -> bool {
        self.tracking.is_lfu()
    }

    /// Starts an eviction run: finds the shards holding keys the policy may evict.
    pub fn eviction_run(&self, access: &Access<'_>, policy: Policy, samples: usize) -> Run {
        let mut targets = Vec::new();
        for db in 0..access.len() {
            let d = access.db(db);
            let shards: Vec<usize> = (0..d.shard_count())
                .filter(|&i| {
                    let s = d.lock(i);
                    if policy.volatile() {
                        s.volatile_len() > 0
                    } else {
                        !s.is_empty()
                    }
                })
                .collect();
            if !shards.is_empty() {
                targets.push((db, shards));
            }
        }
        Run {
            policy,
            samples: samples.max(1),
            targets,
            next_db: 0,
        }
    }

    /// Evicts one key by the run's policy, announcing it as `evicted` on the change feed.
    /// Returns its estimated size in bytes, or None when no key can be evicted.
    pub fn evict_one(&self, access: &Access<'_>, pool: &mut Pool, run: &mut Run) -> Option<usize> {
        if run.policy == Policy::NoEviction {
            return None;
        }
        let mut rng = rand::thread_rng();
        if run.policy.random() {
            return self.evict_random(access, run, &mut rng);
        }
        loop {
            if run.targets.is_empty() {
                return None;
            }
            self.populate(access, pool, run, &mut rng);
            // Best first; entries whose key is gone are ghosts and are skipped.
            while let Some(c) = pool.entries.pop() {
                let cx = self.op_ctx(c.db);
                let mut s = access.db(c.db).lock(c.shard);
                let Some(pos) = s.find(c.hash, c.key.as_bytes()) else {
                    continue;
                };
                if run.policy.volatile() && s.expire_at(pos).is_none() {
                    continue;
                }
                self.evicted.fetch_add(1, Ordering::Relaxed);
                return Some(s.evict(&cx, pos));
            }
        }
    }

    /// Samples `run.samples` keys of each database into the pool (Redis samples each
    /// database's dictionary; here shards are visited from a random one until enough keys
    /// were sampled).
    fn populate(&self, access: &Access<'_>, pool: &mut Pool, run: &mut Run, rng: &mut impl Rng) {
        let now = self.now_ms();
        let tracking = &self.tracking;
        let policy = run.policy;
        let wanted = run.samples;
        for (db, shards) in run.targets.iter_mut() {
            let d = access.db(*db);
            let mut sampled = 0;
            let start = rng.gen_range(0..shards.len());
            let mut empty = Vec::new();
            for k in 0..shards.len() {
                let i = (start + k) % shards.len();
                let shard = shards[i];
                let s = d.lock(shard);
                let n = s.sample(policy, wanted - sampled, rng, |pos| {
                    let score = match policy {
                        Policy::VolatileTtl => u64::MAX - s.expire_at(pos).unwrap_or(u64::MAX),
                        Policy::AllKeysLfu | Policy::VolatileLfu => {
                            255 - u64::from(tracking.decayed(s.lru_of(pos), now).min(255))
                        }
                        _ => u64::from(lru_clock(now).wrapping_sub(s.lru_of(pos))),
                    };
                    pool.offer(score, || {
                        let key = s.key(pos);
                        Candidate {
                            score,
                            db: *db,
                            shard,
                            hash: self.hash(key),
                            key: CompactBytes::new(key),
                        }
                    });
                });
                if n == 0 {
                    empty.push(i);
                }
                sampled += n;
                if sampled >= wanted {
                    break;
                }
            }
            empty.sort_unstable();
            for i in empty.into_iter().rev() {
                shards.swap_remove(i);
            }
        }
        run.targets.retain(|(_, shards)| !shards.is_empty());
    }

    /// allkeys-random / volatile-random: a random key of the next database in turn.
    fn evict_random(
        &self,
        access: &Access<'_>,
        run: &mut Run,
        rng: &mut impl Rng,
    ) -> Option<usize> {
        while !run.targets.is_empty() {
            run.next_db = (run.next_db + 1) % run.targets.len();
            let (db, shards) = &mut run.targets[run.next_db];
            let cx = self.op_ctx(*db);
            while !shards.is_empty() {
                let i = rng.gen_range(0..shards.len());
                let mut s = access.db(*db).lock(shards[i]);
                let mut pick = None;
                s.sample(run.policy, 1, rng, |pos| pick = Some(pos));
                match pick {
                    Some(pos) => {
                        self.evicted.fetch_add(1, Ordering::Relaxed);
                        return Some(s.evict(&cx, pos));
                    }
                    None => {
                        drop(s);
                        shards.swap_remove(i);
                    }
                }
            }
            run.targets.swap_remove(run.next_db);
        }
        None
    }
}

impl Shard {
    /// Calls `f` with up to `n` random positions of keys the policy may evict (keys with a
    /// TTL for volatile policies); returns how many were given (0: none here).
    fn sample(
        &self,
        policy: Policy,
        n: usize,
        rng: &mut impl Rng,
        mut f: impl FnMut(usize),
    ) -> usize {
        let (total, volatile) = if policy.volatile() {
            (self.expires.len(), true)
        } else {
            (self.slots.len(), false)
        };
        if total == 0 {
            return 0;
        }
        let n = n.min(total);
        for _ in 0..n {
            let i = rng.gen_range(0..total);
            f(if volatile {
                self.expires[i].0 as usize
            } else {
                i
            });
        }
        n
    }

    /// The raw `lru` field of the key at `pos`.
    #[inline]
    fn lru_of(&self, pos: usize) -> u32 {
        self.slots[pos].lru
    }

    /// Removes the key at `pos` as evicted (announced as `evicted`); returns its estimated
    /// size in bytes.
    fn evict(&mut self, cx: &OpCtx<'_>, pos: usize) -> usize {
        let bytes = self.usage_of(pos);
        let (key, value) = self.remove(pos);
        cx.emit(key.as_bytes(), event::EVICTED);
        drop(value);
        bytes
    }

    /// The LFU counter of the key at `pos` after decay (OBJECT FREQ), when accesses are
    /// recorded as LFU counters.
    pub fn lfu_freq(&self, pos: usize, now_ms: u64) -> u32 {
        self.tracking.decayed(self.slots[pos].lru, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_incr_is_certain_below_init_and_saturates() {
        assert_eq!(lfu_log_incr(0, 10, 0.999), 1);
        assert_eq!(lfu_log_incr(5, 10, 0.999), 6);
        // Past the initial value, the chance is 1 / (base * factor + 1).
        assert_eq!(lfu_log_incr(6, 10, 0.05), 7);
        assert_eq!(lfu_log_incr(6, 10, 0.2), 6);
        assert_eq!(lfu_log_incr(255, 0, 0.0), 255);
    }

    #[test]
    fn decay_is_one_per_period() {
        let t0 = 1_700_000_000_000u64;
        let lru = (lfu_minutes(t0) << 8) | 20;
        assert_eq!(lfu_decr(lru, 1, t0), 20);
        assert_eq!(lfu_decr(lru, 1, t0 + 3 * 60_000), 17);
        assert_eq!(lfu_decr(lru, 2, t0 + 3 * 60_000), 19);
        assert_eq!(lfu_decr(lru, 0, t0 + 300 * 60_000), 20);
        assert_eq!(lfu_decr(lru, 1, t0 + 300 * 60_000), 0);
    }

    #[test]
    fn pool_keeps_the_best() {
        let mut pool = Pool::default();
        for score in (0..40u64).rev() {
            pool.offer(score, || Candidate {
                score,
                db: 0,
                shard: 0,
                hash: 0,
                key: CompactBytes::new(b"k"),
            });
        }
        let scores: Vec<u64> = pool.entries.iter().map(|c| c.score).collect();
        assert_eq!(scores, (24..40).collect::<Vec<_>>());
    }
}
