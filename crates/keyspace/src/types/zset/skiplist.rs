//! `SkipList`: the large encoding of a sorted set — Redis's skiplist with spans (so rank
//! queries are O(log n)) kept in an arena of nodes addressed by `u32`, plus a hash index from
//! member to node.
//!
//! Why a skiplist rather than a B-tree with subtree counts: nodes never move, so the member
//! index can point at a node by its 4-byte id and the member bytes are stored once (a B-tree
//! moves entries on every split and merge, so its index would have to copy members or be
//! updated on each move); the algorithms are Redis's own (`zslInsert`, `zslDelete`,
//! `zslGetRank`, `zslGetElementByRank`), so ranks, spans and tie-breaks behave identically;
//! and popping the minimum touches only the head's pointers. Level 0 of each node is stored
//! inline; the 1-in-4 nodes with more levels keep the rest in a small boxed slice. Freed ids
//! go on a free list; when more than half the arena is free the list is rebuilt compactly.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::compact::CompactBytes;

const MAX_LEVEL: usize = 32;
/// No node (end of a level, or no backward neighbour).
const NIL: u32 = u32::MAX;
/// The head sentinel, whose levels live in `SkipList::head`.
const HEAD: u32 = u32::MAX - 1;

/// Orders two entries as Redis does: by score (`-0.0 == 0.0`), then member bytes.
#[inline]
pub fn cmp_entries(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

#[derive(Clone, Copy, Debug)]
struct Level {
    next: u32,
    span: u32,
}

const EMPTY: Level = Level { next: NIL, span: 0 };

#[derive(Clone, Debug)]
struct Node {
    member: CompactBytes,
    score: f64,
    lv0: Level,
    prev: u32,
    up: Box<[Level]>,
}

#[derive(Clone)]
pub(crate) struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    head: [Level; MAX_LEVEL],
    tail: u32,
    level: usize,
    len: usize,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    rng: u64,
    /// Heap bytes of members and upper levels.
    extra_heap: usize,
}

impl std::fmt::Debug for SkipList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

