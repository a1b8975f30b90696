//! JSON.* commands (RedisJSON 2.6-compatible) on the built-in JSON type, and MODULE, which
//! reports the built-in `ReJSON` so clients enable their JSON APIs. Reply shapes, error texts
//! and event names follow RedisJSON's `commands.rs`: legacy paths act on every match but
//! reply for one (and error when nothing matches); `$` paths reply per match.

use std::borrow::Cow;

use bytes::Bytes;
use json::path::{self, JsonPath, Match, Segment, Selector, Step};
use json::ser::{self, Format, Writer};
use json::{Document, Kind, Node, Value as JValue};
use keyspace::{class, Event, Value};
use protocol::{Protocol, ReplyWriter};

use crate::args::is;
use crate::command;
use crate::context::{Ctx, KeyLock};
use crate::errors::{self, CmdError, CmdResult};
use crate::family::server::help_reply;
use crate::spec::{flag::*, CommandSpec, Keys};

/// The RedisJSON version MODULE LIST and INFO report (2.6.9).
pub const REJSON_VERSION: i64 = 20609;

macro_rules! json_cmd {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $handler:expr, $since:literal, $summary:literal) => {
        command!($name, $arity, $flags, $keys, $handler,
            acl: &["json"], group: "module", since: $since,
            complexity: "O(N) when path is evaluated to a single value where N is the size of the value, O(N) when path is evaluated to multiple values, where N is the size of the key",
            summary: $summary)
    };
}

static MODULE_SUBCOMMANDS: &[CommandSpec] = &[
    command!("list", 2, ADMIN | NOSCRIPT, Keys::NONE, module_list,
        acl: &[], group: "server", since: "4.0.0", complexity: "O(N) where N is the number of loaded modules.",
        summary: "Returns all loaded modules."),
    command!("load", -3, ADMIN | NOSCRIPT, Keys::NONE, module_load,
        acl: &[], group: "server", since: "4.0.0", complexity: "O(1)",
        summary: "Loads a module."),
    command!("loadex", -3, ADMIN | NOSCRIPT, Keys::NONE, module_load,
        acl: &[], group: "server", since: "7.0.0", complexity: "O(1)",
        summary: "Loads a module using extended parameters."),
    command!("unload", 3, ADMIN | NOSCRIPT, Keys::NONE, module_unload,
        acl: &[], group: "server", since: "4.0.0", complexity: "O(1)",
        summary: "Unloads a module."),
    command!("help", 2, LOADING | STALE, Keys::NONE, module_help,
        acl: &[], group: "server", since: "5.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

const ONE: Keys = Keys::ONE;

pub static COMMANDS: &[CommandSpec] = &[
    command!("module", -2, 0, Keys::NONE, module_container,
        acl: &[], group: "server", since: "4.0.0", complexity: "Depends on subcommand.",
        summary: "A container for module commands.", subcommands: MODULE_SUBCOMMANDS),
    json_cmd!("json.set", -4, WRITE | DENYOOM, ONE, json_set, "1.0.0", "Sets or updates the JSON value at a path"),
    json_cmd!("json.get", -2, READONLY, ONE, json_get, "1.0.0", "Gets the value at one or more paths in JSON serialized form"),
    json_cmd!("json.mget", -3, READONLY, Keys { first: 1, last: -2, step: 1 }, json_mget, "1.0.0", "Returns the values at a path from one or more keys"),
    json_cmd!("json.mset", -4, WRITE | DENYOOM, Keys { first: 1, last: -1, step: 3 }, json_mset, "2.6.0", "Sets or updates the JSON value of one or more keys"),
    json_cmd!("json.merge", -4, WRITE | DENYOOM, ONE, json_merge, "2.6.0", "Merges a given JSON value into matching paths so that the JSON values at the matching paths are updated, deleted, or expanded"),
    json_cmd!("json.del", -2, WRITE, ONE, json_del, "1.0.0", "Deletes a value"),
    json_cmd!("json.forget", -2, WRITE, ONE, json_del, "1.0.0", "Deletes a value"),
    json_cmd!("json.type", -2, READONLY, ONE, json_type, "1.0.0", "Returns the type of the JSON value at path"),
    json_cmd!("json.clear", -2, WRITE, ONE, json_clear, "2.0.0", "Clears all values from an array or an object and sets numeric values to `0`"),
    json_cmd!("json.toggle", -3, WRITE, ONE, json_toggle, "2.0.0", "Toggles a boolean value"),
    json_cmd!("json.numincrby", -4, WRITE, ONE, json_numincrby, "1.0.0", "Increments the numeric value at path by a value"),
    json_cmd!("json.nummultby", -4, WRITE, ONE, json_nummultby, "1.0.0", "Multiplies the numeric value at path by a value"),
    json_cmd!("json.strappend", -3, WRITE | DENYOOM, ONE, json_strappend, "1.0.0", "Appends a string to a JSON string value at path"),
    json_cmd!("json.strlen", -2, READONLY, ONE, json_strlen, "1.0.0", "Returns the length of the JSON String at path in key"),
    json_cmd!("json.arrappend", -4, WRITE | DENYOOM, ONE, json_arrappend, "1.0.0", "Append one or more json values into the array at path after the last element in it."),
    json_cmd!("json.arrindex", -4, READONLY, ONE, json_arrindex, "1.0.0", "Returns the index of the first occurrence of a JSON scalar value in the array at path"),
    json_cmd!("json.arrinsert", -5, WRITE | DENYOOM, ONE, json_arrinsert, "1.0.0", "Inserts the JSON scalar(s) value at the specified index in the array at path"),
    json_cmd!("json.arrlen", -2, READONLY, ONE, json_arrlen, "1.0.0", "Returns the length of the array at path"),
    json_cmd!("json.arrpop", -2, WRITE, ONE, json_arrpop, "1.0.0", "Removes and returns the element at the specified index in the array at path"),
    json_cmd!("json.arrtrim", -5, WRITE, ONE, json_arrtrim, "1.0.0", "Trims the array at path to contain only the specified inclusive range of indices from start to stop"),
    json_cmd!("json.objkeys", -2, READONLY, ONE, json_objkeys, "1.0.0", "Returns the JSON keys of the object at path"),
    json_cmd!("json.objlen", -2, READONLY, ONE, json_objlen, "1.0.0", "Returns the number of keys of the object at path"),
    json_cmd!("json.resp", -2, READONLY, ONE, json_resp, "1.0.0", "Returns the JSON value at path in Redis Serialization Protocol (RESP)"),
    json_cmd!("json.debug", -2, READONLY, Keys { first: 2, last: 2, step: 1 }, json_debug, "1.0.0", "Debugging container command"),
];

// ----- events ------------------------------------------------------------------------------

const fn ev(name: &'static str) -> Event {
    Event {
        name,
        class: class::MODULE,
    }
}
const EV_SET: Event = ev("json.set");
const EV_MSET: Event = ev("json.mset");
const EV_MERGE: Event = ev("json.merge");
const EV_DEL: Event = ev("json.del");
const EV_CLEAR: Event = ev("json.clear");
const EV_TOGGLE: Event = ev("json.toggle");
const EV_NUMINCRBY: Event = ev("json.numincrby");
const EV_NUMMULTBY: Event = ev("json.nummultby");
const EV_STRAPPEND: Event = ev("json.strappend");
const EV_ARRAPPEND: Event = ev("json.arrappend");
const EV_ARRINSERT: Event = ev("json.arrinsert");
const EV_ARRPOP: Event = ev("json.arrpop");
const EV_ARRTRIM: Event = ev("json.arrtrim");

// ----- errors (RedisJSON's texts) ------------------------------------------------------------

const NONEXISTENT: CmdError =
    CmdError::new("ERR could not perform this operation on a key that doesn't exist");
const NOT_UTF8: CmdError = CmdError::new("ERR Couldn't parse as UTF-8 string");
const NOT_INTEGER: CmdError = CmdError::new("Couldn't parse as integer");
const NEW_AT_ROOT: CmdError = CmdError::new("ERR new objects must be created at the root");
const TOO_DEEP: CmdError = CmdError::new("ERR recursion limit exceeded");

fn owned(s: String) -> CmdError {
    CmdError(Cow::Owned(s))
}

fn path_missing(p: &str) -> CmdError {
    owned(format!("ERR Path '{p}' does not exist"))
}

fn path_missing_or(p: &str, or: &str) -> CmdError {
    owned(format!("ERR Path '{p}' does not exist or {or}"))
}

fn expected(what: &str, found: &str) -> CmdError {
    owned(format!(
        "WRONGTYPE wrong type of path value - expected {what} but found {found}"
    ))
}

fn text(arg: &[u8]) -> Result<&str, CmdError> {
    std::str::from_utf8(arg).map_err(|_| NOT_UTF8)
}

fn parse_json(arg: &[u8]) -> Result<JValue, CmdError> {
    json::parse(text(arg)?).map_err(|e| owned(e.to_string()))
}

fn parse_int(arg: &[u8]) -> Result<i64, CmdError> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(NOT_INTEGER)
}

// ----- paths -------------------------------------------------------------------------------

/// A path argument: as given, rewritten to `$` syntax, and whether it was legacy.
struct JPath<'a> {
    original: &'a str,
    fixed: String,
    legacy: bool,
}

