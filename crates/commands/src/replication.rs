//! Replication with Redis's protocol: the state of this server as a master (backlog,
//! replica links, WAIT) and as a replica (its master, the link's state, the PSYNC cache),
//! the commands SYNC, PSYNC, REPLCONF, REPLICAOF/SLAVEOF and WAIT, ROLE and INFO
//! replication. The sockets — a replica link's loop and the replica's client of its
//! master — live in the `server` crate; this file decides what they send.
//!
//! Offsets are Redis's: `master_repl_offset` counts the bytes of the replication stream
//! since it began; PSYNC asks for the first byte wanted; a replica acknowledges the bytes
//! it has applied. See `docs/design/replication.md`.

mod backlog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

pub use backlog::{Backlog, ObufLimit, ReplicaLink, Stream};

use crate::args::{is, parse_i64};
use crate::client::{Action, Client};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::server::{unix_ms, Server};
use crate::spec::{flag, flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[
    command!("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, Keys::NONE, sync,
        acl: &["admin", "slow", "dangerous"], group: "server", since: "1.0.0", complexity: "",
        summary: "An internal command used in replication."),
    command!("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, Keys::NONE, psync,
        acl: &["admin", "slow", "dangerous"], group: "server", since: "2.8.0", complexity: "",
        summary: "An internal command used in replication."),
    command!("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, Keys::NONE, replconf,
        acl: &["admin", "slow", "dangerous"], group: "server", since: "3.0.0", complexity: "O(1)",
        summary: "An internal command for configuring the replication stream."),
    command!("replicaof", 3, ADMIN | NOSCRIPT | STALE, Keys::NONE, replicaof,
        acl: &["admin", "slow", "dangerous"], group: "server", since: "5.0.0", complexity: "O(1)",
        summary: "Configures a server as replica of another, or promotes it to a master."),
    command!("slaveof", 3, ADMIN | NOSCRIPT | STALE, Keys::NONE, replicaof,
        acl: &["admin", "slow", "dangerous"], group: "server", since: "1.0.0", complexity: "O(1)",
        summary: "Sets a Redis server as a replica of another, or promotes it to being a master."),
    command!("wait", 3, NOSCRIPT, Keys::NONE, wait,
        acl: &["slow", "connection"], group: "generic", since: "3.0.0", complexity: "O(1)",
        summary: "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."),
];

const NOMASTERLINK: CmdError =
    CmdError::new("NOMASTERLINK Can't SYNC while not connected with my master");
const WAIT_ON_REPLICA: CmdError = CmdError::new("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
pub const READONLY_REPLICA: CmdError =
    CmdError::new("READONLY You can't write against a read only replica.");
pub const NOREPLICAS: CmdError = CmdError::new("NOREPLICAS Not enough good replicas to write.");
pub const MASTERDOWN: CmdError = CmdError::new(
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
);

/// Bits of [`Replication::gate`]: why some commands are refused now.
mod gate {
    /// A read-only replica: write commands of clients other than the master.
    pub const READONLY: u8 = 1;
    /// Fewer good replicas than `min-replicas-to-write`: write commands.
    pub const NOREPLICAS: u8 = 2;
    /// A replica whose link is down with `replica-serve-stale-data no`.
    pub const MASTERDOWN: u8 = 4;
}

/// The replica's link with its master (ROLE's state words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Connect,
    Connecting,
    Handshake,
    Sync,
    Connected,
}

impl Link {
    fn word(self) -> &'static str {
        match self {
            Link::Connect => "connect",
            Link::Connecting => "connecting",
            Link::Handshake => "handshake",
            Link::Sync => "sync",
            Link::Connected => "connected",
        }
    }
}

/// This server as a replica.
#[derive(Clone, Debug)]
pub struct ReplicaOf {
    pub host: String,
    pub port: u16,
    /// Changes with every REPLICAOF, so a client of an old master stops.
    pub generation: u64,
    pub link: Link,
    /// Last time data came from the master (Unix ms).
    pub last_io_ms: u64,
    /// When the link went down (Unix s; 0: never up).
    pub down_since_s: u64,
    /// Bytes read of the stream (`slave_read_repl_offset`).
    pub read_offset: u64,
    /// The RDB transfer: total bytes (0 unknown) and read so far.
    pub sync_total: u64,
    pub sync_read: u64,
}

/// What a replica announced before PSYNC (REPLCONF listening-port, ip-address, capa).
#[derive(Clone, Debug, Default)]
struct Announce {
    port: u16,
    ip: Option<String>,
    capa_eof: bool,
}

/// A connection's request to become a replica link (SYNC, PSYNC), carried out by the
/// connection loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    /// PSYNC's replication id and first offset wanted; None for SYNC.
    pub psync: Option<(String, i64)>,
}

