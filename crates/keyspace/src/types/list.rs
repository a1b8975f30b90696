//! Lists: one packed node while small (OBJECT ENCODING `listpack`), a deque of packed nodes
//! once past `list-max-listpack-size` (`quicklist`), converting in both directions by Redis
//! 7.4's rules (`listTypeTryConvertListpack` / `listTypeTryConvertQuicklist`).
//!
//! A node stores its entries as `varint(len) bytes backlen`, where `backlen` is the same
//! varint written backwards, so a node is walked from either end — Redis's listpack layout,
//! at the same cost per small element (2 bytes + the bytes). The entries live in
//! `buf[start..]`: popping from the front only moves `start`, pushing to the front writes
//! into the gap before it and pushing to the back appends into spare capacity, so pushes and
//! pops at either end of a list touch no other bytes of the node and rarely allocate. Only
//! the end nodes keep spare room; a node that stops being an end is trimmed to size.
//!
//! Node limits (bytes or entries per node) are judged on the size Redis's listpack would
//! have (`lp`, tracked per node), so encodings switch where Redis's do.

use std::collections::VecDeque;

use crate::value::parse_canonical_i64;

/// One end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (left, index 0).
    Head,
    /// The tail (right, index -1).
    Tail,
}

// ---------------------------------------------------------------------------------------
// Redis's quicklist limits (quicklist.c)
// ---------------------------------------------------------------------------------------

/// Byte bound of a node under a positive (entries per node) fill.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// What Redis adds to an element's length to estimate its encoded size.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Node byte limits of fill -1..-5.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// A listpack's header and end byte.
const LP_OVERHEAD: usize = 7;
/// The largest fill a quicklist stores (`FILL_MAX`).
const FILL_MAX: i64 = (1 << 15) - 1;

/// `quicklistNodeLimit`: (byte limit, entry limit) of a node; `usize::MAX` for none.
fn node_limit(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        (usize::MAX, if fill == 0 { 1 } else { fill as usize })
    } else {
        let offset = (fill.unsigned_abs() - 1).min(OPTIMIZATION_LEVEL.len() as u64 - 1);
        (OPTIMIZATION_LEVEL[offset as usize], usize::MAX)
    }
}

/// `quicklistNodeExceedsLimit`.
fn exceeds_limit(fill: i64, size: usize, count: usize) -> bool {
    let (size_limit, count_limit) = node_limit(fill);
    if size_limit != usize::MAX {
        size > size_limit
    } else {
        size > SIZE_SAFETY_LIMIT || count > count_limit
    }
}

/// `isLargeElement`: an element that gets a node of its own.
fn is_large(len: usize, fill: i64) -> bool {
    if fill >= 0 {
        len > SIZE_SAFETY_LIMIT
    } else {
        len > node_limit(fill).0
    }
}

/// Bytes of Redis's listpack `backlen` for an entry of `l` bytes.
fn lp_backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

/// Bytes one element takes in Redis's listpack (integers are stored as integers).
fn lp_entry_size(s: &[u8]) -> usize {
    let enc = match (s.len() <= 20).then(|| parse_canonical_i64(s)).flatten() {
        Some(v) => match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8388608..=8388607 => 4,
            -2147483648..=2147483647 => 5,
            _ => 9,
        },
        None => {
            s.len()
                + match s.len() {
                    0..64 => 1,
                    64..4096 => 2,
                    _ => 5,
                }
        }
    };
    enc + lp_backlen_size(enc)
}

// ---------------------------------------------------------------------------------------
// Entry encoding
// ---------------------------------------------------------------------------------------

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Encoded size of an entry holding `len` bytes.
#[inline]
fn entry_len(len: usize) -> usize {
    len + 2 * varint_len(len)
}

/// Writes `n` as a varint into `out`, returning the bytes used.
#[inline]
fn varint(mut n: usize, out: &mut [u8; 10]) -> usize {
    let mut i = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = b;
            return i + 1;
        }
        out[i] = b | 0x80;
        i += 1;
    }
}

/// Writes the entry for `v` into `out`, which is exactly `entry_len(v.len())` long.
#[inline]
fn write_entry(out: &mut [u8], v: &[u8]) {
    let mut tmp = [0u8; 10];
    let k = varint(v.len(), &mut tmp);
    out[..k].copy_from_slice(&tmp[..k]);
    out[k..k + v.len()].copy_from_slice(v);
    let back = &mut out[k + v.len()..];
    for (i, b) in tmp[..k].iter().rev().enumerate() {
        back[i] = *b;
    }
}