impl<'a> JPath<'a> {
    fn new(arg: &'a [u8]) -> Result<JPath<'a>, CmdError> {
        let original = text(arg)?;
        let (fixed, legacy) = path::normalize(original);
        Ok(JPath {
            original,
            fixed,
            legacy,
        })
    }

    fn root() -> JPath<'static> {
        JPath {
            original: ".",
            fixed: "$".to_string(),
            legacy: true,
        }
    }

    fn is_root(&self) -> bool {
        self.fixed == "$"
    }

    fn compile(&self) -> Result<JsonPath, CmdError> {
        path::parse(&self.fixed).map_err(|e| owned(e.to_string()))
    }
}

// ----- keys --------------------------------------------------------------------------------

/// Finds a key for reading (hits/misses counted): its position if it holds JSON.
fn find_json(k: &mut KeyLock<'_>, key: &[u8], read: bool) -> Result<Option<usize>, CmdError> {
    let pos = if read { k.find_read(key) } else { k.find(key) };
    match pos {
        Some(p) if !matches!(k.shard.value(p), Value::Json(_)) => Err(errors::WRONGTYPE),
        other => Ok(other),
    }
}

fn doc_at<'s>(k: &'s KeyLock<'_>, pos: usize) -> Result<&'s Document, CmdError> {
    match k.shard.value(pos) {
        Value::Json(d) => Ok(d),
        _ => Err(errors::WRONGTYPE),
    }
}

fn doc_at_mut<'s>(k: &'s mut KeyLock<'_>, pos: usize) -> Result<&'s mut Document, CmdError> {
    match k.shard.value_mut(pos) {
        Value::Json(d) => Ok(d),
        _ => Err(errors::WRONGTYPE),
    }
}

fn is_resp3(out: &ReplyWriter) -> bool {
    out.proto == Protocol::Resp3
}

/// The locations of the matches of `path` and whether each passes `accept`.
fn locate(
    doc: &Document,
    path: &JsonPath,
    accept: impl Fn(Node<'_>) -> bool,
) -> Vec<(Vec<Step>, bool)> {
    path::select(&doc.root, path, true)
        .into_iter()
        .map(|m: Match<'_>| {
            let ok = accept(m.node);
            (m.path, ok)
        })
        .collect()
}

