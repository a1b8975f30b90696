//! Stream commands: the spec table, the helpers every stream command shares (ID parsing,
//! entry replies, events), and the entry commands — XADD, XTRIM, XDEL, XLEN, XRANGE,
//! XREVRANGE, XSETID. Consumer groups are in `groups.rs`, XREAD/XREADGROUP in `read.rs`,
//! XINFO in `info.rs`. Behaviour and error texts follow Redis 7.4's `t_stream.c`.

mod groups;
mod info;
mod read;

use bytes::Bytes;
use keyspace::types::stream::{Fields, Stream, StreamId, Trim, MAX_ENTRY_BYTES, NODE_MAX_ENTRIES};
use keyspace::{class, Event, Value};
use protocol::ReplyWriter;

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult, WRONGTYPE};
use crate::spec::{flag::*, CommandSpec, Keys};

// ----- events -------------------------------------------------------------------------------

const fn stream_event(name: &'static str) -> Event {
    Event {
        name,
        class: class::STREAM,
    }
}

pub const XADD: Event = stream_event("xadd");
pub const XTRIM: Event = stream_event("xtrim");
pub const XDEL: Event = stream_event("xdel");
pub const XSETID: Event = stream_event("xsetid");
pub const XGROUP_CREATE: Event = stream_event("xgroup-create");
pub const XGROUP_CREATECONSUMER: Event = stream_event("xgroup-createconsumer");
pub const XGROUP_DELCONSUMER: Event = stream_event("xgroup-delconsumer");
pub const XGROUP_DESTROY: Event = stream_event("xgroup-destroy");
pub const XGROUP_SETID: Event = stream_event("xgroup-setid");

// ----- error texts --------------------------------------------------------------------------

pub(crate) const INVALID_ID: CmdError =
    CmdError::new("ERR Invalid stream ID specified as stream command argument");
const ID_TOO_SMALL: CmdError = CmdError::new(
    "ERR The ID specified in XADD is equal or smaller than the target stream top item",
);
const ID_ZERO: CmdError = CmdError::new("ERR The ID specified in XADD must be greater than 0-0");
const ID_EXHAUSTED: CmdError =
    CmdError::new("ERR The stream has exhausted the last possible ID, unable to add more items");
