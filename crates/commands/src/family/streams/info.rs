//! XINFO STREAM [FULL [COUNT n]], GROUPS, CONSUMERS and HELP, with Redis 7.4's fields.

use bytes::Bytes;
use keyspace::types::stream::{Group, Stream, StreamId, INVALID_ENTRIES_READ};
use protocol::ReplyWriter;

use super::groups::no_group;
use super::{as_stream, now, reply_entry, reply_id};
use crate::args::{is, parse_i64};
use crate::context::Ctx;
use crate::errors::{self, CmdResult};

pub(crate) fn xinfo(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Err(errors::subcommand_syntax(
        args.get(1).map(|a| &a[..]).unwrap_or(b""),
        "xinfo",
    ))
}

pub(crate) fn xinfo_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    crate::family::server::help_reply(
        cx.out,
        "xinfo",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

/// Runs `f` on the stream at args[2], with XINFO's errors (no such key, wrong type).
fn with_stream(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    f: impl FnOnce(&Stream, &mut ReplyWriter, i64) -> CmdResult,
) -> CmdResult {
    let now = now(cx);
    let mut k = cx.store.lock(&args[2]);
    let pos = k.find_read(&args[2]).ok_or(errors::NO_SUCH_KEY)?;
    let s = as_stream(k.shard.value(pos))?;
    f(s, cx.out, now)
}

fn entries_read(out: &mut ReplyWriter, g: &Group) {
    if g.entries_read == INVALID_ENTRIES_READ {
        out.null();
    } else {
        out.int(g.entries_read);
    }
}

fn lag(out: &mut ReplyWriter, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

pub(crate) fn xinfo_consumers(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    with_stream(cx, args, |s, out, now| {
        let g = s
            .groups
            .get(&args[3][..])
            .ok_or_else(|| no_group(&args[3], &args[2]))?;
        out.array(g.consumers.len());
        for (name, c) in &g.consumers {
            let inactive = if c.active_time != -1 {
                now - c.active_time
            } else {
                -1
            };
            out.map(4);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int((now - c.seen_time).max(0));
            out.bulk(b"inactive");
            out.int(inactive);
        }
        Ok(())
    })
}

pub(crate) fn xinfo_groups(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    with_stream(cx, args, |s, out, _| {
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            out.bulk(b"entries-read");
            entries_read(out, g);
            out.bulk(b"lag");
            lag(out, s, g);
        }
        Ok(())
    })
}

/// Redis's rax node count for this many 128-bit keys, roughly (XINFO radix-tree-nodes).
fn rax_nodes(keys: usize) -> usize {
    match keys {
        0 => 1,
        1 => 2,
        n => 2 * n + 2,
    }
}

pub(crate) fn xinfo_stream(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let opts = &args[3..];
    let full = !opts.is_empty();
    let mut count: i64 = 10;
    if full {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return Err(errors::subcommand_syntax(&args[1], "xinfo"));
        }
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return Err(errors::subcommand_syntax(&args[1], "xinfo"));
            }
            count = parse_i64(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let take = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    };
    with_stream(cx, args, |s, out, _| {
        out.map(if full { 9 } else { 10 });
        out.bulk(b"length");
        out.int(s.len() as i64);
        out.bulk(b"radix-tree-keys");
        out.int(s.node_count() as i64);
        out.bulk(b"radix-tree-nodes");
        out.int(rax_nodes(s.node_count()) as i64);
        out.bulk(b"last-generated-id");
        reply_id(out, s.last_id);
        out.bulk(b"max-deleted-entry-id");
        reply_id(out, s.max_deleted_id);
        out.bulk(b"entries-added");
        out.int(s.entries_added as i64);
        out.bulk(b"recorded-first-entry-id");
        reply_id(out, s.first_id);
        if !full {
            out.bulk(b"groups");
            out.int(s.groups.len() as i64);
            for (label, e) in [
                ("first-entry", s.first_entry()),
                ("last-entry", s.last_entry()),
            ] {
                out.bulk(label.as_bytes());
                match e {
                    Some((id, f)) => reply_entry(out, id, f),
                    None => out.null(),
                }
            }
            return Ok(());
        }
        out.bulk(b"entries");
        let n = s
            .range(StreamId::MIN, StreamId::MAX, false)
            .take(take)
            .count();
        out.array(n);
        for (id, f) in s.range(StreamId::MIN, StreamId::MAX, false).take(n) {
            reply_entry(out, id, f);
        }
        out.bulk(b"groups");
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(7);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            out.bulk(b"entries-read");
            entries_read(out, g);
            out.bulk(b"lag");
            lag(out, s, g);
            out.bulk(b"pel-count");
            out.int(g.pel.len() as i64);
            out.bulk(b"pending");
            let pel: Vec<_> = g.pel.iter().take(take).collect();
            out.array(pel.len());
            for (id, n) in pel {
                out.array(4);
                reply_id(out, *id);
                out.bulk(&n.consumer);
                out.int(n.delivery_time);
                out.int(n.delivery_count as i64);
            }
            out.bulk(b"consumers");
            out.array(g.consumers.len());
            for (cname, c) in &g.consumers {
                out.map(5);
                out.bulk(b"name");
                out.bulk(cname);
                out.bulk(b"seen-time");
                out.int(c.seen_time);
                out.bulk(b"active-time");
                out.int(c.active_time);
                out.bulk(b"pel-count");
                out.int(c.pel.len() as i64);
                out.bulk(b"pending");
                let pel: Vec<_> = c.pel.iter().take(take).collect();
                out.array(pel.len());
                for id in pel {
                    out.array(3);
                    reply_id(out, *id);
                    let (t, n) = g
                        .pel
                        .get(id)
                        .map(|n| (n.delivery_time, n.delivery_count as i64))
                        .unwrap_or((0, 0));
                    out.int(t);
                    out.int(n);
                }
            }
        }
        Ok(())
    })
}
