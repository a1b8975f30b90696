//! Transcript tests: every file under `tests/transcripts/` is a list of commands with their
//! expected replies, run against a fresh server under RESP3 and again under RESP2.
//!
//! File format:
//! ```text
//! # comment
//! > SET k "hello world"        (a command, in redis-cli / inline syntax)
//! +OK                          (its expected reply, in RESP3 notation, see below)
//! > HGETALL h
//! {"f": "v"}
//! resp2: ["f", "v"]            (optional: the RESP2 reply when it is not the automatic
//!                               conversion of the RESP3 one)
//! @advance 1500                (moves the server's clock by 1500 ms)
//! ```
//! Notation: `+simple`, `-error text`, `:42`, `"bulk"` (with \" \\ \n \r \t \xHH escapes),
//! `(nil)`, `[a, b]`, `~[set]`, `{k: v}`, `>[push]`, `,1.5` (double), `#t`/`#f`, `(123`
//! (big number), `*` (any reply). At the top level `+` and `-` take the rest of the line.
//! RESP2 conversion: maps flatten to arrays, sets and pushes become arrays, doubles and big
//! numbers become bulk strings, booleans become 1/0.
//!
//! `UPDATE_EXPECT=1 cargo test --test transcripts` rewrites the expectations from what the
//! server answers (review the diff!).

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{Conn, TestServer};
use protocol::{format_double_reply, Frame, DOUBLE_TEXT_MAX};

#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Expect>),
    Set(Vec<Expect>),
    Push(Vec<Expect>),
    Map(Vec<(Expect, Expect)>),
    Double(String),
    Bool(bool),
    Big(String),
    Any,
}

struct Step {
    line_no: usize,
    command: String,
    expect: String,
    resp2: Option<String>,
}

enum Item {
    Step(Step),
    Advance(u64),
}

