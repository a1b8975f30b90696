//! `LongDouble`: the C `long double` Redis computes INCRBYFLOAT and HINCRBYFLOAT in — parsed
//! with `strtold` (Redis's `string2ld`), added in extended precision and printed with `%.17Lf`
//! with trailing zeros trimmed (Redis's `ld2string` in `LD_STR_HUMAN` mode). On x86_64 that
//! is the 80-bit x87 format, so `0.1 + 0.2` prints `0.3` as in Redis, where an `f64` sum
//! gives `0.30000000000000004`. The arithmetic is the platform's own, through a small C file
//! (`csrc/longdouble.c`), because Rust has no `long double`; every platform then behaves as
//! Redis built for it does.

use std::ffi::{c_char, c_int, c_longlong, c_void};

extern "C" {
    fn cinnabar_ld_parse(s: *const c_char, len: usize, out: *mut c_void) -> c_int;
    fn cinnabar_ld_from_i64(v: c_longlong, out: *mut c_void);
    fn cinnabar_ld_add(a: *const c_void, b: *const c_void, out: *mut c_void);
    fn cinnabar_ld_is_finite(a: *const c_void) -> c_int;
    fn cinnabar_ld_format_human(a: *const c_void, buf: *mut c_char, len: usize) -> usize;
}

/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer texts are not floats, and every printed value fits.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// A C `long double`, stored as its (at most 16) bytes.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct LongDouble {
    bytes: [u8; 16],
}

impl LongDouble {
    const ZERO_BYTES: [u8; 16] = [0; 16];

    /// Parses `s` as Redis's `string2ld`: what `strtold` reads entirely (decimal, hex,
    /// `inf`), not starting with a space, not NaN, not out of range; at most 5 KiB.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        let mut out = LongDouble {
            bytes: Self::ZERO_BYTES,
        };
        // SAFETY: `s` is valid for `s.len()` bytes; `out` has room for a long double (the C
        // side checks `sizeof(long double) <= 16` at compile time) and is only written.
        let ok =
            unsafe { cinnabar_ld_parse(s.as_ptr().cast(), s.len(), out.bytes.as_mut_ptr().cast()) };
        (ok == 1).then_some(out)
    }

    /// The integer `v` (exact: a long double has at least a 64-bit mantissa on x86_64).
    pub fn from_i64(v: i64) -> LongDouble {
        let mut out = LongDouble {
            bytes: Self::ZERO_BYTES,
        };
        // SAFETY: `out` has room for a long double and is only written.
        unsafe { cinnabar_ld_from_i64(v, out.bytes.as_mut_ptr().cast()) };
        out
    }

    /// Zero.
    pub fn zero() -> LongDouble {
        LongDouble::from_i64(0)
    }

    /// Neither NaN nor infinite.
    pub fn is_finite(&self) -> bool {
        // SAFETY: `self` holds a long double written by the C side.
        unsafe { cinnabar_ld_is_finite(self.bytes.as_ptr().cast()) == 1 }
    }

    /// `%.17Lf` with trailing zeros (and a bare point) removed, `-0` as `0`, `inf`/`-inf`.
    pub fn to_human(&self) -> String {
        let mut buf = vec![0u8; MAX_LONG_DOUBLE_CHARS];
        // SAFETY: `buf` is writable for its length, which the C side never exceeds.
        let n = unsafe {
            cinnabar_ld_format_human(
                self.bytes.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        buf.truncate(n);
        // The C side prints only ASCII digits, signs, '.', and "inf"/"nan".
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    fn add(self, rhs: LongDouble) -> LongDouble {
        let mut out = LongDouble {
            bytes: Self::ZERO_BYTES,
        };
        // SAFETY: both operands hold long doubles; `out` is only written.
        unsafe {
            cinnabar_ld_add(
                self.bytes.as_ptr().cast(),
                rhs.bytes.as_ptr().cast(),
                out.bytes.as_mut_ptr().cast(),
            )
        };
        out
    }
}

impl std::fmt::Debug for LongDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_human())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).expect("a");
        let b = LongDouble::parse(b.as_bytes()).expect("b");
        (a + b).to_human()
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("3.0e3", "200"), "3200");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("-0", "0"), "0");
        assert_eq!(sum("-0.0", "-0.0"), "0");
        assert_eq!(sum("1.5", "-1.5"), "0");
        assert_eq!(sum("0x10", "1"), "17");
    }

    #[test]
    fn parse_follows_string2ld() {
        for bad in [
            "", " 1", "1 ", "abc", "nan", "-nan", "1e99999", "-1e99999", "1e-99999",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(LongDouble::parse(&vec![b'1'; MAX_LONG_DOUBLE_CHARS]).is_none());
        for good in [
            "1",
            "+1",
            "-1.5",
            "1e10",
            "inf",
            "-Infinity",
            "0x1p3",
            ".5",
            "5.",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        let inf = LongDouble::parse(b"inf").expect("inf");
        assert!(!inf.is_finite());
        assert_eq!(inf.to_human(), "inf");
        assert_eq!(LongDouble::parse(b"-inf").expect("-inf").to_human(), "-inf");
    }

    #[test]
    fn integers_convert_exactly() {
        assert_eq!(
            LongDouble::from_i64(i64::MAX).to_human(),
            "9223372036854775807"
        );
        assert_eq!(
            LongDouble::from_i64(i64::MIN).to_human(),
            "-9223372036854775808"
        );
        assert_eq!(LongDouble::zero().to_human(), "0");
    }
}
