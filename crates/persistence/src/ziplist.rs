//! The containers of older RDB files, read only: ziplists (`ziplist.c`, Redis 2.6-6.2
//! lists, hashes and sorted sets), zipmaps (`zipmap.c`, Redis < 2.6 hashes) and intsets
//! (`intset.c`, which Redis still writes for sets of integers: see [`intset_encode`]).

use crate::listpack::Entry;

/// Decodes a ziplist, checking that every entry lies inside it.
pub fn decode(zl: &[u8]) -> Result<Vec<Entry<'_>>, &'static str> {
    if zl.len() < 11 {
        return Err("ziplist too short");
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if total != zl.len() {
        return Err("ziplist size mismatch");
    }
    let declared = u16::from_le_bytes([zl[8], zl[9]]) as usize;
    let mut out = Vec::with_capacity(declared.min(zl.len()));
    let mut p = 10;
    let get = |from: usize, n: usize| zl.get(from..from + n).ok_or("ziplist entry out of range");
    loop {
        let b = *zl.get(p).ok_or("ziplist entry out of range")?;
        if b == 0xff {
            if p + 1 != zl.len() {
                return Err("ziplist end byte before the end");
            }
            break;
        }
        // prevlen
        p += if b < 254 { 1 } else { 5 };
        let e = *zl.get(p).ok_or("ziplist entry out of range")?;
        let (entry, len) = match e >> 6 {
            0 => {
                let n = (e & 0x3f) as usize;
                (Entry::Str(get(p + 1, n)?), 1 + n)
            }
            1 => {
                let x = get(p + 1, 1)?[0];
                let n = ((e as usize & 0x3f) << 8) | x as usize;
                (Entry::Str(get(p + 2, n)?), 2 + n)
            }
            2 => {
                let h = get(p + 1, 4)?;
                let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
                (Entry::Str(get(p + 5, n)?), 5 + n)
            }
            _ => match e {
                0xc0 => {
                    let h = get(p + 1, 2)?;
                    (Entry::Int(i16::from_le_bytes([h[0], h[1]]) as i64), 3)
                }
                0xd0 => {
                    let h = get(p + 1, 4)?;
                    (
                        Entry::Int(i32::from_le_bytes([h[0], h[1], h[2], h[3]]) as i64),
                        5,
                    )
                }
                0xe0 => {
                    let h = get(p + 1, 8)?;
                    let mut w = [0u8; 8];
                    w.copy_from_slice(h);
                    (Entry::Int(i64::from_le_bytes(w)), 9)
                }
                0xf0 => {
                    let h = get(p + 1, 3)?;
                    (
                        Entry::Int((i32::from_le_bytes([0, h[0], h[1], h[2]]) >> 8) as i64),
                        4,
                    )
                }
                0xfe => (Entry::Int(get(p + 1, 1)?[0] as i8 as i64), 2),
                0xf1..=0xfd => (Entry::Int((e & 0x0f) as i64 - 1), 1),
                _ => return Err("ziplist entry with a bad encoding"),
            },
        };
        p += len;
        out.push(entry);
    }
    if declared != 65535 && declared != out.len() {
        return Err("ziplist count mismatch");
    }
    Ok(out)
}

/// A field and its value.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Decodes a zipmap into field, value pairs.
pub fn decode_zipmap(zm: &[u8]) -> Result<Vec<Pair<'_>>, &'static str> {
    let mut p = 1;
    let mut out = Vec::new();
    let len_at = |p: &mut usize| -> Result<Option<usize>, &'static str> {
        let b = *zm.get(*p).ok_or("zipmap out of range")?;
        match b {
            255 => Ok(None),
            254 => {
                let h = zm.get(*p + 1..*p + 5).ok_or("zipmap out of range")?;
                *p += 5;
                Ok(Some(u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize))
            }
            n => {
                *p += 1;
                Ok(Some(n as usize))
            }
        }
    };
    loop {
        let Some(klen) = len_at(&mut p)? else {
            if p + 1 != zm.len() {
                return Err("zipmap end byte before the end");
            }
            break;
        };
        let k = zm.get(p..p + klen).ok_or("zipmap out of range")?;
        p += klen;
        let vlen = len_at(&mut p)?.ok_or("zipmap field without value")?;
        let free = *zm.get(p).ok_or("zipmap out of range")? as usize;
        p += 1;
        let v = zm.get(p..p + vlen).ok_or("zipmap out of range")?;
        p += vlen + free;
        out.push((k, v));
    }
    Ok(out)
}

