//! INFO, with Redis 7.4's sections and field names (`genRedisInfoString` in server.c), and the
//! process measurements it and MEMORY share: allocator bytes, RSS, CPU time.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::command;
use crate::context::Ctx;
use crate::errors::CmdResult;
use crate::registry::registry;
use crate::server::{unix_ms, Server};
use crate::spec::{flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[command!("info", -1, LOADING | STALE, Keys::NONE, info,
    acl: &["dangerous"], group: "server", since: "1.0.0", complexity: "O(1)",
    summary: "Returns information and statistics about the server.")];

/// Sections of `INFO` / `INFO default`, in order.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Bytes allocated by jemalloc, or 0 when it is not the global allocator.
pub fn allocated() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

/// Resident set size from /proc/self/statm (0 where there is no /proc).
pub fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// used_memory: the allocator's count, RSS when the allocator cannot tell. Updates the peak.
pub fn used_memory(server: &Server) -> u64 {
    let used = match allocated() {
        0 => rss(),
        n => n,
    };
    server.mem_peak.fetch_max(used, Ordering::Relaxed);
    used
}

/// Redis's `bytesToHuman`.
pub fn human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else {
        format!("{:.2}P", d / (K * K * K * K * K))
    }
}

/// (user, system) CPU seconds of a /proc stat file, and of its waited-for children.
fn cpu_times(path: &str) -> [f64; 4] {
    let Ok(s) = std::fs::read_to_string(path) else {
        return [0.0; 4];
    };
    // Fields after the parenthesised command name: state is field 3; utime is field 14.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    [tick(11), tick(12), tick(13), tick(14)]
}

/// Per-shard counters summed: (hits, misses, expired), plus per-db (keys, expires, ttl sum,
/// ttl count).
struct KeyspaceTotals {
    hits: u64,
    misses: u64,
    expired: u64,
    dbs: Vec<(u64, u64, u64, u64)>,
}

fn keyspace_totals(cx: &Ctx<'_>) -> KeyspaceTotals {
    let ks = cx.store.keyspace;
    let mut t = KeyspaceTotals {
        hits: 0,
        misses: 0,
        expired: 0,
        dbs: Vec::new(),
    };
    for db in 0..ks.databases() {
        let d = cx.store.access.db(db);
        let mut row = (0, 0, 0, 0);
        for s in 0..d.shard_count() {
            let shard = d.lock(s);
            t.hits += shard.stats.hits;
            t.misses += shard.stats.misses;
            t.expired += shard.stats.expired;
            let (sum, n) = shard.ttl_sum(cx.store.now_ms);
            row.0 += shard.len() as u64;
            row.1 += shard.volatile_len() as u64;
            row.2 += sum;
            row.3 += n;
        }
        t.dbs.push(row);
    }
    t
}

