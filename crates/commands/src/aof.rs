//! The append-only file (Redis 7's multi-part AOF): the sink that receives the effect stream
//! (`propagate.rs`), the writer thread and its fsync policy, background rewrites, loading at
//! start-up, INFO's `aof_*` lines, and the commands BGREWRITEAOF and WAITAOF. File names and
//! the manifest format live in `persistence::aof`.
//!
//! # The stream
//! The sink only appends to a buffer (it is fed under the propagation log lock). Positions
//! are logical: bytes fed since start-up, across files. A writer thread writes the buffer
//! to the current incremental file and, per `appendfsync`, fsyncs it: at once (`always`,
//! one fsync covering everything written before it — group commit), each second
//! (`everysec`) or never (`no`). A connection whose commands logged up to position `p`
//! sends their replies only once `p` is fsynced (`always`) or written (otherwise), so no
//! acknowledged write is lost when the process is killed, and none is lost on power failure
//! with `always` ([`wait_durable`]).
//!
//! # Rewrites
//! A rewrite runs on its own thread. It takes the propagation order lock (no write in
//! flight) and begins a point-in-time background snapshot
//! (`family::persistence::begin_background_save`); at the snapshot's instant, under the
//! world lock held exclusively, the current incremental file is flushed and synced and a
//! new one is started and listed in the manifest. The snapshot becomes the new base (an
//! RDB image, or commands without the RDB preamble); the manifest then lists the new base
//! and the new incremental file only, and the old files are removed. Writes made after the
//! instant are in the new incremental file.
//!
//! # Loading
//! The base (RDB through the snapshot loader, or commands), then every incremental file,
//! replayed through the dispatcher by an internal client whose replies are dropped. A file
//! that ends inside a command is cut back to its last whole command when it is the last
//! file and `aof-load-truncated` is yes; anything else malformed stops the start-up with
//! the file name and byte offset.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keyspace::Access;
use parking_lot::{Condvar, Mutex};
use persistence::aof::{self as files, Manifest, Stop};
use persistence::rdb::{LoadOptions, SaveOptions};
use protocol::{Protocol, ReplyWriter};

use crate::args::parse_i64;
use crate::client::{Action, Client, ClientHandle};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::propagate::Sink;
use crate::server::{unix_ms, Server};
use crate::spec::{flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[
    command!("bgrewriteaof", 1, ADMIN | NOSCRIPT, Keys::NONE, bgrewriteaof,
        acl: &["admin", "slow", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(1)",
        summary: "Asynchronously rewrites the append-only file to disk."),
    command!("waitaof", 4, NOSCRIPT, Keys::NONE, waitaof,
        acl: &["slow", "connection"], group: "generic", since: "7.2.0",
        complexity: "O(1)",
        summary: "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas."),
];

const REWRITE_IN_PROGRESS: CmdError =
    CmdError::new("ERR Background append only file rewriting already in progress");
const WAITAOF_ON_REPLICA: CmdError = CmdError::new("ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.");
const WAITAOF_NO_AOF: CmdError =
    CmdError::new("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.");
const NUMLOCAL_RANGE: CmdError =
    CmdError::new("ERR value is out of range, value must between 0 and 1");

/// `appendfsync` values.
pub mod fsync {
    pub const ALWAYS: u8 = 0;
    pub const EVERYSEC: u8 = 1;
    pub const NO: u8 = 2;
}

/// Redis's `aof_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Off = 0,
    /// Switched on at run time: writes go to a temporary incremental file until the
    /// first rewrite has produced a base.
    WaitRewrite = 1,
    On = 2,
}

/// Consecutive failed rewrites after which automatic rewrites back off (Redis's
/// `AOF_REWRITE_LIMITE_THRESHOLD`), and the longest back-off in minutes.
const LIMIT_THRESHOLD: u64 = 3;
const LIMIT_MAX_MINUTES: u64 = 60;

/// The append-only file of one server.
pub struct Aof {
    pending: Mutex<Pending>,
    /// Wakes the writer thread (paired with `pending`).
    wake: Condvar,
    /// The incremental file being appended to.
    file: Mutex<Option<Current>>,
    fed: AtomicU64,
    written: AtomicU64,
    synced: AtomicU64,
    synced_notify: tokio::sync::Notify,
    policy: AtomicU8,
    /// A file is open and receives the stream.
    on: AtomicBool,
    /// The sink keeps what it is fed (false while attached ahead of a run-time start).
    accepting: AtomicBool,
    state: AtomicU8,
    control: Mutex<Control>,
    /// Rewrite requests for the rewrite thread.
    requested: Mutex<bool>,
    request_cv: Condvar,
    stop: AtomicBool,
    rewrite_running: AtomicBool,
    rewrite_scheduled: AtomicBool,
    rewrite_started_ms: AtomicU64,
    last_rewrite_secs: AtomicI64,
    last_rewrite_ok: AtomicBool,
    rewrites: AtomicU64,
    consecutive_failures: AtomicU64,
    last_write_ok: AtomicBool,
    current_size: AtomicU64,
    base_size: AtomicU64,
    /// Automatic rewrites are held back until this Unix time (s) after repeated failures.
    next_auto_s: AtomicU64,
    backoff_minutes: AtomicU64,
}

struct Pending {
    buf: Vec<u8>,
    fed: u64,
}

struct Current {
    file: Arc<File>,
    /// Bytes in the file (what a failed write is cut back to).
    size: u64,
}

struct Control {
    manifest: Manifest,
    sink: Option<Arc<dyn Sink>>,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                fed: 0,
            }),
            wake: Condvar::new(),
            file: Mutex::new(None),
            fed: AtomicU64::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            synced_notify: tokio::sync::Notify::new(),
            policy: AtomicU8::new(fsync::EVERYSEC),
            on: AtomicBool::new(false),
            accepting: AtomicBool::new(false),
            state: AtomicU8::new(State::Off as u8),
            control: Mutex::new(Control {
                manifest: Manifest::default(),
                sink: None,
            }),
            requested: Mutex::new(false),
            request_cv: Condvar::new(),
            stop: AtomicBool::new(false),
            rewrite_running: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            rewrite_started_ms: AtomicU64::new(0),
            last_rewrite_secs: AtomicI64::new(-1),
            last_rewrite_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            last_write_ok: AtomicBool::new(true),
            current_size: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            next_auto_s: AtomicU64::new(0),
            backoff_minutes: AtomicU64::new(0),
        }
    }
}

