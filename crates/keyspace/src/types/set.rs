//! Sets: sorted integers while small and numeric (intset), packed while small, a hash set
//! past the limits — with Redis 7.4's conversions between the three (`t_set.c`).
//!
//! - `Ints` (OBJECT ENCODING `intset`): sorted integers in one exactly sized allocation of
//!   2-, 4- or 8-byte little-endian words, the width the widest member needs.
//! - `Packed` (`listpack`): members in insertion order in a [`Packed`].
//! - `Table` (`hashtable`): members in one byte arena, a dense vector of their offsets
//!   (a member's position) and a hash index of positions. Removal moves the last position
//!   into the hole, so members only move to lower positions and SSCAN walks positions from
//!   the top down (as `Shard` does with keys): a full scan returns every member present for
//!   the whole iteration. Random members are O(1).
//!
//! A set never goes back from `Table` or `Packed` by itself; only the operations Redis
//! names rebuild one (SPOP with a large count, SINTERSTORE of integers).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rand::Rng;

use super::{Limits, Packed};
use crate::value::parse_canonical_i64;

/// A member as iteration yields it: integers of an intset are not formatted until needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes (integers formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(i) => f(itoa::Buffer::new().format(i).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }

    /// The member as an integer, when it is the canonical form of one.
    #[inline]
    pub fn as_int(self) -> Option<i64> {
        match self {
            Member::Int(i) => Some(i),
            Member::Bytes(b) => parse_canonical_i64(b),
        }
    }
}

/// A set value.
#[derive(Clone, Debug)]
pub struct Set {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    Ints(IntSet),
    Packed(Packed),
    Table(Box<Table>),
}

impl Default for Set {
    fn default() -> Self {
        Set::new_intset()
    }
}

/// Redis's `intsetMaxEntries`: the intset limit, capped at 2^30.
fn intset_max(limits: &Limits) -> usize {
    limits.set_max_intset_entries.min(1 << 30)
}

/// Digits of an integer as Redis's `sdigits10` counts them (the sign included).
fn sdigits10(v: i64) -> usize {
    itoa::Buffer::new().format(v).len()
}

impl Set {
    /// An empty set in the intset encoding.
    pub fn new_intset() -> Set {
        Set {
            repr: Repr::Ints(IntSet::default()),
        }
    }

    /// An empty set in the packed (listpack) encoding.
    pub fn new_packed() -> Set {
        Set {
            repr: Repr::Packed(Packed::new()),
        }
    }

    /// Redis's `setTypeCreate`: the empty set that can hold `first`, given that about
    /// `size_hint` members will be added.
    pub fn with_first(first: &[u8], size_hint: usize, limits: &Limits) -> Set {
        if parse_canonical_i64(first).is_some() && size_hint <= limits.set_max_intset_entries {
            return Set::new_intset();
        }
        if size_hint <= limits.set_max_listpack_entries {
            return Set::new_packed();
        }
        Set {
            repr: Repr::Table(Box::new(Table::with_capacity(size_hint))),
        }
    }

    /// Redis's `setTypeMaybeConvert`: goes to a hash table before adding `size_hint` members
    /// when that many would not fit the current encoding.
    pub fn maybe_convert(&mut self, size_hint: usize, limits: &Limits) {
        let over = match &self.repr {
            Repr::Packed(_) => size_hint > limits.set_max_listpack_entries,
            Repr::Ints(_) => size_hint > limits.set_max_intset_entries,
            Repr::Table(_) => false,
        };
        if over {
            self.convert_to_table(size_hint);
        }
    }

    /// Redis's `maybeConvertToIntset`, for a set known to hold only integers.
    pub fn maybe_to_intset(&mut self, limits: &Limits) {
        if matches!(self.repr, Repr::Ints(_)) || self.len() > intset_max(limits) {
            return;
        }
        let mut ints: Vec<i64> = self.iter().filter_map(Member::as_int).collect();
        debug_assert_eq!(ints.len(), self.len(), "maybe_to_intset on non-integers");
        ints.sort_unstable();
        ints.dedup();
        self.repr = Repr::Ints(IntSet::from_sorted(&ints));
    }

