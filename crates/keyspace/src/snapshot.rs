//! Point-in-time snapshots that do not stop the world: shard-granular copy-before-write.
//!
//! At the snapshot instant E the caller holds the world lock exclusively and calls
//! [`Keyspace::snapshot_begin`], which marks every non-empty shard of every database
//! *pending* (the mark records the database the shard belonged to at E). From then on a
//! pending shard is written out, exactly once, by whoever locks it first:
//!
//! - any command, the active expire cycle, eviction, EXEC or a script: [`Db::lock`] (and
//!   everything built on it) sees the mark after taking the shard's lock and hands the
//!   untouched shard to the [`ShardWriter`] before returning the guard, so the change it is
//!   about to make lands after the shard's state at E has been written;
//! - FLUSHALL / FLUSHDB: [`Keyspace::flush`] writes the pending shards of the databases it is
//!   about to drop;
//! - otherwise the snapshot's own thread, through [`Keyspace::snapshot_step`], one shard per
//!   call, holding the world lock shared only for that shard.
//!
//! SWAPDB needs nothing: marks travel with the shards, and the database index they record is
//! the one at E. The file therefore holds exactly the keyspace at E, and no copy of it ever
//! exists: what is in flight is what the writer buffers for the shards being written.
//!
//! When no snapshot runs the whole cost on the lock path is one relaxed load of the shard's
//! mark. A mark is set under the world lock held exclusively and cleared under the shard's
//! lock, and every shard lock is taken under the world lock, so that load is ordered by
//! locks already held.

use std::any::Any;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::shard::Shard;
use crate::{Db, Dbs, Keyspace};

/// Receives the shards of a snapshot, each exactly once, while the shard's lock is held and
/// before anything has changed in it since the snapshot instant.
pub trait ShardWriter: Any + Send + Sync {
    /// Serializes the live keys of `shard`, which belonged to database `db` at the instant.
    /// Must not lock any shard. Errors are the writer's to record: the caller goes on.
    fn write_shard(&self, db: usize, shard: &Shard);
}

/// The pending marks of one database's shards: 0 when not pending, else 1 + the database
/// index at the snapshot instant.
pub(crate) struct Marks {
    pending: Box<[AtomicU32]>,
    hub: Arc<Hub>,
}

impl Marks {
    pub(crate) fn new(shards: usize, hub: Arc<Hub>) -> Self {
        Marks {
            pending: (0..shards).map(|_| AtomicU32::new(0)).collect(),
            hub,
        }
    }

    /// Whether shard `i` waits to be written: the one load the lock path pays.
    #[inline(always)]
    pub(crate) fn is_pending(&self, i: usize) -> bool {
        self.pending[i].load(Ordering::Relaxed) != 0
    }

