//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, and the queueing step the dispatcher
//! runs before every command ([`intercept`]).
//!
//! As Redis's `multi.c`: between MULTI and EXEC every command but EXEC, DISCARD, MULTI,
//! WATCH, QUIT and RESET is checked (name, arity, authentication, NO_MULTI) and queued;
//! a refused one flags the transaction so EXEC answers EXECABORT. EXEC holds the world lock
//! exclusively and runs the queue through [`nested::run_nested`], so the whole transaction
//! is one atomic step for every other client; runtime errors are elements of its reply.
//! WATCH registers keys with the [`WatchRegistry`](crate::watch::WatchRegistry),
//! which the change feed marks dirty.

use bytes::Bytes;
use protocol::ReplyWriter;

use crate::blocking::TimeoutReply;
use crate::client::{Client, Multi};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::nested;
use crate::registry::registry;
use crate::server::Server;
use crate::spec::{flag::*, CommandSpec, Keys};
use crate::watch::{KeyState, Watching};

pub static COMMANDS: &[CommandSpec] = &[
    command!("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, Keys::NONE, multi,
        acl: &["transaction"], group: "transactions", since: "1.2.0", complexity: "O(1)",
        summary: "Starts a transaction."),
    command!("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | EXCLUSIVE, Keys::NONE, exec,
        acl: &["transaction"], group: "transactions", since: "1.2.0",
        complexity: "Depends on commands in the transaction",
        summary: "Executes all commands in a transaction."),
    command!("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, Keys::NONE, discard,
        acl: &["transaction"], group: "transactions", since: "2.0.0",
        complexity: "O(N), when N is the number of queued commands",
        summary: "Discards a transaction."),
    command!("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, Keys::ALL, watch,
        acl: &["transaction"], group: "transactions", since: "2.2.0",
        complexity: "O(1) for every key.",
        summary: "Monitors changes to keys to determine the execution of a transaction."),
    command!("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, Keys::NONE, unwatch,
        acl: &["transaction"], group: "transactions", since: "2.2.0", complexity: "O(1)",
        summary: "Forgets about watched keys of a transaction."),
];

pub const MULTI_NESTED: CmdError = CmdError::new("ERR MULTI calls can not be nested");
pub const EXEC_WITHOUT_MULTI: CmdError = CmdError::new("ERR EXEC without MULTI");
pub const DISCARD_WITHOUT_MULTI: CmdError = CmdError::new("ERR DISCARD without MULTI");
pub const WATCH_INSIDE_MULTI: CmdError = CmdError::new("ERR WATCH inside MULTI is not allowed");
pub const EXECABORT: CmdError =
    CmdError::new("EXECABORT Transaction discarded because of previous errors.");
pub const NOT_IN_MULTI: CmdError = CmdError::new("ERR Command not allowed inside a transaction");

/// Commands that run at once even inside MULTI.
const IMMEDIATE: [&str; 6] = ["exec", "discard", "multi", "watch", "quit", "reset"];

/// The dispatcher's transaction step, run before its own checks. Returns true when the
/// command has been answered here: queued (`+QUEUED`), refused while queueing (the
/// transaction is flagged), or an EXEC refused before running (EXECABORT with the reason,
/// as Redis's `execCommandAbort`). A RESET discards the transaction and the watches, then
/// runs as usual. One branch for a client outside MULTI that watches nothing.
#[inline]
pub fn intercept(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    args: &[Bytes],
) -> bool {
    if client.multi.is_none()
        && client.watching.is_none()
        && !args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"exec"))
    {
        return false;
    }
    intercept_slow(server, client, out, args)
}

fn intercept_slow(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    args: &[Bytes],
) -> bool {
    let reg = registry();
    let resolved = nested::resolve(args).and_then(|id| {
        if !client.authenticated && !reg.spec(id).has(NO_AUTH) {
            Err((Some(id), errors::NOAUTH))
        } else {
            Ok(id)
        }
    });
    let id = match resolved {
        Ok(id) => id,
        Err((id, err)) => {
            let is_exec = id.is_some_and(|i| reg.full_name(i) == "exec");
            if client.multi.is_none() && !is_exec {
                return false; // the dispatcher refuses it as usual
            }
            if let Some(id) = id {
                count_rejected(server, id);
            }
            if is_exec {
                // Redis's format-built errors carry no code here; shared ones do.
                let reason = err.text().strip_prefix("ERR ").unwrap_or(err.text());
                discard_transaction(client);
                server.stats.record_error("EXECABORT");
                let text = format!("EXECABORT Transaction discarded because of: {reason}");
                out.error(text.as_bytes());
            } else {
                if let Some(multi) = client.multi.as_mut() {
                    multi.failed = true;
                }
                server.stats.record_error(err.code());
                out.error(err.text().as_bytes());
            }
            return true;
        }
    };
    let name = reg.full_name(id);
    if IMMEDIATE.contains(&name) {
        if name == "reset" {
            discard_transaction(client);
        }
        return false;
    }
    let Some(multi) = client.multi.as_mut() else {
        return false;
    };
    let refused = crate::family::persistence::refuse_while_loading(server, reg.spec(id))
        .and_then(|()| crate::maxmemory::admit_queued(server));
    if let Err(e) = refused {
        multi.failed = true;
        count_rejected(server, id);
        server.stats.record_error(e.code());
        out.error(e.text().as_bytes());
        return true;
    }
    if reg.spec(id).has(NO_MULTI) {
        multi.failed = true;
        count_rejected(server, id);
        server.stats.record_error(NOT_IN_MULTI.code());
        out.error(NOT_IN_MULTI.text().as_bytes());
        return true;
    }
    // No point keeping the commands of a transaction that can only abort.
    if !multi.failed {
        multi.queued.push((id, args.to_vec()));
        publish_state(client);
    }
    client
        .handle
        .last_cmd
        .store(id as u32, std::sync::atomic::Ordering::Relaxed);
    out.simple(b"QUEUED");
    true
}