    fn convert_to_table(&mut self, capacity: usize) {
        let mut t = Table::with_capacity(capacity.max(self.len()));
        for m in self.iter() {
            m.with_bytes(|b| t.insert_new(b));
        }
        self.repr = Repr::Table(Box::new(t));
    }

    fn convert_to_packed(&mut self) {
        let mut p = Packed::new();
        let mut buf = Vec::new();
        let mut starts = Vec::with_capacity(self.len());
        for m in self.iter() {
            starts.push(buf.len());
            m.with_bytes(|b| buf.extend_from_slice(b));
        }
        starts.push(buf.len());
        let entries: Vec<&[u8]> = starts.windows(2).map(|w| &buf[w[0]..w[1]]).collect();
        p.push(&entries);
        self.repr = Repr::Packed(p);
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(i) => i.len(),
            Repr::Packed(p) => p.len(),
            Repr::Table(t) => t.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Whether the set is in the intset encoding.
    pub fn is_intset(&self) -> bool {
        matches!(self.repr, Repr::Ints(_))
    }

    /// Whether the set is in the hash table encoding.
    pub fn is_table(&self) -> bool {
        matches!(self.repr, Repr::Table(_))
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Ints(i) => i.data.len(),
            Repr::Packed(p) => p.byte_len(),
            Repr::Table(t) => std::mem::size_of::<Table>() + t.heap_size(),
        }
    }

    /// Adds a member; returns whether it was new. Converts as Redis's `setTypeAddAux`.
    pub fn add(&mut self, m: &[u8], limits: &Limits) -> bool {
        match parse_canonical_i64(m) {
            Some(i) if self.is_intset() => self.add_int(i, limits),
            _ => self.add_bytes(m, limits),
        }
    }

    /// Adds a member given as iteration yields it.
    pub fn add_member(&mut self, m: Member<'_>, limits: &Limits) -> bool {
        match m {
            Member::Int(i) if self.is_intset() => self.add_int(i, limits),
            Member::Int(i) => self.add_bytes(itoa::Buffer::new().format(i).as_bytes(), limits),
            Member::Bytes(b) => self.add(b, limits),
        }
    }

    fn add_int(&mut self, v: i64, limits: &Limits) -> bool {
        let Repr::Ints(ints) = &mut self.repr else {
            return false;
        };
        if !ints.insert(v) {
            return false;
        }
        if ints.len() > intset_max(limits) {
            self.convert_to_table(0);
        }
        true
    }

    /// Adds bytes that are not an integer going into an intset.
    fn add_bytes(&mut self, m: &[u8], limits: &Limits) -> bool {
        match &mut self.repr {
            Repr::Table(t) => t.insert(m),
            Repr::Packed(p) => {
                if p.position(m, 0, 1).is_some() {
                    return false;
                }
                if p.len() < limits.set_max_listpack_entries
                    && m.len() <= limits.set_max_listpack_value
                {
                    p.push(&[m]);
                } else {
                    let n = p.len() + 1;
                    self.convert_to_table(n);
                    self.table_insert_new(m);
                }
                true
            }
            Repr::Ints(ints) => {
                // A non-integer: a listpack if every member would fit one, else a table.
                let n = ints.len();
                let maxelelen = match (ints.first(), ints.last()) {
                    (Some(lo), Some(hi)) => sdigits10(lo).max(sdigits10(hi)),
                    _ => 0,
                };
                if n < limits.set_max_listpack_entries
                    && m.len() <= limits.set_max_listpack_value
                    && maxelelen <= limits.set_max_listpack_value
                {
                    self.convert_to_packed();
                    if let Repr::Packed(p) = &mut self.repr {
                        p.push(&[m]);
                    }
                } else {
                    self.convert_to_table(n + 1);
                    self.table_insert_new(m);
                }
                true
            }
        }
    }

    fn table_insert_new(&mut self, m: &[u8]) {
        if let Repr::Table(t) = &mut self.repr {
            t.insert_new(m);
        }
    }

    /// Removes a member; returns whether it was there. Never changes the encoding.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(ints) => parse_canonical_i64(m).is_some_and(|v| ints.remove(v)),
            Repr::Packed(p) => match p.position(m, 0, 1) {
                Some(i) => {
                    p.remove(i, 1);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.remove(m),
        }
    }

