//! Consumer groups: XGROUP and its subcommands, XACK, XPENDING, XCLAIM, XAUTOCLAIM.

use bytes::Bytes;
use keyspace::types::stream::{Group, StreamId, INVALID_ENTRIES_READ};
use keyspace::Value;

use super::{
    as_stream, as_stream_mut, now, parse_interval, parse_strict_id, reply_entry, reply_id,
    INVALID_ID, XGROUP_CREATE, XGROUP_CREATECONSUMER, XGROUP_DELCONSUMER, XGROUP_DESTROY,
    XGROUP_SETID,
};
use crate::args::{is, parse_i64};
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `-NOGROUP No such key 'k' or consumer group 'g'` (XPENDING, XCLAIM, XAUTOCLAIM).
fn no_key_or_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError(
        format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            lossy(key),
            lossy(group)
        )
        .into(),
    )
}

/// `-NOGROUP No such consumer group 'g' for key name 'k'` (XGROUP, XINFO CONSUMERS).
pub(crate) fn no_group(group: &[u8], key: &[u8]) -> CmdError {
    CmdError(
        format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            lossy(group),
            lossy(key)
        )
        .into(),
    )
}

// ----- XGROUP -------------------------------------------------------------------------------

/// The container alone (never reached: the dispatcher resolves subcommands).
pub(crate) fn xgroup(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Err(errors::subcommand_syntax(
        args.get(1).map(|a| &a[..]).unwrap_or(b""),
        "xgroup",
    ))
}

