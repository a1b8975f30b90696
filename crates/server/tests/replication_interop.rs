//! Replication with a real redis-server (Debian's 7.0, as in CI), both ways: redis-server
//! as a replica of Cinnabar, and Cinnabar as a replica of redis-server. Each loads the
//! other's RDB, follows the live stream (transactions, scripts, expiring keys, several
//! databases), and after its link is cut continues with a partial resynchronisation.
//! The redis-servers listen on fixed ports (7806, 7807).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bulk, Conn, TestServer};
use protocol::Frame;

struct Redis {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Redis {
    fn start(port: u16, extra: &[&str]) -> Redis {
        let dir = std::env::temp_dir().join(format!("cinnabar-repl-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args([
                "--repl-diskless-sync-delay",
                "0",
                "--enable-debug-command",
                "yes",
            ])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        Redis { child, addr, dir }
    }

    fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Cinnabar whose clock reads the real time (redis-server's expiry times are real).
fn cinnabar() -> TestServer {
    let t = TestServer::start(&[]);
    t.clock.set(commands::server::unix_ms());
    t
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn field(c: &mut Conn, section: &str, name: &str) -> String {
    bulk(&c.cmd(&["INFO", section]))
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_default()
}

fn ok(c: &mut Conn, args: &[&str]) {
    let r = c.cmd(args);
    assert!(!matches!(r, Frame::Error(_)), "{args:?}: {r:?}");
}

/// Every type in small and large encodings, TTLs, stream groups, two databases.
fn populate(c: &mut Conn, tag: &str) {
    let k = |name: &str| format!("{name}:{tag}");
    ok(c, &["SET", &k("int"), "12345"]);
    ok(c, &["SET", &k("long"), &"abc".repeat(300)]);
    ok(c, &["SET", &k("ex"), "v", "EX", "1000"]);
    ok(c, &["SET", &k("px"), "v", "PX", "900000"]);
    ok(c, &["SETEX", &k("setex"), "800", "v"]);
    ok(c, &["RPUSH", &k("list"), "a", "1", "-300", "70000", ""]);
    let items: Vec<String> = (0..300).map(|i| format!("item-{i}")).collect();
    let mut args = vec!["RPUSH".to_string(), k("biglist")];
    args.extend(items.iter().cloned());
    ok(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(c, &["SADD", &k("ints"), "1", "2", "-70000"]);
    ok(c, &["SADD", &k("set"), "a", "b", "c"]);
    let mut args = vec!["SADD".to_string(), k("bigset")];
    args.extend((0..200).map(|i| format!("m{i}")));
    ok(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(c, &["ZADD", &k("zset"), "1.5", "a", "-inf", "b", "3", "c"]);
    let mut args = vec!["ZADD".to_string(), k("bigzset")];
    for i in 0..200 {
        args.push(format!("{i}.5"));
        args.push(format!("member-{i}"));
    }
    ok(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(c, &["HSET", &k("hash"), "f", "v", "n", "42"]);
    let mut args = vec!["HSET".to_string(), k("bighash")];
    for i in 0..200 {
        args.push(format!("field-{i}"));
        args.push(format!("value-{i}"));
    }
    ok(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(c, &["EXPIRE", &k("bighash"), "5000"]);
    for i in 1..=20 {
        ok(
            c,
            &[
                "XADD",
                &k("stream"),
                &format!("{}-1", 1000 + i),
                "n",
                &i.to_string(),
            ],
        );
    }
    ok(c, &["XGROUP", "CREATE", &k("stream"), "g1", "0"]);
    ok(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "c1",
            "COUNT",
            "4",
            "STREAMS",
            &k("stream"),
            ">",
        ],
    );
    ok(c, &["XACK", &k("stream"), "g1", "1001-1"]);
    ok(c, &["SELECT", "5"]);
    ok(c, &["SET", &k("db5"), "five"]);
    ok(c, &["HSET", &k("db5h"), "a", "b"]);
    ok(c, &["SELECT", "0"]);
}

/// Writes whose replication needs care: transactions, scripts, deletes, renames, counters.
fn more_writes(c: &mut Conn, tag: &str) {
    let k = |name: &str| format!("{name}:{tag}");
    ok(c, &["MULTI"]);
    ok(c, &["INCR", &k("counter")]);
    ok(c, &["LPUSH", &k("list"), "pushed"]);
    ok(c, &["EXEC"]);
    ok(
        c,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'lua'); redis.call('expire', KEYS[1], 700); return redis.call('incr', KEYS[2])",
            "2",
            &k("lua"),
            &k("counter"),
        ],
    );
    ok(c, &["DEL", &k("int")]);
    ok(c, &["RENAME", &k("set"), &k("renamed")]);
    ok(c, &["INCRBY", &k("counter"), "10"]);
    ok(c, &["HINCRBY", &k("hash"), "n", "3"]);
    ok(c, &["ZINCRBY", &k("zset"), "2", "a"]);
    // Effects that depend on chance or on the state: propagated in a deterministic form.
    ok(c, &["SADD", &k("spop"), "a", "b", "c", "d", "e", "f"]);
    ok(c, &["SPOP", &k("spop")]);
    ok(c, &["SPOP", &k("spop"), "2"]);
    ok(c, &["RPUSH", &k("blist"), "a", "b", "c", "d"]);
    ok(c, &["BLPOP", &k("blist"), "0"]);
    ok(c, &["BLMPOP", "0", "1", &k("blist"), "RIGHT", "COUNT", "1"]);
    ok(
        c,
        &["BLMOVE", &k("blist"), &k("blist2"), "LEFT", "RIGHT", "0"],
    );
    ok(c, &["ZADD", &k("bz"), "1", "a", "2", "b", "3", "c"]);
    ok(c, &["BZPOPMAX", &k("bz"), "0"]);
    ok(c, &["XADD", &k("stream"), "*", "auto", "1"]);
    ok(
        c,
        &[
            "XADD",
            &k("stream"),
            "MAXLEN",
            "~",
            "5",
            "LIMIT",
            "3",
            "*",
            "auto",
            "2",
        ],
    );
    ok(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "c2",
            "COUNT",
            "2",
            "STREAMS",
            &k("stream"),
            ">",
        ],
    );
    ok(c, &["XCLAIM", &k("stream"), "g1", "c3", "0", "1002-1"]);
    ok(
        c,
        &[
            "XAUTOCLAIM",
            &k("stream"),
            "g1",
            "c4",
            "0",
            "0",
            "COUNT",
            "1",
        ],
    );
    ok(c, &["SELECT", "5"]);
    ok(c, &["APPEND", &k("db5"), "-more"]);
    ok(c, &["SELECT", "0"]);
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

/// Drops the idle times of XPENDING's extended form, which differ between servers.
fn strip_idle(f: Frame) -> Frame {
    match f {
        Frame::Array(mut entries) => {
            for e in entries.iter_mut() {
                if let Frame::Array(x) = e {
                    if x.len() == 4 {
                        x[2] = Frame::Null;
                    }
                }
            }
            Frame::Array(entries)
        }
        other => other,
    }
}

/// Every key of databases 0 and 5 with type, contents and expiry time.
fn contents(c: &mut Conn) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in ["0", "5"] {
        c.cmd(&["SELECT", db]);
        let Frame::Array(keys) = c.cmd(&["KEYS", "*"]) else {
            panic!("KEYS");
        };
        for k in keys {
            let key = bulk(&k);
            let t = bulk(&c.cmd(&["TYPE", &key]));
            let v = match t.as_str() {
                "string" => c.cmd(&["GET", &key]),
                "list" => c.cmd(&["LRANGE", &key, "0", "-1"]),
                "set" => sorted(c.cmd(&["SMEMBERS", &key])),
                "zset" => c.cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                "hash" => sorted(c.cmd(&["HGETALL", &key])),
                "stream" => Frame::Array(vec![
                    c.cmd(&["XRANGE", &key, "-", "+"]),
                    c.cmd(&["XPENDING", &key, "g1"]),
                    strip_idle(c.cmd(&["XPENDING", &key, "g1", "-", "+", "100"])),
                ]),
                other => panic!("type {other}"),
            };
            let exp = c.cmd(&["PEXPIRETIME", &key]);
            out.insert(format!("{db}/{key}"), format!("{t} {exp:?} {v:?}"));
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

/// Compares two servers' contents, naming the keys that differ.
fn assert_same(replica: &mut Conn, master: &mut Conn) {
    let (r, m) = (contents(replica), contents(master));
    let cut = |s: Option<&String>| {
        s.map(|s| {
            s.chars()
                .skip(s.chars().count().saturating_sub(400))
                .collect::<String>()
        })
    };
    let diff: Vec<String> = m
        .keys()
        .chain(r.keys())
        .filter(|k| r.get(*k) != m.get(*k))
        .map(|k| {
            format!(
                "{k}: replica {:?} master {:?}",
                cut(r.get(k)),
                cut(m.get(k))
            )
        })
        .collect();
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

/// Waits until `marker` reached the replica, then compares every key.
fn converged(master: &mut Conn, replica: &mut Conn, marker: &str) {
    ok(master, &["SET", marker, "1"]);
    until(marker, || {
        replica.cmd(&["GET", marker]) == Frame::Bulk("1".into())
    });
    assert_same(replica, master);
}

#[test]
fn redis_server_replicates_from_cinnabar() {
    let t = cinnabar();
    let mut m = t.connect();
    populate(&mut m, "before");
    let port = t.addr.port().to_string();
    let redis = Redis::start(7806, &["--replicaof", "127.0.0.1", &port]);
    let mut r = redis.connect();
    until("the link", || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_same(&mut r, &mut m);

    populate(&mut m, "live");
    more_writes(&mut m, "live");
    converged(&mut m, &mut r, "marker1");
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));

    // Cut the link and keep the replica away for a while (DEBUG SLEEP blocks redis-server)
    // while writes continue: it must come back with a partial resync.
    let addr = redis.addr;
    let sleeper = std::thread::spawn(move || Conn::connect(addr).cmd(&["DEBUG", "SLEEP", "2"]));
    assert_eq!(
        m.cmd(&["CLIENT", "KILL", "TYPE", "replica"]),
        Frame::Integer(1)
    );
    populate(&mut m, "while-down");
    more_writes(&mut m, "while-down");
    assert_eq!(sleeper.join().expect("sleeper"), Frame::Simple("OK".into()));
    converged(&mut m, &mut r, "marker2");
    assert_eq!(field(&mut m, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&mut m, "stats", "sync_full"), "1");
    assert_eq!(field(&mut r, "replication", "master_link_status"), "up");
}

#[test]
fn cinnabar_replicates_from_redis_server() {
    // A disk-based transfer (`$<len>`); the diskless one (`$EOF:`) is what redis-server
    // receives from Cinnabar above and Cinnabar from Cinnabar.
    let redis = Redis::start(7807, &["--repl-diskless-sync", "no"]);
    let mut m = redis.connect();
    populate(&mut m, "before");
    let t = cinnabar();
    let mut r = t.connect();
    let port = redis.addr.port().to_string();
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port]),
        Frame::Simple("OK".into())
    );
    until("the link", || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_same(&mut r, &mut m);
    assert_eq!(
        field(&mut r, "replication", "master_replid"),
        field(&mut m, "replication", "master_replid")
    );

    populate(&mut m, "live");
    more_writes(&mut m, "live");
    converged(&mut m, &mut r, "marker1");
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    assert_eq!(
        field(&mut r, "replication", "slave_repl_offset"),
        field(&mut m, "replication", "master_repl_offset")
    );

    let full = field(&mut m, "stats", "sync_full");
    let partial = field(&mut m, "stats", "sync_partial_ok");
    assert_eq!(
        r.cmd(&["CLIENT", "KILL", "TYPE", "master"]),
        Frame::Integer(1)
    );
    populate(&mut m, "while-down");
    more_writes(&mut m, "while-down");
    converged(&mut m, &mut r, "marker2");
    assert_eq!(field(&mut m, "stats", "sync_full"), full);
    let partial_now: u64 = field(&mut m, "stats", "sync_partial_ok")
        .parse()
        .expect("count");
    assert_eq!(partial_now, partial.parse::<u64>().expect("count") + 1);
}
