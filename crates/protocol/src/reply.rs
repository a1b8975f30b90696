//! Reply encoder writing RESP2 or RESP3 straight into a `BytesMut`, and Redis's text for doubles.

use std::fmt::Write as _;

use bytes::BytesMut;

/// The protocol version a connection speaks (`HELLO 2` / `HELLO 3`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Protocol {
    /// RESP2, the default for new connections.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// Appends replies to `buf` in the encoding of `proto`.
///
/// Aggregate methods (`array`, `map`, …) only write the header; the caller then writes the
/// elements (for `map` and `attribute`: key, value, key, value…). To roll back a partly
/// written reply, remember [`ReplyWriter::len`] and [`ReplyWriter::truncate`] to it.
#[derive(Debug, Default)]
pub struct ReplyWriter {
    /// The encoded bytes, ready to be written to the socket.
    pub buf: BytesMut,
    /// The encoding used.
    pub proto: Protocol,
}

impl ReplyWriter {
    /// An empty writer for `proto`.
    pub fn new(proto: Protocol) -> Self {
        Self {
            buf: BytesMut::new(),
            proto,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything written after the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    fn is_resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    fn line(&mut self, prefix: u8, text: &[u8]) {
        self.buf.reserve(text.len() + 3);
        self.buf.extend_from_slice(&[prefix]);
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn header(&mut self, prefix: u8, n: impl itoa::Integer) {
        let mut digits = itoa::Buffer::new();
        let text = digits.format(n);
        self.buf.reserve(text.len() + 3);
        self.buf.extend_from_slice(&[prefix]);
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn blob(&mut self, prefix: u8, data: &[u8]) {
        self.header(prefix, data.len());
        self.buf.reserve(data.len() + 2);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+text`. The text must not hold `\r` or `\n`.
    pub fn simple(&mut self, text: &[u8]) {
        self.line(b'+', text);
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `-text`, where `text` is the full error with its code (`b"ERR syntax error"`, no `-`).
    /// Any `\r` or `\n` in it becomes a space, as Redis does.
    pub fn error(&mut self, text: &[u8]) {
        let start = self.buf.len() + 1;
        self.line(b'-', text);
        let end = self.buf.len() - 2;
        for b in &mut self.buf[start..end] {
            if matches!(*b, b'\r' | b'\n') {
                *b = b' ';
            }
        }
    }

    /// `:n`.
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    /// `$len` and the bytes.
    pub fn bulk(&mut self, data: &[u8]) {
        self.blob(b'$', data);
    }

    /// A bulk string holding the decimal text of `n`.
    pub fn bulk_from_int(&mut self, n: i64) {
        let mut digits = itoa::Buffer::new();
        self.blob(b'$', digits.format(n).as_bytes());
    }

    /// The null reply: RESP2 `$-1`, RESP3 `_`.
    pub fn null(&mut self) {
        self.buf.extend_from_slice(if self.is_resp3() {
            b"_\r\n"
        } else {
            b"$-1\r\n"
        });
    }

    /// The null array: RESP2 `*-1`, RESP3 `_`.
    pub fn null_array(&mut self) {
        self.buf.extend_from_slice(if self.is_resp3() {
            b"_\r\n"
        } else {
            b"*-1\r\n"
        });
    }

    /// Array header `*len`.
    pub fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// Map header for `len` pairs: RESP3 `%len`, RESP2 `*{2*len}`.
    pub fn map(&mut self, len: usize) {
        if self.is_resp3() {
            self.header(b'%', len);
        } else {
            self.header(b'*', len.saturating_mul(2));
        }
    }

    /// Set header: RESP3 `~len`, RESP2 `*len`.
    pub fn set(&mut self, len: usize) {
        self.header(if self.is_resp3() { b'~' } else { b'*' }, len);
    }

    /// Push header: RESP3 `>len`, RESP2 `*len` (how pub/sub messages look in RESP2).
    pub fn push(&mut self, len: usize) {
        self.header(if self.is_resp3() { b'>' } else { b'*' }, len);
    }

    /// Attribute header `|len` (pairs follow, then the reply they describe).
    ///
    /// RESP3 only: RESP2 has no attributes, and the caller must not use this on a RESP2
    /// connection (Redis asserts). It debug-asserts, and writes `|len` regardless.
    pub fn attribute(&mut self, len: usize) {
        debug_assert!(self.is_resp3(), "attribute reply on a RESP2 connection");
        self.header(b'|', len);
    }

    /// A double: RESP3 `,text`, RESP2 a bulk string of the same text, where the text is
    /// Redis's `d2string` (see [`format_double_reply`]).
    pub fn double(&mut self, d: f64) {
        let mut tmp = [0u8; DOUBLE_TEXT_MAX];
        let text = format_double_reply(d, &mut tmp);
        if self.is_resp3() {
            self.line(b',', text);
        } else {
            self.blob(b'$', text);
        }
    }

    /// A boolean: RESP3 `#t` / `#f`, RESP2 `:1` / `:0`.
    pub fn boolean(&mut self, b: bool) {
        self.buf.extend_from_slice(match (self.is_resp3(), b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        });
    }

    /// A big number given as its decimal text: RESP3 `(text`, RESP2 a bulk string.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.is_resp3() {
            self.line(b'(', digits);
        } else {
            self.blob(b'$', digits);
        }
    }

    /// A verbatim string such as `txt` / `mkd`: RESP3 `=len\r\nfmt:text`, RESP2 a bulk of `text`.
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.is_resp3() {
            self.header(b'=', text.len() + 4);
            self.buf.reserve(text.len() + 6);
            self.buf.extend_from_slice(format);
            self.buf.extend_from_slice(b":");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.blob(b'$', text);
        }
    }
}

/// Room [`format_double_reply`] needs; its longest text is 25 bytes.
pub const DOUBLE_TEXT_MAX: usize = 32;

/// Writes into `out` and returns the text Redis 7.4's `d2string` gives for `d`, used by
/// `addReplyDouble` for every double reply: `nan`, `inf`, `-inf`, `0` / `-0`; integral
/// values within ±2^62 as integers; otherwise the shortest digits that round-trip, laid out
/// as Redis's `fpconv_dtoa` (grisu2) lays them out: plain `1.5`, `0.001`, `123000`, or
/// scientific `1.2345e-7`, `1e+300`.
///
/// This is not `INCRBYFLOAT`'s format (`%.17Lg` on a long double, then trailing zeros
/// removed); that one lives with the command.
pub fn format_double_reply(d: f64, out: &mut [u8; DOUBLE_TEXT_MAX]) -> &[u8] {
    let fixed: &[u8] = if d.is_nan() {
        b"nan"
    } else if d.is_infinite() {
        if d < 0.0 {
            b"-inf"
        } else {
            b"inf"
        }
    } else if d == 0.0 {
        if d.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        }
    } else {
        b""
    };
    if !fixed.is_empty() {
        out[..fixed.len()].copy_from_slice(fixed);
        return &out[..fixed.len()];
    }
    // Redis's double2ll: |d| <= LLONG_MAX/2 (as a double, 2^62) and integral.
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&d) && (d as i64) as f64 == d {
        let mut digits = itoa::Buffer::new();
        let text = digits.format(d as i64).as_bytes();
        out[..text.len()].copy_from_slice(text);
        return &out[..text.len()];
    }
    let mut sci = StackText {
        buf: [0; 40],
        len: 0,
    };
    // `{:e}` gives the shortest round-trip digits: `d[.ddd]e[-]x`.
    if write!(sci, "{:e}", d.abs()).is_err() {
        return &out[..0];
    }
    let sci = &sci.buf[..sci.len];
    let e_pos = memchr::memchr(b'e', sci).unwrap_or(sci.len());
    let mut digits = [0u8; 20];
    let mut ndigits = 0;
    for &c in &sci[..e_pos] {
        if c.is_ascii_digit() && ndigits < digits.len() {
            digits[ndigits] = c;
            ndigits += 1;
        }
    }
    let exp10: i32 = std::str::from_utf8(sci.get(e_pos + 1..).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut w = Emit { out, len: 0 };
    if d < 0.0 {
        w.push(b'-');
    }
    emit_digits(&mut w, &digits[..ndigits], exp10);
    let len = w.len;
    &out[..len]
}

/// A fixed buffer implementing `fmt::Write`, to format without allocating.
struct StackText {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends bytes to the caller's double buffer.
struct Emit<'a> {
    out: &'a mut [u8; DOUBLE_TEXT_MAX],
    len: usize,
}

impl Emit<'_> {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.out.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }
}

