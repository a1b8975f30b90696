//! Sorted sets: packed while small (member, score pairs sorted by score then member, in one
//! `Packed` — Redis's listpack role), past `zset-max-listpack-entries` or
//! `zset-max-listpack-value` a skiplist with spans plus a member index (see `skiplist.rs` for
//! why a skiplist), so ranks are O(log n).
//!
//! Order is Redis's: by score, then member bytes; `-0.0` and `0.0` compare equal (the score
//! keeps the sign it was stored with). Scores are never NaN: callers check.
//!
//! Public API, in ranks (0-based, ascending order): `score`, `insert`, `remove`, `rank`,
//! `get`, `partition_point` (the rank where a monotone predicate stops holding — score and
//! lex bounds are built on it), `iter`/`iter_from`, `for_range`, `pop`, `remove_ranks`.

mod skiplist;

pub use skiplist::cmp_entries;
use skiplist::SkipList;

use crate::types::{Limits, Packed};

/// A sorted set value.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    Packed(Packed),
    /// Boxed so that a small set stays small (the skiplist's head alone is 256 bytes).
    Skip(Box<SkipList>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

/// Scores in the packed form: an integral score below 2^53 in magnitude as its shortest
/// little-endian two's complement (0 to 7 bytes), any other (fractions, infinities, huge
/// values) as the 8 bytes of the f64. `-0.0` is stored as the integer 0, as Redis's
/// listpack does (a skiplist keeps the sign).
fn encode_score(score: f64, buf: &mut [u8; 8]) -> &[u8] {
    const LIMIT: f64 = (1u64 << 53) as f64;
    let integral = score.fract() == 0.0 && score.abs() < LIMIT;
    if integral {
        let i = score as i64;
        *buf = i.to_le_bytes();
        let mut n = 0;
        for k in (0..=7).rev() {
            // Shortest k such that sign-extending the low k bytes gives back i.
            let shift = 64 - 8 * k as u32;
            let back = if k == 0 { 0 } else { (i << shift) >> shift };
            if back == i {
                n = k;
            } else {
                break;
            }
        }
        return &buf[..n];
    }
    *buf = score.to_le_bytes();
    &buf[..]
}

#[inline]
fn decode_score(b: &[u8]) -> f64 {
    if b.len() == 8 {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        return f64::from_le_bytes(a);
    }
    if b.is_empty() {
        return 0.0;
    }
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    let shift = 64 - 8 * b.len() as u32;
    ((i64::from_le_bytes(a) << shift) >> shift) as f64
}

/// (member, score) pairs of a packed sorted set.
pub struct PackedPairs<'a> {
    it: crate::types::packed::Iter<'a>,
}

impl<'a> Iterator for PackedPairs<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let m = self.it.next()?;
        let s = self.it.next()?;
        Some((m, decode_score(s)))
    }
}

fn pairs(p: &Packed) -> PackedPairs<'_> {
    PackedPairs { it: p.iter() }
}

/// Iterator over a sorted set's (member, score) entries in ascending order.
pub enum Iter<'a> {
    Packed(PackedPairs<'a>),
    Skip(skiplist::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(p) => p.next(),
            Iter::Skip(s) => s.next(),
        }
    }
}

impl ZSet {
    /// An empty set in the packed encoding.
    pub fn new() -> Self {
        ZSet {
            repr: Repr::Packed(Packed::new()),
        }
    }