/// The entry for `v` as bytes.
fn encode(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; entry_len(v.len())];
    write_entry(&mut out, v);
    out
}

/// Reads the entry starting at `pos`: (data start, data end, next entry).
#[inline]
fn read_fwd(buf: &[u8], pos: usize) -> (usize, usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = pos;
    loop {
        let b = buf[i];
        i += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let k = i - pos;
    (i, i + n, i + n + k)
}

/// Reads the entry ending at `end`: (entry start, data start, data end).
#[inline]
fn read_back(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = end;
    loop {
        i -= 1;
        let b = buf[i];
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let k = end - i;
    let data_end = i;
    let data_start = data_end - n;
    (data_start - k, data_start, data_end)
}

// ---------------------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------------------

/// A run of entries in one buffer: entries in `buf[start..]`, spare room before `start` and
/// in the vector's capacity.
#[derive(Clone, Default)]
struct Node {
    buf: Vec<u8>,
    start: usize,
    count: u32,
    /// Redis's listpack size of the entries (without its 7 bytes of overhead), saturating.
    lp: u32,
}

impl Node {
    #[inline]
    fn len(&self) -> usize {
        self.count as usize
    }

    /// Bytes of entries.
    #[inline]
    fn bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Redis's `node->sz`.
    #[inline]
    fn sz(&self) -> usize {
        self.lp as usize + LP_OVERHEAD
    }

    #[inline]
    fn add_stats(&mut self, v: &[u8]) {
        self.count += 1;
        self.lp = self
            .lp
            .saturating_add(u32::try_from(lp_entry_size(v)).unwrap_or(u32::MAX));
    }

    #[inline]
    fn sub_stats(&mut self, v_lp: usize) {
        self.count -= 1;
        self.lp = self
            .lp
            .saturating_sub(u32::try_from(v_lp).unwrap_or(u32::MAX));
    }

    /// Recomputes `count` and `lp` from the entries.
    fn recount(&mut self) {
        let (mut count, mut lp) = (0u32, 0u32);
        for e in self.iter() {
            count += 1;
            lp = lp.saturating_add(u32::try_from(lp_entry_size(e)).unwrap_or(u32::MAX));
        }
        self.count = count;
        self.lp = lp;
    }

    fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            buf: &self.buf,
            front: self.start,
            back: self.buf.len(),
        }
    }

    /// `_quicklistNodeAllowInsert`: whether an element of `len` bytes may join this node.
    fn allow_insert(&self, fill: i64, len: usize) -> bool {
        !is_large(len, fill)
            && !exceeds_limit(
                fill,
                self.sz() + len + SIZE_ESTIMATE_OVERHEAD,
                self.len() + 1,
            )
    }

    /// Whether this node holds one large element (Redis's "plain" node).
    fn is_plain(&self, fill: i64) -> bool {
        self.count == 1 && self.iter().next().is_some_and(|e| is_large(e.len(), fill))
    }

    /// Rearranges the buffer so that `need` bytes fit at `end`, keeping some spare room
    /// (a quarter of the entries' size) for further pushes.
    fn make_room(&mut self, end: End, need: usize) {
        let live = self.bytes();
        let grow = if live == 0 { 0 } else { live / 4 + 16 };
        let back_spare = self.buf.capacity() - self.buf.len();
        let (front, back) = match end {
            End::Head => (need + grow, back_spare.min(grow)),
            End::Tail => (self.start.min(grow), need + grow),
        };
        let total = front + live + back;
        if total <= self.buf.capacity() {
            let old_len = self.buf.len();
            if front < self.start {
                self.buf.copy_within(self.start..old_len, front);
                self.buf.truncate(front + live);
            } else if front > self.start {
                self.buf.resize(front + live, 0);
                self.buf.copy_within(self.start..old_len, front);
            }
        } else {
            let mut v = Vec::with_capacity(total);
            v.resize(front, 0);
            v.extend_from_slice(&self.buf[self.start..]);
            self.buf = v;
        }
        self.start = front;
    }

    /// Makes room for `need` more bytes at `end` at once (a batch of pushes).
    fn reserve(&mut self, end: End, need: usize) {
        let room = match end {
            End::Head => self.start,
            End::Tail => self.buf.capacity() - self.buf.len(),
        };
        if room < need {
            self.make_room(end, need);
        }
    }

    fn push(&mut self, end: End, v: &[u8]) {
        let n = entry_len(v.len());
        self.reserve(end, n);
        match end {
            End::Head => {
                self.start -= n;
                write_entry(&mut self.buf[self.start..self.start + n], v);
            }
            End::Tail => {
                let at = self.buf.len();
                self.buf.resize(at + n, 0);
                write_entry(&mut self.buf[at..], v);
            }
        }
        self.add_stats(v);
    }

    /// Removes the entry at `end`, handing its bytes to `f` first.
    fn pop_with(&mut self, end: End, f: &mut impl FnMut(&[u8])) -> bool {
        if self.count == 0 {
            return false;
        }
        let v_lp = match end {
            End::Head => {
                let (ds, de, next) = read_fwd(&self.buf, self.start);
                let v = &self.buf[ds..de];
                f(v);
                let v_lp = lp_entry_size(v);
                self.start = next;
                v_lp
            }
            End::Tail => {
                let (es, ds, de) = read_back(&self.buf, self.buf.len());
                let v = &self.buf[ds..de];
                f(v);
                let v_lp = lp_entry_size(v);
                self.buf.truncate(es);
                v_lp
            }
        };
        self.sub_stats(v_lp);
        if self.count == 0 {
            self.buf.truncate(self.start);
        }
        true
    }

    /// Drops `n` entries (at most all) from `end`.
    fn drop_n(&mut self, end: End, n: usize) {
        let n = n.min(self.len());
        let mut lp = 0usize;
        match end {
            End::Head => {
                let mut pos = self.start;
                for _ in 0..n {
                    let (ds, de, next) = read_fwd(&self.buf, pos);
                    lp += lp_entry_size(&self.buf[ds..de]);
                    pos = next;
                }
                self.start = pos;
            }
            End::Tail => {
                let mut pos = self.buf.len();
                for _ in 0..n {
                    let (es, ds, de) = read_back(&self.buf, pos);
                    lp += lp_entry_size(&self.buf[ds..de]);
                    pos = es;
                }
                self.buf.truncate(pos);
            }
        }
        self.count -= n as u32;
        self.lp = self
            .lp
            .saturating_sub(u32::try_from(lp).unwrap_or(u32::MAX));
    }

    /// Byte offset of entry `k` (< len), walking from the nearer end.
    fn seek(&self, k: usize) -> usize {
        debug_assert!(k < self.len());
        if k <= self.len() / 2 {
            let mut pos = self.start;
            for _ in 0..k {
                pos = read_fwd(&self.buf, pos).2;
            }
            pos
        } else {
            let mut pos = self.buf.len();
            for _ in 0..self.len() - k {
                pos = read_back(&self.buf, pos).0;
            }
            pos
        }
    }

    /// The entry at byte offset `pos`: (bytes, offset of the next entry).
    #[inline]
    fn entry_at(&self, pos: usize) -> (&[u8], usize) {
        let (ds, de, next) = read_fwd(&self.buf, pos);
        (&self.buf[ds..de], next)
    }

    /// Replaces bytes `from..to` of the buffer with `bytes`.
    fn splice(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let (old, new) = (to - from, bytes.len());
        let len = self.buf.len();
        if new > old {
            self.buf.reserve_exact(new - old);
            self.buf.resize(len + new - old, 0);
            self.buf.copy_within(to..len, to + new - old);
        } else if new < old {
            self.buf.copy_within(to..len, from + new);
            self.buf.truncate(len - (old - new));
        }
        self.buf[from..from + new].copy_from_slice(bytes);
    }

    /// Inserts `v` as an entry at byte offset `pos`.
    fn insert_at(&mut self, pos: usize, v: &[u8]) {
        if pos == self.start {
            return self.push(End::Head, v);
        }
        if pos == self.buf.len() {
            return self.push(End::Tail, v);
        }
        self.splice(pos, pos, &encode(v));
        self.add_stats(v);
    }

    /// Replaces the entry at byte offset `pos` with `v`.
    fn replace_at(&mut self, pos: usize, v: &[u8]) {
        let (ds, de, next) = read_fwd(&self.buf, pos);
        let old_lp = lp_entry_size(&self.buf[ds..de]);
        if de - ds == v.len() {
            self.buf[ds..de].copy_from_slice(v);
        } else {
            self.splice(pos, next, &encode(v));
        }
        self.sub_stats(old_lp);
        self.add_stats(v);
    }

    /// Splits the node at byte offset `pos`: entries from `pos` on move to the returned node.
    fn split_off(&mut self, pos: usize) -> Node {
        let mut tail = Node {
            buf: self.buf[pos..].to_vec(),
            start: 0,
            count: 0,
            lp: 0,
        };
        tail.recount();
        self.buf.truncate(pos);
        self.count -= tail.count;
        self.lp = self.lp.saturating_sub(tail.lp);
        tail
    }

    /// Removes up to `limit` entries equal to `v`, scanning from `from`. Returns how many.
    fn remove_matching(&mut self, v: &[u8], limit: usize, from: End) -> usize {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        match from {
            End::Head => {
                let mut pos = self.start;
                while pos < self.buf.len() && ranges.len() < limit {
                    let (ds, de, next) = read_fwd(&self.buf, pos);
                    if &self.buf[ds..de] == v {
                        ranges.push((pos, next));
                    }
                    pos = next;
                }
            }
            End::Tail => {
                let mut pos = self.buf.len();
                while pos > self.start && ranges.len() < limit {
                    let (es, ds, de) = read_back(&self.buf, pos);
                    if &self.buf[ds..de] == v {
                        ranges.push((es, pos));
                    }
                    pos = es;
                }
                ranges.reverse();
            }
        }
        if ranges.is_empty() {
            return 0;
        }
        // Compact the kept bytes towards the front, in order.
        let mut write = ranges[0].0;
        for (i, &(_, to)) in ranges.iter().enumerate() {
            let keep_end = ranges.get(i + 1).map_or(self.buf.len(), |r| r.0);
            self.buf.copy_within(to..keep_end, write);
            write += keep_end - to;
        }
        self.buf.truncate(write);
        let removed = ranges.len();
        let each = u32::try_from(lp_entry_size(v)).unwrap_or(u32::MAX);
        self.count -= removed as u32;
        self.lp = self.lp.saturating_sub(each.saturating_mul(removed as u32));
        removed
    }

    /// Drops all spare room.
    fn fit(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.shrink_to_fit();
    }

    /// Gives back spare room once it exceeds the entries' size.
    fn maybe_shrink(&mut self) {
        let live = self.bytes();
        if self.buf.capacity() > 2 * live + 64 {
            self.fit();
        }
    }
}