/// fpconv's `emit_digits`: `digits` × 10^(`exp10` − len + 1), i.e. `exp10` is the exponent
/// of the first digit.
fn emit_digits(w: &mut Emit<'_>, digits: &[u8], exp10: i32) {
    let ndigits = digits.len() as i32;
    let k = exp10 - (ndigits - 1);
    let exp = exp10.abs();
    if k >= 0 && exp < ndigits + 7 {
        w.extend(digits);
        for _ in 0..k {
            w.push(b'0');
        }
        return;
    }
    if k < 0 && (k > -7 || exp < 4) {
        let offset = ndigits - k.abs();
        if offset <= 0 {
            w.extend(b"0.");
            for _ in 0..-offset {
                w.push(b'0');
            }
            w.extend(digits);
        } else {
            let (int_part, frac) = digits.split_at(offset as usize);
            w.extend(int_part);
            w.push(b'.');
            w.extend(frac);
        }
        return;
    }
    if let Some((first, rest)) = digits.split_first() {
        w.push(*first);
        if !rest.is_empty() {
            w.push(b'.');
            w.extend(rest);
        }
    }
    w.push(b'e');
    w.push(if exp10 < 0 { b'-' } else { b'+' });
    let mut digits_buf = itoa::Buffer::new();
    w.extend(digits_buf.format(exp).as_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "reply_tests.rs"]
mod tests;
