//! `Slots`: a shard's dense slot array, stored in fixed-size chunks.
//!
//! A shard addresses its keys by dense position (removal moves the last slot into the hole),
//! so the slots could be one `Vec`. But a slot is a few dozen bytes, and a `Vec` of a
//! million of them that doubles leaves tens of megabytes reserved that only later keys use.
//! Chunks of [`CHUNK`] slots bound the unused room to one chunk per shard, at the cost of
//! one shift and mask per access. The first chunk grows like a `Vec` (a shard with a handful
//! of keys stays small); later chunks are allocated whole.

use std::ops::{Index, IndexMut};

/// Slots per chunk (a power of two, so a `Vec` growing by doubling reaches it exactly).
const SHIFT: usize = 9;
const CHUNK: usize = 1 << SHIFT;
const MASK: usize = CHUNK - 1;

#[derive(Clone, Debug)]
pub(crate) struct Slots<T> {
    /// Every chunk before the one holding the last slot is full; at most one empty chunk
    /// follows it (kept so a key added and removed at a chunk boundary does not allocate
    /// and free a chunk each time).
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots the allocated chunks can hold.
    pub fn capacity(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }

    pub fn push(&mut self, value: T) {
        let c = self.len >> SHIFT;
        if c == self.chunks.len() {
            let chunk = if c == 0 {
                Vec::new()
            } else {
                Vec::with_capacity(CHUNK)
            };
            self.chunks.push(chunk);
        }
        self.chunks[c].push(value);
        self.len += 1;
    }

    /// Removes the slot at `pos` (which must exist); the last slot takes its place.
    pub fn swap_remove(&mut self, pos: usize) -> T {
        assert!(pos < self.len, "slot {pos} out of {}", self.len);
        let last = self.len - 1;
        let tail_chunk = &mut self.chunks[last >> SHIFT];
        let tail = tail_chunk.swap_remove(tail_chunk.len() - 1);
        self.len = last;
        let removed = if pos == last {
            tail
        } else {
            std::mem::replace(&mut self[pos], tail)
        };
        // Free a trailing empty chunk once the chunk before it is less than half full.
        while self.chunks.len() >= 2
            && self.chunks[self.chunks.len() - 1].is_empty()
            && self.chunks[self.chunks.len() - 2].len() < CHUNK / 2
        {
            self.chunks.pop();
        }
        removed
    }

    /// Gives back the first chunk's unused room when it holds few slots (after mass
    /// deletions); later chunks are freed as they empty.
    pub fn shrink(&mut self) {
        if self.chunks.len() == 1 {
            let first = &mut self.chunks[0];
            if first.capacity() > 64 && first.len() < first.capacity() / 4 {
                first.shrink_to(first.len() * 2);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<usize> for Slots<T> {
    type Output = T;

    #[inline]
    fn index(&self, pos: usize) -> &T {
        &self.chunks[pos >> SHIFT][pos & MASK]
    }
}

impl<T> IndexMut<usize> for Slots<T> {
    #[inline]
    fn index_mut(&mut self, pos: usize) -> &mut T {
        &mut self.chunks[pos >> SHIFT][pos & MASK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random pushes and swap-removals against a `Vec`, across many chunk boundaries.
    #[test]
    fn behaves_as_a_vec_with_swap_remove() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut slots = Slots::default();
        let mut model: Vec<u64> = Vec::new();
        for round in 0..200_000u64 {
            // Phases of growth and of shrinking, so chunks are added and freed.
            let grow = (round / 20_000) % 2 == 0;
            if model.is_empty() || rng.gen_bool(if grow { 0.7 } else { 0.3 }) {
                slots.push(round);
                model.push(round);
            } else {
                let pos = rng.gen_range(0..model.len());
                assert_eq!(slots.swap_remove(pos), model.swap_remove(pos));
            }
            assert_eq!(slots.len(), model.len());
            if round % 997 == 0 {
                assert!(slots.iter().copied().eq(model.iter().copied()));
                for (i, v) in model.iter().enumerate() {
                    assert_eq!(slots[i], *v);
                }
                // Unused room stays within two chunks (the one being filled and a spare).
                assert!(slots.capacity() <= model.len().max(CHUNK) + 2 * CHUNK);
            }
        }
        while !model.is_empty() {
            assert_eq!(slots.swap_remove(0), model.swap_remove(0));
        }
        assert!(slots.chunks.len() <= 2);
        slots.shrink();
    }
}
