//! CLIENT: the connection's own settings (ID, SETNAME, SETINFO, REPLY, NO-EVICT, NO-TOUCH)
//! and the other connections (LIST, INFO, KILL, PAUSE, UNPAUSE, UNBLOCK), as Redis 7.4's
//! `clientCommand` in networking.c.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::args::{is, parse_i64, text};
use crate::blocking::Wake;
use crate::client::{Action, ClientHandle, ReplyMode};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::family::server::{help_reply, set_client_name};
use crate::registry::registry;
use crate::server::{unix_ms, Server};
use crate::spec::{flag::*, CommandSpec, Keys};

const ADM: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const CONN: u32 = NOSCRIPT | LOADING | STALE;

static SUBCOMMANDS: &[CommandSpec] = &[
    command!("id", 2, CONN, Keys::NONE, id,
        acl: &["connection"], group: "connection", since: "5.0.0", complexity: "O(1)",
        summary: "Returns the unique client ID of the connection."),
    command!("getname", 2, CONN, Keys::NONE, getname,
        acl: &["connection"], group: "connection", since: "2.6.9", complexity: "O(1)",
        summary: "Returns the name of the connection."),
    command!("setname", 3, CONN, Keys::NONE, setname,
        acl: &["connection"], group: "connection", since: "2.6.9", complexity: "O(1)",
        summary: "Sets the connection name."),
    command!("setinfo", 4, CONN, Keys::NONE, setinfo,
        acl: &["connection"], group: "connection", since: "7.2.0", complexity: "O(1)",
        summary: "Sets information specific to the client or connection."),
    command!("list", -2, ADM, Keys::NONE, list,
        acl: &["connection"], group: "connection", since: "2.4.0",
        complexity: "O(N) where N is the number of client connections",
        summary: "Lists open connections."),
    command!("info", 2, CONN, Keys::NONE, info,
        acl: &["connection"], group: "connection", since: "6.2.0", complexity: "O(1)",
        summary: "Returns information about the connection."),
    command!("kill", -3, ADM, Keys::NONE, kill,
        acl: &["connection"], group: "connection", since: "2.4.0",
        complexity: "O(N) where N is the number of client connections",
        summary: "Terminates open connections."),
    command!("pause", -3, ADM, Keys::NONE, pause,
        acl: &["connection"], group: "connection", since: "3.0.0", complexity: "O(1)",
        summary: "Suspends commands processing."),
    command!("unpause", 2, ADM, Keys::NONE, unpause,
        acl: &["connection"], group: "connection", since: "6.2.0",
        complexity: "O(N) Where N is the number of paused clients",
        summary: "Resumes processing commands from paused clients."),
    command!("unblock", -3, ADM, Keys::NONE, unblock,
        acl: &["connection"], group: "connection", since: "5.0.0",
        complexity: "O(log N) where N is the number of client connections",
        summary: "Unblocks a client blocked by a blocking command from a different connection."),
    command!("getredir", 2, CONN, Keys::NONE, getredir,
        acl: &["connection"], group: "connection", since: "6.0.0", complexity: "O(1)",
        summary: "Returns the client ID to which the connection's tracking notifications are redirected."),
    command!("tracking", -3, CONN, Keys::NONE, tracking,
        acl: &["connection"], group: "connection", since: "6.0.0",
        complexity: "O(1). Some options may introduce additional complexity.",
        summary: "Controls server-assisted client-side caching for the connection."),
    command!("caching", 3, CONN, Keys::NONE, caching,
        acl: &["connection"], group: "connection", since: "6.0.0", complexity: "O(1)",
        summary: "Instructs the server whether to track the keys in the next request."),
    command!("trackinginfo", 2, CONN, Keys::NONE, trackinginfo,
        acl: &["connection"], group: "connection", since: "6.2.0", complexity: "O(1)",
        summary: "Returns information about server-assisted client-side caching for the connection."),
    command!("reply", 3, CONN, Keys::NONE, reply,
        acl: &["connection"], group: "connection", since: "3.2.0", complexity: "O(1)",
        summary: "Instructs the server whether to reply to commands."),
    command!("no-evict", 3, ADM, Keys::NONE, no_evict,
        acl: &["connection"], group: "connection", since: "7.0.0", complexity: "O(1)",
        summary: "Sets the client eviction mode of the connection."),
    command!("no-touch", 3, CONN, Keys::NONE, no_touch,
        acl: &["connection"], group: "connection", since: "7.2.0", complexity: "O(1)",
        summary: "Controls whether commands sent by the client affect the LRU/LFU of accessed keys."),
    command!("help", 2, LOADING | STALE, Keys::NONE, help,
        acl: &["connection"], group: "connection", since: "5.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

pub static COMMANDS: &[CommandSpec] = &[command!("client", -2, 0, Keys::NONE, container,
    acl: &[], group: "connection", since: "2.4.0", complexity: "Depends on subcommand.",
    summary: "A container for client connection commands.", subcommands: SUBCOMMANDS)];

/// Never runs: the dispatcher resolves a subcommand or rejects the arity first.
fn container(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Err(errors::wrong_arity(&text(&args[0]).to_ascii_lowercase()))
}

fn id(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.int(cx.client.id as i64);
    Ok(())
}

fn getname(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    match cx.client.handle.name.lock().as_deref() {
        Some(n) => cx.out.bulk(n.as_bytes()),
        None => cx.out.null(),
    }
    Ok(())
}

fn setname(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_client_name(cx, &args[2])?;
    cx.out.ok();
    Ok(())
}

/// Redis's `validateClientAttr`: printable ASCII without spaces.
fn valid_attr(v: &[u8]) -> bool {
    v.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn setinfo(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let attr = text(&args[2]);
    let slot = if is(&args[2], "lib-name") {
        &cx.client.handle.lib_name
    } else if is(&args[2], "lib-ver") {
        &cx.client.handle.lib_ver
    } else {
        return Err(CmdError::err(format_args!("Unrecognized option '{attr}'")));
    };
    if !valid_attr(&args[3]) {
        return Err(CmdError::err(format_args!(
            "{attr} cannot contain spaces, newlines or special characters."
        )));
    }
    *slot.lock() = (!args[3].is_empty()).then(|| text(&args[3]));
    cx.out.ok();
    Ok(())
}

/// One CLIENT LIST line, Redis 7.4's `catClientInfoString`, without the newline.
pub fn client_line(server: &Server, c: &ClientHandle) -> String {
    let now = server.keyspace.now_ms();
    let age = now.saturating_sub(c.created_ms) / 1000;
    let idle = now.saturating_sub(c.last_interaction_ms.load(Ordering::Relaxed)) / 1000;
    let mut flags = String::new();
    if server.pubsub.is_monitor(c.id) {
        flags.push('O');
    }
    let (sub, psub, ssub) = server.pubsub.counts_of(c.id);
    if sub + psub + ssub > 0 {
        flags.push('P');
    }
    if server.blocking.is_blocked(c.id) {
        flags.push('b');
    }
    if c.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if c.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let reg = registry();
    let cmd = match c.last_cmd.load(Ordering::Relaxed) {
        u32::MAX => "NULL".to_string(),
        id => reg.full_name(id as usize).to_string(),
    };
    let qbuf = c.qbuf.load(Ordering::Relaxed);
    let multi = c.multi.load(Ordering::Relaxed);
    let watch = c.watched.load(Ordering::Relaxed);
    let omem = c.omem.load(Ordering::Relaxed);
    let opt = |m: &parking_lot::Mutex<Option<String>>| m.lock().clone().unwrap_or_default();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={age} idle={idle} flags={flags} db={} sub={sub} psub={psub} ssub={ssub} multi={multi} watch={watch} qbuf={qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={omem} tot-mem={} events=r cmd={cmd} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd.load(Ordering::Relaxed),
        opt(&c.name),
        c.db.load(Ordering::Relaxed),
        READ_BUFFER,
        qbuf.max(READ_BUFFER) + omem + std::mem::size_of::<ClientHandle>(),
        c.resp.load(Ordering::Relaxed),
        opt(&c.lib_name),
        opt(&c.lib_ver),
    )
}

/// The size of a connection's read buffer (the connection loop reads 16 KiB at a time).
const READ_BUFFER: usize = 16 * 1024;

/// Client types of CLIENT LIST/KILL TYPE (Redis's `getClientType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientType {
    Normal,
    /// A replica's link to this server.
    Replication,
    /// This replica's client of its master.
    Master,
    /// A client with a channel, pattern or shard-channel subscription.
    Pubsub,
}

fn parse_client_type(arg: &[u8]) -> Result<ClientType, CmdError> {
    if is(arg, "normal") {
        Ok(ClientType::Normal)
    } else if is(arg, "pubsub") {
        Ok(ClientType::Pubsub)
    } else if is(arg, "master") {
        Ok(ClientType::Master)
    } else if ["slave", "replica"].iter().any(|t| is(arg, t)) {
        Ok(ClientType::Replication)
    } else {
        Err(CmdError::err(format_args!(
            "Unknown client type '{}'",
            text(arg)
        )))
    }
}

/// A client's type; MONITOR clients count as normal, as in Redis.
fn client_type(server: &Server, c: &ClientHandle) -> ClientType {
    match crate::replication::link_kind(server, c.id) {
        Some(true) => return ClientType::Master,
        Some(false) => return ClientType::Replication,
        None => {}
    }
    let (sub, psub, ssub) = server.pubsub.counts_of(c.id);
    if sub + psub + ssub > 0 {
        ClientType::Pubsub
    } else {
        ClientType::Normal
    }
}

fn list(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut clients = cx.server.clients.all();
    if args.len() == 4 && is(&args[2], "type") {
        let want = parse_client_type(&args[3])?;
        clients.retain(|c| client_type(cx.server, c) == want);
    } else if args.len() > 3 && is(&args[2], "id") {
        let mut ids = Vec::new();
        for a in &args[3..] {
            match parse_i64(a) {
                Ok(v) if v >= 1 => ids.push(v as u64),
                _ => return Err(CmdError::new("ERR Invalid client ID")),
            }
        }
        clients = ids
            .iter()
            .filter_map(|&id| cx.server.clients.get(id))
            .collect();
    } else if args.len() != 2 {
        return Err(errors::SYNTAX);
    }
    let mut s = String::new();
    for c in clients {
        s.push_str(&client_line(cx.server, &c));
        s.push('\n');
    }
    cx.out.verbatim(b"txt", s.as_bytes());
    Ok(())
}

fn info(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let mut s = client_line(cx.server, &cx.client.handle);
    s.push('\n');
    cx.out.verbatim(b"txt", s.as_bytes());
    Ok(())
}

/// Filters of the new form of CLIENT KILL.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    kind: Option<ClientType>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<String>,
    maxage: Option<u64>,
    skipme: bool,
}

fn kill(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let me = cx.client.id;
    if args.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = text(&args[2]);
        let target = cx
            .server
            .clients
            .all()
            .into_iter()
            .find(|c| c.addr == addr)
            .ok_or(errors::NO_SUCH_CLIENT)?;
        kill_one(cx, &target, me);
        cx.out.ok();
        return Ok(());
    }
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Err(errors::SYNTAX);
        };
        let opt = &args[i];
        if is(opt, "id") {
            match parse_i64(value) {
                Ok(v) if v >= 1 => f.id = Some(v as u64),
                _ => return Err(CmdError::new("ERR client-id should be greater than 0")),
            }
        } else if is(opt, "type") {
            f.kind = Some(parse_client_type(value)?);
        } else if is(opt, "addr") {
            f.addr = Some(text(value));
        } else if is(opt, "laddr") {
            f.laddr = Some(text(value));
        } else if is(opt, "user") {
            if &value[..] != b"default" {
                return Err(CmdError::err(format_args!(
                    "No such user '{}'",
                    text(value)
                )));
            }
            f.user = Some(text(value));
        } else if is(opt, "skipme") {
            if is(value, "yes") {
                f.skipme = true;
            } else if is(value, "no") {
                f.skipme = false;
            } else {
                return Err(errors::SYNTAX);
            }
        } else if is(opt, "maxage") {
            match parse_i64(value) {
                Ok(v) if v >= 1 => f.maxage = Some(v as u64),
                _ => return Err(CmdError::new("ERR maxage should be greater than 0")),
            }
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    let now = cx.server.keyspace.now_ms();
    let mut killed = 0;
    for c in cx.server.clients.all() {
        let hit = f.id.is_none_or(|id| c.id == id)
            && f.kind.is_none_or(|k| client_type(cx.server, &c) == k)
            && f.addr.as_ref().is_none_or(|a| *a == c.addr)
            && f.laddr.as_ref().is_none_or(|a| *a == c.laddr)
            && f.maxage
                .is_none_or(|m| now.saturating_sub(c.created_ms) / 1000 >= m)
            && !(f.skipme && c.id == me);
        if hit {
            kill_one(cx, &c, me);
            killed += 1;
        }
    }
    cx.out.int(killed);
    Ok(())
}

