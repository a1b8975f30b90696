//! The append-only file end to end: in-process servers started on a temporary directory
//! with `appendonly yes` (loading the AOF as the binary does), restarted on the same
//! directory. Every data type survives a restart key by key (TTLs included), after a plain
//! log, after BGREWRITEAOF with and without the RDB preamble; MULTI/EXEC and scripts are
//! logged as transactions; writes made while a rewrite runs are kept; a torn tail is cut
//! off with `aof-load-truncated yes` and refused with `no`; corruption in the middle is
//! refused with the file name and offset; `appendfsync always` answers only fsynced writes;
//! CONFIG SET appendonly yes writes a base; WAITAOF and INFO persistence.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{Config, Server};
use common::{bulk, Conn};
use keyspace::{Keyspace, KeyspaceConfig, ManualClock};
use protocol::Frame;

/// The manual clock's time: TTLs are absolute in the log, so a restart at the same time
/// must show the same expiry times.
const NOW_MS: u64 = 1_700_000_000_000;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinnabar-aof-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A server started with the binary's loader (`load_dataset`), run to completion before
/// listening so that a refused start is an error here.
struct Node {
    rt: Option<tokio::runtime::Runtime>,
    server: Arc<Server>,
    addr: SocketAddr,
}

impl Node {
    fn start(dir: &Path, extra: &[(&str, &str)]) -> Result<Node, String> {
        let config = Config::new(None);
        let d = dir.to_str().expect("utf-8 path");
        let base = [
            ("port", "0"),
            ("bind", "127.0.0.1"),
            ("save", ""),
            ("dir", d),
            ("appendonly", "yes"),
        ];
        for (k, v) in base.iter().chain(extra) {
            config.set_initial(k, v).expect("setting");
        }
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let keyspace = Keyspace::new(
            KeyspaceConfig {
                databases: 16,
                shards: 4,
            },
            clock,
        );
        let server = Server::with_keyspace(config, keyspace);
        commands::family::persistence::load_dataset(&server)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let running = rt.block_on(server::start(server.clone())).expect("start");
        let addr = running.addr();
        rt.spawn(running.wait());
        Ok(Node {
            rt: Some(rt),
            server,
            addr,
        })
    }

    fn conn(&self) -> Conn {
        Conn::connect(self.addr)
    }

