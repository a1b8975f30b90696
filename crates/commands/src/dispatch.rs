//! The dispatcher: everything common to all commands happens here, before and after the
//! handler — lookup, subcommand resolution, arity, authentication, the world lock, CLIENT
//! REPLY, and the statistics of INFO commandstats and errorstats. After the outermost
//! command (an EXEC or a script counts as one) it serves the clients blocked on keys the
//! command made ready.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use protocol::ReplyWriter;

use crate::client::{Action, Client, ReplyMode};
use crate::context::{Ctx, Store};
use crate::errors::{self, CmdError};
use crate::registry::registry;
use crate::server::Server;
use crate::spec::flag;

/// Runs one command at time `now_ms` (ms since the epoch, from the keyspace clock; the
/// connection reads it once per batch of pipelined commands) and writes its reply to `out`.
pub fn dispatch(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    args: &[Bytes],
    now_ms: u64,
) {
    let nested = Nesting::enter();
    let mark = out.len();
    let before = client.reply_mode;
    if before == ReplyMode::SkipNext {
        // SKIP applies to this one command.
        client.reply_mode = ReplyMode::On;
    }
    run(server, client, out, args, now_ms);
    // CLIENT REPLY OFF and SKIP get no reply themselves; CLIENT REPLY ON and RESET do, even
    // when replies were off.
    let suppress = match client.reply_mode {
        ReplyMode::Off | ReplyMode::SkipNext => true,
        ReplyMode::On => before == ReplyMode::SkipNext,
    };
    if suppress {
        out.truncate(mark);
    }
    if !nested.0 {
        drop(nested);
        after_command(server);
    }
}

