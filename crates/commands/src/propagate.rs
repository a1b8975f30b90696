//! Propagation: the stream of effects that the append-only file and replicas receive, in
//! Redis's form — RESP commands, `SELECT` when the database changes, and `MULTI`/`EXEC`
//! around the effects of one transaction or script.
//!
//! What is propagated is decided by the change feed (DESIGN.md D3): a command whose run
//! published a change on this thread is a write, and its command line (or the deterministic
//! form its handler chose with [`rewrite`], or [`deterministic`]'s) is logged. Keys that
//! expire or are evicted are logged as `DEL` from the feed listener itself, inside the
//! critical section that removed them.
//!
//! # Order
//! While any sink is attached, every command that may write holds the *order lock* from
//! before it takes the world lock until its effects are logged. Writers are therefore logged
//! in the order they executed, and a snapshot taken under the order lock (full resync, AOF
//! rewrite) is exactly the state after the last logged command. Lock order: script gate,
//! order lock, world lock, shard locks, log lock. With no sink attached this costs one
//! atomic load per command.
//!
//! # Nesting
//! EXEC's queued commands and a script's `redis.call` record their own effects; the
//! outermost command then logs them together, wrapped in `MULTI`/`EXEC` when there is more
//! than one.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use keyspace::{class, Change, ChangeListener};
use parking_lot::{Mutex, MutexGuard};

/// A consumer of the effect stream: the AOF writer, the replication backlog. `feed` is
/// called with the log lock held, in execution order, so it must only append to a buffer.
pub trait Sink: Send + Sync {
    fn feed(&self, bytes: &[u8]);
}

/// The propagation log shared by every connection.
pub struct Propagation {
    active: AtomicBool,
    order: Mutex<()>,
    log: Mutex<Log>,
}

struct Log {
    sinks: Vec<Arc<dyn Sink>>,
    /// The database the stream last selected (`None`: the next command selects).
    selected: Option<usize>,
    buf: BytesMut,
}

impl Default for Propagation {
    fn default() -> Self {
        Propagation {
            active: AtomicBool::new(false),
            order: Mutex::new(()),
            log: Mutex::new(Log {
                sinks: Vec::new(),
                selected: None,
                buf: BytesMut::new(),
            }),
        }
    }
}

impl Propagation {
    /// True while some sink receives the stream.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Attaches a sink. The next command logged starts with a `SELECT`. To attach at a
    /// precise point of the stream (a full resync), hold [`Propagation::order`] and the world
    /// lock exclusively around the snapshot instant and this call.
    pub fn attach(&self, sink: Arc<dyn Sink>) {
        let mut log = self.log.lock();
        log.sinks.push(sink);
        log.selected = None;
        self.active.store(true, Ordering::Release);
    }

    /// Detaches a sink (compared by pointer).
    pub fn detach(&self, sink: &Arc<dyn Sink>) {
        let mut log = self.log.lock();
        log.sinks.retain(|s| !Arc::ptr_eq(s, sink));
        self.active.store(!log.sinks.is_empty(), Ordering::Release);
    }

    /// Forces the next logged command to start with `SELECT` (a replica's stream after
    /// a new sink or a database swap the sinks cannot follow).
    pub fn reselect(&self) {
        self.log.lock().selected = None;
    }

    /// The order lock: held by writers from before the world lock until their effects are
    /// logged, and by whoever needs a point of the stream with no write in flight.
    pub fn order(&self) -> MutexGuard<'_, ()> {
        self.order.lock()
    }

    /// The order lock if no one holds it: for those that already hold keyspace locks,
    /// which a writer holding the order lock may be waiting for.
    pub fn try_order(&self) -> Option<MutexGuard<'_, ()>> {
        self.order.try_lock()
    }

    /// Logs commands executed in order, each with the database it ran in; more than one
    /// is wrapped in `MULTI`/`EXEC`.
    pub fn log(&self, cmds: &[(usize, Vec<Bytes>)]) {
        if cmds.is_empty() {
            return;
        }
        let mut log = self.log.lock();
        if log.sinks.is_empty() {
            return;
        }
        let log = &mut *log;
        let wrap = cmds.len() > 1;
        if wrap {
            // Redis selects before MULTI, so a replica's MULTI runs in the right database.
            select(log, cmds[0].0);
            encode(&mut log.buf, &[Bytes::from_static(b"MULTI")]);
        }
        for (db, args) in cmds {
            select(log, *db);
            encode(&mut log.buf, args);
        }
        if wrap {
            encode(&mut log.buf, &[Bytes::from_static(b"EXEC")]);
        }
        flush(log);
    }

    /// Logs one command outside any command's run (the active expire cycle, eviction).
    pub fn log_one(&self, db: usize, args: Vec<Bytes>) {
        self.log(&[(db, args)]);
    }
}

