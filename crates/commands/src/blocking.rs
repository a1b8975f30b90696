//! Blocking commands (BLPOP, BZPOPMIN, XREAD BLOCK, ...): how a handler asks to wait for
//! keys, and the registry of waiting clients fed by the change feed.
//!
//! The life of a blocked client, as Redis's `blocked.c`:
//! 1. Its handler finds nothing to serve and calls [`Ctx::block`]; the connection registers
//!    it with [`BlockingRegistry::block`], which at once treats its keys as ready, so a write
//!    that landed between the failed attempt and the registration is seen (no lost wake-up).
//! 2. Every write publishes a change; [`BlockingRegistry::on_change`] notes the keys that
//!    have waiters (one atomic load when nobody waits).
//! 3. After each command (the dispatcher's hook, after its locks are released)
//!    [`BlockingRegistry::serve`] re-runs, for each ready key and each of its waiters in FIFO
//!    order, the waiter's command on its behalf. One that blocks again keeps its place; one
//!    that is served leaves every queue and its reply goes to its connection through a
//!    oneshot channel.
//! 4. Timeout, CLIENT UNBLOCK and disconnection go through the registry too, so a client
//!    gets exactly one outcome even when it is being served at that very moment.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use keyspace::{Change, ChangeListener, Kind, OpCtx};
use parking_lot::Mutex;
use protocol::{Protocol, ReplyWriter};
use tokio::sync::oneshot;

use crate::client::{Action, Client, ClientHandle};
use crate::context::Ctx;
use crate::server::Server;

/// What a blocked client receives when its timeout expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReply {
    /// `*-1` in RESP2, `_` in RESP3: what Redis 7 answers on timeout for every blocking
    /// list, sorted set and stream command, BLMOVE and BRPOPLPUSH included.
    NullArray,
}

/// A handler's request to wait until one of `keys` may be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRequest {
    /// Keys of the client's current database to wait on.
    pub keys: Vec<Bytes>,
    /// Absolute deadline in ms since the epoch; None waits forever.
    pub deadline_ms: Option<u64>,
    pub on_timeout: TimeoutReply,
    /// The command to run again when a key is ready, if not the original one (XREAD
    /// resolves `$` to the last ID once, when it blocks).
    pub retry_args: Option<Vec<Bytes>>,
}

impl Ctx<'_> {
    /// Asks to block: the handler writes no reply; the client waits until a key is ready
    /// (and the command is run again) or the deadline passes.
    pub fn block(&mut self, req: BlockRequest) {
        if let Some(cmd) = self.client.deny_blocking {
            // Inside EXEC nothing blocks (Redis's CLIENT_DENY_BLOCKING): answer at once.
            return crate::family::transactions::deny_block(self.out, cmd, req.on_timeout);
        }
        self.client.action = Some(Action::Block(req));
    }
}

/// How a blocked client's wait ends, as its connection receives it.
#[derive(Debug)]
pub enum Wake {
    /// It was served: the reply of its command, encoded in its protocol.
    Reply(Bytes),
    /// Its timeout passed, or CLIENT UNBLOCK ... TIMEOUT: the command's timeout reply.
    Timeout,
    /// CLIENT UNBLOCK ... ERROR.
    Unblocked,
}

/// The error a client unblocked by CLIENT UNBLOCK ... ERROR receives.
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
/// The error an XREADGROUP waiter receives when its stream is deleted (or flushed, or
/// replaced by another type).
pub const STREAM_GONE: &str = "UNBLOCKED the stream key no longer exists";
/// The error an XREADGROUP waiter receives when its group is destroyed (for the stream
/// handler to reply when [`reexecuting`]).
pub const GROUP_GONE: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";

thread_local! {
    static REEXECUTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the command running now is a blocked client's command run again because a key
/// it waits on changed (Redis's CLIENT_REEXECUTING_COMMAND): XREADGROUP then answers
/// [`GROUP_GONE`] rather than its usual NOGROUP error.
pub fn reexecuting() -> bool {
    REEXECUTING.with(|r| r.get())
}

/// What ends a wait while the client is being served (applied once the serving is done,
/// unless it served the client).
enum Cancel {
    Wake(Wake),
    Drop,
}

struct Waiter {
    /// Registration number, to tell this wait from a later one of the same client.
    gen: u64,
    db: usize,
    keys: Vec<Bytes>,
    /// The command to run again (the original one or the handler's `retry_args`).
    args: Vec<Bytes>,
    proto: Protocol,
    handle: Arc<ClientHandle>,
    want: Want,
    tx: Option<oneshot::Sender<Wake>>,
    serving: bool,
    cancel: Option<Cancel>,
}

/// When a waiter's command is worth re-running for a changed key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// The key holds this type (Redis checks the blocked type before serving: a BLPOP
    /// waiter ignores a key that became a string and keeps waiting).
    Kind(Kind),
    /// XREADGROUP: any change, deletion and FLUSHALL included, since the group it reads
    /// may be gone (Redis's `unblock_on_nokey`).
    StreamGroup,
    /// A command of no known type family: any change.
    Any,
}