    /// Writes shard `i` (whose lock the caller holds) if it is still pending, then clears
    /// its mark.
    #[cold]
    #[inline(never)]
    pub(crate) fn settle(&self, i: usize, shard: &Shard) {
        let mark = self.pending[i].load(Ordering::Relaxed);
        if mark == 0 {
            return;
        }
        let writer = self.hub.writer.lock().clone();
        if let Some(w) = writer {
            w.write_shard(mark as usize - 1, shard);
        }
        self.pending[i].store(0, Ordering::Release);
        self.hub.remaining.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Db {
    /// Locks shard `i` without writing it out first (the snapshot's own passes).
    fn lock_raw(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock()
    }

    /// Writes every pending shard of this database (before it is dropped by a flush).
    pub(crate) fn settle_all(&self) {
        for i in 0..self.shards.len() {
            if self.marks.is_pending(i) {
                drop(self.lock(i));
            }
        }
    }
}

/// Bookkeeping of the snapshot in progress and the last ones, and of loading at start-up,
/// kept here for the snapshot's owner and read by INFO persistence. Times are Unix
/// milliseconds.
pub struct Status {
    /// What the snapshot in progress is for (the owner's code; 0 when none).
    pub kind: AtomicU8,
    pub started_ms: AtomicU64,
    /// Keys (expired ones included) at the snapshot instant.
    pub keys_total: AtomicU64,
    pub keys_done: AtomicU64,
    /// Serialized bytes held in memory right now, and the most held at once during the
    /// current snapshot (what INFO reports where Redis reports copy-on-write sizes).
    pub in_flight: AtomicU64,
    pub in_flight_peak: AtomicU64,
    /// A snapshot asked for while another ran (BGSAVE SCHEDULE), started by the cron.
    pub scheduled: AtomicBool,
    /// While set, the snapshot thread writes no shard (commands still write those they
    /// reach): keeps a snapshot in progress for as long as a test needs.
    pub hold: AtomicBool,
    /// The last finished snapshot to a file: whether it succeeded, how long it took
    /// (seconds, -1 before the first), the most bytes it held in memory at once; and how
    /// many have succeeded.
    pub last_ok: AtomicBool,
    pub last_secs: AtomicI64,
    pub last_peak: AtomicU64,
    pub saves: AtomicU64,
    /// Loading at start-up.
    pub loading: AtomicBool,
    pub loading_started_ms: AtomicU64,
    pub loading_total_bytes: AtomicU64,
    pub loading_loaded_bytes: AtomicU64,
    pub loading_rdb_used_mem: AtomicU64,
    /// Keys loaded and keys skipped as expired by the last load.
    pub loaded_keys: AtomicU64,
    pub loaded_expired: AtomicU64,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            kind: AtomicU8::new(0),
            started_ms: AtomicU64::new(0),
            keys_total: AtomicU64::new(0),
            keys_done: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            in_flight_peak: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            hold: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_secs: AtomicI64::new(-1),
            last_peak: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            loading: AtomicBool::new(false),
            loading_started_ms: AtomicU64::new(0),
            loading_total_bytes: AtomicU64::new(0),
            loading_loaded_bytes: AtomicU64::new(0),
            loading_rdb_used_mem: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
        }
    }
}

impl Status {
    /// Counts `n` more serialized bytes held in memory.
    pub fn hold(&self, n: u64) {
        let now = self.in_flight.fetch_add(n, Ordering::Relaxed) + n;
        self.in_flight_peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Counts `n` held bytes as released.
    pub fn release(&self, n: u64) {
        self.in_flight.fetch_sub(n, Ordering::Relaxed);
    }
}

/// One keyspace's snapshot state: the writer of the snapshot in progress, if any, how many
/// shards it still waits for, and the wake-up of the thread that drives it.
#[derive(Default)]
pub struct Hub {
    writer: Mutex<Option<Arc<dyn ShardWriter>>>,
    remaining: AtomicUsize,
    /// From the instant until the owner releases the snapshot (after its file is complete).
    running: AtomicBool,
    /// A snapshot has begun that no thread drives yet.
    to_drive: Mutex<bool>,
    wake: Condvar,
    pub status: Status,
}

/// What a snapshot's writer learns at the instant: per database, (keys, keys with a TTL),
/// counting expired keys not yet reclaimed (the RESIZEDB hint).
#[derive(Clone, Debug, Default)]
pub struct SnapshotStart {
    pub sizes: Vec<(u64, u64)>,
}

/// A snapshot is already in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotBusy;

impl Keyspace {
    /// The snapshot state of this keyspace.
    pub fn snapshots(&self) -> &Hub {
        &self.snapshots
    }

    /// The snapshot state, shared (for a writer that counts its progress there).
    pub fn snapshot_hub(&self) -> Arc<Hub> {
        self.snapshots.clone()
    }

    /// Whether a snapshot is in progress.
    pub fn snapshot_running(&self) -> bool {
        self.snapshots.running.load(Ordering::Acquire)
    }