/// A node's entries, from either end.
struct NodeIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (ds, de, next) = read_fwd(self.buf, self.front);
        self.front = next;
        Some(&self.buf[ds..de])
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let (es, ds, de) = read_back(self.buf, self.back);
        self.back = es;
        Some(&self.buf[ds..de])
    }
}

// ---------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------

/// A list value.
#[derive(Clone)]
pub struct List {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// One node (`listpack`).
    Packed(Node),
    /// A deque of nodes (`quicklist`).
    Quick(Box<Quick>),
}

#[derive(Clone)]
struct Quick {
    nodes: VecDeque<Node>,
    len: usize,
    /// The fill in force when the quicklist was made (Redis keeps it per quicklist).
    fill: i64,
}

impl Default for List {
    fn default() -> Self {
        List {
            repr: Repr::Packed(Node::default()),
        }
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl List {
    /// An empty list (listpack-encoded).
    pub fn new() -> Self {
        List::default()
    }

    /// A list of `items` in order, encoded as Redis would encode a list built by one RPUSH.
    pub fn from_items<T: AsRef<[u8]>>(items: &[T], fill: i64) -> Self {
        let mut l = List::new();
        l.push(End::Tail, items, fill);
        l
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(n) => n.len(),
            Repr::Quick(q) => q.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Quick(_) => "quicklist",
        }
    }

    /// Number of nodes (1 for a listpack).
    pub fn node_count(&self) -> usize {
        match &self.repr {
            Repr::Packed(_) => 1,
            Repr::Quick(q) => q.nodes.len(),
        }
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(n) => n.buf.capacity(),
            Repr::Quick(q) => {
                std::mem::size_of::<Quick>()
                    + q.nodes.capacity() * std::mem::size_of::<Node>()
                    + q.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
            }
        }
    }

