//! The JSONPath parser: `$` paths (child `.a` / `['a']`, indexes, `*`, `..`, unions, slices,
//! filters `?(...)`) into a `JsonPath`; legacy paths (`.a.b`, `a`, `.`, `["x"][0]`) are
//! rewritten to `$` syntax first, as RedisJSON does.

use std::fmt;

use regex::Regex;

use super::{CmpOp, Expr, JsonPath, Literal, Segment, Selector, Term};

/// Filter expressions and brackets nested deeper than this are refused.
pub const MAX_NESTING: usize = 64;

/// A path that does not parse: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Error occurred on position {}, {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for PathError {}

/// RedisJSON's legacy-path rewrite: `.` is `$`, `.a` is `$.a`, `a` is `$.a`; a path that
/// starts with `$` is not legacy. Returns the `$` text and whether it was legacy.
pub fn normalize(path: &str) -> (String, bool) {
    if path.starts_with('$') {
        (path.to_string(), false)
    } else if path == "." {
        ("$".to_string(), true)
    } else if path.starts_with('.') {
        (format!("${path}"), true)
    } else {
        (format!("$.{path}"), true)
    }
}

/// Parses a `$` path.
pub fn parse(text: &str) -> Result<JsonPath, PathError> {
    let mut p = P {
        s: text.as_bytes(),
        text,
        i: 0,
        depth: 0,
    };
    p.expect(b'$')?;
    let segments = p.segments(false)?;
    if p.i < p.s.len() {
        return Err(p.err("expected end of path"));
    }
    Ok(JsonPath { segments })
}

struct P<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    depth: usize,
}

type R<T> = Result<T, PathError>;

/// Bytes that end a member name after `.`.
fn ends_name(c: u8) -> bool {
    matches!(
        c,
        b'.' | b'['
            | b']'
            | b'('
            | b')'
            | b','
            | b'='
            | b'!'
            | b'<'
            | b'>'
            | b'&'
            | b'|'
            | b' '
            | b'\t'
            | b'\''
            | b'"'
            | b'*'
            | b'@'
            | b'$'
            | b'?'
            | b'~'
    )
}

