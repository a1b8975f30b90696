//! Server-side request decoder: inline and multibulk commands, read the way Redis 7.4's
//! `processInlineBuffer` / `processMultibulkBuffer` (networking.c) read them.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use crate::int::string2ll;

/// Redis's default `proto-max-bulk-len`.
pub const DEFAULT_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Redis's `PROTO_INLINE_MAX_SIZE`: longest inline line, and longest `*N` / `$N` header.
pub const DEFAULT_MAX_INLINE_LEN: usize = 64 * 1024;
/// Largest multibulk count a client that still has to authenticate may send.
const UNAUTH_MAX_MULTIBULK: i64 = 10;
/// Largest bulk a client that still has to authenticate may send.
const UNAUTH_MAX_BULK: i64 = 16 * 1024;
/// Redis refuses multibulk counts above `INT_MAX`.
const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// Redis's `PROTO_MBULK_BIG_ARG`: from this size on, room for the whole bulk is reserved at once.
const BIG_ARG: usize = 32 * 1024;
/// Never preallocate more argument slots than this, whatever count the client announces.
const MAX_PREALLOC_ARGS: usize = 1024;

/// Limits applied while decoding one client's requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`: longest bulk argument accepted.
    pub max_bulk_len: u64,
    /// Longest inline request, and longest `*N` / `$N` header line while its `\r` is missing.
    pub max_inline_len: usize,
    /// `false` applies Redis's limits for clients that must still authenticate:
    /// a multibulk count above 10 or a bulk above 16384 bytes is refused.
    pub authenticated: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_inline_len: DEFAULT_MAX_INLINE_LEN,
            authenticated: true,
        }
    }
}

/// A malformed request. Redis answers `-ERR <message>` and closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// `*N` where N is not an integer or is above `INT_MAX`.
    InvalidMultibulkLength,
    /// `*N` with N above 10 from a client that has not authenticated.
    UnauthenticatedMultibulkLength,
    /// `$N` where N is not an integer, is negative or exceeds `proto-max-bulk-len`.
    InvalidBulkLength,
    /// `$N` with N above 16384 from a client that has not authenticated.
    UnauthenticatedBulkLength,
    /// A multibulk element did not start with `$`; holds the byte found instead.
    ExpectedDollar(u8),
    /// An inline request longer than the limit without a newline.
    TooBigInlineRequest,
    /// An inline request whose quotes do not balance.
    UnbalancedQuotes,
    /// A `*N` header longer than the limit without its `\r`.
    TooBigMbulkCountString,
    /// A `$N` header longer than the limit without its `\r`.
    TooBigBulkCountString,
}

impl ProtocolError {
    /// The exact bytes Redis puts after `-ERR ` in its reply. Differs from [`fmt::Display`]
    /// only for [`ProtocolError::ExpectedDollar`] with a byte that is not ASCII, which Redis
    /// echoes raw (and `\r` / `\n`, which it turns into spaces, as Display does too).
    pub fn message(&self) -> Vec<u8> {
        match self {
            Self::ExpectedDollar(b) => {
                let shown = if matches!(b, b'\r' | b'\n') { b' ' } else { *b };
                let mut out = b"Protocol error: expected '$', got '".to_vec();
                out.push(shown);
                out.push(b'\'');
                out
            }
            other => other.to_string().into_bytes(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::InvalidMultibulkLength => "invalid multibulk length",
            Self::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            Self::InvalidBulkLength => "invalid bulk length",
            Self::UnauthenticatedBulkLength => "unauthenticated bulk length",
            Self::ExpectedDollar(b) => {
                let shown = if matches!(b, b'\r' | b'\n') {
                    ' '
                } else {
                    char::from(*b)
                };
                return write!(f, "Protocol error: expected '$', got '{shown}'");
            }
            Self::TooBigInlineRequest => "too big inline request",
            Self::UnbalancedQuotes => "unbalanced quotes in request",
            Self::TooBigMbulkCountString => "too big mbulk count string",
            Self::TooBigBulkCountString => "too big bulk count string",
        };
        write!(f, "Protocol error: {text}")
    }
}

impl std::error::Error for ProtocolError {}

/// Where the decoder stands inside the command it is reading.
#[derive(Debug, Default)]
enum State {
    /// Between commands.
    #[default]
    Idle,
    /// Reading an inline line; `scanned` bytes are known to hold no `\n`.
    Inline { scanned: usize },
    /// Reading the `*N` line; `scanned` bytes are known to hold no `\r`.
    Count { scanned: usize },
    /// Reading the elements of a multibulk; finished ones are already out of the buffer.
    Args {
        remaining: usize,
        args: Vec<Bytes>,
        /// Length of the bulk being read, once its `$N` line is consumed.
        bulk: Option<usize>,
        /// Bytes of the `$N` line known to hold no `\r`.
        scanned: usize,
    },
}

/// What one step of the state machine produced.
enum Step {
    Command(Vec<Bytes>),
    Skipped,
    NeedMore,
    Continue,
}

/// Incremental request decoder for one connection.
///
/// Finished multibulk elements are split off the buffer as soon as they are complete, and
/// header scans resume where the previous call stopped, so a large request arriving in
/// many reads is never rescanned from its start. After an error the decoder is reset, but
/// like Redis the caller should reply and close the connection.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    state: State,
    needed: usize,
}

