//! The strict JSON parser: RFC 8259 text to a `Value`, with serde_json's error texts and
//! positions (which RedisJSON replies verbatim) and its nesting limit of 128.

use std::fmt;

use crate::value::{Array, ObjectBuilder, Value};

/// Containers nested this deep are refused (serde_json's default recursion limit, which
/// RedisJSON keeps): at most `MAX_DEPTH - 1` levels parse.
pub const MAX_DEPTH: usize = 128;

/// What went wrong, worded as serde_json words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    EofWhileParsingValue,
    EofWhileParsingList,
    EofWhileParsingObject,
    EofWhileParsingString,
    ExpectedSomeValue,
    ExpectedColon,
    ExpectedListCommaOrEnd,
    ExpectedObjectCommaOrEnd,
    ExpectedSomeIdent,
    KeyMustBeAString,
    TrailingCharacters,
    TrailingComma,
    InvalidEscape,
    InvalidNumber,
    NumberOutOfRange,
    InvalidUnicodeCodePoint,
    ControlCharacterWhileParsingString,
    LoneLeadingSurrogateInHexEscape,
    UnexpectedEndOfHexEscape,
    RecursionLimitExceeded,
}

impl ParseErrorKind {
    pub fn message(self) -> &'static str {
        use ParseErrorKind::*;
        match self {
            EofWhileParsingValue => "EOF while parsing a value",
            EofWhileParsingList => "EOF while parsing a list",
            EofWhileParsingObject => "EOF while parsing an object",
            EofWhileParsingString => "EOF while parsing a string",
            ExpectedSomeValue => "expected value",
            ExpectedColon => "expected `:`",
            ExpectedListCommaOrEnd => "expected `,` or `]`",
            ExpectedObjectCommaOrEnd => "expected `,` or `}`",
            ExpectedSomeIdent => "expected ident",
            KeyMustBeAString => "key must be a string",
            TrailingCharacters => "trailing characters",
            TrailingComma => "trailing comma",
            InvalidEscape => "invalid escape",
            InvalidNumber => "invalid number",
            NumberOutOfRange => "number out of range",
            InvalidUnicodeCodePoint => "invalid unicode code point",
            ControlCharacterWhileParsingString => {
                "control character (\\u0000-\\u001F) found while parsing a string"
            }
            LoneLeadingSurrogateInHexEscape => "lone leading surrogate in hex escape",
            UnexpectedEndOfHexEscape => "unexpected end of hex escape",
            RecursionLimitExceeded => "recursion limit exceeded",
        }
    }
}

/// A parse error with its position (1-based line; column as serde_json counts it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.kind.message(),
            self.line,
            self.column
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses one JSON text (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: MAX_DEPTH,
        scratch: String::new(),
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.peek_error(ParseErrorKind::TrailingCharacters));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
    scratch: String,
}

type R<T> = Result<T, ParseError>;

