//! Listpacks (Redis's `listpack.c`), the packed container of RDB's list nodes, small hashes,
//! sets, sorted sets and stream nodes: a 6-byte header (total bytes, element count), the
//! entries (encoding, data, back length) and an end byte 0xFF.

use keyspace::parse_canonical_i64;

/// One entry of a listpack: integers are decoded, strings borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Entry<'_> {
    /// The entry as bytes (integers formatted).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Entry::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
            Entry::Str(s) => s.to_vec(),
        }
    }

    /// The entry as an integer, when it is one or a string holding one.
    pub fn as_int(self) -> Option<i64> {
        match self {
            Entry::Int(i) => Some(i),
            Entry::Str(s) => parse_canonical_i64(s),
        }
    }
}

/// Builds a listpack entry by entry.
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

fn backlen(l: usize, out: &mut Vec<u8>) {
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
    } else if l < 2_097_151 {
        out.extend_from_slice(&[
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else if l < 268_435_455 {
        out.extend_from_slice(&[
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else {
        out.extend_from_slice(&[
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    }
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Bytes the listpack would take if finished now.
    pub fn byte_len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a string, stored as an integer when it is the canonical form of one (as
    /// Redis's `lpEncodeGetType`).
    pub fn push(&mut self, s: &[u8]) {
        match parse_canonical_i64(s) {
            Some(i) => self.push_int(i),
            None => self.push_str(s),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            b.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
        } else if (-32768..=32767).contains(&v) {
            b.push(0xf1);
            b.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            b.push(0xf2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            b.push(0xf3);
            b.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        let l = b.len() - start;
        backlen(l, b);
        self.count += 1;
    }

    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        let n = s.len();
        if n < 64 {
            b.push(0x80 | n as u8);
        } else if n < 4096 {
            b.extend_from_slice(&[0xe0 | (n >> 8) as u8, n as u8]);
        } else {
            b.push(0xf0);
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        let l = b.len() - start;
        backlen(l, b);
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xff);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = if self.count < 65535 {
            self.count as u16
        } else {
            65535
        };
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

/// Decodes a whole listpack, checking its structure (header size, every entry inside the
/// buffer, back lengths consistent, the end byte last, the count when recorded).
pub fn decode(lp: &[u8]) -> Result<Vec<Entry<'_>>, &'static str> {
    if lp.len() < 7 {
        return Err("listpack too short");
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return Err("listpack size mismatch");
    }
    let declared = u16::from_le_bytes([lp[4], lp[5]]) as usize;
    let mut out = Vec::with_capacity(declared.min(lp.len()));
    let mut p = 6;
    loop {
        let b = *lp.get(p).ok_or("listpack entry out of range")?;
        if b == 0xff {
            if p + 1 != lp.len() {
                return Err("listpack end byte before the end");
            }
            break;
        }
        let get =
            |from: usize, n: usize| lp.get(from..from + n).ok_or("listpack entry out of range");
        let (entry, len) = if b & 0x80 == 0 {
            (Entry::Int(b as i64), 1)
        } else if b & 0xc0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (Entry::Str(get(p + 1, n)?), 1 + n)
        } else if b & 0xe0 == 0xc0 {
            let x = get(p + 1, 1)?[0];
            let u = ((b as u16 & 0x1f) << 8) | x as u16;
            let v = ((u << 3) as i16 >> 3) as i64;
            (Entry::Int(v), 2)
        } else if b & 0xf0 == 0xe0 {
            let x = get(p + 1, 1)?[0];
            let n = ((b as usize & 0x0f) << 8) | x as usize;
            (Entry::Str(get(p + 2, n)?), 2 + n)
        } else {
            match b {
                0xf0 => {
                    let h = get(p + 1, 4)?;
                    let n = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                    (Entry::Str(get(p + 5, n)?), 5 + n)
                }
                0xf1 => {
                    let h = get(p + 1, 2)?;
                    (Entry::Int(i16::from_le_bytes([h[0], h[1]]) as i64), 3)
                }
                0xf2 => {
                    let h = get(p + 1, 3)?;
                    let v = (i32::from_le_bytes([0, h[0], h[1], h[2]]) >> 8) as i64;
                    (Entry::Int(v), 4)
                }
                0xf3 => {
                    let h = get(p + 1, 4)?;
                    (
                        Entry::Int(i32::from_le_bytes([h[0], h[1], h[2], h[3]]) as i64),
                        5,
                    )
                }
                0xf4 => {
                    let h = get(p + 1, 8)?;
                    let mut w = [0u8; 8];
                    w.copy_from_slice(h);
                    (Entry::Int(i64::from_le_bytes(w)), 9)
                }
                _ => return Err("listpack entry with a bad encoding"),
            }
        };
        let mut bl = Vec::with_capacity(5);
        backlen(len, &mut bl);
        if get(p + len, bl.len())? != bl.as_slice() {
            return Err("listpack entry with a bad back length");
        }
        p += len + bl.len();
        out.push(entry);
    }
    if declared != 65535 && declared != out.len() {
        return Err("listpack count mismatch");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_as_redis() {
        // lpNew + lpAppend("a"), lpAppend("1024") as Redis writes them.
        let mut b = Builder::new();
        b.push(b"a");
        b.push(b"1024");
        let lp = b.finish();
        assert_eq!(
            lp,
            vec![13, 0, 0, 0, 2, 0, 0x81, b'a', 2, 0xc4, 0x00, 2, 0xff]
        );
    }

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|i| i.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..5000),
        ], 0..40)) {
            let mut b = Builder::new();
            for i in &items { b.push(i); }
            let lp = b.finish();
            let back: Vec<Vec<u8>> = decode(&lp).unwrap().into_iter().map(Entry::to_vec).collect();
            prop_assert_eq!(back, items);
        }
    }
}