impl SkipList {
    pub fn new() -> Self {
        SkipList {
            nodes: Vec::new(),
            free: Vec::new(),
            head: [EMPTY; MAX_LEVEL],
            tail: NIL,
            level: 1,
            len: 0,
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            rng: rand::random::<u64>() | 1,
            extra_heap: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.free.capacity() * 4
            + self.index.capacity() * 5
            + self.extra_heap
    }

    #[inline]
    fn lvl(&self, x: u32, i: usize) -> Level {
        if x == HEAD {
            self.head[i]
        } else {
            let n = &self.nodes[x as usize];
            if i == 0 {
                n.lv0
            } else {
                n.up[i - 1]
            }
        }
    }

    #[inline]
    fn lvl_mut(&mut self, x: u32, i: usize) -> &mut Level {
        if x == HEAD {
            &mut self.head[i]
        } else {
            let n = &mut self.nodes[x as usize];
            if i == 0 {
                &mut n.lv0
            } else {
                &mut n.up[i - 1]
            }
        }
    }

    #[inline]
    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    fn random_level(&mut self) -> usize {
        // xorshift64*; each extra level with probability 1/4, as Redis's ZSKIPLIST_P.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (1 + (r.trailing_zeros() as usize) / 2).min(MAX_LEVEL)
    }

    #[inline]
    fn hash(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    /// Node id of `member`.
    #[inline]
    fn find(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(self.hash(member), |&id| {
                nodes[id as usize].member.as_bytes() == member
            })
            .copied()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|id| self.node(id).score)
    }

    /// The update vector and ranks of Redis's insert/delete: for each level, the last node
    /// ordered before (score, member).
    fn search(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.lvl(x, i);
                if l.next == NIL {
                    break;
                }
                let n = self.node(l.next);
                if cmp_entries(n.score, n.member.as_bytes(), score, member) != Ordering::Less {
                    break;
                }
                rank[i] += l.span;
                x = l.next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Inserts a member known to be absent.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        debug_assert!(self.find(member).is_none());
        let (mut update, mut rank) = self.search(score, member);
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.head[i].span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node {
            member: CompactBytes::new(member),
            score,
            lv0: EMPTY,
            prev: if update[0] == HEAD { NIL } else { update[0] },
            up: vec![EMPTY; level - 1].into_boxed_slice(),
        };
        self.extra_heap += node.member.heap_size() + node.up.len() * 8;
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                if self.nodes.len() == self.nodes.capacity() {
                    // Grow by a quarter rather than doubling: less slack per element.
                    self.nodes.reserve_exact(self.nodes.len() / 4 + 4);
                }
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let u = self.lvl(update[i], i);
            let behind = rank[0] - rank[i];
            *self.lvl_mut(id, i) = Level {
                next: u.next,
                span: u.span - behind,
            };
            *self.lvl_mut(update[i], i) = Level {
                next: id,
                span: behind + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.lvl_mut(u, i).span += 1;
        }
        match self.node(id).lv0.next {
            NIL => self.tail = id,
            next => self.nodes[next as usize].prev = id,
        }
        self.len += 1;
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index
            .insert_unique(self.hasher.hash_one(member), id, |&i| {
                hasher.hash_one(nodes[i as usize].member.as_bytes())
            });
    }

    /// Unlinks node `x` given its update vector (Redis's `zslDeleteNode`).
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.lvl(u, i);
            if ul.next == x {
                let xl = self.lvl(x, i);
                *self.lvl_mut(u, i) = Level {
                    next: xl.next,
                    span: ul.span + xl.span - 1,
                };
            } else {
                self.lvl_mut(u, i).span -= 1;
            }
        }
        let (next, prev) = (self.node(x).lv0.next, self.node(x).prev);
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
        while self.level > 1 && self.head[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Drops node `x` (already unlinked) from the index and the arena.
    fn release(&mut self, x: u32) -> (CompactBytes, f64) {
        let hash = self.hash(self.node(x).member.as_bytes());
        if let Ok(e) = self.index.find_entry(hash, |&id| id == x) {
            e.remove();
        } else {
            debug_assert!(false, "node missing from index");
        }
        let n = &mut self.nodes[x as usize];
        let member = std::mem::replace(&mut n.member, CompactBytes::new(b""));
        let up = std::mem::take(&mut n.up);
        self.extra_heap -= member.heap_size() + up.len() * 8;
        let score = n.score;
        self.free.push(x);
        self.maybe_compact();
        (member, score)
    }

    /// Rebuilds the arena when more than half of it is free ids.
    fn maybe_compact(&mut self) {
        if self.free.len() > 32 && self.free.len() * 2 > self.nodes.len() {
            let mut fresh = SkipList::new();
            fresh.nodes.reserve_exact(self.len);
            fresh.index.reserve(self.len, |_| 0);
            for (m, s) in self.iter() {
                fresh.insert(m, s);
            }
            *self = fresh;
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let id = self.find(member)?;
        let score = self.node(id).score;
        let (update, _) = self.search(score, member);
        debug_assert_eq!(self.lvl(update[0], 0).next, id);
        self.unlink(id, &update);
        self.release(id);
        Some(score)
    }

    /// Changes the score of a present member (Redis's `zslUpdateScore`: in place when the
    /// order does not change).
    pub fn update(&mut self, member: &[u8], score: f64) {
        let Some(id) = self.find(member) else {
            return;
        };
        let n = self.node(id);
        let prev_ok = n.prev == NIL || {
            let p = self.node(n.prev);
            cmp_entries(p.score, p.member.as_bytes(), score, member) == Ordering::Less
        };
        let next_ok = n.lv0.next == NIL || {
            let q = self.node(n.lv0.next);
            cmp_entries(q.score, q.member.as_bytes(), score, member) == Ordering::Greater
        };
        if prev_ok && next_ok {
            self.nodes[id as usize].score = score;
            return;
        }
        self.remove(member);
        self.insert(member, score);
    }

    /// Number of leading entries (in order) for which `pred` holds; `pred` must hold for a
    /// prefix of the order.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.next == NIL {
                    break;
                }
                let n = self.node(l.next);
                if !pred(n.score, n.member.as_bytes()) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
        }
        rank
    }

    /// Node at 0-based `rank`.
    fn at(&self, rank: usize) -> u32 {
        if rank >= self.len {
            return NIL;
        }
        let target = rank + 1;
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.next == NIL || traversed + l.span as usize > target {
                    break;
                }
                traversed += l.span as usize;
                x = l.next;
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self.at(rank) {
            NIL => None,
            x => Some((self.node(x).member.as_bytes(), self.node(x).score)),
        }
    }

    /// Entries from `rank` onwards, ascending.
    pub fn iter_from(&self, rank: usize) -> Iter<'_> {
        Iter {
            list: self,
            x: self.at(rank),
            rev: false,
        }
    }

    /// Entries from `rank` downwards to the first, descending.
    pub fn iter_back_from(&self, rank: usize) -> Iter<'_> {
        Iter {
            list: self,
            x: self.at(rank),
            rev: true,
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            x: self.head[0].next,
            rev: false,
        }
    }

    /// Removes the first (or last, with `max`) entry.
    pub fn pop(&mut self, max: bool) -> Option<(CompactBytes, f64)> {
        let x = if max { self.tail } else { self.head[0].next };
        if x == NIL {
            return None;
        }
        if !max {
            let update = [HEAD; MAX_LEVEL];
            self.unlink(x, &update);
        } else {
            let n = self.node(x);
            let (update, _) = self.search(n.score, n.member.as_bytes());
            self.unlink(x, &update);
        }
        Some(self.release(x))
    }

    /// Checks the structure (tests): order, spans, back links, index.
    #[doc(hidden)]
    pub fn check(&self) {
        let mut count = 0;
        let mut x = self.head[0].next;
        let mut prev = NIL;
        while x != NIL {
            let n = self.node(x);
            assert_eq!(n.prev, prev);
            if prev != NIL {
                let p = self.node(prev);
                assert_eq!(
                    cmp_entries(p.score, p.member.as_bytes(), n.score, n.member.as_bytes()),
                    Ordering::Less
                );
            }
            assert_eq!(self.find(n.member.as_bytes()), Some(x));
            assert_eq!(self.at(count), x);
            count += 1;
            prev = x;
            x = n.lv0.next;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(count, self.len);
        assert_eq!(self.index.len(), self.len);
    }
}

/// Iterator over a skiplist's entries, ascending or descending.
pub struct Iter<'a> {
    list: &'a SkipList,
    x: u32,
    rev: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.x == NIL {
            return None;
        }
        let n = self.list.node(self.x);
        self.x = if self.rev { n.prev } else { n.lv0.next };
        Some((n.member.as_bytes(), n.score))
    }
}