thread_local! {
    /// The stream position after the last bytes this thread fed (0: none since the last
    /// [`take_logged`]).
    static LOGGED: Cell<u64> = const { Cell::new(0) };
}

/// The sink attached to the propagation stream while the AOF is on.
struct AofSink(Arc<Aof>);

impl Sink for AofSink {
    fn feed(&self, bytes: &[u8]) {
        self.0.feed(bytes);
    }
}

impl Aof {
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            1 => State::WaitRewrite,
            2 => State::On,
            _ => State::Off,
        }
    }

    fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::Release);
    }

    fn policy(&self) -> u8 {
        self.policy.load(Ordering::Relaxed)
    }

    /// Whether an incremental file receives the stream now.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// The stream position after everything logged so far.
    pub fn fed(&self) -> u64 {
        self.fed.load(Ordering::Acquire)
    }

    /// The stream position fsynced so far.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    fn feed(&self, bytes: &[u8]) {
        if !self.accepting.load(Ordering::Acquire) {
            return;
        }
        let end = {
            let mut p = self.pending.lock();
            p.buf.extend_from_slice(bytes);
            p.fed += bytes.len() as u64;
            self.fed.store(p.fed, Ordering::Release);
            p.fed
        };
        LOGGED.with(|c| c.set(end));
        if self.policy() == fsync::ALWAYS {
            self.wake.notify_one();
        }
    }

    /// Writes the buffered stream to the current file. A failed write is cut back off the
    /// file and kept for the next try; with `appendfsync always` it ends the process, as
    /// Redis does (the writes it covers may have been acknowledged).
    fn write_out(&self) {
        let mut f = self.file.lock();
        let Some(cur) = f.as_mut() else {
            return;
        };
        let (bytes, end) = {
            let mut p = self.pending.lock();
            if p.buf.is_empty() {
                return;
            }
            (std::mem::take(&mut p.buf), p.fed)
        };
        match (&*cur.file).write_all(&bytes) {
            Ok(()) => {
                cur.size += bytes.len() as u64;
                self.current_size
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                self.written.store(end, Ordering::Release);
                if !self.last_write_ok.swap(true, Ordering::Relaxed) {
                    tracing::warn!("AOF write error looks solved, Redis can write again.");
                }
            }
            Err(e) => {
                tracing::warn!("Error writing to the AOF file: {e}");
                if self.policy() == fsync::ALWAYS {
                    tracing::warn!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                    std::process::exit(1);
                }
                if let Err(e) = cur.file.set_len(cur.size) {
                    tracing::warn!("Could not remove short write from the append-only file.  Redis may refuse to load the AOF the next time it starts.  ftruncate: {e}");
                }
                self.last_write_ok.store(false, Ordering::Relaxed);
                let mut p = self.pending.lock();
                let mut back = bytes;
                back.extend_from_slice(&p.buf);
                p.buf = back;
            }
        }
    }

    /// fsyncs what has been written; true when it succeeded (or there was nothing to do).
    fn sync(&self) -> bool {
        let (file, target) = {
            let f = self.file.lock();
            match &*f {
                Some(c) => (c.file.clone(), self.written.load(Ordering::Acquire)),
                None => return true,
            }
        };
        if target <= self.synced() {
            return true;
        }
        match file.sync_data() {
            Ok(()) => {
                self.synced.fetch_max(target, Ordering::AcqRel);
                self.synced_notify.notify_waiters();
                true
            }
            Err(e) => {
                if self.policy() == fsync::ALWAYS {
                    tracing::warn!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {e}. Exiting...");
                    std::process::exit(1);
                }
                tracing::warn!("Fail to fsync the AOF file: {e}");
                false
            }
        }
    }

    /// Writes and fsyncs everything logged up to now, on the calling thread.
    pub fn flush_and_sync(&self) {
        self.write_out();
        self.sync();
    }

    fn open_current(&self, file: File) {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        *self.file.lock() = Some(Current {
            file: Arc::new(file),
            size,
        });
        let fed = self.pending.lock().fed;
        self.written.store(fed, Ordering::Release);
        self.synced.store(fed, Ordering::Release);
    }

    fn request_rewrite(&self) {
        self.rewrite_running.store(true, Ordering::Release);
        self.rewrite_scheduled.store(false, Ordering::Relaxed);
        self.rewrite_started_ms.store(unix_ms(), Ordering::Relaxed);
        *self.requested.lock() = true;
        self.request_cv.notify_one();
    }
}

/// The position of the effects this thread logged since the last call (0: none). The
/// connection calls it after each command, so its replies wait for [`wait_durable`].
#[inline]
pub fn take_logged() -> u64 {
    LOGGED.with(|c| c.replace(0))
}