/// Kills a client; oneself is closed after the reply, as Redis's CLIENT_CLOSE_AFTER_REPLY.
fn kill_one(cx: &mut Ctx<'_>, target: &Arc<ClientHandle>, me: u64) {
    if target.id == me {
        cx.client.action = Some(Action::Close);
    } else {
        target.kill();
    }
}

fn pause(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(errors::subcommand_syntax(&args[1], "client"));
    }
    let mut writes_only = false;
    if let Some(mode) = args.get(3) {
        if is(mode, "write") {
            writes_only = true;
        } else if !is(mode, "all") {
            return Err(CmdError::new("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let ms = parse_i64(&args[2]).map_err(|_| errors::TIMEOUT_NOT_INTEGER)?;
    if ms < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    cx.server
        .pause
        .pause(unix_ms().saturating_add(ms as u64), writes_only);
    cx.out.ok();
    Ok(())
}

fn unpause(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.server.pause.unpause();
    cx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends the wait of a client blocked on keys, with its
/// timeout reply or the UNBLOCKED error. 1 if it was blocked, else 0.
fn unblock(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(errors::subcommand_syntax(&args[1], "client"));
    }
    // As Redis: the reason is checked before the id.
    let wake = match args.get(3) {
        None => Wake::Timeout,
        Some(how) if is(how, "timeout") => Wake::Timeout,
        Some(how) if is(how, "error") => Wake::Unblocked,
        Some(_) => {
            return Err(CmdError::new(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = parse_i64(&args[2])?;
    let unblocked = u64::try_from(id).is_ok_and(|id| cx.server.blocking.cancel(id, wake));
    cx.out.int(i64::from(unblocked));
    Ok(())
}

// ---- Client-side caching: TRACKING, CACHING, GETREDIR, TRACKINGINFO (crate::tracking) ----

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP],
/// with Redis's order of checks and texts.
fn tracking(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    use crate::tracking::{mode, Options};
    let mut opts = Options {
        mode: 0,
        redirect: 0,
        prefixes: Vec::new(),
    };
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if is(a, "redirect") && more {
            j += 1;
            if opts.redirect != 0 {
                return Err(CmdError::new(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = parse_i64(&args[j])?;
            // Required to exist now, even if it may disconnect later (as Redis).
            match u64::try_from(id)
                .ok()
                .filter(|&id| cx.server.clients.get(id).is_some())
            {
                Some(id) => opts.redirect = id,
                None => {
                    return Err(CmdError::new(
                        "ERR The client ID you want redirect to does not exist",
                    ))
                }
            }
        } else if is(a, "bcast") {
            opts.mode |= mode::BCAST;
        } else if is(a, "optin") {
            opts.mode |= mode::OPTIN;
        } else if is(a, "optout") {
            opts.mode |= mode::OPTOUT;
        } else if is(a, "noloop") {
            opts.mode |= mode::NOLOOP;
        } else if is(a, "prefix") && more {
            j += 1;
            opts.prefixes.push(args[j].clone());
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let shared = cx.server.tracking.clone();
    if is(&args[2], "off") {
        shared.disable(cx.client);
        cx.out.ok();
        return Ok(());
    }
    if !is(&args[2], "on") {
        return Err(errors::SYNTAX);
    }
    if opts.mode & mode::BCAST == 0 && !opts.prefixes.is_empty() {
        return Err(CmdError::new(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let current = cx
        .client
        .tracking
        .as_ref()
        .filter(|t| t.is_on())
        .map(|t| t.mode());
    if let Some(cur) = current {
        if (cur & mode::BCAST) != (opts.mode & mode::BCAST) {
            return Err(CmdError::new("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if opts.mode & mode::BCAST != 0 && opts.mode & (mode::OPTIN | mode::OPTOUT) != 0 {
        return Err(CmdError::new(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if opts.mode & mode::OPTIN != 0 && opts.mode & mode::OPTOUT != 0 {
        return Err(CmdError::new(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    let cur = current.unwrap_or(0);
    if (opts.mode & mode::OPTIN != 0 && cur & mode::OPTOUT != 0)
        || (opts.mode & mode::OPTOUT != 0 && cur & mode::OPTIN != 0)
    {
        return Err(CmdError::new("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if opts.mode & mode::BCAST != 0 {
        // Redis's checkPrefixCollisionsOrReply: no prefix may be a prefix of another.
        let held = shared.prefixes_of(cx.client.id);
        let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
        for (i, p) in opts.prefixes.iter().enumerate() {
            if let Some(h) = held.iter().find(|h| overlap(p, h)) {
                return Err(CmdError::err(format_args!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(h)
                )));
            }
            if let Some(o) = opts.prefixes[i + 1..].iter().find(|o| overlap(p, o)) {
                return Err(CmdError::err(format_args!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(o)
                )));
            }
        }
    }
    shared.enable(cx.client, opts);
    cx.out.ok();
    Ok(())
}

fn caching(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    use crate::tracking::mode;
    let Some(state) = cx.client.tracking.as_mut().filter(|t| t.is_on()) else {
        return Err(CmdError::new("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    let m = state.mode();
    if is(&args[2], "yes") {
        if m & mode::OPTIN == 0 {
            return Err(CmdError::new(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(&args[2], "no") {
        if m & mode::OPTOUT == 0 {
            return Err(CmdError::new(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(errors::SYNTAX);
    }
    state.caching = true;
    cx.out.ok();
    Ok(())
}

fn getredir(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let info = cx.server.tracking.info(cx.client);
    cx.out.int(info.redirect);
    Ok(())
}

fn trackinginfo(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    use crate::tracking::mode;
    let info = cx.server.tracking.info(cx.client);
    let mut flags: Vec<&[u8]> = vec![if info.on { b"on" } else { b"off" }];
    let m = info.mode;
    if m & mode::BCAST != 0 {
        flags.push(b"bcast");
    }
    if m & mode::OPTIN != 0 {
        flags.push(b"optin");
        if info.caching {
            flags.push(b"caching-yes");
        }
    }
    if m & mode::OPTOUT != 0 {
        flags.push(b"optout");
        if info.caching {
            flags.push(b"caching-no");
        }
    }
    if m & mode::NOLOOP != 0 {
        flags.push(b"noloop");
    }
    if m & mode::BROKEN_REDIR != 0 {
        flags.push(b"broken_redirect");
    }
    cx.out.map(3);
    cx.out.bulk(b"flags");
    cx.out.set(flags.len());
    for f in flags {
        cx.out.bulk(f);
    }
    cx.out.bulk(b"redirect");
    cx.out.int(info.redirect);
    cx.out.bulk(b"prefixes");
    cx.out.array(info.prefixes.len());
    for p in &info.prefixes {
        cx.out.bulk(p);
    }
    Ok(())
}

fn reply(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let a = &args[2];
    if is(a, "on") {
        cx.client.reply_mode = ReplyMode::On;
        cx.out.ok();
    } else if is(a, "off") {
        cx.client.reply_mode = ReplyMode::Off;
    } else if is(a, "skip") {
        if cx.client.reply_mode != ReplyMode::Off {
            cx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(errors::SYNTAX);
    }
    Ok(())
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(errors::SYNTAX)
    }
}

fn no_evict(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let on = on_off(&args[2])?;
    cx.client.handle.no_evict.store(on, Ordering::Relaxed);
    cx.out.ok();
    Ok(())
}

fn no_touch(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let on = on_off(&args[2])?;
    cx.client.handle.no_touch.store(on, Ordering::Relaxed);
    cx.out.ok();
    Ok(())
}

fn help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "client",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    );
    Ok(())
}
