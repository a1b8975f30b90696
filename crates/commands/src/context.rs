//! `Ctx`: what a handler works with — the keyspace under the world lock (`Store`), the
//! client, the server and the reply writer, as separate fields so they borrow independently.

use keyspace::{Access, Keyspace, Locked, OpCtx, Shard, Value};
use parking_lot::MutexGuard;
use protocol::ReplyWriter;

use crate::client::Client;
use crate::errors::{CmdError, WRONGTYPE};
use crate::server::Server;

pub struct Ctx<'a> {
    pub store: Store<'a>,
    pub client: &'a mut Client,
    pub server: &'a Server,
    pub out: &'a mut ReplyWriter,
}

/// The keyspace as a command sees it: the world lock it holds, its database, its time.
pub struct Store<'a> {
    pub keyspace: &'a Keyspace,
    pub access: Access<'a>,
    pub db: usize,
    /// Time of the command (ms); one instant for the whole command, as in Redis.
    pub now_ms: u64,
}

/// One key's shard, locked.
pub struct KeyLock<'b> {
    pub shard: MutexGuard<'b, Shard>,
    pub hash: u64,
    pub op: OpCtx<'b>,
}

impl KeyLock<'_> {
    /// Position of a live key (expired ones are reclaimed on the way).
    #[inline]
    pub fn find(&mut self, key: &[u8]) -> Option<usize> {
        self.shard.lookup(&self.op, self.hash, key)
    }

    /// Like `find`, counting a hit or miss and refreshing the access time.
    #[inline]
    pub fn find_read(&mut self, key: &[u8]) -> Option<usize> {
        self.shard.lookup_read(&self.op, self.hash, key)
    }

    /// The value of a live string key, WRONGTYPE for other types.
    #[inline]
    pub fn string_pos(&mut self, key: &[u8], read: bool) -> Result<Option<usize>, CmdError> {
        let pos = if read {
            self.find_read(key)
        } else {
            self.find(key)
        };
        match pos {
            Some(p) if !self.shard.value(p).is_string() => Err(WRONGTYPE),
            other => Ok(other),
        }
    }

    /// Sets a key to a value (dropping its TTL unless `keep_ttl`) and announces `event`.
    pub fn set(
        &mut self,
        key: &[u8],
        value: Value,
        keep_ttl: bool,
        event: keyspace::Event,
    ) -> usize {
        let (pos, _) = self.shard.upsert(&self.op, self.hash, key, value, keep_ttl);
        self.op.emit(key, event);
        pos
    }
}

impl<'a> Store<'a> {
    #[inline]
    pub fn op(&self) -> OpCtx<'_> {
        OpCtx {
            db: self.db,
            now_ms: self.now_ms,
            feed: &self.keyspace.feed,
        }
    }

    /// Locks the shard of `key` in the current database.
    #[inline]
    pub fn lock(&self, key: &[u8]) -> KeyLock<'_> {
        self.lock_in(self.db, key)
    }

    /// Locks the shard of `key` in database `db`.
    #[inline]
    pub fn lock_in(&self, db: usize, key: &[u8]) -> KeyLock<'_> {
        let hash = self.keyspace.hash(key);
        let shard = self.access.db(db).lock(self.keyspace.shard_of(hash));
        KeyLock {
            shard,
            hash,
            op: OpCtx {
                db,
                now_ms: self.now_ms,
                feed: &self.keyspace.feed,
            },
        }
    }

    /// Locks the shards of several keys of the current database, in ascending order.
    /// Returns the lock and, per key, (hash, shard id).
    pub fn lock_keys<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> (Locked<'_>, Vec<(u64, usize)>) {
        let placed: Vec<(u64, usize)> = keys
            .into_iter()
            .map(|k| {
                let h = self.keyspace.hash(k);
                (h, self.keyspace.shard_of(h))
            })
            .collect();
        let locked = self
            .access
            .db(self.db)
            .lock_many(placed.iter().map(|p| p.1));
        (locked, placed)
    }
}
