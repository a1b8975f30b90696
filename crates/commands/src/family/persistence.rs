//! Persistence commands: SAVE, BGSAVE, DUMP and RESTORE, plus what the server does around
//! them: background snapshots, save points, saving on SHUTDOWN, loading at start-up, and
//! the RDB lines of INFO persistence. The RDB format itself lives in the `persistence`
//! crate; the snapshot mechanism in `keyspace::snapshot`.
//!
//! # Background snapshots
//!
//! A snapshot is taken at one instant, under the world lock held exclusively for as long
//! as it takes to mark every shard pending (no keys are copied); from then on commands run
//! as usual and each shard is written out, exactly as it was at that instant, by the first
//! thread to lock it — a command about to change it, or the snapshot thread that walks the
//! shards one by one (`keyspace::snapshot`). The output is an RDB stream whose chunks each
//! begin with SELECTDB, so shards reached in any order interleave safely. One snapshot runs
//! at a time.
//!
//! [`begin_background_save`] is the entry point for code that needs a snapshot as a stream
//! (a replica's full sync, an AOF rewrite's RDB preamble):
//!
//! ```ignore
//! let handle = begin_background_save(&server, Box::new(socket_writer), || {
//!     // Runs at the snapshot instant, world lock held exclusively: whatever is attached
//!     // here (a replication stream) starts exactly after the snapshot.
//! })?;
//! let summary = handle.finished().await?; // or handle.wait() off the runtime
//! ```
//!
//! The writer receives the whole RDB stream (header, chunks, EOF, checksum) from whichever
//! thread writes a shard, under that shard's lock: it should not block for long (buffer it
//! or hand it to a channel). Completion needs the snapshot thread that [`snapshot_driver`]
//! runs (started by `server::start`). BGSAVE uses the same path with a temporary file that
//! is synced and renamed over `dir/dbfilename` once complete.
//!
//! SAVE writes the whole file while holding the world lock, as Redis's SAVE blocks.

use std::any::Any;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keyspace::snapshot::ShardWriter;
use keyspace::{event, Access, Dbs, Event, Shard};
use parking_lot::{Condvar, Mutex};
use persistence::rdb::{LoadOptions, SaveOptions, Version};
use persistence::snapshot::{RdbStream, TempFile};
use persistence::{dump, snapshot};

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::server::{unix_ms, Server};
use crate::spec::{flag::*, CommandSpec, Keys};

/// RESTORE's keyspace event.
const RESTORE_EVENT: Event = Event {
    name: "restore",
    class: keyspace::class::GENERIC,
};

/// The RDB version of files and DUMP payloads: 10, which every Redis from 7.0 reads (files
/// holding hash field TTLs are marked 12, as they must be).
pub const RDB_VERSION: Version = Version::V10;

const BGSAVE_IN_PROGRESS: CmdError = CmdError::new("ERR Background save already in progress");
const OTHER_CHILD: CmdError = CmdError::new(
    "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
);

/// What the snapshot in progress is for (`keyspace::snapshot::Status::kind`).
pub mod kind {
    /// BGSAVE or a save point: a file.
    pub const RDB: u8 = 1;
    /// A stream for another consumer ([`super::begin_background_save`]).
    pub const STREAM: u8 = 2;
}

/// Seconds before a save point retries after a failed background save (Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`).
const RETRY_DELAY_S: u64 = 5;

