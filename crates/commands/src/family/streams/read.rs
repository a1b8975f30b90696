//! XREAD and XREADGROUP (`xreadCommand`): serve what is there, or ask to block.

use bytes::Bytes;
use keyspace::types::stream::StreamId;
use protocol::Protocol;

use super::XGROUP_CREATECONSUMER;
use super::{as_stream, as_stream_mut, now, parse_strict_id, reply_entry, reply_id};
use crate::args::{is, parse_i64};
use crate::blocking::{BlockRequest, TimeoutReply};
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};

/// What a stream is read from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum From {
    /// Entries after this ID (XREAD, or a consumer's history with XREADGROUP).
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

pub(crate) fn xread(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    generic(cx, args, false)
}

pub(crate) fn xreadgroup(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    generic(cx, args, true)
}

/// `getTimeoutFromObjectOrReply` in milliseconds: the absolute deadline, None for 0.
fn parse_timeout(cx: &Ctx<'_>, arg: &[u8]) -> Result<Option<u64>, CmdError> {
    let t = parse_i64(arg).map_err(|_| errors::TIMEOUT_NOT_INTEGER)?;
    if t < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if t == 0 {
        return Ok(None);
    }
    let now = now(cx);
    if t > i64::MAX - now {
        return Err(CmdError::new("ERR timeout is out of range"));
    }
    Ok(Some((now + t) as u64))
}

fn meaningless(sym: char) -> CmdError {
    CmdError::err(format_args!(
        "The {sym} ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The {sym} ID would just return an empty result set."
    ))
}