/// Runs `op` on every accepted match; None for the others.
fn apply<T>(
    doc: &mut Document,
    path: &JsonPath,
    accept: impl Fn(Node<'_>) -> bool,
    mut op: impl FnMut(&mut JValue, usize) -> Result<T, CmdError>,
) -> Result<Vec<Option<T>>, CmdError> {
    let mut out = Vec::new();
    for (loc, ok) in locate(doc, path, accept) {
        if !ok {
            out.push(None);
            continue;
        }
        let depth = loc.len();
        match doc.get_mut(&loc) {
            Some(v) => out.push(Some(op(v, depth)?)),
            None => out.push(None),
        }
    }
    Ok(out)
}

fn check_depth(level: usize, v: &JValue) -> CmdResult {
    if level + v.depth() >= json::MAX_DEPTH {
        return Err(TOO_DEEP);
    }
    Ok(())
}

fn is_kind(k: Kind) -> impl Fn(Node<'_>) -> bool {
    move |n| n.kind() == k
}

// ----- reply helpers -----------------------------------------------------------------------

fn reply_opt_ints(out: &mut ReplyWriter, v: &[Option<i64>]) {
    out.array(v.len());
    for x in v {
        match x {
            Some(i) => out.int(*i),
            None => out.null(),
        }
    }
}

// ----- MODULE ------------------------------------------------------------------------------

fn module_container(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(())
}

fn module_list(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.array(1);
    cx.out.map(4);
    cx.out.bulk(b"name");
    cx.out.bulk(b"ReJSON");
    cx.out.bulk(b"ver");
    cx.out.int(REJSON_VERSION);
    cx.out.bulk(b"path");
    cx.out.bulk(b"builtin");
    cx.out.bulk(b"args");
    cx.out.array(0);
    Ok(())
}

fn module_load(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(CmdError::new(
        "ERR Error loading the extension. Please check the server logs.",
    ))
}

fn module_unload(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if &args[2][..] == b"ReJSON" {
        return Err(CmdError::new("ERR Error unloading module: the module exports one or more module-side data types, can't unload"));
    }
    Err(CmdError::new(
        "ERR Error unloading module: no such module with that name",
    ))
}

fn module_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "module",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    Ok(())
}

// ----- JSON.SET, JSON.MSET, JSON.MERGE -------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOpt {
    None,
    Nx,
    Xx,
}

/// Where a JSON.SET writes: existing locations to replace, or (parent, key) pairs to add.
enum Update {
    Replace(Vec<Step>),
    Add(Vec<Step>, String),
}

/// RedisJSON's `find_paths`: the updates `path` makes in `doc` under `opt`.
fn find_updates(doc: &Document, p: &JPath<'_>, opt: SetOpt) -> Result<Vec<Update>, CmdError> {
    let compiled = p.compile()?;
    if opt != SetOpt::Nx {
        let found = locate(doc, &compiled, |_| true);
        if !found.is_empty() {
            return Ok(found.into_iter().map(|(l, _)| Update::Replace(l)).collect());
        }
    }
    if opt == SetOpt::Xx {
        return Ok(Vec::new());
    }
    if !compiled.is_static() {
        return Err(CmdError::new("Err wrong static path"));
    }
    let mut prefix = compiled;
    match prefix.segments.pop() {
        None => Err(CmdError::new("Err path must end with object key to set")),
        Some(Segment::Child(Selector::Name(key))) => Ok(locate(doc, &prefix, |_| true)
            .into_iter()
            .map(|(l, _)| Update::Add(l, key.clone()))
            .collect()),
        Some(_) => {
            if locate(doc, &p.compile()?, |_| true).is_empty() {
                Err(CmdError::new("ERR array index out of range"))
            } else {
                Ok(Vec::new())
            }
        }
    }
}

/// Applies updates; whether anything changed.
fn apply_updates(
    doc: &mut Document,
    updates: Vec<Update>,
    value: &JValue,
) -> Result<bool, CmdError> {
    let mut changed = false;
    for u in updates {
        match u {
            Update::Replace(loc) => {
                check_depth(loc.len(), value)?;
                if loc.is_empty() {
                    doc.root = value.clone();
                    changed = true;
                } else if let Some(v) = doc.get_mut(&loc) {
                    *v = value.clone();
                    changed = true;
                }
            }
            Update::Add(loc, key) => {
                check_depth(loc.len() + 1, value)?;
                if let Some(JValue::Object(o)) = doc.get_mut(&loc) {
                    if !o.contains_key(&key) {
                        o.insert(&key, value.clone());
                        changed = true;
                    }
                }
            }
        }
    }
    Ok(changed)
}

fn json_set(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let p = JPath::new(&args[2])?;
    let mut opt = SetOpt::None;
    let mut i = 4;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") && opt == SetOpt::None {
            opt = SetOpt::Nx;
        } else if is(a, "xx") && opt == SetOpt::None {
            opt = SetOpt::Xx;
        } else if is(a, "format") && i + 1 < args.len() {
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?;
    let value = parse_json(&args[3])?;
    match pos {
        Some(pos) => {
            let doc = doc_at_mut(&mut k, pos)?;
            let changed = if p.is_root() {
                if opt == SetOpt::Nx {
                    false
                } else {
                    doc.root = value;
                    true
                }
            } else {
                let updates = find_updates(doc, &p, opt)?;
                apply_updates(doc, updates, &value)?
            };
            if changed {
                k.op.emit(key, EV_SET);
                cx.out.ok();
            } else {
                cx.out.null();
            }
        }
        None if opt == SetOpt::Xx => cx.out.null(),
        None if p.is_root() => {
            k.set(
                key,
                Value::Json(Box::new(Document::new(value))),
                false,
                EV_SET,
            );
            cx.out.ok();
        }
        None => return Err(NEW_AT_ROOT),
    }
    Ok(())
}

