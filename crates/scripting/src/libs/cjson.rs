//! `cjson`: lua-cjson 2.1.0 as Redis bundles it. Encoding: arrays are tables whose keys are
//! 1..n (not excessively sparse), `cjson.null` for JSON null, every number as `%.14g`,
//! strings byte for byte with lua-cjson's escapes. Decoding: lua-cjson's tokenizer, so what
//! it accepts beyond strict JSON (strtod numbers: hex, inf, nan, leading zeros; raw control
//! characters in strings) and its error texts ("Expected colon but found T_NUMBER at
//! character 6") are Redis's.

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::{arg_error, check_bytes, lib_error};
use crate::convert::format_g;

/// lua-cjson's default encode and decode depth limits.
const MAX_DEPTH: usize = 1000;

pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("null", null())?;
    t.set(
        "encode",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            if args.len() != 1 {
                return Err(arg_error(lua, 1, "expected 1 argument"));
            }
            let mut out = Vec::new();
            encode(lua, &args[0], &mut out)?;
            lua.create_string(out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            if args.len() != 1 {
                return Err(arg_error(lua, 1, "expected 1 argument"));
            }
            let text = check_bytes(lua, &args, 1)?;
            decode(lua, &text)
        })?,
    )?;
    Ok(t)
}

// ---- encoding ----

fn type_name(v: &Value) -> &'static str {
    super::arg_type_name(Some(v))
}

fn encode_error(lua: &Lua, what: &Value, reason: &str) -> mlua::Error {
    lib_error(
        lua,
        format!("Cannot serialise {}: {reason}", type_name(what)),
    )
}

fn number(lua: &Lua, v: &Value, x: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !x.is_finite() {
        return Err(encode_error(lua, v, "must not be NaN or Inf"));
    }
    if x.fract() == 0.0 && x.abs() < 1e14 && !(x == 0.0 && x.is_sign_negative()) {
        // At most 14 digits: "%.14g" writes the integer itself.
        out.extend_from_slice((x as i64).to_string().as_bytes());
    } else {
        out.extend_from_slice(format_g(x, 14).as_bytes());
    }
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x00..=0x1f | 0x7f => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// lua-cjson's `lua_array_length`: the array length when every key is an integer >= 1 and
/// the table is not excessively sparse, else `None` (an object). `max` is a C int, as there:
/// a key past its range leaves it negative (x86's conversion), which makes the table an
/// object.
fn array_length(lua: &Lua, t: &Table, v: &Value) -> mlua::Result<Option<usize>> {
    let mut max: i32 = 0;
    let mut items: i64 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match as_number(&k) {
            Some(k) if k != 0.0 && k.floor() == k && k >= 1.0 => {
                if k > max as f64 {
                    max = if k < 2_147_483_648.0 {
                        k as i32
                    } else {
                        i32::MIN
                    };
                }
                items += 1;
            }
            _ => return Ok(None),
        }
    }
    if max as i64 > items * 2 && max > 10 {
        return Err(encode_error(lua, v, "excessively sparse array"));
    }
    Ok((max > 0).then_some(max as usize))
}

/// A table being written: an array (its length and the next index) or an object (the
/// members still to write).
enum Writing {
    Array(Table, usize, usize),
    Object(std::vec::IntoIter<(Value, Value)>, bool),
}

