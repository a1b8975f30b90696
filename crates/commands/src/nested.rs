//! Commands run by other commands: EXEC's queued commands and a script's `redis.call` run
//! inside a command that already holds the world lock exclusively, so they borrow its
//! databases instead of locking again. Statistics are counted as for any command.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use keyspace::{Access, Dbs};
use protocol::ReplyWriter;

use crate::client::Client;
use crate::context::{Ctx, Store};
use crate::errors::{self, CmdError};
use crate::registry::registry;
use crate::server::Server;

/// Resolves a command line to its registry id (the subcommand's, for containers), checking
/// arity. On error, the id to count a rejection against (if any) and Redis's error.
pub fn resolve(args: &[Bytes]) -> Result<usize, (Option<usize>, CmdError)> {
    let reg = registry();
    let Some(mut id) = args.first().and_then(|name| reg.lookup(name)) else {
        return Err((None, errors::unknown_command(args)));
    };
    let mut spec = reg.spec(id);
    if !spec.subcommands.is_empty() {
        if args.len() >= 2 {
            match reg.lookup_sub(id, &args[1]) {
                Some(sub) => {
                    id = sub;
                    spec = reg.spec(sub);
                }
                None => return Err((Some(id), errors::unknown_subcommand(&args[1], spec.name))),
            }
        } else if !spec.arity_ok(1) {
            return Err((Some(id), errors::wrong_arity(reg.full_name(id))));
        }
    }
    if !spec.arity_ok(args.len()) {
        return Err((Some(id), errors::wrong_arity(reg.full_name(id))));
    }
    Ok(id)
}

/// Runs the resolved command `id` on `dbs` (lent by the enclosing command) for `client`,
/// writing its reply to `out`. An error is returned, not written, so the caller decides how
/// it appears (an element of EXEC's reply, a Lua error).
pub fn run_nested(
    server: &Server,
    client: &mut Client,
    dbs: &mut Dbs,
    out: &mut ReplyWriter,
    id: usize,
    args: &[Bytes],
    now_ms: u64,
) -> Result<(), CmdError> {
    let spec = registry().spec(id);
    crate::maxmemory::admit_nested(server, spec, args)?;
    let start = quanta::Instant::now();
    let db = client.db;
    let recording = crate::propagate::begin(false);
    let mut cx = Ctx {
        store: Store {
            keyspace: &server.keyspace,
            access: Access::Lent(dbs),
            db,
            now_ms,
        },
        client,
        server,
        out,
    };
    let result = (spec.handler)(&mut cx, args);
    drop(cx);
    if let Some(frame) = recording {
        // Nested effects are logged by the outermost command.
        crate::propagate::end(frame, db, args, now_ms);
    }
    if server.pubsub.monitoring() {
        crate::family::pubsub::feed_monitors(server, client, id, args, false);
    }
    let stat = &server.stats.cmd[id];
    stat.calls.fetch_add(1, Ordering::Relaxed);
    stat.usec
        .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    if let Err(e) = &result {
        stat.failed.fetch_add(1, Ordering::Relaxed);
        server.stats.record_error(e.code());
    }
    result
}
