//! RDB interoperability with a real redis-server (Debian's 7.0, as in CI): a Cinnabar
//! snapshot passes `redis-check-rdb` and loads into redis-server with the same contents,
//! key by key; DUMP payloads move both ways; a Redis-written file loads at start-up; a
//! corrupt file is refused with an error naming the file and the offset.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Conn, TestServer};
use protocol::Frame;

const FAR: u64 = 4_102_444_800_000;

struct Redis {
    child: Child,
    addr: SocketAddr,
}

impl Redis {
    fn start(dir: &Path, dbfilename: &str) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir)
            .args(["--dbfilename", dbfilename])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                let mut c = Conn::connect(addr);
                // Wait until the dataset is loaded.
                if !matches!(c.cmd(&["PING"]), Frame::Error(_)) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::yield_now();
        }
        Redis { child, addr }
    }

    fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinnabar-rdb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Every type and encoding, some keys with TTLs, several databases.
fn populate(c: &mut Conn) {
    let mut run = |args: &[&str]| {
        let r = c.cmd(args);
        assert!(!matches!(r, Frame::Error(_)), "{args:?}: {r:?}");
    };
    run(&["SET", "s:int", "12345"]);
    run(&["SET", "s:bigint", "12345678901234"]);
    run(&["SET", "s:short", "hello"]);
    run(&["SET", "s:long", &"abc".repeat(300)]);
    run(&["SET", "s:ttl", "v", "PXAT", &FAR.to_string()]);
    run(&[
        "RPUSH",
        "l:small",
        "a",
        "1",
        "-300",
        "70000",
        "5000000000",
        "",
    ]);
    let items: Vec<String> = (0..3000).map(|i| format!("item-{i}")).collect();
    let mut args = vec!["RPUSH", "l:big"];
    args.extend(items.iter().map(String::as_str));
    run(&args);
    run(&["SADD", "set:ints", "1", "2", "-70000", "4294967296"]);
    run(&["SADD", "set:small", "a", "b", "c"]);
    let members: Vec<String> = (0..600).map(|i| format!("m{i}")).collect();
    let mut args = vec!["SADD", "set:big"];
    args.extend(members.iter().map(String::as_str));
    run(&args);
    run(&[
        // Scores exact in binary: Redis 7.0 prints 0.1 as 0.10000000000000001, 7.2+ (and we) as 0.1.
        "ZADD", "z:small", "1.5", "a", "-inf", "b", "inf", "c", "3", "d", "0.25", "e",
    ]);
    let mut zargs: Vec<String> = vec!["ZADD".into(), "z:big".into()];
    for i in 0..300 {
        zargs.push(format!("{}.5", i));
        zargs.push(format!("member-{i}"));
    }
    run(&zargs.iter().map(String::as_str).collect::<Vec<_>>());
    run(&["PEXPIREAT", "z:big", &(FAR + 1).to_string()]);
    run(&["HSET", "h:small", "f", "v", "n", "42"]);
    let mut hargs: Vec<String> = vec!["HSET".into(), "h:big".into()];
    for i in 0..300 {
        hargs.push(format!("field-{i}"));
        hargs.push(format!("value-{i}"));
    }
    run(&hargs.iter().map(String::as_str).collect::<Vec<_>>());
    for i in 1..=150 {
        let id = format!("{}-1", 1000 + i);
        if i % 40 == 0 {
            run(&["XADD", "x:s", &id, "other", "o"]);
        } else {
            run(&[
                "XADD",
                "x:s",
                &id,
                "name",
                &format!("n{i}"),
                "n",
                &i.to_string(),
            ]);
        }
    }
    run(&["XDEL", "x:s", "1003-1"]);
    run(&["XGROUP", "CREATE", "x:s", "g1", "0"]);
    run(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "c1",
        "COUNT",
        "4",
        "STREAMS",
        "x:s",
        ">",
    ]);
    run(&["XACK", "x:s", "g1", "1001-1"]);
    run(&["XGROUP", "CREATE", "x:s", "g2", "$"]);
    run(&["SELECT", "5"]);
    run(&["SET", "db5", "five"]);
    run(&["HSET", "db5:h", "a", "b"]);
    run(&["SELECT", "0"]);
}