fn escape(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

fn double_text(d: f64) -> String {
    let mut buf = [0u8; DOUBLE_TEXT_MAX];
    String::from_utf8_lossy(format_double_reply(d, &mut buf)).into_owned()
}

/// Renders a reply in the notation.
fn render(f: &Frame) -> String {
    render_at(f, true)
}

/// A simple string or error inside an aggregate is quoted when its text would end early
/// (`+"a, b"`).
fn render_line(sigil: char, text: &[u8], top: bool) -> String {
    if top || !text.iter().any(|c| matches!(c, b',' | b']' | b'}' | b'"')) {
        format!("{sigil}{}", String::from_utf8_lossy(text))
    } else {
        format!("{sigil}{}", escape(text))
    }
}

fn render_at(f: &Frame, top: bool) -> String {
    let inner = |f: &Frame| render_at(f, false);
    let list = |open: &str, items: &[Frame]| {
        format!(
            "{open}{}]",
            items.iter().map(inner).collect::<Vec<_>>().join(", ")
        )
    };
    match f {
        Frame::Simple(s) => render_line('+', s, top),
        Frame::Error(s) | Frame::BlobError(s) => render_line('-', s, top),
        Frame::Integer(i) => format!(":{i}"),
        Frame::Bulk(b) => escape(b),
        Frame::Null | Frame::NullBulk | Frame::NullArray => "(nil)".into(),
        Frame::Array(a) => list("[", a),
        Frame::Set(a) => list("~[", a),
        Frame::Push(a) => list(">[", a),
        Frame::Map(m) | Frame::Attribute(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", inner(k), inner(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Frame::Double(d) => format!(",{}", double_text(*d)),
        Frame::Boolean(b) => if *b { "#t" } else { "#f" }.into(),
        Frame::BigNumber(b) => format!("({}", String::from_utf8_lossy(b)),
        Frame::Verbatim { text, .. } => escape(text),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i] == b' ' {
            self.i += 1;
        }
    }

    fn until_delim(&mut self, top: bool) -> String {
        let start = self.i;
        if top {
            self.i = self.s.len();
            return String::from_utf8_lossy(&self.s[start..]).into_owned();
        } else {
            while self.i < self.s.len() && !matches!(self.s[self.i], b',' | b']' | b'}') {
                self.i += 1;
            }
        }
        String::from_utf8_lossy(&self.s[start..self.i])
            .trim_end()
            .to_string()
    }

    fn list(&mut self, close: u8) -> Result<Vec<Expect>, String> {
        let mut out = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&close) {
            self.i += 1;
            return Ok(out);
        }
        loop {
            out.push(self.value(false)?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(&c) if c == close => {
                    self.i += 1;
                    return Ok(out);
                }
                other => {
                    return Err(format!(
                        "expected ',' or close at {}, found {:?}",
                        self.i,
                        other.map(|&c| c as char)
                    ))
                }
            }
        }
    }

    fn value(&mut self, top: bool) -> Result<Expect, String> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err("unexpected end".into());
        };
        self.i += 1;
        Ok(match c {
            b'+' | b'-' if !top && self.s.get(self.i) == Some(&b'"') => {
                self.i += 1;
                let text = String::from_utf8_lossy(&self.quoted()?).into_owned();
                if c == b'+' {
                    Expect::Simple(text)
                } else {
                    Expect::Error(text)
                }
            }
            b'+' => Expect::Simple(self.until_delim(top)),
            b'-' => Expect::Error(self.until_delim(top)),
            b':' => Expect::Int(
                self.until_delim(false)
                    .parse()
                    .map_err(|e| format!("bad integer: {e}"))?,
            ),
            b',' => Expect::Double(self.until_delim(false)),
            b'#' => {
                let t = self.until_delim(false);
                Expect::Bool(t == "t")
            }
            b'*' => Expect::Any,
            b'(' if self.s[self.i..].starts_with(b"nil)") => {
                self.i += 4;
                Expect::Nil
            }
            b'(' => Expect::Big(self.until_delim(false)),
            b'[' => Expect::Array(self.list(b']')?),
            b'~' if self.s.get(self.i) == Some(&b'[') => {
                self.i += 1;
                Expect::Set(self.list(b']')?)
            }
            b'>' if self.s.get(self.i) == Some(&b'[') => {
                self.i += 1;
                Expect::Push(self.list(b']')?)
            }
            b'{' => {
                let mut pairs = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        let k = self.value(false)?;
                        self.ws();
                        if self.s.get(self.i) != Some(&b':') {
                            return Err(format!("expected ':' in map at {}", self.i));
                        }
                        self.i += 1;
                        let v = self.value(false)?;
                        pairs.push((k, v));
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(format!("expected ',' or '}}' at {}", self.i)),
                        }
                    }
                }
                Expect::Map(pairs)
            }
            b'"' => Expect::Bulk(self.quoted()?),
            other => return Err(format!("unexpected '{}'", other as char)),
        })
    }

    /// A quoted string's bytes; the opening quote is already consumed.
    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        {
            {
                let mut out = Vec::new();
                loop {
                    let Some(&c) = self.s.get(self.i) else {
                        return Err("unterminated string".into());
                    };
                    self.i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = self.s.get(self.i).copied().ok_or("bad escape")?;
                            self.i += 1;
                            match e {
                                b'n' => out.push(b'\n'),
                                b'r' => out.push(b'\r'),
                                b't' => out.push(b'\t'),
                                b'x' => {
                                    let h = std::str::from_utf8(&self.s[self.i..self.i + 2])
                                        .map_err(|e| e.to_string())?;
                                    out.push(u8::from_str_radix(h, 16).map_err(|e| e.to_string())?);
                                    self.i += 2;
                                }
                                other => out.push(other),
                            }
                        }
                        other => out.push(other),
                    }
                }
                Ok(out)
            }
        }
    }
}

fn parse_expect(s: &str) -> Result<Expect, String> {
    let mut p = Parser {
        s: s.as_bytes(),
        i: 0,
    };
    let v = p.value(true)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing text at {}", p.i));
    }
    Ok(v)
}

