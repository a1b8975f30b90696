//! `Value`: what a key holds. Strings are stored as integers when they are canonical
//! integers, inline when short, boxed otherwise; collections live behind one pointer.

use crate::compact::INLINE_CAP;

/// The value of a key. 24 bytes; short strings and integers need no heap allocation.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string of at most [`INLINE_CAP`] bytes stored in place.
    Inline { len: u8, data: [u8; INLINE_CAP] },
    /// A longer string.
    Heap(Box<[u8]>),
    /// A string that is the canonical decimal form of an i64 (Redis's "int" encoding).
    Int(i64),
}

/// The data type of a value, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    String,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
        }
    }

    /// Parses a TYPE name as SCAN's TYPE option accepts it (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Kind> {
        if name.eq_ignore_ascii_case(b"string") {
            Some(Kind::String)
        } else {
            None
        }
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

    pub fn kind(&self) -> Kind {
        match self {
            Value::Inline { .. } | Value::Heap(_) | Value::Int(_) => Kind::String,
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
        }
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline { .. } => "embstr",
            Value::Heap(b) if b.len() <= 44 => "embstr",
            Value::Heap(_) => "raw",
        }
    }

    /// Heap bytes owned beyond the value itself (for MEMORY USAGE and eviction).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Inline { .. } | Value::Int(_) => 0,
            Value::Heap(b) => b.len(),
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
}
