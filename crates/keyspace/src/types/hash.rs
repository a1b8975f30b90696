//! Hashes: field-value maps, packed while small, a hash table past the limits; optional
//! per-field expiry (7.4 HEXPIRE).
//!
//! Encodings, as Redis's `t_hash.c`:
//! - `Packed` (OBJECT ENCODING `listpack`): field, value, field, value... in one allocation,
//!   while there are at most `hash-max-listpack-entries` fields and every field and value is
//!   at most `hash-max-listpack-value` bytes.
//! - `Table` (`hashtable`): a dense vector of (field, value) pairs with a hash index over it,
//!   the layout of a `Shard`: removing a pair moves the last one into the hole, so pairs only
//!   ever move to lower positions and HSCAN, walking from the top down, returns every field
//!   present for the whole iteration.
//!
//! A hash leaves the packed encoding when it passes either limit and, as in Redis, never goes
//! back (deleting fields does not convert it); [`Hash::from_pairs`] builds the encoding the
//! limits call for, as Redis does when it loads a hash.
//!
//! Field TTLs live in a side table behind an `Option<Box<..>>`: a hash without volatile
//! fields pays one null pointer for them. Each side table counts itself in a process-wide
//! counter ([`volatile_hashes`]), so the cron's active field expiry costs nothing while no
//! hash has field TTLs.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::{HashMap, HashTable};

use crate::compact::CompactBytes;
use crate::types::{packed, Limits, Packed};

type TableHasher = foldhash::fast::FixedState;
type TtlHasher = foldhash::fast::RandomState;

/// A hash value: 32 bytes (the encoding plus the optional TTL table).
#[derive(Clone, Debug, Default)]
pub struct Hash {
    enc: Enc,
    ttl: Option<Box<FieldTtls>>,
}

#[derive(Clone, Debug)]
enum Enc {
    Packed(Packed),
    Table(Box<Table>),
}

impl Default for Enc {
    fn default() -> Self {
        Enc::Packed(Packed::new())
    }
}

/// The hash-table encoding: dense pairs plus an index of their positions.
#[derive(Clone)]
struct Table {
    entries: Vec<(CompactBytes, CompactBytes)>,
    index: HashTable<u32>,
    hasher: TableHasher,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        Table {
            entries: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: TableHasher::with_seed(rand::random()),
        }
    }

    #[inline]
    fn find(&self, field: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(field);
        let entries = &self.entries;
        self.index
            .find(hash, |&i| entries[i as usize].0.as_bytes() == field)
            .map(|&i| i as usize)
    }

    /// Appends a field known to be absent.
    fn push(&mut self, field: &[u8], value: &[u8]) {
        let pos = self.entries.len() as u32;
        self.entries
            .push((CompactBytes::new(field), CompactBytes::new(value)));
        let hash = self.hasher.hash_one(field);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, pos, |&i| {
            hasher.hash_one(entries[i as usize].0.as_bytes())
        });
    }

    /// Removes the pair at `pos`; the last pair moves into its place.
    fn remove_at(&mut self, pos: usize) {
        let hash = self.hasher.hash_one(self.entries[pos].0.as_bytes());
        if let Ok(e) = self.index.find_entry(hash, |&i| i as usize == pos) {
            e.remove();
        }
        let last = self.entries.len() - 1;
        self.entries.swap_remove(pos);
        if pos != last {
            let moved = self.hasher.hash_one(self.entries[pos].0.as_bytes());
            if let Some(i) = self.index.find_mut(moved, |&i| i as usize == last) {
                *i = pos as u32;
            }
        }
        if self.entries.capacity() > 64 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
            let (entries, hasher) = (&self.entries, &self.hasher);
            self.index.shrink_to(entries.len(), |&i| {
                hasher.hash_one(entries[i as usize].0.as_bytes())
            });
        }
    }

    fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(CompactBytes, CompactBytes)>()
            + self.index.capacity() * 5
            + self
                .entries
                .iter()
                .map(|(k, v)| k.heap_size() + v.heap_size())
                .sum::<usize>()
    }
}

/// Expiry times (ms since the epoch) of the volatile fields.
#[derive(Debug)]
struct FieldTtls {
    at: HashMap<Box<[u8]>, u64, TtlHasher>,
    /// A lower bound of the earliest expiry time (exact after each sweep): while the clock
    /// is below it, nothing can be due and a sweep costs nothing.
    next: u64,
}

/// Number of hashes with volatile fields alive in the process (every `FieldTtls` counts
/// itself): the active field expiry does nothing while it is zero.
static VOLATILE_HASHES: AtomicUsize = AtomicUsize::new(0);

/// Number of hashes in the process that have fields with a TTL.
pub fn volatile_hashes() -> usize {
    VOLATILE_HASHES.load(Ordering::Relaxed)
}

impl FieldTtls {
    fn new() -> FieldTtls {
        VOLATILE_HASHES.fetch_add(1, Ordering::Relaxed);
        FieldTtls {
            at: HashMap::with_hasher(TtlHasher::default()),
            next: u64::MAX,
        }
    }
}

