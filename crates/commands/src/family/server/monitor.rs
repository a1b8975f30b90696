//! SLOWLOG (commands that ran longer than `slowlog-log-slower-than`) and LATENCY (the
//! latency monitor, which records no events here: its replies are those of a Redis whose
//! monitor has no samples).

use bytes::Bytes;

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::Ctx;
use crate::errors::{CmdError, CmdResult};
use crate::spec::{flag::*, CommandSpec, Keys};

use super::help_reply;

pub(super) static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    command!("get", -2, ADMIN | LOADING | STALE, Keys::NONE, slowlog_get,
        acl: &[], group: "server", since: "2.2.12", complexity: "O(N) where N is the number of entries returned",
        summary: "Returns the slow log's entries."),
    command!("len", 2, ADMIN | LOADING | STALE, Keys::NONE, slowlog_len,
        acl: &[], group: "server", since: "2.2.12", complexity: "O(1)",
        summary: "Returns the number of entries in the slow log."),
    command!("reset", 2, ADMIN | LOADING | STALE, Keys::NONE, slowlog_reset,
        acl: &[], group: "server", since: "2.2.12", complexity: "O(N) where N is the number of entries in the slowlog",
        summary: "Clears all entries from the slow log."),
    command!("help", 2, LOADING | STALE, Keys::NONE, slowlog_help,
        acl: &[], group: "server", since: "6.2.0", complexity: "O(1)",
        summary: "Show helpful text about the different subcommands"),
];

pub(super) static LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    command!("doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE, Keys::NONE, latency_doctor,
        acl: &[], group: "server", since: "2.8.13", complexity: "O(1)",
        summary: "Returns a human-readable latency analysis report."),
    command!("graph", 3, ADMIN | NOSCRIPT | LOADING | STALE, Keys::NONE, latency_graph,
        acl: &[], group: "server", since: "2.8.13", complexity: "O(1)",
        summary: "Returns a latency graph for an event."),
    command!("history", 3, ADMIN | NOSCRIPT | LOADING | STALE, Keys::NONE, latency_history,
        acl: &[], group: "server", since: "2.8.13", complexity: "O(1)",
        summary: "Returns timestamp-latency samples for an event."),
    command!("latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, Keys::NONE, latency_latest,
        acl: &[], group: "server", since: "2.8.13", complexity: "O(1)",
        summary: "Returns the latest latency samples for all events."),
    command!("reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, Keys::NONE, latency_reset,
        acl: &[], group: "server", since: "2.8.13", complexity: "O(1)",
        summary: "Resets the latency data for one or more events."),
    command!("help", 2, LOADING | STALE, Keys::NONE, latency_help,
        acl: &[], group: "server", since: "2.8.13", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

/// The containers' own handler: reached only without a subcommand, which arity refuses.
pub(super) fn container(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(())
}

fn slowlog_get(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = match args.get(2) {
        None => 10,
        Some(a) => match parse_i64(a) {
            Ok(n) if n >= -1 => n,
            _ => {
                return Err(CmdError::new(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        },
    };
    let log = cx.server.slowlog.lock();
    let n = if count == -1 {
        log.entries.len()
    } else {
        log.entries.len().min(count as usize)
    };
    cx.out.array(n);
    for e in log.entries.iter().take(n) {
        cx.out.array(6);
        cx.out.int(e.id as i64);
        cx.out.int(e.time_s as i64);
        cx.out.int(e.usec as i64);
        cx.out.array(e.args.len());
        for a in &e.args {
            cx.out.bulk(a);
        }
        cx.out.bulk(e.addr.as_bytes());
        cx.out.bulk(e.name.as_bytes());
    }
    Ok(())
}

fn slowlog_len(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = cx.server.slowlog.lock().entries.len();
    cx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.server.slowlog.lock().entries.clear();
    cx.out.ok();
    Ok(())
}

fn slowlog_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "slowlog",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

fn latency_doctor(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.verbatim(
        b"txt",
        b"Dave, no latency spike was observed during the lifetime of this Redis instance, \
not in the slightest bit. I honestly think you ought to sleep better than me.\n",
    );
    Ok(())
}

fn latency_graph(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Err(CmdError::err(format_args!(
        "No samples available for event '{}'",
        String::from_utf8_lossy(&args[2])
    )))
}

fn latency_history(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.array(0);
    Ok(())
}

fn latency_latest(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.array(0);
    Ok(())
}

fn latency_reset(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.int(0);
    Ok(())
}

fn latency_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "latency",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
        ],
    );
    Ok(())
}

/// Whether `args` asks LOLWUT for a VERSION (and which), checking the syntax as Redis.
pub(super) fn lolwut_version(args: &[Bytes]) -> Result<Option<i64>, CmdError> {
    if args.len() >= 3 && is(&args[1], "version") {
        return parse_i64(&args[2]).map(Some);
    }
    Ok(None)
}