    /// Stops the server as SHUTDOWN does: the AOF written and fsynced.
    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.server.request_shutdown();
        commands::aof::close(&self.server);
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn ok(f: Frame) {
    assert_eq!(f, Frame::Simple("OK".into()), "expected OK");
}

fn info_field(c: &mut Conn, field: &str) -> String {
    let text = bulk(&c.cmd(&["INFO", "persistence"]));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO: {text}"))
        .to_string()
}

/// Polls INFO until no rewrite runs and at least `n` have been made.
fn wait_rewrites(c: &mut Conn, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // The count first: it rises once a requested rewrite starts, and the request has
        // already marked the rewrite in progress, so "not running" read afterwards means
        // that rewrite has finished.
        let done: u64 = info_field(c, "aof_rewrites").parse().expect("count");
        let running = info_field(c, "aof_rewrite_in_progress") == "1"
            || info_field(c, "aof_rewrite_scheduled") == "1";
        if !running && done >= n {
            assert_eq!(info_field(c, "aof_last_bgrewrite_status"), "ok");
            return;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn strings(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(items) => items.into_iter().map(|i| format!("{i:?}")).collect(),
        other => vec![format!("{other:?}")],
    }
}

/// Every key of the given databases with its type, a canonical form of its value and its
/// absolute expiry time.
fn dataset(c: &mut Conn, dbs: &[usize]) -> BTreeMap<(usize, String), String> {
    let mut out = BTreeMap::new();
    for &db in dbs {
        ok(c.cmd(&["SELECT", &db.to_string()]));
        let keys = match c.cmd(&["KEYS", "*"]) {
            Frame::Array(k) => k.iter().map(bulk).collect::<Vec<_>>(),
            other => panic!("KEYS: {other:?}"),
        };
        for k in keys {
            let ty = bulk(&c.cmd(&["TYPE", &k]));
            let value = match ty.as_str() {
                "string" => strings(c.cmd(&["GET", &k])),
                "list" => strings(c.cmd(&["LRANGE", &k, "0", "-1"])),
                "set" => {
                    let mut v = strings(c.cmd(&["SMEMBERS", &k]));
                    v.sort();
                    v
                }
                "hash" => {
                    let flat = strings(c.cmd(&["HGETALL", &k]));
                    let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    pairs
                }
                "zset" => strings(c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                "stream" => {
                    let mut v = strings(c.cmd(&["XRANGE", &k, "-", "+"]));
                    v.extend(strings(c.cmd(&["XINFO", "GROUPS", &k])));
                    v
                }
                _ => strings(c.cmd(&["JSON.GET", &k])),
            };
            let ttl = strings(c.cmd(&["PEXPIRETIME", &k]));
            out.insert((db, k), format!("{ty} {value:?} ttl={ttl:?}"));
        }
    }
    ok(c.cmd(&["SELECT", "0"]));
    out
}

/// Writes of every type (and TTLs, several databases, deterministic rewrites of
/// non-deterministic commands).
fn write_everything(c: &mut Conn) {
    let cmds: &[&[&str]] = &[
        &["SET", "str", "hello"],
        &["SET", "int", "12345"],
        &["INCRBY", "int", "5"],
        &["INCRBYFLOAT", "float", "1.5"],
        &["APPEND", "str", " world"],
        &["SET", "ttl:ex", "v", "EX", "1000"],
        &["SETEX", "ttl:setex", "50", "v"],
        &["SET", "ttl:expire", "v"],
        &["EXPIRE", "ttl:expire", "300"],
        &["SET", "ttl:persist", "v", "PX", "5000"],
        &["PERSIST", "ttl:persist"],
        &["RPUSH", "list", "a", "b", "c", "d"],
        &["LPUSH", "list", "z"],
        &["LPOP", "list"],
        &["LSET", "list", "0", "A"],
        &["HSET", "hash", "f1", "v1", "f2", "v2", "f3", "v3"],
        &["HDEL", "hash", "f2"],
        &["HINCRBY", "hash", "n", "7"],
        &["SADD", "set", "x", "y", "z", "1", "2"],
        &["SREM", "set", "y"],
        &["SADD", "intset", "1", "2", "3"],
        &["ZADD", "zset", "1", "one", "2", "two", "3.5", "three"],
        &["ZINCRBY", "zset", "10", "one"],
        &["ZREM", "zset", "two"],
        &["XADD", "stream", "1-1", "f", "v"],
        &["XADD", "stream", "2-1", "f", "w", "g", "x"],
        &["XGROUP", "CREATE", "stream", "grp", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "grp",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "stream",
            ">",
        ],
        &["PFADD", "hll", "a", "b", "c"],
        &["SETBIT", "bits", "100", "1"],
        &["GEOADD", "geo", "13.361389", "38.115556", "Palermo"],
        &["JSON.SET", "doc", "$", r#"{"a":[1,2,{"b":"c"}],"n":null}"#],
        &["JSON.NUMINCRBY", "doc", "$.a[0]", "41"],
        &["SET", "gone", "x"],
        &["DEL", "gone"],
        &["RENAME", "str", "renamed"],
        &["SELECT", "3"],
        &["SET", "db3", "three"],
        &["HSET", "db3hash", "a", "b"],
        &["EXPIRE", "db3hash", "77"],
        &["SELECT", "0"],
    ];
    for cmd in cmds {
        let reply = c.cmd(cmd);
        assert!(!matches!(reply, Frame::Error(_)), "{cmd:?}: {reply:?}");
    }
    // SPOP is random: it must be logged as what it removed.
    let _ = c.cmd(&["SPOP", "set"]);
}

fn incr_files(dir: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .expect("manifest");
    manifest
        .lines()
        .filter(|l| l.ends_with("type i"))
        .map(|l| l.split(' ').nth(1).expect("name").to_string())
        .collect()
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest")
}

#[test]
fn every_type_survives_restart_and_rewrites() {
    let dir = tempdir("types");
    let node = Node::start(&dir, &[]).expect("start");
    let mut c = node.conn();
    write_everything(&mut c);
    let before = dataset(&mut c, &[0, 3]);
    assert_eq!(before.len(), 19, "{before:?}");
    node.stop();
    assert_eq!(
        manifest(&dir),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );

    // From the incremental file.
    let node = Node::start(&dir, &[]).expect("restart");
    let mut c = node.conn();
    assert_eq!(dataset(&mut c, &[0, 3]), before);

    // From a rewritten base with the RDB preamble.
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        Frame::Simple("Background append only file rewriting started".into())
    );
    wait_rewrites(&mut c, 1);
    assert_eq!(
        manifest(&dir),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    assert!(!dir.join("appendonlydir/appendonly.aof.1.incr.aof").exists());
    assert!(!dir.join("appendonlydir/appendonly.aof.1.base.rdb").exists());
    node.stop();
    let node = Node::start(&dir, &[]).expect("restart");
    let mut c = node.conn();
    assert_eq!(dataset(&mut c, &[0, 3]), before);

    // From a base of commands (no RDB preamble).
    ok(c.cmd(&["CONFIG", "SET", "aof-use-rdb-preamble", "no"]));
    let _ = c.cmd(&["BGREWRITEAOF"]);
    wait_rewrites(&mut c, 1);
    assert!(manifest(&dir).starts_with("file appendonly.aof.3.base.aof seq 3 type b\n"));
    node.stop();
    let node = Node::start(&dir, &[("aof-use-rdb-preamble", "no")]).expect("restart");
    let mut c = node.conn();
    assert_eq!(dataset(&mut c, &[0, 3]), before);
    node.stop();
}

#[test]
fn transactions_and_scripts_are_logged_and_replayed_atomically() {
    let dir = tempdir("multi");
    let node = Node::start(&dir, &[]).expect("start");
    let mut c = node.conn();
    ok(c.cmd(&["MULTI"]));
    let _ = c.cmd(&["SET", "a", "1"]);
    let _ = c.cmd(&["INCR", "a"]);
    let _ = c.cmd(&["RPUSH", "l", "x"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            Frame::Simple("OK".into()),
            Frame::Integer(2),
            Frame::Integer(1)
        ])
    );
    let _ = c.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'x'); redis.call('incr', KEYS[2]); return 1",
        "2",
        "s1",
        "s2",
    ]);
    let before = dataset(&mut c, &[0]);
    node.stop();
    let incr = incr_files(&dir);
    let path = dir.join("appendonlydir").join(&incr[0]);
    let text = String::from_utf8(std::fs::read(&path).expect("incr")).expect("utf-8");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(['*', '$']))
        .collect();
    assert_eq!(
        lines,
        [
            "SELECT", "0", "MULTI", "SET", "a", "1", "INCR", "a", "RPUSH", "l", "x", "EXEC",
            "MULTI", "set", "s1", "x", "incr", "s2", "EXEC"
        ]
    );

    let node = Node::start(&dir, &[]).expect("restart");
    let mut c = node.conn();
    assert_eq!(dataset(&mut c, &[0]), before);
    node.stop();

    // A transaction cut short at the end of the file is reverted as a whole.
    let len = std::fs::metadata(&path).expect("incr").len();
    let mut torn = std::fs::read(&path).expect("incr");
    torn.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$1\r\n1\r\n");
    std::fs::write(&path, &torn).expect("write");
    let node = Node::start(&dir, &[]).expect("restart with a torn transaction");
    let mut c = node.conn();
    assert_eq!(c.cmd(&["EXISTS", "half"]), Frame::Integer(0));
    assert_eq!(dataset(&mut c, &[0]), before);
    node.stop();
    assert_eq!(std::fs::metadata(&path).expect("incr").len(), len);
}