/// The RESP2 form of a RESP3 expectation.
fn to_resp2(e: &Expect) -> Expect {
    match e {
        Expect::Array(a) | Expect::Set(a) | Expect::Push(a) => {
            Expect::Array(a.iter().map(to_resp2).collect())
        }
        Expect::Map(m) => Expect::Array(
            m.iter()
                .flat_map(|(k, v)| [to_resp2(k), to_resp2(v)])
                .collect(),
        ),
        Expect::Double(t) | Expect::Big(t) => Expect::Bulk(t.clone().into_bytes()),
        Expect::Bool(b) => Expect::Int(i64::from(*b)),
        other => other.clone(),
    }
}

fn matches(e: &Expect, f: &Frame) -> bool {
    let all = |a: &[Expect], b: &[Frame]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| matches(x, y))
    };
    match (e, f) {
        (Expect::Any, _) => true,
        (Expect::Simple(s), Frame::Simple(b)) => s.as_bytes() == &b[..],
        (Expect::Error(s), Frame::Error(b) | Frame::BlobError(b)) => s.as_bytes() == &b[..],
        (Expect::Int(i), Frame::Integer(j)) => i == j,
        (Expect::Bulk(a), Frame::Bulk(b)) => a[..] == b[..],
        (Expect::Bulk(a), Frame::Verbatim { text, .. }) => a[..] == text[..],
        (Expect::Nil, Frame::Null | Frame::NullBulk | Frame::NullArray) => true,
        (Expect::Array(a), Frame::Array(b)) => all(a, b),
        (Expect::Set(a), Frame::Set(b)) => all(a, b),
        (Expect::Push(a), Frame::Push(b)) => all(a, b),
        (Expect::Map(a), Frame::Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ek, ev), (fk, fv))| matches(ek, fk) && matches(ev, fv))
        }
        (Expect::Double(t), Frame::Double(d)) => *t == double_text(*d),
        (Expect::Bool(x), Frame::Boolean(y)) => x == y,
        (Expect::Big(t), Frame::BigNumber(b)) => t.as_bytes() == &b[..],
        _ => false,
    }
}

fn parse_file(text: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("@advance ") {
            items.push(Item::Advance(
                ms.trim().parse().map_err(|e| format!("line {i}: {e}"))?,
            ));
            continue;
        }
        let Some(cmd) = line.strip_prefix("> ") else {
            return Err(format!(
                "line {i}: expected a command ('> ...'), found {line:?}"
            ));
        };
        let line_no = i;
        let expect = lines
            .get(i)
            .map(|l| l.trim_end_matches('\r').to_string())
            .ok_or(format!("line {i}: command without reply"))?;
        i += 1;
        let mut resp2 = None;
        if let Some(r2) = lines.get(i).and_then(|l| l.strip_prefix("resp2: ")) {
            resp2 = Some(r2.trim_end_matches('\r').to_string());
            i += 1;
        }
        items.push(Item::Step(Step {
            line_no,
            command: cmd.to_string(),
            expect,
            resp2,
        }));
    }
    Ok(items)
}

/// Runs one transcript under one protocol; returns failures and the actual renderings.
fn run_file(items: &[Item], resp3: bool) -> (Vec<String>, Vec<String>) {
    let server = TestServer::start(&[]);
    let mut conn: Conn = server.connect();
    if resp3 {
        conn.cmd(&["HELLO", "3"]);
    }
    let mut failures = Vec::new();
    let mut actual = Vec::new();
    for item in items {
        let step = match item {
            Item::Advance(ms) => {
                server.clock.advance(*ms);
                continue;
            }
            Item::Step(s) => s,
        };
        let Some(args) = protocol::split_args(step.command.as_bytes()) else {
            failures.push(format!(
                "line {}: cannot split {:?}",
                step.line_no, step.command
            ));
            continue;
        };
        let args: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        conn.send(&args);
        let Some(reply) = conn.read() else {
            failures.push(format!(
                "line {}: connection closed after {:?}",
                step.line_no, step.command
            ));
            break;
        };
        let rendered = render(&reply);
        actual.push(rendered.clone());
        let expected_text = if resp3 {
            &step.expect
        } else {
            step.resp2.as_ref().unwrap_or(&step.expect)
        };
        let expected = match parse_expect(expected_text) {
            Ok(e) => e,
            Err(err) => {
                failures.push(format!(
                    "line {}: bad expectation {expected_text:?}: {err}",
                    step.line_no
                ));
                continue;
            }
        };
        let expected = if resp3 || step.resp2.is_some() {
            expected
        } else {
            to_resp2(&expected)
        };
        if !matches(&expected, &reply) {
            failures.push(format!(
                "line {} ({}): > {}\n    expected: {}\n    actual:   {}",
                step.line_no,
                if resp3 { "RESP3" } else { "RESP2" },
                step.command,
                expected_text,
                rendered
            ));
        }
    }
    (failures, actual)
}