/// Decodes an intset: sorted distinct integers of 2, 4 or 8 bytes.
pub fn decode_intset(is: &[u8]) -> Result<Vec<i64>, &'static str> {
    if is.len() < 8 {
        return Err("intset too short");
    }
    let width = u32::from_le_bytes([is[0], is[1], is[2], is[3]]) as usize;
    let n = u32::from_le_bytes([is[4], is[5], is[6], is[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("intset with a bad encoding");
    }
    if n.checked_mul(width) != Some(is.len() - 8) {
        return Err("intset size mismatch");
    }
    let mut out = Vec::with_capacity(n);
    for c in is[8..].chunks_exact(width) {
        let v = match width {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                i64::from_le_bytes(w)
            }
        };
        if out.last().is_some_and(|&l| l >= v) {
            return Err("intset not sorted");
        }
        out.push(v);
    }
    Ok(out)
}

/// Encodes sorted distinct integers as an intset of the narrowest width that holds them.
pub fn intset_encode(values: &[i64]) -> Vec<u8> {
    let width: usize = if values
        .iter()
        .all(|&v| (i16::MIN as i64..=i16::MAX as i64).contains(&v))
    {
        2
    } else if values
        .iter()
        .all(|&v| (i32::MIN as i64..=i32::MAX as i64).contains(&v))
    {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + values.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ziplist_of_redis_6() {
        // ["hello", 12, 1024, -70000, 7000000000] as Redis 6's ziplist.c writes it.
        let mut zl = vec![0u8; 10];
        let mut prev = 0u8;
        let mut add = |zl: &mut Vec<u8>, body: &[u8]| {
            zl.push(prev);
            zl.extend_from_slice(body);
            prev = (body.len() + 1) as u8;
        };
        add(&mut zl, &[0x05, b'h', b'e', b'l', b'l', b'o']);
        add(&mut zl, &[0xf1 + 12]);
        add(&mut zl, &[0xc0, 0x00, 0x04]);
        let mut b = vec![0xd0];
        b.extend_from_slice(&(-70000i32).to_le_bytes());
        add(&mut zl, &b);
        let mut b = vec![0xe0];
        b.extend_from_slice(&7_000_000_000i64.to_le_bytes());
        add(&mut zl, &b);
        zl.push(0xff);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        zl[8..10].copy_from_slice(&5u16.to_le_bytes());
        let e = decode(&zl).unwrap();
        assert_eq!(
            e,
            vec![
                Entry::Str(b"hello"),
                Entry::Int(12),
                Entry::Int(1024),
                Entry::Int(-70000),
                Entry::Int(7_000_000_000)
            ]
        );
        zl.truncate(zl.len() - 3);
        assert!(decode(&zl).is_err());
    }

    #[test]
    fn zipmap_pairs() {
        let zm = [
            2, 1, b'a', 2, 0, b'x', b'y', 1, b'b', 1, 3, b'z', 0, 0, 0, 255,
        ];
        assert_eq!(
            decode_zipmap(&zm).unwrap(),
            vec![(&b"a"[..], &b"xy"[..]), (b"b", b"z")]
        );
    }

    #[test]
    fn intset_round_trip() {
        for v in [
            vec![1, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
            vec![],
        ] {
            assert_eq!(decode_intset(&intset_encode(&v)).unwrap(), v);
        }
        assert!(decode_intset(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0]).is_err());
    }
}