fn count_rejected(server: &Server, id: usize) {
    server.stats.cmd[id]
        .rejected
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Leaves MULTI and forgets every watched key (Redis's `discardTransaction`).
fn discard_transaction(client: &mut Client) {
    client.multi = None;
    client.watching = None;
    publish_state(client);
}

/// Shows the transaction state to CLIENT LIST (`multi=`, `watch=`).
fn publish_state(client: &Client) {
    use std::sync::atomic::Ordering::Relaxed;
    let queued = client.multi.as_ref().map_or(-1, |m| m.queued.len() as i64);
    client.handle.multi.store(queued, Relaxed);
    let watched = client.watching.as_ref().map_or(0, Watching::len);
    client.handle.watched.store(watched, Relaxed);
}

/// What a blocking command answers inside EXEC instead of blocking: its timeout reply,
/// except BLMOVE and BRPOPLPUSH, which answer a null bulk there (Redis's
/// `blmoveGenericCommand` under CLIENT_DENY_BLOCKING).
pub fn deny_block(out: &mut ReplyWriter, cmd: &str, on_timeout: TimeoutReply) {
    if cmd == "blmove" || cmd == "brpoplpush" {
        return out.null();
    }
    match on_timeout {
        TimeoutReply::NullArray => out.null_array(),
    }
}

fn multi(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if cx.client.multi.is_some() {
        return Err(MULTI_NESTED);
    }
    cx.client.multi = Some(Multi::default());
    publish_state(cx.client);
    cx.out.ok();
    Ok(())
}

fn discard(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if cx.client.multi.is_none() {
        return Err(DISCARD_WITHOUT_MULTI);
    }
    discard_transaction(cx.client);
    cx.out.ok();
    Ok(())
}

fn exec(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(multi) = cx.client.multi.take() else {
        return Err(EXEC_WITHOUT_MULTI);
    };
    // Unwatch at once, whatever the outcome.
    let watching = cx.client.watching.take();
    publish_state(cx.client);
    if multi.failed {
        return Err(EXECABORT);
    }
    if watching.is_some_and(|w| w.failed_at_exec(&cx.store)) {
        cx.out.null_array();
        return Ok(());
    }
    let now_ms = cx.store.now_ms;
    let Some(dbs) = cx.store.access.exclusive() else {
        debug_assert!(false, "EXEC runs with exclusive access");
        return Err(CmdError::err("EXEC needs exclusive access"));
    };
    let reg = registry();
    cx.out.array(multi.queued.len());
    let outer = cx.client.deny_blocking;
    for (id, args) in &multi.queued {
        cx.client.deny_blocking = Some(reg.full_name(*id));
        if let Err(e) = nested::run_nested(cx.server, cx.client, dbs, cx.out, *id, args, now_ms) {
            cx.out.error(e.text().as_bytes());
        }
    }
    cx.client.deny_blocking = outer;
    Ok(())
}

fn watch(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if cx.client.multi.is_some() {
        return Err(WATCH_INSIDE_MULTI);
    }
    let server = cx.server;
    let watching = cx
        .client
        .watching
        .get_or_insert_with(|| Watching::new(server.watches.clone()));
    // No point in watching more once a watched key has changed.
    if !watching.is_dirty() {
        let db = cx.store.db;
        for key in &args[1..] {
            let lock = cx.store.lock(key);
            let state = match lock.shard.find(lock.hash, key) {
                None => KeyState::Absent,
                Some(pos) if lock.shard.expired_at(pos, cx.store.now_ms) => KeyState::Expired,
                Some(_) => KeyState::Existed,
            };
            // Registered while the shard is locked: no write can slip in between.
            watching.add(db, key, state);
            drop(lock);
        }
    }
    publish_state(cx.client);
    cx.out.ok();
    Ok(())
}

fn unwatch(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.client.watching = None;
    publish_state(cx.client);
    cx.out.ok();
    Ok(())
}
