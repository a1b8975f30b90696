//! AOF interoperability with Redis 7.0: a directory written by Cinnabar (RDB-preamble base
//! and command base, each followed by an incremental file) passes `redis-check-aof` and
//! loads into redis-server with identical data; a directory written by redis-server (after
//! BGREWRITEAOF and more writes, with and without the preamble) loads into Cinnabar with
//! identical data. Skipped, with a message, when redis-server is not installed.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{Config, Server};
use common::{bulk, Conn};
use keyspace::{Keyspace, KeyspaceConfig, ManualClock};
use protocol::Frame;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinnabar-aofx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn have_redis() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: redis-server is not installed");
    }
    ok
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// An in-process Cinnabar started as the binary starts one (AOF loaded, then listening),
/// its clock at the real time so expiry times mean the same to redis-server.
struct Node {
    rt: Option<tokio::runtime::Runtime>,
    server: Arc<Server>,
    addr: SocketAddr,
}

impl Node {
    fn start(dir: &Path, extra: &[(&str, &str)]) -> Node {
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
        let clock = Arc::new(ManualClock::new(now_ms()));
        let keyspace = Keyspace::new(
            KeyspaceConfig {
                databases: 16,
                shards: 4,
            },
            clock,
        );
        let server = Server::with_keyspace(config, keyspace);
        commands::aof::startup(&server).expect("AOF loads");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let running = rt.block_on(server::start(server.clone())).expect("start");
        let addr = running.addr();
        rt.spawn(running.wait());
        Node {
            rt: Some(rt),
            server,
            addr,
        }
    }

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

/// A redis-server with its own directory and port.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path, port: u16, extra: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.to_str().expect("utf-8 path")])
            .args(["--save", "", "--appendonly", "yes", "--daemonize", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let r = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                drop(s);
                let mut c = r.conn();
                if c.cmd(&["PING"]) == Frame::Simple("PONG".into()) {
                    return r;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn conn(&self) -> Conn {
        Conn::connect(SocketAddr::from(([127, 0, 0, 1], self.port)))
    }

    fn stop(mut self) {
        let mut c = self.conn();
        c.send(&[b"SHUTDOWN"]);
        let _ = c.read();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// BGREWRITEAOF, then polls until it has completed (the manifest names base `seq`).
fn rewrite(c: &mut Conn, dir: &Path, seq: u32) {
    let r = c.cmd(&["BGREWRITEAOF"]);
    assert!(matches!(r, Frame::Simple(_)), "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
            .unwrap_or_default();
        let done = m.contains(&format!("appendonly.aof.{seq}.base"))
            && info_field(c, "aof_rewrite_in_progress") == "0";
        if done {
            assert_eq!(info_field(c, "aof_last_bgrewrite_status"), "ok");
            return;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish: {m}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn strings(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(items) => items.into_iter().map(|i| format!("{i:?}")).collect(),
        other => vec![format!("{other:?}")],
    }
}

/// Every key of databases 0 and 2 with its type, canonical value and expiry time.
fn dataset(c: &mut Conn) -> BTreeMap<(usize, String), String> {
    let mut out = BTreeMap::new();
    for db in [0usize, 2] {
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
                other => panic!("unexpected type {other}"),
            };
            let ttl = strings(c.cmd(&["PEXPIRETIME", &k]));
            out.insert((db, k), format!("{ty} {value:?} ttl={ttl:?}"));
        }
    }
    ok(c.cmd(&["SELECT", "0"]));
    out
}

/// Writes of the types both servers store, under key names ending in `tag`.
fn write_data(c: &mut Conn, tag: &str) {
    let k = |s: &str| format!("{s}{tag}");
    let big: Vec<String> = (0..300).map(|i| format!("member-{i}")).collect();
    let mut cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), k("str"), "hello".into()],
        vec!["SET".into(), k("int"), "42".into()],
        vec!["INCRBYFLOAT".into(), k("float"), "2.5".into()],
        vec![
            "SET".into(),
            k("ttl"),
            "v".into(),
            "EX".into(),
            "100000".into(),
        ],
        vec![
            "RPUSH".into(),
            k("list"),
            "a".into(),
            "b".into(),
            "c".into(),
        ],
        vec!["LPOP".into(), k("list")],
        vec![
            "HSET".into(),
            k("hash"),
            "f".into(),
            "v".into(),
            "g".into(),
            "w".into(),
        ],
        vec!["SADD".into(), k("set"), "x".into(), "y".into(), "7".into()],
        vec![
            "SADD".into(),
            k("intset"),
            "1".into(),
            "2".into(),
            "3".into(),
        ],
        vec![
            "ZADD".into(),
            k("zset"),
            "1.5".into(),
            "a".into(),
            "2".into(),
            "b".into(),
        ],
        vec![
            "XADD".into(),
            k("stream"),
            "5-1".into(),
            "f".into(),
            "v".into(),
        ],
        vec![
            "XADD".into(),
            k("stream"),
            "6-1".into(),
            "f".into(),
            "w".into(),
        ],
        vec![
            "XGROUP".into(),
            "CREATE".into(),
            k("stream"),
            "g".into(),
            "0".into(),
        ],
        vec!["PFADD".into(), k("hll"), "a".into(), "b".into()],
        vec!["SETBIT".into(), k("bits"), "33".into(), "1".into()],
        vec!["HSET".into(), k("bighash")]
            .into_iter()
            .chain(big.iter().flat_map(|m| [m.clone(), "v".into()]))
            .collect(),
        vec!["SADD".into(), k("bigset")]
            .into_iter()
            .chain(big.iter().cloned())
            .collect(),
        vec!["ZADD".into(), k("bigzset")]
            .into_iter()
            .chain(
                big.iter()
                    .enumerate()
                    .flat_map(|(i, m)| [i.to_string(), m.clone()]),
            )
            .collect(),
        vec!["SELECT".into(), "2".into()],
        vec!["SET".into(), k("db2"), "two".into()],
        vec!["PEXPIRE".into(), k("db2"), "900000".into()],
        vec!["SELECT".into(), "0".into()],
    ];
    // Something logged as a transaction.
    cmds.push(vec!["MULTI".into()]);
    cmds.push(vec!["INCR".into(), k("int")]);
    cmds.push(vec!["RPUSH".into(), k("list"), "d".into()]);
    cmds.push(vec!["EXEC".into()]);
    for cmd in &cmds {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let reply = c.cmd(&args);
        assert!(!matches!(reply, Frame::Error(_)), "{cmd:?}: {reply:?}");
    }
}

fn check_aof(dir: &Path) {
    let out = Command::new("redis-check-aof")
        .arg(dir.join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .expect("redis-check-aof runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("All AOF files and manifest are valid"),
        "{text}"
    );
}

#[test]
fn cinnabar_aof_loads_into_redis() {
    if !have_redis() {
        return;
    }
    for (preamble, port, ext) in [("yes", 7703, "rdb"), ("no", 7704, "aof")] {
        let dir = tempdir(&format!("to-redis-{preamble}"));
        let node = Node::start(&dir, &[("aof-use-rdb-preamble", preamble)]);
        let mut c = Conn::connect(node.addr);
        write_data(&mut c, ":1");
        let code = "#!lua name=lib\nredis.register_function('f', function() return 3 end)";
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", code]),
            Frame::Bulk("lib".into())
        );
        rewrite(&mut c, &dir, 2);
        write_data(&mut c, ":2");
        let want = dataset(&mut c);
        node.stop();
        let m = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
            .expect("manifest");
        assert_eq!(
            m,
            format!(
                "file appendonly.aof.2.base.{ext} seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
            )
        );
        check_aof(&dir);
        let redis = Redis::start(&dir, port, &[]);
        let mut r = redis.conn();
        assert_eq!(dataset(&mut r), want, "preamble {preamble}");
        assert_eq!(r.cmd(&["FCALL", "f", "0"]), Frame::Integer(3));
        redis.stop();
    }
}

#[test]
fn redis_aof_loads_into_cinnabar() {
    if !have_redis() {
        return;
    }
    for (preamble, port) in [("yes", 7705), ("no", 7706)] {
        let dir = tempdir(&format!("from-redis-{preamble}"));
        let redis = Redis::start(&dir, port, &["--aof-use-rdb-preamble", preamble]);
        let mut r = redis.conn();
        write_data(&mut r, ":1");
        rewrite(&mut r, &dir, 2);
        write_data(&mut r, ":2");
        let want = dataset(&mut r);
        redis.stop();
        check_aof(&dir);
        let node = Node::start(&dir, &[]);
        let mut c = Conn::connect(node.addr);
        assert_eq!(dataset(&mut c), want, "preamble {preamble}");
        // And it goes on appending to Redis's incremental file.
        ok(c.cmd(&["SET", "more", "1"]));
        node.stop();
        check_aof(&dir);
        let node = Node::start(&dir, &[]);
        let mut c = Conn::connect(node.addr);
        assert_eq!(c.cmd(&["GET", "more"]), Frame::Bulk("1".into()));
        node.stop();
    }
}
