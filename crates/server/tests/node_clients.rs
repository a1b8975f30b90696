//! Node.js client traffic against the in-process server: the scripts in `tests/node/` at the
//! repository root, run with the `node` on PATH. They assert every reply themselves and exit
//! non-zero on the first mismatch; this test starts the server, installs the scripts' npm
//! packages when `tests/node/node_modules` lacks one (`npm ci` from the committed lock file),
//! runs a script, checks its exit status and, for the BullMQ scripts, the counts on its
//! `SUMMARY` line.
//!
//! Needs `node` (14 or newer) and `npm` on PATH; without them the test fails and says so
//! (.ci/run installs them). `npm ci` needs the npm registry once; later runs reuse
//! `node_modules`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use commands::{Config, Server};
use common::{Conn, TestServer};
use keyspace::{Keyspace, KeyspaceConfig, SystemClock};

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node")
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `node --version`, or a failure that says what to install.
fn require_node() -> String {
    let hint = "the Node.js client tests need `node` (14 or newer) and `npm` on PATH: \
                install them (Debian: apt-get install -y nodejs npm) and run again";
    let out = match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!("{hint}\n{}", describe("node --version", &out)),
        Err(e) => panic!("{hint}\n`node --version` could not run: {e}"),
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 14 => version,
        _ => panic!("{hint}\nfound node {version:?}"),
    }
}

/// Installs tests/node's packages unless they are there already.
fn ensure_packages(dir: &Path) {
    let installed = ["redis", "redis-rejson", "bullmq"].iter().all(|p| {
        dir.join("node_modules")
            .join(p)
            .join("package.json")
            .is_file()
    });
    if installed {
        return;
    }
    let verb = if dir.join("package-lock.json").is_file() {
        "ci"
    } else {
        "install"
    };
    let out = Command::new("npm")
        .args([verb, "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .env("npm_config_update_notifier", "false")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "`npm {verb}` could not run in {}: {e} (install npm: apt-get install -y npm)",
                dir.display()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("npm {verb} in {}", dir.display()), &out)
    );
}

/// Runs `node SCRIPT HOST PORT` in tests/node; fails unless it exits 0. Returns its stdout.
fn run_script_at(script: &str, addr: SocketAddr) -> String {
    let version = require_node();
    let dir = node_dir();
    ensure_packages(&dir);
    let out = Command::new("node")
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("node {script} could not run: {e}"));
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("node {version} {script}"), &out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `node SCRIPT 127.0.0.1 PORT` in tests/node against a fresh server.
fn run_script(script: &str) {
    let srv = TestServer::start(&[]);
    run_script_at(script, srv.addr);
    // The scripts leave the database empty.
    let mut conn = srv.connect();
    assert_eq!(conn.cmd(&["DBSIZE"]), protocol::Frame::Integer(0));
}

/// An in-process server on the wall clock. A job queue needs real time on the server side:
/// BullMQ's job locks, stalled-check guard, rate limiter and deduplication windows are keys
/// set with PX that must expire while the clients run, which a manual clock never does.
struct WallClockServer {
    _rt: tokio::runtime::Runtime,
    server: Arc<Server>,
    addr: SocketAddr,
}

impl WallClockServer {
    fn start() -> WallClockServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = Config::new(None);
        for (k, v) in [("port", "0"), ("bind", "127.0.0.1"), ("save", "")] {
            config.set_initial(k, v).expect("setting");
        }
        let databases = config.get_i64("databases") as usize;
        let keyspace = Keyspace::new(
            KeyspaceConfig {
                databases,
                shards: 4,
            },
            Arc::new(SystemClock),
        );
        let server = Server::with_keyspace(config, keyspace);
        let running = rt.block_on(server::start(server.clone())).expect("start");
        let addr = running.addr();
        rt.spawn(running.wait());
        WallClockServer {
            _rt: rt,
            server,
            addr,
        }
    }
}

impl Drop for WallClockServer {
    fn drop(&mut self) {
        self.server.request_shutdown();
    }
}

/// Runs a BullMQ script against a fresh wall-clock server and returns the `key=value` pairs
/// of its `SUMMARY` line, after checking it left the database empty.
fn run_bullmq_script(script: &str) -> HashMap<String, String> {
    let srv = WallClockServer::start();
    let stdout = run_script_at(script, srv.addr);
    let mut conn = Conn::connect(srv.addr);
    assert_eq!(conn.cmd(&["DBSIZE"]), protocol::Frame::Integer(0));
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .unwrap_or_else(|| panic!("{script} printed no SUMMARY line:\n{stdout}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn count(summary: &HashMap<String, String>, key: &str) -> u64 {
    summary
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("SUMMARY has no count {key}: {summary:?}"))
}

/// The shopping-cart demo's traffic with npm redis@3 + redis-rejson@1: ready check (INFO),
/// `AUTH ""` without a password, the ReJSON probe, SCAN, JSON.SET/JSON.GET of the ten
/// products, cart hashes, and the reset.
#[test]
fn shopping_cart_with_redis3_and_rejson() {
    run_script("shopping_cart.js");
}

/// BullMQ 5: 1,000 jobs through two Workers (own connections, concurrency 8 each); 140 jobs
/// fail once or twice and are retried after fixed or exponential backoff, 143 are delayed.
/// Every job completes exactly once by the workers' logs, their events, QueueEvents (XREAD
/// BLOCK on the events stream) and the queue's completed set; no retry or delayed job runs
/// early. Exercises EVALSHA of BullMQ's Lua scripts (cmsgpack, cjson, undeclared keys),
/// BZPOPMIN on the marker key, streams, INFO and CLIENT SETNAME.
#[test]
fn bullmq_jobs_complete_exactly_once_with_retries_and_delays() {
    let s = run_bullmq_script("bullmq_queue.js");
    let expect = [
        ("jobs", 1000),
        ("completed", 1000),
        ("duplicates", 0),
        ("missing", 0),
        // Jobs i % 10 == 0 fail once, i % 25 == 1 twice: 100 + 40 jobs, 100 + 80 attempts.
        ("failed_attempts", 180),
        ("retried_jobs", 140),
        // Jobs i % 7 == 3.
        ("delayed_jobs", 143),
        ("early_delayed", 0),
        ("early_retries", 0),
        ("events_completed", 1000),
        // One 'delayed' event per delayed job and per retry waiting out its backoff.
        ("events_delayed", 143 + 180),
    ];
    for (key, want) in expect {
        assert_eq!(count(&s, key), want, "{key} in {s:?}");
    }
    let (w1, w2) = (count(&s, "w1"), count(&s, "w2"));
    assert_eq!(w1 + w2, 1000, "{s:?}");
    assert!(w1 > 0 && w2 > 0, "both workers complete jobs: {s:?}");
}

/// BullMQ features beyond plain processing, one queue each (see tests/node/README.md):
/// priorities, progress and logs, job states, failure and retry, promotion, removal,
/// removeOnComplete, deduplication, flows with SSCAN/HSCAN pagination, orphan removal,
/// job schedulers, stalled-job recovery after a lock expires, getWorkers (CLIENT LIST),
/// global concurrency and rate limit, metrics, clean/drain/trim.
#[test]
fn bullmq_features() {
    let s = run_bullmq_script("bullmq_features.js");
    assert_eq!(count(&s, "scenarios"), 17, "{s:?}");
    assert_eq!(count(&s, "passed"), 17, "{s:?}");
}
