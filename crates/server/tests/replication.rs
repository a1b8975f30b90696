//! Replication between two in-process Cinnabar servers: full synchronisation, the live
//! stream, partial resynchronisation after a lost link, WAIT, ROLE and INFO, read-only
//! replicas, min-replicas-to-write, promotion, and the raw protocol of SYNC/PSYNC.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use common::{bulk, Conn, TestServer};
use protocol::Frame;

/// Polls `f` until it holds (20 s at most).
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn info(c: &mut Conn, section: &str) -> BTreeMap<String, String> {
    bulk(&c.cmd(&["INFO", section]))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(c: &mut Conn, section: &str, name: &str) -> String {
    info(c, section).remove(name).unwrap_or_default()
}

fn ok(c: &mut Conn, args: &[&str]) {
    let r = c.cmd(args);
    assert!(!matches!(r, Frame::Error(_)), "{args:?}: {r:?}");
}

/// Every type, TTLs, two databases.
fn populate(c: &mut Conn, tag: &str) {
    ok(c, &["SET", &format!("s:{tag}"), "12345"]);
    ok(c, &["SET", &format!("long:{tag}"), &"abc".repeat(300)]);
    ok(c, &["SET", &format!("ttl:{tag}"), "v", "EX", "1000"]);
    ok(c, &["RPUSH", &format!("l:{tag}"), "a", "1", "-300", ""]);
    ok(c, &["SADD", &format!("set:{tag}"), "1", "2", "x"]);
    ok(
        c,
        &[
            "ZADD",
            &format!("z:{tag}"),
            "1.5",
            "a",
            "-inf",
            "b",
            "3",
            "c",
        ],
    );
    ok(c, &["HSET", &format!("h:{tag}"), "f", "v", "n", "42"]);
    ok(c, &["XADD", &format!("x:{tag}"), "1000-1", "name", "n1"]);
    ok(c, &["XADD", &format!("x:{tag}"), "1001-1", "name", "n2"]);
    ok(c, &["PEXPIRE", &format!("h:{tag}"), "500000"]);
    ok(c, &["SELECT", "5"]);
    ok(c, &["SET", &format!("db5:{tag}"), "five"]);
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
                "stream" => c.cmd(&["XRANGE", &key, "-", "+"]),
                other => panic!("type {other}"),
            };
            let exp = c.cmd(&["PEXPIRETIME", &key]);
            out.insert(format!("{db}/{key}"), format!("{t} {exp:?} {v:?}"));
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

/// A master and a replica of it whose link is up.
fn pair() -> (TestServer, TestServer) {
    let master = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut r = replica.connect();
    let port = master.addr.port().to_string();
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port]),
        Frame::Simple("OK".into())
    );
    until("the link", || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    (master, replica)
}