#[test]
fn rewrite_compacts_and_keeps_writes_made_meanwhile() {
    let dir = tempdir("rewrite");
    let node = Node::start(&dir, &[]).expect("start");
    let mut c = node.conn();
    for _ in 0..2000 {
        let _ = c.cmd(&["INCR", "counter"]);
    }
    let before_size: u64 = info_field(&mut c, "aof_current_size")
        .parse()
        .expect("size");
    let _ = c.cmd(&["BGREWRITEAOF"]);
    wait_rewrites(&mut c, 1);
    let after_size: u64 = info_field(&mut c, "aof_current_size")
        .parse()
        .expect("size");
    assert!(
        after_size * 10 < before_size,
        "{after_size} vs {before_size}"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let addr = node.addr;
        std::thread::spawn(move || {
            let mut w = Conn::connect(addr);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 200 {
                assert_eq!(
                    w.cmd(&["RPUSH", "seq", &n.to_string()]),
                    Frame::Integer(n as i64 + 1)
                );
                n += 1;
            }
            n
        })
    };
    for i in 2..=3 {
        let r = c.cmd(&["BGREWRITEAOF"]);
        assert!(
            matches!(&r, Frame::Simple(s) if s.starts_with(b"Background append only file rewriting")),
            "{r:?}"
        );
        wait_rewrites(&mut c, i);
    }
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().expect("writer");
    assert_eq!(info_field(&mut c, "aof_rewrites"), "3");
    assert_eq!(incr_files(&dir), ["appendonly.aof.4.incr.aof"]);
    let files = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("dir")
        .count();
    assert_eq!(files, 3, "base, incr and manifest only");
    node.stop();

    let node = Node::start(&dir, &[]).expect("restart");
    let mut c = node.conn();
    assert_eq!(c.cmd(&["GET", "counter"]), Frame::Bulk("2000".into()));
    let seq = strings(c.cmd(&["LRANGE", "seq", "0", "-1"]));
    let want: Vec<String> = (0..acked)
        .map(|n| format!("{:?}", Frame::Bulk(n.to_string().into())))
        .collect();
    assert_eq!(seq, want);
    node.stop();
}

