//! Redis's HyperLogLog byte format and estimator, byte for byte as `hyperloglog.c`: the
//! 16-byte `HYLL` header with its cached cardinality, the sparse run-length encoding (ZERO,
//! XZERO and VAL opcodes), the dense array of 16384 6-bit registers, MurmurHash64A with
//! Redis's seed, and Ertl's improved estimator (Redis ≥ 5.0).
//!
//! Everything here works on the plain bytes of a string value, so an HLL written by Redis
//! reads back here and the other way round.

/// Header: "HYLL", encoding, 3 unused bytes, 8-byte little-endian cached cardinality.
pub const HDR: usize = 16;
/// Index bits taken from the hash.
const P: u32 = 14;
/// Bits left for the run of zeroes.
const Q: u32 = 64 - P;
pub const REGISTERS: usize = 1 << P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The HLL's sparse representation does not describe exactly 16384 registers, or an
/// opcode runs past the end (Redis's `INVALIDOBJ`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

// ----- hashing ------------------------------------------------------------------------------

/// MurmurHash2, 64-bit version, as Redis has it (endian neutral).
pub fn murmur64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = (seed as u64) ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate().rev() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Redis's `hllPatLen`: the register an element maps to and the length of its "000..1"
/// pattern (1..=51).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ----- header -------------------------------------------------------------------------------

/// An empty HLL as `createHLLObject` makes it: sparse, one XZERO of 16384, cache valid at 0.
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR + 2);
    s.extend_from_slice(b"HYLL");
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    let l = SPARSE_XZERO_MAX_LEN - 1;
    s.push((l >> 8) as u8 | 0x40);
    s.push((l & 0xff) as u8);
    s
}

/// `isHLLObjectOrReply` on the bytes of a string: magic, known encoding, exact dense size.
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn encoding(s: &[u8]) -> u8 {
    s[4]
}

pub fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// The cached cardinality, if valid.
pub fn cached(s: &[u8]) -> Option<u64> {
    if s[15] & 0x80 != 0 {
        return None;
    }
    let mut card = [0u8; 8];
    card.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(card))
}

pub fn set_cached(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

// ----- dense --------------------------------------------------------------------------------

/// Register `i` of a dense register array (the byte past the end reads as 0, as the sds
/// terminator does in Redis).
#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs.get(byte).copied().unwrap_or(0) as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u32) as u8
}