fn section(cx: &Ctx<'_>, name: &str, out: &mut String, totals: &mut Option<KeyspaceTotals>) {
    let server = cx.server;
    let title = match name {
        "cpu" => "CPU".to_string(),
        "errorstats" => "Errorstats".to_string(),
        "commandstats" => "Commandstats".to_string(),
        "latencystats" => "Latencystats".to_string(),
        other => {
            let mut t = other.to_string();
            t[..1].make_ascii_uppercase();
            t
        }
    };
    if !out.is_empty() {
        out.push_str("\r\n");
    }
    let _ = write!(out, "# {title}\r\n");
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    let config = &server.config;
    let uptime = server.started.elapsed().as_secs();
    match name {
        "server" => {
            kv("redis_version", &crate::REDIS_VERSION);
            kv("cinnabar_version", &crate::CINNABAR_VERSION);
            kv("redis_git_sha1", &"00000000");
            kv("redis_git_dirty", &0);
            kv("redis_build_id", &"0");
            kv("redis_mode", &"standalone");
            kv(
                "os",
                &format!(
                    "{} {}",
                    capitalised(std::env::consts::OS),
                    std::env::consts::ARCH
                ),
            );
            kv("arch_bits", &(usize::BITS));
            kv("monotonic_clock", &"POSIX clock_gettime");
            kv("multiplexing_api", &"epoll");
            kv("atomicvar_api", &"c11-builtin");
            kv("gcc_version", &"0.0.0");
            kv("process_id", &std::process::id());
            kv("process_supervised", &"no");
            kv("run_id", &server.run_id);
            kv("tcp_port", &server.bound_port.load(Ordering::Relaxed));
            kv("server_time_usec", &(unix_ms() * 1000));
            kv("uptime_in_seconds", &uptime);
            kv("uptime_in_days", &(uptime / 86400));
            kv("hz", &config.get_i64("hz"));
            kv("configured_hz", &config.get_i64("hz"));
            kv("lru_clock", &((unix_ms() / 1000) & ((1 << 24) - 1)));
            kv("executable", &server.executable);
            kv(
                "config_file",
                &config
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            kv("io_threads_active", &0);
            kv(
                "listener0",
                &format!(
                    "name=tcp,bind={},port={}",
                    config.get("bind").unwrap_or_default().replace(' ', ","),
                    server.bound_port.load(Ordering::Relaxed)
                ),
            );
        }
        "clients" => {
            kv("connected_clients", &server.clients.count());
            kv("cluster_connections", &0);
            kv("maxclients", &config.maxclients.load(Ordering::Relaxed));
            kv("client_recent_max_input_buffer", &0);
            kv("client_recent_max_output_buffer", &0);
            kv("blocked_clients", &server.blocking.blocked_clients());
            kv("tracking_clients", &0);
            kv("pubsub_clients", &0);
            kv("watching_clients", &0);
            kv("clients_in_timeout_table", &0);
            kv("total_watched_keys", &0);
            kv("total_blocking_keys", &server.blocking.blocking_keys());
            kv("total_blocking_keys_on_nokey", &0);
        }
        "memory" => {
            let used = used_memory(server);
            let rss = rss();
            let peak = server.mem_peak.load(Ordering::Relaxed).max(used);
            let maxmemory = config.get_i64("maxmemory").max(0) as u64;
            kv("used_memory", &used);
            kv("used_memory_human", &human(used));
            kv("used_memory_rss", &rss);
            kv("used_memory_rss_human", &human(rss));
            kv("used_memory_peak", &peak);
            kv("used_memory_peak_human", &human(peak));
            kv(
                "used_memory_peak_perc",
                &format!("{:.2}%", used as f64 * 100.0 / peak.max(1) as f64),
            );
            kv("maxmemory", &maxmemory);
            kv("maxmemory_human", &human(maxmemory));
            kv(
                "maxmemory_policy",
                &config.get("maxmemory-policy").unwrap_or_default(),
            );
            kv(
                "mem_fragmentation_ratio",
                &format!("{:.2}", rss as f64 / used.max(1) as f64),
            );
            kv("mem_fragmentation_bytes", &(rss as i64 - used as i64));
            kv(
                "mem_allocator",
                &if allocated() > 0 {
                    "jemalloc-5.3.0"
                } else {
                    "libc"
                },
            );
            kv("lazyfree_pending_objects", &0);
            kv("lazyfreed_objects", &0);
        }
        "persistence" => {
            crate::family::persistence::info_rdb(server, &mut kv);
            crate::aof::info(server, &mut kv);
            crate::family::persistence::info_loading(server, &mut kv);
        }
        "stats" => {
            let st = &server.stats;
            let t = totals.get_or_insert_with(|| keyspace_totals(cx));
            kv(
                "total_connections_received",
                &st.total_connections.load(Ordering::Relaxed),
            );
            kv("total_commands_processed", &st.commands_processed());
            kv("instantaneous_ops_per_sec", &st.instantaneous_ops());
            kv(
                "total_net_input_bytes",
                &st.net_input_bytes.load(Ordering::Relaxed),
            );
            kv(
                "total_net_output_bytes",
                &st.net_output_bytes.load(Ordering::Relaxed),
            );
            kv(
                "rejected_connections",
                &st.rejected_connections.load(Ordering::Relaxed),
            );
            crate::replication::info_stats(server, &mut kv);
            kv("expired_keys", &t.expired);
            kv("evicted_keys", &crate::maxmemory::evicted_keys(server));
            kv("evicted_clients", &0);
            kv("keyspace_hits", &t.hits);
            kv("keyspace_misses", &t.misses);
            kv("pubsub_channels", &0);
            kv("pubsub_patterns", &0);
            kv("pubsubshard_channels", &0);
            kv("total_forks", &0);
            kv(
                "total_error_replies",
                &st.total_error_replies.load(Ordering::Relaxed),
            );
        }
        "replication" => crate::replication::info_section(server, &mut kv),
        "cpu" => {
            let p = cpu_times("/proc/self/stat");
            let m = cpu_times(&format!("/proc/self/task/{}/stat", std::process::id()));
            kv("used_cpu_sys", &format!("{:.6}", p[1]));
            kv("used_cpu_user", &format!("{:.6}", p[0]));
            kv("used_cpu_sys_children", &format!("{:.6}", p[3]));
            kv("used_cpu_user_children", &format!("{:.6}", p[2]));
            kv("used_cpu_sys_main_thread", &format!("{:.6}", m[1]));
            kv("used_cpu_user_main_thread", &format!("{:.6}", m[0]));
        }
        "errorstats" => {
            let errors = server.stats.errors.lock();
            let mut names: Vec<_> = errors.iter().collect();
            names.sort();
            for (code, n) in names {
                kv(&format!("errorstat_{code}"), &format!("count={n}"));
            }
        }
        "commandstats" => {
            let reg = registry();
            for (id, s) in server.stats.cmd.iter().enumerate() {
                let calls = s.calls.load(Ordering::Relaxed);
                let failed = s.failed.load(Ordering::Relaxed);
                let rejected = s.rejected.load(Ordering::Relaxed);
                if calls == 0 && failed == 0 && rejected == 0 {
                    continue;
                }
                let usec = s.usec.load(Ordering::Relaxed);
                kv(
                    &format!("cmdstat_{}", reg.full_name(id)),
                    &format!(
                        "calls={calls},usec={usec},usec_per_call={:.2},rejected_calls={rejected},failed_calls={failed}",
                        if calls == 0 { 0.0 } else { usec as f64 / calls as f64 }
                    ),
                );
            }
        }
        "modules" => kv(
            "module",
            &format!(
                "name=ReJSON,ver={},api=1,filters=0,usedby=[],using=[],options=[handle-io-errors]",
                crate::family::json::REJSON_VERSION
            ),
        ),
        "cluster" => kv("cluster_enabled", &0),
        "keyspace" => {
            let t = totals.get_or_insert_with(|| keyspace_totals(cx));
            for (i, &(keys, expires, sum, n)) in t.dbs.iter().enumerate() {
                if keys > 0 {
                    let avg = sum.checked_div(n).unwrap_or(0);
                    kv(
                        &format!("db{i}"),
                        &format!("keys={keys},expires={expires},avg_ttl={avg},subexpiry=0"),
                    );
                }
            }
        }
        _ => {}
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn info(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut wanted: Vec<&str> = Vec::new();
    let mut add = |s: &'static str| {
        if !wanted.contains(&s) {
            wanted.push(s);
        }
    };
    if args.len() == 1 {
        DEFAULT.iter().for_each(|s| add(s));
    }
    for a in &args[1..] {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => DEFAULT.iter().for_each(|s| add(s)),
            "all" | "everything" => {
                DEFAULT.iter().for_each(|s| add(s));
                add("commandstats");
                add("latencystats");
            }
            other => {
                if let Some(s) = DEFAULT
                    .iter()
                    .chain(&["commandstats", "latencystats"])
                    .find(|s| **s == other)
                {
                    add(s);
                }
            }
        }
    }
    // Redis prints sections in its own order, whatever order they were asked in.
    let order = [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "commandstats",
        "errorstats",
        "latencystats",
        "cluster",
        "keyspace",
    ];
    let mut seen = Vec::new();
    let mut text = String::new();
    let mut totals = None;
    for s in order {
        if wanted.contains(&s) && !seen.contains(&s) {
            seen.push(s);
            section(cx, s, &mut text, &mut totals);
        }
    }
    cx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}