/// Writes three keys, stops, and returns the last incremental file's path and length.
fn three_keys(dir: &Path) -> (PathBuf, u64) {
    let node = Node::start(dir, &[]).expect("start");
    let mut c = node.conn();
    ok(c.cmd(&["SET", "a", "1"]));
    ok(c.cmd(&["SET", "b", "2"]));
    ok(c.cmd(&["SET", "c", "3"]));
    node.stop();
    let path = dir.join("appendonlydir").join(&incr_files(dir)[0]);
    let len = std::fs::metadata(&path).expect("incr").len();
    (path, len)
}

#[test]
fn torn_tail_is_truncated_when_allowed() {
    let dir = tempdir("torn-yes");
    let (path, len) = three_keys(&dir);
    let mut bytes = std::fs::read(&path).expect("incr");
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$10\r\nonly");
    std::fs::write(&path, &bytes).expect("write");
    let node = Node::start(&dir, &[("aof-load-truncated", "yes")]).expect("loads");
    let mut c = node.conn();
    assert_eq!(c.cmd(&["MGET", "a", "b", "c", "d"]).clone(), {
        let b = |s: &str| Frame::Bulk(s.to_string().into());
        Frame::Array(vec![b("1"), b("2"), b("3"), Frame::NullBulk])
    });
    // Appending resumes at the cut.
    ok(c.cmd(&["SET", "e", "5"]));
    node.stop();
    let bytes = std::fs::read(&path).expect("incr");
    assert!(bytes.len() as u64 > len);
    let node = Node::start(&dir, &[("aof-load-truncated", "no")]).expect("whole again");
    let mut c = node.conn();
    assert_eq!(c.cmd(&["GET", "e"]), Frame::Bulk("5".into()));
    node.stop();
}

