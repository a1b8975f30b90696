//! Pub/sub commands (SUBSCRIBE, PUBLISH, PUBSUB ..., their pattern and shard variants) and
//! MONITOR, as Redis 7.4's `pubsub.c` and `monitorCommand`; plus the dispatcher's two hooks:
//! the RESP2 subscribed-context check ([`context_gate`]) and the MONITOR feed
//! ([`feed_monitors`]). Delivery itself is in [`crate::pubsub`].

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use protocol::{Protocol, ReplyWriter};

use crate::args::text;
use crate::client::Client;
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::family::server::help_reply;
use crate::pubsub::{Kind, PubSub};
use crate::registry::registry;
use crate::server::Server;
use crate::spec::{flag::*, CommandSpec, Keys};

const SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUB: u32 = PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE;
const INTRO: u32 = PUBSUB | LOADING | STALE;

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    command!("channels", -2, INTRO, Keys::NONE, channels,
        acl: &[], group: "pubsub", since: "2.8.0",
        complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
        summary: "Returns the active channels."),
    command!("numpat", 2, INTRO, Keys::NONE, numpat,
        acl: &[], group: "pubsub", since: "2.8.0", complexity: "O(1)",
        summary: "Returns a count of unique pattern subscriptions."),
    command!("numsub", -2, INTRO, Keys::NONE, numsub,
        acl: &[], group: "pubsub", since: "2.8.0",
        complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
        summary: "Returns a count of subscribers to channels."),
    command!("shardchannels", -2, INTRO, Keys::NONE, shardchannels,
        acl: &[], group: "pubsub", since: "7.0.0",
        complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
        summary: "Returns the active shard channels."),
    command!("shardnumsub", -2, INTRO, Keys::NONE, shardnumsub,
        acl: &[], group: "pubsub", since: "7.0.0",
        complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
        summary: "Returns the count of subscribers of shard channels."),
    command!("help", 2, LOADING | STALE, Keys::NONE, help,
        acl: &[], group: "pubsub", since: "6.2.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!("subscribe", -2, SUB, Keys::NONE, subscribe,
        acl: &[], group: "pubsub", since: "2.0.0",
        complexity: "O(N) where N is the number of channels to subscribe to.",
        summary: "Listens for messages published to channels."),
    command!("unsubscribe", -1, SUB, Keys::NONE, unsubscribe,
        acl: &[], group: "pubsub", since: "2.0.0",
        complexity: "O(N) where N is the number of channels to unsubscribe.",
        summary: "Stops listening to messages posted to channels."),
    command!("psubscribe", -2, SUB, Keys::NONE, psubscribe,
        acl: &[], group: "pubsub", since: "2.0.0",
        complexity: "O(N) where N is the number of patterns to subscribe to.",
        summary: "Listens for messages published to channels that match one or more patterns."),
    command!("punsubscribe", -1, SUB, Keys::NONE, punsubscribe,
        acl: &[], group: "pubsub", since: "2.0.0",
        complexity: "O(N) where N is the number of patterns to unsubscribe.",
        summary: "Stops listening to messages published to channels that match one or more patterns."),
    command!("publish", 3, PUB, Keys::NONE, publish,
        acl: &[], group: "pubsub", since: "2.0.0",
        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        summary: "Posts a message to a channel."),
    command!("ssubscribe", -2, SUB, Keys::ALL, ssubscribe,
        acl: &[], group: "pubsub", since: "7.0.0",
        complexity: "O(N) where N is the number of shard channels to subscribe to.",
        summary: "Listens for messages published to shard channels."),
    command!("sunsubscribe", -1, SUB, Keys::ALL, sunsubscribe,
        acl: &[], group: "pubsub", since: "7.0.0",
        complexity: "O(N) where N is the number of shard channels to unsubscribe.",
        summary: "Stops listening to messages posted to shard channels."),
    command!("spublish", 3, PUB, Keys::ONE, spublish,
        acl: &[], group: "pubsub", since: "7.0.0",
        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        summary: "Post a message to a shard channel"),
    command!("pubsub", -2, 0, Keys::NONE, container,
        acl: &[], group: "pubsub", since: "2.8.0", complexity: "Depends on subcommand.",
        summary: "A container for Pub/Sub commands.", subcommands: PUBSUB_SUBCOMMANDS),
    command!("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, Keys::NONE, monitor,
        acl: &[], group: "server", since: "1.0.0", complexity: "",
        summary: "Listens for all requests received by the server in real-time."),
];

