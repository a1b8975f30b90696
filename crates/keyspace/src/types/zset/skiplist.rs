//! `SkipList`: the large encoding of a sorted set — Redis's skiplist with spans (so rank
//! queries are O(log n)), its nodes packed into one byte arena and addressed by `u32`, plus a
//! hash index from member to node.
//!
//! Why a skiplist rather than a B-tree with subtree counts: nodes never move, so the member
//! index can point at a node by its 4-byte id and the member bytes are stored once (a B-tree
//! moves entries on every split and merge, so its index would have to copy members or be
//! updated on each move); the algorithms are Redis's own (`zslInsert`, `zslDelete`,
//! `zslUpdateScore`, `zslGetRank`, `zslGetElementByRank`), so ranks, spans and tie-breaks
//! behave identically; and popping the minimum touches only the head's pointers.
//!
//! Layout, chosen so a search step reads one node only. A node is one run of 8-byte words
//! in `arena`:
//!
//! ```text
//! score | prev, height | member length | level 0 .. level height-1 | member bytes (padded)
//! ```
//!
//! and each level is two words: (next node, span) and the *next node's score*. A search
//! compares against the score stored in the current node's level and dereferences the next
//! node only when it moves there (or, on equal scores, to compare members), so every step
//! costs at most one cache miss, where a classic skiplist pays one per comparison. The head
//! is node 0, a node with every level and no member. The member lives in the node itself:
//! inserting a member costs no allocation of its own, and the index compares members
//! without leaving the node. Freed nodes go on free lists by size (a score update re-links
//! the same node, as `zslUpdateScore` does); when more than half the arena is free space the
//! list is rebuilt compactly.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::compact::CompactBytes;

const MAX_LEVEL: usize = 32;
/// No node (end of a level, or no backward neighbour).
const NIL: u32 = u32::MAX;
/// The head node's id: the first node of the arena.
const HEAD: u32 = 0;
/// Words before a node's levels: score; prev and height; member length.
const HDR: usize = 3;
/// Free lists are kept for nodes of fewer words than this; larger freed nodes are only
/// counted as garbage until the next compaction.
const FREE_CLASSES: usize = 48;