thread_local! {
    /// How many `dispatch` calls are running on this thread (EXEC and scripts dispatch
    /// their commands from inside a handler).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Marks a `dispatch` call running; `.0` is true when it runs inside another.
struct Nesting(bool);

impl Nesting {
    fn enter() -> Self {
        Nesting(DEPTH.with(|d| {
            let n = d.get();
            d.set(n + 1);
            n > 0
        }))
    }
}

impl Drop for Nesting {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// What follows every command, transaction or script once its locks are released: serve
/// the clients blocked on keys it made ready (Redis's `handleClientsBlockedOnKeys`). One
/// atomic load when nothing is ready. Code that runs commands without `dispatch` calls this
/// once at its end.
pub fn after_command(server: &Server) {
    server.blocking.serve(server);
    // BCAST invalidations collected during the command (one atomic load when none).
    server.tracking.flush();
}

fn reject(server: &Server, out: &mut ReplyWriter, id: Option<usize>, err: CmdError) {
    if let Some(id) = id {
        server.stats.cmd[id]
            .rejected
            .fetch_add(1, Ordering::Relaxed);
    }
    server.stats.record_error(err.code());
    out.error(err.text().as_bytes());
}

/// Runs one command without CLIENT REPLY handling or the post-command hook (the blocking
/// registry re-runs blocked clients' commands with it).
pub(crate) fn run(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyWriter,
    args: &[Bytes],
    now_ms: u64,
) {
    // RESP2 subscribed context and RESET of pub/sub state; one branch for other clients.
    if client.pushes.is_some() && crate::family::pubsub::context_gate(server, client, out, args) {
        return;
    }
    // MULTI queueing (and EXEC refused before it runs): answered there.
    if crate::family::transactions::intercept(server, client, out, args) {
        return;
    }
    let reg = registry();
    let Some(mut id) = reg.lookup(&args[0]) else {
        return reject(server, out, None, errors::unknown_command(args));
    };
    let mut spec = reg.spec(id);
    if !spec.subcommands.is_empty() {
        if args.len() >= 2 {
            match reg.lookup_sub(id, &args[1]) {
                Some(sub) => {
                    id = sub;
                    spec = reg.spec(sub);
                }
                None => {
                    return reject(
                        server,
                        out,
                        Some(id),
                        errors::unknown_subcommand(&args[1], spec.name),
                    )
                }
            }
        } else if !spec.arity_ok(1) {
            return reject(
                server,
                out,
                Some(id),
                errors::wrong_arity(reg.full_name(id)),
            );
        }
    }
    if !spec.arity_ok(args.len()) {
        return reject(
            server,
            out,
            Some(id),
            errors::wrong_arity(reg.full_name(id)),
        );
    }
    if !client.authenticated && !spec.has(flag::NO_AUTH) {
        return reject(server, out, Some(id), errors::NOAUTH);
    }
    client.handle.last_cmd.store(id as u32, Ordering::Relaxed);
    // A dataset being loaded: only commands flagged `loading` run.
    if let Err(e) = crate::family::persistence::refuse_while_loading(server, spec) {
        return reject(server, out, Some(id), e);
    }
    if let Err(e) = crate::maxmemory::admit(server, client, spec, args) {
        return reject(server, out, Some(id), e);
    }
    // Read-only replica, min-replicas-to-write, stale data: one load when none applies.
    if server.replication.gate.load(Ordering::Relaxed) != 0 {
        if let Err(e) = crate::replication::check_command(server, client, spec.flags) {
            return reject(server, out, Some(id), e);
        }
    }
    // While a script runs: wait for it or answer BUSY; SCRIPT/FUNCTION KILL answered here.
    // The gate is held until the world lock is, so no command waits behind a script.
    let Some(gate) = crate::family::scripting::busy_gate(server, out, id, args) else {
        return;
    };

    // The TSC-based clock: command timing for INFO commandstats must not cost a system clock
    // read per command.
    let start = quanta::Instant::now();
    // AOF and replicas: writers hold the order lock until their effects are logged.
    // (`run` is never nested inside a recording command: EXEC and scripts use `nested`.)
    let keyspace = &server.keyspace;
    let lock = || {
        if spec.has(flag::EXCLUSIVE) {
            keyspace.exclusive()
        } else {
            keyspace.shared()
        }
    };
    let record = || {
        let recording = crate::propagate::begin(true);
        let order = (!spec.has(flag::READONLY)).then(|| server.propagation.order());
        (recording, order)
    };
    let (mut recording, mut order) = if server.propagation.is_active() {
        record()
    } else {
        (None, None)
    };
    let mut access = lock();
    // A sink is attached only under the world lock held exclusively: one attached while
    // this command waited for the lock must see this command, so start over recording
    // (the order lock comes before the world lock).
    if recording.is_none() && server.propagation.is_active() {
        drop(access);
        (recording, order) = record();
        access = lock();
    }
    drop(gate);
    // Client-side caching: the writer NOLOOP skips, and the keys a tracking client reads.
    let _running = crate::tracking::Running::enter(client.id);
    if client.tracking.is_some() {
        server.tracking.before_command(server, client, id, args);
    }
    let db = client.db;
    let mut cx = Ctx {
        store: Store {
            keyspace,
            access,
            db,
            now_ms,
        },
        client,
        server,
        out,
    };
    let monitoring = server.pubsub.monitoring();
    if monitoring {
        crate::family::pubsub::feed_monitors(server, cx.client, id, args, true);
    }
    let result = (spec.handler)(&mut cx, args);
    drop(cx);
    if let Some(frame) = recording {
        let effects = crate::propagate::end(frame, db, args, now_ms);
        server.propagation.log(&effects);
        // Under the order lock, the offset is right after this command's effects.
        if !effects.is_empty() {
            client.woff = server.replication.backlog.offset();
        }
    }
    drop(order);
    if client.pushes.is_some() && client.tracking.is_none() {
        // A client with a push queue may be a redirect target of tracking clients.
        server.tracking.register_outbound(client);
    }
    if monitoring {
        crate::family::pubsub::feed_monitors(server, client, id, args, false);
    }
    let stat = &server.stats.cmd[id];
    // As Redis, a command that blocks is counted once, when it is served or times out.
    if !matches!(client.action, Some(Action::Block(_))) {
        stat.calls.fetch_add(1, Ordering::Relaxed);
    }
    let usec = start.elapsed().as_micros() as u64;
    stat.usec.fetch_add(usec, Ordering::Relaxed);
    if !spec.has(flag::SKIP_SLOWLOG) && !matches!(client.action, Some(Action::Block(_))) {
        server.slowlog_record(args, usec, &client.handle);
    }
    if let Err(e) = result {
        stat.failed.fetch_add(1, Ordering::Relaxed);
        server.stats.record_error(e.code());
        out.error(e.text().as_bytes());
    }
}