/// A WAIT or WAITAOF that could not be answered at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitRequest {
    pub offset: u64,
    pub replicas: u64,
    /// Unix ms; None waits forever.
    pub deadline_ms: Option<u64>,
    /// WAITAOF: the local AOF position whose fsync is reported as `numlocal`; replicas
    /// count by their `FACK` instead of their `ACK`.
    pub aof_pos: Option<u64>,
}

impl WaitRequest {
    /// Replicas that acknowledged what this request waits for.
    pub fn acked(&self, server: &Server) -> u64 {
        match self.aof_pos {
            None => acked_replicas(server, self.offset),
            Some(_) => aof_acked_replicas(server, self.offset),
        }
    }

    /// The reply: WAIT's count, or WAITAOF's `[numlocal, numreplicas]`.
    pub fn reply(&self, server: &Server, out: &mut protocol::ReplyWriter, acked: u64) {
        match self.aof_pos {
            None => out.int(acked as i64),
            Some(pos) => {
                let aof = &server.aof;
                out.array(2);
                out.int(i64::from(aof.is_on() && aof.synced() >= pos));
                out.int(acked as i64);
            }
        }
    }
}

/// The replication work a connection loop carries out after a command (a client action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handoff {
    Sync(SyncRequest),
    Wait(WaitRequest),
}

/// Replication state of the server.
pub struct Replication {
    pub backlog: Arc<Backlog>,
    /// Some while this server is a replica.
    replica_of: Mutex<Option<ReplicaOf>>,
    generation: AtomicU64,
    /// Signalled on REPLICAOF: the server's replica client (re)starts or stops.
    pub changed: Notify,
    /// Signalled on every ACK from a replica (WAIT).
    pub acked: Notify,
    /// The client id of the connection applying the master's stream (0: none).
    pub master_client: AtomicU64,
    /// On a replica: the database the master's stream has selected (sub-replicas' full
    /// synchronisations carry it as the RDB's `repl-stream-db`).
    pub stream_db: AtomicUsize,
    /// On a replica: held while one command of the master's stream is applied and appended
    /// to the backlog, so a sub-replica's snapshot falls between two commands. Taken before
    /// the order lock.
    pub apply_lock: Mutex<()>,
    /// Why commands are refused now ([`gate`] bits); 0 in the common case.
    pub gate: AtomicU8,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    announce: Mutex<HashMap<u64, Announce>>,
    /// Unix ms of the last PING sent to replicas.
    last_ping_ms: AtomicU64,
}

impl Replication {
    pub fn new(replid: String) -> Self {
        Replication {
            backlog: Arc::new(Backlog::new(replid)),
            replica_of: Mutex::new(None),
            generation: AtomicU64::new(0),
            changed: Notify::new(),
            acked: Notify::new(),
            master_client: AtomicU64::new(0),
            stream_db: AtomicUsize::new(0),
            apply_lock: Mutex::new(()),
            gate: AtomicU8::new(0),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            announce: Mutex::new(HashMap::new()),
            last_ping_ms: AtomicU64::new(unix_ms()),
        }
    }

    /// The master this server replicates, if any.
    pub fn replica_of(&self) -> Option<ReplicaOf> {
        self.replica_of.lock().clone()
    }

    pub fn is_replica(&self) -> bool {
        self.replica_of.lock().is_some()
    }

    /// Updates the replica state if it is still of `generation`; false when REPLICAOF
    /// changed it meanwhile (the caller must stop).
    pub fn update(&self, generation: u64, f: impl FnOnce(&mut ReplicaOf)) -> bool {
        let mut r = self.replica_of.lock();
        match r.as_mut() {
            Some(r) if r.generation == generation => {
                f(r);
                true
            }
            _ => false,
        }
    }

    /// The replication id (`master_replid`).
    pub fn replid(&self) -> String {
        self.backlog.lock().replid.clone()
    }
}

/// A 40-character hex id, as Redis's `getRandomHexChars`.
pub fn random_id() -> String {
    (0..40)
        .map(|_| char::from(b"0123456789abcdef"[rand::random::<usize>() % 16]))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Master side
// ---------------------------------------------------------------------------------------

/// What a new replica link starts with: the reply (and RDB) to write first, then the
/// stream queued on `link`.
pub struct SyncStart {
    pub preamble: Vec<u8>,
    pub link: Arc<ReplicaLink>,
    pub full: bool,
    /// The RDB was sent in the EOF-marked form: as Redis, the stream starts only after the
    /// replica's first ACK (the replica recognises the end of the RDB by its last bytes).
    pub stream_on_ack: bool,
    /// The RDB still to send after the preamble, when a background snapshot produces it.
    pub snapshot: Option<Snapshot>,
}

/// Makes sure the backlog exists and receives the effect stream.
fn ensure_backlog(server: &Server, s: &mut Stream) {
    if !s.active {
        s.activate(server.config.get_i64("repl-backlog-size").max(1) as usize);
        s.limit = ObufLimit::parse(
            &server
                .config
                .get("client-output-buffer-limit")
                .unwrap_or_default(),
        );
        tracing::info!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            s.replid,
            s.replid2
        );
    }
}

