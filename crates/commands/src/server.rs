//! `Server`: state shared by every connection — the keyspace, configuration, the client
//! registry and statistics.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use keyspace::{Keyspace, KeyspaceConfig, SystemClock};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::blocking::BlockingRegistry;
use crate::client::ClientHandle;
use crate::config::Config;
use crate::registry::registry;

use crate::watch;

/// Counters of one command (INFO commandstats).
#[derive(Default)]
pub struct CmdStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
}

/// Server-wide counters (INFO stats).
pub struct Stats {
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub errors: Mutex<HashMap<String, u64>>,
    pub cmd: Box<[CmdStat]>,
    /// (time ms, commands processed) samples for instantaneous_ops_per_sec.
    pub ops_samples: Mutex<Vec<(u64, u64)>>,
}

impl Stats {
    fn new(commands: usize) -> Self {
        Stats {
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            total_error_replies: AtomicU64::new(0),
            errors: Mutex::new(HashMap::new()),
            cmd: (0..commands).map(|_| CmdStat::default()).collect(),
            ops_samples: Mutex::new(Vec::new()),
        }
    }

    /// Counts an error reply by its code (first word).
    pub fn record_error(&self, code: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.lock();
        if let Some(n) = errors.get_mut(code) {
            *n += 1;
        } else if errors.len() < 128 {
            errors.insert(code.to_string(), 1);
        } else {
            *errors.entry("ERRORSTATS_DISABLED".to_string()).or_insert(0) += 1;
        }
    }

    pub fn commands_processed(&self) -> u64 {
        self.cmd
            .iter()
            .map(|c| c.calls.load(Ordering::Relaxed))
            .sum()
    }

    /// CONFIG RESETSTAT: the counters kept here, and the keyspace's `evicted_keys`.
    pub fn reset(&self, keyspace: &Keyspace) {
        keyspace.evicted.store(0, Ordering::Relaxed);
        for c in self.cmd.iter() {
            c.calls.store(0, Ordering::Relaxed);
            c.usec.store(0, Ordering::Relaxed);
            c.rejected.store(0, Ordering::Relaxed);
            c.failed.store(0, Ordering::Relaxed);
        }
        self.errors.lock().clear();
        self.total_error_replies.store(0, Ordering::Relaxed);
        self.total_connections.store(0, Ordering::Relaxed);
        self.rejected_connections.store(0, Ordering::Relaxed);
        self.net_input_bytes.store(0, Ordering::Relaxed);
        self.net_output_bytes.store(0, Ordering::Relaxed);
    }

    /// Records a sample and returns the ops/sec over the last samples.
    pub fn sample_ops(&self, now_ms: u64) -> u64 {
        let total = self.commands_processed();
        let mut s = self.ops_samples.lock();
        s.push((now_ms, total));
        if s.len() > 16 {
            s.remove(0);
        }
        self.instantaneous_ops_locked(&s)
    }

    pub fn instantaneous_ops(&self) -> u64 {
        self.instantaneous_ops_locked(&self.ops_samples.lock())
    }

    fn instantaneous_ops_locked(&self, s: &[(u64, u64)]) -> u64 {
        match (s.first(), s.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 1000 / (b.0 - a.0),
            _ => 0,
        }
    }
}

/// The clients connected now.
#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
}

impl Clients {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn add(&self, handle: Arc<ClientHandle>) {
        self.map.lock().insert(handle.id, handle);
    }

    pub fn remove(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    pub fn count(&self) -> usize {
        self.map.lock().len()
    }

    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.map.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.map.lock().get(&id).cloned()
    }
}