    #[inline]
    fn node(&self, i: usize) -> Option<&Node> {
        match &self.repr {
            Repr::Packed(n) => (i == 0).then_some(n),
            Repr::Quick(q) => q.nodes.get(i),
        }
    }

    /// `listTypeTryConvertListpack`: before adding `add_len` elements of `add_bytes` bytes
    /// in all, a listpack that would pass the node limit becomes a quicklist.
    fn grow_check(&mut self, add_bytes: usize, add_len: usize, fill: i64) {
        let Repr::Packed(node) = &mut self.repr else {
            return;
        };
        if !exceeds_limit(
            fill,
            node.sz().saturating_add(add_bytes),
            node.len().saturating_add(add_len),
        ) {
            return;
        }
        let node = std::mem::take(node);
        let len = node.len();
        let mut nodes = VecDeque::new();
        if len > 0 {
            nodes.push_back(node);
        }
        self.repr = Repr::Quick(Box::new(Quick {
            nodes,
            len,
            fill: fill.clamp(-5, FILL_MAX),
        }));
    }

    /// `listTypeTryConvertQuicklist` when shrinking: a quicklist down to one node below half
    /// the limits becomes a listpack again.
    fn shrink_check(&mut self, fill: i64) {
        match &mut self.repr {
            Repr::Packed(node) => node.maybe_shrink(),
            Repr::Quick(q) => {
                if q.nodes.len() != 1 || q.nodes[0].is_plain(q.fill) {
                    return;
                }
                let (size_limit, count_limit) = node_limit(fill);
                if q.nodes[0].sz() > size_limit / 2 || q.len > count_limit / 2 {
                    return;
                }
                if let Some(mut node) = q.nodes.pop_front() {
                    node.maybe_shrink();
                    self.repr = Repr::Packed(node);
                }
            }
        }
    }