fn json_mset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !(args.len() - 1).is_multiple_of(3) {
        return Err(errors::wrong_arity("json.mset"));
    }
    let mut triples = Vec::new();
    for t in args[1..].chunks(3) {
        triples.push((&t[0], JPath::new(&t[1])?, parse_json(&t[2])?));
    }
    let (mut locked, placed) = cx.store.lock_keys(triples.iter().map(|t| &t.0[..]));
    let op = cx.store.op();
    // First check every triple, so that a failing one changes nothing.
    for (key, p, _) in &triples {
        let hash = cx.store.keyspace.hash(key);
        let shard = cx.store.keyspace.shard_of(hash);
        let s = locked.shard(shard);
        match s.lookup(&op, hash, key) {
            Some(pos) => match s.value(pos) {
                Value::Json(d) => {
                    if !p.is_root() {
                        find_updates(d, p, SetOpt::None)?;
                    }
                }
                _ => return Err(errors::WRONGTYPE),
            },
            None if !p.is_root() => return Err(NEW_AT_ROOT),
            None => {}
        }
    }
    for ((key, p, value), &(hash, shard)) in triples.iter().zip(&placed) {
        let s = locked.shard(shard);
        let changed = match s.lookup(&op, hash, key) {
            Some(pos) => match s.value_mut(pos) {
                Value::Json(d) if p.is_root() => {
                    d.root = value.clone();
                    true
                }
                Value::Json(d) => {
                    let updates = find_updates(d, p, SetOpt::None)?;
                    apply_updates(d, updates, value)?
                }
                _ => false,
            },
            None => {
                let doc = Value::Json(Box::new(Document::new(value.clone())));
                s.upsert(&op, hash, key, doc, false);
                true
            }
        };
        if changed {
            op.emit(key, EV_MSET);
        }
    }
    cx.out.ok();
    Ok(())
}

/// A merge patch without its nulls (what RFC 7396 makes of it over nothing).
fn strip_nulls(patch: JValue) -> JValue {
    let mut fresh = JValue::Null;
    json::doc::merge(&mut fresh, patch);
    fresh
}

fn json_merge(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let p = JPath::new(&args[2])?;
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?;
    let patch = parse_json(&args[3])?;
    let Some(pos) = pos else {
        if !p.is_root() {
            return Err(NEW_AT_ROOT);
        }
        let v = Value::Json(Box::new(Document::new(strip_nulls(patch))));
        k.set(key, v, false, EV_MERGE);
        cx.out.ok();
        return Ok(());
    };
    let doc = doc_at_mut(&mut k, pos)?;
    let compiled = p.compile()?;
    let found = locate(doc, &compiled, |_| true);
    let mut changed = false;
    if found.is_empty() {
        if !matches!(patch, JValue::Null) {
            let updates = find_updates(doc, &p, SetOpt::Nx)?;
            changed = apply_updates(doc, updates, &strip_nulls(patch))?;
        }
    } else if matches!(patch, JValue::Null) {
        let mut locs: Vec<Vec<Step>> = found.into_iter().map(|(l, _)| l).collect();
        if locs.iter().any(Vec::is_empty) {
            doc.root = JValue::Null;
            changed = true;
        } else {
            prepare_for_deletion(&mut locs);
            for l in locs {
                changed |= doc.remove(&l);
            }
        }
    } else {
        for (loc, _) in found {
            if let Some(v) = doc.get_mut(&loc) {
                json::doc::merge(v, patch.clone());
                changed = true;
            }
        }
        check_depth(0, &doc.root)?;
    }
    if changed {
        k.op.emit(key, EV_MERGE);
    }
    cx.out.ok();
    Ok(())
}

// ----- JSON.GET, JSON.MGET, JSON.RESP, JSON.TYPE -------------------------------------------------

/// JSON.GET's reply text for `paths` in `doc`.
fn get_text(doc: &Document, paths: &[JPath<'_>], fmt: Format<'_>) -> Result<String, CmdError> {
    let legacy = paths.iter().all(|p| p.legacy);
    let mut w = Writer::new(fmt);
    if paths.len() == 1 {
        let p = &paths[0];
        let matches = path::select(&doc.root, &p.compile()?, false);
        if legacy {
            let m = matches.first().ok_or_else(|| path_missing(&p.fixed))?;
            w.node(m.node);
        } else {
            let nodes: Vec<Node<'_>> = matches.iter().map(|m| m.node).collect();
            w.nodes(&nodes);
        }
        return Ok(w.out);
    }
    // Several paths: an object keyed by path, in argument order (a repeated path keeps its
    // first place); paths that do not compile are left out.
    let mut entries: Vec<(&str, Vec<Node<'_>>)> = Vec::new();
    for p in paths {
        let Ok(compiled) = p.compile() else { continue };
        let nodes: Vec<Node<'_>> = path::select(&doc.root, &compiled, false)
            .into_iter()
            .map(|m| m.node)
            .collect();
        if legacy && nodes.is_empty() {
            return Err(path_missing(p.original));
        }
        match entries.iter_mut().find(|e| e.0 == p.original) {
            Some(e) => e.1 = nodes,
            None => entries.push((p.original, nodes)),
        }
    }
    w.begin('{');
    for (i, (k, nodes)) in entries.iter().enumerate() {
        w.key(i == 0, k);
        if legacy {
            if let Some(n) = nodes.first() {
                w.node(*n);
            }
        } else {
            w.nodes(nodes);
        }
    }
    w.end('}', !entries.is_empty());
    Ok(w.out)
}

fn json_get(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (mut indent, mut newline, mut space) = (None, None, None);
    let mut paths = Vec::new();
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        let mut value = || -> Result<String, CmdError> {
            i += 1;
            args.get(i)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .ok_or_else(|| errors::wrong_arity("json.get"))
        };
        if a.len() > 8 {
            paths.push(JPath::new(a)?);
        } else if is(a, "indent") {
            indent = Some(value()?);
        } else if is(a, "newline") {
            newline = Some(value()?);
        } else if is(a, "space") {
            space = Some(value()?);
        } else if is(a, "noescape") {
        } else if is(a, "format") {
            value()?;
        } else {
            paths.push(JPath::new(a)?);
        }
        i += 1;
    }
    if paths.is_empty() {
        paths.push(JPath::root());
    }
    let fmt = Format {
        indent: indent.as_deref().unwrap_or(""),
        newline: newline.as_deref().unwrap_or(""),
        space: space.as_deref().unwrap_or(""),
    };
    let mut k = cx.store.lock(key);
    match find_json(&mut k, key, true)? {
        None => cx.out.null(),
        Some(pos) => {
            let t = get_text(doc_at(&k, pos)?, &paths, fmt)?;
            cx.out.bulk(t.as_bytes());
        }
    }
    Ok(())
}

fn json_mget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..args.len() - 1];
    let p = JPath::new(&args[args.len() - 1])?;
    let compiled = p.compile().ok();
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    cx.out.array(keys.len());
    for (key, &(hash, shard)) in keys.iter().zip(&placed) {
        let s = locked.shard(shard);
        let doc = match s.lookup_read(&op, hash, key) {
            Some(pos) => match s.value(pos) {
                Value::Json(d) => Some(d),
                _ => None,
            },
            None => None,
        };
        let text = doc.zip(compiled.as_ref()).and_then(|(d, c)| {
            let m = path::select(&d.root, c, false);
            if p.legacy {
                m.first().map(|m| ser::to_string(m.node))
            } else {
                let nodes: Vec<Node<'_>> = m.iter().map(|m| m.node).collect();
                let mut w = Writer::new(Format::default());
                w.nodes(&nodes);
                Some(w.out)
            }
        });
        match text {
            Some(t) => cx.out.bulk(t.as_bytes()),
            None => cx.out.null(),
        }
    }
    Ok(())
}

