//! Pub/sub delivery: the registry of channel, pattern and shard-channel subscriptions, the
//! MONITOR list, and each receiving client's outbound queue.
//!
//! PUBLISH never waits on a receiver: a message is encoded once per protocol and appended to
//! each receiver's [`Outbound`] queue (a buffer of pre-encoded frames plus a byte counter).
//! The [`Delivery`] task writes every receiver's queue to its socket every two passes of the
//! event loop, without waking the receiver's connection task; only what the socket does not
//! take at once is left to that task, which waits for the socket. A receiver whose
//! queued bytes pass `client-output-buffer-limit` (pubsub class for subscribed clients,
//! normal class otherwise) is disconnected, as Redis does, instead of growing memory.
//!
//! Locking: the registry lock is taken after shard locks (keyspace notifications publish
//! from inside the writer's critical section) and never the other way round.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use foldhash::fast::RandomState;
use parking_lot::{Mutex, RwLock};
use protocol::{Protocol, ReplyWriter};
use tokio::sync::Notify;

use crate::client::{Client, ClientHandle};
use crate::config::parse_memory;
use crate::glob;
use crate::server::unix_ms;

/// Values read on every delivery or change, mirrored from the configuration by
/// `Config::refresh_hot`: the effective keyspace-notification flags and the output buffer
/// limits (hard, soft, soft seconds) of the normal and pubsub classes.
#[derive(Default)]
pub struct HotConfig {
    /// 0 when notifications are off (no class, or neither K nor E).
    pub notify: AtomicU32,
    normal: [AtomicU64; 3],
    pubsub: [AtomicU64; 3],
}

impl HotConfig {
    /// Refreshes from the canonical texts of `notify-keyspace-events` and
    /// `client-output-buffer-limit`.
    pub fn refresh(&self, notify: &str, obuf: &str) {
        let flags = crate::notify::parse_flags(notify).unwrap_or(0);
        let effective = if flags & (crate::notify::KEYSPACE | crate::notify::KEYEVENT) != 0
            && flags & 0xffff != 0
        {
            flags
        } else {
            0
        };
        self.notify.store(effective, Ordering::Relaxed);
        if let Ok(classes) = parse_obuf(obuf) {
            for (class, limits) in classes {
                let slot = match class {
                    ObufClass::Normal => &self.normal,
                    ObufClass::Pubsub => &self.pubsub,
                    ObufClass::Replica => continue,
                };
                for (a, v) in slot.iter().zip(limits) {
                    a.store(v, Ordering::Relaxed);
                }
            }
        }
    }

    fn limits(&self, pubsub: bool) -> [u64; 3] {
        let s = if pubsub { &self.pubsub } else { &self.normal };
        [0, 1, 2].map(|i| s[i].load(Ordering::Relaxed))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ObufClass {
    Normal,
    Replica,
    Pubsub,
}

const OBUF_CLASSES: [(ObufClass, &str); 3] = [
    (ObufClass::Normal, "normal"),
    (ObufClass::Replica, "slave"),
    (ObufClass::Pubsub, "pubsub"),
];

/// Parses `<class> <hard> <soft> <seconds>` groups with Redis's checks and texts.
fn parse_obuf(value: &str) -> Result<Vec<(ObufClass, [u64; 3])>, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut out = Vec::new();
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => ObufClass::Normal,
            "slave" | "replica" => ObufClass::Replica,
            "pubsub" => ObufClass::Pubsub,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let mut limits = [0u64; 3];
        for (slot, w) in limits.iter_mut().zip(&group[1..]) {
            *slot = parse_memory(w).ok_or_else(|| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            })?;
        }
        out.push((class, limits));
    }
    Ok(out)
}