fn sorted(f: Frame) -> Frame {
    match f {
        Frame::Array(mut v) | Frame::Set(mut v) => {
            v.sort_by_key(|x| format!("{x:?}"));
            Frame::Array(v)
        }
        other => other,
    }
}

fn pairs_sorted(f: Frame) -> Frame {
    match f {
        Frame::Array(v) => {
            let mut p: Vec<Vec<Frame>> = v.chunks(2).map(|c| c.to_vec()).collect();
            p.sort_by_key(|x| format!("{x:?}"));
            Frame::Array(p.into_iter().flatten().collect())
        }
        other => other,
    }
}

/// Every key of databases 0 and 5 with its type, contents and expiry time, as text.
fn contents(c: &mut Conn) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in ["0", "5"] {
        c.cmd(&["SELECT", db]);
        let Frame::Array(keys) = c.cmd(&["KEYS", "*"]) else {
            panic!("KEYS");
        };
        for k in keys {
            let key = common::bulk(&k);
            let t = common::bulk(&c.cmd(&["TYPE", &key]));
            let v = match t.as_str() {
                "string" => c.cmd(&["GET", &key]),
                "list" => c.cmd(&["LRANGE", &key, "0", "-1"]),
                "set" => sorted(c.cmd(&["SMEMBERS", &key])),
                "zset" => c.cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                "hash" => pairs_sorted(c.cmd(&["HGETALL", &key])),
                "stream" => strip_idle(Frame::Array(vec![
                    c.cmd(&["XRANGE", &key, "-", "+"]),
                    c.cmd(&["XPENDING", &key, "g1"]),
                    c.cmd(&["XPENDING", &key, "g1", "-", "+", "100"]),
                ])),
                other => panic!("type {other}"),
            };
            let exp = c.cmd(&["PEXPIRETIME", &key]);
            out.insert(format!("{db}/{key}"), format!("{t} {exp:?} {v:?}"));
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

/// XPENDING's extended form reports idle times, which differ between servers: drop them.
fn strip_idle(f: Frame) -> Frame {
    let Frame::Array(mut parts) = f else {
        return f;
    };
    if let Some(Frame::Array(entries)) = parts.get_mut(2) {
        for e in entries.iter_mut() {
            if let Frame::Array(x) = e {
                if x.len() == 4 {
                    x[2] = Frame::Null;
                }
            }
        }
    }
    Frame::Array(parts)
}

#[test]
fn cinnabar_snapshot_loads_into_redis_and_passes_check_rdb() {
    let dir = tempdir("out");
    let dirs = dir.to_str().expect("utf-8 path");
    let ts = TestServer::start(&[("dir", dirs), ("dbfilename", "ours.rdb")]);
    let mut c = ts.connect();
    populate(&mut c);
    let ours = contents(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), Frame::Simple("OK".into()));
    assert_eq!(
        c.cmd(&["BGSAVE", "SCHEDULE"]),
        Frame::Simple("Background saving started".into())
    );
    let file = dir.join("ours.rdb");
    let check = Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("redis-check-rdb");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && report.contains("RDB looks OK"),
        "{report}"
    );

    let redis = Redis::start(&dir, "ours.rdb");
    let theirs = contents(&mut redis.connect());
    assert_eq!(theirs.len(), ours.len());
    for (k, v) in &ours {
        assert_eq!(theirs.get(k), Some(v), "key {k}");
    }
}

#[test]
fn redis_snapshot_loads_into_cinnabar_at_startup() {
    let dir = tempdir("in");
    let redis = Redis::start(&dir, "theirs.rdb");
    let mut rc = redis.connect();
    populate(&mut rc);
    let theirs = contents(&mut rc);
    assert_eq!(rc.cmd(&["SAVE"]), Frame::Simple("OK".into()));
    drop(redis);

    let dirs = dir.to_str().expect("utf-8 path");
    let ts = TestServer::start(&[("dir", dirs), ("dbfilename", "theirs.rdb")]);
    let summary = commands::family::persistence::load_at_startup(&ts.server)
        .expect("load")
        .expect("file present");
    assert_eq!(summary.keys as usize, theirs.len());
    let ours = contents(&mut ts.connect());
    for (k, v) in &theirs {
        assert_eq!(ours.get(k), Some(v), "key {k}");
    }
    assert_eq!(ours.len(), theirs.len());
}

