//! Argument parsing helpers with Redis's rules and error texts.

use crate::errors::{CmdError, NOT_FLOAT, NOT_INTEGER};

/// Parses a strict integer as Redis's `string2ll` (no spaces, no `+`, no leading zeros).
#[inline]
pub fn parse_i64(arg: &[u8]) -> Result<i64, CmdError> {
    keyspace::parse_canonical_i64(arg).ok_or(NOT_INTEGER)
}

/// Parses an integer that must be >= 0.
pub fn parse_u64(arg: &[u8], err: CmdError) -> Result<u64, CmdError> {
    match keyspace::parse_canonical_i64(arg) {
        Some(v) if v >= 0 => Ok(v as u64),
        _ => Err(err),
    }
}

/// Parses a float as Redis's `getLongDoubleFromObject`: no spaces, no NaN.
pub fn parse_f64(arg: &[u8]) -> Result<f64, CmdError> {
    let s = std::str::from_utf8(arg).map_err(|_| NOT_FLOAT)?;
    if s.is_empty()
        || s.starts_with(|c: char| c.is_ascii_whitespace())
        || s.ends_with(|c: char| c.is_ascii_whitespace())
    {
        return Err(NOT_FLOAT);
    }
    let lower = s.to_ascii_lowercase();
    let v: f64 = match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        _ => s.parse().map_err(|_| NOT_FLOAT)?,
    };
    if v.is_nan() {
        return Err(NOT_FLOAT);
    }
    Ok(v)
}

/// Case-insensitive comparison of an argument with an option name.
#[inline]
pub fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// Lossy text of an argument, for messages.
pub fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// Parses a SCAN cursor as Redis 7.4's `parseScanCursorOrReply` (`strtoul` in base 10, no
/// leading space, nothing after the digits; a leading `-` negates modulo 2^64 as `strtoul`
/// does, and the empty string is cursor 0).
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let (neg, digits) = match arg.first() {
        None => return Ok(0),
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(crate::errors::INVALID_CURSOR);
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(crate::errors::INVALID_CURSOR)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_redis() {
        assert_eq!(parse_f64(b"1.5"), Ok(1.5));
        assert_eq!(parse_f64(b"1e3"), Ok(1000.0));
        assert_eq!(parse_f64(b"-inf"), Ok(f64::NEG_INFINITY));
        assert!(parse_f64(b" 1").is_err());
        assert!(parse_f64(b"nan").is_err());
        assert!(parse_f64(b"").is_err());
        assert!(parse_f64(b"abc").is_err());
    }
}