pub static COMMANDS: &[CommandSpec] = &[
    command!("save", 1, ADMIN | NOSCRIPT | NO_MULTI | EXCLUSIVE, Keys::NONE, save,
        acl: &["admin", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(N) where N is the total number of keys in all databases",
        summary: "Synchronously saves the database(s) to disk."),
    command!("bgsave", -1, ADMIN | NOSCRIPT | EXCLUSIVE, Keys::NONE, bgsave,
        acl: &["admin", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(1)",
        summary: "Asynchronously saves the database(s) to disk."),
    command!("dump", 2, READONLY, Keys::ONE, dump_cmd,
        acl: &["keyspace", "read"], group: "generic", since: "2.6.0",
        complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
        summary: "Returns a serialized representation of the value stored at a key."),
    command!("restore", -4, WRITE | DENYOOM, Keys::ONE, restore,
        acl: &["keyspace", "write", "slow", "dangerous"], group: "generic", since: "2.6.0",
        complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
        summary: "Creates a key from the serialized representation of a value."),
];

/// Where snapshots go: `dbfilename` inside `dir` (the process has already changed into
/// `dir`, so a relative `dir` is not applied twice).
pub fn rdb_path(server: &Server) -> PathBuf {
    let file = server
        .config
        .get("dbfilename")
        .unwrap_or_else(|| "dump.rdb".into());
    let dir = server.config.get("dir").unwrap_or_else(|| ".".into());
    let dir = PathBuf::from(dir);
    if dir.is_absolute() {
        dir.join(file)
    } else {
        PathBuf::from(file)
    }
}

fn save_options(server: &Server) -> SaveOptions {
    SaveOptions {
        version: RDB_VERSION,
        compress: server.config.get_bool("rdbcompression"),
        checksum: server.config.get_bool("rdbchecksum"),
        redis_ver: crate::REDIS_VERSION.to_string(),
        used_mem: crate::family::info::used_memory(server),
        aof_base: false,
        ctime: unix_ms() / 1000,
    }
}

// ----- background snapshots ------------------------------------------------------------

/// A finished background snapshot: keys and bytes written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveSummary {
    pub keys: u64,
    pub bytes: u64,
}

#[derive(Default)]
struct Done {
    result: Mutex<Option<Result<SaveSummary, String>>>,
    cv: Condvar,
    notify: tokio::sync::Notify,
}

impl Done {
    fn set(&self, r: Result<SaveSummary, String>) {
        *self.result.lock() = Some(r);
        self.cv.notify_all();
        self.notify.notify_waiters();
    }
}

/// How the owner of a background snapshot learns its end.
#[derive(Clone)]
pub struct SaveHandle {
    done: Arc<Done>,
}

impl SaveHandle {
    /// The outcome, once the snapshot has ended.
    pub fn try_result(&self) -> Option<Result<SaveSummary, String>> {
        self.done.result.lock().clone()
    }

    /// Blocks the calling thread until the snapshot ends (not on the async runtime).
    pub fn wait(&self) -> Result<SaveSummary, String> {
        let mut r = self.done.result.lock();
        while r.is_none() {
            self.done.cv.wait(&mut r);
        }
        r.clone().unwrap_or_else(|| Err("snapshot lost".into()))
    }

    /// Waits asynchronously until the snapshot ends.
    pub async fn finished(&self) -> Result<SaveSummary, String> {
        loop {
            let notified = self.done.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.try_result() {
                return r;
            }
            notified.await;
        }
    }
}

/// A background snapshot in progress: its RDB stream, the file it completes (BGSAVE), and
/// who waits for it.
struct Job {
    stream: RdbStream,
    file: Mutex<Option<TempFile>>,
    done: Arc<Done>,
    /// The write counter at the instant (becomes `dirty_at_save` once the file is saved).
    dirty: u64,
    started: Instant,
}

impl ShardWriter for Job {
    fn write_shard(&self, db: usize, shard: &Shard) {
        self.stream.write_shard(db, shard);
    }
}

impl Job {
    /// Completes the output once every shard is written; records a file save's outcome.
    fn finish(&self, server: &Server) -> Result<SaveSummary, String> {
        let file = self.file.lock().take();
        let is_file = file.is_some();
        let result = match (self.stream.finish(), file) {
            (Ok(mut sum), Some(mut f)) => match f.commit(&mut sum) {
                Ok(()) => Ok(sum),
                Err(e) => {
                    f.discard();
                    Err(e)
                }
            },
            (Ok(sum), None) => Ok(sum),
            (Err(e), f) => {
                if let Some(f) = f {
                    f.discard();
                }
                Err(e)
            }
        };
        let st = &server.keyspace.snapshots().status;
        let secs = self.started.elapsed().as_secs() as i64;
        match &result {
            Ok(sum) => {
                if is_file {
                    server.dirty_at_save.store(self.dirty, Ordering::Relaxed);
                    server.last_save.store(unix_ms() / 1000, Ordering::Relaxed);
                    st.saves.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        "Background saving terminated with success ({} keys, {} bytes, {} ms)",
                        sum.keys,
                        sum.bytes,
                        self.started.elapsed().as_millis()
                    );
                }
            }
            Err(e) => tracing::warn!("Background saving error: {e}"),
        }
        if is_file {
            st.last_ok.store(result.is_ok(), Ordering::Relaxed);
            st.last_secs.store(secs, Ordering::Relaxed);
            st.last_peak
                .store(st.in_flight_peak.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        result
            .map(|s| SaveSummary {
                keys: s.keys,
                bytes: s.bytes,
            })
            .map_err(|e| e.to_string())
    }
}

/// Begins a snapshot at this instant; the caller holds the world lock exclusively (`dbs`).
fn start_job(
    server: &Server,
    dbs: &mut Dbs,
    out: Box<dyn Write + Send>,
    file: Option<TempFile>,
    kind: u8,
    at_start: impl FnOnce(),
) -> Result<SaveHandle, CmdError> {
    let ks = &server.keyspace;
    let done = Arc::new(Done::default());
    let job = Arc::new(Job {
        stream: RdbStream::new(out, save_options(server), ks.now_ms(), ks.snapshot_hub()),
        file: Mutex::new(file),
        done: done.clone(),
        dirty: ks.feed.dirty(),
        started: Instant::now(),
    });
    let start = match ks.snapshot_begin(dbs, job.clone()) {
        Ok(s) => s,
        Err(_) => {
            if let Some(f) = job.file.lock().take() {
                f.discard();
            }
            return Err(BGSAVE_IN_PROGRESS);
        }
    };
    job.stream.set_sizes(&start);
    let st = &ks.snapshots().status;
    st.kind.store(kind, Ordering::Relaxed);
    st.started_ms.store(unix_ms(), Ordering::Relaxed);
    at_start();
    Ok(SaveHandle { done })
}

/// Begins a background snapshot written to `out` as an RDB stream (see the module docs).
/// Takes the world lock exclusively for the instant, so the caller must hold no part of it;
/// `at_start` runs at the instant, with the lock held. Fails with Redis's error while another
/// snapshot runs.
pub fn begin_background_save(
    server: &Server,
    out: Box<dyn Write + Send>,
    at_start: impl FnOnce(),
) -> Result<SaveHandle, CmdError> {
    let mut access = server.keyspace.exclusive();
    let Some(dbs) = access.exclusive() else {
        return Err(CmdError::new("ERR"));
    };
    if server.keyspace.snapshot_running() {
        return Err(BGSAVE_IN_PROGRESS);
    }
    start_job(server, dbs, out, None, kind::STREAM, at_start)
}

/// Begins BGSAVE's snapshot to `dir/dbfilename`; the caller holds the world lock
/// exclusively. Ok(None) when the file could not be created (recorded as a failed save).
fn start_file_save(server: &Server, dbs: &mut Dbs) -> Result<Option<SaveHandle>, CmdError> {
    if server.keyspace.snapshot_running() {
        return Err(BGSAVE_IN_PROGRESS);
    }
    let path = rdb_path(server);
    let opened = TempFile::create(&path).and_then(|f| f.writer().map(|w| (f, w)));
    let (file, out) = match opened {
        Ok(x) => x,
        Err(e) => {
            // As Redis's child, which fails after BGSAVE has replied: the save is recorded
            // as failed.
            tracing::warn!("Failed opening the temp RDB file for saving: {e}");
            let st = &server.keyspace.snapshots().status;
            st.started_ms.store(unix_ms(), Ordering::Relaxed);
            st.last_ok.store(false, Ordering::Relaxed);
            st.last_secs.store(0, Ordering::Relaxed);
            return Ok(None);
        }
    };
    let handle = start_job(server, dbs, out, Some(file), kind::RDB, || {})?;
    tracing::info!("Background saving started");
    Ok(Some(handle))
}

/// Begins a background save to `dir/dbfilename`, taking the world lock for the instant
/// (save points, tests). Ok(None) when the file could not be created.
pub fn bgsave_now(server: &Server) -> Result<Option<SaveHandle>, CmdError> {
    let mut access = server.keyspace.exclusive();
    let Some(dbs) = access.exclusive() else {
        return Err(CmdError::new("ERR"));
    };
    start_file_save(server, dbs)
}

/// The snapshot thread: waits for snapshots to begin and drives each to its end (writing
/// the shards no command has reached, then completing the output). Runs until shutdown.
pub fn snapshot_driver(server: Arc<Server>) {
    let ks = &server.keyspace;
    loop {
        if !ks.snapshot_wait(Duration::from_millis(100)) {
            if server.shutdown_requested.load(Ordering::SeqCst) && !ks.snapshot_running() {
                return;
            }
            continue;
        }
        while ks.snapshots().status.hold.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let writer = ks.snapshot_drive();
        let job = writer.and_then(|w| {
            let any: Arc<dyn Any + Send + Sync> = w;
            any.downcast::<Job>().ok()
        });
        let result = job.as_ref().map(|j| j.finish(&server));
        ks.snapshot_release();
        if let (Some(job), Some(result)) = (job, result) {
            job.done.set(result);
        }
    }
}

/// Cancels the background save to a file in progress, if any, and waits until it has
/// ended (SHUTDOWN: its output would be overwritten by the final save anyway). A stream
/// snapshot is left to finish.
fn abort_background_save(server: &Server) {
    let ks = &server.keyspace;
    if !ks.snapshot_running() {
        return;
    }
    ks.snapshots().status.hold.store(false, Ordering::Release);
    if ks.snapshots().status.kind.load(Ordering::Relaxed) == kind::RDB {
        if let Some(w) = ks.snapshot_writer() {
            let any: Arc<dyn Any + Send + Sync> = w;
            if let Ok(job) = any.downcast::<Job>() {
                job.stream.cancel();
                tracing::info!("Killing the background saving in progress");
            }
        }
    }
    while ks.snapshot_running() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ----- saving ------------------------------------------------------------------------------

/// Writes the snapshot of `dbs` (the caller holds the world lock) and records the save.
pub fn save_dbs(server: &Server, dbs: &Dbs) -> std::io::Result<u64> {
    let path = rdb_path(server);
    let dirty = server.keyspace.feed.dirty();
    let started = std::time::Instant::now();
    let sum = snapshot::save(&server.keyspace, dbs, &path, &save_options(server))?;
    server.dirty_at_save.store(dirty, Ordering::Relaxed);
    server.last_save.store(unix_ms() / 1000, Ordering::Relaxed);
    server
        .keyspace
        .snapshots()
        .status
        .saves
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        "DB saved on disk ({} keys, {} ms): {}",
        sum.keys,
        started.elapsed().as_millis(),
        path.display()
    );
    Ok(sum.keys)
}

/// Takes the world lock exclusively and saves (SHUTDOWN).
pub fn save_blocking(server: &Server) -> std::io::Result<u64> {
    let access = server.keyspace.exclusive();
    save_dbs(server, &access)
}

/// Whether a `save` line is configured (so SHUTDOWN saves by default).
pub fn has_save_points(server: &Server) -> bool {
    !save_points(server).is_empty()
}

/// The `save` parameter as (seconds, changes) pairs.
pub fn save_points(server: &Server) -> Vec<(u64, u64)> {
    let line = server.config.get("save").unwrap_or_default();
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// Redis's serverCron check: starts a background save when one was scheduled (BGSAVE
/// SCHEDULE) and none runs, or when some save point is reached (at least `changes` writes
/// and `seconds` elapsed since the last save; after a failed save, not before 5 seconds).
/// Returns whether it started one.
pub fn save_if_due(server: &Server) -> bool {
    let ks = &server.keyspace;
    if ks.snapshot_running() || loading(server) {
        return false;
    }
    let st = &ks.snapshots().status;
    if st.scheduled.swap(false, Ordering::Relaxed) {
        return match bgsave_now(server) {
            Ok(_) => true,
            Err(_) => {
                st.scheduled.store(true, Ordering::Relaxed);
                false
            }
        };
    }
    let changes = ks
        .feed
        .dirty()
        .saturating_sub(server.dirty_at_save.load(Ordering::Relaxed));
    if changes == 0 {
        return false;
    }
    let now_s = unix_ms() / 1000;
    let elapsed = now_s.saturating_sub(server.last_save.load(Ordering::Relaxed));
    let last_try = st.started_ms.load(Ordering::Relaxed) / 1000;
    if !st.last_ok.load(Ordering::Relaxed) && now_s.saturating_sub(last_try) < RETRY_DELAY_S {
        return false;
    }
    let due = save_points(server)
        .iter()
        .any(|&(secs, n)| changes >= n && elapsed >= secs);
    if !due {
        return false;
    }
    tracing::info!("{changes} changes in {elapsed} seconds. Saving...");
    match bgsave_now(server) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("Can't save in background: {e}");
            false
        }
    }
}

// ----- loading -----------------------------------------------------------------------------

thread_local! {
    /// Set on the thread loading the dataset: the AOF's commands it replays are not
    /// refused with `-LOADING`.
    static LOADER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets `loading` (INFO `loading:1`, `-LOADING` for commands without the `loading` flag)
/// with no bytes to load yet. Start-up calls it before listening, so no client ever sees
/// the dataset half loaded; [`load_dataset`] clears it.
pub fn mark_loading(server: &Server) {
    let st = &server.keyspace.snapshots().status;
    if st.loading.load(Ordering::Acquire) {
        return;
    }
    st.loading_started_ms.store(unix_ms(), Ordering::Relaxed);
    st.loading_total_bytes.store(0, Ordering::Relaxed);
    st.loading_loaded_bytes.store(0, Ordering::Relaxed);
    st.loading_rdb_used_mem.store(0, Ordering::Relaxed);
    st.loading.store(true, Ordering::Release);
}

/// Loading in progress on this thread (start-up, a replica's full sync): dropping it ends
/// the loading state.
pub struct Loading<'a> {
    server: &'a Server,
    /// Bytes of the files loaded before the current one.
    done: u64,
}

/// Enters the loading state (see [`mark_loading`]) on this thread.
pub fn begin_loading(server: &Server) -> Loading<'_> {
    mark_loading(server);
    LOADER.with(|l| l.set(true));
    Loading { server, done: 0 }
}