fn dump(c: &mut Conn, key: &str) -> Vec<u8> {
    match c.cmd(&["DUMP", key]) {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(c: &mut Conn, key: &str, payload: &[u8]) -> Frame {
    c.send(&[b"RESTORE", key.as_bytes(), b"0", payload, b"REPLACE"]);
    c.read().expect("reply")
}

#[test]
fn dump_payloads_move_both_ways() {
    let dir = tempdir("dump");
    let redis = Redis::start(&dir, "unused.rdb");
    let ts = TestServer::start(&[]);
    let mut rc = redis.connect();
    let mut cc = ts.connect();
    populate(&mut rc);
    populate(&mut cc);
    let want = contents(&mut rc);
    let keys: Vec<String> = want
        .keys()
        .filter_map(|k| k.strip_prefix("0/"))
        .map(String::from)
        .collect();
    // Redis -> Cinnabar, under a new name, then Cinnabar -> Redis.
    for k in &keys {
        let p = dump(&mut rc, k);
        assert_eq!(
            restore(&mut cc, &format!("from-redis:{k}"), &p),
            Frame::Simple("OK".into()),
            "{k}"
        );
        let p = dump(&mut cc, k);
        assert_eq!(
            restore(&mut rc, &format!("from-cinnabar:{k}"), &p),
            Frame::Simple("OK".into()),
            "{k}"
        );
    }
    let ours = contents(&mut cc);
    let theirs = contents(&mut rc);
    for k in &keys {
        // TTLs are not part of a payload (RESTORE ... 0): compare values only.
        let value = |m: &BTreeMap<String, String>, name: &str| {
            let s = m.get(&format!("0/{name}")).cloned().unwrap_or_default();
            let (t, rest) = s.split_once(' ').unwrap_or_default();
            let (_, v) = rest.split_once(' ').unwrap_or_default();
            format!("{t} {v}")
        };
        let original = value(&want, k);
        assert_eq!(
            value(&ours, &format!("from-redis:{k}")),
            original,
            "{k} into cinnabar"
        );
        assert_eq!(
            value(&theirs, &format!("from-cinnabar:{k}")),
            original,
            "{k} into redis"
        );
    }
}

#[test]
fn corrupt_files_are_refused_with_file_and_offset() {
    let dir = tempdir("corrupt");
    let dirs = dir.to_str().expect("utf-8 path");
    let ts = TestServer::start(&[("dir", dirs), ("dbfilename", "bad.rdb")]);
    let mut c = ts.connect();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["RPUSH", "l", "a", "b"]);
    assert_eq!(c.cmd(&["SAVE"]), Frame::Simple("OK".into()));
    let good = std::fs::read(dir.join("bad.rdb")).expect("saved");

    // A flipped byte: the checksum catches it.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(dir.join("bad.rdb"), &bad).expect("write");
    let fresh = TestServer::start(&[("dir", dirs), ("dbfilename", "bad.rdb")]);
    let e = commands::family::persistence::load_at_startup(&fresh.server)
        .expect_err("corrupt file refused")
        .to_string();
    assert!(e.contains("bad.rdb") && e.contains("offset"), "{e}");

    // Truncated: an error at the end, never a panic.
    std::fs::write(dir.join("bad.rdb"), &good[..good.len() - 12]).expect("write");
    let e = commands::family::persistence::load_at_startup(&fresh.server)
        .expect_err("truncated file refused")
        .to_string();
    assert!(e.contains("offset"), "{e}");

    // Not an RDB file at all.
    std::fs::write(dir.join("bad.rdb"), b"hello world").expect("write");
    let e = commands::family::persistence::load_at_startup(&fresh.server)
        .expect_err("not an RDB file")
        .to_string();
    assert!(e.contains("wrong signature"), "{e}");
}