impl Parser<'_> {
    fn error_at(&self, i: usize, kind: ParseErrorKind) -> ParseError {
        let before = &self.s[..i.min(self.s.len())];
        let start_of_line = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let line = 1 + before[..start_of_line]
            .iter()
            .filter(|&&c| c == b'\n')
            .count();
        ParseError {
            kind,
            line,
            column: i - start_of_line,
        }
    }

    /// serde_json's `error`: at the last consumed byte.
    fn error(&self, kind: ParseErrorKind) -> ParseError {
        self.error_at(self.i, kind)
    }

    /// serde_json's `peek_error`: at the next byte.
    fn peek_error(&self, kind: ParseErrorKind) -> ParseError {
        self.error_at((self.i + 1).min(self.s.len()), kind)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        if c.is_some() {
            self.i += 1;
        }
        c
    }

    fn ws(&mut self) -> Option<u8> {
        while let Some(c) = self.peek() {
            if matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
                self.i += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    fn value(&mut self) -> R<Value> {
        use ParseErrorKind::*;
        match self.peek() {
            None => Err(self.peek_error(EofWhileParsingValue)),
            Some(b'n') => self.ident(b"null", Value::Null),
            Some(b't') => self.ident(b"true", Value::Bool(true)),
            Some(b'f') => self.ident(b"false", Value::Bool(false)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => {
                self.i += 1;
                let s = self.string()?;
                Ok(Value::string(s))
            }
            Some(b'[') => {
                self.enter()?;
                self.i += 1;
                let v = self.array();
                self.depth += 1;
                v
            }
            Some(b'{') => {
                self.enter()?;
                self.i += 1;
                let v = self.object();
                self.depth += 1;
                v
            }
            Some(_) => Err(self.peek_error(ExpectedSomeValue)),
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth -= 1;
        if self.depth == 0 {
            self.depth += 1;
            return Err(self.peek_error(ParseErrorKind::RecursionLimitExceeded));
        }
        Ok(())
    }

    fn ident(&mut self, word: &[u8], v: Value) -> R<Value> {
        self.i += 1;
        for &expected in &word[1..] {
            match self.next() {
                None => return Err(self.error(ParseErrorKind::EofWhileParsingValue)),
                Some(c) if c != expected => {
                    return Err(self.error(ParseErrorKind::ExpectedSomeIdent))
                }
                Some(_) => {}
            }
        }
        Ok(v)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn number(&mut self) -> R<Value> {
        use ParseErrorKind::*;
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        match self.next() {
            None => return Err(self.error(EofWhileParsingValue)),
            Some(b'0') => {
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.peek_error(InvalidNumber));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            Some(_) => return Err(self.error(InvalidNumber)),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.i += 1;
            match self.peek() {
                Some(b'0'..=b'9') => self.digits(),
                Some(_) => return Err(self.peek_error(InvalidNumber)),
                None => return Err(self.peek_error(EofWhileParsingValue)),
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            match self.next() {
                None => return Err(self.error(EofWhileParsingValue)),
                Some(b'0'..=b'9') => self.digits(),
                Some(_) => return Err(self.error(InvalidNumber)),
            }
        }
        // The text is ASCII digits and signs only.
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("0");
        if !float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::UInt(u));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(self.error(NumberOutOfRange)),
        }
    }

    /// Four hex digits, as serde_json reads them: all four bytes are taken before any is
    /// checked (fewer than four left: end of input).
    fn hex4(&mut self) -> R<u16> {
        let Some(digits) = self.s.get(self.i..self.i + 4) else {
            self.i = self.s.len();
            return Err(self.error(ParseErrorKind::EofWhileParsingString));
        };
        let mut n: u16 = 0;
        for &c in digits {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => {
                    self.i += 4;
                    return Err(self.error(ParseErrorKind::InvalidEscape));
                }
            };
            n = (n << 4) | d as u16;
        }
        self.i += 4;
        Ok(n)
    }

    /// Parses a string body (after the opening quote) into the scratch buffer.
    fn string(&mut self) -> R<&str> {
        use ParseErrorKind::*;
        self.scratch.clear();
        loop {
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The input is a &str and we stop only at ASCII bytes: a char boundary.
            self.scratch
                .push_str(std::str::from_utf8(&self.s[start..self.i]).unwrap_or(""));
            match self.next() {
                None => return Err(self.error(EofWhileParsingString)),
                Some(b'"') => return Ok(&self.scratch),
                Some(b'\\') => {
                    let c = match self.next() {
                        None => return Err(self.error(EofWhileParsingString)),
                        Some(c) => c,
                    };
                    let ch = match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error(InvalidEscape)),
                    };
                    self.scratch.push(ch);
                }
                Some(_) => return Err(self.error(ControlCharacterWhileParsingString)),
            }
        }
    }

    /// A `\u` escape (after the `u`), with serde_json's checks and errors: a trailing
    /// surrogate alone, or a leading one not followed by `\u` and a trailing one, is refused.
    fn unicode_escape(&mut self) -> R<char> {
        use ParseErrorKind::*;
        let n = self.hex4()?;
        match n {
            0xDC00..=0xDFFF => Err(self.error(LoneLeadingSurrogateInHexEscape)),
            0xD800..=0xDBFF => {
                for want in [b'\\', b'u'] {
                    match self.next() {
                        None => return Err(self.error(EofWhileParsingString)),
                        Some(c) if c == want => {}
                        Some(_) => return Err(self.error(UnexpectedEndOfHexEscape)),
                    }
                }
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(self.error(LoneLeadingSurrogateInHexEscape));
                }
                let c = 0x10000 + (((n as u32) - 0xD800) << 10) + ((lo as u32) - 0xDC00);
                char::from_u32(c).ok_or_else(|| self.error(InvalidUnicodeCodePoint))
            }
            n => char::from_u32(n as u32).ok_or_else(|| self.error(InvalidUnicodeCodePoint)),
        }
    }

    fn array(&mut self) -> R<Value> {
        use ParseErrorKind::*;
        let mut values = Vec::new();
        let mut first = true;
        loop {
            match self.ws() {
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(Box::new(Array::from_values(values))));
                }
                Some(b',') if !first => {
                    self.i += 1;
                    match self.ws() {
                        Some(b']') => return Err(self.peek_error(TrailingComma)),
                        None => return Err(self.peek_error(EofWhileParsingValue)),
                        Some(_) => {}
                    }
                }
                Some(_) if first => first = false,
                Some(_) => return Err(self.peek_error(ExpectedListCommaOrEnd)),
                None => return Err(self.peek_error(EofWhileParsingList)),
            }
            values.push(self.value()?);
        }
    }

    fn object(&mut self) -> R<Value> {
        use ParseErrorKind::*;
        let mut obj = ObjectBuilder::new();
        let mut first = true;
        loop {
            match self.ws() {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(obj.finish()));
                }
                Some(b',') if !first => {
                    self.i += 1;
                    self.ws();
                }
                Some(_) if first => first = false,
                Some(_) => return Err(self.peek_error(ExpectedObjectCommaOrEnd)),
                None => return Err(self.peek_error(EofWhileParsingObject)),
            }
            match self.peek() {
                Some(b'"') => self.i += 1,
                Some(b'}') => return Err(self.peek_error(TrailingComma)),
                Some(_) => return Err(self.peek_error(KeyMustBeAString)),
                None => return Err(self.peek_error(EofWhileParsingValue)),
            }
            let key = self.string()?.to_string();
            match self.ws() {
                Some(b':') => self.i += 1,
                Some(_) => return Err(self.peek_error(ExpectedColon)),
                None => return Err(self.peek_error(EofWhileParsingObject)),
            }
            self.ws();
            let v = self.value()?;
            obj.insert(&key, v);
        }
    }
}