fn select(log: &mut Log, db: usize) {
    if log.selected != Some(db) {
        let n = Bytes::from(db.to_string());
        encode(&mut log.buf, &[Bytes::from_static(b"SELECT"), n]);
        log.selected = Some(db);
    }
}

fn flush(log: &mut Log) {
    let bytes = log.buf.split();
    for sink in &log.sinks {
        sink.feed(&bytes);
    }
}

/// Appends one command in RESP (a multibulk of bulk strings).
pub fn encode(buf: &mut BytesMut, args: &[Bytes]) {
    persistence::aof::write_command(args, |bytes| buf.put_slice(bytes));
}

/// What the commands running on this thread have recorded.
#[derive(Default)]
struct Recorder {
    /// Commands running with recording on (0: not recording).
    depth: u32,
    /// Effects recorded by the outermost command so far, with their databases.
    pending: Vec<(usize, Vec<Bytes>)>,
    /// The innermost running command published a change.
    wrote: bool,
    /// The innermost running command's own choice of what to log instead of its line.
    rewrite: Option<Vec<Vec<Bytes>>>,
}

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
}

/// The state of the enclosing command, restored when a nested one ends.
pub(crate) struct Frame {
    wrote: bool,
    rewrite: Option<Vec<Vec<Bytes>>>,
    mark: usize,
    outermost: bool,
}

/// Starts recording a command. `None` when nothing records (no sink attached and not
/// nested inside a recording command).
#[inline]
pub(crate) fn begin(active: bool) -> Option<Frame> {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        if r.depth == 0 && !active {
            return None;
        }
        let frame = Frame {
            wrote: std::mem::replace(&mut r.wrote, false),
            rewrite: r.rewrite.take(),
            mark: r.pending.len(),
            outermost: r.depth == 0,
        };
        r.depth += 1;
        Some(frame)
    })
}

/// Ends a command started with [`begin`]: records what it wrote (unless commands nested in
/// it recorded their own effects), and for the outermost command returns everything to log.
pub(crate) fn end(
    frame: Frame,
    db: usize,
    args: &[Bytes],
    now_ms: u64,
) -> Vec<(usize, Vec<Bytes>)> {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        let wrote = r.wrote;
        let rewrite = r.rewrite.take();
        let children = r.pending.len() > frame.mark;
        if !children {
            if let Some(cmds) = rewrite {
                r.pending.extend(cmds.into_iter().map(|c| (db, c)));
            } else if wrote {
                let line = deterministic(args, now_ms).unwrap_or_else(|| args.to_vec());
                r.pending.push((db, line));
            }
        }
        r.depth -= 1;
        r.wrote = frame.wrote || wrote;
        r.rewrite = frame.rewrite;
        if frame.outermost {
            r.wrote = false;
            std::mem::take(&mut r.pending)
        } else {
            Vec::new()
        }
    })
}

/// Replaces what the running command logs (call it once per command to log; a call with an
/// empty list logs nothing). Handlers whose effect depends on randomness or on the state
/// (SPOP, INCRBYFLOAT, XADD with `*`, a served BLPOP) log its deterministic form.
pub fn rewrite(cmd: Vec<Bytes>) {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        if r.depth > 0 {
            r.rewrite.get_or_insert_with(Vec::new).push(cmd);
        }
    })
}

/// Like [`rewrite`], only if the running command has written so far (a blocking command
/// that was served, not one that blocked).
pub fn rewrite_if_written(cmd: Vec<Bytes>) {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        if r.depth > 0 && r.wrote {
            r.rewrite.get_or_insert_with(Vec::new).push(cmd);
        }
    })
}

/// Marks the running command as logging nothing even though it wrote.
pub fn suppress() {
    RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        if r.depth > 0 {
            r.rewrite.get_or_insert_with(Vec::new);
        }
    })
}

/// Marks the running command as a write whose change the feed does not announce (XACK,
/// which Redis propagates without a keyspace event).
pub fn written() {
    mark_written();
}

