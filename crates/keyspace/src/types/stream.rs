//! Streams: entries by 128-bit ID, consumer groups with their pending entries lists (PEL),
//! and the bookkeeping Redis 7.4 reports (entries-added, max-deleted-entry-id, first ID).
//!
//! Entries live in macro nodes as Redis's do: a `BTreeMap` from each node's master ID (its
//! first entry's ID) to a `Chunk`, one byte buffer holding the node's entries one after
//! another, IDs delta-encoded against the master ID and field names left out when they are
//! the master entry's. A node takes at most [`NODE_MAX_ENTRIES`] entries, live or deleted,
//! and about [`NODE_MAX_BYTES`] bytes of listpack as Redis would size it (the `lp_*` model),
//! so the boundaries are Redis's: approximate trimming (`~`) only removes whole nodes and
//! `MAXLEN ~` and `MINID ~` trim exactly what Redis trims. Deleting an entry flags it in
//! place; a node left with no live entry by XDEL is dropped.

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
// Entries packed in chunks
// ---------------------------------------------------------------------------------------

/// Entry flag: deleted (kept in place until its chunk goes).
const FLAG_DELETED: u8 = 1;
/// Entry flag: the field names are the chunk's master names and are not stored.
const FLAG_SAMEFIELDS: u8 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let c = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(c & 0x7f).checked_shl(shift)?;
        if c < 0x80 {
            return Some(v);
        }
        shift += 7;
    }
}

fn put_item(out: &mut Vec<u8>, item: &[u8]) {
    put_varint(out, item.len() as u64);
    out.extend_from_slice(item);
}

/// The varint-prefixed item at `pos`, moving `pos` past it.
fn next_item<'a>(b: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(get_varint(b, pos)?).ok()?;
    let item = b.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(item)
}

/// One entry's field/value pairs, borrowed from its chunk.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    /// The chunk's master names when the entry leaves its names out, else empty.
    names: &'a [u8],
    same: bool,
    /// The entry's items: values only when `same`, else field, value, field, value...
    items: &'a [u8],
    pairs: usize,
}

impl<'a> Fields<'a> {
    /// Number of items (twice the number of fields).
    pub fn len(&self) -> usize {
        self.pairs * 2
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// The items in order: field, value, field, value...
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let Fields {
            names,
            same,
            items,
            pairs,
        } = *self;
        let (mut np, mut ip) = (0, 0);
        (0..pairs * 2).map_while(move |i| {
            if same && i.is_multiple_of(2) {
                next_item(names, &mut np)
            } else {
                next_item(items, &mut ip)
            }
        })
    }
}

/// One decoded entry of a chunk.
struct Raw<'a> {
    /// Offset of the entry's flag byte in the chunk.
    at: usize,
    /// Offset of the next entry.
    next: usize,
    id: StreamId,
    deleted: bool,
    fields: Fields<'a>,
}

/// One macro node: its entries packed in one buffer, and what Redis keeps to size it.
///
/// `buf` holds the master field names (varint count, then varint length and bytes each),
/// then from `start` on the entries: a flag byte, the ID as varints (milliseconds minus the
/// master's; then the sequence minus the master's when the milliseconds are equal, else
/// the sequence itself), then unless [`FLAG_SAMEFIELDS`] the field count and field, value
/// pairs, else only the values; every item a varint length and its bytes.
#[derive(Clone, Debug)]
struct Chunk {
    buf: Vec<u8>,
    start: usize,
    live: usize,
    deleted: usize,
    /// ID of the last entry appended (live or deleted).
    last: StreamId,
    /// Listpack bytes besides the header, the end byte and the two counters.
    body: usize,
}

impl Chunk {
    /// An empty chunk whose master entry has the field names `names`.
    fn new(names: &[&[u8]], first: StreamId, body: usize) -> Chunk {
        let mut buf = Vec::with_capacity(names.iter().map(|n| n.len() + 2).sum::<usize>() + 16);
        put_varint(&mut buf, names.len() as u64);
        for n in names {
            put_item(&mut buf, n);
        }
        Chunk {
            start: buf.len(),
            buf,
            live: 0,
            deleted: 0,
            last: first,
            body,
        }
    }

    /// Listpack bytes Redis would use for this node.
    fn bytes(&self) -> usize {
        7 + lp_int(self.live as i64) + lp_int(self.deleted as i64) + self.body
    }

