//! Streams: entries by 128-bit ID, consumer groups with their pending entries lists (PEL),
//! and the bookkeeping Redis 7.4 reports (entries-added, max-deleted-entry-id, first ID).
//!
//! Entries live in a `BTreeMap<StreamId, Fields>`, each entry's field/value pairs packed in
//! one allocation. Beside it, `nodes` mirrors how Redis groups entries into listpack macro
//! nodes (at most [`NODE_MAX_ENTRIES`] entries, live or deleted, and about
//! [`NODE_MAX_BYTES`] bytes of listpack each): approximate trimming (`~`) only removes whole
//! nodes, so keeping the same boundaries makes `MAXLEN ~` and `MINID ~` trim exactly what
//! Redis trims.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::value::parse_canonical_i64;

/// Redis's `stream-node-max-entries` default.
pub const NODE_MAX_ENTRIES: usize = 100;
/// Redis's `stream-node-max-bytes` default.
pub const NODE_MAX_BYTES: usize = 4096;
/// Largest total size of one entry's fields and values (`STREAM_LISTPACK_MAX_SIZE`).
pub const MAX_ENTRY_BYTES: usize = 1 << 30;
/// A group's `entries_read` when unknown (`SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A stream entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID (`streamIncrID`); None past the last possible one.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (`streamDecrID`); None before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Parses an ID as Redis's `streamGenericParseIDOrReply`: `<ms>-<seq>`, `<ms>` (the
    /// sequence is then `missing_seq`), `-` and `+` unless `strict`, and `<ms>-*` when
    /// `seq_star` (the bool is then false: the sequence was not given).
    pub fn parse(s: &[u8], missing_seq: u64, strict: bool, seq_star: bool) -> Option<(Self, bool)> {
        if s.len() > 127 {
            return None;
        }
        match s {
            b"-" if !strict => return Some((StreamId::MIN, true)),
            b"+" if !strict => return Some((StreamId::MAX, true)),
            _ => {}
        }
        match s.iter().position(|&c| c == b'-') {
            None => Some((StreamId::new(parse_ull(s)?, missing_seq), true)),
            Some(d) => {
                let ms = parse_ull(&s[..d])?;
                let rest = &s[d + 1..];
                if seq_star && rest == b"*" {
                    Some((StreamId::new(ms, 0), false))
                } else {
                    Some((StreamId::new(ms, parse_ull(rest)?), true))
                }
            }
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis's `string2ull`: a canonical integer, or what `strtoull` takes whole (leading
/// spaces, a `+`, leading zeros), never negative.
fn parse_ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_canonical_i64(s) {
        return u64::try_from(v).ok();
    }
    let t = s.trim_ascii_start();
    let t = t.strip_prefix(b"+").unwrap_or(t);
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    t.iter().try_fold(0u64, |v, &d| {
        v.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

// ---------------------------------------------------------------------------------------
// Packed field/value lists
// ---------------------------------------------------------------------------------------

/// Byte strings packed in one allocation: varint count, then varint length and bytes each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields(Box<[u8]>);

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<usize> {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let c = *b.get(*pos)?;
        *pos += 1;
        v |= usize::from(c & 0x7f).checked_shl(shift)?;
        if c < 0x80 {
            return Some(v);
        }
        shift += 7;
    }
}

impl Fields {
    /// Packs `items` (for an entry: field, value, field, value...).
    pub fn new<T: AsRef<[u8]>>(items: &[T]) -> Fields {
        let total: usize = items.iter().map(|i| i.as_ref().len() + 5).sum();
        let mut out = Vec::with_capacity(total + 5);
        put_varint(&mut out, items.len());
        for i in items {
            put_varint(&mut out, i.as_ref().len());
            out.extend_from_slice(i.as_ref());
        }
        Fields(out.into_boxed_slice())
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        get_varint(&self.0, &mut 0).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut pos = 0;
        let n = get_varint(&self.0, &mut pos).unwrap_or(0);
        (0..n).map_while(move |_| {
            let len = get_varint(&self.0, &mut pos)?;
            let item = self.0.get(pos..pos.checked_add(len)?)?;
            pos += len;
            Some(item)
        })
    }

    pub fn heap_size(&self) -> usize {
        self.0.len()
    }
}

// ---------------------------------------------------------------------------------------
// Listpack size model (for node boundaries)
// ---------------------------------------------------------------------------------------

fn lp_backlen(enc: usize) -> usize {
    match enc {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

fn lp_int(v: i64) -> usize {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

fn lp_str(s: &[u8]) -> usize {
    if let Some(v) = parse_canonical_i64(s) {
        return lp_int(v);
    }
    let enc = match s.len() {
        0..=63 => 1 + s.len(),
        64..=4095 => 2 + s.len(),
        n => 5 + n,
    };
    enc + lp_backlen(enc)
}

/// One macro node as Redis would hold it: counts, last ID, master fields and size.
#[derive(Clone, Debug)]
struct Node {
    live: usize,
    deleted: usize,
    /// ID of the last entry appended (live or deleted).
    last: StreamId,
    /// The field names of the node's first entry (Redis's master entry).
    master: Fields,
    /// Listpack bytes besides the header, the end byte and the two counters.
    body: usize,
}

impl Node {
    fn bytes(&self) -> usize {
        7 + lp_int(self.live as i64) + lp_int(self.deleted as i64) + self.body
    }
}

// ---------------------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------------------

/// A pending entry: delivered to a consumer, not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    pub consumer: Box<[u8]>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: i64,
    /// -1 until the consumer is first delivered an entry.
    pub active_time: i64,
    /// IDs of this consumer's pending entries (their `Nack`s are in the group's PEL).
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Self {
        Group {
            last_id,
            entries_read,
            ..Group::default()
        }
    }

    /// Creates a consumer; false when it exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now,
                active_time: -1,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`; false when it was not pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Gives the pending entry `id` to `consumer` (which must exist), creating the entry
    /// when absent. Returns the entry.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], now: i64) -> &mut Nack {
        let nack = self.pel.entry(id).or_insert_with(|| Nack {
            delivery_time: now,
            delivery_count: 1,
            consumer: consumer.into(),
        });
        if *nack.consumer != *consumer {
            if let Some(old) = self.consumers.get_mut(&nack.consumer) {
                old.pel.remove(&id);
            }
            nack.consumer = consumer.into();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        nack
    }
}

// ---------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------

/// How to trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    nodes: BTreeMap<StreamId, Node>,
    pub last_id: StreamId,
    /// First entry's ID, as Redis records it (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        let entries: usize = self.entries.values().map(|f| f.heap_size() + 48).sum();
        let nodes = self.nodes.len() * 96;
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| n.len() + 96 + g.pel.len() * 80 + g.consumers.len() * 96)
            .sum();
        entries + nodes + groups
    }

    /// Number of macro nodes (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn get(&self, id: StreamId) -> Option<&Fields> {
        self.entries.get(&id)
    }

    /// The last live entry's ID (`streamLastValidID`).
    pub fn last_valid_id(&self) -> Option<StreamId> {
        self.entries.keys().next_back().copied()
    }

    pub fn first_entry(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next().map(|(k, v)| (*k, v))
    }

    pub fn last_entry(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next_back().map(|(k, v)| (*k, v))
    }

    /// Entries with IDs in `start..=end`, forwards or backwards.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (StreamId, &Fields)> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        let it = self.entries.range(start..=end).map(|(k, v)| (*k, v));
        if rev {
            Box::new(it.rev())
        } else {
            Box::new(it)
        }
    }

    /// The ID XADD would give an entry: `given` with `seq_given`, `<ms>-*`, or automatic from
    /// `now_ms`. None when it would not be above the last ID (or no ID is left).
    pub fn next_id(&self, given: Option<(StreamId, bool)>, now_ms: u64) -> Option<StreamId> {
        let id = match given {
            Some((id, true)) => id,
            Some((id, false)) if id.ms == self.last_id.ms => self.last_id.next()?,
            Some((id, false)) => id,
            None if now_ms > self.last_id.ms => StreamId::new(now_ms, 0),
            None => self.last_id.next()?,
        };
        (id > self.last_id).then_some(id)
    }

    /// Appends an entry; `id` must be above `last_id` and `items` hold field, value pairs.
    pub fn append<T: AsRef<[u8]>>(&mut self, id: StreamId, items: &[T]) {
        debug_assert!(id > self.last_id);
        let total: usize = items.iter().map(|i| i.as_ref().len()).sum();
        let numfields = items.len() / 2;
        let fields = || items.iter().step_by(2).map(AsRef::as_ref);
        let new_node = match self.nodes.values().next_back() {
            None => true,
            Some(n) => {
                n.bytes() + total >= NODE_MAX_BYTES || n.live + n.deleted >= NODE_MAX_ENTRIES
            }
        };
        if new_node {
            let names: Vec<&[u8]> = fields().collect();
            let body = lp_int(numfields as i64)
                + names.iter().map(|f| lp_str(f)).sum::<usize>()
                + lp_int(0);
            self.nodes.insert(
                id,
                Node {
                    live: 0,
                    deleted: 0,
                    last: id,
                    master: Fields::new(&names),
                    body,
                },
            );
        }
        let Some((&master_id, node)) = self.nodes.iter_mut().next_back() else {
            return;
        };
        let same = node.master.len() == numfields && node.master.iter().eq(fields());
        let mut size = lp_int(if same { 2 } else { 0 })
            + lp_int(id.ms.wrapping_sub(master_id.ms) as i64)
            + lp_int(id.seq.wrapping_sub(master_id.seq) as i64);
        let mut lp_count = numfields + 3;
        if !same {
            size += lp_int(numfields as i64) + fields().map(lp_str).sum::<usize>();
            lp_count += numfields + 1;
        }
        size += items
            .iter()
            .skip(1)
            .step_by(2)
            .map(|v| lp_str(v.as_ref()))
            .sum::<usize>();
        size += lp_int(lp_count as i64);
        node.body += size;
        node.live += 1;
        node.last = id;
        self.entries.insert(id, Fields::new(items));
        self.entries_added += 1;
        self.last_id = id;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    /// Removes the first node and its entries.
    fn drop_first_node(&mut self) -> usize {
        let Some((start, _)) = self.nodes.pop_first() else {
            return 0;
        };
        let before = self.entries.len();
        match self.nodes.keys().next() {
            Some(&next) => self.entries = self.entries.split_off(&next),
            None => self.entries.clear(),
        }
        debug_assert!(self.entries.keys().next().is_none_or(|&k| k > start));
        before - self.entries.len()
    }

    /// Trims as Redis's `streamTrim`: whole nodes from the head, then (unless `approx`)
    /// entries of the next node. `limit` (0: none) caps the entries removed. Returns how many
    /// were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        while let Some((&start, node)) = self.nodes.iter().next() {
            if let Trim::MaxLen(max) = how {
                if self.entries.len() as u64 <= max {
                    break;
                }
            }
            let entries = node.live as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.entries.len() as u64 - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            if remove {
                deleted += self.drop_first_node() as u64;
                continue;
            }
            if approx {
                break;
            }
            let end = self.nodes.keys().nth(1).copied();
            let ids: Vec<StreamId> = self
                .entries
                .range(start..)
                .map(|(k, _)| *k)
                .take_while(|k| end.is_none_or(|e| *k < e))
                .collect();
            let mut removed = 0;
            for id in ids {
                let stop = match how {
                    Trim::MaxLen(max) => self.entries.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                self.entries.remove(&id);
                removed += 1;
            }
            if let Some(n) = self.nodes.get_mut(&start) {
                n.live -= removed;
                n.deleted += removed;
            }
            deleted += removed as u64;
            break;
        }
        if self.entries.is_empty() {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.entries.keys().next().copied().unwrap_or_default();
        }
        deleted
    }

    /// Deletes one entry (XDEL), keeping first ID and max deleted ID as Redis does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        if let Some((&start, node)) = self.nodes.range_mut(..=id).next_back() {
            if node.live <= 1 {
                self.nodes.remove(&start);
            } else {
                node.live -= 1;
                node.deleted += 1;
            }
        }
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if self.entries.is_empty() {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.entries.keys().next().copied().unwrap_or_default();
        }
        true
    }

    /// Whether `start..=end` (None: unbounded) holds a deleted entry, as far as Redis can
    /// tell (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: Option<StreamId>) -> bool {
        if self.entries.is_empty() || self.max_deleted_id.is_zero() {
            return false;
        }
        start <= self.max_deleted_id && end.is_none_or(|e| self.max_deleted_id <= e)
    }

    /// The logical read counter of `id` (`streamEstimateDistanceFromFirstEverEntry`), or
    /// [`INVALID_ENTRIES_READ`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.entries.is_empty() && id <= self.last_id {
            return added;
        }
        if !id.is_zero() && id < self.max_deleted_id {
            return INVALID_ENTRIES_READ;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            let len = self.entries.len() as i64;
            if id < self.first_id {
                return added - len;
            } else if id == self.first_id {
                return added - len + 1;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag (`streamReplyWithCGLag`); None when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        let added = self.entries_added as i64;
        if self.entries_added == 0 || self.entries.is_empty() {
            return Some(0);
        }
        if g.last_id < self.first_id && self.max_deleted_id < self.first_id {
            return Some(self.entries.len() as i64);
        }
        if g.entries_read != INVALID_ENTRIES_READ && !self.range_has_tombstones(g.last_id, None) {
            return Some(added - g.entries_read);
        }
        match self.estimate_distance(g.last_id) {
            INVALID_ENTRIES_READ => None,
            read => Some(added - read),
        }
    }

    /// Delivers to `consumer` of group `group` (both must exist) the entries after `after`,
    /// at most `count` (0: all), as XREADGROUP's `>` does: moves the group's last ID and
    /// read counter and, unless `noack`, records each entry as pending. Returns the IDs.
    pub fn deliver_new(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        after: StreamId,
        count: usize,
        noack: bool,
        now: i64,
    ) -> Vec<StreamId> {
        let Some(start) = after.next() else {
            return Vec::new();
        };
        let ids: Vec<StreamId> = self
            .entries
            .range(start..)
            .map(|(k, _)| *k)
            .take(if count == 0 { usize::MAX } else { count })
            .collect();
        for &id in &ids {
            let Some(g) = self.groups.get(group) else {
                break;
            };
            let (last, read) = (g.last_id, g.entries_read);
            let mut new_read = read;
            if id > last {
                if read != INVALID_ENTRIES_READ
                    && last >= self.first_id
                    && !self.range_has_tombstones(last, None)
                {
                    new_read = read + 1;
                } else if self.entries_added > 0 {
                    new_read = self.estimate_distance(id);
                }
            }
            let Some(g) = self.groups.get_mut(group) else {
                break;
            };
            if id > last {
                g.entries_read = new_read;
                g.last_id = id;
            }
            if !noack {
                let nack = g.assign(id, consumer, now);
                nack.delivery_time = now;
                nack.delivery_count = 1;
                if let Some(c) = g.consumers.get_mut(consumer) {
                    c.active_time = now;
                }
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis() {
        let p = |s: &[u8]| StreamId::parse(s, 0, true, false).map(|x| x.0);
        assert_eq!(p(b"1-2"), Some(StreamId::new(1, 2)));
        assert_eq!(p(b"5"), Some(StreamId::new(5, 0)));
        assert_eq!(
            p(b"18446744073709551615-1"),
            Some(StreamId::new(u64::MAX, 1))
        );
        assert_eq!(p(b"007-1"), Some(StreamId::new(7, 1)));
        for bad in [
            &b"-"[..],
            b"+",
            b"",
            b"1-",
            b"-1",
            b"1-2-3",
            b"a",
            b"18446744073709551616",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
        assert_eq!(
            StreamId::parse(b"+", 0, false, false),
            Some((StreamId::MAX, true))
        );
        assert_eq!(
            StreamId::parse(b"3-*", 0, true, true),
            Some((StreamId::new(3, 0), false))
        );
    }

    #[test]
    fn nodes_hold_a_hundred_small_entries() {
        let mut s = Stream::default();
        for i in 1..=250u64 {
            s.append(StreamId::new(i, 0), &[&b"f"[..], i.to_string().as_bytes()]);
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.trim(Trim::MaxLen(160), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(150), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.first_id, StreamId::new(101, 0));
    }
}