    /// LPUSH/RPUSH: adds `items` one by one at `end` (so LPUSH reverses them).
    pub fn push<T: AsRef<[u8]>>(&mut self, end: End, items: &[T], fill: i64) {
        let add_bytes = items.iter().map(|i| i.as_ref().len()).sum::<usize>();
        self.grow_check(add_bytes, items.len(), fill);
        match &mut self.repr {
            Repr::Packed(node) => {
                let need = items.iter().map(|i| entry_len(i.as_ref().len())).sum();
                node.reserve(end, need);
                for i in items {
                    node.push(end, i.as_ref());
                }
            }
            Repr::Quick(q) => {
                for i in items {
                    q.push(end, i.as_ref());
                }
            }
        }
    }

    /// Pops up to `n` elements from `end`, handing each to `f` in pop order. Returns how
    /// many were popped.
    pub fn pop(&mut self, end: End, n: usize, fill: i64, mut f: impl FnMut(&[u8])) -> usize {
        let mut popped = 0;
        match &mut self.repr {
            Repr::Packed(node) => {
                while popped < n && node.pop_with(end, &mut f) {
                    popped += 1;
                }
            }
            Repr::Quick(q) => {
                while popped < n {
                    let node = match end {
                        End::Head => q.nodes.front_mut(),
                        End::Tail => q.nodes.back_mut(),
                    };
                    let Some(node) = node else { break };
                    if node.pop_with(end, &mut f) {
                        popped += 1;
                        q.len -= 1;
                    }
                    if node.count == 0 {
                        match end {
                            End::Head => q.nodes.pop_front(),
                            End::Tail => q.nodes.pop_back(),
                        };
                    }
                }
            }
        }
        if popped > 0 {
            self.shrink_check(fill);
        }
        popped
    }

