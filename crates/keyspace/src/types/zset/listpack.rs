//! `Listpack`: the small encoding of a sorted set — its (member, score) pairs in order, in
//! one exactly sized allocation behind a thin 16-byte box (Redis's listpack role).
//!
//! Layout: the pair count as a varint, then per pair a varint length and the entry
//! `tag [score bytes] member`. The tag holds small integral scores itself, so a pair with a
//! score in -32..=207 costs its member plus two bytes (Redis's listpack: plus four):
//!
//! - `0x00..=0xEF`: the integer score `tag - 0x20`, no score bytes;
//! - `0xF0..=0xF7`: an integral score below 2^53 in magnitude in `tag - 0xEF` bytes (little-
//!   endian two's complement);
//! - `0xF8`: any other score (fractions, infinities, huge values) as the 8 bytes of the f64.
//!
//! `-0.0` is stored as the integer 0, as Redis's listpack does (a skiplist keeps the sign).
//! Every operation is O(bytes); the encoding limits keep it small.

const SMALL_BIAS: i64 = 0x20;
const SMALL_MAX: i64 = 0xEF - SMALL_BIAS;
const TAG_INT: u8 = 0xF0;
const TAG_F64: u8 = 0xF8;

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

/// Reads a varint at `pos`: (value, bytes used). Past the end reads as 0.
#[inline]
fn read_varint(data: &[u8], pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = pos;
    while let Some(&b) = data.get(i) {
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (n, i - pos)
}

/// The tag and score bytes of `score` (at most 9 bytes, in `buf`).
fn encode_score(score: f64, buf: &mut [u8; 9]) -> &[u8] {
    const LIMIT: f64 = (1u64 << 53) as f64;
    if score.fract() == 0.0 && score.abs() < LIMIT {
        let i = score as i64;
        if (-SMALL_BIAS..=SMALL_MAX).contains(&i) {
            buf[0] = (i + SMALL_BIAS) as u8;
            return &buf[..1];
        }
        // Shortest k such that sign-extending the low k bytes gives back i (k <= 7).
        let mut k = 7;
        while k > 1 {
            let shift = 64 - 8 * (k - 1) as u32;
            if (i << shift) >> shift != i {
                break;
            }
            k -= 1;
        }
        buf[0] = TAG_INT + (k - 1) as u8;
        buf[1..=k].copy_from_slice(&i.to_le_bytes()[..k]);
        return &buf[..=k];
    }
    buf[0] = TAG_F64;
    buf[1..].copy_from_slice(&score.to_le_bytes());
    &buf[..]
}

/// Splits an entry into (member, score).
#[inline]
fn decode(entry: &[u8]) -> (&[u8], f64) {
    let Some((&tag, rest)) = entry.split_first() else {
        return (entry, 0.0);
    };
    if tag < TAG_INT {
        return (rest, (tag as i64 - SMALL_BIAS) as f64);
    }
    let k = if tag == TAG_F64 {
        8
    } else {
        (tag - TAG_INT + 1) as usize
    };
    let (bytes, member) = rest.split_at(k.min(rest.len()));
    let mut a = [0u8; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    if tag == TAG_F64 {
        return (member, f64::from_le_bytes(a));
    }
    let shift = 64 - 8 * bytes.len() as u32;
    (member, ((i64::from_le_bytes(a) << shift) >> shift) as f64)
}

/// A sorted set's pairs in the small encoding.
#[derive(Clone, Default, PartialEq)]
pub struct Listpack {
    data: Box<[u8]>,
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack::default()
    }

    /// Number of pairs.
    #[inline]
    pub fn len(&self) -> usize {
        read_varint(&self.data, 0).0
    }

    /// Bytes of the allocation.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// The pairs in order.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        let (count, used) = read_varint(&self.data, 0);
        Iter {
            data: &self.data,
            pos: used,
            left: count,
        }
    }

    /// Byte offset of pair `index` (or the end when `index == len`).
    fn offset_of(&self, index: usize) -> usize {
        let mut pos = read_varint(&self.data, 0).1;
        for _ in 0..index {
            let (n, used) = read_varint(&self.data, pos);
            pos += used + n;
        }
        pos
    }

    /// Replaces bytes `at..at + remove` with `insert` pairs; the count changes by `delta`.
    fn rebuild(&mut self, at: usize, remove: usize, insert: &[(&[u8], f64)], delta: isize) {
        let (count, used) = read_varint(&self.data, 0);
        let count = (count as isize + delta) as usize;
        let mut buf = [0u8; 9];
        let extra: usize = insert
            .iter()
            .map(|&(m, s)| {
                let n = encode_score(s, &mut buf).len() + m.len();
                varint_len(n) + n
            })
            .sum();
        if count == 0 {
            self.data = Box::default();
            return;
        }
        let body = self.data.len().max(used) - used;
        let mut v = Vec::with_capacity(varint_len(count) + body - remove + extra);
        write_varint(&mut v, count);
        v.extend_from_slice(self.data.get(used..at).unwrap_or_default());
        for &(m, s) in insert {
            let tag = encode_score(s, &mut buf);
            write_varint(&mut v, tag.len() + m.len());
            v.extend_from_slice(tag);
            v.extend_from_slice(m);
        }
        v.extend_from_slice(self.data.get(at + remove..).unwrap_or_default());
        self.data = v.into_boxed_slice();
    }

    /// Inserts a pair before pair `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, member: &[u8], score: f64) {
        debug_assert!(index <= self.len());
        let at = self.offset_of(index);
        self.rebuild(at, 0, &[(member, score)], 1);
    }

    /// Appends pairs at the end.
    pub fn extend(&mut self, pairs: &[(&[u8], f64)]) {
        let at = self.data.len().max(read_varint(&self.data, 0).1);
        self.rebuild(at, 0, pairs, pairs.len() as isize);
    }

    /// Removes `n` pairs starting at `index`.
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
}

/// (member, score) pairs of a `Listpack`, in order.
#[derive(Clone)]
pub struct Iter<'a> {
    data: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (n, used) = read_varint(self.data, self.pos);
        let start = self.pos + used;
        self.pos = start + n;
        Some(decode(self.data.get(start..start + n).unwrap_or_default()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip() {
        let mut buf = [0u8; 9];
        for s in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            -32.0,
            -33.0,
            207.0,
            208.0,
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
            let mut e = encode_score(s, &mut buf).to_vec();
            e.extend_from_slice(b"mem");
            let (m, d) = decode(&e);
            assert_eq!(m, b"mem");
            assert_eq!(d.to_bits(), (s + 0.0).to_bits(), "{s}");
        }
        assert_eq!(encode_score(0.0, &mut buf).len(), 1);
        assert_eq!(encode_score(207.0, &mut buf).len(), 1);
        assert_eq!(encode_score(-100.0, &mut buf).len(), 2);
        assert_eq!(encode_score(208.0, &mut buf).len(), 3);
        assert_eq!(encode_score(-129.0, &mut buf).len(), 3);
        assert_eq!(encode_score(0.5, &mut buf).len(), 9);
    }

    #[test]
    fn ten_small_pairs_fit_128_bytes() {
        let mut l = Listpack::new();
        for i in 0..10 {
            let m = format!("m:{i:08}");
            l.insert(i, m.as_bytes(), i as f64);
        }
        assert_eq!(l.len(), 10);
        assert_eq!(l.byte_len(), 121);
        l.remove(0, 3);
        assert_eq!(l.iter().next(), Some((&b"m:00000003"[..], 3.0)));
        l.remove(0, 7);
        assert_eq!(l.len(), 0);
        assert_eq!(l.byte_len(), 0);
    }
}
