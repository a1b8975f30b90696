//! The append-only file on disk, in Redis 7's multi-part layout: a directory
//! (`appenddirname`) holding one base file (`<name>.<seq>.base.rdb`, an RDB image, or
//! `<name>.<seq>.base.aof`, commands), incremental files (`<name>.<seq>.incr.aof`, commands in
//! RESP) and the manifest (`<name>.manifest`) that lists them in Redis's text format:
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.2.incr.aof seq 2 type i
//! ```
//!
//! This module reads and writes manifests (temp file, fsync, rename, fsync of the directory)
//! and splits command files into commands, telling a torn tail (the file ends inside a
//! command) from a malformed one (wrong bytes at an offset). Running the commands is the
//! caller's business.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// What a file of the manifest is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// The snapshot the incremental files apply to (at most one, listed first).
    Base,
    /// A file replaced by a rewrite, removed once the new manifest is on disk.
    History,
    /// Commands logged after the base, in sequence order.
    Incr,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: i64,
    pub kind: FileType,
}

/// The list of files that make up the append-only file (Redis's `aofManifest`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    pub incr: Vec<AofFile>,
    /// Highest base and incr sequence numbers handed out.
    pub base_seq: i64,
    pub incr_seq: i64,
}

/// A manifest Redis would refuse: the line (1-based), its text and Redis's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub line: usize,
    pub text: String,
    pub reason: &'static str,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(
                f,
                "Reading the manifest file, at line {}: '{}': {}",
                self.line, self.text, self.reason
            )
        }
    }
}

impl std::error::Error for ManifestError {}

/// `<name>.manifest`.
pub fn manifest_name(aof_name: &str) -> String {
    format!("{aof_name}.manifest")
}

/// `temp-<name>.manifest`, written then renamed over the manifest.
pub fn temp_manifest_name(aof_name: &str) -> String {
    format!("temp-{aof_name}.manifest")
}

/// `temp-<name>.incr`: the incremental file of an AOF being switched on at run time,
/// renamed into the manifest once its base exists.
pub fn temp_incr_name(aof_name: &str) -> String {
    format!("temp-{aof_name}.incr")
}