    /// Resolves a Redis index (negative counts from the tail).
    fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// (node, byte offset) of element `i` (< len), walking nodes from the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        match &self.repr {
            Repr::Packed(n) => (0, n.seek(i)),
            Repr::Quick(q) => {
                if i < q.len / 2 {
                    let mut i = i;
                    for (ni, node) in q.nodes.iter().enumerate() {
                        if i < node.len() {
                            return (ni, node.seek(i));
                        }
                        i -= node.len();
                    }
                } else {
                    let mut r = q.len - 1 - i;
                    for (ni, node) in q.nodes.iter().enumerate().rev() {
                        if r < node.len() {
                            return (ni, node.seek(node.len() - 1 - r));
                        }
                        r -= node.len();
                    }
                }
                debug_assert!(false, "index {i} beyond a list of {}", q.len);
                (0, 0)
            }
        }
    }

    /// LINDEX: the element at `index` (negative counts from the tail).
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        let i = self.resolve(index)?;
        let (ni, pos) = self.locate(i);
        self.node(ni).map(|n| n.entry_at(pos).0)
    }

    /// Elements from index `from` (0-based, from the head) towards the tail, or towards the
    /// head when `rev`.
    pub fn iter_from(&self, from: usize, rev: bool) -> Iter<'_> {
        if from >= self.len() {
            return Iter {
                list: self,
                node: 0,
                pos: 0,
                rev,
                done: true,
            };
        }
        let (node, pos) = self.locate(from);
        let pos = match (rev, self.node(node)) {
            (true, Some(n)) => n.entry_at(pos).1,
            _ => pos,
        };
        Iter {
            list: self,
            node,
            pos,
            rev,
            done: false,
        }
    }

    /// All elements, head to tail.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// LSET: replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: i64, v: &[u8], fill: i64) -> bool {
        self.grow_check(v.len(), 1, fill);
        let Some(i) = self.resolve(index) else {
            return false;
        };
        let (ni, pos) = self.locate(i);
        match &mut self.repr {
            Repr::Packed(node) => node.replace_at(pos, v),
            Repr::Quick(q) => q.replace(ni, pos, v),
        }
        self.shrink_check(fill);
        true
    }

    /// LINSERT: inserts `v` before (or `after`) the first element equal to `pivot`.
    /// Returns the new length, or None when the pivot is absent.
    pub fn insert(&mut self, pivot: &[u8], v: &[u8], after: bool, fill: i64) -> Option<usize> {
        self.grow_check(v.len(), 1, fill);
        let mut found = None;
        'nodes: for ni in 0..self.node_count() {
            let Some(node) = self.node(ni) else { break };
            let mut pos = node.start;
            while pos < node.buf.len() {
                let (e, next) = node.entry_at(pos);
                if e == pivot {
                    found = Some((ni, if after { next } else { pos }));
                    break 'nodes;
                }
                pos = next;
            }
        }
        let (ni, pos) = found?;
        match &mut self.repr {
            Repr::Packed(node) => node.insert_at(pos, v),
            Repr::Quick(q) => q.insert(ni, pos, v),
        }
        Some(self.len())
    }

    /// LREM: removes up to |count| elements equal to `v` (all when 0), from the head when
    /// count > 0 and from the tail when < 0. Returns how many were removed.
    pub fn remove(&mut self, v: &[u8], count: i64, fill: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let from = if count < 0 { End::Tail } else { End::Head };
        let removed = match &mut self.repr {
            Repr::Packed(node) => node.remove_matching(v, limit, from),
            Repr::Quick(q) => q.remove_matching(v, limit, from),
        };
        if removed > 0 {
            self.shrink_check(fill);
        }
        removed
    }

    /// LTRIM: keeps the elements from `start` to `stop` (Redis's index rules). Returns how
    /// many were removed.
    pub fn trim(&mut self, start: i64, stop: i64, fill: i64) -> usize {
        let len = self.len() as i64;
        let mut start = if start < 0 {
            len.saturating_add(start)
        } else {
            start
        };
        let stop = if stop < 0 {
            len.saturating_add(stop)
        } else {
            stop
        };
        if start < 0 {
            start = 0;
        }
        let (ltrim, rtrim) = if start > stop || start >= len {
            (len, 0)
        } else {
            let stop = stop.min(len - 1);
            (start, len - stop - 1)
        };
        self.drop_n(End::Head, ltrim as usize);
        self.drop_n(End::Tail, rtrim as usize);
        self.shrink_check(fill);
        (ltrim + rtrim) as usize
    }

    /// Drops `n` elements from `end` (no conversion check).
    fn drop_n(&mut self, end: End, n: usize) {
        match &mut self.repr {
            Repr::Packed(node) => node.drop_n(end, n),
            Repr::Quick(q) => {
                let mut n = n.min(q.len);
                q.len -= n;
                while n > 0 {
                    let node = match end {
                        End::Head => q.nodes.front_mut(),
                        End::Tail => q.nodes.back_mut(),
                    };
                    let Some(node) = node else { break };
                    if node.len() <= n {
                        n -= node.len();
                        match end {
                            End::Head => q.nodes.pop_front(),
                            End::Tail => q.nodes.pop_back(),
                        };
                    } else {
                        node.drop_n(end, n);
                        n = 0;
                    }
                }
            }
        }
    }

    /// Checks the internal invariants (tests).
    #[doc(hidden)]
    pub fn check(&self) -> Result<(), String> {
        let mut total = 0;
        for ni in 0..self.node_count() {
            let Some(n) = self.node(ni) else {
                return Err(format!("node {ni} missing"));
            };
            let mut c = n.clone();
            c.recount();
            if (c.count, c.lp) != (n.count, n.lp) {
                return Err(format!(
                    "node {ni}: count/lp {:?} recounted {:?}",
                    (n.count, n.lp),
                    (c.count, c.lp)
                ));
            }
            if n.iter().rev().count() != n.len() {
                return Err(format!("node {ni}: backward walk disagrees"));
            }
            if matches!(self.repr, Repr::Quick(_)) && n.count == 0 {
                return Err(format!("node {ni} of a quicklist is empty"));
            }
            total += n.len();
        }
        if total != self.len() {
            return Err(format!("nodes hold {total}, len says {}", self.len()));
        }
        Ok(())
    }
}

