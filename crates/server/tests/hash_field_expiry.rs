//! Active expiry of hash fields (7.4): fields whose TTL passed are reclaimed by the server's
//! cron even when no command touches their hash, announced as `hexpired`, and a hash whose
//! last field goes is deleted (`del`), as Redis's `activeExpireCycle` does.

mod common;

use std::time::{Duration, Instant};

use common::{bulk, Conn, TestServer};
use protocol::Frame;

fn words(f: &Frame) -> Vec<String> {
    let items = match f {
        Frame::Array(a) | Frame::Push(a) => a,
        other => panic!("not a push or array: {other:?}"),
    };
    items
        .iter()
        .map(|i| match i {
            Frame::Integer(n) => format!(":{n}"),
            other => bulk(other),
        })
        .collect()
}

/// The next keyevent notification as (event, key).
fn next_event(sub: &mut Conn) -> (String, String) {
    let m = words(&sub.read().expect("message"));
    assert_eq!(m[0], "pmessage", "{m:?}");
    let event = m[2]
        .strip_prefix("__keyevent@0__:")
        .unwrap_or_else(|| panic!("not a keyevent: {m:?}"))
        .to_string();
    (event, m[3].clone())
}

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// A server with every notification class on, and a subscriber to all keyevents.
fn setup() -> (TestServer, Conn, Conn) {
    let server = TestServer::start(&[("notify-keyspace-events", "EA")]);
    let c = server.connect();
    let mut sub = server.connect();
    sub.send(&[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
    assert_eq!(words(&sub.read().expect("confirmation"))[0], "psubscribe");
    (server, c, sub)
}

/// Polls DBSIZE (which never sweeps a hash) until it reaches `want`.
fn wait_for_dbsize(c: &mut Conn, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = int(&c.cmd(&["DBSIZE"]));
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "DBSIZE stayed {n}, want {want}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn untouched_fields_are_reclaimed_and_announced() {
    let (server, mut c, mut sub) = setup();
    c.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(next_event(&mut sub), ("hset".into(), "h".into()));
    c.cmd(&["HPEXPIRE", "h", "1000", "FIELDS", "2", "a", "b"]);
    assert_eq!(next_event(&mut sub), ("hexpire".into(), "h".into()));
    c.cmd(&["HSET", "last", "x", "1"]);
    assert_eq!(next_event(&mut sub), ("hset".into(), "last".into()));
    c.cmd(&["HPEXPIRE", "last", "2000", "FIELDS", "1", "x"]);
    assert_eq!(next_event(&mut sub), ("hexpire".into(), "last".into()));

    // Nobody touches either hash: the cron reclaims the due fields, one event per hash.
    server.clock.advance(1500);
    assert_eq!(next_event(&mut sub), ("hexpired".into(), "h".into()));
    assert_eq!(words(&c.cmd(&["HGETALL", "h"])), ["c", "3"]);

    // The last field of a hash goes with the hash: `hexpired`, then `del`.
    server.clock.advance(1000);
    assert_eq!(next_event(&mut sub), ("hexpired".into(), "last".into()));
    assert_eq!(next_event(&mut sub), ("del".into(), "last".into()));
    assert_eq!(int(&c.cmd(&["EXISTS", "last"])), 0);
    assert_eq!(int(&c.cmd(&["DBSIZE"])), 1);
}

#[test]
fn every_hash_with_due_fields_is_swept_in_both_encodings() {
    let server = TestServer::start(&[("notify-keyspace-events", "Eh")]);
    let mut c = server.connect();
    // 300 small (packed) hashes with one volatile field each, 100 of them with a second,
    // persistent field; and one large (table) hash with 200 volatile fields among 400.
    for i in 0..300 {
        let key = format!("small:{i}");
        c.cmd(&["HSET", &key, "v", "1"]);
        if i % 3 == 0 {
            c.cmd(&["HSET", &key, "keep", "1"]);
        }
        c.cmd(&["HPEXPIRE", &key, "500", "FIELDS", "1", "v"]);
    }
    for i in 0..400 {
        c.cmd(&["HSET", "big", &format!("f{i}"), "x"]);
    }
    for i in 0..200 {
        c.cmd(&["HPEXPIRE", "big", "800", "FIELDS", "1", &format!("f{i}")]);
    }
    assert_eq!(bulk(&c.cmd(&["OBJECT", "ENCODING", "big"])), "hashtable");
    assert_eq!(int(&c.cmd(&["DBSIZE"])), 301);

    // The 200 hashes left with no field disappear without being touched.
    server.clock.advance(600);
    wait_for_dbsize(&mut c, 101);

    let mut sub = server.connect();
    sub.send(&[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
    assert_eq!(words(&sub.read().expect("confirmation"))[0], "psubscribe");
    server.clock.advance(300);
    assert_eq!(next_event(&mut sub), ("hexpired".into(), "big".into()));
    assert_eq!(int(&c.cmd(&["HLEN", "big"])), 200);
    assert_eq!(int(&c.cmd(&["HLEN", "small:0"])), 1);
    assert_eq!(int(&c.cmd(&["DBSIZE"])), 101);
}

fn dump_payload(c: &mut Conn, key: &str) -> Vec<u8> {
    match c.cmd(&["DUMP", key]) {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("not a payload: {other:?}"),
    }
}

fn restore(c: &mut Conn, key: &str, payload: &[u8]) -> Frame {
    c.send(&[b"RESTORE", key.as_bytes(), b"0", payload]);
    c.read().expect("reply")
}

#[test]
fn dump_and_restore_keep_field_ttls_in_both_encodings() {
    let s = TestServer::start(&[]);
    let mut c = s.connect();
    let now = s.server.keyspace.now_ms();
    // Packed (listpack) and table encodings; one field with a TTL, one without, one expired.
    let big = "x".repeat(100);
    for (key, value) in [("small", "v"), ("large", big.as_str())] {
        c.cmd(&["HSET", key, "keep", value, "ttl", value, "gone", value]);
        assert_eq!(
            words(&c.cmd(&["HPEXPIRE", key, "5000", "FIELDS", "1", "ttl"])),
            [":1"]
        );
        assert_eq!(
            words(&c.cmd(&["HPEXPIRE", key, "100", "FIELDS", "1", "gone"])),
            [":1"]
        );
    }
    s.clock.advance(200);
    for key in ["small", "large"] {
        let payload = dump_payload(&mut c, key);
        // RDB 12 footer: a hash with field TTLs needs Redis 7.4's types.
        let footer = &payload[payload.len() - 10..payload.len() - 8];
        assert_eq!(footer, [12, 0], "{key}");
        let copy = format!("{key}-copy");
        assert_eq!(restore(&mut c, &copy, &payload), Frame::Simple("OK".into()));
        assert_eq!(
            int(&c.cmd(&["HLEN", &copy])),
            2,
            "{key}: expired field left out"
        );
        assert_eq!(
            words(&c.cmd(&["HPEXPIRETIME", &copy, "FIELDS", "3", "keep", "ttl", "gone"])),
            [
                ":-1".to_string(),
                format!(":{}", now + 5000),
                ":-2".to_string()
            ],
            "{key}"
        );
    }
    // Without field TTLs the payload stays version 10, readable by Redis 7.0.
    c.cmd(&["HSET", "plain", "a", "1"]);
    let payload = dump_payload(&mut c, "plain");
    assert_eq!(&payload[payload.len() - 10..payload.len() - 8], [10, 0]);
}
