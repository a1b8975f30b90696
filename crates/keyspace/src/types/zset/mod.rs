//! Sorted sets: packed while small (member, score pairs sorted by score then member, in one
//! allocation — see `listpack.rs`), past `zset-max-listpack-entries` or
//! `zset-max-listpack-value` a skiplist with spans plus a member index (see `skiplist.rs` for
//! why a skiplist), so ranks are O(log n).
//!
//! Order is Redis's: by score, then member bytes; `-0.0` and `0.0` compare equal (the score
//! keeps the sign it was stored with). Scores are never NaN: callers check.
//!
//! Public API, in ranks (0-based, ascending order): `score`, `insert`, `remove`, `rank`,
//! `get`, `partition_point` (the rank where a monotone predicate stops holding — score and
//! lex bounds are built on it), `iter`/`iter_from`, `for_range`, `pop`, `remove_ranks`;
//! and `scan` (ZSCAN: the packed form whole, the skiplist by node position).

mod listpack;
mod skiplist;

use listpack::Listpack;
pub use skiplist::cmp_entries;
use skiplist::SkipList;

use crate::types::Limits;

/// A sorted set value: 16 bytes.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    Packed(Listpack),
    /// Boxed so that a small set stays small (the skiplist's own fields take about 140 bytes).
    Skip(Box<SkipList>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

/// Iterator over a sorted set's (member, score) entries in ascending order.
pub enum Iter<'a> {
    Packed(listpack::Iter<'a>),
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
            repr: Repr::Packed(Listpack::new()),
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
            Repr::Packed(p) => p.len(),
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
            Repr::Packed(p) => p.iter().find(|&(m, _)| m == member).map(|(_, s)| s),
            Repr::Skip(s) => s.score(member),
        }
    }

    /// Converts to the skiplist encoding.
    fn convert_to_skiplist(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut s = SkipList::new();
            for (m, sc) in p.iter() {
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
            let mut at = p.len();
            let mut seen_at = false;
            for (i, (m, s)) in p.iter().enumerate() {
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
            match found {
                Some((_, old)) if old == score => return Some(old),
                Some((i, old)) => {
                    p.remove(i, 1);
                    let at = if at > i { at - 1 } else { at };
                    p.insert(at, member, score);
                    return Some(old);
                }
                None => {
                    if p.len() < limits.zset_max_listpack_entries
                        && member.len() <= limits.zset_max_listpack_value
                    {
                        p.insert(at, member, score);
                        return None;
                    }
                }
            }
            self.convert_to_skiplist();
        }
        match &mut self.repr {
            Repr::Skip(s) => s.set(member, score),
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
                let (i, s) = p
                    .iter()
                    .enumerate()
                    .find(|(_, (m, _))| *m == member)
                    .map(|(i, (_, s))| (i, s))?;
                p.remove(i, 1);
                Some(s)
            }
            Repr::Skip(s) => s.remove(member),
        }
    }

    /// 0-based ascending rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Packed(p) => p
                .iter()
                .enumerate()
                .find(|(_, (m, _))| *m == member)
                .map(|(i, (_, s))| (i, s)),
            Repr::Skip(s) => {
                let score = s.score(member)?;
                Some((s.rank_of(score, member), score))
            }
        }
    }

    /// Number of leading entries for which `pred(score, member)` holds. `pred` must hold
    /// for a prefix of the order (e.g. "score < min"). O(log n) for the skiplist.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.iter().take_while(|&(m, s)| pred(s, m)).count(),
            Repr::Skip(s) => s.partition_point(pred),
        }
    }

    /// Entry at 0-based ascending `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Packed(p) => p.iter().nth(rank),
            Repr::Skip(s) => s.get(rank),
        }
    }

    /// All entries, ascending.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => Iter::Packed(p.iter()),
            Repr::Skip(s) => Iter::Skip(s.iter()),
        }
    }

    /// Entries from `rank` on, ascending.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => {
                let mut it = p.iter();
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
                let v: Vec<(&[u8], f64)> = p.iter().skip(start).take(n).collect();
                v.into_iter().rev().for_each(|(m, s)| f(m, s));
            }
            Repr::Skip(s) => s.iter_back_from(end - 1).take(n).for_each(|(m, s)| f(m, s)),
        }
    }

    /// Removes and returns the first entry (the last with `max`).
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        match &mut self.repr {
            Repr::Packed(p) => {
                let n = p.len();
                if n == 0 {
                    return None;
                }
                let i = if max { n - 1 } else { 0 };
                let (m, s) = p.iter().nth(i).map(|(m, s)| (m.to_vec(), s))?;
                p.remove(i, 1);
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
            Repr::Packed(p) => p.remove(start, n),
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

    /// Calls `f` for about `count` entries from `cursor` (0 to start); returns the cursor to
    /// continue from, 0 when done. A packed set is passed whole with cursor 0, as Redis
    /// does; a skiplist is walked by node position (see `skiplist.rs`), so every entry
    /// present for a whole scan is passed at least once, whatever changes in between. Any
    /// cursor is safe: one this set did not issue may end the scan early or repeat entries.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a [u8], f64)) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (m, s) in p.iter() {
                    f(m, s);
                }
                0
            }
            Repr::Skip(s) => s.scan(cursor, count, f),
        }
    }

    /// Rebuilds a skiplist's arena now, as it does by itself once half of it is free space
    /// (tests; a no-op for the packed form).
    #[doc(hidden)]
    pub fn compact(&mut self) {
        if let Repr::Skip(s) = &mut self.repr {
            s.compact();
        }
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
        let pairs: Vec<(&[u8], f64)> = s.iter().collect();
        let mut p = Listpack::new();
        p.extend(&pairs);
        self.repr = Repr::Packed(p);
    }

    /// Checks the internal structure (tests).
    #[doc(hidden)]
    pub fn check(&self) {
        match &self.repr {
            Repr::Packed(p) => {
                let v: Vec<_> = p.iter().collect();
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
    fn stays_small() {
        assert_eq!(std::mem::size_of::<ZSet>(), 16);
    }
}