/// Waits until the stream up to `pos` is on disk as `appendfsync` promises: fsynced with
/// `always`, written to the file otherwise (written here, on the caller's thread, if the
/// writer thread has not yet). Returns at once when the AOF is off.
pub async fn wait_durable(server: &Server, pos: u64) {
    let aof = &server.aof;
    if pos == 0 || !aof.is_on() {
        return;
    }
    if aof.policy() != fsync::ALWAYS {
        if aof.written.load(Ordering::Acquire) < pos {
            aof.write_out();
        }
        return;
    }
    loop {
        let notified = aof.synced_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if aof.synced() >= pos || !aof.is_on() {
            return;
        }
        aof.wake.notify_one();
        notified.await;
    }
}

// ----- paths and settings ------------------------------------------------------------------

/// `dir/appenddirname` (the process has changed into `dir`, so a relative `dir` is not
/// applied twice).
pub fn aof_dir(server: &Server) -> PathBuf {
    let sub = server
        .config
        .get("appenddirname")
        .unwrap_or_else(|| "appendonlydir".into());
    let dir = PathBuf::from(server.config.get("dir").unwrap_or_else(|| ".".into()));
    if dir.is_absolute() {
        dir.join(sub)
    } else {
        PathBuf::from(sub)
    }
}

fn aof_name(server: &Server) -> String {
    server
        .config
        .get("appendfilename")
        .unwrap_or_else(|| "appendonly.aof".into())
}

fn refresh_policy(server: &Server) {
    let p = match server.config.get("appendfsync").as_deref() {
        Some("always") => fsync::ALWAYS,
        Some("no") => fsync::NO,
        _ => fsync::EVERYSEC,
    };
    server.aof.policy.store(p, Ordering::Relaxed);
}

fn base_options(server: &Server) -> SaveOptions {
    SaveOptions {
        version: crate::family::persistence::RDB_VERSION,
        compress: server.config.get_bool("rdbcompression"),
        checksum: server.config.get_bool("rdbchecksum"),
        redis_ver: crate::REDIS_VERSION.to_string(),
        used_mem: crate::family::info::used_memory(server),
        aof_base: true,
        ctime: unix_ms() / 1000,
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

// ----- start-up ----------------------------------------------------------------------------

/// Start-up with `appendonly yes`: loads the AOF named by the manifest (Redis loads it
/// instead of the RDB file; with no AOF the server starts empty), then opens it for
/// appending, creating a base and an incremental file when there are none. Ok(false) with
/// `appendonly no` (the caller loads the RDB file). Err holds the reason to refuse to start.
pub fn startup(server: &Arc<Server>) -> Result<bool, String> {
    startup_loading(
        server,
        &mut crate::family::persistence::begin_loading(server),
    )
}

/// [`startup`] in a loading state already entered (progress reported to `loading`).
pub fn startup_loading(
    server: &Arc<Server>,
    loading: &mut crate::family::persistence::Loading<'_>,
) -> Result<bool, String> {
    refresh_policy(server);
    let dir = aof_dir(server);
    let name = aof_name(server);
    if !server.config.get_bool("appendonly") {
        // As Redis, the manifest is read anyway: a BGREWRITEAOF continues its numbering.
        if let Ok(Some(m)) = Manifest::load(&dir, &name) {
            server.aof.control.lock().manifest = m;
        }
        return Ok(false);
    }
    let manifest = if dir.is_dir() {
        Manifest::load(&dir, &name)?.unwrap_or_default()
    } else {
        Manifest::default()
    };
    let started = Instant::now();
    if load(server, &dir, &manifest, loading)? {
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    open_at_startup(server, manifest)?;
    Ok(true)
}

/// Loads the base and incremental files of `manifest`; Ok(false) when there is nothing to
/// load.
fn load(
    server: &Server,
    dir: &Path,
    manifest: &Manifest,
    loading: &mut crate::family::persistence::Loading<'_>,
) -> Result<bool, String> {
    let live: Vec<&files::AofFile> = manifest.live_files().collect();
    if live.is_empty() {
        return Ok(false);
    }
    let mut total = 0;
    for f in &live {
        match std::fs::metadata(dir.join(&f.name)) {
            Ok(m) => total += m.len(),
            Err(e) => {
                return Err(format!(
                    "Unable to obtain the AOF file {} length. stat: {e}",
                    f.name
                ))
            }
        }
    }
    if total == 0 {
        return Ok(false);
    }
    loading.add_total(total);
    let truncated_ok = server.config.get_bool("aof-load-truncated");
    for (i, f) in live.iter().enumerate() {
        let last = i + 1 == live.len();
        let started = Instant::now();
        let size = load_file(
            server,
            &dir.join(&f.name),
            &f.name,
            last,
            truncated_ok,
            loading,
        )?;
        loading.file_done(size);
        tracing::info!(
            "DB loaded from {} file {}: {:.3} seconds",
            if f.kind == files::FileType::Base {
                "base"
            } else {
                "incr"
            },
            f.name,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(true)
}

/// Loads one file: an RDB image, or commands replayed through the dispatcher.
fn load_file(
    server: &Server,
    path: &Path,
    name: &str,
    last: bool,
    truncated_ok: bool,
    loading: &crate::family::persistence::Loading<'_>,
) -> Result<u64, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!("Fatal error: can't open the append log file {name} for reading: {e}")
    })?;
    let size = bytes.len() as u64;
    if bytes.is_empty() {
        return Ok(size);
    }
    if files::is_rdb(&bytes) {
        tracing::info!("Reading RDB base file on AOF loading...");
        let opts = LoadOptions {
            limits: *server.config.limits.read(),
            verify_checksum: server.config.get_bool("rdbchecksum"),
            now_ms: server.keyspace.now_ms(),
        };
        loading.rdb_used_mem(&bytes);
        persistence::snapshot::load_bytes_with_progress(
            &server.keyspace,
            &bytes,
            &opts,
            &mut |n| loading.progress(n),
        )
        .map_err(|e| {
            format!(
                "Error reading the RDB base file {name}, AOF loading aborted: {} at offset {}",
                e.message, e.offset
            )
        })?;
        return Ok(size);
    }
    let valid_up_to = match replay(server, &bytes, name) {
        Ok(None) => return Ok(size),
        Ok(Some(before_multi)) => {
            tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
            before_multi
        }
        Err(Stop::Truncated { valid_up_to }) => valid_up_to,
        Err(Stop::Malformed { offset }) => {
            return Err(format!(
                "Bad file format reading the append only file {name} at offset {offset}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
            ))
        }
        Err(Stop::Refused(msg)) => return Err(msg),
    };
    if truncated_ok && last {
        tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
        tracing::warn!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
        let cut = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid_up_to as u64).and_then(|_| f.sync_all()));
        if let Err(e) = cut {
            return Err(format!("Error truncating the AOF file {name}: {e}"));
        }
        tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
        return Ok(size);
    }
    if truncated_ok {
        return Err(format!(
            "Fatal error: the truncated file is not the last file ({name} ends inside a command after offset {valid_up_to})"
        ));
    }
    Err(format!(
        "Unexpected end of file reading the append only file {name} (the last complete command ends at offset {valid_up_to}). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
    ))
}