/// Config normaliser of `client-output-buffer-limit`: the classes given replace those of
/// `current`; the result lists every class in Redis's CONFIG GET form.
pub fn normalize_obuf(value: &str, current: &str) -> Result<String, String> {
    let given = parse_obuf(value)?;
    let mut all = parse_obuf(current).unwrap_or_default();
    for (class, limits) in given {
        match all.iter_mut().find(|(c, _)| *c == class) {
            Some(slot) => slot.1 = limits,
            None => all.push((class, limits)),
        }
    }
    let mut parts = Vec::new();
    for (class, name) in OBUF_CLASSES {
        let l = all
            .iter()
            .find(|(c, _)| *c == class)
            .map_or([0; 3], |(_, l)| *l);
        parts.push(format!("{name} {} {} {}", l[0], l[1], l[2]));
    }
    Ok(parts.join(" "))
}

/// A receiving connection's socket, written by the deliverer without waiting.
pub trait PushSink: Send + Sync {
    /// Writes what the socket accepts now: the number of bytes written, 0 when it would
    /// block.
    fn try_write(&self, data: &[u8]) -> std::io::Result<usize>;
}

/// How a connection's pushes reach it: its socket, written by its server's deliverer.
#[derive(Clone)]
pub struct PushRoute {
    pub sink: Arc<dyn PushSink>,
    pub delivery: Arc<Delivery>,
}

/// Frames queued for a receiver and who may write them.
struct Queued {
    buf: BytesMut,
    /// The connection's socket; None when the connection gave none (or has closed).
    sink: Option<Arc<dyn PushSink>>,
    /// The connection task owns the output: it took frames into its reply buffer, or is
    /// writing, or must finish what the deliverer could not write. The deliverer leaves
    /// `buf` to it, so frames and replies go out in order.
    held: bool,
}

/// A queue buffer that grew past this is freed once emptied instead of kept.
const KEEP_CAPACITY: usize = 64 * 1024;

impl Queued {
    /// Empties the buffer (its frames were written or taken).
    fn emptied(&mut self) {
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        } else {
            self.buf.clear();
        }
    }
}

/// One receiving client's side of delivery, shared by the registry and its connection.
pub struct Outbound {
    queued: Mutex<Queued>,
    /// Whether it is on the deliverer's list.
    due: AtomicBool,
    delivery: Arc<Delivery>,
    /// Wakes the connection to write what the deliverer left to it.
    wake: Notify,
    /// Bytes queued and not yet written or taken by the connection (CLIENT LIST omem).
    bytes: AtomicUsize,
    /// Since when (Unix ms) the soft limit has been exceeded; 0 when it is not.
    soft_since: AtomicU64,
    pub handle: Arc<ClientHandle>,
    /// Subscription counts: channels, patterns, shard channels.
    counts: [AtomicUsize; 3],
}

impl Outbound {
    fn proto(&self) -> Protocol {
        if self.handle.resp.load(Ordering::Relaxed) == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }

    /// (channels, patterns, shard channels) this client is subscribed to.
    pub fn counts(&self) -> (usize, usize, usize) {
        let c = |i: usize| self.counts[i].load(Ordering::Relaxed);
        (c(0), c(1), c(2))
    }

    /// Whether the client is in pub/sub mode (Redis's CLIENT_PUBSUB: any subscription).
    pub fn subscribed(&self) -> bool {
        self.counts.iter().any(|c| c.load(Ordering::Relaxed) > 0)
    }

    /// Queues a pre-encoded push frame (client-side-caching invalidations), under the same
    /// output buffer limits as pub/sub messages.
    pub fn push(self: &Arc<Self>, frame: &[u8], hot: &HotConfig) {
        self.send(frame, hot);
    }