#[test]
fn replica_loads_the_data_and_follows_the_stream() {
    let master = TestServer::start(&[]);
    let mut m = master.connect();
    populate(&mut m, "before");
    let replica = TestServer::start(&[]);
    let mut r = replica.connect();
    let port = master.addr.port().to_string();
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        r.cmd(&["SLAVEOF", "127.0.0.1", &port]),
        Frame::Simple("OK Already connected to specified master".into())
    );
    until("the link", || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(contents(&mut r), contents(&mut m));

    populate(&mut m, "after");
    ok(&mut m, &["MULTI"]);
    ok(&mut m, &["INCR", "counter"]);
    ok(&mut m, &["LPUSH", "l:after", "pushed"]);
    ok(&mut m, &["EXEC"]);
    ok(
        &mut m,
        &[
            "EVAL",
            "redis.call('set', KEYS[1], 'lua'); return redis.call('incr', 'counter')",
            "1",
            "from-lua",
        ],
    );
    ok(&mut m, &["DEL", "s:before"]);
    ok(&mut m, &["SELECT", "5"]);
    ok(&mut m, &["RENAME", "db5:before", "db5:renamed"]);
    ok(&mut m, &["SELECT", "0"]);
    // WAIT replies how many replicas acknowledged everything written so far.
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    assert_eq!(contents(&mut r), contents(&mut m));

    // A read-only replica refuses other clients' writes; reads work.
    assert_eq!(
        r.cmd(&["SET", "x", "1"]),
        Frame::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(r.cmd(&["GET", "counter"]), Frame::Bulk("2".into()));

    let minfo = info(&mut m, "replication");
    assert_eq!(minfo["role"], "master");
    assert_eq!(minfo["connected_slaves"], "1");
    assert!(
        minfo["slave0"].starts_with("ip=127.0.0.1,port="),
        "{minfo:?}"
    );
    assert!(
        minfo["slave0"].contains(",state=online,offset="),
        "{minfo:?}"
    );
    assert_eq!(minfo["repl_backlog_active"], "1");
    let rinfo = info(&mut r, "replication");
    assert_eq!(rinfo["role"], "slave");
    assert_eq!(rinfo["master_port"], port);
    assert_eq!(rinfo["master_replid"], minfo["master_replid"]);
    assert_eq!(rinfo["slave_read_only"], "1");
    let Frame::Array(role) = r.cmd(&["ROLE"]) else {
        panic!("ROLE")
    };
    assert_eq!(role[0], Frame::Bulk("slave".into()));
    assert_eq!(role[2], Frame::Integer(master.addr.port() as i64));
    assert_eq!(role[3], Frame::Bulk("connected".into()));
    let Frame::Array(role) = m.cmd(&["ROLE"]) else {
        panic!("ROLE")
    };
    assert_eq!(role[0], Frame::Bulk("master".into()));
    let Frame::Array(replicas) = &role[2] else {
        panic!("ROLE replicas")
    };
    assert_eq!(replicas.len(), 1);
    assert_eq!(info(&mut m, "stats")["sync_full"], "1");
}

#[test]
fn writes_during_a_full_sync_are_neither_lost_nor_doubled() {
    let master = TestServer::start(&[]);
    let mut m = master.connect();
    for batch in 0..40 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..500 {
            args.push(format!("key:{batch}:{i}"));
            args.push("x".repeat(100));
        }
        ok(&mut m, &args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let addr = master.addr;
    let writer = std::thread::spawn(move || {
        let mut w = Conn::connect(addr);
        for i in 0..3000 {
            w.cmd(&["INCR", "counter"]);
            w.cmd(&["SET", &format!("late:{i}"), "v"]);
            w.cmd(&["DEL", &format!("key:0:{}", i % 500)]);
        }
    });
    let replica = TestServer::start(&[]);
    let mut r = replica.connect();
    ok(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.addr.port().to_string()],
    );
    writer.join().expect("writer");
    until("the link", || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(m.cmd(&["WAIT", "1", "10000"]), Frame::Integer(1));
    assert_eq!(r.cmd(&["GET", "counter"]), Frame::Bulk("3000".into()));
    assert_eq!(r.cmd(&["DBSIZE"]), m.cmd(&["DBSIZE"]));
    assert_eq!(
        r.cmd(&["EXISTS", "key:0:7", "late:2999", "key:39:499"]),
        Frame::Integer(2)
    );
}

#[test]
fn lost_link_continues_with_a_partial_resync() {
    let (master, replica) = pair();
    let mut m = master.connect();
    let mut r = replica.connect();
    populate(&mut m, "a");
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    // (The replica's first PSYNC offered its own history: one refused partial resync.)
    let refused = field(&mut m, "stats", "sync_partial_err");
    assert_eq!(
        r.cmd(&["CLIENT", "KILL", "TYPE", "master"]),
        Frame::Integer(1)
    );
    populate(&mut m, "b");
    ok(&mut m, &["SELECT", "5"]);
    ok(&mut m, &["INCR", "in-db5"]);
    ok(&mut m, &["SELECT", "0"]);
    until("the link again", || {
        field(&mut m, "stats", "sync_partial_ok") == "1"
            && field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    assert_eq!(contents(&mut r), contents(&mut m));
    let stats = info(&mut m, "stats");
    assert_eq!(stats["sync_full"], "1");
    assert_eq!(stats["sync_partial_err"], refused);
}

#[test]
fn wait_counts_only_acknowledging_replicas() {
    let master = TestServer::start(&[]);
    let mut m = master.connect();
    ok(&mut m, &["SET", "a", "1"]);
    assert_eq!(m.cmd(&["WAIT", "0", "0"]), Frame::Integer(0));
    assert_eq!(m.cmd(&["WAIT", "1", "20"]), Frame::Integer(0));
    assert_eq!(
        m.cmd(&["WAIT", "1", "-1"]),
        Frame::Error("ERR timeout is negative".into())
    );
    assert_eq!(
        m.cmd(&["WAIT", "x", "1"]),
        Frame::Error("ERR value is not an integer or out of range".into())
    );
    let (_m2, replica) = pair();
    let mut r = replica.connect();
    assert_eq!(
        r.cmd(&["WAIT", "1", "1"]),
        Frame::Error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.".into())
    );
}

#[test]
fn min_replicas_to_write_refuses_writes_without_good_replicas() {
    let master = TestServer::start(&[("min-replicas-to-write", "1")]);
    let mut m = master.connect();
    assert_eq!(
        m.cmd(&["SET", "a", "1"]),
        Frame::Error("NOREPLICAS Not enough good replicas to write.".into())
    );
    assert_eq!(m.cmd(&["GET", "a"]), Frame::NullBulk);
    let replica = TestServer::start(&[]);
    let mut r = replica.connect();
    let port = master.addr.port().to_string();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    until("a good replica", || {
        m.cmd(&["SET", "a", "1"]) == Frame::Simple("OK".into())
    });
    assert_eq!(field(&mut m, "replication", "min_slaves_good_slaves"), "1");
}

#[test]
fn promotion_keeps_the_old_history_as_replid2() {
    let (master, replica) = pair();
    let mut m = master.connect();
    let mut r = replica.connect();
    ok(&mut m, &["SET", "a", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    let old_id = field(&mut m, "replication", "master_replid");
    let offset: u64 = field(&mut r, "replication", "master_repl_offset")
        .parse()
        .expect("offset");
    assert_eq!(
        r.cmd(&["REPLICAOF", "NO", "ONE"]),
        Frame::Simple("OK".into())
    );
    let i = info(&mut r, "replication");
    assert_eq!(i["role"], "master");
    assert_eq!(i["master_replid2"], old_id);
    assert_ne!(i["master_replid"], old_id);
    assert_eq!(i["second_repl_offset"], (offset + 1).to_string());
    ok(&mut r, &["SET", "b", "2"]);
    assert_eq!(r.cmd(&["GET", "a"]), Frame::Bulk("1".into()));
    // REPLICAOF NO ONE on a master is a no-op.
    assert_eq!(
        m.cmd(&["REPLICAOF", "NO", "ONE"]),
        Frame::Simple("OK".into())
    );
}

#[test]
fn chained_replicas_follow_the_stream_and_survive_promotion() {
    let (master, middle) = pair();
    let mut m = master.connect();
    let mut mid = middle.connect();
    // The master's stream is in database 5 when the sub-replica synchronises.
    ok(&mut m, &["SELECT", "5"]);
    ok(&mut m, &["SET", "a", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Frame::Integer(1));
    let leaf = TestServer::start(&[]);
    let mut l = leaf.connect();
    ok(
        &mut l,
        &["REPLICAOF", "127.0.0.1", &middle.addr.port().to_string()],
    );
    until("the leaf's link", || {
        field(&mut l, "replication", "master_link_status") == "up"
    });
    // No SELECT in the stream: the leaf learnt the database from the RDB.
    ok(&mut m, &["SET", "b", "2"]);
    l.cmd(&["SELECT", "5"]);
    until("b on the leaf", || {
        l.cmd(&["GET", "b"]) == Frame::Bulk("2".into())
    });
    assert_eq!(contents(&mut l), contents(&mut m));
    assert_eq!(
        field(&mut l, "replication", "master_repl_offset"),
        field(&mut m, "replication", "master_repl_offset")
    );
    // The middle is promoted: the leaf continues with it, partially.
    ok(&mut mid, &["REPLICAOF", "NO", "ONE"]);
    ok(&mut mid, &["SET", "c", "3"]);
    until("c on the leaf", || {
        l.cmd(&["GET", "c"]) == Frame::Bulk("3".into())
    });
    assert_eq!(field(&mut mid, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&mut mid, "stats", "sync_full"), "1");
    assert_eq!(
        field(&mut l, "replication", "master_replid"),
        field(&mut mid, "replication", "master_replid")
    );
}

#[test]
fn masterauth_authenticates_the_replica() {
    let master = TestServer::start(&[("requirepass", "secret")]);
    let mut m = master.connect();
    ok(&mut m, &["AUTH", "secret"]);
    ok(&mut m, &["SET", "a", "1"]);
    let replica = TestServer::start(&[("masterauth", "secret")]);
    let mut r = replica.connect();
    ok(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.addr.port().to_string()],
    );
    until("the link", || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(r.cmd(&["GET", "a"]), Frame::Bulk("1".into()));
    // Without the password the handshake fails and the link stays down.
    let other = TestServer::start(&[]);
    let mut o = other.connect();
    ok(
        &mut o,
        &["REPLICAOF", "127.0.0.1", &master.addr.port().to_string()],
    );
    until("a handshake attempt", || {
        field(&mut o, "replication", "master_link_down_since_seconds") == "-1"
            && field(&mut m, "stats", "total_error_replies") != "0"
    });
    assert_eq!(field(&mut o, "replication", "master_link_status"), "down");
    assert_eq!(o.cmd(&["GET", "a"]), Frame::NullBulk);
}

/// Reads from a raw connection until `want` bytes arrived.
fn read_exact(c: &mut Conn, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    c.stream.read_exact(&mut buf).expect("read");
    buf
}

fn read_line(c: &mut Conn) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        c.stream.read_exact(&mut b).expect("read");
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line[..line.len() - 2]).into_owned()
}

#[test]
fn psync_protocol_full_then_continue() {
    // No PING in the stream during the test.
    let master = TestServer::start(&[("repl-ping-replica-period", "3600")]);
    let mut m = master.connect();
    ok(&mut m, &["SET", "a", "1"]);
    let mut link = master.connect();
    assert_eq!(
        link.cmd(&["REPLCONF", "listening-port", "7777"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        link.cmd(&["REPLCONF", "capa", "psync2"]),
        Frame::Simple("OK".into())
    );
    link.send(&[b"PSYNC", b"?", b"-1"]);
    let line = read_line(&mut link);
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[0], "+FULLRESYNC");
    let replid = words[1].to_string();
    assert_eq!(words[1].len(), 40);
    assert_eq!(words[2], "0");
    let header = read_line(&mut link);
    let len: usize = header[1..].parse().expect("RDB length");
    let rdb = read_exact(&mut link, len);
    assert_eq!(&rdb[..9], b"REDIS0010");
    ok(&mut m, &["SET", "b", "2"]);
    let expect = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";
    assert_eq!(read_exact(&mut link, expect.len()), expect);
    let i = info(&mut m, "replication");
    assert_eq!(i["master_repl_offset"], expect.len().to_string());
    assert_eq!(i["slave0"].split(',').nth(1), Some("port=7777"));
    drop(link);

    // The backlog holds the stream: a replica at offset 23 continues from byte 24.
    let mut again = master.connect();
    again.send(&[b"PSYNC", replid.as_bytes(), b"24"]);
    assert_eq!(read_line(&mut again), format!("+CONTINUE {replid}"));
    assert_eq!(read_exact(&mut again, expect.len() - 23), &expect[23..]);
    assert_eq!(field(&mut m, "stats", "sync_partial_ok"), "1");

    // An unknown id or an offset outside the backlog needs a full resync.
    let mut third = master.connect();
    third.send(&[b"PSYNC", replid.as_bytes(), b"9999"]);
    assert!(read_line(&mut third).starts_with("+FULLRESYNC "));
    assert_eq!(field(&mut m, "stats", "sync_partial_err"), "1");
}

#[test]
fn sync_sends_the_rdb_alone_then_the_stream() {
    let master = TestServer::start(&[("repl-ping-replica-period", "3600")]);
    let mut m = master.connect();
    ok(&mut m, &["SET", "a", "1"]);
    let mut link = master.connect();
    link.send(&[b"SYNC"]);
    let header = read_line(&mut link);
    assert!(header.starts_with('$'), "{header}");
    let len: usize = header[1..].parse().expect("RDB length");
    assert_eq!(&read_exact(&mut link, len)[..9], b"REDIS0010");
    ok(&mut m, &["DEL", "a"]);
    let expect = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n";
    assert_eq!(read_exact(&mut link, expect.len()), expect);
    assert_eq!(field(&mut m, "stats", "sync_full"), "1");
}

#[test]
fn eof_marked_transfer_waits_for_the_first_ack() {
    let master = TestServer::start(&[("repl-ping-replica-period", "3600")]);
    let mut m = master.connect();
    ok(&mut m, &["SET", "a", "1"]);
    let mut link = master.connect();
    ok(&mut link, &["REPLCONF", "capa", "eof", "capa", "psync2"]);
    link.send(&[b"PSYNC", b"?", b"-1"]);
    assert!(read_line(&mut link).starts_with("+FULLRESYNC "));
    let header = read_line(&mut link);
    let mark = header
        .strip_prefix("$EOF:")
        .expect("EOF-marked RDB")
        .to_string();
    assert_eq!(mark.len(), 40);
    // The RDB, then the mark.
    let mut got = Vec::new();
    while !got.ends_with(mark.as_bytes()) {
        got.extend(read_exact(&mut link, 1));
    }
    assert_eq!(&got[..9], b"REDIS0010");
    // A write made before the first ACK reaches the replica after it.
    ok(&mut m, &["SET", "b", "2"]);
    link.send(&[b"REPLCONF", b"ACK", b"0"]);
    let expect = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";
    assert_eq!(read_exact(&mut link, expect.len()), expect);
}

#[test]
fn replconf_and_sync_errors() {
    let t = TestServer::start(&[]);
    let mut c = t.connect();
    assert_eq!(
        c.cmd(&["REPLCONF", "bogus", "1"]),
        Frame::Error("ERR Unrecognized REPLCONF option: bogus".into())
    );
    assert_eq!(
        c.cmd(&["REPLCONF", "a"]),
        Frame::Error("ERR syntax error".into())
    );
    assert_eq!(c.cmd(&["REPLCONF"]), Frame::Simple("OK".into()));
    // A replica whose master is unreachable refuses to feed replicas of its own.
    let replica = TestServer::start(&[]);
    let mut r = replica.connect();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", "1"]);
    assert_eq!(
        r.cmd(&["PSYNC", "?", "-1"]),
        Frame::Error("NOMASTERLINK Can't SYNC while not connected with my master".into())
    );
    assert_eq!(field(&mut r, "replication", "master_link_status"), "down");
    assert_eq!(r.cmd(&["GET", "x"]), Frame::NullBulk);
    ok(&mut r, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    until("stale data refused", || {
        r.cmd(&["GET", "x"])
            == Frame::Error(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                    .into(),
            )
    });
    assert_eq!(field(&mut r, "replication", "role"), "slave");
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", "x"]),
        Frame::Error("ERR value is not an integer or out of range".into())
    );
}

/// A replica speaking the protocol by hand: handshake and full sync done, its ACKs sent by
/// the test. Returns the link.
fn raw_replica(master: &TestServer) -> Conn {
    let mut link = master.connect();
    ok(&mut link, &["REPLCONF", "listening-port", "7777"]);
    link.send(&[b"PSYNC", b"?", b"-1"]);
    assert!(read_line(&mut link).starts_with("+FULLRESYNC "));
    let header = read_line(&mut link);
    let len: usize = header[1..].parse().expect("RDB length");
    read_exact(&mut link, len);
    let mut m = master.connect();
    until("the replica online", || {
        field(&mut m, "replication", "connected_slaves") == "1"
    });
    link
}

fn offset(c: &mut Conn) -> String {
    field(c, "replication", "master_repl_offset")
}

/// WAIT waits for the offset of the client's own last write, not for the stream's end:
/// a replica that acknowledged `a`'s write but not `b`'s later one counts for `a` only.
#[test]
fn wait_counts_acks_of_the_clients_last_write() {
    let master = TestServer::start(&[("repl-ping-replica-period", "3600")]);
    let mut link = raw_replica(&master);
    let (mut a, mut b) = (master.connect(), master.connect());
    ok(&mut a, &["SET", "a", "1"]);
    let after_a = offset(&mut a);
    ok(&mut b, &["SET", "b", "2"]);
    let after_b = offset(&mut b);
    assert_ne!(after_a, after_b);
    link.send(&[b"REPLCONF", b"ACK", after_a.as_bytes()]);
    assert_eq!(a.cmd(&["WAIT", "1", "20000"]), Frame::Integer(1));
    assert_eq!(b.cmd(&["WAIT", "1", "50"]), Frame::Integer(0));
    link.send(&[b"REPLCONF", b"ACK", after_b.as_bytes()]);
    assert_eq!(b.cmd(&["WAIT", "1", "20000"]), Frame::Integer(1));
}

/// WAITAOF counts replicas by their `FACK`, against the client's last write; an ACK
/// without FACK counts for WAIT only.
#[test]
fn waitaof_counts_replicas_by_their_fack() {
    let master = TestServer::start(&[("repl-ping-replica-period", "3600")]);
    let mut link = raw_replica(&master);
    let (mut a, mut b) = (master.connect(), master.connect());
    ok(&mut a, &["SET", "a", "1"]);
    let after_a = offset(&mut a);
    ok(&mut b, &["SET", "b", "2"]);
    let after_b = offset(&mut b);
    let pair = |l, r| Frame::Array(vec![Frame::Integer(l), Frame::Integer(r)]);
    link.send(&[b"REPLCONF", b"ACK", after_b.as_bytes()]);
    assert_eq!(a.cmd(&["WAIT", "1", "20000"]), Frame::Integer(1));
    assert_eq!(a.cmd(&["WAITAOF", "0", "1", "50"]), pair(0, 0));
    link.send(&[
        b"REPLCONF",
        b"ACK",
        after_b.as_bytes(),
        b"FACK",
        after_a.as_bytes(),
    ]);
    assert_eq!(a.cmd(&["WAITAOF", "0", "1", "20000"]), pair(0, 1));
    assert_eq!(b.cmd(&["WAITAOF", "0", "1", "50"]), pair(0, 0));
    link.send(&[
        b"REPLCONF",
        b"ACK",
        after_b.as_bytes(),
        b"FACK",
        after_b.as_bytes(),
    ]);
    assert_eq!(b.cmd(&["WAITAOF", "0", "1", "20000"]), pair(0, 1));
    // Inside MULTI it answers at once.
    ok(&mut a, &["MULTI"]);
    ok(&mut a, &["WAITAOF", "0", "2", "0"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::Array(vec![pair(0, 1)]));
}

/// A Cinnabar replica with `appendonly yes` sends `FACK` with the offset fsynced to its
/// AOF, so its master's WAITAOF counts it; one without an AOF is never counted.
#[test]
fn waitaof_counts_a_cinnabar_replica_with_an_aof() {
    let dir = std::env::temp_dir().join(format!("cinnabar-repl-fack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let master = TestServer::start(&[]);
    let replica = TestServer::start(&[("dir", dir.to_str().expect("utf-8"))]);
    let mut r = replica.connect();
    let mut m = master.connect();
    let port = master.addr.port().to_string();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    until("the link", || {
        field(&mut r, "replication", "master_link_status") == "up"
    });
    ok(&mut m, &["SET", "k", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "20000"]), Frame::Integer(1));
    let pair = |l, r| Frame::Array(vec![Frame::Integer(l), Frame::Integer(r)]);
    assert_eq!(m.cmd(&["WAITAOF", "0", "1", "50"]), pair(0, 0));
    ok(&mut r, &["CONFIG", "SET", "appendonly", "yes"]);
    until("the replica's AOF", || {
        field(&mut r, "persistence", "aof_enabled") == "1"
            && field(&mut r, "persistence", "aof_rewrite_in_progress") == "0"
    });
    ok(&mut m, &["SET", "k", "2"]);
    assert_eq!(m.cmd(&["WAITAOF", "0", "1", "20000"]), pair(0, 1));
    assert_eq!(r.cmd(&["GET", "k"]), Frame::Bulk("2".into()));
    drop((master, replica));
    let _ = std::fs::remove_dir_all(&dir);
}
