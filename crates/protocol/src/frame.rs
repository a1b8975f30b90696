//! RESP2/RESP3 values and their client-side decoder and encoder (tests, scripting, replication).

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::int::string2ll;
use crate::reply::{format_double_reply, DOUBLE_TEXT_MAX};

/// Deepest nesting of aggregates [`parse_frame`] accepts.
pub const MAX_DEPTH: usize = 1024;
/// Never preallocate more elements than this, whatever count the peer announces.
const MAX_PREALLOC: usize = 1024;

/// One RESP2 or RESP3 value.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(Bytes),
    /// `-text`
    Error(Bytes),
    /// `:n`
    Integer(i64),
    /// `$len` and bytes
    Bulk(Bytes),
    /// RESP3 `_`
    Null,
    /// RESP2 `$-1`
    NullBulk,
    /// RESP2 `*-1`
    NullArray,
    /// `*len`
    Array(Vec<Frame>),
    /// RESP3 `%len`
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~len`
    Set(Vec<Frame>),
    /// RESP3 `>len`
    Push(Vec<Frame>),
    /// RESP3 `|len`: metadata about the frame that follows it.
    Attribute(Vec<(Frame, Frame)>),
    /// RESP3 `,text`
    Double(f64),
    /// RESP3 `#t` / `#f`
    Boolean(bool),
    /// RESP3 `(digits`
    BigNumber(Bytes),
    /// RESP3 `=len` and `fmt:text`
    Verbatim {
        /// The three-byte format, such as `txt` or `mkd`.
        format: [u8; 3],
        /// The text after `fmt:`.
        text: Bytes,
    },
    /// RESP3 `!len` and bytes
    BlobError(Bytes),
}

/// Malformed RESP.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The first byte names no RESP type.
    UnknownType(u8),
    /// A length that is not an integer, or is negative other than a `-1` null.
    InvalidLength,
    /// An integer frame that is not a valid i64.
    InvalidInteger,
    /// A double frame that is not a number, `inf`, `-inf` or `nan`.
    InvalidDouble,
    /// A boolean other than `t` or `f`.
    InvalidBoolean,
    /// A verbatim string shorter than 4 bytes or without `:` after its format.
    InvalidVerbatim,
    /// A line or blob not ended by `\r\n`.
    MissingCrlf,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A streamed string or aggregate (`?` length), which this decoder does not support.
    Streamed,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType(b) => write!(f, "unknown resp type byte {b:#04x}"),
            Self::InvalidLength => f.write_str("invalid length"),
            Self::InvalidInteger => f.write_str("invalid integer"),
            Self::InvalidDouble => f.write_str("invalid double"),
            Self::InvalidBoolean => f.write_str("invalid boolean"),
            Self::InvalidVerbatim => f.write_str("invalid verbatim string"),
            Self::MissingCrlf => f.write_str("missing crlf"),
            Self::TooDeep => write!(f, "aggregates nested deeper than {MAX_DEPTH}"),
            Self::Streamed => f.write_str("streamed strings and aggregates are not supported"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Kinds of aggregate, while their elements are being read.
#[derive(Clone, Copy, Debug)]
enum AggKind {
    Array,
    Map,
    Set,
    Push,
    Attribute,
}

/// An aggregate whose elements are still being read.
struct Open {
    kind: AggKind,
    /// Elements still to read (two per pair for maps and attributes).
    remaining: usize,
    items: Vec<Frame>,
}

impl Open {
    fn finish(self) -> Frame {
        match self.kind {
            AggKind::Array => Frame::Array(self.items),
            AggKind::Set => Frame::Set(self.items),
            AggKind::Push => Frame::Push(self.items),
            AggKind::Map => Frame::Map(pairs(self.items)),
            AggKind::Attribute => Frame::Attribute(pairs(self.items)),
        }
    }
}

fn pairs(items: Vec<Frame>) -> Vec<(Frame, Frame)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// One token: a complete scalar, or the header of an aggregate.
enum Token {
    Scalar(Frame),
    Aggregate(AggKind, usize),
}

/// Parses one frame from the start of `src`: `Ok(Some((frame, consumed)))`, `Ok(None)` if
/// `src` holds only part of a frame, `Err` if it is malformed.
///
/// The parser keeps its own stack (no recursion) and refuses nesting deeper than
/// [`MAX_DEPTH`]. Streamed strings and aggregates (`$?`, `*?`, …) are refused with
/// [`FrameError::Streamed`]. A top-level attribute is returned as its own
/// [`Frame::Attribute`] (the frame it describes is the next one); attributes nested inside
/// an aggregate are read and dropped, since they are not elements of it.
pub fn parse_frame(src: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let mut pos = 0;
    let mut stack: Vec<Open> = Vec::new();
    loop {
        let Some((token, next)) = parse_token(src, pos)? else {
            return Ok(None);
        };
        pos = next;
        let mut frame = match token {
            Token::Scalar(frame) => frame,
            Token::Aggregate(kind, 0) => Open {
                kind,
                remaining: 0,
                items: Vec::new(),
            }
            .finish(),
            Token::Aggregate(kind, n) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(FrameError::TooDeep);
                }
                let remaining = match kind {
                    AggKind::Map | AggKind::Attribute => {
                        n.checked_mul(2).ok_or(FrameError::InvalidLength)?
                    }
                    _ => n,
                };
                stack.push(Open {
                    kind,
                    remaining,
                    items: Vec::with_capacity(remaining.min(MAX_PREALLOC)),
                });
                continue;
            }
        };
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(Some((frame, pos)));
            };
            if matches!(frame, Frame::Attribute(_)) {
                break;
            }
            top.items.push(frame);
            top.remaining -= 1;
            if top.remaining > 0 {
                break;
            }
            match stack.pop() {
                Some(open) => frame = open.finish(),
                None => break,
            }
        }
    }
}