/// CLIENT PAUSE state.
#[derive(Default)]
pub struct Pause {
    /// Until when (ms since the Unix epoch, wall clock) clients are paused; 0 when not.
    pub until_ms: AtomicU64,
    /// Only write commands are paused (CLIENT PAUSE ... WRITE).
    pub writes_only: AtomicBool,
    pub resumed: Notify,
    lock: Mutex<()>,
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Pause {
    /// Starts or extends a pause. As in Redis, a second pause keeps the later end and the
    /// more restrictive kind.
    pub fn pause(&self, until_ms: u64, writes_only: bool) {
        let _g = self.lock.lock();
        let now = unix_ms();
        let active = self.until_ms.load(Ordering::SeqCst) > now;
        let writes_only = writes_only && (!active || self.writes_only.load(Ordering::SeqCst));
        let until = if active {
            until_ms.max(self.until_ms.load(Ordering::SeqCst))
        } else {
            until_ms
        };
        self.writes_only.store(writes_only, Ordering::SeqCst);
        self.until_ms.store(until, Ordering::SeqCst);
    }

    /// Ends the pause (CLIENT UNPAUSE) and wakes the held clients.
    pub fn unpause(&self) {
        let _g = self.lock.lock();
        self.until_ms.store(0, Ordering::SeqCst);
        self.writes_only.store(false, Ordering::SeqCst);
        self.resumed.notify_waiters();
    }

    /// If a command with these flags must wait now, until when (Unix ms).
    pub fn holds(&self, flags: u32) -> Option<u64> {
        let until = self.until_ms.load(Ordering::SeqCst);
        if until == 0 || until <= unix_ms() {
            return None;
        }
        let writes_only = self.writes_only.load(Ordering::SeqCst);
        let write = flags & (crate::spec::flag::WRITE | crate::spec::flag::MAY_REPLICATE) != 0;
        (!writes_only || write).then_some(until)
    }
}

/// Where the busy poller waits while no request arrives: connections wake it with
/// [`BusyPoll::activity`] after each read.
#[derive(Default)]
pub struct BusyPoll {
    parked: AtomicBool,
    wake: Notify,
    /// Times a read woke the parked poller.
    wakeups: AtomicU64,
}

impl BusyPoll {
    /// Called after a client's read: wakes the poller if it is parked (one relaxed load
    /// otherwise).
    #[inline]
    pub fn activity(&self) {
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            self.wakeups.fetch_add(1, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    /// Marks the poller parked; it then waits on [`BusyPoll::woken`].
    pub fn park(&self) {
        self.parked.store(true, Ordering::SeqCst);
    }

    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst)
    }

    /// How many times a read has woken the parked poller.
    pub fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }

    /// Resolves after the next [`BusyPoll::activity`] that found the poller parked (or at
    /// once if one happened since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await
    }
}

/// Everything shared by the connections of one server.
pub struct Server {
    pub keyspace: Keyspace,
    pub config: Config,
    pub clients: Clients,
    pub stats: Stats,
    pub pause: Pause,
    /// Clients blocked on keys (BLPOP, BZPOPMIN, XREAD BLOCK...), fed by the change feed.
    pub blocking: Arc<BlockingRegistry>,
    /// Clients' WATCHed keys, fed by the change feed.
    pub watches: Arc<watch::WatchRegistry>,
    /// Channel, pattern and shard-channel subscriptions and MONITOR clients.
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// Client-side caching: the tracking table and tracking clients, fed by the change feed.
    pub tracking: Arc<crate::tracking::Tracking>,
    /// The effect stream to the append-only file and replicas, fed by the change feed.
    pub propagation: Arc<crate::propagate::Propagation>,
    /// The append-only file: its writer, fsync policy and rewrites.
    pub aof: Arc<crate::aof::Aof>,
    /// Replication: the backlog, replica links, and this server's master if it is a replica.
    pub replication: crate::replication::Replication,
    pub started: Instant,
    pub run_id: String,
    /// Replication id (INFO replication master_replid).
    pub replid: String,
    /// `keyspace.feed.dirty()` at the last successful save.
    pub dirty_at_save: AtomicU64,
    /// Highest used memory seen (INFO used_memory_peak).
    pub mem_peak: AtomicU64,
    /// Unix time (s) of the last successful save.
    pub last_save: AtomicU64,
    pub shutdown_requested: AtomicBool,
    pub shutdown: Notify,
    /// The busy poller's parking place (`busy-poll-us`; the loop is in the server crate).
    pub busy_poll: BusyPoll,
    /// TCP port actually bound (for INFO when started on port 0).
    pub bound_port: AtomicU64,
    pub executable: String,
    /// SLOWLOG entries, newest first.
    pub slowlog: Mutex<SlowLog>,
    /// The Lua engine, the running script and the busy gate (EVAL, FCALL, SCRIPT KILL).
    pub scripts: crate::family::scripting::ScriptState,
}

/// One SLOWLOG entry: the command's arguments (at most 32, each at most 128 bytes, as
/// Redis trims them), when it ran and for how long.
pub struct SlowEntry {
    pub id: u64,
    pub time_s: u64,
    pub usec: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: String,
}

#[derive(Default)]
pub struct SlowLog {
    pub entries: std::collections::VecDeque<SlowEntry>,
    pub next_id: u64,
}