/// lua-cjson's `json_append_data`, run with an explicit stack so 1,000 levels of nesting
/// need no deep native stack.
fn encode(lua: &Lua, v: &Value, out: &mut Vec<u8>) -> mlua::Result<()> {
    let mut open: Vec<Writing> = Vec::new();
    let mut cur = v.clone();
    loop {
        match &cur {
            Value::Nil => out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
            Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Integer(i) => number(lua, &cur, *i as f64, out)?,
            Value::Number(n) => number(lua, &cur, *n, out)?,
            Value::String(s) => string(&s.as_bytes(), out),
            Value::Table(t) => {
                let depth = open.len() + 1;
                if depth > MAX_DEPTH {
                    return Err(lib_error(
                        lua,
                        format!("Cannot serialise, excessive nesting ({depth})"),
                    ));
                }
                match array_length(lua, t, &cur)? {
                    Some(len) => {
                        out.push(b'[');
                        open.push(Writing::Array(t.clone(), len, 1));
                    }
                    None => {
                        out.push(b'{');
                        let members: Vec<(Value, Value)> =
                            t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                        open.push(Writing::Object(members.into_iter(), true));
                    }
                }
            }
            other => return Err(encode_error(lua, other, "type not supported")),
        }
        // The next value to write, closing the tables that are done.
        loop {
            match open.last_mut() {
                None => return Ok(()),
                Some(Writing::Array(t, len, i)) => {
                    if *i > *len {
                        out.push(b']');
                        open.pop();
                        continue;
                    }
                    if *i > 1 {
                        out.push(b',');
                    }
                    cur = t.raw_get(*i)?;
                    *i += 1;
                    break;
                }
                Some(Writing::Object(members, first)) => {
                    let Some((k, val)) = members.next() else {
                        out.push(b'}');
                        open.pop();
                        continue;
                    };
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    match &k {
                        Value::Integer(_) | Value::Number(_) => {
                            out.push(b'"');
                            number(lua, &k, as_number(&k).unwrap_or(0.0), out)?;
                            out.extend_from_slice(b"\":");
                        }
                        Value::String(s) => {
                            string(&s.as_bytes(), out);
                            out.push(b':');
                        }
                        other => {
                            return Err(encode_error(
                                lua,
                                other,
                                "table key must be a number or string",
                            ))
                        }
                    }
                    cur = val;
                    break;
                }
            }
        }
    }
}

// ---- decoding ----

enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(what) => what,
        }
    }
}

struct Parser<'a> {
    lua: &'a Lua,
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

/// The JSON text of `cjson.decode` as a Lua value.
fn decode(lua: &Lua, b: &[u8]) -> mlua::Result<Value> {
    if b.len() >= 2 && (b[0] == 0 || b[1] == 0) {
        return Err(lib_error(
            lua,
            "JSON parser does not support UTF-16 or UTF-32",
        ));
    }
    let mut p = Parser {
        lua,
        b,
        pos: 0,
        depth: 0,
    };
    p.document()
}

/// An array or object being filled, while the parser reads its members.
enum Open {
    Array(Table, usize),
    Object(Table, Vec<u8>),
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

impl Parser<'_> {
    /// The byte at `i`; 0 past the end, as in the NUL-terminated C string lua-cjson reads.
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    fn starts_with(&self, word: &[u8]) -> bool {
        self.b.get(self.pos..self.pos + word.len()) == Some(word)
    }

    fn expected(&self, what: &str, tok: &Token, at: usize) -> mlua::Error {
        lib_error(
            self.lua,
            format!(
                "Expected {what} but found {} at character {}",
                tok.name(),
                at + 1
            ),
        )
    }