impl Clone for FieldTtls {
    fn clone(&self) -> FieldTtls {
        VOLATILE_HASHES.fetch_add(1, Ordering::Relaxed);
        FieldTtls {
            at: self.at.clone(),
            next: self.next,
        }
    }
}

impl Drop for FieldTtls {
    fn drop(&mut self) {
        VOLATILE_HASHES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Index of the packed pair whose field is `field` (pair k: entries 2k and 2k+1).
fn packed_find(p: &Packed, field: &[u8]) -> Option<usize> {
    p.iter().step_by(2).position(|f| f == field)
}

/// Iterator over a hash's (field, value) pairs.
pub enum Iter<'a> {
    Packed(packed::Iter<'a>),
    Table(std::slice::Iter<'a, (CompactBytes, CompactBytes)>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(it) => {
                let f = it.next()?;
                let v = it.next()?;
                Some((f, v))
            }
            Iter::Table(it) => it.next().map(|(f, v)| (f.as_bytes(), v.as_bytes())),
        }
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    /// A hash of `pairs` (fields assumed distinct; a repeated field keeps its last value) in
    /// the encoding the limits call for, as Redis picks it when loading a hash.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        limits: &Limits,
    ) -> Hash {
        let pairs: Vec<(&[u8], &[u8])> = pairs.into_iter().collect();
        let small = pairs.len() <= limits.hash_max_listpack_entries
            && pairs.iter().all(|(f, v)| {
                f.len() <= limits.hash_max_listpack_value
                    && v.len() <= limits.hash_max_listpack_value
            });
        let mut h = Hash::new();
        if !small {
            h.convert_to_table();
        }
        for (f, v) in pairs {
            h.insert(f, v, limits);
        }
        h
    }