impl Manifest {
    /// Parses a manifest as Redis's `aofLoadManifestFromFile` does (comments, quoted
    /// names, extra key/value pairs ignored; the same checks and reasons).
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let mut maxseq = 0i64;
        let mut lines = 0usize;
        let err = |line: usize, text: &str, reason: &'static str| ManifestError {
            line,
            text: text.to_string(),
            reason,
        };
        for raw in text.split_inclusive('\n') {
            lines += 1;
            if raw.starts_with('#') {
                continue;
            }
            if raw.len() > 1024 || !raw.ends_with('\n') {
                return Err(err(
                    lines,
                    raw.trim(),
                    if raw.len() > 1024 {
                        "The AOF manifest file contains too long line"
                    } else {
                        "Invalid AOF manifest file format"
                    },
                ));
            }
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            let invalid = || err(lines, line, "Invalid AOF manifest file format");
            if line.is_empty() {
                return Err(invalid());
            }
            let argv = split_args(line).ok_or_else(invalid)?;
            if argv.len() < 6 || argv.len() % 2 != 0 {
                return Err(invalid());
            }
            let (mut name, mut seq, mut kind) = (None, 0i64, None);
            for pair in argv.chunks(2) {
                let key = pair[0].to_ascii_lowercase();
                match key.as_str() {
                    "file" => {
                        if pair[1].contains('/') {
                            return Err(err(lines, line, "File can't be a path, just a filename"));
                        }
                        name = Some(pair[1].clone());
                    }
                    "seq" => seq = atoll(&pair[1]),
                    "type" => kind = pair[1].chars().next(),
                    _ => {}
                }
            }
            let (Some(name), Some(kind)) = (name, kind) else {
                return Err(invalid());
            };
            if seq == 0 || name.is_empty() {
                return Err(invalid());
            }
            match kind {
                'b' => {
                    if m.base.is_some() {
                        return Err(err(lines, line, "Found duplicate base file information"));
                    }
                    m.base_seq = seq;
                    m.base = Some(AofFile {
                        name,
                        seq,
                        kind: FileType::Base,
                    });
                }
                'h' => m.history.push(AofFile {
                    name,
                    seq,
                    kind: FileType::History,
                }),
                'i' => {
                    if seq <= maxseq {
                        return Err(err(lines, line, "Found a non-monotonic sequence number"));
                    }
                    maxseq = seq;
                    m.incr_seq = seq;
                    m.incr.push(AofFile {
                        name,
                        seq,
                        kind: FileType::Incr,
                    });
                }
                _ => return Err(err(lines, line, "Unknown AOF file type")),
            }
        }
        if lines == 0 {
            return Err(err(0, "", "Found an empty AOF manifest"));
        }
        Ok(m)
    }

    /// The manifest's text: base first, then history, then incremental files.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let files = self.base.iter().chain(&self.history).chain(&self.incr);
        for f in files {
            s.push_str(&format!(
                "file {} seq {} type {}\n",
                repr_if_needed(&f.name),
                f.seq,
                f.kind.letter()
            ));
        }
        s
    }

    /// Adds a new base (`<name>.<seq>.base.rdb` or `.aof`), making the old one history.
    /// Returns the new file's name.
    pub fn new_base(&mut self, aof_name: &str, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let name = format!(
            "{aof_name}.{}.base.{}",
            self.base_seq,
            if rdb { "rdb" } else { "aof" }
        );
        self.base = Some(AofFile {
            name: name.clone(),
            seq: self.base_seq,
            kind: FileType::Base,
        });
        name
    }

    /// Appends a new incremental file `<name>.<seq>.incr.aof`; returns its name.
    pub fn new_incr(&mut self, aof_name: &str) -> String {
        self.incr_seq += 1;
        let name = format!("{aof_name}.{}.incr.aof", self.incr_seq);
        self.incr.push(AofFile {
            name: name.clone(),
            seq: self.incr_seq,
            kind: FileType::Incr,
        });
        name
    }

    /// After a rewrite: the incremental files it covers become history — all of them, or
    /// all but the last when `keep_last` (the file being written).
    pub fn retire_incr(&mut self, keep_last: bool) {
        let keep = usize::from(keep_last && !self.incr.is_empty());
        let n = self.incr.len() - keep;
        for mut f in self.incr.drain(..n).rev() {
            f.kind = FileType::History;
            self.history.insert(0, f);
        }
    }

    /// Base then incremental files, in loading order.
    pub fn live_files(&self) -> impl Iterator<Item = &AofFile> {
        self.base.iter().chain(&self.incr)
    }

    /// Reads `dir/<name>.manifest`; Ok(None) when the directory or the manifest is absent.
    pub fn load(dir: &Path, aof_name: &str) -> Result<Option<Manifest>, String> {
        let path = dir.join(manifest_name(aof_name));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                Manifest::parse(&text).map(Some).map_err(|e| e.to_string())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!(
                "Fatal error: can't open the AOF manifest file {} for reading: {e}",
                path.display()
            )),
        }
    }

    /// Writes the manifest to `dir/<name>.manifest` atomically: a temporary file, fsync,
    /// rename over the old one, fsync of the directory (new files are made durable too).
    pub fn store(&self, dir: &Path, aof_name: &str) -> io::Result<()> {
        let tmp = dir.join(temp_manifest_name(aof_name));
        let path = dir.join(manifest_name(aof_name));
        let mut f = File::create(&tmp)?;
        f.write_all(self.render().as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        sync_dir(dir)
    }
}