    /// The next token and the index it starts at (where an error token points).
    fn next_token(&mut self) -> (Token, usize) {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let c = self.at(start);
        let single = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            _ => None,
        };
        if let Some(tok) = single {
            self.pos += 1;
            return (tok, start);
        }
        match c {
            0 => (Token::End, start),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => (self.number(), start),
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                if self.starts_with(b"true") {
                    self.pos += 4;
                    (Token::Bool(true), start)
                } else if self.starts_with(b"false") {
                    self.pos += 5;
                    (Token::Bool(false), start)
                } else if self.starts_with(b"null") {
                    self.pos += 4;
                    (Token::Null, start)
                } else if self.is_invalid_number() {
                    (self.number(), start)
                } else {
                    (Token::Error("invalid token"), start)
                }
            }
            _ => (Token::Error("invalid token"), start),
        }
    }

    /// lua-cjson's `json_is_invalid_number`: '+', hex, leading zeros, inf, nan (which it
    /// then hands to strtod anyway, since Redis leaves decode_invalid_numbers on).
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| (0..3).all(|i| self.at(p + i).to_ascii_lowercase() == w[i]);
        word(b"inf") || word(b"nan")
    }

    fn number(&mut self) -> Token {
        match strtod(self.b, self.pos) {
            Some((x, len)) => {
                self.pos += len;
                Token::Num(x)
            }
            None => Token::Error("invalid number"),
        }
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, k| Some((acc << 4) | hex_digit(self.at(i + k))?))
    }

    /// `\uXXXX` (and a following low surrogate) at `self.pos`, appended as UTF-8.
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut buf = [0u8; 4];
        let n = match cp {
            0..=0x7F => {
                buf[0] = cp as u8;
                1
            }
            0x80..=0x7FF => {
                buf[0] = (cp >> 6) as u8 | 0xC0;
                buf[1] = (cp & 0x3F) as u8 | 0x80;
                2
            }
            0x800..=0xFFFF => {
                buf[0] = (cp >> 12) as u8 | 0xE0;
                buf[1] = ((cp >> 6) & 0x3F) as u8 | 0x80;
                buf[2] = (cp & 0x3F) as u8 | 0x80;
                3
            }
            _ => {
                buf[0] = (cp >> 18) as u8 | 0xF0;
                buf[1] = ((cp >> 12) & 0x3F) as u8 | 0x80;
                buf[2] = ((cp >> 6) & 0x3F) as u8 | 0x80;
                buf[3] = (cp & 0x3F) as u8 | 0x80;
                4
            }
        };
        out.extend_from_slice(&buf[..n]);
        self.pos += len;
        Some(())
    }

    fn string(&mut self) -> (Token, usize) {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return (Token::Error("unexpected end of string"), self.pos),
                b'\\' => {
                    let unescaped = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 0x0c,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape(&mut out).is_none() {
                                return (Token::Error("invalid unicode escape code"), self.pos);
                            }
                            continue;
                        }
                        _ => return (Token::Error("invalid escape code"), self.pos),
                    };
                    out.push(unescaped);
                    self.pos += 2;
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        (Token::Str(out), start)
    }

    fn descend(&mut self) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(lib_error(
                self.lua,
                format!(
                    "Found too many nested data structures ({}) at character {}",
                    self.depth, self.pos
                ),
            ));
        }
        Ok(())
    }

    /// The key of an object member and its colon; the member's value comes next.
    fn member_key(&mut self, tok: Token, at: usize) -> mlua::Result<Vec<u8>> {
        let Token::Str(key) = tok else {
            return Err(self.expected("object key string", &tok, at));
        };
        let (colon, colon_at) = self.next_token();
        if !matches!(colon, Token::Colon) {
            return Err(self.expected("colon", &colon, colon_at));
        }
        Ok(key)
    }

    /// lua-cjson's recursive descent (value, object and array contexts) run with an
    /// explicit stack, so 1,000 levels of nesting need no deep native stack. Errors come in
    /// the same order as there.
    fn document(&mut self) -> mlua::Result<Value> {
        let mut open: Vec<Open> = Vec::new();
        let (mut tok, mut at) = self.next_token();
        loop {
            // A value starts with `tok`.
            let mut v = match tok {
                Token::Str(s) => Value::String(self.lua.create_string(s)?),
                Token::Num(x) => Value::Number(x),
                Token::Bool(b) => Value::Boolean(b),
                Token::Null => null(),
                Token::ObjBegin => {
                    self.descend()?;
                    let t = self.lua.create_table()?;
                    let (first, first_at) = self.next_token();
                    if matches!(first, Token::ObjEnd) {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        let key = self.member_key(first, first_at)?;
                        open.push(Open::Object(t, key));
                        (tok, at) = self.next_token();
                        continue;
                    }
                }
                Token::ArrBegin => {
                    self.descend()?;
                    let t = self.lua.create_table()?;
                    let (first, first_at) = self.next_token();
                    if matches!(first, Token::ArrEnd) {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        open.push(Open::Array(t, 1));
                        (tok, at) = (first, first_at);
                        continue;
                    }
                }
                other => return Err(self.expected("value", &other, at)),
            };
            // The value is complete: store it in the innermost open container, closing
            // containers as their ends arrive.
            loop {
                let Some(top) = open.last_mut() else {
                    let (end, end_at) = self.next_token();
                    if !matches!(end, Token::End) {
                        return Err(self.expected("the end", &end, end_at));
                    }
                    return Ok(v);
                };
                let (next, next_at) = self.next_token();
                match top {
                    Open::Array(t, i) => {
                        t.raw_set(*i, v)?;
                        *i += 1;
                        match next {
                            Token::ArrEnd => {}
                            Token::Comma => {
                                (tok, at) = self.next_token();
                                break;
                            }
                            other => {
                                return Err(self.expected("comma or array end", &other, next_at))
                            }
                        }
                    }
                    Open::Object(t, key) => {
                        t.raw_set(self.lua.create_string(&*key)?, v)?;
                        match next {
                            Token::ObjEnd => {}
                            Token::Comma => {
                                let (k, k_at) = self.next_token();
                                *key = self.member_key(k, k_at)?;
                                (tok, at) = self.next_token();
                                break;
                            }
                            other => {
                                return Err(self.expected("comma or object end", &other, next_at))
                            }
                        }
                    }
                }
                self.depth -= 1;
                v = match open.pop() {
                    Some(Open::Array(t, _)) | Some(Open::Object(t, _)) => Value::Table(t),
                    None => Value::Nil,
                };
            }
        }
    }
}