    /// Queues a frame for the deliverer, or disconnects the client when its output passes
    /// its limits.
    fn send(self: &Arc<Self>, frame: &[u8], hot: &HotConfig) {
        if self.handle.is_killed() {
            return;
        }
        let total = self.bytes.fetch_add(frame.len(), Ordering::Relaxed) + frame.len();
        self.handle.omem.store(total, Ordering::Relaxed);
        let [hard, soft, secs] = hot.limits(self.subscribed());
        let mut over = hard > 0 && total as u64 >= hard;
        if soft > 0 && total as u64 >= soft {
            let now = unix_ms();
            match self.soft_since.load(Ordering::Relaxed) {
                0 => self.soft_since.store(now, Ordering::Relaxed),
                since => over |= now.saturating_sub(since) > secs.saturating_mul(1000),
            }
        } else if soft > 0 {
            self.soft_since.store(0, Ordering::Relaxed);
        }
        if over {
            tracing::warn!(
                "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.handle.id,
                self.handle.addr
            );
            self.handle.kill();
            return;
        }
        self.queued.lock().buf.extend_from_slice(frame);
        if !self.due.swap(true, Ordering::AcqRel) {
            self.delivery.schedule(self.clone());
        }
    }

    /// Records that `n` queued bytes left the queue.
    fn sent(&self, n: usize) {
        let left = self.bytes.fetch_sub(n, Ordering::Relaxed).saturating_sub(n);
        self.handle.omem.store(left, Ordering::Relaxed);
    }

    /// The deliverer's write: what is queued goes straight to the socket. What the socket
    /// does not take now (or everything, with no socket or after an error) is left to the
    /// connection, which waits for the socket. Returns the bytes written.
    fn deliver(&self) -> usize {
        let mut q = self.queued.lock();
        if q.held || q.buf.is_empty() || self.handle.is_killed() {
            return 0;
        }
        let written = match &q.sink {
            Some(sink) => sink.try_write(&q.buf).unwrap_or(0),
            None => 0,
        };
        self.sent(written);
        if written == q.buf.len() {
            q.emptied();
        } else {
            q.buf.advance(written);
            q.held = true;
            drop(q);
            self.wake.notify_one();
        }
        written
    }
}

/// Passes of the event loop a frame waits for others to join its write: fewer writes (and
/// wake-ups of the receiver) per message, at a latency of microseconds.
const DELIVERY_PASSES: usize = 2;

/// The receivers with queued frames, written every [`DELIVERY_PASSES`] passes of the event loop:
/// a message wakes no receiver task, and each receiver gets one write however many
/// messages reached it meanwhile (as Redis writes its pending clients before it sleeps).
#[derive(Default)]
pub struct Delivery {
    due: Mutex<Vec<Arc<Outbound>>>,
    wake: Notify,
}

impl Delivery {
    fn schedule(&self, out: Arc<Outbound>) {
        let mut due = self.due.lock();
        let first = due.is_empty();
        due.push(out);
        drop(due);
        if first {
            self.wake.notify_one();
        }
    }

    /// The deliverer task of `server`; what it writes counts in INFO's
    /// total_net_output_bytes.
    pub async fn run(server: Arc<crate::Server>) {
        let this = &server.pubsub.delivery;
        loop {
            this.wake.notified().await;
            // The rest of this pass of the event loop (the other connections the runtime
            // has ready) and the next pass (requests that arrived meanwhile) run first;
            // their messages join this write.
            for _ in 0..DELIVERY_PASSES {
                tokio::task::yield_now().await;
            }
            let due = std::mem::take(&mut *this.due.lock());
            let mut written = 0;
            for out in due {
                out.due.store(false, Ordering::Release);
                written += out.deliver();
            }
            server
                .stats
                .net_output_bytes
                .fetch_add(written as u64, Ordering::Relaxed);
        }
    }
}

/// The connection's end of its outbound queue.
pub struct Inbox {
    pub out: Arc<Outbound>,
}

impl Inbox {
    fn new(handle: Arc<ClientHandle>, route: Option<PushRoute>) -> Self {
        let (sink, delivery) = match route {
            Some(r) => (Some(r.sink), r.delivery),
            // No connection behind the client: frames stay queued.
            None => (None, Arc::default()),
        };
        Inbox {
            out: Arc::new(Outbound {
                queued: Mutex::new(Queued {
                    buf: BytesMut::new(),
                    sink,
                    held: false,
                }),
                due: AtomicBool::new(false),
                delivery,
                wake: Notify::new(),
                bytes: AtomicUsize::new(0),
                soft_since: AtomicU64::new(0),
                handle,
                counts: Default::default(),
            }),
        }
    }

