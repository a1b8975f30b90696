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
//! score | prev, height | member length, tag, free | level 0 .. level height-1 | member bytes (padded)
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
//! arena is rebuilt without it, live nodes kept in their physical order.
//!
//! ZSCAN walks the arena, not the order: each node's third word carries, above the member
//! length, a boundary tag (the size in words of the physically preceding node) and a bit
//! marking a freed node (which keeps its header), so `scan` steps from the physically last
//! node down to the head, and its cursor names the next node to visit. A node never moves
//! while it lives (a score update re-links it; a freed node is reused whole, at the same
//! size), so a member present for a whole scan sits below the cursor until visited, as
//! `Hash::scan` relies on for its dense entries. Compaction moves nodes but keeps their
//! order; the cursor carries the compaction generation in its high 32 bits, and the last
//! compaction leaves a sampled table of old to new positions through which a cursor of the
//! previous generation is carried over (a cursor of an older generation starts again).

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
/// Third header word: member length in the low 32 bits, then the boundary tag (the size in
/// words of the physically preceding node; 0 for the head) in bits 32..63, then the free bit.
const LEN_MASK: u64 = 0xffff_ffff;
const TAG_MASK: u64 = (1 << 31) - 1;
const FREE_BIT: u64 = 1 << 63;
/// A compaction records the old and new positions of every this-many-th live node.
const SAMPLE_EVERY: usize = 64;

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
    /// The physically last node (where a scan starts).
    last: u32,
    /// Number of compactions so far (wrapping): the high half of a scan cursor.
    generation: u32,
    /// (old, new) positions of every `SAMPLE_EVERY`-th live node moved by the last
    /// compaction, ascending in both.
    moved: Vec<(u32, u32)>,
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

#[inline]
fn member_len(arena: &[u8], x: u32) -> usize {
    (word(arena, x as usize + 2) & LEN_MASK) as usize
}

/// Size in words of the node physically before `x`.
#[inline]
fn tag_of(arena: &[u8], x: u32) -> u32 {
    ((word(arena, x as usize + 2) >> 32) & TAG_MASK) as u32
}

#[inline]
fn is_free(arena: &[u8], x: u32) -> bool {
    word(arena, x as usize + 2) & FREE_BIT != 0
}

/// Size in words of node `x`, from its header.
#[inline]
fn words_of(arena: &[u8], x: u32) -> usize {
    node_words(height_of(arena, x), member_len(arena, x))
}