fn generic(cx: &mut Ctx<'_>, args: &[Bytes], group_read: bool) -> CmdResult {
    let name = if group_read { "xreadgroup" } else { "xread" };
    let mut block: Option<Option<u64>> = None;
    let mut count: usize = 0;
    let mut streams_arg = 0;
    let mut nstreams = 0;
    let mut noack = false;
    let mut group: Option<(&Bytes, &Bytes)> = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = &args[i][..];
        if is(o, "block") && more > 0 {
            i += 1;
            block = Some(parse_timeout(cx, &args[i])?);
        } else if is(o, "count") && more > 0 {
            i += 1;
            count = usize::try_from(parse_i64(&args[i])?.max(0)).unwrap_or(usize::MAX);
        } else if is(o, "streams") && more > 0 {
            streams_arg = i + 1;
            let n = args.len() - streams_arg;
            if !n.is_multiple_of(2) {
                return Err(CmdError::err(format_args!(
                    "Unbalanced '{name}' list of streams: for each stream key an ID or '{}' must be specified.",
                    if group_read { '>' } else { '$' }
                )));
            }
            nstreams = n / 2;
            break;
        } else if is(o, "group") && more >= 2 {
            if !group_read {
                return Err(CmdError::new(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((&args[i + 1], &args[i + 2]));
            i += 2;
        } else if is(o, "noack") {
            if !group_read {
                return Err(CmdError::new(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(errors::SYNTAX);
    }
    if group_read && group.is_none() {
        return Err(CmdError::new("ERR Missing GROUP option for XREADGROUP"));
    }
    let keys = &args[streams_arg..streams_arg + nstreams];
    let id_args = &args[streams_arg + nstreams..];
    let now = now(cx);
    if group_read {
        // XREADGROUP itself is never propagated: only the effects recorded below.
        crate::propagate::suppress();
    }

    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();

    // Resolve the IDs, checking types and groups as Redis does, key by key.
    let mut from = Vec::with_capacity(nstreams);
    for (j, key) in keys.iter().enumerate() {
        let (hash, shard) = placed[j];
        let sh = locked.shard(shard);
        let pos = if group_read {
            sh.lookup(&op, hash, key)
        } else {
            sh.lookup_read(&op, hash, key)
        };
        let s = match pos {
            Some(p) => Some(as_stream(sh.value(p))?),
            None => None,
        };
        if let Some((g, _)) = group {
            if s.is_none_or(|s| !s.groups.contains_key(&g[..])) {
                return Err(CmdError(
                    format!(
                        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                        String::from_utf8_lossy(key),
                        String::from_utf8_lossy(g)
                    )
                    .into(),
                ));
            }
        }
        let arg = &id_args[j][..];
        from.push(match arg {
            b"$" if group_read => return Err(meaningless('$')),
            b"$" => From::After(s.map(|s| s.last_id).unwrap_or_default()),
            b"+" if group_read => return Err(meaningless('+')),
            b"+" => From::After(
                s.and_then(|s| s.last_valid_id())
                    .and_then(|id| id.prev())
                    .unwrap_or_default(),
            ),
            b">" if !group_read => {
                return Err(CmdError::new(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ))
            }
            b">" => From::New,
            _ => From::After(parse_strict_id(arg)?),
        });
    }

    // Which streams can be served now; consumers are created on the way.
    let mut serve = vec![None; nstreams];
    for (j, key) in keys.iter().enumerate() {
        let (hash, shard) = placed[j];
        let sh = locked.shard(shard);
        let Some(pos) = sh.find(hash, key) else {
            continue;
        };
        let s = as_stream_mut(sh.value_mut(pos))?;
        match group {
            Some((g, c)) => {
                let Some(grp) = s.groups.get(&g[..]) else {
                    continue;
                };
                let gl = grp.last_id;
                serve[j] = match from[j] {
                    From::After(id) => Some(From::After(id)),
                    From::New if s.last_valid_id().is_some_and(|m| m > gl) => Some(From::New),
                    From::New => None,
                };
                if let Some(grp) = s.groups.get_mut(&g[..]) {
                    if grp.create_consumer(c, now) {
                        op.emit(key, XGROUP_CREATECONSUMER);
                        crate::propagate::rewrite(crate::propagate::xcreateconsumer_effect(
                            key, g, c,
                        ));
                    }
                    if let Some(cons) = grp.consumers.get_mut(&c[..]) {
                        cons.seen_time = now;
                    }
                }
            }
            None => {
                if let From::After(id) = from[j] {
                    if s.last_valid_id().is_some_and(|m| m > id) {
                        serve[j] = Some(From::After(id));
                    }
                }
            }
        }
    }

    let served = serve.iter().filter(|s| s.is_some()).count();
    if served == 0 {
        match block {
            Some(deadline_ms) => {
                let retry_args =
                    (!group_read && id_args.iter().any(|a| &a[..] == b"$")).then(|| {
                        let mut v = args.to_vec();
                        for (j, a) in id_args.iter().enumerate() {
                            if &a[..] == b"$" {
                                if let From::After(id) = from[j] {
                                    v[streams_arg + nstreams + j] = Bytes::from(id.to_string());
                                }
                            }
                        }
                        v
                    });
                drop(locked);
                cx.block(BlockRequest {
                    keys: keys.to_vec(),
                    deadline_ms,
                    on_timeout: TimeoutReply::NullArray,
                    retry_args,
                });
            }
            None => cx.out.null_array(),
        }
        return Ok(());
    }

    let resp3 = cx.out.proto == Protocol::Resp3;
    if resp3 {
        cx.out.map(served);
    } else {
        cx.out.array(served);
    }
    for (j, key) in keys.iter().enumerate() {
        let Some(what) = serve[j] else {
            continue;
        };
        let (hash, shard) = placed[j];
        let sh = locked.shard(shard);
        let Some(pos) = sh.find(hash, key) else {
            continue;
        };
        let s = as_stream_mut(sh.value_mut(pos))?;
        if !resp3 {
            cx.out.array(2);
        }
        cx.out.bulk(key);
        let take = if count == 0 { usize::MAX } else { count };
        match (group, what) {
            (None, From::After(id)) => {
                let start = id.next().unwrap_or(StreamId::MAX);
                let n = s.range(start, StreamId::MAX, false).take(take).count();
                cx.out.array(n);
                for (id, f) in s.range(start, StreamId::MAX, false).take(n) {
                    reply_entry(cx.out, id, f);
                }
            }
            (Some((g, c)), From::New) => {
                let after = s.groups.get(&g[..]).map(|g| g.last_id).unwrap_or_default();
                let ids = s.deliver_new(g, c, after, count, noack, now);
                // Propagated as Redis does: an XCLAIM per delivered entry, then the
                // group's position.
                if let Some(grp) = s.groups.get(&g[..]) {
                    for &id in &ids {
                        if let Some(n) = grp.pel.get(&id).filter(|_| !noack) {
                            crate::propagate::rewrite(crate::propagate::xclaim_effect(
                                key,
                                g,
                                c,
                                id.to_string(),
                                n.delivery_time,
                                n.delivery_count,
                                grp.last_id.to_string(),
                            ));
                        }
                    }
                    if !ids.is_empty() {
                        crate::propagate::rewrite(crate::propagate::xsetid_effect(
                            key,
                            g,
                            grp.last_id.to_string(),
                            grp.entries_read,
                        ));
                    }
                }
                cx.out.array(ids.len());
                for id in ids {
                    if let Some(f) = s.get(id) {
                        reply_entry(cx.out, id, f);
                    }
                }
            }
            (Some((g, c)), From::After(id)) => {
                // The consumer's history: its pending entries after `id`.
                let Some(start) = id.next() else {
                    cx.out.array(0);
                    continue;
                };
                let pending: Vec<StreamId> = s
                    .groups
                    .get(&g[..])
                    .and_then(|grp| grp.consumers.get(&c[..]))
                    .map(|cons| cons.pel.range(start..).take(take).copied().collect())
                    .unwrap_or_default();
                cx.out.array(pending.len());
                for pid in pending {
                    match s.get(pid) {
                        Some(f) => {
                            reply_entry(cx.out, pid, f);
                            if let Some(n) = s
                                .groups
                                .get_mut(&g[..])
                                .and_then(|grp| grp.pel.get_mut(&pid))
                            {
                                n.delivery_time = now;
                                n.delivery_count += 1;
                            }
                        }
                        None => {
                            cx.out.array(2);
                            reply_id(cx.out, pid);
                            cx.out.null_array();
                        }
                    }
                }
            }
            (None, From::New) => cx.out.array(0),
        }
    }
    Ok(())
}