/// Runs the commands of a file as an internal client (replies dropped, never blocking).
/// Ok(Some(offset)) when the file ends inside MULTI: the offset before it.
fn replay(server: &Server, bytes: &[u8], name: &str) -> Result<Option<usize>, Stop> {
    let handle = Arc::new(ClientHandle::new(
        u64::MAX,
        String::new(),
        String::new(),
        server.keyspace.now_ms(),
    ));
    let mut client = Client::new(handle, true);
    client.deny_blocking = Some("aof");
    let mut out = ReplyWriter::new(Protocol::Resp2);
    let reg = crate::registry::registry();
    let (mut valid, mut before_multi) = (0usize, 0usize);
    files::read_commands(bytes, 0, |args, end| {
        let args: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
        if reg.lookup(&args[0]).is_none() {
            return Err(format!(
                "Unknown command '{}' reading the append only file {name}",
                String::from_utf8_lossy(&args[0])
            ));
        }
        if args[0].eq_ignore_ascii_case(b"multi") {
            before_multi = valid;
        }
        crate::dispatch(
            server,
            &mut client,
            &mut out,
            &args,
            server.keyspace.now_ms(),
        );
        out.buf.clear();
        client.action = None;
        valid = end;
        Ok(())
    })?;
    Ok(client.multi.is_some().then_some(before_multi))
}

/// Opens the AOF for appending at start-up (Redis's `aofOpenIfNeededOnServerStart`).
fn open_at_startup(server: &Arc<Server>, mut m: Manifest) -> Result<(), String> {
    let dir = aof_dir(server);
    let name = aof_name(server);
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    remove_temp_files(&dir);
    if m.base.is_none() && m.incr.is_empty() {
        let preamble = server.config.get_bool("aof-use-rdb-preamble");
        let base = m.new_base(&name, preamble);
        write_base_now(server, &dir.join(&base), preamble)?;
        tracing::info!("Creating AOF base file {base} on server start");
    }
    let existed = !m.incr.is_empty();
    let incr = match m.incr.last() {
        Some(f) => f.name.clone(),
        None => m.new_incr(&name),
    };
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join(&incr))
        .map_err(|e| format!("Can't open the append-only file {incr}: {e}"))?;
    m.store(&dir, &name)
        .map_err(|e| format!("Can't write the AOF manifest file: {e}"))?;
    let aof = &server.aof;
    let base_size = m.base.as_ref().map_or(0, |b| file_size(&dir.join(&b.name)));
    let total: u64 = m.live_files().map(|f| file_size(&dir.join(&f.name))).sum();
    aof.base_size.store(base_size, Ordering::Relaxed);
    aof.current_size.store(total, Ordering::Relaxed);
    aof.open_current(file);
    let mut c = aof.control.lock();
    c.manifest = m;
    remove_history(&mut c.manifest, &dir, &name);
    attach(server, &mut c, true);
    aof.set_state(State::On);
    drop(c);
    if existed {
        tracing::info!("Opening AOF incr file {incr} on server start");
    } else {
        tracing::info!("Creating AOF incr file {incr} on server start");
    }
    Ok(())
}

