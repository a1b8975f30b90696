//! Client-side caching (Redis's tracking.c): which clients may cache which keys, and the
//! invalidation messages a write sends them. A listener of the change feed (DESIGN.md D3).
//!
//! - Default mode: the keys a tracking client reads are remembered (key → client ids, keys
//!   global to all databases as in Redis); the first change to such a key sends each of
//!   those clients `invalidate [key]` and forgets the key. A client in NOLOOP mode is not
//!   told about its own writes. The table holds at most `tracking-table-max-keys` keys;
//!   past that, keys are dropped with an invalidation, as if they had been modified.
//! - BCAST mode: every change to a key under one of the client's prefixes is collected per
//!   prefix and sent as one array after the command (Redis sends them before sleeping).
//! - FLUSHDB/FLUSHALL: every tracking client gets a null invalidation (all keys).
//!
//! Messages: RESP3 clients get the push `>2 invalidate <keys>`; with REDIRECT the message
//! goes to the target client instead, as a push when it speaks RESP3 or, when it speaks
//! RESP2 and is subscribed, as a `message` on `__redis__:invalidate`. Messages go through
//! the receiver's pub/sub outbound queue, so a client's own invalidations reach it after
//! the reply of the command that caused them (Redis's `tracking_pending_keys`).
//!
//! Keys are remembered *before* a read command runs, not after as in Redis: commands of
//! different connections run at once here, and a write landing between the read and the
//! remembering would otherwise never be announced. The price is a possibly spurious
//! invalidation, which clients handle anyway.
//!
//! A redirect target receives messages through its push queue, which a connection has once
//! it subscribed, monitored, turned tracking on or switched to RESP3 with HELLO 3.
//!
//! Cost when nobody tracks: one atomic load per change.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use foldhash::fast::RandomState;
use keyspace::{class, Change, ChangeListener};
use parking_lot::Mutex;

use crate::client::Client;
use crate::pubsub::{HotConfig, Outbound, PubSub};
use crate::registry::registry;
use crate::server::Server;
use crate::spec::flag;

/// Mode bits of a tracking client (Redis's CLIENT_TRACKING_* flags).
pub mod mode {
    pub const BCAST: u8 = 1 << 0;
    pub const OPTIN: u8 = 1 << 1;
    pub const OPTOUT: u8 = 1 << 2;
    pub const NOLOOP: u8 = 1 << 3;
    /// The redirect target disconnected.
    pub const BROKEN_REDIR: u8 = 1 << 4;
}

/// The channel RESP2 redirect targets receive invalidations on.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