    /// The master entry's field count and its packed names.
    fn master(&self) -> (usize, &[u8]) {
        let mut p = 0;
        let n = get_varint(&self.buf, &mut p).unwrap_or(0);
        (
            usize::try_from(n).unwrap_or(0),
            self.buf.get(p..self.start).unwrap_or(&[]),
        )
    }

    /// Whether `fields` are the master entry's names.
    fn same_fields<'b>(&self, mut fields: impl ExactSizeIterator<Item = &'b [u8]>) -> bool {
        let (n, names) = self.master();
        if n != fields.len() {
            return false;
        }
        let mut p = 0;
        (0..n).all(|_| next_item(names, &mut p) == fields.next())
    }

    /// Appends an entry (`items` are field, value pairs) after the master `master`.
    fn push<T: AsRef<[u8]>>(&mut self, master: StreamId, id: StreamId, items: &[T], same: bool) {
        let pairs = items.len() / 2;
        let bytes: usize = items.iter().map(|i| i.as_ref().len() + 1).sum();
        self.buf.reserve(bytes + 12);
        self.buf.push(if same { FLAG_SAMEFIELDS } else { 0 });
        let dms = id.ms.wrapping_sub(master.ms);
        put_varint(&mut self.buf, dms);
        put_varint(
            &mut self.buf,
            if dms == 0 {
                id.seq.wrapping_sub(master.seq)
            } else {
                id.seq
            },
        );
        if same {
            for v in items.iter().skip(1).step_by(2).take(pairs) {
                put_item(&mut self.buf, v.as_ref());
            }
        } else {
            put_varint(&mut self.buf, pairs as u64);
            for i in items.iter().take(pairs * 2) {
                put_item(&mut self.buf, i.as_ref());
            }
        }
        self.live += 1;
        self.last = id;
    }

    /// Decodes the entry at `at` of the chunk with master ID `master`.
    fn decode(&self, master: StreamId, at: usize) -> Option<Raw<'_>> {
        let b = &self.buf;
        let flags = *b.get(at)?;
        let mut p = at + 1;
        let dms = get_varint(b, &mut p)?;
        let seq = get_varint(b, &mut p)?;
        let id = if dms == 0 {
            StreamId::new(master.ms, master.seq.wrapping_add(seq))
        } else {
            StreamId::new(master.ms.wrapping_add(dms), seq)
        };
        let same = flags & FLAG_SAMEFIELDS != 0;
        let (pairs, names) = if same {
            self.master()
        } else {
            (usize::try_from(get_varint(b, &mut p)?).ok()?, &[][..])
        };
        let begin = p;
        let count = if same { pairs } else { pairs.checked_mul(2)? };
        for _ in 0..count {
            next_item(b, &mut p)?;
        }
        Some(Raw {
            at,
            next: p,
            id,
            deleted: flags & FLAG_DELETED != 0,
            fields: Fields {
                names,
                same,
                items: b.get(begin..p)?,
                pairs,
            },
        })
    }

    /// Every entry, live or deleted, in ID order.
    fn entries(&self, master: StreamId) -> impl Iterator<Item = Raw<'_>> + '_ {
        let mut at = self.start;
        std::iter::from_fn(move || {
            let r = self.decode(master, at)?;
            at = r.next;
            Some(r)
        })
    }

    /// The live entries, in ID order.
    fn live_entries(&self, master: StreamId) -> impl Iterator<Item = Raw<'_>> + '_ {
        self.entries(master).filter(|r| !r.deleted)
    }

    /// Flags the live entry at `at` deleted.
    fn mark_deleted(&mut self, at: usize) {
        if let Some(f) = self.buf.get_mut(at) {
            debug_assert!(*f & FLAG_DELETED == 0);
            *f |= FLAG_DELETED;
            self.live -= 1;
            self.deleted += 1;
        }
    }

    fn heap_size(&self) -> usize {
        self.buf.capacity()
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

/// Bytes a chunk costs besides its buffer: the struct, its key and a share of the tree.
const CHUNK_OVERHEAD: usize = std::mem::size_of::<Chunk>() + 32;

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    /// Macro nodes by master ID.
    chunks: BTreeMap<StreamId, Chunk>,
    /// Live entries.
    len: usize,
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
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        let chunks: usize = self
            .chunks
            .values()
            .map(|c| c.heap_size() + CHUNK_OVERHEAD)
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| n.len() + 96 + g.pel.len() * 80 + g.consumers.len() * 96)
            .sum();
        chunks + groups
    }

    /// Number of macro nodes (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.chunks.len()
    }

    /// The chunk that would hold `id`, with its master ID.
    fn chunk_of(&self, id: StreamId) -> Option<(StreamId, &Chunk)> {
        self.chunks.range(..=id).next_back().map(|(k, c)| (*k, c))
    }

    pub fn get(&self, id: StreamId) -> Option<Fields<'_>> {
        let (master, c) = self.chunk_of(id)?;
        c.entries(master)
            .take_while(|r| r.id <= id)
            .find(|r| r.id == id && !r.deleted)
            .map(|r| r.fields)
    }

    /// The last live entry's ID (`streamLastValidID`).
    pub fn last_valid_id(&self) -> Option<StreamId> {
        self.last_entry().map(|(id, _)| id)
    }

    pub fn first_entry(&self) -> Option<(StreamId, Fields<'_>)> {
        self.chunks
            .iter()
            .find_map(|(m, c)| c.live_entries(*m).next())
            .map(|r| (r.id, r.fields))
    }

    pub fn last_entry(&self) -> Option<(StreamId, Fields<'_>)> {
        self.chunks
            .iter()
            .rev()
            .find_map(|(m, c)| c.live_entries(*m).last())
            .map(|r| (r.id, r.fields))
    }

    /// Entries with IDs in `start..=end`, forwards or backwards.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (StreamId, Fields<'_>)> + '_> {
        if start > end || self.len == 0 {
            return Box::new(std::iter::empty());
        }
        let from = self.chunk_of(start).map_or(start, |(m, _)| m);
        let chunks = self.chunks.range(from..=end);
        if rev {
            Box::new(
                chunks
                    .rev()
                    .flat_map(|(m, c)| {
                        let all: Vec<Raw<'_>> = c.live_entries(*m).collect();
                        all.into_iter().rev()
                    })
                    .skip_while(move |r| r.id > end)
                    .take_while(move |r| r.id >= start)
                    .map(|r| (r.id, r.fields)),
            )
        } else {
            Box::new(
                chunks
                    .flat_map(|(m, c)| c.live_entries(*m))
                    .skip_while(move |r| r.id < start)
                    .take_while(move |r| r.id <= end)
                    .map(|r| (r.id, r.fields)),
            )
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
        debug_assert!(items.len().is_multiple_of(2));
        let total: usize = items.iter().map(|i| i.as_ref().len()).sum();
        let numfields = items.len() / 2;
        let fields = || items.iter().step_by(2).take(numfields).map(AsRef::as_ref);
        let new_node = match self.chunks.values().next_back() {
            None => true,
            Some(c) => {
                c.bytes() + total >= NODE_MAX_BYTES || c.live + c.deleted >= NODE_MAX_ENTRIES
            }
        };
        if new_node {
            if let Some(closed) = self.chunks.values_mut().next_back() {
                closed.buf.shrink_to_fit();
            }
            let names: Vec<&[u8]> = fields().collect();
            let body = lp_int(numfields as i64)
                + names.iter().map(|f| lp_str(f)).sum::<usize>()
                + lp_int(0);
            self.chunks.insert(id, Chunk::new(&names, id, body));
        }
        let Some((&master_id, chunk)) = self.chunks.iter_mut().next_back() else {
            return;
        };
        let same = chunk.same_fields(fields());
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
        chunk.body += size;
        chunk.push(master_id, id, items, same);
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.len == 1 {
            self.first_id = id;
        }
    }

    /// Trims as Redis's `streamTrim`: whole nodes from the head, then (unless `approx`)
    /// entries of the next node. `limit` (0: none) caps the entries removed. Returns how many
    /// were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        while let Some(mut first) = self.chunks.first_entry() {
            if let Trim::MaxLen(max) = how {
                if self.len as u64 <= max {
                    break;
                }
            }
            let node = first.get();
            let entries = node.live as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.len as u64 - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            if remove {
                first.remove();
                self.len -= entries as usize;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let master = *first.key();
            let chunk = first.get_mut();
            let mut at = chunk.start;
            while let Some(r) = chunk.decode(master, at) {
                at = r.next;
                if r.deleted {
                    continue;
                }
                let stop = match how {
                    Trim::MaxLen(max) => self.len as u64 <= max,
                    Trim::MinId(min) => r.id >= min,
                };
                if stop {
                    break;
                }
                let here = r.at;
                chunk.mark_deleted(here);
                self.len -= 1;
                deleted += 1;
            }
            break;
        }
        if deleted > 0 {
            self.first_id = self.first_entry().map_or(StreamId::MIN, |(id, _)| id);
        }
        deleted
    }

    /// Deletes one entry (XDEL), keeping first ID and max deleted ID as Redis does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, chunk)) = self.chunks.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(at) = chunk
            .entries(master)
            .take_while(|r| r.id <= id)
            .find(|r| r.id == id && !r.deleted)
            .map(|r| r.at)
        else {
            return false;
        };
        if chunk.live <= 1 {
            self.chunks.remove(&master);
        } else {
            chunk.mark_deleted(at);
        }
        self.len -= 1;
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if self.len == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.first_entry().map_or(StreamId::MIN, |(id, _)| id);
        }
        true
    }

    /// Whether `start..=end` (None: unbounded) holds a deleted entry, as far as Redis can
    /// tell (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: Option<StreamId>) -> bool {
        if self.len == 0 || self.max_deleted_id.is_zero() {
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
        if self.len == 0 && id <= self.last_id {
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
            let len = self.len as i64;
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
        if self.entries_added == 0 || self.len == 0 {
            return Some(0);
        }
        if g.last_id < self.first_id && self.max_deleted_id < self.first_id {
            return Some(self.len as i64);
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
            .range(start, StreamId::MAX, false)
            .map(|(k, _)| k)
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
    fn ten_thousand_small_entries_pack_into_chunks() {
        let mut s = Stream::default();
        let mut ms = 1_700_000_000_000u64;
        for i in 0..10_000u64 {
            // A new millisecond every few entries, as XADD * under load gives.
            ms += u64::from(i.is_multiple_of(3));
            let id = s.next_id(None, ms).expect("ids left");
            s.append(id, &[&b"f"[..], b"v"]);
        }
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.node_count(), 100);
        // Flag, two ID varints and the value: about 6 bytes an entry, plus each chunk's
        // master names and bookkeeping. A map entry per ID would cost over 40.
        let per_entry = s.heap_size() as f64 / 10_000.0;
        assert!(per_entry < 10.0, "{per_entry} heap bytes per entry");
        assert_eq!(
            s.range(StreamId::MIN, StreamId::MAX, false)
                .filter(|(_, f)| f.iter().eq([&b"f"[..], b"v"]))
                .count(),
            10_000
        );
    }

    #[test]
    fn entries_decode_as_written() {
        let mut s = Stream::default();
        let ids = [
            StreamId::new(5, 7),
            StreamId::new(5, 300),
            StreamId::new(6, 0),
            StreamId::new(1 << 40, u64::MAX),
            StreamId::new(u64::MAX, 3),
        ];
        let entries: [&[&[u8]]; 5] = [
            &[b"a", b"1", b"bb", b""],
            &[b"a", b"x", b"bb", b"y"],
            &[b"a", b"x"],
            &[b"bb", b"y", b"a", b"x"],
            &[b"", &[0xff; 200]],
        ];
        for (id, items) in ids.iter().zip(entries) {
            s.append(*id, items);
        }
        assert_eq!(s.node_count(), 1);
        let got: Vec<(StreamId, Vec<&[u8]>)> = s
            .range(StreamId::MIN, StreamId::MAX, false)
            .map(|(id, f)| (id, f.iter().collect()))
            .collect();
        let want: Vec<(StreamId, Vec<&[u8]>)> = ids
            .iter()
            .zip(entries)
            .map(|(i, e)| (*i, e.to_vec()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(s.get(StreamId::new(5, 300)).map(|f| f.len()), Some(4));
        assert!(s.get(StreamId::new(5, 8)).is_none());
        assert!(s.delete(StreamId::new(5, 300)));
        assert!(s.get(StreamId::new(5, 300)).is_none());
        assert!(!s.delete(StreamId::new(5, 300)));
        assert_eq!(s.len(), 4);
        assert_eq!(s.node_count(), 1);
        let back: Vec<StreamId> = s
            .range(StreamId::MIN, StreamId::MAX, true)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(back, [ids[4], ids[3], ids[2], ids[0]]);
        for id in [ids[0], ids[2], ids[3], ids[4]] {
            assert!(s.delete(id));
        }
        assert_eq!(s.node_count(), 0, "a chunk with no live entry goes");
        assert!(s.is_empty());
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