/// C's `strtod` on the text at `start`: the value and how many bytes it used, `None` when
/// no number starts there. Decimal, hexadecimal (`0x1.8p3`), `inf`/`infinity`, `nan`.
fn strtod(b: &[u8], start: usize) -> Option<(f64, usize)> {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut i = start;
    let negative = at(i) == b'-';
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    let sign = |x: f64| if negative { -x } else { x };
    let word = |i: usize, w: &[u8]| (0..w.len()).all(|k| at(i + k).to_ascii_lowercase() == w[k]);
    if word(i, b"inf") {
        i += 3;
        if word(i, b"inity") {
            i += 5;
        }
        return Some((sign(f64::INFINITY), i - start));
    }
    if word(i, b"nan") {
        i += 3;
        if at(i) == b'(' {
            let mut j = i + 1;
            while at(j).is_ascii_alphanumeric() || at(j) == b'_' {
                j += 1;
            }
            if at(j) == b')' {
                i = j + 1;
            }
        }
        return Some((sign(f64::NAN), i - start));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        let mut j = i + 2;
        let mut value = 0.0f64;
        let mut digits = 0;
        while let Some(d) = hex_digit(at(j)) {
            value = value * 16.0 + d as f64;
            digits += 1;
            j += 1;
        }
        if at(j) == b'.' {
            let mut scale = 1.0 / 16.0;
            let mut k = j + 1;
            while let Some(d) = hex_digit(at(k)) {
                value += d as f64 * scale;
                scale /= 16.0;
                digits += 1;
                k += 1;
            }
            if digits > 0 {
                j = k;
            }
        }
        if digits == 0 {
            // Only the "0" before the 'x' is a number.
            return Some((sign(0.0), i + 1 - start));
        }
        if at(j) | 0x20 == b'p' {
            let mut k = j + 1;
            let exp_negative = at(k) == b'-';
            if matches!(at(k), b'+' | b'-') {
                k += 1;
            }
            if at(k).is_ascii_digit() {
                let mut exp: i32 = 0;
                while at(k).is_ascii_digit() {
                    exp = exp.saturating_mul(10).saturating_add((at(k) - b'0') as i32);
                    k += 1;
                }
                value *= 2f64.powi(if exp_negative { -exp } else { exp });
                j = k;
            }
        }
        return Some((sign(value), j - start));
    }
    let digits_from = |mut k: usize| {
        while at(k).is_ascii_digit() {
            k += 1;
        }
        k
    };
    let int_end = digits_from(i);
    let mut end = int_end;
    let mut digits = int_end - i;
    if at(end) == b'.' {
        let frac_end = digits_from(end + 1);
        digits += frac_end - end - 1;
        end = frac_end;
    }
    if digits == 0 {
        return None;
    }
    if at(end) | 0x20 == b'e' {
        let mut k = end + 1;
        if matches!(at(k), b'+' | b'-') {
            k += 1;
        }
        if at(k).is_ascii_digit() {
            end = digits_from(k);
        }
    }
    let text = std::str::from_utf8(&b[i..end]).ok()?;
    let x: f64 = text.parse().ok()?;
    Some((sign(x), end - start))
}