/// Removes what a process killed during a rewrite or a run-time start left behind
/// (`temp-*` files: never named by the manifest).
fn remove_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with("temp-") {
            tracing::info!(
                "Removing the temporary file {} left by a previous run",
                e.file_name().to_string_lossy()
            );
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Attaches the sink to the propagation stream (`accepting`: keeps what it is fed).
fn attach(server: &Server, c: &mut Control, accepting: bool) {
    let aof = &server.aof;
    aof.accepting.store(accepting, Ordering::Release);
    aof.on.store(accepting, Ordering::Release);
    if c.sink.is_none() {
        let sink: Arc<dyn Sink> = Arc::new(AofSink(aof_arc(server)));
        server.propagation.attach(sink.clone());
        c.sink = Some(sink);
    }
}

fn aof_arc(server: &Server) -> Arc<Aof> {
    server.aof.clone()
}

/// Removes the history files of the manifest and stores it without them.
fn remove_history(m: &mut Manifest, dir: &Path, name: &str) {
    if m.history.is_empty() {
        return;
    }
    for h in m.history.drain(..) {
        tracing::info!("Removing the history file {} in the background", h.name);
        let _ = std::fs::remove_file(dir.join(&h.name));
    }
    if let Err(e) = m.store(dir, name) {
        tracing::warn!("Can't write the AOF manifest file: {e}");
    }
}

/// Writes a base of the current dataset to `path` synchronously, holding the world lock
/// (start-up, where nothing else runs).
fn write_base_now(server: &Server, path: &Path, preamble: bool) -> Result<(), String> {
    let access = server.keyspace.exclusive();
    let opts = base_options(server);
    let ks = &server.keyspace;
    let werr = |e: std::io::Error| format!("Write error writing append only file on disk: {e}");
    if preamble {
        persistence::snapshot::save(ks, &access, path, &opts).map_err(werr)?;
        return Ok(());
    }
    let mut rdb = Vec::new();
    persistence::rdb::write_file(&mut rdb, &access, ks.now_ms(), &opts).map_err(werr)?;
    drop(access);
    let tmp = path.with_extension("tmp");
    let file = File::create(&tmp).map_err(werr)?;
    let mut w = BufWriter::new(file);
    rdb_to_commands(server, &rdb, &mut w)?;
    let file = w.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    std::fs::rename(&tmp, path).map_err(werr)
}

/// Writes the keys of an RDB image as commands (a base without the RDB preamble): SELECT
/// per database, SET for strings, RESTORE with a DUMP payload for every other type, then
/// PEXPIREAT for keys with a TTL.
fn rdb_to_commands(server: &Server, rdb: &[u8], out: &mut impl Write) -> Result<(), String> {
    let opts = LoadOptions {
        limits: *server.config.limits.read(),
        verify_checksum: false,
        now_ms: 0,
    };
    let version = crate::family::persistence::RDB_VERSION;
    let mut db = usize::MAX;
    let mut buf = Vec::new();
    persistence::rdb::load(rdb, &opts, |item| {
        if item.db != db {
            db = item.db;
            files::encode_command(&mut buf, &[b"SELECT", db.to_string().as_bytes()]);
        }
        match item.value.to_vec() {
            Some(s) => files::encode_command(&mut buf, &[b"SET", &item.key, &s]),
            None => {
                let payload = persistence::dump::dump(&item.value, version, 0);
                files::encode_command(&mut buf, &[b"RESTORE", &item.key, b"0", &payload]);
            }
        }
        if let Some(at) = item.expire_ms {
            files::encode_command(
                &mut buf,
                &[b"PEXPIREAT", &item.key, at.to_string().as_bytes()],
            );
        }
        if buf.len() >= 1 << 20 {
            out.write_all(&buf).map_err(|e| e.to_string())?;
            buf.clear();
        }
        Ok(())
    })
    .map_err(|e| format!("{} at offset {}", e.message, e.offset))?;
    out.write_all(&buf)
        .and_then(|_| out.flush())
        .map_err(|e| format!("Write error writing append only file on disk: {e}"))
}

// ----- threads -----------------------------------------------------------------------------

/// Starts the writer thread (writes and fsyncs the stream) and the rewrite thread.
pub fn spawn_threads(server: Arc<Server>) -> std::io::Result<()> {
    let aof = server.aof.clone();
    std::thread::Builder::new()
        .name("aof-writer".into())
        .spawn(move || writer(&aof))?;
    std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || rewriter(&server))?;
    Ok(())
}

/// The writer thread: writes the buffer as it fills (at once with `always`, at least
/// every 100 ms otherwise) and fsyncs per policy.
fn writer(aof: &Aof) {
    let mut last_sync = Instant::now();
    loop {
        {
            let mut p = aof.pending.lock();
            if p.buf.is_empty() && !aof.stop.load(Ordering::Acquire) {
                aof.wake.wait_for(&mut p, Duration::from_millis(100));
            }
        }
        let stopping = aof.stop.load(Ordering::Acquire);
        if aof.is_on() {
            aof.write_out();
            match aof.policy() {
                fsync::ALWAYS => {
                    aof.sync();
                }
                fsync::EVERYSEC if last_sync.elapsed() >= Duration::from_secs(1) => {
                    aof.sync();
                    last_sync = Instant::now();
                }
                _ => {}
            }
        }
        if stopping {
            aof.flush_and_sync();
            return;
        }
    }
}

/// The rewrite thread: runs each requested rewrite.
fn rewriter(server: &Arc<Server>) {
    let aof = &server.aof;
    loop {
        {
            let mut r = aof.requested.lock();
            if !*r {
                aof.request_cv.wait_for(&mut r, Duration::from_millis(100));
            }
            if !std::mem::replace(&mut *r, false) {
                if aof.stop.load(Ordering::Acquire) {
                    return;
                }
                continue;
            }
        }
        aof.rewrites.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = rewrite(server);
        aof.last_rewrite_secs
            .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                aof.last_rewrite_ok.store(true, Ordering::Relaxed);
                aof.consecutive_failures.store(0, Ordering::Relaxed);
            }
            Err(Failure::Busy) => {
                // A snapshot began first: run once it is over.
                aof.rewrites.fetch_sub(1, Ordering::Relaxed);
                aof.rewrite_scheduled.store(true, Ordering::Relaxed);
            }
            Err(Failure::Error(e)) => {
                tracing::warn!("Background AOF rewrite terminated with error: {e}");
                aof.last_rewrite_ok.store(false, Ordering::Relaxed);
                aof.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                if aof.state() == State::WaitRewrite {
                    aof.rewrite_scheduled.store(true, Ordering::Relaxed);
                }
            }
        }
        aof.rewrite_running.store(false, Ordering::Release);
    }
}