fn b(s: impl Into<Vec<u8>>) -> Bytes {
    Bytes::from(s.into())
}

/// Redis's `streamPropagateXCLAIM`: the idempotent form of a delivery or claim,
/// `XCLAIM <key> <group> <consumer> 0 <id> TIME <ms> RETRYCOUNT <n> FORCE JUSTID LASTID <id>`.
pub fn xclaim_effect(
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: String,
    delivery_time: i64,
    delivery_count: u64,
    last_id: String,
) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XCLAIM"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        Bytes::copy_from_slice(consumer),
        Bytes::from_static(b"0"),
        b(id),
        Bytes::from_static(b"TIME"),
        b(delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        b(delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        b(last_id),
    ]
}

/// Redis's `streamPropagateGroupID`: `XGROUP SETID <key> <group> <id> ENTRIESREAD <n>`.
pub fn xsetid_effect(key: &[u8], group: &[u8], last_id: String, entries_read: i64) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        b(last_id),
        Bytes::from_static(b"ENTRIESREAD"),
        b(entries_read.to_string()),
    ]
}

/// Redis's `streamPropagateConsumerCreation`: `XGROUP CREATECONSUMER <key> <group> <name>`.
pub fn xcreateconsumer_effect(key: &[u8], group: &[u8], consumer: &[u8]) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"CREATECONSUMER"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        Bytes::copy_from_slice(consumer),
    ]
}

fn mark_written() {
    RECORDER.with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            if r.depth > 0 {
                r.wrote = true;
            }
        }
    })
}

/// The change-feed listener: marks the running command as a write, and logs keys removed
/// by expiry or eviction as `DEL` and hash fields removed by their TTL as `HDEL` at once,
/// inside the critical section that removed them (as Redis 7.4 propagates them), not as
/// part of the command that found them due.
pub struct FeedListener {
    pub propagation: Arc<Propagation>,
}

impl ChangeListener for FeedListener {
    fn on_change(&self, change: &Change<'_>) {
        match change {
            Change::Key { db, key, event } => {
                if event.class & (class::EXPIRED | class::EVICTED) != 0 {
                    if self.propagation.is_active() {
                        self.propagation.log_one(
                            *db,
                            vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
                        );
                    }
                } else if event.class & (class::KEY_MISS | class::FIELD_EXPIRY) == 0 {
                    mark_written();
                }
            }
            Change::FieldsExpired { db, key, fields } => {
                // One HDEL per field, as Redis's propagateHashFieldDeletion.
                if self.propagation.is_active() {
                    let key = Bytes::copy_from_slice(key);
                    for f in fields.iter() {
                        let hdel = vec![
                            Bytes::from_static(b"HDEL"),
                            key.clone(),
                            Bytes::copy_from_slice(f),
                        ];
                        self.propagation.log_one(*db, hdel);
                    }
                }
            }
            Change::Flush { .. } | Change::Swap { .. } => mark_written(),
        }
    }
}