impl Quick {
    fn push(&mut self, end: End, v: &[u8]) {
        let fill = self.fill;
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        match node {
            Some(node) if node.allow_insert(fill, v.len()) => node.push(end, v),
            other => {
                // The old end node becomes an inner one: give back its spare room.
                if let Some(old) = other {
                    old.fit();
                }
                let mut node = Node::default();
                node.push(end, v);
                match end {
                    End::Head => self.nodes.push_front(node),
                    End::Tail => self.nodes.push_back(node),
                }
            }
        }
        self.len += 1;
    }

    /// Replaces the entry at (node `ni`, offset `pos`); an element that no longer fits its
    /// node gets a node of its own.
    fn replace(&mut self, ni: usize, pos: usize, v: &[u8]) {
        let fill = self.fill;
        let Some(node) = self.nodes.get_mut(ni) else {
            return;
        };
        let (old, next) = node.entry_at(pos);
        let old_lp = lp_entry_size(old);
        let fits = node.len() == 1
            || (!is_large(v.len(), fill)
                && !exceeds_limit(
                    fill,
                    (node.sz() - old_lp).saturating_add(v.len() + SIZE_ESTIMATE_OVERHEAD),
                    node.len(),
                ));
        if fits {
            node.replace_at(pos, v);
            return;
        }
        // Split around the entry: [..pos] [v] [next..].
        let mut right = node.split_off(next);
        node.drop_n(End::Tail, 1);
        let mut idx = ni + 1;
        let mut mid = Node::default();
        mid.push(End::Tail, v);
        mid.fit();
        right.fit();
        self.nodes.insert(idx, mid);
        if right.count > 0 {
            idx += 1;
            self.nodes.insert(idx, right);
        }
        if self.nodes.get(ni).is_some_and(|n| n.count == 0) {
            self.nodes.remove(ni);
        }
    }

    /// Inserts `v` at (node `ni`, offset `pos`), using a neighbour or a split when the node
    /// is full.
    fn insert(&mut self, ni: usize, pos: usize, v: &[u8]) {
        let fill = self.fill;
        self.len += 1;
        let n = self.nodes.len();
        let Some(node) = self.nodes.get_mut(ni) else {
            return;
        };
        if node.allow_insert(fill, v.len()) {
            return node.insert_at(pos, v);
        }
        let at_tail = pos == node.buf.len();
        let at_head = pos == node.start;
        if at_tail && ni + 1 < n && self.nodes[ni + 1].allow_insert(fill, v.len()) {
            return self.nodes[ni + 1].push(End::Head, v);
        }
        if at_head && ni > 0 && self.nodes[ni - 1].allow_insert(fill, v.len()) {
            return self.nodes[ni - 1].push(End::Tail, v);
        }
        let node = &mut self.nodes[ni];
        let mut right = node.split_off(pos);
        let mut mid_inserted = false;
        if node.count > 0 && node.allow_insert(fill, v.len()) {
            node.push(End::Tail, v);
        } else if right.count > 0 && right.allow_insert(fill, v.len()) {
            right.push(End::Head, v);
        } else {
            let mut mid = Node::default();
            mid.push(End::Tail, v);
            mid.fit();
            self.nodes.insert(ni + 1, mid);
            mid_inserted = true;
        }
        if right.count > 0 {
            right.fit();
            self.nodes.insert(ni + 1 + usize::from(mid_inserted), right);
        }
        if self.nodes[ni].count == 0 {
            self.nodes.remove(ni);
        }
    }