/// Optional path argument at `args[i]`, the legacy root otherwise.
fn path_arg(args: &[Bytes], i: usize) -> Result<JPath<'_>, CmdError> {
    match args.get(i) {
        Some(a) => JPath::new(a),
        None => Ok(JPath::root()),
    }
}

fn json_type(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = path_arg(args, 2)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    // None: a missing key or legacy match (null); Some: the matches' type names.
    let names: Option<Vec<&'static str>> = match find_json(&mut k, key, true)? {
        None => None,
        Some(pos) => {
            let doc = doc_at(&k, pos)?;
            let matches = path::select(&doc.root, &p.compile()?, false);
            let names: Vec<&'static str> = matches.iter().map(|m| m.node.kind().name()).collect();
            if p.legacy && names.is_empty() {
                None
            } else {
                Some(names)
            }
        }
    };
    // RedisJSON wraps every JSON.TYPE reply, nulls included, in a one-element array under
    // RESP3 (checked after the legacy/`$` branches).
    if is_resp3(cx.out) {
        cx.out.array(1);
    }
    match names {
        None => cx.out.null(),
        Some(names) if p.legacy => match names.first() {
            Some(n) => cx.out.bulk(n.as_bytes()),
            None => cx.out.null(),
        },
        Some(names) => {
            cx.out.array(names.len());
            for n in names {
                cx.out.bulk(n.as_bytes());
            }
        }
    }
    Ok(())
}

/// JSON.RESP's encoding of one node.
fn resp_node(out: &mut ReplyWriter, n: Node<'_>) {
    match n.kind() {
        Kind::Null => out.null(),
        Kind::Boolean => out.simple(if n.as_bool() == Some(true) {
            b"true"
        } else {
            b"false"
        }),
        Kind::Integer => match n.as_i64() {
            Some(i) => out.int(i),
            None => out.double(n.as_f64().unwrap_or(0.0)),
        },
        Kind::Number => out.double(n.as_f64().unwrap_or(0.0)),
        Kind::String => out.bulk(n.as_str().unwrap_or("").as_bytes()),
        Kind::Array => {
            let a = n.as_array();
            out.array(1 + a.map_or(0, |a| a.len()));
            out.simple(b"[");
            for c in a.into_iter().flat_map(|a| a.iter()) {
                resp_node(out, c);
            }
        }
        Kind::Object => {
            let o = n.as_object();
            out.array(1 + 2 * o.map_or(0, |o| o.len()));
            out.simple(b"{");
            for (k, v) in o.into_iter().flat_map(|o| o.iter()) {
                out.bulk(k.as_bytes());
                resp_node(out, v.node());
            }
        }
    }
}

fn json_resp(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = path_arg(args, 2)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_json(&mut k, key, true)? else {
        cx.out.null();
        return Ok(());
    };
    let doc = doc_at(&k, pos)?;
    let matches = path::select(&doc.root, &p.compile()?, false);
    if p.legacy {
        let m = matches.first().ok_or_else(|| path_missing(&p.fixed))?;
        resp_node(cx.out, m.node);
    } else {
        cx.out.array(matches.len());
        for m in &matches {
            resp_node(cx.out, m.node);
        }
    }
    Ok(())
}

// ----- JSON.DEL, JSON.CLEAR, JSON.TOGGLE -------------------------------------------------------

/// Orders locations for deletion (later array elements first) and drops those inside
/// another one being deleted.
fn prepare_for_deletion(locs: &mut Vec<Vec<Step>>) {
    locs.sort();
    locs.dedup();
    let all = locs.clone();
    locs.retain(|l| !all.iter().any(|a| a.len() < l.len() && l.starts_with(a)));
    locs.sort_by(|a, b| b.cmp(a));
}

fn json_del(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = path_arg(args, 2)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_json(&mut k, key, false)? else {
        cx.out.int(0);
        return Ok(());
    };
    if p.is_root() {
        k.shard.remove(pos);
        k.op.emit(key, EV_DEL);
        cx.out.int(1);
        return Ok(());
    }
    let doc = doc_at_mut(&mut k, pos)?;
    let mut locs: Vec<Vec<Step>> = locate(doc, &p.compile()?, |_| true)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    prepare_for_deletion(&mut locs);
    let mut n = 0;
    for l in &locs {
        if l.is_empty() {
            doc.root = JValue::Null;
            n += 1;
        } else if doc.remove(l) {
            n += 1;
        }
    }
    if n > 0 {
        k.op.emit(key, EV_DEL);
    }
    cx.out.int(n);
    Ok(())
}