/// fsyncs a directory, so renames and new files in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// C's `atoll`: leading blanks, optional sign, digits; 0 when none.
fn atoll(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// Redis's `sdssplitargs`: words separated by blanks, `"..."` with escapes, `'...'`.
fn split_args(line: &str) -> Option<Vec<String>> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        if b[i] == b'"' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return None,
                    Some(b'\\') if b.get(i + 1) == Some(&b'x') && i + 3 < b.len() => {
                        let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                        match u8::from_str_radix(hex, 16) {
                            Ok(v) => {
                                cur.push(v);
                                i += 4;
                            }
                            Err(_) => {
                                cur.push(b'x');
                                i += 2;
                            }
                        }
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        cur.push(match b[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            c => c,
                        });
                        i += 2;
                    }
                    Some(b'"') => {
                        // The closing quote must be followed by a blank or the end.
                        if b.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        cur.push(c);
                        i += 1;
                    }
                }
            }
        } else if b[i] == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return None,
                    Some(b'\\') if b.get(i + 1) == Some(&b'\'') => {
                        cur.push(b'\'');
                        i += 2;
                    }
                    Some(b'\'') => {
                        if b.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        cur.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                cur.push(b[i]);
                i += 1;
            }
        }
        out.push(String::from_utf8_lossy(&cur).into_owned());
    }
}