enum Failure {
    /// Another snapshot is running.
    Busy,
    Error(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Error(e)
    }
}

/// One rewrite (see the module docs).
fn rewrite(server: &Arc<Server>) -> Result<(), Failure> {
    let dir = aof_dir(server);
    let name = aof_name(server);
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    let preamble = server.config.get_bool("aof-use-rdb-preamble");
    let pid = std::process::id();
    let tmp = dir.join(format!("temp-rewriteaof-bg-{pid}.aof"));
    // The snapshot is an RDB stream: the base itself, or converted to commands after.
    let snap = if preamble {
        tmp.clone()
    } else {
        dir.join(format!("temp-rewriteaof-bg-{pid}.rdb"))
    };
    let io = |e: std::io::Error| format!("Write error writing append only file on disk: {e}");
    let file = File::create(&snap).map_err(io)?;
    let sync_handle = file.try_clone().map_err(io)?;
    let mut switched: Result<State, String> = Err("the snapshot did not start".into());
    // The instant: no write in flight (order lock), none running (the world lock the
    // snapshot takes for its start).
    let handle = {
        let _order = server.propagation.order();
        crate::family::persistence::begin_background_save(
            server,
            Box::new(BufWriter::with_capacity(1 << 20, file)),
            || switched = switch_at_rewrite(server),
        )
    };
    let Ok(handle) = handle else {
        let _ = std::fs::remove_file(&snap);
        return Err(Failure::Busy);
    };
    tracing::info!("Background append only file rewriting started");
    let finished = handle.wait();
    let cleanup = || {
        let _ = std::fs::remove_file(&snap);
        let _ = std::fs::remove_file(&tmp);
    };
    let state = match (switched, finished) {
        (Ok(s), Ok(_)) => s,
        (Err(e), _) | (_, Err(e)) => {
            cleanup();
            return Err(e.into());
        }
    };
    let done = (|| {
        sync_handle.sync_all().map_err(io)?;
        if !preamble {
            let rdb = std::fs::read(&snap).map_err(io)?;
            let out = File::create(&tmp).map_err(io)?;
            let mut w = BufWriter::with_capacity(1 << 20, out);
            rdb_to_commands(server, &rdb, &mut w)?;
            let out = w.into_inner().map_err(|e| io(e.into_error()))?;
            out.sync_all().map_err(io)?;
            let _ = std::fs::remove_file(&snap);
        }
        tracing::info!(
            "Successfully created the temporary AOF base file {}",
            tmp.display()
        );
        finish_rewrite(server, &dir, &name, &tmp, preamble, state)
    })();
    if done.is_err() {
        cleanup();
    }
    done.map_err(Failure::from)
}

/// At the rewrite's instant (order lock and world lock held): ends the current incremental
/// file (written and fsynced) and starts the next one, listed in the manifest at once; when
/// the AOF is being switched on, starts the temporary incremental file and the stream.
/// Function libraries go first into the new file, so they survive the rewrite.
fn switch_at_rewrite(server: &Server) -> Result<State, String> {
    let aof = &server.aof;
    let dir = aof_dir(server);
    let name = aof_name(server);
    let mut c = aof.control.lock();
    let state = aof.state();
    let create = |file: &str| {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(file))
            .map_err(|e| format!("Can't open the append-only file {file}: {e}"))
    };
    let incr = match state {
        State::Off => return Ok(State::Off),
        State::On => {
            aof.flush_and_sync();
            let mut m = c.manifest.clone();
            let incr = m.new_incr(&name);
            let file = create(&incr)?;
            m.store(&dir, &name)
                .map_err(|e| format!("Can't write the AOF manifest file: {e}"))?;
            c.manifest = m;
            aof.open_current(file);
            incr
        }
        State::WaitRewrite => {
            let incr = files::temp_incr_name(&name);
            let file = create(&incr)?;
            aof.open_current(file);
            attach(server, &mut c, true);
            incr
        }
    };
    drop(c);
    tracing::info!("Creating AOF incr file {incr} on background rewrite");
    server.propagation.reselect();
    if let Ok(st) = crate::family::scripting::state(server) {
        let engine = st.engine.lock();
        let mut buf = Vec::new();
        for lib in engine.libraries() {
            files::encode_command(&mut buf, &[b"FUNCTION", b"LOAD", b"REPLACE", &lib.code]);
        }
        drop(engine);
        if !buf.is_empty() {
            aof.feed(&buf);
        }
    }
    Ok(state)
}