    fn remove_matching(&mut self, v: &[u8], limit: usize, from: End) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = match from {
            End::Head => (0..self.nodes.len()).collect(),
            End::Tail => (0..self.nodes.len()).rev().collect(),
        };
        for ni in order {
            if removed >= limit {
                break;
            }
            removed += self.nodes[ni].remove_matching(v, limit - removed, from);
        }
        if removed > 0 {
            self.len -= removed;
            // Like Redis's quicklistDelIndex, no merging of neighbours: node boundaries
            // decide when the list turns back into a listpack.
            self.nodes.retain(|n| n.count > 0);
        }
        removed
    }
}

/// Iterator over a list's elements from some index, towards the tail or the head.
pub struct Iter<'a> {
    list: &'a List,
    node: usize,
    /// Forward: offset of the next entry. Backward: end offset of the next entry.
    pos: usize,
    rev: bool,
    done: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let list: &'a List = self.list;
        while !self.done {
            let Some(node) = list.node(self.node) else {
                self.done = true;
                break;
            };
            if !self.rev {
                if self.pos < node.buf.len() {
                    let (ds, de, next) = read_fwd(&node.buf, self.pos);
                    self.pos = next;
                    return Some(&node.buf[ds..de]);
                }
                self.node += 1;
                match list.node(self.node) {
                    Some(n) => self.pos = n.start,
                    None => self.done = true,
                }
            } else {
                if self.pos > node.start {
                    let (es, ds, de) = read_back(&node.buf, self.pos);
                    self.pos = es;
                    return Some(&node.buf[ds..de]);
                }
                if self.node == 0 {
                    self.done = true;
                    break;
                }
                self.node -= 1;
                match list.node(self.node) {
                    Some(n) => self.pos = n.buf.len(),
                    None => self.done = true,
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip_both_ways() {
        for len in [0usize, 1, 127, 128, 300, 16384, 20000] {
            let v = vec![b'x'; len];
            let e = encode(&v);
            assert_eq!(e.len(), entry_len(len));
            assert_eq!(
                read_fwd(&e, 0),
                (varint_len(len), varint_len(len) + len, e.len())
            );
            assert_eq!(
                read_back(&e, e.len()),
                (0, varint_len(len), varint_len(len) + len)
            );
        }
    }

    #[test]
    fn listpack_sizes_as_redis() {
        assert_eq!(lp_entry_size(b"1"), 2);
        assert_eq!(lp_entry_size(b"1000"), 3);
        assert_eq!(lp_entry_size(b"100000"), 5);
        assert_eq!(lp_entry_size(b"hello"), 7);
        assert_eq!(lp_entry_size(&[b'a'; 100]), 103);
        assert_eq!(lp_entry_size(&[b'a'; 5000]), 5007);
    }

    #[test]
    fn node_gap_buffer() {
        let mut n = Node::default();
        for i in 0..100 {
            n.push(End::Head, format!("h{i}").as_bytes());
            n.push(End::Tail, format!("t{i}").as_bytes());
        }
        assert_eq!(n.len(), 200);
        assert_eq!(n.iter().next(), Some(&b"h99"[..]));
        assert_eq!(n.iter().next_back(), Some(&b"t99"[..]));
        let mut got = Vec::new();
        n.pop_with(End::Tail, &mut |v| got.push(v.to_vec()));
        n.pop_with(End::Head, &mut |v| got.push(v.to_vec()));
        assert_eq!(got, vec![b"t99".to_vec(), b"h99".to_vec()]);
        assert_eq!(n.entry_at(n.seek(150)).0, b"t51");
    }
}