impl Loading<'_> {
    fn status(&self) -> &keyspace::snapshot::Status {
        &self.server.keyspace.snapshots().status
    }

    /// Adds a file of `bytes` to what is to be loaded (`loading_total_bytes`).
    pub fn add_total(&self, bytes: u64) {
        self.status()
            .loading_total_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// `bytes` of the current file are loaded (`loading_loaded_bytes`).
    pub fn progress(&self, bytes: u64) {
        self.status()
            .loading_loaded_bytes
            .store(self.done + bytes, Ordering::Relaxed);
    }

    /// The current file, of `bytes`, is loaded; the next one's progress counts after it.
    pub fn file_done(&mut self, bytes: u64) {
        self.done += bytes;
        self.progress(0);
    }

    /// `used-mem` of the RDB being loaded (`loading_rdb_used_mem`).
    pub fn rdb_used_mem(&self, rdb: &[u8]) {
        if let Some(n) = rdb_aux_used_mem(rdb) {
            self.status()
                .loading_rdb_used_mem
                .store(n, Ordering::Relaxed);
        }
    }
}

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        LOADER.with(|l| l.set(false));
        self.status().loading.store(false, Ordering::Release);
    }
}

/// The `used-mem` aux field of an RDB image, found among the aux fields that open it.
fn rdb_aux_used_mem(rdb: &[u8]) -> Option<u64> {
    // AUX (0xFA), then the name as a length-prefixed string (6-bit length form).
    let at = rdb
        .get(..4096.min(rdb.len()))?
        .windows(10)
        .position(|w| w == b"\xfa\x08used-mem")?;
    let mut r = &rdb[at + 10..];
    let first = *r.first()?;
    r = &r[1..];
    match first >> 6 {
        0 => std::str::from_utf8(r.get(..usize::from(first & 0x3f))?)
            .ok()?
            .parse()
            .ok(),
        3 => match first & 0x3f {
            0 => Some(u64::from(*r.first()?)),
            1 => Some(u64::from(u16::from_le_bytes(r.get(..2)?.try_into().ok()?))),
            2 => Some(u64::from(u32::from_le_bytes(r.get(..4)?.try_into().ok()?))),
            _ => None,
        },
        _ => None,
    }
}