/// Sets register `i` of a dense register array to `val`.
#[inline]
pub fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = val as u32;
    if let Some(b) = regs.get_mut(byte) {
        *b &= !((REGISTER_MAX as u32) << fb) as u8;
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((REGISTER_MAX as u32) >> (8 - fb)) as u8;
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// `hllDenseSet`: raises register `i` to `count`; true when it changed.
pub fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// ----- sparse -------------------------------------------------------------------------------

/// One sparse opcode: `(registers covered, value, bytes)`.
#[inline]
fn opcode(s: &[u8], p: usize) -> (usize, u8, usize) {
    let b = s[p];
    if b & 0xc0 == 0 {
        ((b & 0x3f) as usize + 1, 0, 1)
    } else if b & 0x80 == 0 {
        let lo = s.get(p + 1).copied().unwrap_or(0) as usize;
        ((((b & 0x3f) as usize) << 8 | lo) + 1, 0, 2)
    } else {
        ((b & 0x3) as usize + 1, ((b >> 2) & 0x1f) + 1, 1)
    }
}

#[inline]
fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

#[inline]
fn val_op(val: u8, len: usize) -> u8 {
    ((val - 1) << 2 | (len as u8 - 1)) | 0x80
}

/// Writes a ZERO or XZERO run of `len` registers to `out`.
fn zero_run(out: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        out.push((l >> 8) as u8 | 0x40);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// Walks the sparse opcodes, calling `f(first register, run length, value)` for each run;
/// fails when the runs do not cover exactly 16384 registers.
fn walk_sparse(s: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0;
    let mut p = HDR;
    while p < s.len() {
        let (run, val, len) = opcode(s, p);
        if run + idx > REGISTERS {
            return Err(Corrupt);
        }
        f(idx, run, val);
        idx += run;
        p += len;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// `hllSparseToDense`: the dense form, header (with its cached cardinality) copied.
pub fn sparse_to_dense(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR..];
    walk_sparse(s, |first, run, val| {
        if val > 0 {
            for i in first..first + run {
                dense_put(regs, i, val);
            }
        }
    })?;
    Ok(dense)
}

/// Converts `s` to dense in place (no-op when already dense).
pub fn to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if encoding(s) == SPARSE {
        *s = sparse_to_dense(s)?;
    }
    Ok(())
}

/// `hllSparseSet`: raises register `index` to `count` in a sparse HLL, promoting it to
/// dense when the value cannot be represented (> 32) or the result would pass
/// `max_bytes`. Returns whether a register changed.
pub fn sparse_set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }

    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let mut p = HDR;
    let mut first = 0;
    let mut prev = None;
    let mut span = 0;
    while p < end {
        let (run, _, len) = opcode(s, p);
        span = run;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += len;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let (runlen, curval, oldlen) = opcode(s, p);
    let is_val_op = is_val(s[p]);

    'update: {
        if is_val_op {
            // A: nothing to do. B: a VAL of one register is updated in place.
            if curval >= count {
                return Ok(false);
            }
            if runlen == 1 {
                s[p] = val_op(count, 1);
                break 'update;
            }
        } else if oldlen == 1 && runlen == 1 {
            // C: a ZERO of one register becomes a VAL.
            s[p] = val_op(count, 1);
            break 'update;
        }

        // D: split the opcode into up to three (XZERO-VAL-XZERO at worst, 5 bytes).
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val_op {
            if index != first {
                seq.push(val_op(curval, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(curval, last - index));
            }
        } else {
            if index != first {
                zero_run(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                zero_run(&mut seq, last - index);
            }
        }

        // Step 3: replace the old opcode, or promote when the result would be too long.
        if seq.len() > oldlen && s.len() + (seq.len() - oldlen) > max_bytes {
            return promote(s, index, count);
        }
        let old_end = (p + oldlen).min(s.len());
        s.splice(p..old_end, seq);
    }

    // Step 4: merge adjacent VALs of the same value, scanning at most 5 opcodes from `prev`.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let b = s[p];
        if !is_val(b) {
            p += if b & 0xc0 == 0x40 { 2 } else { 1 };
            continue;
        }
        if p + 1 < s.len() && is_val(s[p + 1]) {
            let (l1, v1, _) = opcode(s, p);
            let (l2, v2, _) = opcode(s, p + 1);
            if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                s[p + 1] = val_op(v1, l1 + l2);
                s.remove(p);
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(s);
    Ok(true)
}

/// The promotion path of `hllSparseSet`: to dense, then set the register there.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    let changed = dense_set(&mut s[HDR..], index, count);
    debug_assert!(changed);
    Ok(changed)
}

/// `hllAdd`: adds one element; true when a register changed.
pub fn add(s: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    match encoding(s) {
        DENSE => Ok(dense_set(&mut s[HDR..], index, count)),
        SPARSE => sparse_set(s, index, count, max_bytes),
        _ => Err(Corrupt),
    }
}

/// `hllMerge`: `max[i] = max(max[i], register i)`.
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if encoding(s) == DENSE {
        let regs = &s[HDR..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        Ok(())
    } else {
        walk_sparse(s, |first, run, val| {
            for m in &mut max[first..first + run] {
                *m = (*m).max(val);
            }
        })
    }
}

// ----- estimator ----------------------------------------------------------------------------

/// Histogram of register values of an HLL (`hllDenseRegHisto` / `hllSparseRegHisto`).
pub fn histogram(s: &[u8]) -> Result<[u32; 64], Corrupt> {
    let mut h = [0u32; 64];
    if encoding(s) == DENSE {
        let regs = &s[HDR..];
        for i in 0..REGISTERS {
            h[dense_get(regs, i) as usize] += 1;
        }
    } else {
        walk_sparse(s, |_, run, val| h[val as usize] += run as u32)?;
    }
    Ok(h)
}

/// Histogram of a raw array of registers (`hllRawRegHisto`).
pub fn raw_histogram(regs: &[u8; REGISTERS]) -> [u32; 64] {
    let mut h = [0u32; 64];
    for &r in regs {
        h[(r & 63) as usize] += 1;
    }
    h
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        // Redis writes pow(1 - x, 2); compilers fold it to this exact product.
        z -= (1.0 - x) * (1.0 - x) * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// `hllCount`'s estimate from a register histogram (Ertl, arXiv:1702.01284).
pub fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The cardinality of one HLL.
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    Ok(estimate(&histogram(s)?))
}

/// `PFDEBUG DECODE`'s text of a sparse HLL.
pub fn decode(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < s.len() {
        let (run, val, len) = opcode(s, p);
        out.push(match (val, len) {
            (0, 1) => format!("z:{run}"),
            (0, _) => format!("Z:{run}"),
            _ => format!("v:{val},{run}"),
        });
        p += len;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every register of an HLL, whatever its encoding.
    fn registers(s: &[u8]) -> Vec<u8> {
        let mut max = [0u8; REGISTERS];
        merge_into(&mut max, s).expect("valid");
        max.to_vec()
    }

    #[test]
    fn murmur_matches_reference_values() {
        // Computed with Redis's C MurmurHash64A and seed 0xadc83b19.
        for (key, want) in [
            (&b""[..], 0xd8df_ea65_85bc_9732u64),
            (b"a", 0x53d2_470a_9b43_b1a7),
            (b"hello", 0x0f65_6f01_eecf_e400),
            (b"redis-hll", 0x1c75_0804_d02b_01d4),
            (b"0123456789abcdef!", 0xb917_c99b_031f_7674),
        ] {
            assert_eq!(murmur64a(key, 0xadc8_3b19), want, "{key:?}");
        }
        // "hello": index = low 14 bits, run = trailing zeros of the rest + 1.
        assert_eq!(pat_len(b"hello"), (0x2400, 1));
    }

    #[test]
    fn empty_hll_is_one_xzero() {
        let s = new_sparse();
        assert_eq!(s, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert!(is_hll(&s));
        assert_eq!(decode(&s), "Z:16384");
        assert_eq!(count(&s), Ok(0));
        assert_eq!(cached(&s), Some(0));
    }

    #[test]
    fn redis_example_layout() {
        // The example of hyperloglog.c: registers 1000, 1020, 1021 set to 2, 3, 3.
        let mut s = new_sparse();
        for (i, v) in [(1000, 2), (1020, 3), (1021, 3)] {
            assert_eq!(sparse_set(&mut s, i, v, 3000), Ok(true));
        }
        assert_eq!(decode(&s), "Z:1000 v:2,1 z:19 v:3,2 Z:15362");
        assert_eq!(sparse_set(&mut s, 1020, 2, 3000), Ok(false));
    }

    #[test]
    fn big_values_promote_to_dense() {
        let mut s = new_sparse();
        sparse_set(&mut s, 5, 33, 3000).expect("valid");
        assert_eq!(encoding(&s), DENSE);
        assert_eq!(s.len(), DENSE_SIZE);
        assert_eq!(dense_get(&s[HDR..], 5), 33);
        assert_eq!(dense_get(&s[HDR..], REGISTERS - 1), 0);
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut s = new_sparse();
        s.truncate(HDR + 1);
        s[HDR] = 0x3f; // ZERO:64 only
        assert_eq!(count(&s), Err(Corrupt));
        assert_eq!(sparse_to_dense(&s), Err(Corrupt));
        assert_eq!(sparse_set(&mut s, 1000, 1, 3000), Err(Corrupt));
        let mut over = new_sparse();
        over.push(0x00); // one register too many
        assert_eq!(count(&over), Err(Corrupt));
    }

    #[test]
    fn estimates_stay_close() {
        let mut s = new_sparse();
        for i in 0..20_000u32 {
            add(&mut s, &i.to_le_bytes(), 3000).expect("valid");
        }
        let c = count(&s).expect("valid") as f64;
        assert!((c - 20_000.0).abs() / 20_000.0 < 0.03, "{c}");
        assert_eq!(encoding(&s), DENSE);
    }

    proptest! {
        /// Sparse sets against an array of registers, promotion included; the sparse and
        /// dense encodings of the same registers count the same.
        #[test]
        fn sparse_matches_register_array(
            ops in prop::collection::vec((0usize..REGISTERS, 1u8..=40), 0..400),
            max_bytes in prop::sample::select(vec![40usize, 300, 3000]),
        ) {
            let mut s = new_sparse();
            let mut oracle = vec![0u8; REGISTERS];
            for (i, v) in ops {
                let changed = if encoding(&s) == SPARSE {
                    sparse_set(&mut s, i, v, max_bytes).expect("valid")
                } else {
                    dense_set(&mut s[HDR..], i, v)
                };
                prop_assert_eq!(changed, v > oracle[i]);
                oracle[i] = oracle[i].max(v);
                prop_assert!(encoding(&s) == DENSE || s.len() <= max_bytes.max(HDR + 2));
                prop_assert!(is_hll(&s));
            }
            prop_assert_eq!(registers(&s), oracle.clone());
            let dense = if encoding(&s) == SPARSE {
                sparse_to_dense(&s).expect("valid")
            } else {
                s.clone()
            };
            prop_assert_eq!(registers(&dense), oracle.clone());
            prop_assert_eq!(count(&dense), count(&s));
            let mut raw = [0u8; REGISTERS];
            raw.copy_from_slice(&oracle);
            prop_assert_eq!(estimate(&raw_histogram(&raw)), count(&s).expect("valid"));
        }

        /// The sparse form stays canonical: no two adjacent VALs that could be merged
        /// except where Redis's 5-opcode scan leaves them, and every run is within limits.
        #[test]
        fn sparse_runs_cover_all_registers(ops in prop::collection::vec((0usize..REGISTERS, 1u8..=32), 0..200)) {
            let mut s = new_sparse();
            for (i, v) in ops {
                sparse_set(&mut s, i, v, 100_000).expect("valid");
            }
            prop_assert_eq!(encoding(&s), SPARSE);
            let covered = walk_sparse(&s, |_, _, _| {});
            prop_assert!(covered.is_ok());
        }
    }
}