/// Never runs: the dispatcher resolves a subcommand or rejects the arity first.
fn container(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Err(errors::wrong_arity(&text(&args[0]).to_ascii_lowercase()))
}

/// One (un)subscribe confirmation: a push in RESP3, an array in RESP2.
fn confirm(out: &mut ReplyWriter, what: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(what);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

/// The count a confirmation carries: channels plus patterns, or shard channels.
fn count_for(client: &Client, kind: Kind) -> usize {
    let (c, p, s) = client.pushes.as_ref().map_or((0, 0, 0), |i| i.out.counts());
    if kind == Kind::Shard {
        s
    } else {
        c + p
    }
}

fn subscribe_kind(cx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let out = PubSub::outbound(cx.client);
    let (what, _) = kind.names();
    for name in &args[1..] {
        cx.server.pubsub.subscribe(&out, kind, name);
        confirm(cx.out, what, Some(name), count_for(cx.client, kind));
    }
    Ok(())
}

fn unsubscribe_kind(cx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let (_, what) = kind.names();
    let Some(out) = cx.client.pushes.as_ref().map(|i| i.out.clone()) else {
        // Never subscribed to anything.
        if args.len() == 1 {
            confirm(cx.out, what, None, 0);
        } else {
            for name in &args[1..] {
                confirm(cx.out, what, Some(name), 0);
            }
        }
        return Ok(());
    };
    let names = if args.len() == 1 {
        cx.server.pubsub.subscriptions(cx.client.id, kind)
    } else {
        args[1..].to_vec()
    };
    if names.is_empty() {
        confirm(cx.out, what, None, count_for(cx.client, kind));
    }
    for name in &names {
        cx.server.pubsub.unsubscribe(&out, kind, name);
        confirm(cx.out, what, Some(name), count_for(cx.client, kind));
    }
    Ok(())
}

fn subscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_kind(cx, args, Kind::Channel)
}

fn psubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_kind(cx, args, Kind::Pattern)
}

/// SSUBSCRIBE: refused inside EXEC, where SUBSCRIBE is allowed for backward compatibility
/// (Redis's `ssubscribeCommand` checks CLIENT_DENY_BLOCKING without exempting MULTI).
fn ssubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if cx.client.deny_blocking.is_some() {
        return Err(CmdError::new(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    subscribe_kind(cx, args, Kind::Shard)
}

fn unsubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(cx, args, Kind::Channel)
}

fn punsubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(cx, args, Kind::Pattern)
}

fn sunsubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(cx, args, Kind::Shard)
}

fn publish(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = cx.server.pubsub.publish(&args[1], &args[2]);
    cx.out.int(n as i64);
    Ok(())
}

fn spublish(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = cx.server.pubsub.spublish(&args[1], &args[2]);
    cx.out.int(n as i64);
    Ok(())
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern], sorted (Redis's order is unspecified).
fn list_channels(cx: &mut Ctx<'_>, args: &[Bytes], shard: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(errors::subcommand_syntax(&args[1], "pubsub"));
    }
    let mut names = cx
        .server
        .pubsub
        .channels(shard, args.get(2).map(|p| &p[..]));
    names.sort();
    cx.out.array(names.len());
    for n in &names {
        cx.out.bulk(n);
    }
    Ok(())
}

fn channels(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(cx, args, false)
}

fn shardchannels(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(cx, args, true)
}

fn count_subscribers(cx: &mut Ctx<'_>, args: &[Bytes], shard: bool) -> CmdResult {
    cx.out.array((args.len() - 2) * 2);
    for ch in &args[2..] {
        cx.out.bulk(ch);
        cx.out.int(cx.server.pubsub.numsub(shard, ch) as i64);
    }
    Ok(())
}

fn numsub(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(cx, args, false)
}

fn shardnumsub(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(cx, args, true)
}

fn numpat(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.int(cx.server.pubsub.numpat() as i64);
    Ok(())
}

fn help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "pubsub",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}