    /// Number of fields (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        match &self.enc {
            Enc::Packed(p) => p.len() / 2,
            Enc::Table(t) => t.entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        match self.enc {
            Enc::Packed(_) => "listpack",
            Enc::Table(_) => "hashtable",
        }
    }

    /// Whether the hash is in its packed (listpack) encoding.
    pub fn is_packed(&self) -> bool {
        matches!(self.enc, Enc::Packed(_))
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        let enc = match &self.enc {
            Enc::Packed(p) => p.byte_len(),
            Enc::Table(t) => std::mem::size_of::<Table>() + t.heap_size(),
        };
        let ttl = self.ttl.as_ref().map_or(0, |t| {
            std::mem::size_of::<FieldTtls>()
                + t.at.capacity() * (std::mem::size_of::<(Box<[u8]>, u64)>() + 1)
                + t.at.keys().map(|k| k.len()).sum::<usize>()
        });
        enc + ttl
    }

    /// The (field, value) pairs, in storage order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.enc {
            Enc::Packed(p) => Iter::Packed(p.iter()),
            Enc::Table(t) => Iter::Table(t.entries.iter()),
        }
    }

    /// Pair number `i` in storage order (`i < len`): O(1) for a table, O(bytes) packed.
    pub fn pair_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match &self.enc {
            Enc::Packed(_) => self.iter().nth(i),
            Enc::Table(t) => t.entries.get(i).map(|(f, v)| (f.as_bytes(), v.as_bytes())),
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.enc {
            Enc::Packed(p) => {
                let mut it = p.iter();
                while let Some(f) = it.next() {
                    let v = it.next()?;
                    if f == field {
                        return Some(v);
                    }
                }
                None
            }
            Enc::Table(t) => t.find(field).map(|i| t.entries[i].1.as_bytes()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.enc {
            Enc::Packed(p) => packed_find(p, field).is_some(),
            Enc::Table(t) => t.find(field).is_some(),
        }
    }

    fn convert_to_table(&mut self) {
        if let Enc::Packed(p) = &self.enc {
            let mut t = Table::with_capacity(p.len() / 2);
            let mut it = p.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                t.push(f, v);
            }
            self.enc = Enc::Table(Box::new(t));
        }
    }

    /// Sets `field` to `value`, converting to a table past the limits (Redis's
    /// `hashTypeSet`). An overwritten field loses its TTL. Returns whether it was new.
    pub fn insert(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        if self.is_packed()
            && (field.len() > limits.hash_max_listpack_value
                || value.len() > limits.hash_max_listpack_value)
        {
            self.convert_to_table();
        }
        let created = match &mut self.enc {
            Enc::Packed(p) => match packed_find(p, field) {
                Some(k) => {
                    p.replace(2 * k + 1, value);
                    false
                }
                None => {
                    p.push(&[field, value]);
                    true
                }
            },
            Enc::Table(t) => match t.find(field) {
                Some(i) => {
                    t.entries[i].1 = CompactBytes::new(value);
                    false
                }
                None => {
                    t.push(field, value);
                    true
                }
            },
        };
        if created {
            if self.is_packed() && self.len() > limits.hash_max_listpack_entries {
                self.convert_to_table();
            }
        } else {
            self.forget_ttl(field);
        }
        created
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let found = match &mut self.enc {
            Enc::Packed(p) => match packed_find(p, field) {
                Some(k) => {
                    p.remove(2 * k, 2);
                    true
                }
                None => false,
            },
            Enc::Table(t) => match t.find(field) {
                Some(i) => {
                    t.remove_at(i);
                    true
                }
                None => false,
            },
        };
        if found {
            self.forget_ttl(field);
        }
        found
    }

    /// One HSCAN step. A packed hash is returned whole with cursor 0, as Redis does for
    /// listpacks. A table is walked from position `cursor` (0: from the top) downwards over
    /// about `count` pairs; the next cursor is returned, 0 when done.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        match &self.enc {
            Enc::Packed(_) => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            Enc::Table(t) => {
                let len = t.entries.len();
                let mut p = if cursor == 0 || cursor > len as u64 {
                    len
                } else {
                    cursor as usize
                };
                let mut visited = 0;
                while p > 0 && visited < count.max(1) {
                    p -= 1;
                    visited += 1;
                    let (k, v) = &t.entries[p];
                    f(k.as_bytes(), v.as_bytes());
                }
                p as u64
            }
        }
    }

    // ----- field expiry ---------------------------------------------------------------------

    /// Number of fields with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.ttl.as_ref().map_or(0, |t| t.at.len())
    }

    /// Expiry time (ms) of `field`, if it has one.
    pub fn expire_at(&self, field: &[u8]) -> Option<u64> {
        self.ttl.as_ref()?.at.get(field).copied()
    }

    /// Sets the expiry time of an existing `field`; false when there is no such field.
    pub fn set_expire(&mut self, field: &[u8], at_ms: u64) -> bool {
        if !self.contains(field) {
            return false;
        }
        let t = self.ttl.get_or_insert_with(|| Box::new(FieldTtls::new()));
        t.next = t.next.min(at_ms);
        match t.at.get_mut(field) {
            Some(slot) => *slot = at_ms,
            None => {
                t.at.insert(field.into(), at_ms);
            }
        }
        true
    }

    /// Removes the TTL of `field`; returns whether it had one.
    pub fn persist(&mut self, field: &[u8]) -> bool {
        self.forget_ttl(field)
    }

    fn forget_ttl(&mut self, field: &[u8]) -> bool {
        let Some(t) = &mut self.ttl else {
            return false;
        };
        let had = t.at.remove(field).is_some();
        if t.at.is_empty() {
            self.ttl = None;
        }
        had
    }

    /// A lower bound of the earliest field expiry time, None without volatile fields.
    pub fn next_expire(&self) -> Option<u64> {
        self.ttl.as_ref().map(|t| t.next)
    }

    /// Removes every field whose expiry time is at or before `now_ms`; returns their names.
    /// Costs nothing while no TTL can be due.
    pub fn expire_fields(&mut self, now_ms: u64) -> Vec<Box<[u8]>> {
        let due: Vec<Box<[u8]>> = match &mut self.ttl {
            Some(t) if t.next <= now_ms => {
                let due: Vec<Box<[u8]>> =
                    t.at.iter()
                        .filter(|&(_, &at)| at <= now_ms)
                        .map(|(f, _)| f.clone())
                        .collect();
                t.next =
                    t.at.values()
                        .copied()
                        .filter(|&at| at > now_ms)
                        .min()
                        .unwrap_or(u64::MAX);
                due
            }
            _ => return Vec::new(),
        };
        for f in &due {
            self.remove(f);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_small() {
        assert_eq!(std::mem::size_of::<Hash>(), 32);
    }

    #[test]
    fn converts_past_either_limit_and_never_back() {
        let limits = Limits {
            hash_max_listpack_entries: 2,
            hash_max_listpack_value: 4,
            ..Limits::default()
        };
        let mut h = Hash::new();
        assert!(h.insert(b"a", b"1", &limits));
        assert!(h.insert(b"b", b"2", &limits));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.insert(b"c", b"3", &limits));
        assert_eq!(h.encoding(), "hashtable");
        h.remove(b"a");
        h.remove(b"b");
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        assert!(h.insert(b"a", b"1", &limits));
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.insert(b"a", b"12345", &limits));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"12345"[..]));
        let back = Hash::from_pairs(h.iter(), &Limits::default());
        assert_eq!(back.encoding(), "listpack");
    }

    #[test]
    fn ttls_sweep_and_vanish() {
        let limits = Limits::default();
        let mut h = Hash::new();
        h.insert(b"a", b"1", &limits);
        h.insert(b"b", b"2", &limits);
        assert!(h.set_expire(b"a", 100));
        assert!(!h.set_expire(b"zz", 100));
        assert!(h.expire_fields(99).is_empty());
        assert_eq!(h.expire_fields(100), vec![Box::from(&b"a"[..])]);
        assert_eq!(h.len(), 1);
        assert!(h.ttl.is_none());
        h.set_expire(b"b", 50);
        h.insert(b"b", b"3", &limits);
        assert_eq!(h.expire_at(b"b"), None);
    }
}