impl<'a> P<'a> {
    fn err(&self, msg: &str) -> PathError {
        PathError {
            position: self.i,
            message: msg.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at(&self, lit: &str) -> bool {
        self.s[self.i..].starts_with(lit.as_bytes())
    }

    fn expect(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn nest(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err("path nested too deeply"));
        }
        Ok(())
    }

    /// Segments until something that is not a segment. Inside filters (`in_filter`),
    /// whitespace and operators end the path.
    fn segments(&mut self, in_filter: bool) -> R<Vec<Segment>> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') if self.at("..") => {
                    self.i += 2;
                    let sel = match self.peek() {
                        Some(b'[') => self.bracket()?,
                        Some(b'*') => {
                            self.i += 1;
                            Selector::Wildcard
                        }
                        _ => Selector::Name(self.name()?),
                    };
                    segs.push(Segment::Descend(sel));
                }
                Some(b'.') => {
                    self.i += 1;
                    let sel = match self.peek() {
                        Some(b'[') => self.bracket()?,
                        Some(b'*') => {
                            self.i += 1;
                            Selector::Wildcard
                        }
                        _ => Selector::Name(self.name()?),
                    };
                    segs.push(Segment::Child(sel));
                }
                Some(b'[') => {
                    let sel = self.bracket()?;
                    segs.push(Segment::Child(sel));
                }
                _ => return Ok(segs),
            }
            let _ = in_filter;
        }
    }

    fn name(&mut self) -> R<String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if ends_name(c) {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(self.err("expected a member name"));
        }
        // We stopped at an ASCII byte or the end: a char boundary.
        Ok(self.text[start..self.i].to_string())
    }

    fn bracket(&mut self) -> R<Selector> {
        self.nest()?;
        self.expect(b'[')?;
        self.ws();
        let sel = if self.peek() == Some(b'*') {
            self.i += 1;
            Selector::Wildcard
        } else if self.peek() == Some(b'?') {
            self.i += 1;
            self.ws();
            self.expect(b'(')?;
            let e = self.or()?;
            self.ws();
            self.expect(b')')?;
            Selector::Filter(Box::new(e))
        } else {
            let mut items = vec![self.item()?];
            loop {
                self.ws();
                if self.peek() == Some(b',') {
                    self.i += 1;
                    self.ws();
                    items.push(self.item()?);
                } else {
                    break;
                }
            }
            if items.len() == 1 {
                items.pop().unwrap_or(Selector::Wildcard)
            } else {
                Selector::Union(items)
            }
        };
        self.ws();
        self.expect(b']')?;
        self.depth -= 1;
        Ok(sel)
    }

    /// One entry of a bracket: a quoted name, an index or a slice.
    fn item(&mut self) -> R<Selector> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Selector::Name(self.quoted()?)),
            Some(b'-' | b'0'..=b'9' | b':') => {
                let start = if self.peek() == Some(b':') {
                    None
                } else {
                    Some(self.int()?)
                };
                self.ws();
                if self.peek() != Some(b':') {
                    return Ok(Selector::Index(start.unwrap_or(0)));
                }
                self.i += 1;
                self.ws();
                let end = match self.peek() {
                    Some(b'-' | b'0'..=b'9') => Some(self.int()?),
                    _ => None,
                };
                self.ws();
                let mut step = 1;
                if self.peek() == Some(b':') {
                    self.i += 1;
                    self.ws();
                    if matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
                        step = self.int()?;
                    }
                }
                Ok(Selector::Slice(start, end, step))
            }
            _ => Err(self.err("expected a quoted name, an index or a slice")),
        }
    }

    fn int(&mut self) -> R<i64> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.text[start..self.i].parse().map_err(|_| PathError {
            position: start,
            message: "expected an integer".to_string(),
        })
    }

    fn quoted(&mut self) -> R<String> {
        let q = self.peek().unwrap_or(b'"');
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == q || c == b'\\' {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.text[start..self.i]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    out.push(match c {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'/' => '/',
                        b'\\' => '\\',
                        b'"' => '"',
                        b'\'' => '\'',
                        b'u' => {
                            let hex = self.text.get(self.i..self.i + 4).unwrap_or("");
                            let n = u32::from_str_radix(hex, 16)
                                .ok()
                                .filter(|_| hex.len() == 4)
                                .ok_or_else(|| self.err("invalid unicode escape"))?;
                            self.i += 4;
                            char::from_u32(n).ok_or_else(|| self.err("invalid unicode escape"))?
                        }
                        _ => return Err(self.err("invalid escape")),
                    });
                }
                Some(_) => {
                    self.i += 1;
                    return Ok(out);
                }
            }
        }
    }

    // ----- filter expressions ------------------------------------------------------------

    fn or(&mut self) -> R<Expr> {
        self.nest()?;
        let mut e = self.and()?;
        loop {
            self.ws();
            if self.at("||") {
                self.i += 2;
                let r = self.and()?;
                e = Expr::Or(Box::new(e), Box::new(r));
            } else {
                self.depth -= 1;
                return Ok(e);
            }
        }
    }

    fn and(&mut self) -> R<Expr> {
        let mut e = self.unary()?;
        loop {
            self.ws();
            if self.at("&&") {
                self.i += 2;
                let r = self.unary()?;
                e = Expr::And(Box::new(e), Box::new(r));
            } else {
                return Ok(e);
            }
        }
    }

    fn unary(&mut self) -> R<Expr> {
        self.ws();
        if self.peek() == Some(b'!') && !self.at("!=") {
            self.i += 1;
            self.nest()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        if self.peek() == Some(b'(') {
            self.i += 1;
            let e = self.or()?;
            self.ws();
            self.expect(b')')?;
            return Ok(e);
        }
        let left = self.term()?;
        self.ws();
        let op = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("=~", CmpOp::Match),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.at(t));
        let Some((text, op)) = op else {
            return Ok(Expr::Exists(left));
        };
        self.i += text.len();
        self.ws();
        let right = self.term()?;
        let regex = match (&op, &right) {
            (CmpOp::Match, Term::Literal(Literal::Str(p))) => compile_regex(p),
            _ => None,
        };
        Ok(Expr::Cmp {
            left,
            op,
            right,
            regex: regex.map(Box::new),
        })
    }

    fn term(&mut self) -> R<Term> {
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                Ok(Term::Relative(self.segments(true)?))
            }
            Some(b'$') => {
                self.i += 1;
                Ok(Term::Absolute(self.segments(true)?))
            }
            Some(b'\'' | b'"') => Ok(Term::Literal(Literal::Str(self.quoted()?))),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                if self.peek() == Some(b'-') {
                    self.i += 1;
                }
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                ) {
                    self.i += 1;
                }
                let t = &self.text[start..self.i];
                if let Ok(i) = t.parse::<i64>() {
                    return Ok(Term::Literal(Literal::Int(i)));
                }
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| Term::Literal(Literal::Float(f)))
                    .ok_or(PathError {
                        position: start,
                        message: "invalid number".to_string(),
                    })
            }
            _ if self.at("true") => {
                self.i += 4;
                Ok(Term::Literal(Literal::Bool(true)))
            }
            _ if self.at("false") => {
                self.i += 5;
                Ok(Term::Literal(Literal::Bool(false)))
            }
            _ if self.at("null") => {
                self.i += 4;
                Ok(Term::Literal(Literal::Null))
            }
            _ => Err(self.err("expected a path, a number, a string, true, false or null")),
        }
    }
}

/// Compiles the pattern of `=~`, bounded in size; a bad pattern matches nothing.
pub(crate) fn compile_regex(pattern: &str) -> Option<Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .nest_limit(64)
        .build()
        .ok()
}