/// Attaches the backlog to the propagation log once (the caller holds the order lock).
fn attach_backlog(server: &Server) {
    let b: Arc<dyn crate::propagate::Sink> = server.replication.backlog.clone();
    server.propagation.detach(&b);
    server.propagation.attach(b);
}

/// Turns the connection `client_id` into a replica link: a partial resync from the backlog
/// when the replica's id and offset allow it, otherwise a full one — an RDB of the keyspace
/// taken at a point of the stream with no write in flight, followed by the stream from
/// exactly that point.
pub fn start_sync(
    server: &Server,
    client: &Client,
    req: &SyncRequest,
) -> Result<SyncStart, CmdError> {
    let repl = &server.replication;
    if let Some(r) = repl.replica_of() {
        if r.link != Link::Connected {
            return Err(NOMASTERLINK);
        }
    }
    let ann = repl.announce.lock().remove(&client.id).unwrap_or_default();
    let ip = ann.ip.clone().unwrap_or_else(|| {
        client
            .handle
            .addr
            .rsplit_once(':')
            .map_or(client.handle.addr.clone(), |(h, _)| h.to_string())
    });
    let link = Arc::new(ReplicaLink::new(client.id, ip, ann.port));
    // Partial resynchronisation: only the backlog's lock is needed.
    if let Some((id, from)) = &req.psync {
        let mut s = repl.backlog.lock();
        let from_ok = *from >= 0;
        let id_ok = *id == s.replid || (*id == s.replid2 && *from <= s.second_offset);
        if from_ok && id_ok {
            if let Some(bytes) = s.since(*from as u64) {
                let mut preamble = format!("+CONTINUE {}\r\n", s.replid).into_bytes();
                preamble.extend_from_slice(&bytes);
                s.links.push(link.clone());
                drop(s);
                repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                    link.ip,
                    bytes.len(),
                    from
                );
                return Ok(SyncStart {
                    preamble,
                    link,
                    full: false,
                    stream_on_ack: false,
                    snapshot: None,
                });
            }
        }
        if id != "?" {
            repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Full resynchronisation at a point of the stream with no write in flight (on a replica:
    // between two commands of its master's stream).
    let applying = repl.apply_lock.lock();
    let order = server.propagation.order();
    {
        let mut s = repl.backlog.lock();
        ensure_backlog(server, &mut s);
    }
    let proxy = repl.backlog.proxy.load(Ordering::Acquire);
    if !proxy {
        attach_backlog(server);
    }
    repl.sync_full.fetch_add(1, Ordering::Relaxed);
    let eof = ann.capa_eof && req.psync.is_some() && server.config.get_bool("repl-diskless-sync");
    // At the snapshot instant: the reply line, and the link's queue registered at exactly
    // that offset; the new replica's stream begins with a SELECT.
    let at_instant = || {
        server.propagation.reselect();
        let mut s = repl.backlog.lock();
        s.links.push(link.clone());
        match req.psync {
            Some(_) => format!("+FULLRESYNC {} {}\r\n", s.replid, s.offset).into_bytes(),
            // SYNC (before PSYNC existed) gets the RDB alone.
            None => Vec::new(),
        }
    };
    // A master streams a background snapshot (writers go on meanwhile). A replica builds it
    // in memory under the locks, to add `repl-stream-db`; so does a master while another
    // snapshot runs.
    if !proxy {
        let pipe = Arc::new(RdbPipe::default());
        let mut line = Vec::new();
        let started = crate::family::persistence::begin_background_save(
            server,
            Box::new(PipeWriter(pipe.clone())),
            || line = at_instant(),
        );
        if let Ok(handle) = started {
            drop(order);
            drop(applying);
            let mark = eof.then(random_id);
            if let Some(m) = &mark {
                line.extend_from_slice(format!("$EOF:{m}\r\n").as_bytes());
            }
            tracing::info!(
                "Starting BGSAVE for SYNC with target: {} (replica {}:{})",
                if eof { "replicas sockets" } else { "memory" },
                link.ip,
                link.port
            );
            return Ok(SyncStart {
                preamble: line,
                link,
                full: true,
                stream_on_ack: eof,
                snapshot: Some(Snapshot { pipe, handle, mark }),
            });
        }
    }
    let access = server.keyspace.exclusive();
    let opts = persistence::rdb::SaveOptions {
        version: crate::family::persistence::RDB_VERSION,
        compress: server.config.get_bool("rdbcompression"),
        checksum: server.config.get_bool("rdbchecksum"),
        redis_ver: crate::REDIS_VERSION.to_string(),
        used_mem: crate::family::info::used_memory(server),
        aof_base: false,
        ctime: unix_ms() / 1000,
    };
    let mut rdb = Vec::new();
    persistence::rdb::write_file(&mut rdb, &access, server.keyspace.now_ms(), &opts)
        .map_err(|e| CmdError::err(format_args!("BGSAVE for replication failed: {e}")))?;
    if proxy {
        // A replica's stream continues its master's, which may have selected any database.
        rdb = with_stream_db(rdb, repl.stream_db.load(Ordering::Acquire));
    }
    let mut preamble = at_instant();
    drop(access);
    drop(order);
    drop(applying);
    if eof {
        let mark = random_id();
        preamble.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
        preamble.extend_from_slice(&rdb);
        preamble.extend_from_slice(mark.as_bytes());
    } else {
        preamble.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
        preamble.extend_from_slice(&rdb);
    }
    tracing::info!(
        "Starting full resynchronization with replica {}:{} ({} bytes of RDB)",
        link.ip,
        link.port,
        rdb.len()
    );
    Ok(SyncStart {
        preamble,
        link,
        full: true,
        stream_on_ack: eof,
        snapshot: None,
    })
}

/// The RDB of a background snapshot on its way to a replica: the bytes produced so far.
#[derive(Default)]
pub struct RdbPipe {
    buf: Mutex<Vec<u8>>,
    /// Signalled when bytes arrive.
    pub notify: Notify,
}

impl RdbPipe {
    /// Takes what has arrived.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock())
    }
}

/// The snapshot's writer: appends (under a shard lock, so it never blocks).
struct PipeWriter(Arc<RdbPipe>);

impl std::io::Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.buf.lock().extend_from_slice(data);
        self.0.notify.notify_one();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A full synchronisation's background snapshot: sent as it is produced after a
/// `$EOF:<mark>` line (then the mark), or once complete after `$<len>`.
pub struct Snapshot {
    pub pipe: Arc<RdbPipe>,
    pub handle: crate::family::persistence::SaveHandle,
    pub mark: Option<String>,
}

/// Whether client `id` is this replica's master client (`Some(true)`) or a replica's link
/// (`Some(false)`), for CLIENT LIST/KILL TYPE.
pub fn link_kind(server: &Server, id: u64) -> Option<bool> {
    let repl = &server.replication;
    if repl.master_client.load(Ordering::Relaxed) == id {
        return Some(true);
    }
    repl.backlog
        .lock()
        .links
        .iter()
        .any(|l| l.client_id == id)
        .then_some(false)
}

/// Adds the `repl-stream-db` aux field (Redis's `rdbSaveInfoAuxFields`) after the header
/// of an RDB image, recomputing its checksum (unless it has none).
fn with_stream_db(rdb: Vec<u8>, db: usize) -> Vec<u8> {
    if rdb.len() < 18 {
        return rdb;
    }
    let body_end = rdb.len() - 8;
    let checksummed = rdb[body_end..] != [0u8; 8];
    let mut out = Vec::with_capacity(rdb.len() + 32);
    out.extend_from_slice(&rdb[..9]);
    out.push(persistence::rdb::op::AUX);
    for s in [&b"repl-stream-db"[..], db.to_string().as_bytes()] {
        // Lengths below 64 take one byte (`00xxxxxx`).
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }
    out.extend_from_slice(&rdb[9..body_end]);
    let crc = if checksummed {
        persistence::crc64::crc64(0, &out)
    } else {
        0
    };
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A replica link ended: forget it.
pub fn end_link(server: &Server, link: &ReplicaLink) {
    server.replication.backlog.remove_link(link.client_id);
    refresh_gate(server);
    server.replication.acked.notify_waiters();
}

/// Records a `REPLCONF ACK <offset> [FACK <aofoffset>]` received on a replica link.
pub fn ack(server: &Server, link: &ReplicaLink, offset: u64, aof_offset: Option<u64>) {
    link.ack_offset.fetch_max(offset, Ordering::AcqRel);
    if let Some(fack) = aof_offset {
        link.aof_ack_offset.fetch_max(fack, Ordering::AcqRel);
    }
    link.last_ack_ms.store(unix_ms(), Ordering::Relaxed);
    server.replication.acked.notify_waiters();
}

/// Replicas (online) whose acknowledged offset is at least `offset`.
pub fn acked_replicas(server: &Server, offset: u64) -> u64 {
    server
        .replication
        .backlog
        .links()
        .iter()
        .filter(|l| {
            l.online.load(Ordering::Acquire) && l.ack_offset.load(Ordering::Acquire) >= offset
        })
        .count() as u64
}

/// Replicas (online) whose stream up to `offset` is fsynced to their AOF (their `FACK`).
pub fn aof_acked_replicas(server: &Server, offset: u64) -> u64 {
    server
        .replication
        .backlog
        .links()
        .iter()
        .filter(|l| {
            l.online.load(Ordering::Acquire) && l.aof_ack_offset.load(Ordering::Acquire) >= offset
        })
        .count() as u64
}

/// Asks every replica for an ACK (`REPLCONF GETACK *` in the stream).
pub fn request_acks(server: &Server) {
    let mut buf = bytes::BytesMut::new();
    crate::propagate::encode(
        &mut buf,
        &[
            Bytes::from_static(b"REPLCONF"),
            Bytes::from_static(b"GETACK"),
            Bytes::from_static(b"*"),
        ],
    );
    server.replication.backlog.append(&buf);
}

/// Replicas that acknowledged within `min-replicas-max-lag` seconds.
fn good_replicas(server: &Server) -> u64 {
    let max_lag = server.config.get_i64("min-replicas-max-lag").max(0) as u64;
    let now = unix_ms();
    server
        .replication
        .backlog
        .links()
        .iter()
        .filter(|l| {
            l.online.load(Ordering::Acquire)
                && now.saturating_sub(l.last_ack_ms.load(Ordering::Relaxed)) / 1000 <= max_lag
        })
        .count() as u64
}

/// Whether `client` is this replica's master client (Redis's `mustObeyClient`).
pub fn from_master(server: &Server, client: &Client) -> bool {
    client.id == server.replication.master_client.load(Ordering::Relaxed)
}

/// Recomputes which commands the server refuses now.
pub fn refresh_gate(server: &Server) {
    let mut g = 0;
    let r = server.replication.replica_of();
    if let Some(r) = &r {
        if server.config.get_bool("replica-read-only") {
            g |= gate::READONLY;
        }
        if r.link != Link::Connected && !server.config.get_bool("replica-serve-stale-data") {
            g |= gate::MASTERDOWN;
        }
    } else {
        let min = server.config.get_i64("min-replicas-to-write");
        if min > 0
            && server.config.get_i64("min-replicas-max-lag") > 0
            && good_replicas(server) < min as u64
        {
            g |= gate::NOREPLICAS;
        }
    }
    server.replication.gate.store(g, Ordering::Release);
}

/// The dispatcher's check while [`Replication::gate`] is set: READONLY, NOREPLICAS,
/// MASTERDOWN, as Redis's processCommand.
pub fn check_command(server: &Server, client: &Client, flags: u32) -> CmdResult {
    let g = server.replication.gate.load(Ordering::Acquire);
    if client.id == server.replication.master_client.load(Ordering::Relaxed) {
        return Ok(());
    }
    let write = flags & flag::WRITE != 0;
    if write && g & gate::NOREPLICAS != 0 {
        return Err(NOREPLICAS);
    }
    if write && g & gate::READONLY != 0 {
        return Err(READONLY_REPLICA);
    }
    if g & gate::MASTERDOWN != 0 && flags & flag::STALE == 0 {
        return Err(MASTERDOWN);
    }
    Ok(())
}

/// Periodic replication work (the cron, once per tick): backlog size and link limits from
/// the configuration, PING of replicas every `repl-ping-replica-period`, the write gate.
pub fn cron(server: &Server) {
    let repl = &server.replication;
    let proxy = repl.backlog.proxy.load(Ordering::Acquire);
    let has_links = {
        let mut s = repl.backlog.lock();
        if s.active {
            s.resize(server.config.get_i64("repl-backlog-size").max(1) as usize);
            s.limit = ObufLimit::parse(
                &server
                    .config
                    .get("client-output-buffer-limit")
                    .unwrap_or_default(),
            );
        }
        !s.links.is_empty()
    };
    if has_links && !proxy {
        let period = server.config.get_i64("repl-ping-replica-period").max(1) as u64 * 1000;
        let now = unix_ms();
        if now.saturating_sub(repl.last_ping_ms.load(Ordering::Relaxed)) >= period {
            repl.last_ping_ms.store(now, Ordering::Relaxed);
            let mut buf = bytes::BytesMut::new();
            crate::propagate::encode(&mut buf, &[Bytes::from_static(b"PING")]);
            repl.backlog.append(&buf);
        }
    }
    refresh_gate(server);
}

// ---------------------------------------------------------------------------------------
// Replica side (the server crate's client of the master calls these)
// ---------------------------------------------------------------------------------------

/// The PSYNC this replica sends: its master's id and the next offset, or `? -1`.
pub fn psync_args(server: &Server) -> (String, String) {
    let s = server.replication.backlog.lock();
    if s.active {
        (s.replid.clone(), (s.offset + 1).to_string())
    } else {
        ("?".into(), "-1".into())
    }
}

/// After `+FULLRESYNC <replid> <offset>` and the RDB: replaces the keyspace with the RDB,
/// and restarts the backlog at the master's id and offset. Returns the keys loaded and the
/// database the stream continues in (the RDB's `repl-stream-db`, else 0).
pub fn load_full_sync(
    server: &Server,
    replid: &str,
    offset: u64,
    rdb: &[u8],
) -> Result<(u64, usize), String> {
    // Clients get -LOADING until the RDB is in (Redis's `loading` during a full sync).
    let loading = crate::family::persistence::begin_loading(server);
    loading.add_total(rdb.len() as u64);
    loading.rdb_used_mem(rdb);
    let order = server.propagation.order();
    {
        let mut access = server.keyspace.exclusive();
        if let Some(dbs) = access.exclusive() {
            let old = server.keyspace.flush(dbs, None);
            drop(old);
        }
    }
    let opts = persistence::rdb::LoadOptions {
        limits: *server.config.limits.read(),
        verify_checksum: server.config.get_bool("rdbchecksum"),
        now_ms: 0,
    };
    let summary =
        persistence::snapshot::load_bytes_with_progress(&server.keyspace, rdb, &opts, &mut |n| {
            loading.progress(n)
        })
        .map_err(|e| format!("{} at offset {}", e.message, e.offset))?;
    {
        let mut s = server.replication.backlog.lock();
        ensure_backlog(server, &mut s);
        s.replid = replid.to_string();
        s.replid2 = "0".repeat(40);
        s.second_offset = -1;
        s.reset_at(offset);
        // Sub-replicas must resynchronise with the new history.
        for l in s.links.drain(..) {
            l.overflow.store(true, Ordering::Release);
            l.notify.notify_one();
        }
    }
    drop(order);
    let db = summary
        .aux
        .iter()
        .find(|(k, _)| k.as_slice() == b"repl-stream-db")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
        .filter(|&db| db < server.keyspace.databases())
        .unwrap_or(0);
    Ok((summary.keys, db))
}

/// After `+CONTINUE [<replid>]`: a new id means the master changed history at our offset.
pub fn continue_sync(server: &Server, new_id: Option<&str>) {
    let mut s = server.replication.backlog.lock();
    if let Some(id) = new_id {
        if id != s.replid {
            let id = id.to_string();
            s.shift_id(id);
        }
    }
}

/// The replica's stream bytes just applied: appended to its backlog (for sub-replicas, and
/// its offset).
pub fn applied(server: &Server, bytes: &[u8]) {
    server.replication.backlog.append(bytes);
}

/// The replica's processed offset (`slave_repl_offset`).
pub fn processed_offset(server: &Server) -> u64 {
    server.replication.backlog.offset()
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

fn sync(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    begin_link(cx, SyncRequest { psync: None })
}

fn psync(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let id = String::from_utf8_lossy(&args[1]).into_owned();
    let offset = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(-1);
    begin_link(
        cx,
        SyncRequest {
            psync: Some((id, offset)),
        },
    )
}

fn begin_link(cx: &mut Ctx<'_>, req: SyncRequest) -> CmdResult {
    if cx.client.id == cx.server.replication.master_client.load(Ordering::Relaxed) {
        return Ok(());
    }
    if let Some(r) = cx.server.replication.replica_of() {
        if r.link != Link::Connected {
            return Err(NOMASTERLINK);
        }
    }
    cx.client.action = Some(Action::Replication(Handoff::Sync(req)));
    Ok(())
}

fn replconf(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(errors::SYNTAX);
    }
    let repl = &cx.server.replication;
    for pair in args[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "listening-port") {
            let port = parse_i64(val)?;
            repl.announce.lock().entry(cx.client.id).or_default().port =
                port.clamp(0, 65535) as u16;
        } else if is(opt, "ip-address") {
            let ip = String::from_utf8_lossy(val).into_owned();
            if ip.len() >= 46 {
                return Err(CmdError::err(format_args!(
                    "REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    ip.len()
                )));
            }
            repl.announce.lock().entry(cx.client.id).or_default().ip = Some(ip);
        } else if is(opt, "capa") {
            if is(val, "eof") {
                repl.announce
                    .lock()
                    .entry(cx.client.id)
                    .or_default()
                    .capa_eof = true;
            }
        } else if is(opt, "ack") || is(opt, "fack") {
            // ACKs arrive on replica links, which the link loop reads itself; from an
            // ordinary client they get no reply, as in Redis.
            return Ok(());
        } else if is(opt, "getack") {
            // Only a master asks, and the replica's client of its master answers it; no
            // reply otherwise, as in Redis.
            return Ok(());
        } else if is(opt, "rdb-only") || is(opt, "rdb-filter-only") || is(opt, "rdb-channel") {
            // Accepted and ignored: full synchronisations always send the whole RDB.
        } else {
            return Err(CmdError::err(format_args!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    cx.out.ok();
    Ok(())
}

fn replicaof(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let server = cx.server;
    if is(&args[1], "no") && is(&args[2], "one") {
        unset_master(server);
        cx.out.ok();
        return Ok(());
    }
    let port = parse_i64(&args[2])?;
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    if let Some(r) = server.replication.replica_of() {
        if r.host.eq_ignore_ascii_case(&host) && i64::from(r.port) == port {
            cx.out.simple(b"OK Already connected to specified master");
            return Ok(());
        }
    }
    if !(0..=65535).contains(&port) {
        return Err(errors::NOT_INTEGER);
    }
    set_master(server, host, port as u16);
    cx.out.ok();
    Ok(())
}

/// Makes this server a replica of `host:port` (REPLICAOF, `replicaof` at start-up). The
/// server crate's supervisor starts the client of the master.
pub fn set_master(server: &Server, host: String, port: u16) {
    let repl = &server.replication;
    let generation = repl.generation.fetch_add(1, Ordering::AcqRel) + 1;
    let was_master = {
        let mut r = repl.replica_of.lock();
        let was = r.is_none();
        *r = Some(ReplicaOf {
            host: host.clone(),
            port,
            generation,
            link: Link::Connect,
            last_io_ms: 0,
            down_since_s: 0,
            read_offset: 0,
            sync_total: 0,
            sync_read: 0,
        });
        was
    };
    {
        let _order = server.propagation.order();
        // From now on the backlog holds the master's stream, not ours.
        repl.backlog.proxy.store(true, Ordering::Release);
        let mut s = repl.backlog.lock();
        if was_master {
            // Redis's replicationCacheMasterUsingMyself: try to continue our own history
            // with the new master (it may be our former replica).
            ensure_backlog(server, &mut s);
        }
        // Replicas of this server resynchronise with the new history.
        for l in s.links.drain(..) {
            l.overflow.store(true, Ordering::Release);
            l.notify.notify_one();
        }
    }
    tracing::info!("REPLICAOF {host}:{port} enabled");
    refresh_gate(server);
    repl.changed.notify_waiters();
}

/// REPLICAOF NO ONE: promotion to master. The replication id changes, the old one is kept
/// as replid2 so replicas of the old master can continue with this server.
pub fn unset_master(server: &Server) {
    let repl = &server.replication;
    if repl.replica_of.lock().take().is_none() {
        return;
    }
    repl.generation.fetch_add(1, Ordering::AcqRel);
    {
        let _order = server.propagation.order();
        let mut s = repl.backlog.lock();
        if s.active {
            s.shift_id(random_id());
        }
        // As Redis: replicas reconnect to learn the new id, and continue with a partial
        // resync thanks to replid2.
        for l in s.links.drain(..) {
            l.overflow.store(true, Ordering::Release);
            l.notify.notify_one();
        }
        drop(s);
        repl.backlog.proxy.store(false, Ordering::Release);
        attach_backlog(server);
        // Our own stream starts with a SELECT, whatever the master's last selected.
        server.propagation.reselect();
    }
    tracing::info!("MASTER MODE enabled (user request)");
    refresh_gate(server);
    repl.changed.notify_waiters();
}

/// The generation of the current REPLICAOF (the replica client runs while it matches).
pub fn generation(server: &Server) -> u64 {
    server.replication.generation.load(Ordering::Acquire)
}

fn wait(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if cx.server.replication.is_replica() {
        return Err(WAIT_ON_REPLICA);
    }
    let replicas = parse_i64(&args[1])?;
    let timeout = parse_i64(&args[2]).map_err(|_| errors::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    // The client's last write: later writes of other clients are not waited for.
    let offset = cx.client.woff;
    let acked = acked_replicas(cx.server, offset);
    if acked as i64 >= replicas || cx.client.deny_blocking.is_some() {
        cx.out.int(acked as i64);
        return Ok(());
    }
    request_acks(cx.server);
    cx.client.action = Some(Action::Replication(Handoff::Wait(WaitRequest {
        offset,
        replicas: replicas.max(0) as u64,
        deadline_ms: (timeout > 0).then(|| unix_ms() + timeout as u64),
        aof_pos: None,
    })));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ROLE, HELLO, INFO
// ---------------------------------------------------------------------------------------

/// ROLE.
pub fn role(cx: &mut Ctx<'_>) -> CmdResult {
    let server = cx.server;
    let out = &mut *cx.out;
    match server.replication.replica_of() {
        Some(r) => {
            out.array(5);
            out.bulk(b"slave");
            out.bulk(r.host.as_bytes());
            out.int(i64::from(r.port));
            out.bulk(r.link.word().as_bytes());
            if r.link == Link::Connected {
                out.int(processed_offset(server) as i64);
            } else {
                out.int(-1);
            }
        }
        None => {
            let (offset, links) = {
                let s = server.replication.backlog.lock();
                (s.offset, s.links.clone())
            };
            let online: Vec<_> = links
                .iter()
                .filter(|l| l.online.load(Ordering::Acquire))
                .collect();
            out.array(3);
            out.bulk(b"master");
            out.int(offset as i64);
            out.array(online.len());
            for l in online {
                out.array(3);
                out.bulk(l.ip.as_bytes());
                out.bulk(l.port.to_string().as_bytes());
                out.bulk(l.ack_offset.load(Ordering::Acquire).to_string().as_bytes());
            }
        }
    }
    Ok(())
}

/// HELLO's `role` field.
pub fn hello_role(server: &Server) -> &'static [u8] {
    if server.replication.is_replica() {
        b"replica"
    } else {
        b"master"
    }
}

/// INFO stats lines of replication (after `rejected_connections`).
pub fn info_stats(server: &Server, kv: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let r = &server.replication;
    kv("sync_full", &r.sync_full.load(Ordering::Relaxed));
    kv(
        "sync_partial_ok",
        &r.sync_partial_ok.load(Ordering::Relaxed),
    );
    kv(
        "sync_partial_err",
        &r.sync_partial_err.load(Ordering::Relaxed),
    );
}

/// INFO replication, with Redis 7's fields in its order.
pub fn info_section(server: &Server, kv: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let config = &server.config;
    let now = unix_ms();
    match server.replication.replica_of() {
        Some(r) => {
            kv("role", &"slave");
            kv("master_host", &r.host);
            kv("master_port", &r.port);
            let up = r.link == Link::Connected;
            kv("master_link_status", &if up { "up" } else { "down" });
            let io = if r.last_io_ms == 0 {
                -1
            } else {
                (now.saturating_sub(r.last_io_ms) / 1000) as i64
            };
            kv("master_last_io_seconds_ago", &io);
            let syncing = r.link == Link::Sync;
            kv("master_sync_in_progress", &u8::from(syncing));
            kv(
                "slave_read_repl_offset",
                &r.read_offset.max(processed_offset(server)),
            );
            kv("slave_repl_offset", &processed_offset(server));
            if syncing {
                kv("master_sync_total_bytes", &(r.sync_total as i64));
                kv("master_sync_read_bytes", &r.sync_read);
                kv(
                    "master_sync_left_bytes",
                    &(r.sync_total as i64 - r.sync_read as i64),
                );
                kv(
                    "master_sync_perc",
                    &format!(
                        "{:.2}",
                        if r.sync_total > 0 {
                            r.sync_read as f64 * 100.0 / r.sync_total as f64
                        } else {
                            0.0
                        }
                    ),
                );
                kv("master_sync_last_io_seconds_ago", &io);
            }
            if !up {
                let since = if r.down_since_s == 0 {
                    -1
                } else {
                    (now / 1000).saturating_sub(r.down_since_s) as i64
                };
                kv("master_link_down_since_seconds", &since);
            }
            kv("slave_priority", &config.get_i64("replica-priority"));
            kv(
                "slave_read_only",
                &u8::from(config.get_bool("replica-read-only")),
            );
            kv(
                "replica_announced",
                &u8::from(config.get_bool("replica-announced")),
            );
        }
        None => kv("role", &"master"),
    }
    let s = server.replication.backlog.lock();
    let links = s.links.clone();
    kv("connected_slaves", &links.len());
    let min = config.get_i64("min-replicas-to-write");
    if min > 0 && config.get_i64("min-replicas-max-lag") > 0 && !server.replication.is_replica() {
        drop(s);
        kv("min_slaves_good_slaves", &good_replicas(server));
        return info_tail(server, kv, &links);
    }
    drop(s);
    info_tail(server, kv, &links)
}

fn info_tail(
    server: &Server,
    kv: &mut dyn FnMut(&str, &dyn std::fmt::Display),
    links: &[Arc<ReplicaLink>],
) {
    let now = unix_ms();
    for (i, l) in links.iter().enumerate() {
        let state = if l.online.load(Ordering::Acquire) {
            "online"
        } else {
            "wait_bgsave"
        };
        let lag = now.saturating_sub(l.last_ack_ms.load(Ordering::Relaxed)) / 1000;
        kv(
            &format!("slave{i}"),
            &format!(
                "ip={},port={},state={state},offset={},lag={lag}",
                l.ip,
                l.port,
                l.ack_offset.load(Ordering::Acquire)
            ),
        );
    }
    let s = server.replication.backlog.lock();
    kv("master_failover_state", &"no-failover");
    kv("master_replid", &s.replid);
    kv("master_replid2", &s.replid2);
    kv("master_repl_offset", &s.offset);
    kv("second_repl_offset", &s.second_offset);
    kv("repl_backlog_active", &u8::from(s.active));
    kv(
        "repl_backlog_size",
        &server.config.get_i64("repl-backlog-size"),
    );
    kv("repl_backlog_first_byte_offset", &s.first_byte_offset());
    kv("repl_backlog_histlen", &s.histlen);
}