#[test]
fn torn_tail_is_refused_when_not_allowed() {
    let dir = tempdir("torn-no");
    let (path, len) = three_keys(&dir);
    let mut bytes = std::fs::read(&path).expect("incr");
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nd");
    std::fs::write(&path, &bytes).expect("write");
    let err = Node::start(&dir, &[("aof-load-truncated", "no")])
        .err()
        .expect("refused");
    assert!(
        err.contains(
            "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"
        ),
        "{err}"
    );
    assert!(err.contains(&format!("offset {len}")), "{err}");
    // The file is left alone.
    assert_eq!(
        std::fs::metadata(&path).expect("incr").len() as usize,
        bytes.len()
    );
}

#[test]
fn corruption_in_the_middle_is_refused_with_file_and_offset() {
    let dir = tempdir("corrupt");
    let (path, _) = three_keys(&dir);
    let mut bytes = std::fs::read(&path).expect("incr");
    let needle = b"*3\r\n$3\r\nSET\r\n$1\r\nb";
    let at = bytes
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .expect("SET b in the file");
    bytes[at] = b'X';
    std::fs::write(&path, &bytes).expect("write");
    for truncated in ["yes", "no"] {
        let err = Node::start(&dir, &[("aof-load-truncated", truncated)])
            .err()
            .expect("refused");
        assert!(
            err.contains(&format!(
                "Bad file format reading the append only file appendonly.aof.1.incr.aof at offset {at}"
            )),
            "{err}"
        );
    }
    // A bulk length that does not match its bytes is corruption too.
    let dir = tempdir("corrupt-len");
    let (path, _) = three_keys(&dir);
    let mut bytes = std::fs::read(&path).expect("incr");
    let needle = b"$1\r\nb\r\n";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("b in the file");
    bytes[at + 5] = b'!';
    std::fs::write(&path, &bytes).expect("write");
    let err = Node::start(&dir, &[]).err().expect("refused");
    assert!(err.contains(&format!("at offset {}", at + 5)), "{err}");
}

#[test]
fn fsync_always_answers_only_synced_writes() {
    let dir = tempdir("always");
    let node = Node::start(&dir, &[("appendfsync", "always")]).expect("start");
    let mut c = node.conn();
    for i in 0..300 {
        ok(c.cmd(&["SET", &format!("k{i}"), "v"]));
        let aof = &node.server.aof;
        assert!(
            aof.synced() >= aof.fed(),
            "reply before fsync: synced {} < fed {}",
            aof.synced(),
            aof.fed()
        );
    }
    // A pipeline is answered after one fsync covering all of it.
    let mut pipeline = Vec::new();
    for i in 0..100 {
        pipeline.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$2\r\np{}\r\n$1\r\nv\r\n", i % 10).as_bytes(),
        );
    }
    c.send_raw(&pipeline);
    for _ in 0..100 {
        ok(c.read().expect("reply"));
    }
    assert!(node.server.aof.synced() >= node.server.aof.fed());
    node.stop();
}