/// Loads the dataset at start-up — the AOF with `appendonly yes`, else `dir/dbfilename` —
/// in the loading state, which it ends. Meant to run on its own thread while the server
/// already answers (`-LOADING` to most commands).
pub fn load_dataset(server: &Arc<Server>) -> Result<(), String> {
    let mut loading = begin_loading(server);
    if !crate::aof::startup_loading(server, &mut loading)? {
        load_rdb(server, &mut loading).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Loads `dir/dbfilename` into the (empty) keyspace at start-up, in the loading state;
/// Ok(None) without a file.
pub fn load_at_startup(
    server: &Server,
) -> Result<Option<persistence::rdb::Summary>, snapshot::LoadError> {
    load_rdb(server, &mut begin_loading(server))
}

fn load_rdb(
    server: &Server,
    loading: &mut Loading<'_>,
) -> Result<Option<persistence::rdb::Summary>, snapshot::LoadError> {
    let path = rdb_path(server);
    let opts = LoadOptions {
        limits: *server.config.limits.read(),
        verify_checksum: server.config.get_bool("rdbchecksum"),
        now_ms: server.keyspace.now_ms(),
    };
    let st = &server.keyspace.snapshots().status;
    let started = std::time::Instant::now();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(snapshot::LoadError::Io { file: path, error }),
    };
    loading.add_total(bytes.len() as u64);
    loading.rdb_used_mem(&bytes);
    let summary = snapshot::load_bytes_with_progress(&server.keyspace, &bytes, &opts, &mut |n| {
        loading.progress(n)
    })
    .map_err(|error| snapshot::LoadError::Format {
        file: path.clone(),
        error,
    })?;
    loading.file_done(bytes.len() as u64);
    let s = summary;
    st.loaded_keys.store(s.keys, Ordering::Relaxed);
    st.loaded_expired
        .store(s.expired_skipped, Ordering::Relaxed);
    server
        .dirty_at_save
        .store(server.keyspace.feed.dirty(), Ordering::Relaxed);
    tracing::info!(
        "DB loaded from disk: {:.3} seconds ({} keys, {} expired skipped)",
        started.elapsed().as_secs_f64(),
        s.keys,
        s.expired_skipped
    );
    if s.functions_skipped > 0 {
        tracing::warn!(
            "{} function libraries in the RDB file were not loaded",
            s.functions_skipped
        );
    }
    Ok(Some(s))
}

/// Whether the dataset is being loaded.
pub fn loading(server: &Server) -> bool {
    server
        .keyspace
        .snapshots()
        .status
        .loading
        .load(Ordering::Acquire)
}

/// While loading, commands without the `loading` flag are refused with Redis's error.
pub fn refuse_while_loading(server: &Server, spec: &CommandSpec) -> Result<(), CmdError> {
    if loading(server) && !spec.has(LOADING) && !LOADER.with(std::cell::Cell::get) {
        return Err(errors::LOADING);
    }
    Ok(())
}

// ----- INFO --------------------------------------------------------------------------------

/// INFO persistence, from `loading` to `rdb_last_load_keys_loaded` (Redis's order).
pub fn info_rdb(server: &Server, kv: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let ks = &server.keyspace;
    let st = &ks.snapshots().status;
    let running = ks.snapshot_running();
    let rdb_running = running && st.kind.load(Ordering::Relaxed) == kind::RDB;
    let now_ms = unix_ms();
    let dirty = ks
        .feed
        .dirty()
        .saturating_sub(server.dirty_at_save.load(Ordering::Relaxed));
    let in_flight = if running {
        st.in_flight.load(Ordering::Relaxed)
    } else {
        0
    };
    let peak = if running {
        st.in_flight_peak.load(Ordering::Relaxed)
    } else {
        0
    };
    kv("loading", &u8::from(loading(server)));
    kv("async_loading", &0);
    kv("current_cow_peak", &peak);
    kv("current_cow_size", &in_flight);
    kv("current_cow_size_age", &0);
    kv(
        "current_fork_perc",
        &format_args!("{:.2}", fork_perc(st, running)),
    );
    kv(
        "current_save_keys_processed",
        &if running {
            st.keys_done.load(Ordering::Relaxed)
        } else {
            0
        },
    );
    kv(
        "current_save_keys_total",
        &if running {
            st.keys_total.load(Ordering::Relaxed)
        } else {
            0
        },
    );
    kv("rdb_changes_since_last_save", &dirty);
    kv("rdb_bgsave_in_progress", &u8::from(rdb_running));
    kv(
        "rdb_last_save_time",
        &server.last_save.load(Ordering::Relaxed),
    );
    kv(
        "rdb_last_bgsave_status",
        &if st.last_ok.load(Ordering::Relaxed) {
            "ok"
        } else {
            "err"
        },
    );
    kv(
        "rdb_last_bgsave_time_sec",
        &st.last_secs.load(Ordering::Relaxed),
    );
    let current = if rdb_running {
        (now_ms.saturating_sub(st.started_ms.load(Ordering::Relaxed)) / 1000) as i64
    } else {
        -1
    };
    kv("rdb_current_bgsave_time_sec", &current);
    kv("rdb_saves", &st.saves.load(Ordering::Relaxed));
    kv("rdb_last_cow_size", &st.last_peak.load(Ordering::Relaxed));
    kv(
        "rdb_last_load_keys_expired",
        &st.loaded_expired.load(Ordering::Relaxed),
    );
    kv(
        "rdb_last_load_keys_loaded",
        &st.loaded_keys.load(Ordering::Relaxed),
    );
}

/// Share of keys written so far (Redis's `current_fork_perc`), in percent.
fn fork_perc(st: &keyspace::snapshot::Status, running: bool) -> f64 {
    let total = st.keys_total.load(Ordering::Relaxed);
    if !running || total == 0 {
        return 0.0;
    }
    st.keys_done.load(Ordering::Relaxed) as f64 * 100.0 / total as f64
}

/// The `loading_*` lines INFO persistence ends with while loading.
pub fn info_loading(server: &Server, kv: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    if !loading(server) {
        return;
    }
    let st = &server.keyspace.snapshots().status;
    let total = st.loading_total_bytes.load(Ordering::Relaxed);
    let loaded = st.loading_loaded_bytes.load(Ordering::Relaxed);
    let start_s = st.loading_started_ms.load(Ordering::Relaxed) / 1000;
    let (perc, remaining) = if total > 0 {
        (
            loaded as f64 * 100.0 / total as f64,
            total.saturating_sub(loaded),
        )
    } else {
        (0.0, 1)
    };
    let elapsed = (unix_ms() / 1000).saturating_sub(start_s);
    let eta = if elapsed == 0 {
        1
    } else {
        elapsed * remaining / (loaded + 1)
    };
    kv("loading_start_time", &start_s);
    kv("loading_total_bytes", &total);
    kv(
        "loading_rdb_used_mem",
        &st.loading_rdb_used_mem.load(Ordering::Relaxed),
    );
    kv("loading_loaded_bytes", &loaded);
    kv("loading_loaded_perc", &format_args!("{perc:.2}"));
    kv("loading_eta_seconds", &eta);
}

// ----- commands ----------------------------------------------------------------------------

fn save(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let ks = &cx.server.keyspace;
    if ks.snapshot_running() && ks.snapshots().status.kind.load(Ordering::Relaxed) == kind::RDB {
        return Err(BGSAVE_IN_PROGRESS);
    }
    match save_dbs(cx.server, &cx.store.access) {
        Ok(_) => {
            cx.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("Failed saving the DB: {e}");
            Err(CmdError::new("ERR"))
        }
    }
}

fn bgsave(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let schedule = match args.len() {
        1 => false,
        2 if is(&args[1], "schedule") => true,
        _ => return Err(errors::SYNTAX),
    };
    let ks = &cx.server.keyspace;
    let st = &ks.snapshots().status;
    let in_exec = matches!(cx.store.access, Access::Lent(_));
    if ks.snapshot_running() {
        if st.kind.load(Ordering::Relaxed) == kind::RDB {
            return Err(BGSAVE_IN_PROGRESS);
        }
        if !(schedule || in_exec) {
            return Err(OTHER_CHILD);
        }
    }
    if ks.snapshot_running() || in_exec {
        st.scheduled.store(true, Ordering::Relaxed);
        cx.out.simple(b"Background saving scheduled");
        return Ok(());
    }
    let server = cx.server;
    let Some(dbs) = cx.store.access.exclusive() else {
        return Err(CmdError::new("ERR"));
    };
    start_file_save(server, dbs)?;
    cx.out.simple(b"Background saving started");
    Ok(())
}

fn dump_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    match k.find_read(&args[1]) {
        Some(pos) => {
            let payload = dump::dump(k.shard.value(pos), RDB_VERSION, cx.store.now_ms);
            drop(k);
            cx.out.bulk(&payload);
        }
        None => {
            drop(k);
            cx.out.null();
        }
    }
    Ok(())
}

