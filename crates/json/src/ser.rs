//! The serializer: compact JSON by default, or RedisJSON's INDENT / NEWLINE / SPACE layout.
//! Numbers print as serde_json prints them (integers as integers, floats by ryu: `1.0`,
//! `1e+21`, `1.5e-7`), strings escape `"` `\` and control characters only.

use crate::value::{Array, Node, Value};

/// The layout of JSON.GET's INDENT, NEWLINE and SPACE options; all empty is compact.
#[derive(Clone, Copy, Debug, Default)]
pub struct Format<'a> {
    pub indent: &'a str,
    pub newline: &'a str,
    pub space: &'a str,
}

/// Writes JSON text with a `Format`, one container at a time: `begin`, then for each
/// element `element` (or `key` for members) and the element itself, then `end`.
pub struct Writer<'a> {
    pub out: String,
    fmt: Format<'a>,
    level: usize,
}

impl<'a> Writer<'a> {
    pub fn new(fmt: Format<'a>) -> Writer<'a> {
        Writer {
            out: String::new(),
            fmt,
            level: 0,
        }
    }

    fn line(&mut self) {
        self.out.push_str(self.fmt.newline);
        for _ in 0..self.level {
            self.out.push_str(self.fmt.indent);
        }
    }

    /// Opens `[` or `{`.
    pub fn begin(&mut self, open: char) {
        self.level += 1;
        self.out.push(open);
    }

    /// Before each array element.
    pub fn element(&mut self, first: bool) {
        if !first {
            self.out.push(',');
        }
        self.line();
    }

    /// Before each object member: its key and the colon.
    pub fn key(&mut self, first: bool, key: &str) {
        self.element(first);
        write_str(&mut self.out, key);
        self.out.push(':');
        self.out.push_str(self.fmt.space);
    }

    /// Closes with `]` or `}`; `any` tells whether it had elements.
    pub fn end(&mut self, close: char, any: bool) {
        self.level -= 1;
        if any {
            self.line();
        }
        self.out.push(close);
    }

    pub fn node(&mut self, n: Node<'_>) {
        match n {
            Node::Int(i) => self.out.push_str(itoa_i64(i).as_str()),
            Node::Float(f) => write_f64(&mut self.out, f),
            Node::Value(v) => self.value(v),
        }
    }

    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(true) => self.out.push_str("true"),
            Value::Bool(false) => self.out.push_str("false"),
            Value::Int(i) => self.out.push_str(itoa_i64(*i).as_str()),
            Value::UInt(u) => self.out.push_str(&u.to_string()),
            Value::Float(f) => write_f64(&mut self.out, *f),
            Value::Small { .. } | Value::Str(_) => {
                write_str(&mut self.out, v.as_str().unwrap_or(""))
            }
            Value::Array(a) => self.array(a),
            Value::Object(o) => {
                self.begin('{');
                let mut first = true;
                for (k, v) in o.iter() {
                    self.key(first, k);
                    first = false;
                    self.value(v);
                }
                self.end('}', !first);
            }
        }
    }

    fn array(&mut self, a: &Array) {
        self.begin('[');
        for (i, n) in a.iter().enumerate() {
            self.element(i == 0);
            self.node(n);
        }
        self.end(']', !a.is_empty());
    }

    /// Writes a list of nodes as a JSON array (the reply of `$` paths).
    pub fn nodes(&mut self, nodes: &[Node<'_>]) {
        self.begin('[');
        for (i, n) in nodes.iter().enumerate() {
            self.element(i == 0);
            self.node(*n);
        }
        self.end(']', !nodes.is_empty());
    }
}

fn itoa_i64(i: i64) -> String {
    i.to_string()
}

/// Compact JSON text of one node.
pub fn to_string(n: Node<'_>) -> String {
    let mut w = Writer::new(Format::default());
    w.node(n);
    w.out
}

/// A float as serde_json prints it (finite values only ever reach here).
pub fn write_f64(out: &mut String, f: f64) {
    if f.is_finite() {
        let mut buf = ryu::Buffer::new();
        let t = buf.format_finite(f);
        // serde_json writes a positive exponent with its sign: `1e+21`.
        match t.find('e') {
            Some(e) if !t[e + 1..].starts_with('-') => {
                out.push_str(&t[..=e]);
                out.push('+');
                out.push_str(&t[e + 1..]);
            }
            _ => out.push_str(t),
        }
    } else {
        out.push_str("null");
    }
}

/// A float as serde_json prints it.
pub fn f64_text(f: f64) -> String {
    let mut s = String::new();
    write_f64(&mut s, f);
    s
}

/// A JSON string literal: `"` and `\` escaped, control characters as `\n`-style or `\u00XX`.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.bytes().enumerate() {
        let esc: &str = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 0xf) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}