fn transcript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts")
}

fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(transcript_dir())
        .expect("transcripts dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

/// Rewrites a file's expectations with what the server answered.
fn rewrite(path: &Path, text: &str, items: &[Item], actual3: &[String], actual2: &[String]) {
    let mut out = String::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut step_lines = std::collections::HashMap::new();
    let mut n = 0;
    for item in items {
        if let Item::Step(s) = item {
            step_lines.insert(s.line_no, n);
            n += 1;
        }
    }
    let mut i = 0;
    while i < lines.len() {
        out.push_str(lines[i]);
        out.push('\n');
        if let Some(&k) = step_lines.get(&(i + 1)) {
            i += 1; // the old expectation
            if lines.get(i + 1).is_some_and(|l| l.starts_with("resp2: ")) {
                i += 1;
            }
            let a3 = actual3.get(k).cloned().unwrap_or_default();
            out.push_str(&a3);
            out.push('\n');
            if let (Some(a2), Ok(e3)) = (actual2.get(k), parse_expect(&a3)) {
                let conv = to_resp2(&e3);
                if parse_expect(a2).map(|e| e != conv).unwrap_or(true) && !a2.is_empty() {
                    out.push_str("resp2: ");
                    out.push_str(a2);
                    out.push('\n');
                }
            }
        }
        i += 1;
    }
    std::fs::write(path, out).expect("rewrite transcript");
}

#[test]
fn transcripts() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let only = std::env::var("TRANSCRIPT").ok();
    let mut failures = Vec::new();
    for path in files() {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read transcript");
        let items = match parse_file(&text) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let (f3, a3) = run_file(&items, true);
        let (f2, a2) = run_file(&items, false);
        if update && (!f3.is_empty() || !f2.is_empty()) {
            rewrite(&path, &text, &items, &a3, &a2);
            continue;
        }
        failures.extend(f3.into_iter().chain(f2).map(|f| format!("{name}: {f}")));
    }
    assert!(
        failures.is_empty(),
        "{} transcript failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_command_has_a_transcript() {
    let mut seen = BTreeSet::new();
    for path in files() {
        let text = std::fs::read_to_string(&path).expect("read");
        for line in text.lines() {
            if let Some(cmd) = line.strip_prefix("> ") {
                let words: Vec<String> = cmd
                    .split_whitespace()
                    .take(2)
                    .map(|w| w.to_ascii_lowercase())
                    .collect();
                if let Some(first) = words.first() {
                    seen.insert(first.clone());
                    if let Some(second) = words.get(1) {
                        seen.insert(format!("{first}|{second}"));
                    }
                }
            }
        }
    }
    let reg = commands::registry::registry();
    let missing: Vec<&str> = (0..reg.len())
        .map(|id| reg.full_name(id))
        .filter(|n| !seen.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "commands without a transcript: {missing:?}"
    );
}

#[test]
fn notation_round_trips() {
    for s in [
        "+OK",
        "-ERR syntax error",
        ":3",
        "\"a\\\"b\"",
        "(nil)",
        "[\"a\", :1, [(nil)]]",
        "{\"k\": ~[\"v\"]}",
        ",1.5",
        "#t",
    ] {
        let e = parse_expect(s).unwrap();
        assert!(!matches!(e, Expect::Any), "{s}");
    }
    assert_eq!(
        to_resp2(&parse_expect("{\"a\": #t}").unwrap()),
        Expect::Array(vec![Expect::Bulk(b"a".to_vec()), Expect::Int(1)])
    );
}