/// Most arguments and bytes per argument a SLOWLOG entry keeps (Redis's limits).
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_STRING: usize = 128;

impl Server {
    /// Logs a command that ran for `usec` µs when it is at least `slowlog-log-slower-than`.
    pub fn slowlog_record(&self, args: &[Bytes], usec: u64, client: &ClientHandle) {
        let limit = self.config.slowlog_slower_than.load(Ordering::Relaxed);
        if limit < 0 || usec < limit as u64 {
            return;
        }
        let redact_from = if args[0].eq_ignore_ascii_case(b"auth") {
            1
        } else {
            args.len()
        };
        let kept = args.len().min(SLOWLOG_MAX_ARGC);
        let mut out = Vec::with_capacity(kept);
        for (i, a) in args[..kept].iter().enumerate() {
            if i + 1 == SLOWLOG_MAX_ARGC && args.len() > SLOWLOG_MAX_ARGC {
                let more = args.len() - SLOWLOG_MAX_ARGC + 1;
                out.push(Bytes::from(format!("... ({more} more arguments)")));
            } else if i >= redact_from {
                out.push(Bytes::from_static(b"(redacted)"));
            } else if a.len() > SLOWLOG_MAX_STRING {
                let mut s = a[..SLOWLOG_MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_STRING).as_bytes(),
                );
                out.push(Bytes::from(s));
            } else {
                out.push(a.clone());
            }
        }
        let time_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let max = self.config.slowlog_max_len.load(Ordering::Relaxed) as usize;
        let name = client.name.lock().clone().unwrap_or_default();
        let mut log = self.slowlog.lock();
        let id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(SlowEntry {
            id,
            time_s,
            usec,
            args: out,
            addr: client.addr.clone(),
            name,
        });
        log.entries.truncate(max);
    }
}

impl Server {
    pub fn new(config: Config) -> Arc<Self> {
        let databases = config.get_i64("databases").max(1) as usize;
        let shards = config.get_i64("shards");
        let mut ks_config = KeyspaceConfig {
            databases,
            ..KeyspaceConfig::default()
        };
        if shards > 0 {
            ks_config.shards = shards as usize;
        }
        Self::with_keyspace(config, Keyspace::new(ks_config, Arc::new(SystemClock)))
    }

    pub fn with_keyspace(config: Config, keyspace: Keyspace) -> Arc<Self> {
        let hex40 = || -> String {
            (0..40)
                .map(|_| char::from(b"0123456789abcdef"[rand::random::<usize>() % 16]))
                .collect()
        };
        let run_id = hex40();
        let replid = hex40();
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let blocking = Arc::new(BlockingRegistry::new());
        keyspace.feed.subscribe(blocking.clone());
        let watches = Arc::new(watch::WatchRegistry::new());
        keyspace.feed.subscribe(watches.clone());
        let pubsub = Arc::new(crate::pubsub::PubSub::new(config.pubsub_hot.clone()));
        keyspace
            .feed
            .subscribe(Arc::new(crate::notify::Notifier::new(pubsub.clone())));
        let tracking = Arc::new(crate::tracking::Tracking::new(config.pubsub_hot.clone()));
        keyspace.feed.subscribe(tracking.clone());
        let propagation = Arc::new(crate::propagate::Propagation::default());
        keyspace
            .feed
            .subscribe(Arc::new(crate::propagate::FeedListener {
                propagation: propagation.clone(),
            }));
        Arc::new(Server {
            propagation,
            aof: Arc::default(),
            replication: crate::replication::Replication::new(replid.clone()),
            keyspace,
            blocking,
            watches,
            pubsub,
            tracking,
            config,
            clients: Clients::default(),
            stats: Stats::new(registry().len()),
            pause: Pause::default(),
            started: Instant::now(),
            run_id,
            replid,
            dirty_at_save: AtomicU64::new(0),
            mem_peak: AtomicU64::new(0),
            last_save: AtomicU64::new(now_s),
            shutdown_requested: AtomicBool::new(false),
            shutdown: Notify::new(),
            busy_poll: BusyPoll::default(),
            bound_port: AtomicU64::new(0),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            slowlog: Mutex::new(SlowLog::default()),
            scripts: Default::default(),
        })
    }

    pub fn request_shutdown(&self) {
        self.shutdown_requested.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
        for c in self.clients.all() {
            c.kill();
        }
    }
}