fn json_clear(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = match args.get(2) {
        Some(a) => JPath::new(a)?,
        None => JPath {
            original: "$",
            fixed: "$".to_string(),
            legacy: false,
        },
    };
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let clearable = |n: Node<'_>| match n.kind() {
        Kind::Array | Kind::Object => n.container_len().unwrap_or(0) > 0,
        Kind::Integer | Kind::Number => n.as_f64().unwrap_or(0.0) != 0.0,
        _ => false,
    };
    let done = apply(doc, &p.compile()?, clearable, |v, _| {
        match v {
            JValue::Array(_) => *v = JValue::array(Vec::new()),
            JValue::Object(o) => o.clear(),
            _ => *v = JValue::Int(0),
        }
        Ok(())
    })?;
    let n = done.iter().flatten().count();
    if n > 0 {
        k.op.emit(key, EV_CLEAR);
    }
    cx.out.int(n as i64);
    Ok(())
}

fn json_toggle(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = JPath::new(&args[2])?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let res = apply(doc, &p.compile()?, is_kind(Kind::Boolean), |v, _| {
        let b = !matches!(v, JValue::Bool(true));
        *v = JValue::Bool(b);
        Ok(b)
    })?;
    let last = res.iter().flatten().last().copied();
    if last.is_some() {
        k.op.emit(key, EV_TOGGLE);
    }
    if p.legacy {
        let b = last.ok_or_else(|| path_missing_or(&p.fixed, "not a bool"))?;
        cx.out.bulk(if b { b"true" } else { b"false" });
    } else {
        let v: Vec<Option<i64>> = res.iter().map(|b| b.map(i64::from)).collect();
        reply_opt_ints(cx.out, &v);
    }
    Ok(())
}

// ----- JSON.NUMINCRBY, JSON.NUMMULTBY ----------------------------------------------------------

#[derive(Clone, Copy)]
enum NumOp {
    Incr,
    Mult,
}

/// The new number after `op`: integers wrap as RedisJSON's do; floats that leave the f64
/// range are refused.
fn num_op(v: &mut JValue, arg: &JValue, op: NumOp) -> Result<JValue, CmdError> {
    let new = match (&*v, arg) {
        (JValue::Int(a), JValue::Int(b)) => JValue::Int(match op {
            NumOp::Incr => a.wrapping_add(*b),
            NumOp::Mult => a.wrapping_mul(*b),
        }),
        _ => {
            let (Some(a), Some(b)) = (v.node().as_f64(), arg.node().as_f64()) else {
                return Err(CmdError::new("result is not a number"));
            };
            let r = match op {
                NumOp::Incr => a + b,
                NumOp::Mult => a * b,
            };
            if !r.is_finite() {
                return Err(CmdError::new("result is not a number"));
            }
            JValue::Float(r)
        }
    };
    *v = new.clone();
    Ok(new)
}

fn num_generic(cx: &mut Ctx<'_>, args: &[Bytes], op: NumOp, event: Event) -> CmdResult {
    let p = JPath::new(&args[2])?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let number = |n: Node<'_>| matches!(n.kind(), Kind::Integer | Kind::Number);
    let mut arg: Option<JValue> = None;
    let res = apply(doc, &p.compile()?, number, |v, _| {
        if arg.is_none() {
            let parsed = parse_json(&args[3])?;
            if !matches!(parsed, JValue::Int(_) | JValue::UInt(_) | JValue::Float(_)) {
                return Err(CmdError::new("bad input number"));
            }
            arg = Some(parsed);
        }
        match &arg {
            Some(a) => num_op(v, a, op),
            None => Err(CmdError::new("bad input number")),
        }
    })?;
    // (A failure part-way keeps the changes made before it, as RedisJSON does.)
    let last = res.iter().flatten().last().cloned();
    if last.is_some() {
        k.op.emit(key, event);
    }
    // RedisJSON checks RESP3 first: then legacy paths too reply one element per match.
    if is_resp3(cx.out) {
        cx.out.array(res.len());
        for r in &res {
            match r {
                Some(JValue::Int(i)) => cx.out.int(*i),
                Some(v) => cx.out.double(v.node().as_f64().unwrap_or(0.0)),
                None => cx.out.null(),
            }
        }
    } else if p.legacy {
        let n = last.ok_or_else(|| path_missing_or(&p.fixed, "does not contains a number"))?;
        cx.out.bulk(ser::to_string(n.node()).as_bytes());
    } else {
        let nodes: Vec<JValue> = res.into_iter().map(|r| r.unwrap_or(JValue::Null)).collect();
        let mut w = Writer::new(Format::default());
        let refs: Vec<Node<'_>> = nodes.iter().map(JValue::node).collect();
        w.nodes(&refs);
        cx.out.bulk(w.out.as_bytes());
    }
    Ok(())
}

fn json_numincrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    num_generic(cx, args, NumOp::Incr, EV_NUMINCRBY)
}

fn json_nummultby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    num_generic(cx, args, NumOp::Mult, EV_NUMMULTBY)
}

// ----- strings -------------------------------------------------------------------------------

fn json_strappend(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (p, raw) = if args.len() >= 4 {
        (JPath::new(&args[2])?, &args[3])
    } else {
        (JPath::root(), &args[2])
    };
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let res = apply(doc, &p.compile()?, is_kind(Kind::String), |v, _| {
        let add = parse_json(raw)?;
        let (JValue::Small { .. } | JValue::Str(_)) = add else {
            return Err(expected("string", &String::from_utf8_lossy(raw)));
        };
        let s = format!("{}{}", v.as_str().unwrap_or(""), add.as_str().unwrap_or(""));
        let n = s.len() as i64;
        *v = JValue::string(&s);
        Ok(n)
    })?;
    let last = res.iter().flatten().last().copied();
    if last.is_some() {
        k.op.emit(key, EV_STRAPPEND);
    }
    if p.legacy {
        cx.out
            .int(last.ok_or_else(|| path_missing_or(&p.fixed, "not a string"))?);
    } else {
        reply_opt_ints(cx.out, &res);
    }
    Ok(())
}