/// Reads the line starting at `pos` up to its `\r\n`: `(line, position after it)`.
fn line(src: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let rest = src.get(pos..).unwrap_or_default();
    let Some(cr) = memchr::memchr(b'\r', rest) else {
        return Ok(None);
    };
    match rest.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((&rest[..cr], pos + cr + 2))),
        Some(_) => Err(FrameError::MissingCrlf),
    }
}

/// Parses a length: `Ok(Some(n))`, `Ok(None)` for `-1`.
fn length(text: &[u8]) -> Result<Option<usize>, FrameError> {
    if text == b"?" {
        return Err(FrameError::Streamed);
    }
    match string2ll(text) {
        Some(-1) => Ok(None),
        Some(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| FrameError::InvalidLength),
        None => Err(FrameError::InvalidLength),
    }
}

/// Reads `len` bytes at `pos` followed by `\r\n`.
fn blob(src: &[u8], pos: usize, len: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let end = pos.checked_add(len).ok_or(FrameError::InvalidLength)?;
    let Some(tail) = src.get(end..end.saturating_add(2)) else {
        return Ok(None);
    };
    if tail.len() < 2 {
        return Ok(None);
    }
    if tail != b"\r\n" {
        return Err(FrameError::MissingCrlf);
    }
    Ok(Some((&src[pos..end], end + 2)))
}

fn parse_token(src: &[u8], pos: usize) -> Result<Option<(Token, usize)>, FrameError> {
    let Some(&kind) = src.get(pos) else {
        return Ok(None);
    };
    let Some((text, mut next)) = line(src, pos + 1)? else {
        return Ok(None);
    };
    let copy = Bytes::copy_from_slice;
    let scalar = |f: Frame| Token::Scalar(f);
    let token = match kind {
        b'+' => scalar(Frame::Simple(copy(text))),
        b'-' => scalar(Frame::Error(copy(text))),
        b':' => scalar(Frame::Integer(
            string2ll(text).ok_or(FrameError::InvalidInteger)?,
        )),
        b'(' => scalar(Frame::BigNumber(copy(text))),
        b'_' if text.is_empty() => scalar(Frame::Null),
        b'_' => return Err(FrameError::InvalidLength),
        b'#' => scalar(Frame::Boolean(match text {
            b"t" => true,
            b"f" => false,
            _ => return Err(FrameError::InvalidBoolean),
        })),
        b',' => scalar(Frame::Double(parse_double(text)?)),
        b'$' | b'!' | b'=' => {
            let Some(len) = length(text)? else {
                if kind == b'$' {
                    return Ok(Some((scalar(Frame::NullBulk), next)));
                }
                return Err(FrameError::InvalidLength);
            };
            let Some((data, after)) = blob(src, next, len)? else {
                return Ok(None);
            };
            next = after;
            scalar(match kind {
                b'$' => Frame::Bulk(copy(data)),
                b'!' => Frame::BlobError(copy(data)),
                _ => match data {
                    [a, b, c, b':', text @ ..] => Frame::Verbatim {
                        format: [*a, *b, *c],
                        text: copy(text),
                    },
                    _ => return Err(FrameError::InvalidVerbatim),
                },
            })
        }
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let agg = match kind {
                b'*' => AggKind::Array,
                b'%' => AggKind::Map,
                b'~' => AggKind::Set,
                b'>' => AggKind::Push,
                _ => AggKind::Attribute,
            };
            match length(text)? {
                Some(n) => Token::Aggregate(agg, n),
                None if kind == b'*' => scalar(Frame::NullArray),
                None => return Err(FrameError::InvalidLength),
            }
        }
        other => return Err(FrameError::UnknownType(other)),
    };
    Ok(Some((token, next)))
}