/// The deterministic form of commands whose line depends on when it ran: relative expiry
/// times become absolute (`SET … PXAT`, `PEXPIREAT`, `RESTORE … ABSTTL`, `HPEXPIREAT`).
/// `None`: the line itself is deterministic.
pub fn deterministic(args: &[Bytes], now_ms: u64) -> Option<Vec<Bytes>> {
    let name = args.first()?;
    let at = |base: u64, n: &Bytes, unit: u64| -> Option<Bytes> {
        let v: i64 = std::str::from_utf8(n).ok()?.parse().ok()?;
        let abs = (base as i128) + (v as i128) * unit as i128;
        Some(Bytes::from(abs.to_string()))
    };
    let is = |a: &Bytes, s: &str| a.eq_ignore_ascii_case(s.as_bytes());
    if is(name, "set") {
        let mut out = args.to_vec();
        let mut i = 3;
        while i + 1 < out.len() {
            let unit = if is(&out[i], "ex") {
                Some((now_ms, 1000))
            } else if is(&out[i], "px") {
                Some((now_ms, 1))
            } else if is(&out[i], "exat") {
                Some((0, 1000))
            } else {
                None
            };
            if let Some((base, unit)) = unit {
                out[i] = Bytes::from_static(b"PXAT");
                out[i + 1] = at(base, &out[i + 1], unit)?;
                return Some(out);
            }
            i += 1;
        }
        None
    } else if is(name, "setex") || is(name, "psetex") {
        let unit = if is(name, "setex") { 1000 } else { 1 };
        Some(vec![
            Bytes::from_static(b"SET"),
            args.get(1)?.clone(),
            args.get(3)?.clone(),
            Bytes::from_static(b"PXAT"),
            at(now_ms, args.get(2)?, unit)?,
        ])
    } else if is(name, "expire") || is(name, "pexpire") || is(name, "expireat") {
        let (base, unit) = if is(name, "expire") {
            (now_ms, 1000)
        } else if is(name, "pexpire") {
            (now_ms, 1)
        } else {
            (0, 1000)
        };
        let mut out = vec![
            Bytes::from_static(b"PEXPIREAT"),
            args.get(1)?.clone(),
            at(base, args.get(2)?, unit)?,
        ];
        out.extend(args[3..].iter().cloned());
        Some(out)
    } else if is(name, "getex") {
        let opt = args.get(2)?;
        let key = args.get(1)?.clone();
        if is(opt, "persist") {
            return Some(vec![Bytes::from_static(b"PERSIST"), key]);
        }
        let (base, unit) = if is(opt, "ex") {
            (now_ms, 1000)
        } else if is(opt, "px") {
            (now_ms, 1)
        } else if is(opt, "exat") {
            (0, 1000)
        } else {
            (0, 1)
        };
        Some(vec![
            Bytes::from_static(b"PEXPIREAT"),
            key,
            at(base, args.get(3)?, unit)?,
        ])
    } else if is(name, "restore") {
        let ttl = args.get(2)?;
        let absolute = args[4..].iter().any(|a| is(a, "absttl"));
        if absolute || ttl.as_ref() == b"0" {
            return None;
        }
        let mut out = args.to_vec();
        out[2] = at(now_ms, ttl, 1)?;
        out.push(Bytes::from_static(b"ABSTTL"));
        Some(out)
    } else if is(name, "hexpire") || is(name, "hpexpire") || is(name, "hexpireat") {
        let (base, unit) = if is(name, "hexpire") {
            (now_ms, 1000)
        } else if is(name, "hpexpire") {
            (now_ms, 1)
        } else {
            (0, 1000)
        };
        let mut out = vec![
            Bytes::from_static(b"HPEXPIREAT"),
            args.get(1)?.clone(),
            at(base, args.get(2)?, unit)?,
        ];
        out.extend(args[3..].iter().cloned());
        Some(out)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn relative_times_become_absolute() {
        let now = 1_000_000;
        assert_eq!(
            deterministic(&line(&["set", "k", "v", "NX", "EX", "10"]), now),
            Some(line(&["set", "k", "v", "NX", "PXAT", "1010000"]))
        );
        assert_eq!(deterministic(&line(&["set", "k", "v"]), now), None);
        assert_eq!(
            deterministic(&line(&["SETEX", "k", "2", "v"]), now),
            Some(line(&["SET", "k", "v", "PXAT", "1002000"]))
        );
        assert_eq!(
            deterministic(&line(&["pexpire", "k", "5", "NX"]), now),
            Some(line(&["PEXPIREAT", "k", "1000005", "NX"]))
        );
        assert_eq!(
            deterministic(&line(&["getex", "k", "persist"]), now),
            Some(line(&["PERSIST", "k"]))
        );
        assert_eq!(
            deterministic(&line(&["restore", "k", "100", "payload", "REPLACE"]), now),
            Some(line(&[
                "restore", "k", "1000100", "payload", "REPLACE", "ABSTTL"
            ]))
        );
        assert_eq!(
            deterministic(&line(&["restore", "k", "0", "payload"]), now),
            None
        );
    }

    struct Collect(Mutex<Vec<u8>>);
    impl Sink for Collect {
        fn feed(&self, bytes: &[u8]) {
            self.0.lock().extend_from_slice(bytes);
        }
    }

    #[test]
    fn selects_and_wraps() {
        let p = Propagation::default();
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        p.attach(sink.clone());
        p.log(&[(0, line(&["SET", "a", "1"]))]);
        p.log(&[(0, line(&["INCR", "a"])), (1, line(&["DEL", "b"]))]);
        let text = String::from_utf8(sink.0.lock().clone()).unwrap();
        assert_eq!(
            text,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
             *1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        let dyn_sink: Arc<dyn Sink> = sink;
        p.detach(&dyn_sink);
        assert!(!p.is_active());
    }
}