    /// The snapshot instant: the caller holds the world lock exclusively (`dbs`). Marks every
    /// non-empty shard pending for `writer` and returns the sizes at this instant.
    pub fn snapshot_begin(
        &self,
        dbs: &mut Dbs,
        writer: Arc<dyn ShardWriter>,
    ) -> Result<SnapshotStart, SnapshotBusy> {
        let hub = &self.snapshots;
        if hub.running.swap(true, Ordering::AcqRel) {
            return Err(SnapshotBusy);
        }
        *hub.writer.lock() = Some(writer);
        let mut sizes = Vec::with_capacity(dbs.len());
        let mut pending = 0;
        let mut total = 0;
        for (index, db) in dbs.dbs.iter().enumerate() {
            let (mut keys, mut volatile) = (0u64, 0u64);
            for i in 0..db.shards.len() {
                let s = db.lock_raw(i);
                if s.is_empty() {
                    continue;
                }
                keys += s.len() as u64;
                volatile += s.volatile_len() as u64;
                db.marks.pending[i].store(index as u32 + 1, Ordering::Relaxed);
                pending += 1;
            }
            total += keys;
            sizes.push((keys, volatile));
        }
        hub.remaining.store(pending, Ordering::Release);
        *hub.to_drive.lock() = true;
        hub.wake.notify_all();
        let st = &hub.status;
        st.keys_total.store(total, Ordering::Relaxed);
        st.keys_done.store(0, Ordering::Relaxed);
        st.in_flight.store(0, Ordering::Relaxed);
        st.in_flight_peak.store(0, Ordering::Relaxed);
        Ok(SnapshotStart { sizes })
    }

    /// Writes the next pending shard, holding the world lock shared for that shard only.
    /// Returns false once no shard is left (every shard has been written, by this thread or
    /// by a command that got there first).
    pub fn snapshot_step(&self) -> bool {
        let hub = &self.snapshots;
        if hub.remaining.load(Ordering::Acquire) == 0 {
            return false;
        }
        {
            let access = self.shared();
            for d in 0..access.len() {
                let db = access.db(d);
                for i in 0..db.shards.len() {
                    if db.marks.pending[i].load(Ordering::Acquire) != 0 {
                        drop(db.lock(i));
                        return true;
                    }
                }
            }
        }
        // No mark left: a command may still be between clearing the last mark and counting
        // it; that is a few instructions.
        while hub.remaining.load(Ordering::Acquire) != 0 {
            std::thread::yield_now();
        }
        false
    }

    /// Waits up to `timeout` for a snapshot that no thread drives yet; true when there is
    /// one (the caller then drives it).
    pub fn snapshot_wait(&self, timeout: Duration) -> bool {
        let hub = &self.snapshots;
        let mut to_drive = hub.to_drive.lock();
        if !*to_drive {
            hub.wake.wait_for(&mut to_drive, timeout);
        }
        std::mem::take(&mut *to_drive)
    }

    /// Writes every shard still pending ([`Keyspace::snapshot_step`] until none is left)
    /// and returns the snapshot's writer, for its owner to finish the output. The snapshot
    /// stays in progress until [`Keyspace::snapshot_release`].
    pub fn snapshot_drive(&self) -> Option<Arc<dyn ShardWriter>> {
        while self.snapshot_step() {}
        self.snapshots.writer.lock().take()
    }

    /// The writer of the snapshot in progress, until its shards are all written.
    pub fn snapshot_writer(&self) -> Option<Arc<dyn ShardWriter>> {
        self.snapshots.writer.lock().clone()
    }

    /// Ends the snapshot in progress: another may begin.
    pub fn snapshot_release(&self) {
        let hub = &self.snapshots;
        debug_assert_eq!(hub.remaining.load(Ordering::Acquire), 0);
        *hub.writer.lock() = None;
        hub.status.kind.store(0, Ordering::Relaxed);
        hub.running.store(false, Ordering::Release);
    }
}