fn restore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "absttl") {
            absttl = true;
        } else if is(&args[j], "idletime") && more >= 1 && freq.is_none() {
            let v = parse_i64(&args[j + 1])?;
            if v < 0 {
                return Err(CmdError::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if is(&args[j], "freq") && more >= 1 && idle.is_none() {
            let v = parse_i64(&args[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::new(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let existing = k.find(key);
    if !replace && existing.is_some() {
        return Err(CmdError::new("BUSYKEY Target key name already exists."));
    }
    let ttl = parse_i64(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let limits = *cx.server.config.limits.read();
    let value = match dump::restore(&args[3], &limits, true) {
        Ok(v) => v,
        Err(dump::PayloadError::VersionOrChecksum) => {
            return Err(CmdError::new(
                "ERR DUMP payload version or checksum are wrong",
            ))
        }
        Err(_) => return Err(CmdError::new("ERR Bad data format")),
    };
    let deleted = match existing {
        Some(pos) if replace => {
            k.shard.remove(pos);
            true
        }
        _ => false,
    };
    let at = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(cx.store.now_ms.saturating_add(t as u64)),
    };
    if at.is_some_and(|a| a <= cx.store.now_ms) {
        // Already expired: the key is gone (deleted if it was replaced).
        if deleted {
            k.op.emit(key, event::DEL);
        }
        drop(k);
        cx.out.ok();
        return Ok(());
    }
    let op = k.op;
    let pos = k.shard.insert(&op, k.hash, key, value);
    if at.is_some() {
        k.shard.set_expire(pos, at);
    }
    k.shard.set_access(
        pos,
        &op,
        idle.map(|i| i as u64),
        freq.and_then(|f| u8::try_from(f).ok()),
    );
    k.op.emit(key, RESTORE_EVENT);
    drop(k);
    cx.out.ok();
    Ok(())
}

/// The save SHUTDOWN makes: `Some(true)` SAVE, `Some(false)` NOSAVE, `None` when save
/// points are configured. A background save in progress is cancelled first (its file
/// would be overwritten by the final save). Err holds the error reply that cancels the
/// shutdown.
pub fn shutdown_save(server: &Server, save: Option<bool>) -> Result<(), String> {
    abort_background_save(server);
    // A dataset half loaded is never saved over the file it comes from (Redis forces
    // NOSAVE while loading).
    if loading(server) || !save.unwrap_or_else(|| has_save_points(server)) {
        return Ok(());
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    save_blocking(server).map(|_| ()).map_err(|e| {
        tracing::warn!("Error trying to save the DB, can't exit: {e}");
        "ERR Errors trying to SHUTDOWN. Check logs.".to_string()
    })
}