    /// Moves every queued frame into `buf` (the connection's reply buffer); the connection
    /// owns the output until [`Inbox::release`]. Returns the bytes moved.
    pub fn take_into(&self, buf: &mut BytesMut) -> usize {
        let mut q = self.out.queued.lock();
        q.held = true;
        let n = q.buf.len();
        if n > 0 {
            buf.extend_from_slice(&q.buf);
            q.emptied();
            drop(q);
            self.out.sent(n);
        }
        n
    }

    /// After the connection wrote its buffer: hands the output back to the deliverer, or
    /// returns false when more frames came meanwhile (take and write them first).
    pub fn release(&self) -> bool {
        let mut q = self.out.queued.lock();
        if q.buf.is_empty() {
            q.held = false;
            true
        } else {
            false
        }
    }

    /// Resolves when the deliverer left frames for the connection to write.
    pub async fn woken(&self) {
        self.out.wake.notified().await
    }

    /// Whether anything is queued (one atomic load).
    #[inline]
    pub fn pending(&self) -> bool {
        self.out.bytes.load(Ordering::Relaxed) > 0
    }

    /// The connection is closing: the deliverer no longer writes to its socket.
    pub fn detach(&self) {
        self.out.queued.lock().sink = None;
    }
}

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    /// Reply names: (subscribe, unsubscribe).
    pub fn names(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Kind::Channel => (b"subscribe", b"unsubscribe"),
            Kind::Pattern => (b"psubscribe", b"punsubscribe"),
            Kind::Shard => (b"ssubscribe", b"sunsubscribe"),
        }
    }
}

type Subscribers = HashMap<u64, Arc<Outbound>, RandomState>;

#[derive(Default)]
struct Inner {
    /// Channels, patterns and shard channels (in `Kind` order) to their subscribers.
    /// Patterns are ordered so that a client matching several gets them in a stable order.
    channels: HashMap<Bytes, Subscribers, RandomState>,
    patterns: BTreeMap<Bytes, Subscribers>,
    shard: HashMap<Bytes, Subscribers, RandomState>,
    /// Each subscribed client's subscriptions, per kind.
    clients: HashMap<u64, [BTreeSet<Bytes>; 3], RandomState>,
}

impl Inner {
    fn table(&mut self, kind: Kind) -> &mut dyn Table {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// A map from channel (or pattern) to subscribers, whichever map type holds it.
trait Table {
    fn add_sub(&mut self, name: Bytes, out: Arc<Outbound>);
    fn remove_sub(&mut self, name: &[u8], id: u64);
}

macro_rules! table {
    ($t:ty) => {
        impl Table for $t {
            fn add_sub(&mut self, name: Bytes, out: Arc<Outbound>) {
                self.entry(name).or_default().insert(out.handle.id, out);
            }
            fn remove_sub(&mut self, name: &[u8], id: u64) {
                if let Some(subs) = self.get_mut(name) {
                    subs.remove(&id);
                    if subs.is_empty() {
                        self.remove(name);
                    }
                }
            }
        }
    };
}
table!(HashMap<Bytes, Subscribers, RandomState>);
table!(BTreeMap<Bytes, Subscribers>);

/// Encodes a message once per protocol, on demand.
struct Encoded<'a> {
    parts: &'a [&'a [u8]],
    frames: [Option<BytesMut>; 2],
}

impl<'a> Encoded<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Self {
        Encoded {
            parts,
            frames: [None, None],
        }
    }

    fn get(&mut self, proto: Protocol) -> &[u8] {
        let i = usize::from(proto == Protocol::Resp3);
        let parts = self.parts;
        self.frames[i].get_or_insert_with(|| {
            let mut w = ReplyWriter::new(proto);
            w.push(parts.len());
            for p in parts {
                w.bulk(p);
            }
            w.buf
        })
    }
}