/// MONITOR: from now on the client receives every command the server runs. A second
/// MONITOR is ignored without a reply, as in Redis.
fn monitor(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if cx.client.deny_blocking.is_some() {
        return Err(CmdError::new(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    let out = PubSub::outbound(cx.client);
    if cx.server.pubsub.add_monitor(out) {
        cx.out.ok();
    }
    Ok(())
}

/// Commands that feed MONITOR themselves before running (Redis's scripting commands, whose
/// own commands follow them in the output).
const FED_BEFORE: [&str; 6] = [
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// The dispatcher's MONITOR hook, called only while someone monitors, before (`before`) and
/// after the handler of command `id`. Redis shows every command but those flagged admin or
/// skip_monitor, once, after it ran; scripts are shown before their commands.
pub fn feed_monitors(server: &Server, client: &Client, id: usize, args: &[Bytes], before: bool) {
    let reg = registry();
    let spec = reg.spec(id);
    let shown = if spec.has(SKIP_MONITOR) {
        before && FED_BEFORE.contains(&reg.full_name(id))
    } else {
        !before && !spec.has(ADMIN)
    };
    if shown && !crate::blocking::reexecuting() {
        // As Redis, a script's commands come from `lua`, not from its caller.
        let origin = if crate::family::scripting::in_script() {
            "lua"
        } else {
            client.handle.addr.as_str()
        };
        server
            .pubsub
            .feed_monitors(&monitor_line(client.db, origin, reg.full_name(id), args));
    }
}

/// Redis's `replicationFeedMonitors` line: `+<sec>.<usec> [<db> <addr>] "arg" ...`, with
/// AUTH's and HELLO AUTH's secrets redacted.
pub fn monitor_line(db: usize, origin: &str, name: &str, args: &[Bytes]) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut s = String::with_capacity(64 + args.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(
        s,
        "+{}.{:06} [{db} {origin}]",
        now.as_secs(),
        now.subsec_micros()
    );
    let redacted = redacted_args(name, args);
    for (j, a) in args.iter().enumerate() {
        s.push(' ');
        if redacted.contains(&j) {
            s.push_str("\"(redacted)\"");
        } else {
            repr(&mut s, a);
        }
    }
    s.push_str("\r\n");
    Bytes::from(s)
}

/// Positions of the arguments Redis replaces by `(redacted)`.
fn redacted_args(name: &str, args: &[Bytes]) -> Vec<usize> {
    match name {
        "auth" => (1..args.len()).collect(),
        "hello" => {
            let mut out = Vec::new();
            let mut j = 2;
            while j < args.len() {
                let more = args.len() - j - 1;
                if args[j].eq_ignore_ascii_case(b"auth") && more >= 2 {
                    out.extend([j + 1, j + 2]);
                    j += 2;
                } else if args[j].eq_ignore_ascii_case(b"setname") && more >= 1 {
                    j += 1;
                }
                j += 1;
            }
            out
        }
        _ => Vec::new(),
    }
}

/// Redis's `sdscatrepr`: a double-quoted string with C escapes.
fn repr(s: &mut String, a: &[u8]) {
    s.push('"');
    for &c in a {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
}

/// Commands a RESP2 client may send while subscribed.
const ALLOWED_SUBSCRIBED: [&str; 9] = [
    "subscribe",
    "ssubscribe",
    "psubscribe",
    "unsubscribe",
    "sunsubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// The dispatcher's pub/sub step, run only for clients that ever subscribed or monitored,
/// before MULTI queueing. RESET leaves pub/sub and MONITOR; a RESP2 client with
/// subscriptions may run only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING (answered here, as
/// `["pong", arg]`), QUIT and RESET; others are refused with Redis's error. Returns true
/// when the command has been answered.
pub fn context_gate(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    args: &[Bytes],
) -> bool {
    let Some(inbox) = client.pushes.as_ref() else {
        return false;
    };
    if !client.authenticated {
        return false;
    }
    // Outside RESP2's subscribed context only RESET concerns the gate: one comparison.
    let restricted = client.proto == Protocol::Resp2 && inbox.out.subscribed();
    if !restricted && !args[0].eq_ignore_ascii_case(b"reset") {
        return false;
    }
    // Unknown commands and wrong arity are the dispatcher's to answer.
    let Ok(id) = crate::nested::resolve(args) else {
        return false;
    };
    let reg = registry();
    let name = reg.full_name(id);
    if name == "reset" {
        server.pubsub.remove_client(&inbox.out);
        return false;
    }
    if client.proto != Protocol::Resp2 || !inbox.out.subscribed() {
        return false;
    }
    let stat = &server.stats.cmd[id];
    if name == "ping" && args.len() <= 2 {
        stat.calls.fetch_add(1, Ordering::Relaxed);
        client.handle.last_cmd.store(id as u32, Ordering::Relaxed);
        out.array(2);
        out.bulk(b"pong");
        out.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
        return true;
    }
    if ALLOWED_SUBSCRIBED.contains(&name) {
        return false;
    }
    stat.rejected.fetch_add(1, Ordering::Relaxed);
    server.stats.record_error("ERR");
    let text = format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    );
    out.error(text.as_bytes());
    true
}