fn json_strlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = path_arg(args, 2)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_json(&mut k, key, true)? else {
        if p.legacy {
            cx.out.null();
            return Ok(());
        }
        return Err(NONEXISTENT);
    };
    let doc = doc_at(&k, pos)?;
    let matches = path::select(&doc.root, &p.compile()?, false);
    if p.legacy {
        let m = matches.first().ok_or_else(|| path_missing(&p.fixed))?;
        let s = m
            .node
            .as_str()
            .ok_or_else(|| expected("string", m.node.kind().name()))?;
        cx.out.int(s.len() as i64);
    } else {
        let v: Vec<Option<i64>> = matches
            .iter()
            .map(|m| m.node.as_str().map(|s| s.len() as i64))
            .collect();
        reply_opt_ints(cx.out, &v);
    }
    Ok(())
}

// ----- arrays --------------------------------------------------------------------------------

fn parse_values(args: &[Bytes]) -> Result<Vec<JValue>, CmdError> {
    args.iter().map(|a| parse_json(a)).collect()
}

/// Replies for an array command: legacy → the last result or `err`; `$` → one per match.
fn reply_arr(
    out: &mut ReplyWriter,
    p: &JPath<'_>,
    res: &[Option<i64>],
    err: CmdError,
) -> CmdResult {
    if p.legacy {
        match res.iter().flatten().last() {
            Some(n) => out.int(*n),
            None => return Err(err),
        }
    } else {
        reply_opt_ints(out, res);
    }
    Ok(())
}

fn json_arrappend(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = JPath::new(&args[2])?;
    let values = parse_values(&args[3..])?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let res = apply(doc, &p.compile()?, is_kind(Kind::Array), |v, depth| {
        for x in &values {
            check_depth(depth + 1, x)?;
        }
        match v {
            JValue::Array(a) => {
                let vs = a.values_mut();
                vs.extend(values.iter().cloned());
                Ok(vs.len() as i64)
            }
            _ => Ok(0),
        }
    })?;
    if res.iter().flatten().next().is_some() {
        k.op.emit(key, EV_ARRAPPEND);
    }
    reply_arr(
        cx.out,
        &p,
        &res,
        path_missing_or(p.original, "not an array"),
    )
}

/// RedisJSON's start normalization for ARRINDEX.
fn norm_start(start: i64, len: i64) -> i64 {
    if start < 0 {
        (len + start).max(0)
    } else {
        start.min(len - 1)
    }
}

/// First index of `v` in `arr` within [start, end), -1 when absent.
fn arr_index(arr: &json::Array, v: &JValue, start: i64, end: i64) -> i64 {
    let len = arr.len() as i64;
    if len == 0 {
        return -1;
    }
    let start = norm_start(start, len);
    let end = match end {
        0 => len,
        e if e < 0 => (len + e).max(0),
        e => e.min(len),
    };
    (start.max(0)..end)
        .find(|&i| arr.get(i as usize).is_some_and(|n| n.json_eq(v.node())))
        .unwrap_or(-1)
}

fn json_arrindex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 6 {
        return Err(errors::wrong_arity("json.arrindex"));
    }
    let p = JPath::new(&args[2])?;
    let start = args.get(4).map_or(Ok(0), |a| parse_int(a))?;
    let end = args.get(5).map_or(Ok(0), |a| parse_int(a))?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, true)?;
    let value = parse_json(&args[3])?;
    let pos = pos.ok_or_else(|| path_missing(p.original))?;
    let doc = doc_at(&k, pos)?;
    let matches = path::select(&doc.root, &p.compile()?, false);
    if p.legacy {
        let m = matches.first().ok_or_else(|| path_missing(&p.fixed))?;
        let a = m
            .node
            .as_array()
            .ok_or_else(|| expected("array", m.node.kind().name()))?;
        cx.out.int(arr_index(a, &value, start, end));
    } else {
        let v: Vec<Option<i64>> = matches
            .iter()
            .map(|m| m.node.as_array().map(|a| arr_index(a, &value, start, end)))
            .collect();
        reply_opt_ints(cx.out, &v);
    }
    Ok(())
}

fn json_arrinsert(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = JPath::new(&args[2])?;
    let index = parse_int(&args[3])?;
    let values = parse_values(&args[4..])?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let res = apply(doc, &p.compile()?, is_kind(Kind::Array), |v, depth| {
        for x in &values {
            check_depth(depth + 1, x)?;
        }
        let JValue::Array(a) = v else { return Ok(0) };
        let vs = a.values_mut();
        let len = vs.len() as i64;
        let i = if index < 0 { len + index } else { index };
        if !(0..=len).contains(&i) {
            return Err(CmdError::new("ERR index out of bounds"));
        }
        let tail = vs.split_off(i as usize);
        vs.extend(values.iter().cloned());
        vs.extend(tail);
        Ok(vs.len() as i64)
    })?;
    if res.iter().flatten().next().is_some() {
        k.op.emit(key, EV_ARRINSERT);
    }
    reply_arr(cx.out, &p, &res, path_missing_or(&p.fixed, "not an array"))
}

fn json_arrlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = path_arg(args, 2)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_json(&mut k, key, true)? else {
        if p.legacy {
            cx.out.null();
            return Ok(());
        }
        return Err(NONEXISTENT);
    };
    let doc = doc_at(&k, pos)?;
    let matches = path::select(&doc.root, &p.compile()?, false);
    if p.legacy {
        let m = matches.first().ok_or_else(|| path_missing(p.original))?;
        let a = m
            .node
            .as_array()
            .ok_or_else(|| path_missing_or(p.original, "not an array"))?;
        cx.out.int(a.len() as i64);
    } else {
        let v: Vec<Option<i64>> = matches
            .iter()
            .map(|m| m.node.as_array().map(|a| a.len() as i64))
            .collect();
        reply_opt_ints(cx.out, &v);
    }
    Ok(())
}

