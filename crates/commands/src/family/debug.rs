//! Introspection: DEBUG (SLEEP and HELP; Redis's reply for the rest) and MEMORY (USAGE,
//! STATS, MALLOC-STATS, DOCTOR, HELP).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::args::{is, parse_i64};
use crate::client::Action;
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdResult};
use crate::family::info::{allocated, rss, used_memory};
use crate::family::server::help_reply;
use crate::spec::{flag::*, CommandSpec, Keys};

static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    command!("usage", -3, READONLY, Keys { first: 2, last: 2, step: 1 }, usage,
        acl: &["keyspace"], group: "server", since: "4.0.0",
        complexity: "O(N) where N is the number of samples.",
        summary: "Estimates the memory usage of a key."),
    command!("stats", 2, 0, Keys::NONE, stats,
        acl: &[], group: "server", since: "4.0.0", complexity: "O(1)",
        summary: "Returns details about memory usage."),
    command!("malloc-stats", 2, 0, Keys::NONE, malloc_stats,
        acl: &[], group: "server", since: "4.0.0",
        complexity: "Depends on how much memory is allocated, could be slow",
        summary: "Returns the allocator statistics."),
    command!("doctor", 2, 0, Keys::NONE, doctor,
        acl: &[], group: "server", since: "4.0.0", complexity: "O(1)",
        summary: "Outputs a memory problems report."),
    command!("help", 2, LOADING | STALE, Keys::NONE, memory_help,
        acl: &[], group: "server", since: "4.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, Keys::NONE, debug,
        acl: &[], group: "server", since: "1.0.0", complexity: "Depends on subcommand.",
        summary: "A container for debugging commands."),
    command!("memory", -2, 0, Keys::NONE, memory_container,
        acl: &[], group: "server", since: "4.0.0", complexity: "Depends on subcommand.",
        summary: "A container for memory diagnostics commands.", subcommands: MEMORY_SUBCOMMANDS),
];

/// Whether `enable-debug-command` lets this client run DEBUG.
fn debug_allowed(cx: &Ctx<'_>) -> bool {
    match cx.server.config.get("enable-debug-command").as_deref() {
        Some("yes") => true,
        Some("local") => cx
            .client
            .handle
            .addr
            .parse::<SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback()),
        _ => false,
    }
}

fn debug(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !debug_allowed(cx) {
        return Err(errors::DEBUG_NOT_ALLOWED);
    }
    let sub = &args[1];
    if args.len() == 2 && is(sub, "help") {
        help_reply(cx.out, "debug", DEBUG_HELP);
    } else if args.len() == 3 && is(sub, "sleep") {
        // strtod: what does not parse counts as 0.
        let secs: f64 = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .unwrap_or(0.0);
        cx.client.action = Some(Action::Sleep((secs * 1000.0) as u64));
        cx.out.ok();
    } else {
        return Err(errors::subcommand_syntax(sub, "debug"));
    }
    Ok(())
}

/// Never runs: the dispatcher resolves a subcommand or rejects the arity first.
fn memory_container(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(errors::wrong_arity("memory"))
}

fn usage(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "samples") && i + 1 < args.len() {
            if parse_i64(&args[i + 1])? < 0 {
                return Err(errors::SYNTAX);
            }
            i += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let key = &args[2];
    let mut lock = cx.store.lock(key);
    match lock.find(key) {
        Some(pos) => {
            let n = lock.shard.usage_of(pos);
            drop(lock);
            cx.out.int(n as i64);
        }
        None => {
            drop(lock);
            cx.out.null();
        }
    }
    Ok(())
}

fn stats(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let used = used_memory(cx.server);
    let peak = cx.server.mem_peak.load(Ordering::Relaxed).max(used);
    let ks = cx.store.keyspace;
    let mut keys = 0u64;
    let mut dataset = 0u64;
    let mut per_db = Vec::new();
    for db in 0..ks.databases() {
        let d = cx.store.access.db(db);
        let (mut n, mut bytes) = (0u64, 0u64);
        for s in 0..d.shard_count() {
            let shard = d.lock(s);
            n += shard.len() as u64;
            bytes += shard.memory_estimate() as u64;
        }
        keys += n;
        dataset += bytes;
        if n > 0 {
            per_db.push((db, n));
        }
    }
    let overhead = used.saturating_sub(dataset);
    let rss = rss();
    let alloc = allocated();
    let out = &mut *cx.out;
    out.map(15 + per_db.len());
    let int = |out: &mut protocol::ReplyWriter, k: &str, v: u64| {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    };
    int(out, "peak.allocated", peak);
    int(out, "total.allocated", used);
    int(out, "startup.allocated", 0);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(
        out,
        "clients.normal",
        cx.server.clients.count() as u64 * 16 * 1024,
    );
    int(out, "aof.buffer", 0);
    for (db, n) in per_db {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(2);
        int(out, "overhead.hashtable.main", n * 8);
        int(out, "overhead.hashtable.expires", 0);
    }
    int(out, "overhead.total", overhead);
    int(out, "keys.count", keys);
    int(
        out,
        "keys.bytes-per-key",
        used.checked_div(keys).unwrap_or(0),
    );
    int(out, "dataset.bytes", dataset);
    out.bulk(b"dataset.percentage");
    out.double(dataset as f64 * 100.0 / used.max(1) as f64);
    out.bulk(b"peak.percentage");
    out.double(used as f64 * 100.0 / peak.max(1) as f64);
    int(out, "allocator.allocated", alloc);
    int(out, "allocator.resident", rss);
    Ok(())
}

fn doctor(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let used = used_memory(cx.server);
    let text: &[u8] = if used < 5 * 1024 * 1024 {
        b"Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    cx.out.verbatim(b"txt", text);
    Ok(())
}

/// MEMORY MALLOC-STATS: jemalloc's summary statistics, in the format of the "Allocated:"
/// line of its `malloc_stats_print` report.
fn malloc_stats(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let text = format!(
        "___ Begin jemalloc statistics ___\n\
         Allocated: {}, active: {}, metadata: {}, resident: {}, mapped: {}, retained: {}\n\
         --- End jemalloc statistics ---\n",
        stats::allocated::read().unwrap_or(0),
        stats::active::read().unwrap_or(0),
        stats::metadata::read().unwrap_or(0),
        stats::resident::read().unwrap_or(0),
        stats::mapped::read().unwrap_or(0),
        stats::retained::read().unwrap_or(0),
    );
    cx.out.bulk(text.as_bytes());
    Ok(())
}

fn memory_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "memory",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

/// Redis 7.4's DEBUG HELP text; only SLEEP and HELP are implemented here.
const DEBUG_HELP: &[&str] = &[
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
];