/// Redis's `stringmatchlen` as pub/sub calls it: an empty channel matches only the empty
/// pattern (Redis's loop never runs on an empty subject, so even `*` fails).
fn pattern_matches(pattern: &[u8], channel: &[u8]) -> bool {
    if channel.is_empty() {
        return pattern.is_empty();
    }
    glob::matches(pattern, channel, false)
}

/// Every subscription and monitor of the server.
pub struct PubSub {
    pub hot: Arc<HotConfig>,
    inner: RwLock<Inner>,
    monitors: Mutex<Vec<Arc<Outbound>>>,
    /// Number of MONITOR clients: the whole cost of the monitor hook when there are none.
    monitoring: AtomicUsize,
    /// Writes receivers' queued frames; its task is started with the server.
    pub delivery: Arc<Delivery>,
}

impl PubSub {
    pub fn new(hot: Arc<HotConfig>) -> Self {
        PubSub {
            hot,
            inner: RwLock::new(Inner::default()),
            delivery: Arc::default(),
            monitors: Mutex::new(Vec::new()),
            monitoring: AtomicUsize::new(0),
        }
    }

    /// The client's outbound queue, created on first use.
    pub fn outbound(client: &mut Client) -> Arc<Outbound> {
        let handle = client.handle.clone();
        let route = client.push_route.clone();
        client
            .pushes
            .get_or_insert_with(|| Inbox::new(handle, route))
            .out
            .clone()
    }

    /// Subscribes; returns whether it is new. `out`'s counts are updated.
    pub fn subscribe(&self, out: &Arc<Outbound>, kind: Kind, name: &Bytes) -> bool {
        let mut inner = self.inner.write();
        let id = out.handle.id;
        let subs = inner.clients.entry(id).or_default();
        if !subs[kind.index()].insert(name.clone()) {
            return false;
        }
        out.counts[kind.index()].store(subs[kind.index()].len(), Ordering::Relaxed);
        inner.table(kind).add_sub(name.clone(), out.clone());
        true
    }

    /// Unsubscribes; returns whether the client was subscribed.
    pub fn unsubscribe(&self, out: &Outbound, kind: Kind, name: &[u8]) -> bool {
        let mut inner = self.inner.write();
        let id = out.handle.id;
        let Some(subs) = inner.clients.get_mut(&id) else {
            return false;
        };
        if !subs[kind.index()].remove(name) {
            return false;
        }
        out.counts[kind.index()].store(subs[kind.index()].len(), Ordering::Relaxed);
        if subs.iter().all(BTreeSet::is_empty) {
            inner.clients.remove(&id);
        }
        inner.table(kind).remove_sub(name, id);
        true
    }