#[test]
fn appendonly_switched_on_at_run_time_writes_a_base() {
    let dir = tempdir("runtime");
    let node = Node::start(&dir, &[("appendonly", "no")]).expect("start");
    let mut c = node.conn();
    ok(c.cmd(&["SET", "before", "1"]));
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    assert_eq!(
        c.cmd(&["WAITAOF", "1", "0", "0"]),
        Frame::Error(
            "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.".into()
        )
    );
    ok(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]));
    wait_rewrites(&mut c, 1);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    ok(c.cmd(&["SET", "after", "2"]));
    assert_eq!(
        manifest(&dir),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert_eq!(
        c.cmd(&["WAITAOF", "1", "0", "0"]),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(0)])
    );
    node.stop();
    let node = Node::start(&dir, &[]).expect("restart");
    let mut c = node.conn();
    assert_eq!(
        c.cmd(&["MGET", "before", "after"]),
        Frame::Array(vec![Frame::Bulk("1".into()), Frame::Bulk("2".into())])
    );
    // Switched off: nothing more is logged.
    ok(c.cmd(&["CONFIG", "SET", "appendonly", "no"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_enabled") != "0" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    ok(c.cmd(&["SET", "unlogged", "3"]));
    node.stop();
    let node = Node::start(&dir, &[]).expect("restart");
    let mut c = node.conn();
    assert_eq!(c.cmd(&["EXISTS", "unlogged", "after"]), Frame::Integer(1));
    node.stop();
}

#[test]
fn functions_survive_restarts_and_rewrites() {
    let dir = tempdir("functions");
    let node = Node::start(&dir, &[]).expect("start");
    let mut c = node.conn();
    let code = "#!lua name=lib\nredis.register_function('f', function() return 7 end)";
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", code]),
        Frame::Bulk("lib".into())
    );
    node.stop();
    let node = Node::start(&dir, &[]).expect("restart");
    let mut c = node.conn();
    assert_eq!(c.cmd(&["FCALL", "f", "0"]), Frame::Integer(7));
    let _ = c.cmd(&["BGREWRITEAOF"]);
    wait_rewrites(&mut c, 1);
    node.stop();
    let node = Node::start(&dir, &[]).expect("restart after rewrite");
    let mut c = node.conn();
    assert_eq!(c.cmd(&["FCALL", "f", "0"]), Frame::Integer(7));
    ok(c.cmd(&["FUNCTION", "DELETE", "lib"]));
    node.stop();
    let node = Node::start(&dir, &[]).expect("restart after delete");
    let mut c = node.conn();
    assert_eq!(
        c.cmd(&["FCALL", "f", "0"]),
        Frame::Error("ERR Function not found".into())
    );
    node.stop();
}

#[test]
fn waitaof_and_info_persistence() {
    let dir = tempdir("waitaof");
    let node = Node::start(&dir, &[]).expect("start");
    let mut c = node.conn();
    let err = |s: &str| Frame::Error(s.to_string().into());
    assert_eq!(
        c.cmd(&["WAITAOF", "2", "0", "0"]),
        err("ERR value is out of range, value must between 0 and 1")
    );
    assert_eq!(
        c.cmd(&["WAITAOF", "1", "-1", "0"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        c.cmd(&["WAITAOF", "1", "0", "-1"]),
        err("ERR timeout is negative")
    );
    assert_eq!(
        c.cmd(&["WAITAOF", "1", "0", "x"]),
        err("ERR timeout is not an integer or out of range")
    );
    ok(c.cmd(&["SET", "k", "v"]));
    assert_eq!(
        c.cmd(&["WAITAOF", "1", "0", "0"]),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(0)])
    );
    assert!(node.server.aof.synced() >= node.server.aof.fed());
    for (field, want) in [
        ("aof_enabled", "1"),
        ("aof_rewrite_in_progress", "0"),
        ("aof_rewrite_scheduled", "0"),
        ("aof_last_rewrite_time_sec", "-1"),
        ("aof_current_rewrite_time_sec", "-1"),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", "0"),
        ("aof_last_write_status", "ok"),
        ("aof_pending_rewrite", "0"),
        ("aof_buffer_length", "0"),
    ] {
        assert_eq!(info_field(&mut c, field), want, "{field}");
    }
    let base: u64 = info_field(&mut c, "aof_base_size").parse().expect("size");
    let current: u64 = info_field(&mut c, "aof_current_size")
        .parse()
        .expect("size");
    let on_disk: u64 = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().ends_with("manifest"))
        .map(|e| e.metadata().expect("meta").len())
        .sum();
    assert_eq!(current, on_disk);
    assert!(base > 0 && base < current);
    // BGREWRITEAOF inside MULTI is scheduled, then run by the cron.
    ok(c.cmd(&["MULTI"]));
    let _ = c.cmd(&["BGREWRITEAOF"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple(
            "Background append only file rewriting scheduled".into()
        )])
    );
    wait_rewrites(&mut c, 1);
    node.stop();
}