    /// Removes a member given as iteration yields it.
    pub fn remove_member(&mut self, m: Member<'_>) -> bool {
        match (m, &mut self.repr) {
            (Member::Int(v), Repr::Ints(ints)) => ints.remove(v),
            _ => m.with_bytes(|b| self.remove(b)),
        }
    }

    /// Whether `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(ints) => parse_canonical_i64(m).is_some_and(|v| ints.find(v).is_ok()),
            Repr::Packed(p) => p.position(m, 0, 1).is_some(),
            Repr::Table(t) => t.find(m).is_some(),
        }
    }

    /// Whether a member given as iteration yields it is a member.
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (m, &self.repr) {
            (Member::Int(v), Repr::Ints(ints)) => ints.find(v).is_ok(),
            _ => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// The members: intsets in ascending order, packed sets in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match &self.repr {
                Repr::Ints(i) => IterInner::Ints(i, 0),
                Repr::Packed(p) => IterInner::Packed(p.iter()),
                Repr::Table(t) => IterInner::Table(t, 0),
            },
        }
    }

    /// Member `i` in iteration order (O(n) for packed sets).
    pub fn get(&self, i: usize) -> Option<Member<'_>> {
        match &self.repr {
            Repr::Ints(ints) => (i < ints.len()).then(|| Member::Int(ints.get(i))),
            Repr::Packed(p) => p.get(i).map(Member::Bytes),
            Repr::Table(t) => (i < t.len()).then(|| Member::Bytes(t.member(i))),
        }
    }

    /// A uniformly random member, None when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Member<'_>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        self.get(rng.gen_range(0..n))
    }

    /// `count` distinct random members (all of them, in iteration order, when `count >=
    /// len`), in iteration order.
    pub fn sample_distinct(&self, count: usize, rng: &mut impl Rng) -> Vec<Member<'_>> {
        let n = self.len();
        if count >= n {
            return self.iter().collect();
        }
        let mut picked = rand::seq::index::sample(rng, n, count).into_vec();
        picked.sort_unstable();
        self.pick(&picked)
    }

    /// The members at ascending positions `picked`.
    fn pick(&self, picked: &[usize]) -> Vec<Member<'_>> {
        match &self.repr {
            Repr::Packed(p) => {
                let mut out = Vec::with_capacity(picked.len());
                let mut want = picked.iter().peekable();
                for (i, m) in p.iter().enumerate() {
                    match want.peek() {
                        Some(&&w) if w == i => {
                            out.push(Member::Bytes(m));
                            want.next();
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
                out
            }
            _ => picked.iter().filter_map(|&i| self.get(i)).collect(),
        }
    }

    /// Removes and returns a uniformly random member.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Vec<u8>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let i = rng.gen_range(0..n);
        Some(self.remove_at(&[i]).pop().unwrap_or_default())
    }

    /// Removes the members at ascending positions `picked`, returning them.
    fn remove_at(&mut self, picked: &[usize]) -> Vec<Vec<u8>> {
        let out: Vec<Vec<u8>> = self.pick(picked).into_iter().map(Member::to_vec).collect();
        match &mut self.repr {
            Repr::Ints(ints) => ints.remove_positions(picked),
            Repr::Packed(p) => {
                for &i in picked.iter().rev() {
                    p.remove(i, 1);
                }
            }
            Repr::Table(t) => {
                // Descending: the last member, moved into each hole, is never one still to
                // be removed.
                for &i in picked.iter().rev() {
                    t.remove_pos(i);
                }
            }
        }
        out
    }

    /// SPOP with a count smaller than the set: removes and returns `count` random members.
    /// When few members remain (`remaining * 5 <= count`) Redis rebuilds the set from them:
    /// a hash table comes back as a listpack (as far as the limits allow).
    pub fn pop_many(&mut self, count: usize, rng: &mut impl Rng, limits: &Limits) -> Vec<Vec<u8>> {
        let n = self.len();
        if count >= n {
            let all = self.iter().map(Member::to_vec).collect();
            *self = Set::new_intset();
            return all;
        }
        let remaining = n - count;
        if remaining.saturating_mul(5) > count || !self.is_table() {
            let mut picked = rand::seq::index::sample(rng, n, count).into_vec();
            picked.sort_unstable();
            return self.remove_at(&picked);
        }
        let mut keep = rand::seq::index::sample(rng, n, remaining).into_vec();
        keep.sort_unstable();
        let mut newset = Set::new_packed();
        for m in self.pick(&keep) {
            newset.add_member(m, limits);
        }
        let old = std::mem::replace(self, newset);
        old.iter()
            .filter(|m| !self.contains_member(*m))
            .map(Member::to_vec)
            .collect()
    }

    /// One SSCAN step. Small encodings return everything with cursor 0; a hash table visits
    /// `count` positions downward from `cursor` (0 starts at the top) and returns where to
    /// resume (0 when done).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Member<'a>)) -> u64 {
        let Repr::Table(t) = &self.repr else {
            self.iter().for_each(f);
            return 0;
        };
        let len = t.len();
        let mut p = match usize::try_from(cursor) {
            Ok(c) if c != 0 && c <= len => c,
            _ => len,
        };
        let mut visited = 0;
        while p > 0 && visited < count.max(1) {
            p -= 1;
            visited += 1;
            f(Member::Bytes(t.member(p)));
        }
        p as u64
    }
}