    /// The client's subscriptions of one kind, in order.
    pub fn subscriptions(&self, id: u64, kind: Kind) -> Vec<Bytes> {
        self.inner
            .read()
            .clients
            .get(&id)
            .map(|s| s[kind.index()].iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets a client entirely (disconnection, RESET): subscriptions and MONITOR.
    pub fn remove_client(&self, out: &Outbound) {
        let id = out.handle.id;
        {
            let mut inner = self.inner.write();
            if let Some(subs) = inner.clients.remove(&id) {
                for (kind, names) in [Kind::Channel, Kind::Pattern, Kind::Shard].iter().zip(subs) {
                    for name in names {
                        inner.table(*kind).remove_sub(&name, id);
                    }
                    out.counts[kind.index()].store(0, Ordering::Relaxed);
                }
            }
        }
        let mut monitors = self.monitors.lock();
        monitors.retain(|m| m.handle.id != id);
        self.monitoring.store(monitors.len(), Ordering::Relaxed);
    }

    /// PUBLISH: delivers to the channel's subscribers and every matching pattern's; returns
    /// the number of receivers.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let inner = self.inner.read();
        let mut n = 0;
        if let Some(subs) = inner.channels.get(channel) {
            let parts: [&[u8]; 3] = [b"message", channel, message];
            let mut enc = Encoded::new(&parts);
            for s in subs.values() {
                s.send(enc.get(s.proto()), &self.hot);
            }
            n += subs.len();
        }
        for (pattern, subs) in &inner.patterns {
            if !pattern_matches(pattern, channel) {
                continue;
            }
            let parts: [&[u8]; 4] = [b"pmessage", pattern, channel, message];
            let mut enc = Encoded::new(&parts);
            for s in subs.values() {
                s.send(enc.get(s.proto()), &self.hot);
            }
            n += subs.len();
        }
        n
    }

    /// SPUBLISH: delivers to the shard channel's subscribers.
    pub fn spublish(&self, channel: &[u8], message: &[u8]) -> usize {
        let inner = self.inner.read();
        let Some(subs) = inner.shard.get(channel) else {
            return 0;
        };
        let parts: [&[u8]; 3] = [b"smessage", channel, message];
        let mut enc = Encoded::new(&parts);
        for s in subs.values() {
            s.send(enc.get(s.proto()), &self.hot);
        }
        subs.len()
    }

    /// Active channels (shard channels when `shard`) matching an optional pattern.
    pub fn channels(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let inner = self.inner.read();
        let table = if shard { &inner.shard } else { &inner.channels };
        table
            .keys()
            .filter(|c| pattern.is_none_or(|p| pattern_matches(p, c)))
            .cloned()
            .collect()
    }

    /// Number of subscribers of a channel (shard channel when `shard`).
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        let inner = self.inner.read();
        let table = if shard { &inner.shard } else { &inner.channels };
        table.get(channel).map_or(0, HashMap::len)
    }

    /// Number of distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        self.inner.read().patterns.len()
    }

    /// Subscription counts of a client by id, for CLIENT LIST.
    pub fn counts_of(&self, id: u64) -> (usize, usize, usize) {
        self.inner
            .read()
            .clients
            .get(&id)
            .map_or((0, 0, 0), |s| (s[0].len(), s[1].len(), s[2].len()))
    }

    /// Adds a MONITOR client; false if it already monitors.
    pub fn add_monitor(&self, out: Arc<Outbound>) -> bool {
        let mut monitors = self.monitors.lock();
        if monitors.iter().any(|m| m.handle.id == out.handle.id) {
            return false;
        }
        monitors.push(out);
        self.monitoring.store(monitors.len(), Ordering::Relaxed);
        true
    }

    pub fn is_monitor(&self, id: u64) -> bool {
        self.monitoring.load(Ordering::Relaxed) > 0
            && self.monitors.lock().iter().any(|m| m.handle.id == id)
    }

    /// Whether any client monitors (one atomic load).
    #[inline]
    pub fn monitoring(&self) -> bool {
        self.monitoring.load(Ordering::Relaxed) > 0
    }

    /// Sends one MONITOR line (already a `+...\r\n` status) to every monitor.
    pub fn feed_monitors(&self, line: &Bytes) {
        for m in self.monitors.lock().iter() {
            m.send(line, &self.hot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obuf_partial_set_keeps_other_classes() {
        let cur = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        assert_eq!(
            normalize_obuf("pubsub 1mb 256kb 60", cur).as_deref(),
            Ok("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 262144 60")
        );
        assert_eq!(
            normalize_obuf("replica 1 2 3 normal 4 5 6", cur).as_deref(),
            Ok("normal 4 5 6 slave 1 2 3 pubsub 33554432 8388608 60")
        );
        assert!(normalize_obuf("pubsub 1mb 256kb", cur).is_err());
        assert!(normalize_obuf("master 1 2 3", cur).is_err());
        assert!(normalize_obuf("normal x 2 3", cur).is_err());
    }
}