const TOO_LARGE: CmdError = CmdError::new("ERR Elements are too large to be stored");
const MAXLEN_AND_MINID: CmdError =
    CmdError::new("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
const MAXLEN_NEGATIVE: CmdError = CmdError::new("ERR The MAXLEN argument must be >= 0.");
const LIMIT_NEGATIVE: CmdError = CmdError::new("ERR The LIMIT argument must be >= 0.");
const LIMIT_WITHOUT_STRATEGY: CmdError =
    CmdError::new("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
const XTRIM_WITHOUT_STRATEGY: CmdError =
    CmdError::new("ERR syntax error, XTRIM must be called with a trimming strategy");
const LIMIT_WITHOUT_APPROX: CmdError =
    CmdError::new("ERR syntax error, LIMIT cannot be used without the special ~ option");
pub(crate) const INVALID_START: CmdError = CmdError::new("ERR invalid start ID for the interval");
pub(crate) const INVALID_END: CmdError = CmdError::new("ERR invalid end ID for the interval");

// ----- spec table ---------------------------------------------------------------------------

/// The key of a subcommand (XGROUP, XINFO).
const SUB_KEY: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};

static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    command!("create", -5, WRITE | DENYOOM, SUB_KEY, groups::xgroup_create,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Creates a consumer group."),
    command!("createconsumer", 5, WRITE | DENYOOM, SUB_KEY, groups::xgroup_createconsumer,
        acl: &["stream"], group: "stream", since: "6.2.0", complexity: "O(1)",
        summary: "Creates a consumer in a consumer group."),
    command!("delconsumer", 5, WRITE, SUB_KEY, groups::xgroup_delconsumer,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Deletes a consumer from a consumer group."),
    command!("destroy", 4, WRITE, SUB_KEY, groups::xgroup_destroy,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        summary: "Destroys a consumer group."),
    command!("help", 2, LOADING | STALE, Keys::NONE, groups::xgroup_help,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
    command!("setid", -5, WRITE, SUB_KEY, groups::xgroup_setid,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Sets the last-delivered ID of a consumer group."),
];

static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    command!("consumers", 4, READONLY, SUB_KEY, info::xinfo_consumers,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Returns a list of the consumers in a consumer group."),
    command!("groups", 3, READONLY, SUB_KEY, info::xinfo_groups,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Returns a list of the consumer groups of a stream."),
    command!("help", 2, LOADING | STALE, Keys::NONE, info::xinfo_help,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
    command!("stream", -3, READONLY, SUB_KEY, info::xinfo_stream,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Returns information about a stream."),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!("xadd", -5, WRITE | DENYOOM | FAST, Keys::ONE, xadd,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
        summary: "Appends a new message to a stream. Creates the key if it doesn't exist."),
    command!("xtrim", -4, WRITE, Keys::ONE, xtrim,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
        summary: "Deletes messages from the beginning of a stream."),
    command!("xdel", -3, WRITE | FAST, Keys::ONE, xdel,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(1) for each single item to delete in the stream, regardless of the stream size.",
        summary: "Returns the number of messages after removing them from a stream."),
    command!("xlen", 2, READONLY | FAST, Keys::ONE, xlen,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "Return the number of messages in a stream."),
    command!("xrange", -4, READONLY, Keys::ONE, xrange,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        summary: "Returns the messages from a stream within a range of IDs."),
    command!("xrevrange", -4, READONLY, Keys::ONE, xrevrange,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        summary: "Returns the messages from a stream within a range of IDs in reverse order."),
    command!("xsetid", -3, WRITE | DENYOOM | FAST, Keys::ONE, xsetid,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1)",
        summary: "An internal command for replicating stream values."),
    command!("xread", -4, READONLY | BLOCKING | MOVABLE_KEYS, Keys::NONE, read::xread,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.",
        summary: "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise."),
    command!("xreadgroup", -7, WRITE | BLOCKING | MOVABLE_KEYS, Keys::NONE, read::xreadgroup,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.",
        summary: "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise."),
    command!("xack", -4, WRITE | FAST, Keys::ONE, groups::xack,
        acl: &["stream"], group: "stream", since: "5.0.0", complexity: "O(1) for each message ID processed.",
        summary: "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream."),
    command!("xpending", -3, READONLY, Keys::ONE, groups::xpending,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
        summary: "Returns the information and entries from a stream consumer group's pending entries list."),
    command!("xclaim", -6, WRITE | FAST, Keys::ONE, groups::xclaim,
        acl: &["stream"], group: "stream", since: "5.0.0",
        complexity: "O(log N) with N being the number of messages in the PEL of the consumer group.",
        summary: "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member."),
    command!("xautoclaim", -6, WRITE | FAST, Keys::ONE, groups::xautoclaim,
        acl: &["stream"], group: "stream", since: "6.2.0", complexity: "O(1) if COUNT is small.",
        summary: "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member."),
    command!("xgroup", -2, 0, Keys::NONE, groups::xgroup,
        acl: &[], group: "stream", since: "5.0.0", complexity: "Depends on subcommand.",
        summary: "A container for consumer groups commands.", subcommands: XGROUP_SUBCOMMANDS),
    command!("xinfo", -2, 0, Keys::NONE, info::xinfo,
        acl: &[], group: "stream", since: "5.0.0", complexity: "Depends on subcommand.",
        summary: "A container for stream introspection commands.", subcommands: XINFO_SUBCOMMANDS),
];

// ----- shared helpers -----------------------------------------------------------------------

/// The stream in a value, WRONGTYPE for other types.
pub(crate) fn as_stream(v: &Value) -> Result<&Stream, CmdError> {
    match v {
        Value::Stream(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

pub(crate) fn as_stream_mut(v: &mut Value) -> Result<&mut Stream, CmdError> {
    match v {
        Value::Stream(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

/// `streamParseStrictIDOrReply`: no `-` / `+`, missing sequence 0.
pub(crate) fn parse_strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    StreamId::parse(arg, 0, true, false)
        .map(|p| p.0)
        .ok_or(INVALID_ID)
}

/// `streamParseIntervalIDOrReply` plus the step past an exclusive bound: a `(` prefix
/// excludes the bound (strict parse, then the next or previous ID).
pub(crate) fn parse_interval(
    arg: &[u8],
    missing_seq: u64,
    start: bool,
) -> Result<StreamId, CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = StreamId::parse(&arg[1..], missing_seq, true, false)
            .ok_or(INVALID_ID)?
            .0;
        if start {
            id.next().ok_or(INVALID_START)
        } else {
            id.prev().ok_or(INVALID_END)
        }
    } else {
        Ok(StreamId::parse(arg, missing_seq, false, false)
            .ok_or(INVALID_ID)?
            .0)
    }
}

pub(crate) fn reply_id(out: &mut ReplyWriter, id: StreamId) {
    out.bulk(id.to_string().as_bytes());
}

/// `[id, [field, value, ...]]`.
pub(crate) fn reply_entry(out: &mut ReplyWriter, id: StreamId, fields: Fields<'_>) {
    out.array(2);
    reply_id(out, id);
    out.array(fields.len());
    for f in fields.iter() {
        out.bulk(f);
    }
}

/// Command time as Redis's `mstime_t`.
pub(crate) fn now(cx: &Ctx<'_>) -> i64 {
    i64::try_from(cx.store.now_ms).unwrap_or(i64::MAX)
}

// ----- XADD / XTRIM -------------------------------------------------------------------------

/// Options shared by XADD and XTRIM (`streamAddTrimArgs`).
struct AddTrimArgs {
    trim: Option<Trim>,
    approx: bool,
    /// Most entries to remove (0: no limit).
    limit: u64,
    nomkstream: bool,
    /// The ID given to XADD and whether its sequence was given (`<ms>-*` not).
    id: Option<(StreamId, bool)>,
    /// Position of the ID argument (XADD).
    idpos: usize,
}

/// `streamParseAddOrTrimArgsOrReply`.
/// `obey`: the command comes from this replica's master, whose trims are exact (its
/// `= <n> LIMIT <m>` is obeyed without the limit, as Redis's `mustObeyClient`).
fn parse_add_trim(args: &[Bytes], xadd: bool, obey: bool) -> Result<AddTrimArgs, CmdError> {
    let mut a = AddTrimArgs {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
        idpos: 0,
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(MAXLEN_AND_MINID);
            }
            a.approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let arg = &args[i + 1];
            a.trim = Some(if is(opt, "maxlen") {
                let n = parse_i64(arg)?;
                if n < 0 {
                    return Err(MAXLEN_NEGATIVE);
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict_id(arg)?)
            });
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            let n = parse_i64(&args[i + 1])?;
            if n < 0 {
                return Err(LIMIT_NEGATIVE);
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(StreamId::parse(opt, 0, true, true).ok_or(INVALID_ID)?);
            break;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    a.idpos = i;
    if a.limit != 0 && a.trim.is_none() {
        return Err(LIMIT_WITHOUT_STRATEGY);
    }
    if !xadd && a.trim.is_none() {
        return Err(XTRIM_WITHOUT_STRATEGY);
    }
    if obey {
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(LIMIT_WITHOUT_APPROX);
        }
    } else if a.approx {
        a.limit = (100 * NODE_MAX_ENTRIES as u64).clamp(1, 1_000_000);
    } else {
        a.limit = 0;
    }
    Ok(a)
}

/// What XADD and XTRIM propagate, as Redis: the ID argument made explicit (`*`, `<ms>-*`),
/// and an approximate trim made exact at its result (`MAXLEN = <length>` or
/// `MINID = <first id>`, without LIMIT), so replicas end with the same entries.
fn propagate_add_trim(args: &[Bytes], a: &AddTrimArgs, id: Option<StreamId>, s: &Stream) {
    let explicit = id.filter(|_| !matches!(a.id, Some((_, true))));
    if explicit.is_none() && !a.approx {
        return;
    }
    let end = if id.is_some() { a.idpos } else { args.len() };
    let mut out = Vec::with_capacity(args.len());
    out.extend_from_slice(&args[..2.min(args.len())]);
    let mut i = 2;
    while i < end {
        let opt = &args[i];
        if a.approx && (is(opt, "maxlen") || is(opt, "minid")) {
            out.push(opt.clone());
            if matches!(args.get(i + 1).map(|x| &x[..]), Some(b"~" | b"=")) {
                i += 1;
            }
            out.push(Bytes::from_static(b"="));
            out.push(Bytes::from(if is(opt, "maxlen") {
                s.len().to_string()
            } else {
                s.first_entry()
                    .map(|(first, _)| first)
                    .unwrap_or_default()
                    .to_string()
            }));
            i += 2;
            continue;
        }
        if a.approx && is(opt, "limit") {
            i += 2;
            continue;
        }
        out.push(opt.clone());
        i += 1;
    }
    if let Some(id) = id {
        out.push(match explicit {
            Some(_) => Bytes::from(id.to_string()),
            None => args[a.idpos].clone(),
        });
        out.extend_from_slice(&args[a.idpos + 1..]);
    }
    crate::propagate::rewrite(out);
}

fn xadd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let a = parse_add_trim(
        args,
        true,
        crate::replication::from_master(cx.server, cx.client),
    )?;
    let field_pos = a.idpos + 1;
    let items = args.get(field_pos..).unwrap_or(&[]);
    if items.len() < 2 || !items.len().is_multiple_of(2) {
        return Err(errors::wrong_arity("xadd"));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err(ID_ZERO);
        }
    }
    let key = &args[1];
    let now_ms = cx.store.now_ms;
    let mut k = cx.store.lock(key);
    let pos = k.find(key);
    let existing = match pos {
        Some(p) => Some(as_stream(k.shard.value(p))?),
        None if a.nomkstream => {
            cx.out.null();
            return Ok(());
        }
        None => None,
    };
    let empty = Stream::default();
    let s = existing.unwrap_or(&empty);
    if s.last_id == StreamId::MAX {
        return Err(ID_EXHAUSTED);
    }
    let id = s.next_id(a.id, now_ms).ok_or(ID_TOO_SMALL)?;
    if items.iter().map(|i| i.len()).sum::<usize>() > MAX_ENTRY_BYTES {
        return Err(TOO_LARGE);
    }
    let pos = match pos {
        Some(p) => p,
        None => {
            let (op, hash) = (k.op, k.hash);

            k.shard
                .insert(&op, hash, key, Value::Stream(Box::default()))
        }
    };
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    s.append(id, items);
    reply_id(cx.out, id);
    k.op.emit(key, XADD);
    if let Some(how) = a.trim {
        if s.trim(how, a.approx, a.limit) > 0 {
            k.op.emit(key, XTRIM);
        }
    }
    propagate_add_trim(args, &a, Some(id), s);
    Ok(())
}

fn xtrim(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let a = parse_add_trim(
        args,
        false,
        crate::replication::from_master(cx.server, cx.client),
    )?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        cx.out.int(0);
        return Ok(());
    };
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    let deleted = match a.trim {
        Some(how) => s.trim(how, a.approx, a.limit),
        None => 0,
    };
    if deleted > 0 {
        k.op.emit(key, XTRIM);
        propagate_add_trim(args, &a, None, s);
    }
    cx.out.int(deleted as i64);
    Ok(())
}

// ----- XDEL / XLEN / XRANGE / XSETID --------------------------------------------------------

fn xdel(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find(key) else {
        cx.out.int(0);
        return Ok(());
    };
    as_stream(k.shard.value(pos))?;
    let ids = args[2..]
        .iter()
        .map(|a| parse_strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    let deleted = ids.into_iter().filter(|&id| s.delete(id)).count();
    if deleted > 0 {
        k.op.emit(key, XDEL);
    }
    cx.out.int(deleted as i64);
    Ok(())
}

fn xlen(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let n = match k.find_read(&args[1]) {
        Some(pos) => as_stream(k.shard.value(pos))?.len(),
        None => 0,
    };
    cx.out.int(n as i64);
    Ok(())
}

fn xrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(cx, args, false)
}

fn xrevrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(cx, args, true)
}

fn range_generic(cx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = parse_interval(start_arg, 0, true)?;
    let end = parse_interval(end_arg, u64::MAX, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            count = parse_i64(&args[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let mut k = cx.store.lock(&args[1]);
    let Some(pos) = k.find_read(&args[1]) else {
        cx.out.array(0);
        return Ok(());
    };
    let s = as_stream(k.shard.value(pos))?;
    if count == 0 {
        cx.out.null_array();
        return Ok(());
    }
    let take = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let n = s.range(start, end, rev).take(take).count();
    cx.out.array(n);
    for (id, f) in s.range(start, end, rev).take(n) {
        reply_entry(cx.out, id, f);
    }
    Ok(())
}

fn xsetid(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let id = parse_strict_id(&args[2])?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "entriesadded") && more > 0 {
            entries_added = parse_i64(&args[i + 1])?;
            if entries_added < 0 {
                return Err(CmdError::new("ERR entries_added must be positive"));
            }
        } else if is(&args[i], "maxdeletedid") && more > 0 {
            max_xdel = parse_strict_id(&args[i + 1])?;
            if id < max_xdel {
                return Err(CmdError::new(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = k.find(key).ok_or(errors::NO_SUCH_KEY)?;
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    if id < s.max_deleted_id {
        return Err(CmdError::new(
            "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
        ));
    }
    if let Some(max) = s.last_valid_id() {
        if id < max {
            return Err(CmdError::new(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() as i64 > entries_added {
            return Err(CmdError::new(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    cx.out.ok();
    k.op.emit(key, XSETID);
    Ok(())
}