pub(crate) fn xgroup_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    crate::family::server::help_reply(
        cx.out,
        "xgroup",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

/// The common prologue of `xgroupCommand`: options from argument 5 (MKSTREAM for CREATE,
/// ENTRIESREAD for CREATE and SETID). Returns (mkstream, entries_read).
fn xgroup_options(args: &[Bytes]) -> Result<(bool, i64), CmdError> {
    let sub = &args[1][..];
    let (create, setid) = (is(sub, "create"), is(sub, "setid"));
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < args.len() {
        if create && is(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && is(&args[i], "entriesread") && i + 1 < args.len() {
            entries_read = parse_i64(&args[i + 1])?;
            if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                return Err(CmdError::new(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(errors::subcommand_syntax(sub, "xgroup"));
        }
    }
    Ok((mkstream, entries_read))
}

const KEY_MUST_EXIST: CmdError = CmdError::new(
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
);

pub(crate) fn xgroup_create(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mkstream, entries_read) = xgroup_options(args)?;
    let (key, name) = (&args[2], &args[3]);
    let mut k = cx.store.lock(key);
    let pos = k.find(key);
    let last = match pos {
        Some(p) => Some(as_stream(k.shard.value(p))?.last_id),
        None if !mkstream => return Err(KEY_MUST_EXIST),
        None => None,
    };
    if args.len() > 8 {
        return Err(errors::subcommand_syntax(&args[1], "xgroup"));
    }
    let id = if &args[4][..] == b"$" {
        last.unwrap_or_default()
    } else {
        parse_strict_id(&args[4])?
    };
    let pos = match pos {
        Some(p) => p,
        None => {
            let (op, hash) = (k.op, k.hash);

            k.shard
                .insert(&op, hash, key, Value::Stream(Box::default()))
        }
    };
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    if s.groups.contains_key(&name[..]) {
        return Err(CmdError::new(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    s.groups
        .insert(name[..].into(), Group::new(id, entries_read));
    cx.out.ok();
    k.op.emit(key, XGROUP_CREATE);
    Ok(())
}

/// Runs `f` on an existing group of an existing stream (XGROUP SETID, CREATECONSUMER,
/// DELCONSUMER), with the errors of `xgroupCommand`.
/// `f` returns its result and whether the write happened (then `ev` is announced).
fn with_group<R>(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    ev: keyspace::Event,
    f: impl FnOnce(&mut keyspace::types::stream::Stream, &mut Group) -> Result<(R, bool), CmdError>,
) -> Result<R, CmdError> {
    xgroup_options(args)?;
    let (key, name) = (&args[2], &args[3]);
    let mut k = cx.store.lock(key);
    let pos = k.find(key).ok_or(KEY_MUST_EXIST)?;
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    let mut g = s
        .groups
        .remove(&name[..])
        .ok_or_else(|| no_group(name, key))?;
    let r = f(s, &mut g);
    s.groups.insert(name[..].into(), g);
    let (r, changed) = r?;
    if changed {
        k.op.emit(key, ev);
    }
    Ok(r)
}

pub(crate) fn xgroup_setid(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (_, entries_read) = xgroup_options(args)?;
    if args.len() != 5 && args.len() != 7 {
        // Options parsed, key and group checked first, as Redis does.
        with_group(cx, args, XGROUP_SETID, |_, _| Ok(((), false)))?;
        return Err(errors::subcommand_syntax(&args[1], "xgroup"));
    }
    with_group(cx, args, XGROUP_SETID, |s, g| {
        let id = if &args[4][..] == b"$" {
            s.last_id
        } else {
            StreamId::parse(&args[4], 0, false, false)
                .ok_or(INVALID_ID)?
                .0
        };
        g.last_id = id;
        g.entries_read = entries_read;
        Ok(((), true))
    })?;
    cx.out.ok();
    Ok(())
}

pub(crate) fn xgroup_destroy(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, name) = (&args[2], &args[3]);
    let mut k = cx.store.lock(key);
    let pos = k.find(key).ok_or(KEY_MUST_EXIST)?;
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    if s.groups.remove(&name[..]).is_some() {
        cx.out.int(1);
        k.op.emit(key, XGROUP_DESTROY);
    } else {
        cx.out.int(0);
    }
    Ok(())
}

pub(crate) fn xgroup_createconsumer(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let now = now(cx);
    let created = with_group(cx, args, XGROUP_CREATECONSUMER, |_, g| {
        let c = g.create_consumer(&args[4], now);
        Ok((c, c))
    })?;
    cx.out.int(i64::from(created));
    Ok(())
}

pub(crate) fn xgroup_delconsumer(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pending = with_group(cx, args, XGROUP_DELCONSUMER, |_, g| {
        let p = g.delete_consumer(&args[4]);
        Ok((p, p.is_some()))
    })?;
    cx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

// ----- XACK ---------------------------------------------------------------------------------

pub(crate) fn xack(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find_read(key) else {
        cx.out.int(0);
        return Ok(());
    };
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    let Some(g) = s.groups.get_mut(&args[2][..]) else {
        cx.out.int(0);
        return Ok(());
    };
    let ids = args[3..]
        .iter()
        .map(|a| parse_strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = ids.into_iter().filter(|&id| g.ack(id)).count();
    if acked > 0 {
        // No keyspace event, but a write to propagate (as Redis).
        crate::propagate::written();
    }
    cx.out.int(acked as i64);
    Ok(())
}

// ----- XPENDING -----------------------------------------------------------------------------

pub(crate) fn xpending(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let argc = args.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(errors::SYNTAX);
    }
    let (mut start, mut end, mut count, mut minidle) = (StreamId::MIN, StreamId::MAX, 0i64, 0i64);
    let mut consumer: Option<&Bytes> = None;
    if argc >= 6 {
        let mut at = 3;
        if is(&args[3], "idle") {
            minidle = parse_i64(&args[4])?;
            if argc < 8 {
                return Err(errors::SYNTAX);
            }
            at += 2;
        }
        count = parse_i64(&args[at + 2])?.max(0);
        start = parse_interval(&args[at], 0, true)?;
        end = parse_interval(&args[at + 1], u64::MAX, false)?;
        consumer = args.get(at + 3);
    }
    let (key, name) = (&args[1], &args[2]);
    let now = now(cx);
    let mut k = cx.store.lock(key);
    let pos = k.find_read(key);
    let s = match pos {
        Some(p) => Some(as_stream(k.shard.value(p))?),
        None => None,
    };
    let g = s
        .and_then(|s| s.groups.get(&name[..]))
        .ok_or_else(|| no_key_or_group(key, name))?;
    let out = &mut *cx.out;
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(&first), Some(&last)) => {
                reply_id(out, first);
                reply_id(out, last);
                let with: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(with.len());
                for (n, c) in with {
                    out.array(2);
                    out.bulk(n);
                    out.bulk_from_int(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(&c[..]) {
            Some(c) if start <= end => c.pel.range(start..=end).copied().collect(),
            Some(_) => Vec::new(),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None if start <= end => g.pel.range(start..=end).map(|(k, _)| *k).collect(),
        None => Vec::new(),
    };
    let rows: Vec<_> = ids
        .into_iter()
        .filter_map(|id| g.pel.get(&id).map(|n| (id, n)))
        .filter(|(_, n)| minidle == 0 || now - n.delivery_time >= minidle)
        .take(usize::try_from(count).unwrap_or(usize::MAX))
        .collect();
    out.array(rows.len());
    for (id, n) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&n.consumer);
        out.int((now - n.delivery_time).max(0));
        out.int(n.delivery_count as i64);
    }
    Ok(())
}

// ----- XCLAIM / XAUTOCLAIM ------------------------------------------------------------------

pub(crate) fn xclaim(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, name, cname) = (&args[1], &args[2], &args[3]);
    let now = now(cx);
    let mut k = cx.store.lock(key);
    let pos = k.find_read(key);
    let has_group = match pos {
        Some(p) => as_stream(k.shard.value(p))?.groups.contains_key(&name[..]),
        None => false,
    };
    let Some(pos) = pos.filter(|_| has_group) else {
        return Err(no_key_or_group(key, name));
    };
    let minidle = parse_i64(&args[4])
        .map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match StreamId::parse(&args[j], 0, true, false) {
            Some((id, _)) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let (mut retrycount, mut deliverytime): (i64, i64) = (-1, -1);
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j][..];
        let num = |a: &[u8], what: &str| {
            parse_i64(a).map_err(|_| {
                CmdError::err(format_args!("Invalid {what} option argument for XCLAIM"))
            })
        };
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            deliverytime = now.saturating_sub(num(&args[j], "IDLE")?);
        } else if is(opt, "time") && more > 0 {
            j += 1;
            deliverytime = num(&args[j], "TIME")?;
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount = num(&args[j], "RETRYCOUNT")?;
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = parse_strict_id(&args[j])?;
        } else {
            return Err(CmdError::err(format_args!(
                "Unrecognized XCLAIM option '{}'",
                lossy(opt)
            )));
        }
        j += 1;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    let Some(mut g) = s.groups.remove(&name[..]) else {
        return Err(no_key_or_group(key, name));
    };
    let moved_last_id = last_id > g.last_id;
    if moved_last_id {
        g.last_id = last_id;
    }
    let created = g.create_consumer(cname, now);
    if let Some(c) = g.consumers.get_mut(&cname[..]) {
        c.seen_time = now;
    }
    // Propagated as Redis does: one idempotent XCLAIM per claimed or dropped entry.
    let mut effects = Vec::new();
    let mut claimed = Vec::new();
    for id in ids {
        let exists = s.get(id).is_some();
        if !exists {
            if let Some(n) = g.pel.get(&id) {
                effects.push(crate::propagate::xclaim_effect(
                    key,
                    name,
                    &n.consumer,
                    id.to_string(),
                    n.delivery_time,
                    n.delivery_count,
                    g.last_id.to_string(),
                ));
            }
            g.ack(id);
            continue;
        }
        let fresh = !g.pel.contains_key(&id);
        if fresh && !force {
            continue;
        }
        if !fresh && minidle > 0 {
            if let Some(n) = g.pel.get(&id) {
                if now - n.delivery_time < minidle {
                    continue;
                }
            }
        }
        // A FORCE-made entry starts at one delivery, before the increment below (as Redis).
        let nack = g.assign(id, cname, now);
        nack.delivery_time = deliverytime;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
        let (time, count) = (nack.delivery_time, nack.delivery_count);
        if let Some(c) = g.consumers.get_mut(&cname[..]) {
            c.active_time = now;
        }
        effects.push(crate::propagate::xclaim_effect(
            key,
            name,
            cname,
            id.to_string(),
            time,
            count,
            g.last_id.to_string(),
        ));
        claimed.push(id);
    }
    if moved_last_id && effects.is_empty() {
        effects.push(crate::propagate::xsetid_effect(
            key,
            name,
            g.last_id.to_string(),
            g.entries_read,
        ));
    }
    if created && effects.is_empty() {
        effects.push(crate::propagate::xcreateconsumer_effect(key, name, cname));
    }
    if effects.is_empty() {
        crate::propagate::suppress();
    }
    for e in effects {
        crate::propagate::rewrite(e);
    }
    cx.out.array(claimed.len());
    for id in claimed {
        match (justid, s.get(id)) {
            (false, Some(f)) => reply_entry(cx.out, id, f),
            _ => reply_id(cx.out, id),
        }
    }
    s.groups.insert(name[..].into(), g);
    if created {
        k.op.emit(key, XGROUP_CREATECONSUMER);
    }
    Ok(())
}

pub(crate) fn xautoclaim(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, name, cname) = (&args[1], &args[2], &args[3]);
    let minidle = parse_i64(&args[4])
        .map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = parse_interval(&args[5], 0, true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            count = match parse_i64(&args[j + 1]) {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => return Err(CmdError::new("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let now = now(cx);
    let mut k = cx.store.lock(key);
    let pos = k.find_read(key);
    let has_group = match pos {
        Some(p) => as_stream(k.shard.value(p))?.groups.contains_key(&name[..]),
        None => false,
    };
    let Some(pos) = pos.filter(|_| has_group) else {
        return Err(no_key_or_group(key, name));
    };
    let s = as_stream_mut(k.shard.value_mut(pos))?;
    let Some(mut g) = s.groups.remove(&name[..]) else {
        return Err(no_key_or_group(key, name));
    };
    let created = g.create_consumer(cname, now);
    if let Some(c) = g.consumers.get_mut(&cname[..]) {
        c.seen_time = now;
    }
    let mut attempts = count.saturating_mul(10);
    let limit = usize::try_from(attempts)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let candidates: Vec<StreamId> = g.pel.range(start..).map(|(k, _)| *k).take(limit).collect();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut effects = Vec::new();
    let mut visited = 0;
    while attempts > 0 && count > 0 && visited < candidates.len() {
        attempts -= 1;
        let id = candidates[visited];
        visited += 1;
        if s.get(id).is_none() {
            if let Some(n) = g.pel.get(&id) {
                effects.push(crate::propagate::xclaim_effect(
                    key,
                    name,
                    &n.consumer,
                    id.to_string(),
                    n.delivery_time,
                    n.delivery_count,
                    g.last_id.to_string(),
                ));
            }
            g.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if minidle > 0 {
            if let Some(n) = g.pel.get(&id) {
                if now - n.delivery_time < minidle {
                    continue;
                }
            }
        }
        let nack = g.assign(id, cname, now);
        nack.delivery_time = now;
        if !justid {
            nack.delivery_count += 1;
        }
        let delivered = nack.delivery_count;
        if let Some(c) = g.consumers.get_mut(&cname[..]) {
            c.active_time = now;
        }
        effects.push(crate::propagate::xclaim_effect(
            key,
            name,
            cname,
            id.to_string(),
            now,
            delivered,
            g.last_id.to_string(),
        ));
        claimed.push(id);
        count -= 1;
    }
    if created && effects.is_empty() {
        effects.push(crate::propagate::xcreateconsumer_effect(key, name, cname));
    }
    if effects.is_empty() {
        crate::propagate::suppress();
    }
    for e in effects {
        crate::propagate::rewrite(e);
    }
    let next = candidates.get(visited).copied().unwrap_or_default();
    let out = &mut *cx.out;
    out.array(3);
    reply_id(out, next);
    out.array(claimed.len());
    for id in claimed {
        match (justid, s.get(id)) {
            (false, Some(f)) => reply_entry(out, id, f),
            _ => reply_id(out, id),
        }
    }
    out.array(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
    s.groups.insert(name[..].into(), g);
    if created {
        k.op.emit(key, XGROUP_CREATECONSUMER);
    }
    Ok(())
}