/// Iterator over a set's members.
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Ints(&'a IntSet, usize),
    Packed(super::packed::Iter<'a>),
    Table(&'a Table, usize),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match &mut self.inner {
            IterInner::Ints(ints, i) => {
                if *i >= ints.len() {
                    return None;
                }
                *i += 1;
                Some(Member::Int(ints.get(*i - 1)))
            }
            IterInner::Packed(it) => it.next().map(Member::Bytes),
            IterInner::Table(t, i) => {
                if *i >= t.len() {
                    return None;
                }
                *i += 1;
                Some(Member::Bytes(t.member(*i - 1)))
            }
        }
    }
}

// ----- intset ------------------------------------------------------------------------------

/// Sorted distinct integers, each `width` bytes little-endian (2, 4 or 8), in one exactly
/// sized allocation (Redis's intset).
#[derive(Clone, Debug)]
struct IntSet {
    data: Box<[u8]>,
    width: u8,
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet {
            data: Box::default(),
            width: 2,
        }
    }
}

fn width_for(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    fn from_sorted(values: &[i64]) -> IntSet {
        let width = values.iter().map(|&v| width_for(v)).max().unwrap_or(2);
        let mut data = Vec::with_capacity(values.len() * width as usize);
        for &v in values {
            data.extend_from_slice(&v.to_le_bytes()[..width as usize]);
        }
        IntSet {
            data: data.into_boxed_slice(),
            width,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.data.len() / self.width as usize
    }

    #[inline]
    fn get(&self, i: usize) -> i64 {
        let w = self.width as usize;
        let b = &self.data[i * w..i * w + w];
        match w {
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    fn first(&self) -> Option<i64> {
        (self.len() > 0).then(|| self.get(0))
    }

    fn last(&self) -> Option<i64> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    /// Position of `v`, or where it would go.
    fn find(&self, v: i64) -> Result<usize, usize> {
        if width_for(v) > self.width {
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    fn insert(&mut self, v: i64) -> bool {
        let Err(at) = self.find(v) else {
            return false;
        };
        let width = self.width.max(width_for(v));
        let n = self.len();
        let mut data = Vec::with_capacity((n + 1) * width as usize);
        for i in 0..n {
            if i == at {
                data.extend_from_slice(&v.to_le_bytes()[..width as usize]);
            }
            data.extend_from_slice(&self.get(i).to_le_bytes()[..width as usize]);
        }
        if at == n {
            data.extend_from_slice(&v.to_le_bytes()[..width as usize]);
        }
        self.data = data.into_boxed_slice();
        self.width = width;
        true
    }

    fn remove(&mut self, v: i64) -> bool {
        match self.find(v) {
            Ok(i) => {
                self.remove_positions(&[i]);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes the entries at ascending positions (the width stays, as Redis's intset).
    fn remove_positions(&mut self, picked: &[usize]) {
        let w = self.width as usize;
        let mut data = Vec::with_capacity(self.data.len() - picked.len() * w);
        let mut want = picked.iter().peekable();
        for (i, chunk) in self.data.chunks_exact(w).enumerate() {
            if want.peek() == Some(&&i) {
                want.next();
            } else {
                data.extend_from_slice(chunk);
            }
        }
        self.data = data.into_boxed_slice();
    }
}

// ----- hash table --------------------------------------------------------------------------

/// Positions' byte offsets into the arena: 4 bytes each until the arena passes 4 GiB.
#[derive(Clone, Debug)]
enum Offsets {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Offsets {
    #[inline]
    fn len(&self) -> usize {
        match self {
            Offsets::Narrow(v) => v.len(),
            Offsets::Wide(v) => v.len(),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> usize {
        match self {
            Offsets::Narrow(v) => v[i] as usize,
            Offsets::Wide(v) => v[i] as usize,
        }
    }

    fn set(&mut self, i: usize, off: usize) {
        match self {
            Offsets::Narrow(v) => v[i] = off as u32,
            Offsets::Wide(v) => v[i] = off as u64,
        }
    }

    fn push(&mut self, off: usize) {
        if let Offsets::Narrow(v) = self {
            match u32::try_from(off) {
                Ok(o) => {
                    grow(v, 1);
                    v.push(o);
                    return;
                }
                Err(_) => *self = Offsets::Wide(v.iter().map(|&o| o as u64).collect()),
            }
        }
        if let Offsets::Wide(v) = self {
            grow(v, 1);
            v.push(off as u64);
        }
    }

    fn swap_remove(&mut self, i: usize) {
        match self {
            Offsets::Narrow(v) => {
                v.swap_remove(i);
            }
            Offsets::Wide(v) => {
                v.swap_remove(i);
            }
        }
    }

    fn capacity_bytes(&self) -> usize {
        match self {
            Offsets::Narrow(v) => v.capacity() * 4,
            Offsets::Wide(v) => v.capacity() * 8,
        }
    }

    fn shrink(&mut self) {
        match self {
            Offsets::Narrow(v) => v.shrink_to_fit(),
            Offsets::Wide(v) => v.shrink_to_fit(),
        }
    }
}

/// Reserves room for `extra` more items, growing by an eighth (not doubling) so that a
/// large set carries little slack; still amortised O(1).
fn grow<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.len() / 8).max(16));
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Members in one arena (each a varint length and its bytes), a dense vector of their
/// offsets (a member's position is its index there), and a hash index of positions.
/// Removal moves the last position into the hole and leaves the bytes as garbage, which
/// is compacted away once it is half the arena.
#[derive(Clone)]
struct Table {
    data: Vec<u8>,
    offs: Offsets,
    index: HashTable<u32>,
    garbage: usize,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((0..self.len()).map(|i| String::from_utf8_lossy(self.member(i))))
            .finish()
    }
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        // A size hint comes from the client (SADD's argument count): never trust it beyond
        // what the arguments themselves occupy.
        let n = n.min(1 << 20);
        Table {
            data: Vec::new(),
            offs: Offsets::Narrow(Vec::with_capacity(n)),
            index: HashTable::with_capacity(n),
            garbage: 0,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.offs.len()
    }

    /// The member at position `pos`.
    #[inline]
    fn member(&self, pos: usize) -> &[u8] {
        let off = self.offs.get(pos);
        let (mut n, mut shift, mut i) = (0usize, 0, off);
        loop {
            let b = self.data[i];
            n |= ((b & 0x7f) as usize) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        &self.data[i..i + n]
    }

    #[inline]
    fn hash(&self, m: &[u8]) -> u64 {
        self.hasher.hash_one(m)
    }

    fn find(&self, m: &[u8]) -> Option<usize> {
        self.index
            .find(self.hash(m), |&i| self.member(i as usize) == m)
            .map(|&i| i as usize)
    }

    fn insert(&mut self, m: &[u8]) -> bool {
        if self.find(m).is_some() {
            return false;
        }
        self.insert_new(m);
        true
    }

    /// Inserts a member known to be absent.
    fn insert_new(&mut self, m: &[u8]) {
        let pos = self.len() as u32;
        let hash = self.hash(m);
        let off = self.data.len();
        grow(&mut self.data, varint_len(m.len()) + m.len());
        let mut n = m.len();
        while n >= 0x80 {
            self.data.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        self.data.push(n as u8);
        self.data.extend_from_slice(m);
        self.offs.push(off);
        let Table {
            data,
            offs,
            index,
            hasher,
            ..
        } = self;
        index.insert_unique(hash, pos, |&i| {
            hasher.hash_one(member_in(data, offs, i as usize))
        });
    }

    fn remove(&mut self, m: &[u8]) -> bool {
        match self.find(m) {
            Some(pos) => {
                self.remove_pos(pos);
                true
            }
            None => false,
        }
    }

    /// Removes the member at `pos`; the last position moves into its place.
    fn remove_pos(&mut self, pos: usize) {
        let m = self.member(pos);
        let hash = self.hash(m);
        self.garbage += varint_len(m.len()) + m.len();
        if let Ok(e) = self.index.find_entry(hash, |&i| i as usize == pos) {
            e.remove();
        }
        let last = self.len() - 1;
        self.offs.swap_remove(pos);
        if pos != last {
            let moved = self.hash(self.member(pos));
            if let Some(i) = self.index.find_mut(moved, |&i| i as usize == last) {
                *i = pos as u32;
            }
        }
        if self.garbage > 64 && self.garbage * 2 > self.data.len() {
            self.compact();
        }
    }

    /// Rewrites the arena without garbage (positions, and so the index, stay).
    fn compact(&mut self) {
        let mut data = Vec::with_capacity(self.data.len() - self.garbage);
        for pos in 0..self.len() {
            let off = self.offs.get(pos);
            let m = self.member(pos);
            let end = off + varint_len(m.len()) + m.len();
            self.offs.set(pos, data.len());
            data.extend_from_slice(&self.data[off..end]);
        }
        self.data = data;
        self.garbage = 0;
        self.offs.shrink();
        let Table {
            data,
            offs,
            index,
            hasher,
            ..
        } = self;
        index.shrink_to(offs.len(), |&i| {
            hasher.hash_one(member_in(data, offs, i as usize))
        });
    }

    fn heap_size(&self) -> usize {
        self.data.capacity() + self.offs.capacity_bytes() + self.index.capacity() * 5
    }
}

/// `Table::member` on borrowed parts (for the index's rehash callbacks).
fn member_in<'a>(data: &'a [u8], offs: &Offsets, pos: usize) -> &'a [u8] {
    let off = offs.get(pos);
    let (mut n, mut shift, mut i) = (0usize, 0, off);
    loop {
        let b = data[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    &data[i..i + n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_stays_small() {
        assert!(std::mem::size_of::<Set>() <= 32);
    }

    #[test]
    fn table_compacts_and_widens() {
        let mut t = Table::with_capacity(0);
        for i in 0..500 {
            t.insert_new(format!("member-{i}").as_bytes());
        }
        for i in (0..500).step_by(3).chain((1..500).step_by(3)) {
            assert!(t.remove(format!("member-{i}").as_bytes()));
        }
        assert!(t.garbage * 2 <= t.data.len() + 64, "compacted");
        for i in 0..500 {
            let m = format!("member-{i}");
            assert_eq!(t.find(m.as_bytes()).is_some(), i % 3 == 2, "{m}");
        }
        let mut o = Offsets::Narrow(vec![1, 2]);
        o.push(u32::MAX as usize + 10);
        assert!(matches!(o, Offsets::Wide(_)));
        assert_eq!((o.get(0), o.get(2)), (1, u32::MAX as usize + 10));
    }

    #[test]
    fn intset_widths_grow() {
        let mut s = IntSet::default();
        for v in [5, -3, 70_000, i64::MIN, 2] {
            assert!(s.insert(v));
        }
        assert!(!s.insert(2));
        assert_eq!(s.width, 8);
        assert_eq!(
            (0..s.len()).map(|i| s.get(i)).collect::<Vec<_>>(),
            vec![i64::MIN, -3, 2, 5, 70_000]
        );
        assert!(s.remove(-3));
        assert!(!s.remove(i64::MAX));
        assert_eq!(s.find(70_000), Ok(3));
    }
}