    /// An empty set in the encoding Redis's `zsetTypeCreate` picks for about `len_hint`
    /// elements whose longest member is `max_member_len` bytes.
    pub fn with_hint(len_hint: usize, max_member_len: usize, limits: &Limits) -> Self {
        if len_hint <= limits.zset_max_listpack_entries
            && max_member_len <= limits.zset_max_listpack_value
            && limits.zset_max_listpack_entries > 0
        {
            ZSet::new()
        } else {
            ZSet {
                repr: Repr::Skip(Box::new(SkipList::new())),
            }
        }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len() / 2,
            Repr::Skip(s) => s.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.byte_len(),
            Repr::Skip(s) => s.heap_size(),
        }
    }

    /// Score of `member`.
    #[inline]
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed(p) => pairs(p).find(|&(m, _)| m == member).map(|(_, s)| s),
            Repr::Skip(s) => s.score(member),
        }
    }

    /// Converts to the skiplist encoding.
    fn convert_to_skiplist(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut s = SkipList::new();
            for (m, sc) in pairs(p) {
                s.insert(m, sc);
            }
            self.repr = Repr::Skip(Box::new(s));
        }
    }

    /// Sets the score of `member` (adding it when absent); returns the previous score. A
    /// score equal to the current one (`-0.0 == 0.0`) changes nothing. Leaves the packed
    /// encoding past `limits`.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) -> Option<f64> {
        debug_assert!(!score.is_nan());
        if let Repr::Packed(p) = &mut self.repr {
            let mut found = None;
            let mut at = p.len() / 2;
            let mut seen_at = false;
            for (i, (m, s)) in pairs(p).enumerate() {
                if m == member {
                    found = Some((i, s));
                } else if !seen_at && cmp_entries(s, m, score, member).is_gt() {
                    at = i;
                    seen_at = true;
                }
                if found.is_some() && seen_at {
                    break;
                }
            }
            let mut buf = [0u8; 8];
            match found {
                Some((_, old)) if old == score => return Some(old),
                Some((i, old)) => {
                    p.remove(2 * i, 2);
                    let at = if at > i { at - 1 } else { at };
                    p.insert(2 * at, &[member, encode_score(score, &mut buf)]);
                    return Some(old);
                }
                None => {
                    if p.len() / 2 < limits.zset_max_listpack_entries
                        && member.len() <= limits.zset_max_listpack_value
                    {
                        p.insert(2 * at, &[member, encode_score(score, &mut buf)]);
                        return None;
                    }
                }
            }
            self.convert_to_skiplist();
        }
        match &mut self.repr {
            Repr::Skip(s) => match s.score(member) {
                Some(old) => {
                    if old != score {
                        s.update(member, score);
                    }
                    Some(old)
                }
                None => {
                    s.insert(member, score);
                    None
                }
            },
            Repr::Packed(_) => None,
        }
    }

    /// Adds `member`, known to be absent (the caller looked it up): saves the skiplist a
    /// second index probe.
    pub fn insert_new(&mut self, member: &[u8], score: f64, limits: &Limits) {
        debug_assert!(self.score(member).is_none());
        match &mut self.repr {
            Repr::Skip(s) => s.insert(member, score),
            Repr::Packed(_) => {
                self.insert(member, score, limits);
            }
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Packed(p) => {
                let (i, s) = pairs(p)
                    .enumerate()
                    .find(|(_, (m, _))| *m == member)
                    .map(|(i, (_, s))| (i, s))?;
                p.remove(2 * i, 2);
                Some(s)
            }
            Repr::Skip(s) => s.remove(member),
        }
    }

    /// 0-based ascending rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Packed(p) => pairs(p)
                .enumerate()
                .find(|(_, (m, _))| *m == member)
                .map(|(i, (_, s))| (i, s)),
            Repr::Skip(s) => {
                let score = s.score(member)?;
                let r = s.partition_point(|sc, m| cmp_entries(sc, m, score, member).is_lt());
                Some((r, score))
            }
        }
    }

    /// Number of leading entries for which `pred(score, member)` holds. `pred` must hold
    /// for a prefix of the order (e.g. "score < min"). O(log n) for the skiplist.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed(p) => pairs(p).take_while(|&(m, s)| pred(s, m)).count(),
            Repr::Skip(s) => s.partition_point(pred),
        }
    }

    /// Entry at 0-based ascending `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Packed(p) => pairs(p).nth(rank),
            Repr::Skip(s) => s.get(rank),
        }
    }

    /// All entries, ascending.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => Iter::Packed(pairs(p)),
            Repr::Skip(s) => Iter::Skip(s.iter()),
        }
    }

    /// Entries from `rank` on, ascending.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => {
                let mut it = pairs(p);
                if rank > 0 {
                    it.nth(rank - 1);
                }
                Iter::Packed(it)
            }
            Repr::Skip(s) => Iter::Skip(s.iter_from(rank)),
        }
    }

    /// Calls `f` for the entries of ranks `start..end` (clamped to the length), ascending,
    /// or descending from `end - 1` with `rev`.
    pub fn for_range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        let n = end - start;
        if !rev {
            self.iter_from(start).take(n).for_each(|(m, s)| f(m, s));
            return;
        }
        match &self.repr {
            Repr::Packed(p) => {
                let v: Vec<(&[u8], f64)> = pairs(p).skip(start).take(n).collect();
                v.into_iter().rev().for_each(|(m, s)| f(m, s));
            }
            Repr::Skip(s) => s.iter_back_from(end - 1).take(n).for_each(|(m, s)| f(m, s)),
        }
    }

    /// Removes and returns the first entry (the last with `max`).
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        match &mut self.repr {
            Repr::Packed(p) => {
                let n = p.len() / 2;
                if n == 0 {
                    return None;
                }
                let i = if max { n - 1 } else { 0 };
                let (m, s) = pairs(p).nth(i).map(|(m, s)| (m.to_vec(), s))?;
                p.remove(2 * i, 2);
                Some((m, s))
            }
            Repr::Skip(s) => s.pop(max).map(|(m, sc)| (m.as_bytes().to_vec(), sc)),
        }
    }

    /// Removes the entries of ranks `start..end` (clamped); returns how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        let n = end - start;
        match &mut self.repr {
            Repr::Packed(p) => p.remove(2 * start, 2 * n),
            Repr::Skip(s) => {
                let doomed: Vec<Vec<u8>> = s
                    .iter_from(start)
                    .take(n)
                    .map(|(m, _)| m.to_vec())
                    .collect();
                for m in &doomed {
                    s.remove(m);
                }
            }
        }
        n
    }

    /// Returns to the packed encoding when the set fits `limits` (Redis's
    /// `zsetConvertToListpackIfNeeded`, used by the commands that store a computed set).
    pub fn shrink_if_small(&mut self, limits: &Limits) {
        let Repr::Skip(s) = &self.repr else {
            return;
        };
        if s.len() > limits.zset_max_listpack_entries
            || s.iter()
                .any(|(m, _)| m.len() > limits.zset_max_listpack_value)
        {
            return;
        }
        let mut p = Packed::new();
        let mut buf = [0u8; 8];
        let mut entries: Vec<u8> = Vec::new();
        let mut bounds = Vec::with_capacity(s.len() * 2);
        for (m, sc) in s.iter() {
            let a = entries.len();
            entries.extend_from_slice(m);
            let b = entries.len();
            entries.extend_from_slice(encode_score(sc, &mut buf));
            bounds.push((a, b, entries.len()));
        }
        let refs: Vec<&[u8]> = bounds
            .iter()
            .flat_map(|&(a, b, c)| [&entries[a..b], &entries[b..c]])
            .collect();
        p.push(&refs);
        self.repr = Repr::Packed(p);
    }

    /// Checks the internal structure (tests).
    #[doc(hidden)]
    pub fn check(&self) {
        match &self.repr {
            Repr::Packed(p) => {
                assert!(p.len().is_multiple_of(2));
                let v: Vec<_> = pairs(p).collect();
                for w in v.windows(2) {
                    assert!(cmp_entries(w[0].1, w[0].0, w[1].1, w[1].0).is_lt());
                }
            }
            Repr::Skip(s) => s.check(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_through_the_packed_form() {
        let mut buf = [0u8; 8];
        for s in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            127.0,
            128.0,
            -128.0,
            -129.0,
            1.5,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740991.0,
            -9007199254740991.0,
            9007199254740992.0,
            123456789012.0,
        ] {
            let e = encode_score(s, &mut buf).to_vec();
            let d = decode_score(&e);
            assert_eq!(d.to_bits(), (s + 0.0).to_bits(), "{s}");
        }
        assert_eq!(encode_score(0.0, &mut buf).len(), 0);
        assert_eq!(encode_score(100.0, &mut buf).len(), 1);
    }
}