/// A file name as Redis writes it in the manifest: quoted with escapes (`sdscatrepr`)
/// when it holds blanks, quotes, backslashes or unprintable bytes.
fn repr_if_needed(name: &str) -> String {
    let needs = name.bytes().any(|c| {
        matches!(c, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 7 | 8 | b' ')
            || !(0x21..0x7f).contains(&c)
    });
    if !needs {
        return name.to_string();
    }
    let mut s = String::from("\"");
    for c in name.bytes() {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if (0x20..0x7f).contains(&c) => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

// ----- command files ------------------------------------------------------------------------

/// Why reading commands stopped before the end of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The file ends inside a command: the bytes from `valid_up_to` on are a torn tail.
    Truncated { valid_up_to: usize },
    /// The bytes at `offset` are not a command.
    Malformed { offset: usize },
    /// The callback refused a command (its message).
    Refused(String),
}

/// Reads the commands of `buf` from `start` (RESP multibulks of bulk strings; `#...` lines
/// are annotations and skipped, as Redis does), calling `f` with each command and the
/// offset just past it. Lines are parsed as Redis's loader reads them: a count line
/// `*<n>`, then per argument `$<len>`, the bytes and CRLF.
pub fn read_commands(
    buf: &[u8],
    start: usize,
    mut f: impl FnMut(Vec<Vec<u8>>, usize) -> Result<(), String>,
) -> Result<(), Stop> {
    let mut pos = start;
    let mut valid = start;
    while pos < buf.len() {
        let cmd_start = pos;
        let line = |at: usize| -> Option<(&[u8], usize)> {
            let nl = buf[at..].iter().position(|&c| c == b'\n')?;
            Some((&buf[at..at + nl + 1], at + nl + 1))
        };
        let truncated = Stop::Truncated { valid_up_to: valid };
        let Some((head, next)) = line(pos) else {
            return Err(truncated);
        };
        if head[0] == b'#' {
            pos = next;
            valid = pos;
            continue;
        }
        if head[0] != b'*' {
            return Err(Stop::Malformed { offset: cmd_start });
        }
        let argc = parse_len(&head[1..]).filter(|&n| n >= 1);
        let Some(argc) = argc else {
            return Err(Stop::Malformed { offset: cmd_start });
        };
        pos = next;
        let mut args = Vec::with_capacity(argc.min(1024));
        for _ in 0..argc {
            let Some((head, next)) = line(pos) else {
                return Err(truncated);
            };
            if head[0] != b'$' {
                return Err(Stop::Malformed { offset: pos });
            }
            let Some(len) = parse_len(&head[1..]) else {
                return Err(Stop::Malformed { offset: pos });
            };
            pos = next;
            if buf.len() - pos < len {
                return Err(truncated);
            }
            let arg = buf[pos..pos + len].to_vec();
            pos += len;
            match buf.get(pos..pos + 2) {
                Some(b"\r\n") => pos += 2,
                Some(_) => return Err(Stop::Malformed { offset: pos }),
                None => {
                    if buf[pos..].iter().all(|&c| c == b'\r') {
                        return Err(truncated);
                    }
                    return Err(Stop::Malformed { offset: pos });
                }
            }
            args.push(arg);
        }
        f(args, pos).map_err(Stop::Refused)?;
        valid = pos;
    }
    Ok(())
}

/// The number of a `*<n>\r\n` or `$<n>\r\n` line (after its first byte).
fn parse_len(rest: &[u8]) -> Option<usize> {
    let digits = rest.strip_suffix(b"\n")?;
    let digits = digits.strip_suffix(b"\r").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Whether a base file holds an RDB image rather than commands.
pub fn is_rdb(buf: &[u8]) -> bool {
    buf.starts_with(b"REDIS")
}

/// Appends one command in RESP (a multibulk of bulk strings), as the file holds it.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    write_command(args, |bytes| out.extend_from_slice(bytes));
}

/// Writes one command in RESP (a multibulk of bulk strings) through `put`, piece by piece:
/// the one encoder of the AOF, the replication stream and the propagation log.
pub fn write_command<A: AsRef<[u8]>>(args: &[A], mut put: impl FnMut(&[u8])) {
    let mut n = itoa::Buffer::new();
    put(b"*");
    put(n.format(args.len()).as_bytes());
    put(b"\r\n");
    for a in args {
        let a = a.as_ref();
        put(b"$");
        put(n.format(a.len()).as_bytes());
        put(b"\r\n");
        put(a);
        put(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_in_redis_format() {
        let mut m = Manifest::default();
        let b = m.new_base("appendonly.aof", true);
        let i = m.new_incr("appendonly.aof");
        assert_eq!(b, "appendonly.aof.1.base.rdb");
        assert_eq!(i, "appendonly.aof.1.incr.aof");
        let text = m.render();
        assert_eq!(
            text,
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        m.new_incr("appendonly.aof");
        // Redis's order: the old base, then each retired incr, pushed at the head.
        m.new_base("appendonly.aof", false);
        m.retire_incr(true);
        assert_eq!(
            m.render(),
            "file appendonly.aof.2.base.aof seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
    }

    #[test]
    fn manifest_errors_match_redis() {
        let e = |t: &str| Manifest::parse(t).unwrap_err().reason;
        assert_eq!(e(""), "Found an empty AOF manifest");
        assert_eq!(e("file a seq 1\n"), "Invalid AOF manifest file format");
        assert_eq!(
            e("file a/b seq 1 type b\n"),
            "File can't be a path, just a filename"
        );
        assert_eq!(
            e("file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(
            e("file a seq 2 type i\nfile b seq 1 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(e("file a seq 1 type x\n"), "Unknown AOF file type");
        let m = Manifest::parse("# comment\nfile \"a b\" seq 3 type i extra 1\n").unwrap();
        assert_eq!(m.incr[0].name, "a b");
        assert_eq!(m.render(), "file \"a b\" seq 3 type i\n");
    }

    #[test]
    fn commands_torn_tail_and_garbage() {
        let mut buf = Vec::new();
        encode_command(&mut buf, &[b"SET", b"k", b"v"]);
        let one = buf.len();
        encode_command(&mut buf, &[b"INCR", b"n"]);
        let whole = buf.len();
        let mut seen = Vec::new();
        read_commands(&buf, 0, |a, end| {
            seen.push((a, end));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].1, one);
        for cut in one + 1..whole {
            let r = read_commands(&buf[..cut], 0, |_, _| Ok(()));
            assert_eq!(r, Err(Stop::Truncated { valid_up_to: one }), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[one] = b'X';
        assert_eq!(
            read_commands(&bad, 0, |_, _| Ok(())),
            Err(Stop::Malformed { offset: one })
        );
        let mut annotated = b"#TS:1700000000\r\n".to_vec();
        annotated.extend_from_slice(&buf);
        let mut n = 0;
        read_commands(&annotated, 0, |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
    }
}