/// Makes the rewritten snapshot the base: renamed into place, listed in the manifest with
/// the incremental file started at the rewrite's instant, the older files removed.
fn finish_rewrite(
    server: &Server,
    dir: &Path,
    name: &str,
    tmp: &Path,
    preamble: bool,
    started_in: State,
) -> Result<(), String> {
    let aof = &server.aof;
    let mut c = aof.control.lock();
    if aof.state() != started_in {
        // The AOF was switched off (or on) meanwhile: this rewrite is of no use.
        let _ = std::fs::remove_file(tmp);
        if started_in == State::WaitRewrite {
            let _ = std::fs::remove_file(dir.join(files::temp_incr_name(name)));
        }
        return Ok(());
    }
    tracing::info!("Background AOF rewrite terminated with success");
    let mut m = c.manifest.clone();
    let base = m.new_base(name, preamble);
    std::fs::rename(tmp, dir.join(&base)).map_err(|e| {
        format!(
            "Error trying to rename the temporary AOF base file {} into {base}: {e}",
            tmp.display()
        )
    })?;
    tracing::info!(
        "Successfully renamed the temporary AOF base file {} into {base}",
        tmp.display()
    );
    if started_in == State::WaitRewrite {
        let temp_incr = files::temp_incr_name(name);
        let incr = m.new_incr(name);
        if let Err(e) = std::fs::rename(dir.join(&temp_incr), dir.join(&incr)) {
            let _ = std::fs::remove_file(dir.join(&base));
            return Err(format!(
                "Error trying to rename the temporary AOF incr file {temp_incr} into {incr}: {e}"
            ));
        }
        tracing::info!("Successfully renamed the temporary AOF incr file {temp_incr} into {incr}");
    }
    m.retire_incr(aof.is_on());
    if let Err(e) = m.store(dir, name) {
        let _ = std::fs::remove_file(dir.join(&base));
        return Err(format!("Can't write the AOF manifest file: {e}"));
    }
    let base_size = file_size(&dir.join(&base));
    let incr_size = aof.file.lock().as_ref().map_or(0, |f| f.size);
    aof.base_size.store(base_size, Ordering::Relaxed);
    aof.current_size
        .store(base_size + incr_size, Ordering::Relaxed);
    c.manifest = m;
    remove_history(&mut c.manifest, dir, name);
    if started_in == State::WaitRewrite {
        aof.set_state(State::On);
    }
    drop(c);
    tracing::info!("Background AOF rewrite finished successfully");
    Ok(())
}

// ----- cron and shutdown -------------------------------------------------------------------

/// Redis's serverCron part for the AOF: `appendfsync` and `appendonly` changed by CONFIG
/// SET, a scheduled rewrite, and the automatic rewrite when the file has grown by
/// `auto-aof-rewrite-percentage` over its size after the last rewrite (and is past
/// `auto-aof-rewrite-min-size`).
pub fn cron(server: &Server) {
    // The AOF is opened once the dataset is loaded (start-up) or replaced (a full sync).
    if crate::family::persistence::loading(server) {
        return;
    }
    refresh_policy(server);
    let aof = &server.aof;
    let want = server.config.get_bool("appendonly");
    let state = aof.state();
    if want && state == State::Off {
        start_at_runtime(server);
    } else if !want && state != State::Off {
        stop_at_runtime(server);
    }
    let busy = aof.rewrite_running.load(Ordering::Acquire) || server.keyspace.snapshot_running();
    if busy {
        return;
    }
    if aof.rewrite_scheduled.load(Ordering::Relaxed) {
        aof.request_rewrite();
        return;
    }
    if aof.state() != State::On {
        return;
    }
    let perc = server.config.get_i64("auto-aof-rewrite-percentage");
    let min = server.config.get_i64("auto-aof-rewrite-min-size").max(0) as u64;
    let current = aof.current_size.load(Ordering::Relaxed);
    if perc <= 0 || current <= min {
        return;
    }
    let base = aof.base_size.load(Ordering::Relaxed).max(1);
    let growth = (current * 100 / base) as i64 - 100;
    if growth >= perc && !rewrite_limited(aof) {
        tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
        aof.request_rewrite();
    }
}

/// Redis's `aofRewriteLimited`: after 3 consecutive failures, automatic rewrites wait 1,
/// 2, 4... up to 60 minutes.
fn rewrite_limited(aof: &Aof) -> bool {
    if aof.consecutive_failures.load(Ordering::Relaxed) < LIMIT_THRESHOLD {
        aof.next_auto_s.store(0, Ordering::Relaxed);
        aof.backoff_minutes.store(0, Ordering::Relaxed);
        return false;
    }
    let now = unix_ms() / 1000;
    let next = aof.next_auto_s.load(Ordering::Relaxed);
    if next != 0 {
        if now < next {
            return true;
        }
        aof.next_auto_s.store(0, Ordering::Relaxed);
        return false;
    }
    let minutes = match aof.backoff_minutes.load(Ordering::Relaxed) {
        0 => 1,
        m => (m * 2).min(LIMIT_MAX_MINUTES),
    };
    aof.backoff_minutes.store(minutes, Ordering::Relaxed);
    aof.next_auto_s.store(now + minutes * 60, Ordering::Relaxed);
    tracing::warn!("Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {minutes} minutes");
    true
}

/// CONFIG SET appendonly yes: the stream is attached at once (without keeping anything,
/// so every writer from now on takes the order lock), and a rewrite writes the first base;
/// its instant starts the temporary incremental file.
fn start_at_runtime(server: &Server) {
    let aof = &server.aof;
    let mut c = aof.control.lock();
    let dir = aof_dir(server);
    let name = aof_name(server);
    if let Ok(Some(m)) = Manifest::load(&dir, &name) {
        c.manifest = m;
    }
    attach(server, &mut c, false);
    aof.set_state(State::WaitRewrite);
    drop(c);
    if aof.rewrite_running.load(Ordering::Acquire) || server.keyspace.snapshot_running() {
        tracing::warn!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        aof.rewrite_scheduled.store(true, Ordering::Relaxed);
    } else {
        aof.request_rewrite();
    }
}