/// Orders two entries as Redis does: by score (`-0.0 == 0.0`), then member bytes.
#[inline]
pub fn cmp_entries(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// Whether the entry (s1, m1) orders strictly before (s2, m2), reading `m1` only on a tie.
#[inline]
fn before(s1: f64, m1: impl FnOnce() -> bool, s2: f64) -> bool {
    s1 < s2 || (s1 == s2 && m1())
}

#[derive(Clone)]
pub(crate) struct SkipList {
    /// The nodes, in 8-byte words stored as bytes (node id = word offset).
    arena: Vec<u8>,
    /// Ids of freed nodes, by size in words.
    free: Vec<Vec<u32>>,
    /// Words held by freed nodes.
    garbage: usize,
    tail: u32,
    level: usize,
    len: usize,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    rng: u64,
}

impl std::fmt::Debug for SkipList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

// ----- reading and writing node words ------------------------------------------------------

#[inline]
fn word(arena: &[u8], w: usize) -> u64 {
    let b = w * 8;
    match arena.get(b..b + 8) {
        Some(s) => u64::from_le_bytes(s.try_into().unwrap_or([0; 8])),
        None => 0,
    }
}

#[inline]
fn set_word(arena: &mut [u8], w: usize, v: u64) {
    let b = w * 8;
    if let Some(s) = arena.get_mut(b..b + 8) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

#[inline]
fn height_of(arena: &[u8], x: u32) -> usize {
    (word(arena, x as usize + 1) >> 32) as usize
}

/// The member bytes of node `x`.
#[inline]
fn member_of(arena: &[u8], x: u32) -> &[u8] {
    let x = x as usize;
    let len = word(arena, x + 2) as usize;
    let start = (x + HDR + 2 * height_of(arena, x as u32)) * 8;
    arena.get(start..start + len).unwrap_or_default()
}

/// Words of a node of `height` levels holding a member of `len` bytes.
#[inline]
fn node_words(height: usize, len: usize) -> usize {
    HDR + 2 * height + len.div_ceil(8)
}

impl SkipList {
    pub fn new() -> Self {
        let mut s = SkipList {
            arena: Vec::new(),
            free: Vec::new(),
            garbage: 0,
            tail: NIL,
            level: 1,
            len: 0,
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            rng: rand::random::<u64>() | 1,
        };
        let head = s.alloc(MAX_LEVEL, b"", 0.0);
        debug_assert_eq!(head, HEAD);
        s
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn heap_size(&self) -> usize {
        self.arena.capacity()
            + self
                .free
                .iter()
                .map(|f| f.capacity() * 4 + 24)
                .sum::<usize>()
            + self.index.capacity() * 5
    }

    // ----- node accessors -------------------------------------------------------------------

    #[inline]
    fn score_of(&self, x: u32) -> f64 {
        f64::from_bits(word(&self.arena, x as usize))
    }

    #[inline]
    fn prev(&self, x: u32) -> u32 {
        word(&self.arena, x as usize + 1) as u32
    }

    #[inline]
    fn set_prev(&mut self, x: u32, prev: u32) {
        let w = x as usize + 1;
        let v = word(&self.arena, w);
        set_word(&mut self.arena, w, (v & !0xffff_ffff) | prev as u64);
    }

    #[inline]
    fn height(&self, x: u32) -> usize {
        height_of(&self.arena, x)
    }

    #[inline]
    fn member(&self, x: u32) -> &[u8] {
        member_of(&self.arena, x)
    }

    /// (next, span) of level `i` of `x`.
    #[inline]
    fn link(&self, x: u32, i: usize) -> (u32, u32) {
        let v = word(&self.arena, x as usize + HDR + 2 * i);
        (v as u32, (v >> 32) as u32)
    }

    #[inline]
    fn set_link(&mut self, x: u32, i: usize, next: u32, span: u32) {
        set_word(
            &mut self.arena,
            x as usize + HDR + 2 * i,
            next as u64 | (span as u64) << 32,
        );
    }

    /// The score of the node level `i` of `x` points to.
    #[inline]
    fn next_score(&self, x: u32, i: usize) -> f64 {
        f64::from_bits(word(&self.arena, x as usize + HDR + 2 * i + 1))
    }

    #[inline]
    fn set_next_score(&mut self, x: u32, i: usize, score: f64) {
        set_word(
            &mut self.arena,
            x as usize + HDR + 2 * i + 1,
            score.to_bits(),
        );
    }

    // ----- arena ------------------------------------------------------------------------------

    /// A node for `member` with `height` empty levels, taken from a free list or the end of
    /// the arena.
    fn alloc(&mut self, height: usize, member: &[u8], score: f64) -> u32 {
        let words = node_words(height, member.len());
        let reused = self.free.get_mut(words).and_then(|f| f.pop());
        let x = match reused {
            Some(x) => {
                self.garbage -= words;
                x as usize
            }
            None => {
                let x = self.arena.len() / 8;
                let bytes = self.arena.len() + words * 8;
                if bytes > self.arena.capacity() {
                    // Grow by a quarter rather than doubling: less slack per element.
                    let extra = (self.arena.len() / 4).max(words * 8).max(512);
                    self.arena.reserve_exact(extra);
                }
                self.arena.resize(bytes, 0);
                x
            }
        };
        debug_assert!(x < NIL as usize);
        let x = x as u32;
        let w = x as usize;
        set_word(&mut self.arena, w, score.to_bits());
        set_word(&mut self.arena, w + 1, NIL as u64 | (height as u64) << 32);
        set_word(&mut self.arena, w + 2, member.len() as u64);
        for i in 0..height {
            self.set_link(x, i, NIL, 0);
            self.set_next_score(x, i, 0.0);
        }
        let start = (w + HDR + 2 * height) * 8;
        if let Some(dst) = self.arena.get_mut(start..start + member.len()) {
            dst.copy_from_slice(member);
        }
        x
    }

    /// Returns node `x`'s words to the free lists.
    fn dealloc(&mut self, x: u32) {
        let words = node_words(self.height(x), self.member(x).len());
        self.garbage += words;
        if words < FREE_CLASSES {
            if self.free.len() <= words {
                self.free.resize_with(words + 1, Vec::new);
            }
            self.free[words].push(x);
        }
    }

    fn random_level(&mut self) -> usize {
        // xorshift64*; each extra level with probability 1/4, as Redis's ZSKIPLIST_P.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (1 + (r.trailing_zeros() as usize) / 2).min(MAX_LEVEL)
    }

    // ----- index ------------------------------------------------------------------------------

    #[inline]
    fn hash(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    /// Node id of `member`.
    #[inline]
    fn find(&self, member: &[u8]) -> Option<u32> {
        let arena = &self.arena;
        self.index
            .find(self.hash(member), |&x| member_of(arena, x) == member)
            .copied()
    }

    fn index_insert(&mut self, hash: u64, x: u32) {
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.index
            .insert_unique(hash, x, |&y| hasher.hash_one(member_of(arena, y)));
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|x| self.score_of(x))
    }

    // ----- Redis's algorithms -----------------------------------------------------------------

    /// The update vector and ranks of Redis's insert/delete: for each level, the last node
    /// ordered before (score, member).
    fn search(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let (next, span) = self.link(x, i);
                if next == NIL
                    || !before(self.next_score(x, i), || self.member(next) < member, score)
                {
                    break;
                }
                rank[i] += span;
                x = next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Links node `x` (of `height` levels, holding `score`) after the nodes of `update`
    /// (Redis's `zslInsert` once the node exists).
    fn link_node(
        &mut self,
        x: u32,
        height: usize,
        score: f64,
        mut update: [u32; MAX_LEVEL],
        mut rank: [u32; MAX_LEVEL],
    ) {
        if height > self.level {
            for i in self.level..height {
                rank[i] = 0;
                update[i] = HEAD;
                self.set_link(HEAD, i, NIL, self.len as u32);
            }
            self.level = height;
        }
        for i in 0..height {
            let u = update[i];
            let (next, span) = self.link(u, i);
            let behind = rank[0] - rank[i];
            self.set_link(x, i, next, span - behind);
            self.set_next_score(x, i, self.next_score(u, i));
            self.set_link(u, i, x, behind + 1);
            self.set_next_score(u, i, score);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(height) {
            let (next, span) = self.link(u, i);
            self.set_link(u, i, next, span + 1);
        }
        self.set_prev(x, if update[0] == HEAD { NIL } else { update[0] });
        match self.link(x, 0).0 {
            NIL => self.tail = x,
            next => self.set_prev(next, x),
        }
        self.len += 1;
    }

    /// Inserts a member known to be absent.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        debug_assert!(self.find(member).is_none());
        let hash = self.hash(member);
        self.insert_hashed(hash, member, score);
    }

    fn insert_hashed(&mut self, hash: u64, member: &[u8], score: f64) {
        let (update, rank) = self.search(score, member);
        let height = self.random_level();
        let x = self.alloc(height, member, score);
        self.link_node(x, height, score, update, rank);
        self.index_insert(hash, x);
    }

    /// Unlinks node `x` given its update vector (Redis's `zslDeleteNode`).
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let (unext, uspan) = self.link(u, i);
            if unext == x {
                let (xnext, xspan) = self.link(x, i);
                self.set_link(u, i, xnext, uspan + xspan - 1);
                self.set_next_score(u, i, self.next_score(x, i));
            } else {
                self.set_link(u, i, unext, uspan - 1);
            }
        }
        let (next, prev) = (self.link(x, 0).0, self.prev(x));
        match next {
            NIL => self.tail = prev,
            n => self.set_prev(n, prev),
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).0 == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Drops node `x` (already unlinked) from the index and the arena.
    fn release(&mut self, x: u32) {
        let hash = self.hash(self.member(x));
        if let Ok(e) = self.index.find_entry(hash, |&y| y == x) {
            e.remove();
        } else {
            debug_assert!(false, "node missing from index");
        }
        self.dealloc(x);
        self.maybe_compact();
    }

    /// Rebuilds the arena when more than half of it is free space.
    fn maybe_compact(&mut self) {
        let words = self.arena.len() / 8;
        if self.garbage > 4096 && self.garbage * 2 > words {
            let mut fresh = SkipList::new();
            fresh
                .arena
                .reserve_exact(self.arena.len() - self.garbage * 8);
            fresh.index.reserve(self.len, |_| 0);
            for (m, s) in self.iter() {
                fresh.insert(m, s);
            }
            *self = fresh;
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.find(member)?;
        let score = self.score_of(x);
        let (update, _) = self.search(score, member);
        debug_assert_eq!(self.link(update[0], 0).0, x);
        self.unlink(x, &update);
        self.release(x);
        Some(score)
    }

    /// Sets the score of `member`, adding it when absent; returns the previous score.
    pub fn set(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let hash = self.hash(member);
        let arena = &self.arena;
        let found = self
            .index
            .find(hash, |&x| member_of(arena, x) == member)
            .copied();
        match found {
            None => {
                self.insert_hashed(hash, member, score);
                None
            }
            Some(x) => {
                let old = self.score_of(x);
                if old != score {
                    self.move_node(x, score);
                }
                Some(old)
            }
        }
    }

    /// Gives node `x` a new score (Redis's `zslUpdateScore`): in place when the order does
    /// not change, else unlinked and linked again at its new place, keeping its levels.
    fn move_node(&mut self, x: u32, score: f64) {
        let old = self.score_of(x);
        let prev = self.prev(x);
        let prev_ok = prev == NIL
            || cmp_entries(
                self.score_of(prev),
                self.member(prev),
                score,
                self.member(x),
            )
            .is_lt();
        let next = self.link(x, 0).0;
        let next_ok = next == NIL
            || cmp_entries(
                self.score_of(next),
                self.member(next),
                score,
                self.member(x),
            )
            .is_gt();
        if prev_ok && next_ok && self.height(x) == 1 {
            // In place, and only the level-0 predecessor caches this node's score.
            set_word(&mut self.arena, x as usize, score.to_bits());
            self.set_next_score(if prev == NIL { HEAD } else { prev }, 0, score);
            return;
        }
        // The member's bytes stay where they are while the node is re-linked.
        let (update, _) = self.search(old, self.member(x));
        debug_assert_eq!(self.link(update[0], 0).0, x);
        set_word(&mut self.arena, x as usize, score.to_bits());
        if prev_ok && next_ok {
            for (i, &u) in update.iter().enumerate().take(self.height(x)) {
                self.set_next_score(u, i, score);
            }
            return;
        }
        let height = self.height(x);
        self.unlink(x, &update);
        let (update, rank) = self.search(score, self.member(x));
        self.link_node(x, height, score, update, rank);
    }

    /// Number of leading entries (in order) for which `pred` holds; `pred` must hold for a
    /// prefix of the order.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (next, span) = self.link(x, i);
                if next == NIL || !pred(self.next_score(x, i), self.member(next)) {
                    break;
                }
                rank += span as usize;
                x = next;
            }
        }
        rank
    }

    /// Number of entries ordered before (score, member) (Redis's `zslGetRank` minus one).
    pub fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let (next, span) = self.link(x, i);
                if next == NIL
                    || !before(self.next_score(x, i), || self.member(next) < member, score)
                {
                    break;
                }
                rank += span as usize;
                x = next;
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
                let (next, span) = self.link(x, i);
                if next == NIL || traversed + span as usize > target {
                    break;
                }
                traversed += span as usize;
                x = next;
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
            x => Some((self.member(x), self.score_of(x))),
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
            x: self.link(HEAD, 0).0,
            rev: false,
        }
    }

    /// Removes the first (or last, with `max`) entry.
    pub fn pop(&mut self, max: bool) -> Option<(CompactBytes, f64)> {
        let x = if max { self.tail } else { self.link(HEAD, 0).0 };
        if x == NIL {
            return None;
        }
        let member = CompactBytes::new(self.member(x));
        let score = self.score_of(x);
        if !max {
            let update = [HEAD; MAX_LEVEL];
            self.unlink(x, &update);
        } else {
            let (update, _) = self.search(score, member.as_bytes());
            self.unlink(x, &update);
        }
        self.release(x);
        Some((member, score))
    }

    /// Checks the structure (tests): order, spans, cached next scores, back links, index.
    #[doc(hidden)]
    pub fn check(&self) {
        let mut count = 0;
        let (mut x, _) = self.link(HEAD, 0);
        let mut prev = NIL;
        while x != NIL {
            assert_eq!(self.prev(x), prev);
            if prev != NIL {
                assert_eq!(
                    cmp_entries(
                        self.score_of(prev),
                        self.member(prev),
                        self.score_of(x),
                        self.member(x)
                    ),
                    Ordering::Less
                );
            }
            assert_eq!(self.find(self.member(x)), Some(x));
            assert_eq!(self.at(count), x);
            count += 1;
            prev = x;
            x = self.link(x, 0).0;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(count, self.len);
        assert_eq!(self.index.len(), self.len);
        // Every level: spans add up to ranks, and each cached score is the next node's.
        for i in 0..self.level {
            let mut x = HEAD;
            let mut rank = 0usize;
            loop {
                let (next, span) = self.link(x, i);
                if next == NIL {
                    break;
                }
                assert_eq!(
                    self.next_score(x, i).to_bits(),
                    self.score_of(next).to_bits()
                );
                rank += span as usize;
                assert_eq!(self.at(rank - 1), next);
                x = next;
            }
        }
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
        let x = self.x;
        let list = self.list;
        self.x = if self.rev {
            list.prev(x)
        } else {
            list.link(x, 0).0
        };
        Some((list.member(x), list.score_of(x)))
    }
}