/// The waiters of one key, in arrival order.
struct KeyWaiters {
    key: Bytes,
    queue: VecDeque<(u64, u64)>,
    /// How many of them are XREADGROUP waiters, which a flush must wake.
    groups: usize,
    /// Already in the ready list.
    ready: bool,
}

#[derive(Default)]
struct State {
    waiters: HashMap<u64, Waiter>,
    keys: HashMap<usize, HashMap<Bytes, KeyWaiters>>,
    /// Keys changed since the last serving pass that have waiters.
    ready: Vec<(usize, Bytes)>,
    next_gen: u64,
}

impl State {
    fn mark_ready(&mut self, db: usize, key: &[u8]) -> bool {
        let Some(kw) = self.keys.get_mut(&db).and_then(|m| m.get_mut(key)) else {
            return false;
        };
        if !kw.ready {
            kw.ready = true;
            self.ready.push((db, kw.key.clone()));
        }
        true
    }

    /// Marks the waited keys of `db` ready (those with XREADGROUP waiters if `groups_only`).
    fn mark_db_ready(&mut self, db: usize, groups_only: bool) {
        if let Some(m) = self.keys.get_mut(&db) {
            for kw in m.values_mut() {
                if !kw.ready && (!groups_only || kw.groups > 0) {
                    kw.ready = true;
                    self.ready.push((db, kw.key.clone()));
                }
            }
        }
    }

    fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        if let Some(m) = self.keys.get_mut(&w.db) {
            for k in &w.keys {
                if let Some(kw) = m.get_mut(&k[..]) {
                    kw.queue.retain(|&(i, _)| i != id);
                    if w.want == Want::StreamGroup {
                        kw.groups = kw.groups.saturating_sub(1);
                    }
                    if kw.queue.is_empty() {
                        m.remove(&k[..]);
                    }
                }
            }
            if m.is_empty() {
                self.keys.remove(&w.db);
            }
        }
        Some(w)
    }
}

/// The clients waiting on keys, subscribed to the change feed.
#[derive(Default)]
pub struct BlockingRegistry {
    /// Number of blocked clients: the whole cost of a change when nobody waits.
    blocked: AtomicUsize,
    /// Some key is ready (set under the state lock, cleared by the serving pass).
    has_ready: AtomicBool,
    state: Mutex<State>,
    /// Held by the one task serving ready keys, so waiters of a key are served in order.
    serving: Mutex<()>,
}

impl ChangeListener for BlockingRegistry {
    #[inline]
    fn on_change(&self, change: &Change<'_>) {
        if self.blocked.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut st = self.state.lock();
        let any = match *change {
            Change::Key { db, key, .. } => st.mark_ready(db, key),
            // Announced again as a `Key` event.
            Change::FieldsExpired { .. } => false,
            Change::Swap { a, b } => {
                st.mark_db_ready(a, false);
                st.mark_db_ready(b, false);
                true
            }
            // Nothing to serve in an empty database, but XREADGROUP waiters learn that
            // their stream is gone, as in Redis.
            Change::Flush { db: Some(db) } => {
                st.mark_db_ready(db, true);
                true
            }
            Change::Flush { db: None } => {
                let dbs: Vec<usize> = st.keys.keys().copied().collect();
                for db in dbs {
                    st.mark_db_ready(db, true);
                }
                true
            }
        };
        if any && !st.ready.is_empty() {
            self.has_ready.store(true, Ordering::SeqCst);
        }
    }
}