/// CONFIG SET appendonly no: the stream is detached, the file written, fsynced and closed.
fn stop_at_runtime(server: &Server) {
    let aof = &server.aof;
    let mut c = aof.control.lock();
    if let Some(sink) = c.sink.take() {
        server.propagation.detach(&sink);
    }
    aof.accepting.store(false, Ordering::Release);
    aof.flush_and_sync();
    *aof.file.lock() = None;
    aof.on.store(false, Ordering::Release);
    aof.pending.lock().buf.clear();
    aof.synced_notify.notify_waiters();
    aof.rewrite_scheduled.store(false, Ordering::Relaxed);
    aof.set_state(State::Off);
}

/// At shutdown: writes and fsyncs what is buffered and stops the threads.
pub fn close(server: &Server) {
    let aof = &server.aof;
    aof.flush_and_sync();
    aof.stop.store(true, Ordering::Release);
    aof.wake.notify_all();
    aof.request_cv.notify_all();
}

// ----- INFO --------------------------------------------------------------------------------

/// INFO persistence from `aof_enabled` to `module_fork_last_cow_size`, and the lines Redis
/// adds while the AOF is on.
pub fn info(server: &Server, kv: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let aof = &server.aof;
    let enabled = aof.state() != State::Off;
    let running = aof.rewrite_running.load(Ordering::Acquire);
    let ok = |b: bool| if b { "ok" } else { "err" };
    kv("aof_enabled", &u8::from(enabled));
    kv("aof_rewrite_in_progress", &u8::from(running));
    kv(
        "aof_rewrite_scheduled",
        &u8::from(aof.rewrite_scheduled.load(Ordering::Relaxed)),
    );
    kv(
        "aof_last_rewrite_time_sec",
        &aof.last_rewrite_secs.load(Ordering::Relaxed),
    );
    let current = if running {
        (unix_ms().saturating_sub(aof.rewrite_started_ms.load(Ordering::Relaxed)) / 1000) as i64
    } else {
        -1
    };
    kv("aof_current_rewrite_time_sec", &current);
    kv(
        "aof_last_bgrewrite_status",
        &ok(aof.last_rewrite_ok.load(Ordering::Relaxed)),
    );
    kv("aof_rewrites", &aof.rewrites.load(Ordering::Relaxed));
    kv(
        "aof_rewrites_consecutive_failures",
        &aof.consecutive_failures.load(Ordering::Relaxed),
    );
    kv(
        "aof_last_write_status",
        &ok(aof.last_write_ok.load(Ordering::Relaxed)),
    );
    kv("aof_last_cow_size", &0);
    kv("module_fork_in_progress", &0);
    kv("module_fork_last_cow_size", &0);
    if enabled {
        kv(
            "aof_current_size",
            &aof.current_size.load(Ordering::Relaxed),
        );
        kv("aof_base_size", &aof.base_size.load(Ordering::Relaxed));
        kv(
            "aof_pending_rewrite",
            &u8::from(aof.rewrite_scheduled.load(Ordering::Relaxed)),
        );
        kv("aof_buffer_length", &aof.pending.lock().buf.len());
        kv("aof_pending_bio_fsync", &0);
        kv("aof_delayed_fsync", &0);
    }
}

// ----- commands ----------------------------------------------------------------------------

fn bgrewriteaof(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let aof = &cx.server.aof;
    if aof.rewrite_running.load(Ordering::Acquire) {
        return Err(REWRITE_IN_PROGRESS);
    }
    let in_exec = matches!(cx.store.access, Access::Lent(_));
    if cx.server.keyspace.snapshot_running() || in_exec {
        aof.rewrite_scheduled.store(true, Ordering::Relaxed);
        aof.consecutive_failures.store(0, Ordering::Relaxed);
        cx.out
            .simple(b"Background append only file rewriting scheduled");
        return Ok(());
    }
    aof.request_rewrite();
    cx.out
        .simple(b"Background append only file rewriting started");
    Ok(())
}

/// WAITAOF numlocal numreplicas timeout. The local count fsyncs the stream up to now on
/// the spot. Replicas count when their `FACK` (the stream offset fsynced to their AOF)
/// covers the client's last write; too few, and the client waits for more as WAIT does.
fn waitaof(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let numlocal = parse_i64(&args[1])?;
    if !(0..=1).contains(&numlocal) {
        return Err(NUMLOCAL_RANGE);
    }
    let numreplicas = parse_i64(&args[2])?;
    if numreplicas < 0 {
        return Err(errors::POSITIVE);
    }
    let timeout = parse_i64(&args[3]).map_err(|_| errors::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if cx.server.replication.is_replica() {
        return Err(WAITAOF_ON_REPLICA);
    }
    let aof = &cx.server.aof;
    if numlocal > 0 && aof.state() == State::Off {
        return Err(WAITAOF_NO_AOF);
    }
    let pos = aof.fed();
    if numlocal > 0 && aof.synced() < pos {
        aof.flush_and_sync();
    }
    let req = crate::replication::WaitRequest {
        offset: cx.client.woff,
        replicas: numreplicas as u64,
        deadline_ms: (timeout > 0).then(|| unix_ms() + timeout as u64),
        aof_pos: Some(pos),
    };
    let acked = req.acked(cx.server);
    if acked >= req.replicas || cx.client.deny_blocking.is_some() {
        req.reply(cx.server, cx.out, acked);
        return Ok(());
    }
    crate::replication::request_acks(cx.server);
    cx.client.action = Some(Action::Replication(crate::replication::Handoff::Wait(req)));
    Ok(())
}