thread_local! {
    /// Id of the client whose command runs on this thread (0: none, e.g. the expire
    /// cycle): NOLOOP's "the writer itself".
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Marks a client's command as running on this thread; restores the previous on drop.
pub struct Running(u64);

impl Running {
    pub fn enter(id: u64) -> Self {
        Running(CURRENT.with(|c| c.replace(id)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// A tracking client as invalidation sees it.
struct Tracker {
    mode: u8,
    /// Client id receiving the messages, 0 for the client itself.
    redirect: u64,
    prefixes: BTreeSet<Bytes>,
}

/// A BCAST prefix: its clients and the keys changed under it since the last flush, each
/// with the id of the client that changed it last (for NOLOOP).
#[derive(Default)]
struct Bcast {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Bytes, u64>,
}

#[derive(Default)]
struct Inner {
    /// Default-mode table: key → ids of clients that may cache it.
    keys: HashMap<Bytes, Vec<u64>, RandomState>,
    prefixes: BTreeMap<Bytes, Bcast>,
    trackers: HashMap<u64, Tracker, RandomState>,
    /// Outbound queues of clients that can receive messages (tracking clients and every
    /// client with a push queue, i.e. possible redirect targets), by id.
    outbounds: HashMap<u64, Arc<Outbound>, RandomState>,
    /// Total ids in `keys` (Redis's TrackingTableTotalItems).
    items: usize,
}

/// The tracking table and the registry of tracking clients.
pub struct Tracking {
    /// Number of tracking clients: the change listener's one load when zero.
    active: AtomicUsize,
    /// BCAST keys are waiting to be sent.
    pending: AtomicBool,
    hot: Arc<HotConfig>,
    inner: Mutex<Inner>,
}

/// One client's tracking state, kept in its `Client`; dropping it (disconnection) removes
/// the client from the registry.
pub struct ClientTracking {
    shared: Arc<Tracking>,
    id: u64,
    /// Some while tracking is on: the mode bits (without BROKEN_REDIR, kept shared).
    on: Option<u8>,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
}

impl ClientTracking {
    pub fn is_on(&self) -> bool {
        self.on.is_some()
    }

    pub fn mode(&self) -> u8 {
        self.on.unwrap_or(0)
    }
}

impl Drop for ClientTracking {
    fn drop(&mut self) {
        let mut inner = self.shared.inner.lock();
        inner.outbounds.remove(&self.id);
        if self.on.is_some() {
            self.shared.disable_locked(&mut inner, self.id);
        }
    }
}

/// What CLIENT TRACKING ON asks for.
pub struct Options {
    pub mode: u8,
    pub redirect: u64,
    pub prefixes: Vec<Bytes>,
}

/// What CLIENT TRACKINGINFO shows.
pub struct Info {
    pub on: bool,
    pub mode: u8,
    pub caching: bool,
    pub redirect: i64,
    pub prefixes: Vec<Bytes>,
}

impl Tracking {
    pub fn new(hot: Arc<HotConfig>) -> Self {
        Tracking {
            active: AtomicUsize::new(0),
            pending: AtomicBool::new(false),
            hot,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Number of clients with tracking on.
    pub fn clients(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// (keys in the table, client ids across them, BCAST prefixes): INFO's
    /// tracking_total_keys, tracking_total_items, tracking_total_prefixes.
    pub fn totals(&self) -> (usize, usize, usize) {
        let inner = self.inner.lock();
        (inner.keys.len(), inner.items, inner.prefixes.len())
    }

    /// The client's tracking state, created (and its outbound registered) on first use.
    fn state<'c>(self: &Arc<Self>, client: &'c mut Client) -> &'c mut ClientTracking {
        let id = client.id;
        if client.tracking.is_none() {
            let out = PubSub::outbound(client);
            self.inner.lock().outbounds.insert(id, out);
        }
        client.tracking.get_or_insert_with(|| {
            Box::new(ClientTracking {
                shared: self.clone(),
                id,
                on: None,
                caching: false,
            })
        })
    }

    /// Registers the push queue of a client that has one (a possible redirect target).
    /// Called after each command of such a client; a no-op once registered.
    pub fn register_outbound(self: &Arc<Self>, client: &mut Client) {
        if client.tracking.is_none() && client.pushes.is_some() {
            self.state(client);
        }
    }

    /// CLIENT TRACKING ON (options already checked): turns tracking on or changes its
    /// mode; BCAST prefixes accumulate, as in Redis.
    pub fn enable(self: &Arc<Self>, client: &mut Client, opts: Options) {
        let id = client.id;
        let state = self.state(client);
        let was_on = state.on.is_some();
        state.on = Some(opts.mode & !mode::BROKEN_REDIR);
        let mut inner = self.inner.lock();
        if !was_on {
            self.active.fetch_add(1, Ordering::Relaxed);
        }
        let t = inner.trackers.entry(id).or_insert_with(|| Tracker {
            mode: 0,
            redirect: 0,
            prefixes: BTreeSet::new(),
        });
        t.mode = opts.mode;
        t.redirect = opts.redirect;
        let mut added = Vec::new();
        if opts.mode & mode::BCAST != 0 {
            let prefixes = if opts.prefixes.is_empty() {
                vec![Bytes::new()]
            } else {
                opts.prefixes
            };
            for p in prefixes {
                if t.prefixes.insert(p.clone()) {
                    added.push(p);
                }
            }
        }
        for p in added {
            inner.prefixes.entry(p).or_default().clients.insert(id);
        }
    }

    pub fn disable(&self, client: &mut Client) {
        if let Some(state) = client.tracking.as_mut() {
            if state.on.take().is_some() {
                state.caching = false;
                self.disable_locked(&mut self.inner.lock(), client.id);
            }
        }
    }

    fn disable_locked(&self, inner: &mut Inner, id: u64) {
        let Some(t) = inner.trackers.remove(&id) else {
            return;
        };
        for p in &t.prefixes {
            if let Some(b) = inner.prefixes.get_mut(p) {
                b.clients.remove(&id);
                if b.clients.is_empty() {
                    inner.prefixes.remove(p);
                }
            }
        }
        // Table entries of the client are dropped lazily, as in Redis; with nobody
        // tracking the whole table goes.
        if self.active.fetch_sub(1, Ordering::Relaxed) == 1 {
            inner.keys.clear();
            inner.items = 0;
        }
    }

    /// The prefixes a client holds (for the overlap check of CLIENT TRACKING ON).
    pub fn prefixes_of(&self, id: u64) -> Vec<Bytes> {
        self.inner
            .lock()
            .trackers
            .get(&id)
            .map(|t| t.prefixes.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn info(&self, client: &Client) -> Info {
        let Some(state) = client.tracking.as_ref().filter(|s| s.is_on()) else {
            return Info {
                on: false,
                mode: 0,
                caching: false,
                redirect: -1,
                prefixes: Vec::new(),
            };
        };
        let inner = self.inner.lock();
        let t = inner.trackers.get(&client.id);
        Info {
            on: true,
            mode: t.map_or(state.mode(), |t| t.mode),
            caching: state.caching,
            redirect: t.map_or(0, |t| t.redirect as i64),
            prefixes: t
                .map(|t| t.prefixes.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Remembers that `id` may cache `keys` (default mode), then enforces the table limit
    /// (`max` keys, 0 for none).
    fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k Bytes> + Clone, max: u64) {
        let mut inner = self.inner.lock();
        for k in keys.clone() {
            let ids = inner.keys.entry(k.clone()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
                inner.items += 1;
            }
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if max == 0 || inner.keys.len() <= max {
            return;
        }
        // Over the limit: drop keys (not those just read, when others exist) and tell their
        // clients, as if the keys had changed (Redis's trackingLimitUsedSlots).
        let excess = inner.keys.len() - max;
        let mut victims: Vec<Bytes> = inner
            .keys
            .keys()
            .filter(|k| !keys.clone().any(|r| r == *k))
            .take(excess)
            .cloned()
            .collect();
        if victims.len() < excess {
            let more: Vec<Bytes> = inner
                .keys
                .keys()
                .filter(|k| !victims.contains(k))
                .take(excess - victims.len())
                .cloned()
                .collect();
            victims.extend(more);
        }
        for k in victims {
            self.invalidate_key(&mut inner, &k, 0);
        }
    }

    /// Sends the default-mode invalidation of `key` to the clients that may cache it and
    /// forgets it. `writer` is the client making the change (NOLOOP), 0 if none.
    fn invalidate_key(&self, inner: &mut Inner, key: &[u8], writer: u64) {
        let Some(ids) = inner.keys.remove(key) else {
            return;
        };
        inner.items -= ids.len();
        let mut frames = Frames::new(Payload::Key(key));
        for id in ids {
            let Some(t) = inner.trackers.get(&id) else {
                continue;
            };
            if t.mode & mode::BCAST != 0 || (t.mode & mode::NOLOOP != 0 && id == writer) {
                continue;
            }
            self.deliver(inner, id, &mut frames);
        }
    }

    /// Sends one message to tracking client `id` (or its redirect target).
    fn deliver(&self, inner: &mut Inner, id: u64, frames: &mut Frames<'_>) {
        let Some(t) = inner.trackers.get(&id) else {
            return;
        };
        let redirect = t.redirect;
        let target = if redirect != 0 {
            match inner.outbounds.get(&redirect) {
                Some(out) if !out.handle.is_killed() => Some(out),
                _ => None,
            }
        } else {
            inner.outbounds.get(&id)
        };
        let Some(target) = target else {
            if redirect == 0 {
                return;
            }
            // Redirect target gone: flag it and tell a RESP3 client (Redis's
            // `tracking-redir-broken`).
            if let Some(t) = inner.trackers.get_mut(&id) {
                t.mode |= mode::BROKEN_REDIR;
            }
            if let Some(own) = inner.outbounds.get(&id) {
                if own.handle.resp.load(Ordering::Relaxed) == 3 {
                    let mut b = BytesMut::new();
                    b.extend_from_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n:");
                    b.extend_from_slice(itoa::Buffer::new().format(redirect).as_bytes());
                    b.extend_from_slice(b"\r\n");
                    own.push(&b, &self.hot);
                }
            }
            return;
        };
        if target.handle.resp.load(Ordering::Relaxed) == 3 {
            target.push(&frames.get(Frame::Push), &self.hot);
        } else if redirect != 0 && target.subscribed() {
            target.push(&frames.get(Frame::Message), &self.hot);
        }
        // A RESP2 client without redirection cannot receive anything.
    }

    /// Sends the BCAST invalidations collected since the last flush. One atomic load when
    /// there are none.
    pub fn flush(&self) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut inner = self.inner.lock();
        self.flush_locked(&mut inner);
    }

    fn flush_locked(&self, inner: &mut Inner) {
        self.pending.store(false, Ordering::Release);
        let mut batches = Vec::new();
        for b in inner.prefixes.values_mut() {
            if !b.keys.is_empty() {
                let keys = std::mem::take(&mut b.keys);
                batches.push((b.clients.iter().copied().collect::<Vec<_>>(), keys));
            }
        }
        for (clients, keys) in batches {
            let all: Vec<&[u8]> = keys.keys().map(|k| &k[..]).collect();
            let mut common = Frames::new(Payload::Keys(&all));
            for id in clients {
                let noloop = inner
                    .trackers
                    .get(&id)
                    .is_some_and(|t| t.mode & mode::NOLOOP != 0);
                if noloop && keys.values().any(|w| *w == id) {
                    let own: Vec<&[u8]> = keys
                        .iter()
                        .filter(|(_, w)| **w != id)
                        .map(|(k, _)| &k[..])
                        .collect();
                    if !own.is_empty() {
                        self.deliver(inner, id, &mut Frames::new(Payload::Keys(&own)));
                    }
                } else {
                    self.deliver(inner, id, &mut common);
                }
            }
        }
    }

    /// Remembers the keys a tracking client is about to read and applies CLIENT CACHING;
    /// called by the dispatcher before a command of a client with tracking state runs.
    /// Also handles RESET (which turns tracking off).
    pub fn before_command(&self, server: &Server, client: &mut Client, id: usize, args: &[Bytes]) {
        let Some(state) = client.tracking.as_mut() else {
            return;
        };
        let Some(m) = state.on else {
            return;
        };
        let reg = registry();
        let spec = reg.spec(id);
        let name = reg.full_name(id);
        let caching = state.caching;
        // CLIENT CACHING lasts for one command (a whole MULTI ... EXEC), and CLIENT
        // commands keep it (Redis's resetClient).
        if !(name.starts_with("client|") || name == "multi") {
            state.caching = false;
        }
        if name == "reset" {
            self.disable(client);
            return;
        }
        if m & mode::BCAST != 0
            || (m & mode::OPTIN != 0 && !caching)
            || (m & mode::OPTOUT != 0 && caching)
        {
            return;
        }
        let cid = client.id;
        let max = u64::try_from(server.config.get_i64("tracking-table-max-keys")).unwrap_or(0);
        if name == "exec" {
            if let Some(multi) = &client.multi {
                for (qid, qargs) in &multi.queued {
                    let qspec = reg.spec(*qid);
                    if qspec.flags & flag::READONLY != 0 && qspec.flags & flag::PUBSUB == 0 {
                        let keys = read_keys(reg.full_name(*qid), qspec, qargs);
                        self.remember(cid, keys.iter().map(|&i| &qargs[i]), max);
                    }
                }
            }
            return;
        }
        // Scripts: their declared keys stand for the keys their commands read.
        let script = matches!(
            name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        );
        if (spec.flags & flag::READONLY != 0 && spec.flags & flag::PUBSUB == 0) || script {
            let keys = read_keys(name, spec, args);
            if !keys.is_empty() {
                self.remember(cid, keys.iter().map(|&i| &args[i]), max);
            }
        }
    }
}

/// Positions of the keys a command reads: the spec's key positions, or for commands with
/// movable keys, their `numkeys` / `STREAMS` forms.
fn read_keys(name: &str, spec: &crate::spec::CommandSpec, args: &[Bytes]) -> Vec<usize> {
    if spec.flags & flag::MOVABLE_KEYS == 0 {
        return spec.keys.positions(args.len()).collect();
    }
    let numkeys_at = |at: usize| -> Vec<usize> {
        let n = args
            .get(at)
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        (at + 1..args.len()).take(n).collect()
    };
    match name {
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" => numkeys_at(1),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => numkeys_at(2),
        "xread" | "xreadgroup" => {
            let Some(s) = args.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) else {
                return Vec::new();
            };
            let rest = args.len() - s - 1;
            (s + 1..s + 1 + rest / 2).collect()
        }
        _ => spec.keys.positions(args.len()).collect(),
    }
}

/// What an invalidation names.
enum Payload<'a> {
    Key(&'a [u8]),
    Keys(&'a [&'a [u8]]),
    /// Every key (FLUSHDB/FLUSHALL).
    All,
}

#[derive(Clone, Copy)]
enum Frame {
    /// RESP3 `>2 invalidate <payload>`.
    Push,
    /// RESP2 `message __redis__:invalidate <payload>`.
    Message,
}

/// A message encoded once per form, on demand.
struct Frames<'a> {
    payload: Payload<'a>,
    cache: [Option<Bytes>; 2],
}

impl<'a> Frames<'a> {
    fn new(payload: Payload<'a>) -> Self {
        Frames {
            payload,
            cache: [None, None],
        }
    }

    fn get(&mut self, form: Frame) -> Bytes {
        let payload = &self.payload;
        self.cache[form as usize]
            .get_or_insert_with(|| {
                let mut b = BytesMut::new();
                match form {
                    Frame::Push => b.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n"),
                    Frame::Message => b.extend_from_slice(
                        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n",
                    ),
                }
                let bulk = |b: &mut BytesMut, k: &[u8]| {
                    b.extend_from_slice(b"$");
                    b.extend_from_slice(itoa::Buffer::new().format(k.len()).as_bytes());
                    b.extend_from_slice(b"\r\n");
                    b.extend_from_slice(k);
                    b.extend_from_slice(b"\r\n");
                };
                match payload {
                    Payload::Key(k) => {
                        b.extend_from_slice(b"*1\r\n");
                        bulk(&mut b, k);
                    }
                    Payload::Keys(keys) => {
                        b.extend_from_slice(b"*");
                        b.extend_from_slice(itoa::Buffer::new().format(keys.len()).as_bytes());
                        b.extend_from_slice(b"\r\n");
                        for k in keys.iter() {
                            bulk(&mut b, k);
                        }
                    }
                    Payload::All => b.extend_from_slice(match form {
                        Frame::Push => b"_\r\n",
                        Frame::Message => b"$-1\r\n",
                    }),
                }
                b.freeze()
            })
            .clone()
    }
}

impl ChangeListener for Tracking {
    #[inline]
    fn on_change(&self, change: &Change<'_>) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.changed(change);
    }
}

impl Tracking {
    fn changed(&self, change: &Change<'_>) {
        let writer = CURRENT.with(Cell::get);
        let mut inner = self.inner.lock();
        match *change {
            Change::Key { key, event, .. } => {
                if event.class == class::KEY_MISS {
                    return;
                }
                let mut hit = false;
                for (p, b) in inner.prefixes.iter_mut() {
                    if key.starts_with(p) {
                        match b.keys.get_mut(key) {
                            Some(w) => *w = writer,
                            None => {
                                b.keys.insert(Bytes::copy_from_slice(key), writer);
                            }
                        }
                        hit = true;
                    }
                }
                if hit {
                    if writer == 0 {
                        // Outside any command (the expire cycle): nothing flushes later.
                        self.flush_locked(&mut inner);
                    } else {
                        self.pending.store(true, Ordering::Release);
                    }
                }
                self.invalidate_key(&mut inner, key, writer);
            }
            Change::Flush { .. } => {
                let ids: Vec<u64> = inner.trackers.keys().copied().collect();
                let mut frames = Frames::new(Payload::All);
                for id in ids {
                    self.deliver(&mut inner, id, &mut frames);
                }
                inner.keys.clear();
                inner.items = 0;
            }
            // Announced again as a `Key` event.
            Change::Swap { .. } | Change::FieldsExpired { .. } => {}
        }
    }
}