/// When a blocking command is worth re-running, from its command group.
fn wanted(args: &[Bytes]) -> Want {
    let reg = crate::registry::registry();
    let Some(id) = args.first().and_then(|a| reg.lookup(a)) else {
        return Want::Any;
    };
    let spec = reg.spec(id);
    if spec.name.eq_ignore_ascii_case("xreadgroup") {
        return Want::StreamGroup;
    }
    match spec.group {
        "list" => Want::Kind(Kind::List),
        "sorted-set" => Want::Kind(Kind::ZSet),
        "stream" => Want::Kind(Kind::Stream),
        _ => Want::Any,
    }
}

/// The type of a live key (an expired one is reclaimed on the way).
fn key_kind(server: &Server, db: usize, key: &[u8]) -> Option<Kind> {
    let ks = &server.keyspace;
    let access = ks.shared();
    if db >= access.len() {
        return None;
    }
    let hash = ks.hash(key);
    let mut shard = access.db(db).lock(ks.shard_of(hash));
    let op = OpCtx {
        db,
        now_ms: ks.now_ms(),
        feed: &ks.feed,
    };
    let pos = shard.lookup(&op, hash, key)?;
    Some(shard.value(pos).kind())
}

fn send(w: Waiter, wake: Wake) {
    if let Some(tx) = w.tx {
        let _ = tx.send(wake);
    }
}

