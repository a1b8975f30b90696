//! The change feed (one path for every consumer of writes): every mutation of the keyspace
//! is announced here, inside the critical section that made it.
//!
//! Keyspace notifications, WATCH, client-side caching, blocking wake-ups, search indexes,
//! AOF and replication all subscribe to this one feed; nothing observes writes another way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// Redis's keyspace-notification classes, one bit each (`notify-keyspace-events` letters).
pub mod class {
    pub const GENERIC: u16 = 1 << 0; // g
    pub const STRING: u16 = 1 << 1; // $
    pub const LIST: u16 = 1 << 2; // l
    pub const SET: u16 = 1 << 3; // s
    pub const HASH: u16 = 1 << 4; // h
    pub const ZSET: u16 = 1 << 5; // z
    pub const EXPIRED: u16 = 1 << 6; // x
    pub const EVICTED: u16 = 1 << 7; // e
    pub const STREAM: u16 = 1 << 8; // t
    pub const KEY_MISS: u16 = 1 << 9; // m
    pub const MODULE: u16 = 1 << 10; // d
    pub const NEW: u16 = 1 << 11; // n
    /// Not a notification class: marks the events of hash fields removed by their TTL (and
    /// of a hash deleted with its last such field). They are announced like any change,
    /// but propagated as the `HDEL` of [`super::Change::FieldsExpired`], not as a write of
    /// the command that happened to find them due.
    pub const FIELD_EXPIRY: u16 = 1 << 12;
}

/// What happened to a key: the event name Redis notifies and its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub name: &'static str,
    pub class: u16,
}

macro_rules! events {
    ($($id:ident = $name:literal, $class:ident;)*) => {
        /// The events of the commands built so far, with Redis's names.
        pub mod event {
            use super::{class, Event};
            $(pub const $id: Event = Event { name: $name, class: class::$class };)*
        }
    };
}

events! {
    SET = "set", STRING;
    SETRANGE = "setrange", STRING;
    INCRBY = "incrby", STRING;
    INCRBYFLOAT = "incrbyfloat", STRING;
    APPEND = "append", STRING;
    DEL = "del", GENERIC;
    EXPIRE = "expire", GENERIC;
    PERSIST = "persist", GENERIC;
    RENAME_FROM = "rename_from", GENERIC;
    RENAME_TO = "rename_to", GENERIC;
    MOVE_FROM = "move_from", GENERIC;
    MOVE_TO = "move_to", GENERIC;
    COPY_TO = "copy_to", GENERIC;
    EXPIRED = "expired", EXPIRED;
    EVICTED = "evicted", EVICTED;
    NEW = "new", NEW;
}

/// One change, as listeners see it.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// A key was written, created, deleted or expired.
    Key {
        db: usize,
        key: &'a [u8],
        event: Event,
    },
    /// Every key of one database (`Some`) or of all databases (`None`) was removed.
    Flush { db: Option<usize> },
    /// Two databases exchanged their contents.
    Swap { a: usize, b: usize },
    /// Fields of the hash at `key` were removed by their TTL (announced beside it as a
    /// `Key` event of class `FIELD_EXPIRY`): what replicas and the AOF receive as `HDEL`.
    FieldsExpired {
        db: usize,
        key: &'a [u8],
        fields: &'a [Box<[u8]>],
    },
}

/// A consumer of the change feed. Called synchronously while the writer still holds the
/// lock of what it changed, so it must be quick and must not touch the keyspace.
pub trait ChangeListener: Send + Sync {
    fn on_change(&self, change: &Change<'_>);
}

/// The feed: registered listeners plus the count of changes (`dirty`, as Redis calls it).
#[derive(Default)]
pub struct Feed {
    listeners: RwLock<Vec<Arc<dyn ChangeListener>>>,
    dirty: AtomicU64,
}

impl Feed {
    pub fn subscribe(&self, listener: Arc<dyn ChangeListener>) {
        self.listeners.write().push(listener);
    }

    #[inline]
    pub fn publish(&self, change: &Change<'_>) {
        // A key's creation is announced beside the write that created it; Redis counts the
        // write once.
        // The removal of expired fields counts through its `Key` event.
        if !matches!(change, Change::Key { event, .. } if *event == event::NEW)
            && !matches!(change, Change::FieldsExpired { .. })
        {
            self.dirty.fetch_add(1, Ordering::Relaxed);
        }
        let listeners = self.listeners.read();
        for l in listeners.iter() {
            l.on_change(change);
        }
    }

    /// Number of changes since the server started.
    pub fn dirty(&self) -> u64 {
        self.dirty.load(Ordering::Relaxed)
    }
}
