//! `Value`: what a key holds. Strings are stored as integers when they are canonical
//! integers, inline when short, boxed otherwise; collections live behind one pointer.

use crate::compact::INLINE_CAP;
use crate::types::{Hash, List, Set, Stream, ZSet};

/// The value of a key. 24 bytes; short strings and integers need no heap allocation.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string of at most [`INLINE_CAP`] bytes stored in place.
    Inline {
        len: u8,
        data: [u8; INLINE_CAP],
    },
    /// A longer string.
    Heap(Box<[u8]>),
    /// A string that is the canonical decimal form of an i64 (Redis's "int" encoding).
    Int(i64),
    Hash(Box<Hash>),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
    Json(Box<json::Document>),
}

/// The data type of a value, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    String,
    Hash,
    List,
    Set,
    ZSet,
    Stream,
    Json,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Stream => "stream",
            Kind::Json => "ReJSON-RL",
        }
    }

    /// Parses a TYPE name as SCAN's TYPE option accepts it (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Kind> {
        [
            Kind::String,
            Kind::Hash,
            Kind::List,
            Kind::Set,
            Kind::ZSet,
            Kind::Stream,
            Kind::Json,
        ]
        .into_iter()
        .find(|k| k.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Parses `s` as Redis's `string2ll` does: the canonical decimal form of an i64 only
/// (no sign `+`, no leading zeros, no spaces, no `-0`).
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// Longest text Redis's `string2ld` accepts (`MAX_LONG_DOUBLE_CHARS`).
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Parses a float as Redis's `string2ld` (strtold) does for INCRBYFLOAT: no leading space,
/// the whole text consumed, no NaN, no overflow. Redis works in `long double`; this is the
/// closest `f64`. Hexadecimal floats (`0x1p3`), which strtold takes, are refused.
pub fn parse_long_double(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS || s[0].is_ascii_whitespace() {
        return None;
    }
    let t = std::str::from_utf8(s).ok()?;
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Only decimal syntax from here on (Rust would also take "nan" and "inf" spellings).
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    // A finite text that overflows is strtold's ERANGE.
    v.is_finite().then_some(v)
}

/// Formats a float as Redis's `ld2string` in human mode (INCRBYFLOAT's reply): fixed
/// notation, at most 17 decimals, trailing zeros dropped, `-0` as `0`. Redis prints a
/// `long double` with `%.17Lf`; from an `f64` the shortest exact decimal is closer to what
/// users see (`10.5 + 0.1` gives `10.6`).
pub fn format_long_double_human(v: f64) -> String {
    let mut s = format!("{v}");
    if let Some(dot) = s.find('.') {
        if s.len() - dot - 1 > 17 {
            s = format!("{v:.17}");
            let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
            s.truncate(trimmed);
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

impl Value {
    /// A string value, integer-encoded when `bytes` is a canonical integer.
    pub fn string(bytes: &[u8]) -> Value {
        if let Some(i) = parse_canonical_i64(bytes) {
            return Value::Int(i);
        }
        Value::raw(bytes)
    }

    /// A string value kept as bytes (never integer-encoded).
    pub fn raw(bytes: &[u8]) -> Value {
        if bytes.len() <= INLINE_CAP {
            let mut data = [0u8; INLINE_CAP];
            data[..bytes.len()].copy_from_slice(bytes);
            Value::Inline {
                len: bytes.len() as u8,
                data,
            }
        } else {
            Value::Heap(bytes.into())
        }
    }

    /// A string value from owned bytes, integer-encoded when canonical.
    pub fn string_from_vec(bytes: Vec<u8>) -> Value {
        if bytes.len() <= INLINE_CAP || parse_canonical_i64(&bytes).is_some() {
            Value::string(&bytes)
        } else {
            Value::Heap(bytes.into_boxed_slice())
        }
    }

    /// A string value from owned bytes, kept as bytes (never integer-encoded).
    pub fn raw_from_vec(bytes: Vec<u8>) -> Value {
        if bytes.len() <= INLINE_CAP {
            Value::raw(&bytes)
        } else {
            Value::Heap(bytes.into_boxed_slice())
        }
    }

    /// Takes the bytes of a string value out, leaving an empty string behind.
    fn take_vec(&mut self) -> Vec<u8> {
        match std::mem::replace(self, Value::raw(b"")) {
            Value::Heap(b) => b.into_vec(),
            other => other.to_vec().unwrap_or_default(),
        }
    }

    /// Appends `extra` to a string value (APPEND); the result is kept as bytes.
    /// Returns the new length.
    pub fn append(&mut self, extra: &[u8]) -> usize {
        let mut v = self.take_vec();
        v.reserve_exact(extra.len());
        v.extend_from_slice(extra);
        let n = v.len();
        *self = Value::raw_from_vec(v);
        n
    }

    /// Overwrites the string value from `offset` with `data`, padding with zero bytes
    /// (SETRANGE); the result is kept as bytes. Returns the new length.
    pub fn set_range(&mut self, offset: usize, data: &[u8]) -> usize {
        let end = offset + data.len();
        if let Value::Heap(b) = self {
            if end <= b.len() {
                b[offset..end].copy_from_slice(data);
                return b.len();
            }
        }
        let mut v = self.take_vec();
        if v.len() < end {
            v.reserve_exact(end - v.len());
            v.resize(end, 0);
        }
        v[offset..end].copy_from_slice(data);
        let n = v.len();
        *self = Value::raw_from_vec(v);
        n
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Inline { .. } | Value::Heap(_) | Value::Int(_) => Kind::String,
            Value::Hash(_) => Kind::Hash,
            Value::List(_) => Kind::List,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
            Value::Stream(_) => Kind::Stream,
            Value::Json(_) => Kind::Json,
        }
    }

    pub fn is_string(&self) -> bool {
        self.kind() == Kind::String
    }

    /// The bytes of a string value; integers are formatted into `buf`. None for other types.
    #[inline]
    pub fn as_bytes<'a>(&'a self, buf: &'a mut itoa::Buffer) -> Option<&'a [u8]> {
        match self {
            Value::Inline { len, data } => Some(&data[..*len as usize]),
            Value::Heap(b) => Some(b),
            Value::Int(i) => Some(buf.format(*i).as_bytes()),
            _ => None,
        }
    }

    /// Owned copy of a string value's bytes.
    pub fn to_vec(&self) -> Option<Vec<u8>> {
        let mut buf = itoa::Buffer::new();
        self.as_bytes(&mut buf).map(<[u8]>::to_vec)
    }

    /// Length in bytes of a string value.
    pub fn str_len(&self) -> Option<usize> {
        match self {
            Value::Inline { len, .. } => Some(*len as usize),
            Value::Heap(b) => Some(b.len()),
            Value::Int(i) => Some(itoa::Buffer::new().format(*i).len()),
            _ => None,
        }
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline { .. } => "embstr",
            Value::Heap(b) if b.len() <= 44 => "embstr",
            Value::Heap(_) => "raw",
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
            Value::Json(_) => "raw",
        }
    }

    /// Heap bytes owned beyond the value itself (for MEMORY USAGE and eviction).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Inline { .. } | Value::Int(_) => 0,
            Value::Heap(b) => b.len(),
            Value::Hash(h) => std::mem::size_of::<Hash>() + h.heap_size(),
            Value::List(l) => std::mem::size_of::<List>() + l.heap_size(),
            Value::Set(s) => std::mem::size_of::<Set>() + s.heap_size(),
            Value::ZSet(z) => std::mem::size_of::<ZSet>() + z.heap_size(),
            Value::Stream(s) => std::mem::size_of::<Stream>() + s.heap_size(),
            Value::Json(d) => std::mem::size_of::<json::Document>() + d.heap_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn canonical_integers_only() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-12"), Some(-12));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
            b"-",
        ] {
            assert_eq!(parse_canonical_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn strings_encode_as_redis_does() {
        assert!(matches!(Value::string(b"123"), Value::Int(123)));
        assert!(matches!(Value::string(b"0123"), Value::Inline { .. }));
        assert_eq!(Value::string(b"123").encoding(), "int");
        assert_eq!(Value::string(b"hello").encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 45]).encoding(), "raw");
        let mut buf = itoa::Buffer::new();
        assert_eq!(Value::string(b"-42").as_bytes(&mut buf), Some(&b"-42"[..]));
        assert_eq!(Value::string_from_vec(vec![b'y'; 30]).str_len(), Some(30));
    }
    #[test]
    fn append_and_set_range_keep_bytes() {
        let mut v = Value::string(b"12");
        assert_eq!(v.append(b"3"), 3);
        assert!(!matches!(v, Value::Int(_)));
        assert_eq!(v.to_vec(), Some(b"123".to_vec()));
        assert_eq!(v.append(&[b'x'; 30]), 33);
        assert_eq!(v.set_range(1, b"ab"), 33);
        assert_eq!(v.to_vec().map(|b| b[..4].to_vec()), Some(b"1abx".to_vec()));
        let mut w = Value::raw(b"");
        assert_eq!(w.set_range(3, b"z"), 4);
        assert_eq!(w.to_vec(), Some(b"\0\0\0z".to_vec()));
        let mut h = Value::raw(&[b'a'; 40]);
        assert_eq!(h.set_range(38, b"bcd"), 41);
        assert_eq!(h.to_vec().map(|b| b[37..].to_vec()), Some(b"abcd".to_vec()));
    }

    #[test]
    fn floats_as_incrbyfloat_sees_them() {
        assert_eq!(parse_long_double(b"10.5"), Some(10.5));
        assert_eq!(parse_long_double(b"+.5"), Some(0.5));
        assert_eq!(parse_long_double(b"5."), Some(5.0));
        assert_eq!(parse_long_double(b"3.0e3"), Some(3000.0));
        assert_eq!(parse_long_double(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e",
            b"abc",
            b"1e5000",
            b"0x10",
            b"1,5",
        ] {
            assert_eq!(parse_long_double(bad), None, "{:?}", bad);
        }
        assert_eq!(format_long_double_human(10.5 + 0.1), "10.6");
        assert_eq!(format_long_double_human(3000.0), "3000");
        assert_eq!(format_long_double_human(-0.0), "0");
        assert_eq!(format_long_double_human(1e-20), "0");
        assert_eq!(format_long_double_human(-1e-20), "0");
        assert_eq!(format_long_double_human(1.5e-10), "0.00000000015");
        assert_eq!(format_long_double_human(1e20), "100000000000000000000");
    }
}