impl BlockingRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of blocked clients (INFO blocked_clients).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Ordering::SeqCst)
    }

    /// Number of keys with at least one waiter (INFO total_blocking_keys).
    pub fn blocking_keys(&self) -> usize {
        if self.blocked_clients() == 0 {
            return 0;
        }
        self.state.lock().keys.values().map(|m| m.len()).sum()
    }

    /// Whether client `id` is blocked (CLIENT LIST flag `b`).
    pub fn is_blocked(&self, id: u64) -> bool {
        self.blocked_clients() != 0 && self.state.lock().waiters.contains_key(&id)
    }

    /// Registers `client`, whose command `args` just asked to block with `req`, and
    /// re-checks its keys at once. The receiver yields how the wait ends.
    pub fn block(
        &self,
        server: &Server,
        client: &Client,
        args: &[Bytes],
        req: &BlockRequest,
    ) -> oneshot::Receiver<Wake> {
        let (tx, rx) = oneshot::channel();
        let args = req.retry_args.clone().unwrap_or_else(|| args.to_vec());
        let want = wanted(&args);
        let mut keys: Vec<Bytes> = Vec::with_capacity(req.keys.len());
        for k in &req.keys {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        {
            let mut st = self.state.lock();
            if let Some(old) = st.remove(client.id) {
                send(old, Wake::Timeout);
            }
            st.next_gen += 1;
            let gen = st.next_gen;
            let db = client.db;
            for k in &keys {
                let kw = st
                    .keys
                    .entry(db)
                    .or_default()
                    .entry(k.clone())
                    .or_insert_with(|| KeyWaiters {
                        key: k.clone(),
                        queue: VecDeque::new(),
                        groups: 0,
                        ready: false,
                    });
                kw.queue.push_back((client.id, gen));
                if want == Want::StreamGroup {
                    kw.groups += 1;
                }
                // The re-check: a write before this registration is seen by it.
                st.mark_ready(db, k);
            }
            st.waiters.insert(
                client.id,
                Waiter {
                    gen,
                    db,
                    keys,
                    args,
                    proto: client.proto,
                    handle: client.handle.clone(),
                    want,
                    tx: Some(tx),
                    serving: false,
                    cancel: None,
                },
            );
            self.blocked.store(st.waiters.len(), Ordering::SeqCst);
            if !st.ready.is_empty() {
                self.has_ready.store(true, Ordering::SeqCst);
            }
        }
        self.serve(server);
        rx
    }

    /// Ends the wait of client `id` with `wake` (timeout, CLIENT UNBLOCK). Returns whether
    /// it was blocked. A client being served right now gets the serving's reply if it was
    /// served, else `wake`.
    pub fn cancel(&self, id: u64, wake: Wake) -> bool {
        self.end(id, Cancel::Wake(wake))
    }

    /// Forgets client `id` (it disconnected or was killed).
    pub fn remove(&self, id: u64) {
        self.end(id, Cancel::Drop);
    }

    fn end(&self, id: u64, how: Cancel) -> bool {
        let mut st = self.state.lock();
        let Some(w) = st.waiters.get_mut(&id) else {
            return false;
        };
        if w.serving {
            if w.cancel.is_none() || matches!(how, Cancel::Drop) {
                w.cancel = Some(how);
            }
            return true;
        }
        let w = st.remove(id);
        self.blocked.store(st.waiters.len(), Ordering::SeqCst);
        drop(st);
        if let (Some(w), Cancel::Wake(wake)) = (w, how) {
            send(w, wake);
        }
        true
    }

    /// Serves the clients blocked on keys made ready since the last pass, until none are
    /// left (serving one may make others ready: BLMOVE pushes to its destination). Called
    /// after each command with no lock held; costs one atomic load when nothing is ready.
    #[inline]
    pub fn serve(&self, server: &Server) {
        while self.has_ready.load(Ordering::SeqCst) {
            // Whoever holds `serving` loops until the ready list is empty and checks again
            // after letting go, so keys made ready meanwhile are never left behind.
            let Some(_serving) = self.serving.try_lock() else {
                return;
            };
            self.serve_pass(server);
        }
    }

    fn serve_pass(&self, server: &Server) {
        loop {
            let batch = {
                let mut st = self.state.lock();
                if st.ready.is_empty() {
                    self.has_ready.store(false, Ordering::SeqCst);
                    return;
                }
                std::mem::take(&mut st.ready)
            };
            for (db, key) in batch {
                let queue: Vec<(u64, u64)> = {
                    let mut st = self.state.lock();
                    match st.keys.get_mut(&db).and_then(|m| m.get_mut(&key[..])) {
                        Some(kw) => {
                            kw.ready = false;
                            kw.queue.iter().copied().collect()
                        }
                        None => continue,
                    }
                };
                for (id, gen) in queue {
                    self.serve_one(server, id, gen, db, &key);
                }
            }
        }
    }

    fn serve_one(&self, server: &Server, id: u64, gen: u64, db: usize, key: &[u8]) {
        let (args, proto, handle, want) = {
            let mut st = self.state.lock();
            let Some(w) = st.waiters.get_mut(&id) else {
                return;
            };
            if w.gen != gen {
                return;
            }
            w.serving = true;
            (w.args.clone(), w.proto, w.handle.clone(), w.want)
        };
        let reply = match want {
            Want::Kind(k) if key_kind(server, db, key) != Some(k) => None,
            Want::StreamGroup if key_kind(server, db, key) != Some(Kind::Stream) => {
                // Redis tells an XREADGROUP waiter at once that its stream went away.
                server.stats.record_error("UNBLOCKED");
                count_unserved(server, &handle);
                let mut out = ReplyWriter::new(proto);
                out.error(STREAM_GONE.as_bytes());
                Some(out.buf.freeze())
            }
            _ => rerun(server, handle, db, proto, &args),
        };
        let mut st = self.state.lock();
        let Some(w) = st.waiters.get_mut(&id) else {
            return;
        };
        w.serving = false;
        let wake = match (reply, w.cancel.take()) {
            (Some(reply), _) => Some(Wake::Reply(reply)),
            (None, Some(Cancel::Wake(wake))) => Some(wake),
            (None, Some(Cancel::Drop)) => None,
            (None, None) => return,
        };
        let w = st.remove(id);
        self.blocked.store(st.waiters.len(), Ordering::SeqCst);
        drop(st);
        if let (Some(w), Some(wake)) = (w, wake) {
            send(w, wake);
        }
    }
}

/// Counts a blocked command that ended without being served (timeout, CLIENT UNBLOCK) in
/// INFO commandstats, as Redis does once per blocking call.
pub fn count_unserved(server: &Server, handle: &ClientHandle) {
    let id = handle.last_cmd.load(Ordering::Relaxed) as usize;
    if let Some(stat) = server.stats.cmd.get(id) {
        stat.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs a blocked client's command again on its behalf: its database, its protocol,
/// authenticated. None if it would block again.
fn rerun(
    server: &Server,
    handle: Arc<ClientHandle>,
    db: usize,
    proto: Protocol,
    args: &[Bytes],
) -> Option<Bytes> {
    let mut client = Client::new(handle, true);
    client.select(db);
    client.set_proto(proto);
    let mut out = ReplyWriter::new(proto);
    REEXECUTING.with(|r| r.set(true));
    crate::dispatch::run(
        server,
        &mut client,
        &mut out,
        args,
        server.keyspace.now_ms(),
    );
    REEXECUTING.with(|r| r.set(false));
    match client.action {
        Some(Action::Block(_)) => None,
        _ => Some(out.buf.freeze()),
    }
}
