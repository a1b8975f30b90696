//! The replication stream of a master: the backlog (a ring of the last `repl-backlog-size`
//! bytes, so a replica that lost its link can continue with a partial resync), the offset
//! (`master_repl_offset`, bytes ever appended), the replication ids, and the outbound queue
//! of every replica link.
//!
//! On a master the backlog is a propagation [`Sink`]: the effect stream is appended as it is
//! logged. On a replica it is fed instead with the master's stream as it is applied, byte for
//! byte, so offsets are the master's and sub-replicas (or this server once promoted) can
//! continue from them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::propagate::Sink;
use crate::server::unix_ms;

/// `client-output-buffer-limit replica <hard> <soft> <seconds>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

impl ObufLimit {
    /// The `replica` (`slave`) class of a `client-output-buffer-limit` value.
    pub fn parse(value: &str) -> ObufLimit {
        let words: Vec<&str> = value.split_whitespace().collect();
        for g in words.chunks(4) {
            if g.len() == 4 && matches!(g[0], "slave" | "replica") {
                let n = |w: &str| crate::config::parse_memory(w).unwrap_or(0);
                return ObufLimit {
                    hard: n(g[1]),
                    soft: n(g[2]),
                    soft_secs: n(g[3]),
                };
            }
        }
        ObufLimit::default()
    }
}

/// One replica connected to this server: what is queued for it and what it acknowledged.
pub struct ReplicaLink {
    pub client_id: u64,
    /// The replica's address as announced (`REPLCONF ip-address`) or seen.
    pub ip: String,
    /// `REPLCONF listening-port`.
    pub port: u16,
    queue: Mutex<BytesMut>,
    /// Signalled when bytes are queued or the link must close.
    pub notify: Notify,
    /// Last `REPLCONF ACK` offset.
    pub ack_offset: AtomicU64,
    /// Last `FACK` offset: the replica's stream up to there is fsynced to its AOF.
    pub aof_ack_offset: AtomicU64,
    /// When the last ACK arrived (Unix ms).
    pub last_ack_ms: AtomicU64,
    /// The initial synchronisation was sent.
    pub online: AtomicBool,
    /// Past its output buffer limit: the link closes.
    pub overflow: AtomicBool,
    soft_since_ms: AtomicU64,
}

impl ReplicaLink {
    pub fn new(client_id: u64, ip: String, port: u16) -> Self {
        ReplicaLink {
            client_id,
            ip,
            port,
            queue: Mutex::new(BytesMut::new()),
            notify: Notify::new(),
            ack_offset: AtomicU64::new(0),
            aof_ack_offset: AtomicU64::new(0),
            last_ack_ms: AtomicU64::new(unix_ms()),
            online: AtomicBool::new(false),
            overflow: AtomicBool::new(false),
            soft_since_ms: AtomicU64::new(0),
        }
    }

    /// Takes what is queued.
    pub fn take(&self) -> BytesMut {
        self.queue.lock().split()
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.queue.lock().len()
    }

    fn push(&self, bytes: &[u8], limit: ObufLimit) {
        let mut q = self.queue.lock();
        q.extend_from_slice(bytes);
        let len = q.len() as u64;
        let over = if limit.hard > 0 && len > limit.hard {
            true
        } else if limit.soft > 0 && len > limit.soft {
            let now = unix_ms();
            let since = self.soft_since_ms.load(Ordering::Relaxed);
            if since == 0 {
                self.soft_since_ms.store(now, Ordering::Relaxed);
                false
            } else {
                now.saturating_sub(since) / 1000 >= limit.soft_secs
            }
        } else {
            self.soft_since_ms.store(0, Ordering::Relaxed);
            false
        };
        if over {
            q.clear();
            self.overflow.store(true, Ordering::Release);
        }
        drop(q);
        self.notify.notify_one();
    }
}

/// The stream's state, under one lock so ids, offset and ring always agree.
pub struct Stream {
    pub replid: String,
    pub replid2: String,
    /// The offset up to which `replid2` is valid (-1: none).
    pub second_offset: i64,
    /// `master_repl_offset`: bytes appended since the stream began.
    pub offset: u64,
    /// The backlog exists (`repl_backlog_active`); before the first replica it does not
    /// and the offset does not move, as in Redis.
    pub active: bool,
    ring: Vec<u8>,
    /// Where the next byte goes in `ring`.
    idx: usize,
    pub histlen: usize,
    pub links: Vec<Arc<ReplicaLink>>,
    pub limit: ObufLimit,
}

impl Stream {
    pub fn size(&self) -> usize {
        self.ring.len()
    }

    /// `repl_backlog_first_byte_offset`.
    pub fn first_byte_offset(&self) -> u64 {
        if self.active {
            self.offset - self.histlen as u64 + 1
        } else {
            0
        }
    }

    /// Creates the backlog (first replica, or a replica's first sync) of `size` bytes.
    pub fn activate(&mut self, size: usize) {
        if !self.active {
            self.active = true;
            self.ring = vec![0; size.max(1)];
            self.idx = 0;
            self.histlen = 0;
        }
    }

    /// Empties the backlog and restarts it at `offset` (a replica after a full sync).
    pub fn reset_at(&mut self, offset: u64) {
        self.offset = offset;
        self.idx = 0;
        self.histlen = 0;
    }