impl RequestDecoder {
    /// A decoder waiting for the first byte of a command.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes the bytes of one complete command from `buf` and returns its arguments
    /// (zero-copy slices of the buffer for multibulk requests), or `Ok(None)` if more bytes
    /// are needed. Empty inline lines and `*0` / `*-1` multibulks are consumed and skipped.
    ///
    /// On `Ok(None)` some bytes may already have been consumed into the decoder's state:
    /// call again with the same buffer once more bytes were appended.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &RequestLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        self.needed = 0;
        loop {
            match self.step(buf, limits) {
                Ok(Step::Command(args)) => return Ok(Some(args)),
                Ok(Step::NeedMore) => return Ok(None),
                Ok(Step::Skipped | Step::Continue) => {}
                Err(e) => {
                    self.state = State::Idle;
                    return Err(e);
                }
            }
        }
    }

    /// How many more bytes the decoder knows it needs: the rest of a bulk whose length was
    /// read, as of the last [`RequestDecoder::decode`] call; 0 when it does not know.
    pub fn bytes_needed(&self) -> usize {
        self.needed
    }

    fn step(&mut self, buf: &mut BytesMut, limits: &RequestLimits) -> Result<Step, ProtocolError> {
        match &mut self.state {
            State::Idle => {
                let Some(&first) = buf.first() else {
                    return Ok(Step::NeedMore);
                };
                self.state = if first == b'*' {
                    State::Count { scanned: 0 }
                } else {
                    State::Inline { scanned: 0 }
                };
                Ok(Step::Continue)
            }
            State::Inline { scanned } => {
                let nl = match find(buf, *scanned, b'\n') {
                    Ok(nl) => nl,
                    Err(resume) => {
                        *scanned = resume;
                        if buf.len() > limits.max_inline_len {
                            return Err(ProtocolError::TooBigInlineRequest);
                        }
                        return Ok(Step::NeedMore);
                    }
                };
                let (line_len, eol) = if nl > 0 && buf.get(nl - 1) == Some(&b'\r') {
                    (nl - 1, 2)
                } else {
                    (nl, 1)
                };
                let args = split_args(&buf[..line_len]).ok_or(ProtocolError::UnbalancedQuotes)?;
                buf.advance(line_len + eol);
                self.state = State::Idle;
                Ok(if args.is_empty() {
                    Step::Skipped
                } else {
                    Step::Command(args)
                })
            }
            State::Count { scanned } => {
                let cr = match find(buf, *scanned, b'\r') {
                    Ok(cr) => cr,
                    Err(resume) => {
                        *scanned = resume;
                        if buf.len() > limits.max_inline_len {
                            return Err(ProtocolError::TooBigMbulkCountString);
                        }
                        return Ok(Step::NeedMore);
                    }
                };
                // Redis waits until one more byte follows the `\r`; it does not check it is `\n`.
                if cr + 2 > buf.len() {
                    *scanned = cr;
                    return Ok(Step::NeedMore);
                }
                let count = match string2ll(buf.get(1..cr).unwrap_or_default()) {
                    Some(n) if n <= MAX_MULTIBULK => n,
                    _ => return Err(ProtocolError::InvalidMultibulkLength),
                };
                if count > UNAUTH_MAX_MULTIBULK && !limits.authenticated {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                buf.advance(cr + 2);
                let Ok(remaining @ 1..) = usize::try_from(count) else {
                    self.state = State::Idle;
                    return Ok(Step::Skipped);
                };
                self.state = State::Args {
                    remaining,
                    args: Vec::with_capacity(remaining.min(MAX_PREALLOC_ARGS)),
                    bulk: None,
                    scanned: 0,
                };
                Ok(Step::Continue)
            }
            State::Args {
                remaining,
                args,
                bulk,
                scanned,
            } => {
                while *remaining > 0 {
                    let len = match *bulk {
                        Some(len) => len,
                        None => match read_bulk_header(buf, scanned, limits)? {
                            Some(len) => {
                                *bulk = Some(len);
                                len
                            }
                            None => return Ok(Step::NeedMore),
                        },
                    };
                    // `len + 2` cannot overflow: read_bulk_header checked it.
                    if buf.len() < len + 2 {
                        self.needed = len + 2 - buf.len();
                        return Ok(Step::NeedMore);
                    }
                    // Like Redis, the two bytes after the bulk are skipped unchecked.
                    let mut arg = buf.split_to(len + 2);
                    arg.truncate(len);
                    args.push(arg.freeze());
                    *bulk = None;
                    *remaining -= 1;
                }
                let args = std::mem::take(args);
                self.state = State::Idle;
                Ok(Step::Command(args))
            }
        }
    }
}

