//! `Packed`: a sequence of byte strings in one exactly sized allocation — each entry a varint
//! length followed by its bytes. Small hashes, sets, sorted sets and list nodes use it, the
//! role Redis's listpack plays. Every operation is O(bytes); callers keep it small.

/// Packed byte strings. 24 bytes plus one allocation of exactly the encoded size.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Packed {
    data: Box<[u8]>,
    count: u32,
}

fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut n = n >> 7;
    while n > 0 {
        len += 1;
        n >>= 7;
    }
    len
}

fn write_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads a varint at `pos`: (value, bytes used).
#[inline]
fn read_varint(data: &[u8], pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = pos;
    loop {
        let b = data[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (n, i - pos);
        }
        shift += 7;
    }
}

impl Packed {
    pub fn new() -> Self {
        Packed::default()
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.count as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encoded size in bytes (the heap allocation).
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// The entries in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            data: &self.data,
            pos: 0,
        }
    }

    /// Byte offset of entry `index` (or the end when `index == len`).
    fn offset_of(&self, index: usize) -> usize {
        let mut pos = 0;
        for _ in 0..index {
            let (n, used) = read_varint(&self.data, pos);
            pos += used + n;
        }
        pos
    }

    /// Entry `index`, if any.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len() {
            return None;
        }
        self.iter().nth(index)
    }

    /// Index of the first entry equal to `needle`, looking only at every `step`-th entry
    /// starting from `start` (a hash's fields are entries 0, 2, 4, ...).
    pub fn position(&self, needle: &[u8], start: usize, step: usize) -> Option<usize> {
        self.iter()
            .enumerate()
            .skip(start)
            .step_by(step.max(1))
            .find(|(_, e)| *e == needle)
            .map(|(i, _)| i)
    }

    fn rebuild(&mut self, at: usize, remove_bytes: usize, insert: &[&[u8]], count_delta: isize) {
        let extra: usize = insert.iter().map(|e| varint_len(e.len()) + e.len()).sum();
        let mut v = Vec::with_capacity(self.data.len() - remove_bytes + extra);
        v.extend_from_slice(&self.data[..at]);
        for e in insert {
            write_varint(&mut v, e.len());
            v.extend_from_slice(e);
        }
        v.extend_from_slice(&self.data[at + remove_bytes..]);
        self.data = v.into_boxed_slice();
        self.count = (self.count as isize + count_delta) as u32;
    }

    /// Inserts entries before entry `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, entries: &[&[u8]]) {
        debug_assert!(index <= self.len());
        let at = self.offset_of(index);
        self.rebuild(at, 0, entries, entries.len() as isize);
    }

    /// Appends entries at the end.
    pub fn push(&mut self, entries: &[&[u8]]) {
        let at = self.data.len();
        self.rebuild(at, 0, entries, entries.len() as isize);
    }

    /// Removes `n` entries starting at `index`.
    pub fn remove(&mut self, index: usize, n: usize) {
        let n = n.min(self.len().saturating_sub(index));
        if n == 0 {
            return;
        }
        let at = self.offset_of(index);
        let mut end = at;
        for _ in 0..n {
            let (len, used) = read_varint(&self.data, end);
            end += used + len;
        }
        self.rebuild(at, end - at, &[], -(n as isize));
    }

    /// Replaces entry `index` with `entry`.
    pub fn replace(&mut self, index: usize, entry: &[u8]) {
        debug_assert!(index < self.len());
        let at = self.offset_of(index);
        let (len, used) = read_varint(&self.data, at);
        if len == entry.len() {
            self.data[at + used..at + used + len].copy_from_slice(entry);
            return;
        }
        self.rebuild(at, used + len, &[entry], 0);
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Iterator over a `Packed`'s entries.
pub struct Iter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.data.len() {
            return None;
        }
        let (n, used) = read_varint(self.data, self.pos);
        let start = self.pos + used;
        self.pos = start + n;
        Some(&self.data[start..start + n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_edits() {
        let mut p = Packed::new();
        p.push(&[b"a", b"bb"]);
        p.insert(1, &[b"x"]);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"x", b"bb"]);
        p.replace(1, b"yyyy");
        p.remove(0, 1);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"yyyy"[..], b"bb"]);
        assert_eq!(p.position(b"bb", 0, 1), Some(1));
        assert_eq!(p.get(5), None);
        let long = vec![7u8; 300];
        p.push(&[&long]);
        assert_eq!(p.get(2), Some(&long[..]));
    }

    proptest! {
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec((0u8..4, 0usize..20, proptest::collection::vec(any::<u8>(), 0..200)), 1..60)) {
            let mut p = Packed::new();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for (op, i, bytes) in ops {
                match op {
                    0 => { let i = i.min(model.len()); p.insert(i, &[&bytes]); model.insert(i, bytes); }
                    1 => { if i < model.len() { p.remove(i, 1); model.remove(i); } }
                    2 => { if i < model.len() { p.replace(i, &bytes); model[i] = bytes; } }
                    _ => { p.push(&[&bytes]); model.push(bytes); }
                }
                prop_assert_eq!(p.len(), model.len());
                prop_assert_eq!(p.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), model.clone());
            }
        }
    }
}