    pub fn append(&mut self, bytes: &[u8]) {
        if !self.active || bytes.is_empty() {
            return;
        }
        self.offset += bytes.len() as u64;
        let size = self.ring.len();
        let tail = if bytes.len() > size {
            &bytes[bytes.len() - size..]
        } else {
            bytes
        };
        let first = (size - self.idx).min(tail.len());
        self.ring[self.idx..self.idx + first].copy_from_slice(&tail[..first]);
        let rest = tail.len() - first;
        self.ring[..rest].copy_from_slice(&tail[first..]);
        self.idx = (self.idx + tail.len()) % size;
        self.histlen = (self.histlen + bytes.len()).min(size);
        if !self.links.is_empty() {
            for link in &self.links {
                link.push(bytes, self.limit);
            }
            self.links.retain(|l| !l.overflow.load(Ordering::Acquire));
        }
    }

    /// The bytes from offset `from` (the first byte wanted, as PSYNC counts) to the end,
    /// or `None` when they are no longer (or not yet) in the backlog.
    pub fn since(&self, from: u64) -> Option<Vec<u8>> {
        if !self.active || from < self.first_byte_offset() || from > self.offset + 1 {
            return None;
        }
        let n = (self.offset + 1 - from) as usize;
        let size = self.ring.len();
        let start = (self.idx + size - n) % size;
        let mut out = Vec::with_capacity(n);
        if start + n <= size {
            out.extend_from_slice(&self.ring[start..start + n]);
        } else {
            out.extend_from_slice(&self.ring[start..]);
            out.extend_from_slice(&self.ring[..n - (size - start)]);
        }
        Some(out)
    }

    /// Changes the backlog's size, keeping the newest bytes that fit.
    pub fn resize(&mut self, size: usize) {
        let size = size.max(1);
        if !self.active || size == self.ring.len() {
            return;
        }
        let keep = self.histlen.min(size);
        let from = self.offset + 1 - keep as u64;
        let data = self.since(from).unwrap_or_default();
        self.ring = vec![0; size];
        self.ring[..data.len()].copy_from_slice(&data);
        self.idx = data.len() % size;
        self.histlen = data.len();
    }

    /// Starts a new history (promotion to master): the old id stays valid as `replid2` up to
    /// the current offset, so replicas of the old master can continue with us.
    pub fn shift_id(&mut self, new_id: String) {
        self.replid2 = std::mem::replace(&mut self.replid, new_id);
        self.second_offset = self.offset as i64 + 1;
    }
}

/// The backlog and the replica links, shared by the propagation log and the links.
pub struct Backlog {
    stream: Mutex<Stream>,
    /// True on a replica: the propagation stream is not appended (the master's is).
    pub proxy: AtomicBool,
}

impl Backlog {
    pub fn new(replid: String) -> Self {
        Backlog {
            stream: Mutex::new(Stream {
                replid,
                replid2: "0".repeat(40),
                second_offset: -1,
                offset: 0,
                active: false,
                ring: Vec::new(),
                idx: 0,
                histlen: 0,
                links: Vec::new(),
                limit: ObufLimit::default(),
            }),
            proxy: AtomicBool::new(false),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Stream> {
        self.stream.lock()
    }

    /// Appends bytes that are not commands of the effect stream (PING, REPLCONF GETACK, or
    /// the master's stream on a replica).
    pub fn append(&self, bytes: &[u8]) {
        self.stream.lock().append(bytes);
    }

    pub fn offset(&self) -> u64 {
        self.stream.lock().offset
    }

    pub fn remove_link(&self, client_id: u64) {
        self.stream
            .lock()
            .links
            .retain(|l| l.client_id != client_id);
    }

    pub fn links(&self) -> Vec<Arc<ReplicaLink>> {
        self.stream.lock().links.clone()
    }
}

impl Sink for Backlog {
    fn feed(&self, bytes: &[u8]) {
        if !self.proxy.load(Ordering::Acquire) {
            self.append(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest_bytes() {
        let b = Backlog::new("a".repeat(40));
        let mut s = b.lock();
        s.append(b"ignored before the backlog exists");
        assert_eq!(s.offset, 0);
        s.activate(8);
        s.append(b"abcde");
        assert_eq!((s.offset, s.histlen, s.first_byte_offset()), (5, 5, 1));
        assert_eq!(s.since(3).as_deref(), Some(&b"cde"[..]));
        s.append(b"fghijk");
        assert_eq!((s.offset, s.histlen, s.first_byte_offset()), (11, 8, 4));
        assert_eq!(s.since(4).as_deref(), Some(&b"defghijk"[..]));
        assert_eq!(s.since(12).as_deref(), Some(&b""[..]));
        assert!(s.since(3).is_none());
        assert!(s.since(13).is_none());
        s.append(b"0123456789xyz");
        assert_eq!(s.since(18).as_deref(), Some(&b"6789xyz"[..]));
        assert!(s.since(16).is_none());
        s.resize(4);
        assert_eq!(s.since(21).as_deref(), Some(&b"9xyz"[..]));
        s.resize(16);
        s.append(b"!");
        assert_eq!(s.since(21).as_deref(), Some(&b"9xyz!"[..]));
    }

    #[test]
    fn links_past_the_hard_limit_are_dropped() {
        let b = Backlog::new("a".repeat(40));
        let mut s = b.lock();
        s.activate(64);
        s.limit = ObufLimit {
            hard: 10,
            soft: 0,
            soft_secs: 0,
        };
        let link = Arc::new(ReplicaLink::new(1, "127.0.0.1".into(), 1));
        s.links.push(link.clone());
        s.append(b"12345");
        assert_eq!(link.pending(), 5);
        s.append(b"678901");
        assert!(link.overflow.load(Ordering::Acquire));
        assert!(s.links.is_empty());
    }
}