fn parse_double(text: &[u8]) -> Result<f64, FrameError> {
    match text {
        b"inf" | b"+inf" => return Ok(f64::INFINITY),
        b"-inf" => return Ok(f64::NEG_INFINITY),
        b"nan" | b"-nan" => return Ok(f64::NAN),
        _ => {}
    }
    // Only plain decimal or scientific notation; Rust would also take "infinity" etc.
    if text.is_empty()
        || !text
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return Err(FrameError::InvalidDouble);
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(FrameError::InvalidDouble)
}

impl Frame {
    /// Appends the canonical RESP3 encoding of `self` (`Null` as `_`, `NullBulk` as `$-1`,
    /// `NullArray` as `*-1`). Simple strings and errors must not hold `\r` or `\n`.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut stack: Vec<&Frame> = vec![self];
        while let Some(frame) = stack.pop() {
            encode_one(frame, out, &mut stack);
        }
    }
}

/// Writes one frame, pushing its children (in reverse) for the caller to write next.
fn encode_one<'a>(frame: &'a Frame, out: &mut BytesMut, stack: &mut Vec<&'a Frame>) {
    let line = |out: &mut BytesMut, prefix: u8, text: &[u8]| {
        out.extend_from_slice(&[prefix]);
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    };
    let header = |out: &mut BytesMut, prefix: u8, n: usize| {
        let mut digits = itoa::Buffer::new();
        line(out, prefix, digits.format(n).as_bytes());
    };
    let blob = |out: &mut BytesMut, prefix: u8, data: &[u8]| {
        header(out, prefix, data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    };
    match frame {
        Frame::Simple(s) => line(out, b'+', s),
        Frame::Error(s) => line(out, b'-', s),
        Frame::Integer(n) => line(out, b':', itoa::Buffer::new().format(*n).as_bytes()),
        Frame::Bulk(b) => blob(out, b'$', b),
        Frame::BlobError(b) => blob(out, b'!', b),
        Frame::Null => out.extend_from_slice(b"_\r\n"),
        Frame::NullBulk => out.extend_from_slice(b"$-1\r\n"),
        Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
        Frame::Double(d) => {
            let mut tmp = [0u8; DOUBLE_TEXT_MAX];
            line(out, b',', format_double_reply(*d, &mut tmp));
        }
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::BigNumber(b) => line(out, b'(', b),
        Frame::Verbatim { format, text } => {
            header(out, b'=', text.len() + 4);
            out.extend_from_slice(format);
            out.extend_from_slice(b":");
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let prefix = match frame {
                Frame::Array(_) => b'*',
                Frame::Set(_) => b'~',
                _ => b'>',
            };
            header(out, prefix, items.len());
            stack.extend(items.iter().rev());
        }
        Frame::Map(pairs) | Frame::Attribute(pairs) => {
            header(
                out,
                if matches!(frame, Frame::Map(_)) {
                    b'%'
                } else {
                    b'|'
                },
                pairs.len(),
            );
            for (k, v) in pairs.iter().rev() {
                stack.push(v);
                stack.push(k);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "frame_tests.rs"]
mod tests;