/// Reads a `$N\r\n` line at the start of `buf`: `Ok(Some(N))` once consumed, `Ok(None)` if
/// incomplete (with `scanned` updated so the next call resumes there).
fn read_bulk_header(
    buf: &mut BytesMut,
    scanned: &mut usize,
    limits: &RequestLimits,
) -> Result<Option<usize>, ProtocolError> {
    let cr = match find(buf, *scanned, b'\r') {
        Ok(cr) => cr,
        Err(resume) => {
            *scanned = resume;
            if buf.len() > limits.max_inline_len {
                return Err(ProtocolError::TooBigBulkCountString);
            }
            return Ok(None);
        }
    };
    if cr + 2 > buf.len() {
        *scanned = cr;
        return Ok(None);
    }
    let first = buf.first().copied().unwrap_or_default();
    if first != b'$' {
        return Err(ProtocolError::ExpectedDollar(first));
    }
    let len = match string2ll(buf.get(1..cr).unwrap_or_default()) {
        Some(n) if n >= 0 && n.unsigned_abs() <= limits.max_bulk_len => n,
        _ => return Err(ProtocolError::InvalidBulkLength),
    };
    if len > UNAUTH_MAX_BULK && !limits.authenticated {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|l| l.checked_add(2).is_some())
        .ok_or(ProtocolError::InvalidBulkLength)?;
    buf.advance(cr + 2);
    *scanned = 0;
    // Like Redis: reserve room for a big bulk once, unless the buffer already holds more.
    if len >= BIG_ARG && buf.len() < len + 2 {
        buf.reserve(len + 2 - buf.len());
    }
    Ok(Some(len))
}

/// Emulates `strchr(buf + from, needle)` on Redis's NUL-terminated query buffer:
/// `Ok(index)` of `needle`, or `Err(resume)` if the end or a NUL byte comes first (a NUL
/// stops `strchr` for good, so scanning resumes on it and stops there again).
fn find(buf: &[u8], from: usize, needle: u8) -> Result<usize, usize> {
    let rest = buf.get(from..).unwrap_or_default();
    match memchr::memchr2(needle, 0, rest) {
        Some(i) if rest.get(i) == Some(&needle) => Ok(from + i),
        Some(i) => Err(from + i),
        None => Err(buf.len()),
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Redis's `sdssplitargs`: splits an inline line into arguments, honouring double quotes
/// (with `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` and `\<any>` escapes) and single quotes (with
/// `\'`). `None` when quotes are unbalanced or a closing quote is not followed by a space
/// or the end. A NUL byte ends the line, as it ends the C string.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    let mut out = Vec::new();
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    cur.push(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => cur.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(Bytes::from(cur));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "request_tests.rs"]
mod tests;
