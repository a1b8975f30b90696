//! LZF, the compression of RDB strings (Redis's `lzf_c.c` / `lzf_d.c` format): runs of
//! literals (`000LLLLL`, L+1 bytes follow) and back references (`LLLooooo oooooooo`, or
//! `111ooooo LLLLLLLL oooooooo` for long ones) of length L+2 at distance o+1.

const HLOG: u32 = 14;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

/// Compresses `input`; None when the result would be longer than `max_out` bytes (the
/// caller then stores the string raw, as Redis does).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max_out.min(n + n / 16 + 8));
    let mut table = vec![usize::MAX; 1 << HLOG];
    let mut lit_start = 0;
    out.push(0);
    let mut lit = 0usize;
    let mut i = 0;
    while i + 2 < n {
        let v = u32::from(input[i]) << 16 | u32::from(input[i + 1]) << 8 | u32::from(input[i + 2]);
        let h = (v.wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize;
        let r = table[h];
        table[h] = i;
        if r < i && i - r - 1 < MAX_OFF && input[r..r + 3] == input[i..i + 3] {
            let off = i - r - 1;
            let max = (n - i).min(MAX_REF);
            let mut len = 3;
            while len < max && input[r + len] == input[i + len] {
                len += 1;
            }
            if lit > 0 {
                out[lit_start] = (lit - 1) as u8;
            } else {
                out.pop();
            }
            let l = len - 2;
            if l < 7 {
                out.push(((l << 5) | (off >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (off >> 8)) as u8);
                out.push((l - 7) as u8);
            }
            out.push((off & 0xff) as u8);
            lit_start = out.len();
            out.push(0);
            lit = 0;
            i += len;
        } else {
            out.push(input[i]);
            lit += 1;
            i += 1;
            if lit == MAX_LIT {
                out[lit_start] = (MAX_LIT - 1) as u8;
                lit_start = out.len();
                out.push(0);
                lit = 0;
            }
        }
        if out.len() > max_out {
            return None;
        }
    }
    while i < n {
        out.push(input[i]);
        lit += 1;
        i += 1;
        if lit == MAX_LIT {
            out[lit_start] = (MAX_LIT - 1) as u8;
            lit_start = out.len();
            out.push(0);
            lit = 0;
        }
    }
    if lit > 0 {
        out[lit_start] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    (out.len() <= max_out && !out.is_empty()).then_some(out)
}

/// Decompresses `input`, which must expand to exactly `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Result<Vec<u8>, &'static str> {
    // A back reference expands 3 bytes to at most 264: never trust `len` beyond that.
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(88)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run).ok_or("truncated literal run")?;
            if out.len() + run > len {
                return Err("output longer than declared");
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut l = ctrl >> 5;
            if l == 7 {
                l += *input.get(ip).ok_or("truncated back reference")? as usize;
                ip += 1;
            }
            let low = *input.get(ip).ok_or("truncated back reference")? as usize;
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let l = l + 2;
            if back > out.len() {
                return Err("back reference before the start");
            }
            if out.len() + l > len {
                return Err("output longer than declared");
            }
            let start = out.len() - back;
            for k in 0..l {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() != len {
        return Err("output shorter than declared");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compresses_repetition() {
        let s = b"abc".repeat(400);
        let c = compress(&s, s.len() - 4).unwrap();
        assert!(c.len() < 40, "{}", c.len());
        assert_eq!(decompress(&c, s.len()).unwrap(), s);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(decompress(&[0x20, 0x00], 3).is_err());
        assert!(decompress(&[5, b'a'], 6).is_err());
        assert!(decompress(&[0, b'a'], 2).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000)) {
            if let Some(c) = compress(&data, data.len() + 100) {
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            }
        }
    }
}