fn json_arrpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (p, index) = match args.get(2) {
        None => (JPath::root(), i64::MAX),
        Some(a) => (
            JPath::new(a)?,
            args.get(3).and_then(|i| parse_int(i).ok()).unwrap_or(-1),
        ),
    };
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let res = apply(doc, &p.compile()?, is_kind(Kind::Array), |v, _| {
        let JValue::Array(a) = v else { return Ok(None) };
        let vs = a.values_mut();
        let len = vs.len() as i64;
        if len == 0 {
            return Ok(None);
        }
        let i = if index < 0 {
            (len + index).max(0)
        } else {
            index.min(len - 1)
        };
        Ok(Some(ser::to_string(vs.remove(i as usize).node())))
    })?;
    if res.iter().flatten().flatten().next().is_some() {
        k.op.emit(key, EV_ARRPOP);
    }
    if p.legacy {
        match res.into_iter().flatten().last() {
            None => return Err(path_missing_or(&p.fixed, "not an array")),
            Some(Some(t)) => cx.out.bulk(t.as_bytes()),
            Some(None) => cx.out.null(),
        }
    } else {
        cx.out.array(res.len());
        for r in res {
            match r.flatten() {
                Some(t) => cx.out.bulk(t.as_bytes()),
                None => cx.out.null(),
            }
        }
    }
    Ok(())
}

fn json_arrtrim(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = JPath::new(&args[2])?;
    let start = parse_int(&args[3])?;
    let stop = parse_int(&args[4])?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = find_json(&mut k, key, false)?.ok_or(NONEXISTENT)?;
    let doc = doc_at_mut(&mut k, pos)?;
    let res = apply(doc, &p.compile()?, is_kind(Kind::Array), |v, _| {
        let JValue::Array(a) = v else { return Ok(0) };
        let vs = a.values_mut();
        let len = vs.len() as i64;
        let norm = |x: i64| {
            if x >= 0 {
                x.min(len - 1)
            } else {
                (len + x).max(0)
            }
        };
        let stop = norm(stop);
        let start = if start < 0 || start < len {
            norm(start)
        } else {
            stop + 1
        };
        if start > stop || len == 0 {
            vs.clear();
        } else {
            vs.truncate(stop as usize + 1);
            vs.drain(..start as usize);
        }
        Ok(vs.len() as i64)
    })?;
    if res.iter().flatten().next().is_some() {
        k.op.emit(key, EV_ARRTRIM);
    }
    reply_arr(cx.out, &p, &res, path_missing_or(&p.fixed, "not an array"))
}

// ----- objects -------------------------------------------------------------------------------

fn reply_keys(out: &mut ReplyWriter, n: Node<'_>) {
    match n.as_object() {
        Some(o) => {
            out.array(o.len());
            for k in o.keys() {
                out.bulk(k.as_bytes());
            }
        }
        None => out.null(),
    }
}

fn json_objkeys(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = path_arg(args, 2)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_json(&mut k, key, true)? else {
        if p.legacy {
            cx.out.null();
            return Ok(());
        }
        return Err(NONEXISTENT);
    };
    let doc = doc_at(&k, pos)?;
    let matches = path::select(&doc.root, &p.compile()?, false);
    if p.legacy {
        match matches.first() {
            None => cx.out.null(),
            Some(m) if m.node.as_object().is_none() => {
                return Err(path_missing_or(&p.fixed, "not an object"))
            }
            Some(m) => reply_keys(cx.out, m.node),
        }
    } else {
        cx.out.array(matches.len());
        for m in &matches {
            reply_keys(cx.out, m.node);
        }
    }
    Ok(())
}

fn json_objlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = path_arg(args, 2)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = find_json(&mut k, key, true)? else {
        if p.legacy {
            cx.out.null();
            return Ok(());
        }
        return Err(path_missing_or(&p.fixed, "not an object"));
    };
    let doc = doc_at(&k, pos)?;
    let matches = path::select(&doc.root, &p.compile()?, false);
    if p.legacy {
        match matches.first() {
            None => cx.out.null(),
            Some(m) => {
                let o = m
                    .node
                    .as_object()
                    .ok_or_else(|| expected("object", m.node.kind().name()))?;
                cx.out.int(o.len() as i64);
            }
        }
    } else {
        let v: Vec<Option<i64>> = matches
            .iter()
            .map(|m| m.node.as_object().map(|o| o.len() as i64))
            .collect();
        reply_opt_ints(cx.out, &v);
    }
    Ok(())
}

// ----- JSON.DEBUG ----------------------------------------------------------------------------

/// Bytes a node takes: its heap plus its own slot.
fn node_memory(n: Node<'_>) -> i64 {
    let own = std::mem::size_of::<JValue>();
    (match n {
        Node::Value(v) => own + v.heap_size(),
        _ => own,
    }) as i64
}

fn json_debug(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "help") {
        cx.out.array(2);
        cx.out.bulk(b"MEMORY <key> [path] - reports memory usage");
        cx.out.bulk(b"HELP                - this message");
        return Ok(());
    }
    if !is(sub, "memory") {
        return Err(CmdError::new(
            "ERR unknown subcommand - try `JSON.DEBUG HELP`",
        ));
    }
    let key = args
        .get(2)
        .ok_or_else(|| errors::wrong_arity("json.debug"))?;
    let p = path_arg(args, 3)?;
    let mut k = cx.store.lock(key);
    let Some(pos) = find_json(&mut k, key, true)? else {
        if p.legacy {
            cx.out.int(0);
        } else {
            cx.out.array(0);
        }
        return Ok(());
    };
    let doc = doc_at(&k, pos)?;
    let matches = path::select(&doc.root, &p.compile()?, false);
    if p.legacy {
        let m = matches.first().ok_or_else(|| path_missing(&p.fixed))?;
        cx.out.int(node_memory(m.node));
    } else {
        cx.out.array(matches.len());
        for m in &matches {
            cx.out.int(node_memory(m.node));
        }
    }
    Ok(())
}