/// The member bytes of node `x`.
#[inline]
fn member_of(arena: &[u8], x: u32) -> &[u8] {
    let x = x as usize;
    let len = member_len(arena, x as u32);
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
            last: HEAD,
            generation: 0,
            moved: Vec::new(),
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
            + self.moved.capacity() * 8
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
        debug_assert!(member.len() as u64 <= LEN_MASK);
        let words = node_words(height, member.len());
        let reused = self.free.get_mut(words).and_then(|f| f.pop());
        let (x, tag) = match reused {
            Some(x) => {
                // Same size, same place: the boundary tags around it stay true.
                self.garbage -= words;
                (x as usize, u64::from(tag_of(&self.arena, x)))
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
                let tag = (x - self.last as usize) as u64;
                self.last = x as u32;
                (x, tag)
            }
        };
        debug_assert!(x < NIL as usize);
        let x = x as u32;
        let w = x as usize;
        set_word(&mut self.arena, w, score.to_bits());
        set_word(&mut self.arena, w + 1, NIL as u64 | (height as u64) << 32);
        set_word(&mut self.arena, w + 2, member.len() as u64 | tag << 32);
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

    /// Marks node `x` free (its header stays, so scans step over it) and returns its words
    /// to the free lists.
    fn dealloc(&mut self, x: u32) {
        let words = words_of(&self.arena, x);
        let w = x as usize + 2;
        let v = word(&self.arena, w);
        set_word(&mut self.arena, w, v | FREE_BIT);
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
            self.compact();
        }
    }

    /// Rebuilds the arena without its freed nodes, the live ones copied in their physical
    /// order (so a node a scan has not reached yet stays below the scan's cursor), and every
    /// node id (links, back links, tail, index) remapped. Starts a new scan generation and
    /// records a sample of the moves for cursors of the previous one.
    pub fn compact(&mut self) {
        let old_words = self.arena.len() / 8;
        let mut arena: Vec<u8> = Vec::new();
        arena.reserve_exact(old_words.saturating_sub(self.garbage) * 8);
        let mut moved = Vec::with_capacity(self.len / SAMPLE_EVERY + 1);
        let mut last = HEAD as usize;
        let mut live = 0usize;
        let mut x = HEAD as usize;
        while x < old_words {
            let words = words_of(&self.arena, x as u32);
            let end = x + words;
            if !is_free(&self.arena, x as u32) {
                let at = arena.len() / 8;
                if let Some(node) = self.arena.get(x * 8..end * 8) {
                    arena.extend_from_slice(node);
                }
                let w2 = word(&arena, at + 2);
                set_word(
                    &mut arena,
                    at + 2,
                    (w2 & LEN_MASK) | ((at - last) as u64) << 32,
                );
                last = at;
                if x != HEAD as usize {
                    if live.is_multiple_of(SAMPLE_EVERY) {
                        moved.push((x as u32, at as u32));
                    }
                    live += 1;
                }
                // The old copy's score word now holds the new id, for the remapping below.
                set_word(&mut self.arena, x, at as u64);
            }
            x = end;
        }
        debug_assert_eq!(live, self.len);
        let old = std::mem::replace(&mut self.arena, arena);
        let map = |id: u32| {
            if id == NIL {
                NIL
            } else {
                word(&old, id as usize) as u32
            }
        };
        let words = self.arena.len() / 8;
        let mut x = HEAD;
        while (x as usize) < words {
            for i in 0..self.height(x) {
                let (next, span) = self.link(x, i);
                self.set_link(x, i, map(next), span);
            }
            self.set_prev(x, map(self.prev(x)));
            x += words_of(&self.arena, x) as u32;
        }
        self.tail = map(self.tail);
        for id in self.index.iter_mut() {
            *id = map(*id);
        }
        self.last = last as u32;
        self.free = Vec::new();
        self.garbage = 0;
        self.generation = self.generation.wrapping_add(1);
        self.moved = moved;
    }

    // ----- scanning by position ---------------------------------------------------------------

    /// Calls `f` for up to `count` entries, walking the nodes downward by position from
    /// `cursor` (0: from the physically last node); returns the cursor to continue from, 0
    /// when the walk has reached the head. Every entry present from the first call to the
    /// last is passed at least once. A cursor this list did not issue ends early or revisits
    /// entries but passes only live entries, and every step moves strictly down, so it ends.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a [u8], f64)) -> u64 {
        let count = count.max(1);
        // Freed nodes count as steps too, as Redis bounds empty buckets per SCAN call.
        let mut steps = count.saturating_mul(10);
        let mut x = self.scan_start(cursor);
        // Where the node above `x` starts: `x` must end at or before it.
        let mut end = self.arena.len() / 8;
        let mut visited = 0;
        while x != HEAD {
            if visited == count || steps == 0 {
                return (u64::from(self.generation) << 32) | u64::from(x);
            }
            steps -= 1;
            if let Some((m, s)) = self.live_at(x, end) {
                f(m, s);
                visited += 1;
            }
            let tag = tag_of(&self.arena, x);
            match x.checked_sub(tag) {
                Some(below) if tag > 0 => {
                    end = x as usize;
                    x = below;
                }
                _ => return 0,
            }
        }
        0
    }

    /// The node a scan from `cursor` starts at.
    fn scan_start(&self, cursor: u64) -> u32 {
        if cursor == 0 {
            return self.last;
        }
        let generation = (cursor >> 32) as u32;
        let at = cursor as u32;
        if generation == self.generation {
            at.min(self.last)
        } else if generation == self.generation.wrapping_sub(1) {
            // The nearest sampled node at or above the cursor: everything the old scan had
            // not reached lies below its new place.
            let i = self.moved.partition_point(|&(old, _)| old < at);
            self.moved.get(i).map_or(self.last, |&(_, new)| new)
        } else {
            self.last
        }
    }

    /// The entry of node `x` when `x` is a live node ending at or before word `end`. Checked
    /// against the index, so a position inside a node (a forged cursor) yields nothing; the
    /// size check bounds the bytes hashed to the words walked.
    fn live_at(&self, x: u32, end: usize) -> Option<(&[u8], f64)> {
        let arena = &self.arena;
        if x == HEAD || is_free(arena, x) {
            return None;
        }
        let height = height_of(arena, x);
        if !(1..=MAX_LEVEL).contains(&height) {
            return None;
        }
        let words = node_words(height, member_len(arena, x));
        if (x as usize).checked_add(words).is_none_or(|e| e > end) {
            return None;
        }
        let member = member_of(arena, x);
        self.index.find(self.hash(member), |&y| y == x)?;
        Some((member, self.score_of(x)))
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

    /// Checks the structure (tests): order, spans, cached next scores, back links, index,
    /// and the arena's layout: boundary tags, free marks, free lists, the last node, the
    /// compaction samples.
    #[doc(hidden)]
    pub fn check(&self) {
        self.check_arena();
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

impl SkipList {
    fn check_arena(&self) {
        let arena = &self.arena;
        let words = arena.len() / 8;
        assert!(!is_free(arena, HEAD));
        assert_eq!(tag_of(arena, HEAD), 0);
        assert_eq!(height_of(arena, HEAD), MAX_LEVEL);
        // Forward by sizes: each node's tag is the size of the one before.
        let (mut x, mut before, mut nodes, mut live, mut garbage) = (HEAD, 0usize, 0, 0, 0);
        let mut last = HEAD;
        while (x as usize) < words {
            let size = words_of(arena, x);
            assert_eq!(
                tag_of(arena, x) as usize,
                before,
                "boundary tag of node {x}"
            );
            let indexed = x != HEAD
                && self
                    .index
                    .find(self.hash(member_of(arena, x)), |&y| y == x)
                    .is_some();
            if is_free(arena, x) {
                assert!(!indexed, "freed node {x} still indexed");
                garbage += size;
            } else if x != HEAD {
                assert!(indexed, "live node {x} missing from the index");
                live += 1;
            }
            nodes += 1;
            before = size;
            last = x;
            x += size as u32;
        }
        assert_eq!(x as usize, words, "last node overruns the arena");
        assert_eq!(self.last, last);
        assert_eq!(live, self.len);
        assert_eq!(garbage, self.garbage);
        // Backward by tags from the last node reaches the head through the same nodes.
        let (mut x, mut back) = (self.last, 1);
        while x != HEAD {
            x -= tag_of(arena, x);
            back += 1;
        }
        assert_eq!(back, nodes);
        for (size, ids) in self.free.iter().enumerate() {
            for &x in ids {
                assert!(is_free(arena, x));
                assert_eq!(words_of(arena, x), size);
            }
        }
        for w in self.moved.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1);
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Runs a scan from `cursor` to its end; returns the entries passed and the calls made.
    fn scan_to_end(l: &SkipList, mut cursor: u64, count: usize) -> (Vec<(Vec<u8>, f64)>, usize) {
        let mut got = Vec::new();
        let mut calls = 0;
        loop {
            cursor = l.scan(cursor, count, |m, s| got.push((m.to_vec(), s)));
            calls += 1;
            assert!(calls <= l.arena.len() / 8 + 1, "scan does not end");
            if cursor == 0 {
                return (got, calls);
            }
        }
    }

    /// Member bytes laid out as a run of node headers (score, prev and height, member length
    /// with a tag) whose levels point at real nodes, so a cursor inside them reads plausible
    /// nodes.
    fn lookalike(targets: &[u32], tag: u64) -> Vec<u8> {
        let mut m = Vec::new();
        for &t in targets {
            for w in [
                2.5f64.to_bits(),
                u64::from(t) | 1 << 32,
                16 | tag << 32,
                u64::from(t),
                2.5f64.to_bits(),
            ] {
                m.extend_from_slice(&w.to_le_bytes());
            }
        }
        m
    }

    #[test]
    fn nodes_walk_back_by_their_tags() {
        let mut l = SkipList::new();
        for i in 0..200 {
            l.insert(
                format!("member-{i}-{}", "x".repeat(i % 30)).as_bytes(),
                (i % 7) as f64,
            );
        }
        l.check();
        for i in (0..200).step_by(3) {
            l.remove(format!("member-{i}-{}", "x".repeat(i % 30)).as_bytes());
        }
        l.check();
        // Freed nodes are reused whole; the tags around them still hold.
        for i in 0..40 {
            l.insert(format!("again-{i}-{}", "y".repeat(i % 30)).as_bytes(), -1.0);
        }
        l.check();
    }

    #[test]
    fn compaction_keeps_physical_order() {
        let mut l = SkipList::new();
        for i in 0..500 {
            l.insert(format!("m{i}").as_bytes(), (i % 11) as f64);
        }
        for i in (0..500).filter(|i| i % 4 != 0) {
            l.remove(format!("m{i}").as_bytes());
        }
        let before = scan_to_end(&l, 0, 10_000).0;
        l.compact();
        l.check();
        assert_eq!(l.generation, 1);
        assert_eq!(l.garbage, 0);
        assert_eq!(scan_to_end(&l, 0, 10_000).0, before);
        assert_eq!(l.moved.len(), 125usize.div_ceil(SAMPLE_EVERY));
        // The order and ranks survive the remapping.
        let ranked: Vec<Vec<u8>> = l.iter().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(ranked.len(), 125);
        for (i, m) in ranked.iter().enumerate() {
            assert_eq!(l.rank_of(l.score(m).unwrap_or(f64::NAN), m), i);
        }
    }

    /// Mass removal compacts the arena by itself (maybe more than once); a scan begun
    /// before still misses none of the members that stayed.
    #[test]
    fn removals_compact_the_arena_and_scans_miss_nothing() {
        let mut l = SkipList::new();
        let name = |i: u32| format!("{i:0>100}").into_bytes();
        for i in 0..3000 {
            l.insert(&name(i), f64::from(i % 13));
        }
        let mut seen = std::collections::HashSet::new();
        let cursor = l.scan(0, 100, |m, _| {
            seen.insert(m.to_vec());
        });
        for i in (0..3000).filter(|i| i % 10 != 0) {
            l.remove(&name(i));
        }
        assert!(l.generation >= 1, "no compaction");
        l.check();
        let mut cursor = cursor;
        while cursor != 0 {
            cursor = l.scan(cursor, 100, |m, _| {
                seen.insert(m.to_vec());
            });
        }
        for i in (0..3000).step_by(10) {
            assert!(seen.contains(&name(i)), "missed {i}");
        }
    }

    /// Cursors this list never issued — random values, positions inside nodes, inside member
    /// bytes laid out as headers — end without a panic and pass only live entries.
    #[test]
    fn forged_cursors_end_and_pass_only_live_entries() {
        let mut l = SkipList::new();
        for i in 0..300 {
            l.insert(format!("m{i}").as_bytes(), i as f64);
        }
        let real: Vec<u32> = (0..300)
            .filter_map(|i| l.find(format!("m{i}").as_bytes()))
            .collect();
        for tag in [0, 1, 3, 5, 0x7fff_ffff] {
            l.insert(&lookalike(&real[..40], tag), 1.0);
        }
        for i in (0..300).step_by(5) {
            l.remove(format!("m{i}").as_bytes());
        }
        l.check();
        let live: HashMap<Vec<u8>, f64> = l.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        let words = (l.arena.len() / 8) as u64;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..3 {
            for t in 0..1500u64 {
                let r = xorshift(&mut rng);
                let cursor = match t % 4 {
                    0 => r,
                    1 => (u64::from(l.generation) << 32) | (r % (words + 10)),
                    2 => (u64::from(l.generation.wrapping_sub(1)) << 32) | (r % (words + 10)),
                    _ => r & 0xffff_ffff,
                };
                let (got, _) = scan_to_end(&l, cursor, 1 + (t % 7) as usize);
                for (m, s) in got {
                    assert_eq!(live.get(&m), Some(&s), "cursor {cursor} passed a non-entry");
                }
            }
            if round == 0 {
                l.compact();
            }
            l.check();
        }
    }

    /// A walk from the start passes every entry exactly once when nothing changes.
    #[test]
    fn full_scan_passes_each_entry_once() {
        let mut l = SkipList::new();
        for i in 0..1000 {
            l.insert(format!("{i}").as_bytes(), 0.0);
        }
        for count in [1, 7, 10, 999, 5000] {
            let (mut got, calls) = scan_to_end(&l, 0, count);
            assert_eq!(calls, 1000usize.div_ceil(count));
            assert_eq!(got.len(), 1000);
            got.sort_by(|a, b| a.0.cmp(&b.0));
            got.dedup();
            assert_eq!(got.len(), 1000);
        }
    }
}
