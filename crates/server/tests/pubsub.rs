//! Pub/sub across several clients: delivery order, patterns, shard channels, both
//! protocols, keyspace notifications, MONITOR, CLIENT KILL/LIST of subscribers, a
//! subscriber that never reads, and pathological glob patterns.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{bulk, Conn, TestServer};
use protocol::Frame;

/// A message or confirmation as strings (integers rendered as `:n`, nulls as `nil`).
fn words(f: &Frame) -> Vec<String> {
    let items = match f {
        Frame::Array(a) | Frame::Push(a) => a,
        other => panic!("not a push or array: {other:?}"),
    };
    items
        .iter()
        .map(|i| match i {
            Frame::Integer(n) => format!(":{n}"),
            Frame::Null | Frame::NullBulk => "nil".to_string(),
            other => bulk(other),
        })
        .collect()
}

fn next(c: &mut Conn) -> Vec<String> {
    words(&c.read().expect("message"))
}

fn w(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn messages_arrive_in_order_to_channels_and_patterns() {
    let server = TestServer::start(&[]);
    let mut sub = server.connect();
    sub.send(&[b"SUBSCRIBE", b"a", b"b"]);
    assert_eq!(next(&mut sub), w(&["subscribe", "a", ":1"]));
    assert_eq!(next(&mut sub), w(&["subscribe", "b", ":2"]));
    sub.send(&[b"PSUBSCRIBE", b"a*", b"x?"]);
    assert_eq!(next(&mut sub), w(&["psubscribe", "a*", ":3"]));
    assert_eq!(next(&mut sub), w(&["psubscribe", "x?", ":4"]));

    let mut publisher = server.connect();
    for i in 0..100 {
        let n = publisher.cmd(&["PUBLISH", "b", &i.to_string()]);
        assert_eq!(int(&n), 1);
    }
    // A channel matched by its own subscription and a pattern is received twice.
    assert_eq!(int(&publisher.cmd(&["PUBLISH", "a", "both"])), 2);
    assert_eq!(int(&publisher.cmd(&["PUBLISH", "xy", "pat"])), 1);
    assert_eq!(int(&publisher.cmd(&["PUBLISH", "xyz", "none"])), 0);
    for i in 0..100 {
        assert_eq!(next(&mut sub), w(&["message", "b", &i.to_string()]));
    }
    assert_eq!(next(&mut sub), w(&["message", "a", "both"]));
    assert_eq!(next(&mut sub), w(&["pmessage", "a*", "a", "both"]));
    assert_eq!(next(&mut sub), w(&["pmessage", "x?", "xy", "pat"]));

    assert_eq!(
        words(&publisher.cmd(&["PUBSUB", "NUMSUB", "a", "b", "c"])),
        w(&["a", ":1", "b", ":1", "c", ":0"])
    );
    assert_eq!(int(&publisher.cmd(&["PUBSUB", "NUMPAT"])), 2);
    assert_eq!(
        words(&publisher.cmd(&["PUBSUB", "CHANNELS"])),
        w(&["a", "b"])
    );

    // UNSUBSCRIBE without arguments leaves every channel; patterns stay.
    sub.send(&[b"UNSUBSCRIBE"]);
    assert_eq!(next(&mut sub), w(&["unsubscribe", "a", ":3"]));
    assert_eq!(next(&mut sub), w(&["unsubscribe", "b", ":2"]));
    sub.send(&[b"PUNSUBSCRIBE"]);
    assert_eq!(next(&mut sub), w(&["punsubscribe", "a*", ":1"]));
    assert_eq!(next(&mut sub), w(&["punsubscribe", "x?", ":0"]));
    assert_eq!(int(&publisher.cmd(&["PUBLISH", "a", "gone"])), 0);
    assert_eq!(bulk(&sub.cmd(&["PING"])), "PONG");
}

#[test]
fn each_receiver_gets_its_own_protocol() {
    let server = TestServer::start(&[]);
    let mut r2 = server.connect();
    let mut r3 = server.connect();
    r3.cmd(&["HELLO", "3"]);
    r2.send(&[b"SUBSCRIBE", b"ch"]);
    r3.send(&[b"SUBSCRIBE", b"ch"]);
    assert!(matches!(r2.read(), Some(Frame::Array(_))));
    assert!(matches!(r3.read(), Some(Frame::Push(_))));
    let mut publisher = server.connect();
    assert_eq!(int(&publisher.cmd(&["PUBLISH", "ch", "hi"])), 2);
    let m2 = r2.read().expect("message");
    let m3 = r3.read().expect("message");
    assert!(matches!(m2, Frame::Array(_)));
    assert!(matches!(m3, Frame::Push(_)));
    assert_eq!(words(&m2), words(&m3));
    // RESP3 clients keep running commands; RESP2 ones are in the subscribed context.
    assert_eq!(bulk(&r3.cmd(&["SET", "k", "v"])), "OK");
    assert!(bulk(&r2.cmd(&["SET", "k", "v"])).starts_with("ERR Can't execute 'set'"));
}

#[test]
fn shard_channels_are_separate_from_channels() {
    let server = TestServer::start(&[]);
    let mut sub = server.connect();
    sub.send(&[b"SSUBSCRIBE", b"s1", b"s2"]);
    assert_eq!(next(&mut sub), w(&["ssubscribe", "s1", ":1"]));
    assert_eq!(next(&mut sub), w(&["ssubscribe", "s2", ":2"]));
    let mut publisher = server.connect();
    assert_eq!(int(&publisher.cmd(&["PUBLISH", "s1", "plain"])), 0);
    assert_eq!(int(&publisher.cmd(&["SPUBLISH", "s1", "sharded"])), 1);
    assert_eq!(next(&mut sub), w(&["smessage", "s1", "sharded"]));
    assert_eq!(
        words(&publisher.cmd(&["PUBSUB", "SHARDCHANNELS", "s*"])),
        w(&["s1", "s2"])
    );
    assert_eq!(
        words(&publisher.cmd(&["PUBSUB", "SHARDNUMSUB", "s1", "zz"])),
        w(&["s1", ":1", "zz", ":0"])
    );
    assert_eq!(words(&publisher.cmd(&["PUBSUB", "CHANNELS"])), w(&[]));
    sub.send(&[b"SUNSUBSCRIBE"]);
    assert_eq!(next(&mut sub), w(&["sunsubscribe", "s1", ":1"]));
    assert_eq!(next(&mut sub), w(&["sunsubscribe", "s2", ":0"]));
}

#[test]
fn keyspace_notifications_follow_the_configured_classes() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    let mut sub = server.connect();
    sub.send(&[b"PSUBSCRIBE", b"__key*__:*"]);
    next(&mut sub);

    // Off by default: nothing is published.
    c.cmd(&["SET", "quiet", "1"]);
    assert_eq!(
        bulk(&c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"])),
        "OK"
    );
    let ev = |sub: &mut Conn, key: &str, event: &str| {
        assert_eq!(
            next(sub),
            w(&[
                "pmessage",
                "__key*__:*",
                &format!("__keyspace@0__:{key}"),
                event
            ])
        );
        assert_eq!(
            next(sub),
            w(&[
                "pmessage",
                "__key*__:*",
                &format!("__keyevent@0__:{event}"),
                key
            ])
        );
    };
    c.cmd(&["SET", "k", "v"]);
    ev(&mut sub, "k", "set");
    c.cmd(&["EXPIRE", "k", "10"]);
    ev(&mut sub, "k", "expire");
    server.clock.advance(11_000);
    c.cmd(&["GET", "k"]);
    ev(&mut sub, "k", "expired");
    c.cmd(&["LPUSH", "l", "a"]);
    ev(&mut sub, "l", "lpush");
    c.cmd(&["HSET", "h", "f", "v"]);
    ev(&mut sub, "h", "hset");
    c.cmd(&["ZADD", "z", "1", "m"]);
    ev(&mut sub, "z", "zadd");
    c.cmd(&["DEL", "l"]);
    ev(&mut sub, "l", "del");

    // Only list events, keyevent channel only.
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "El"]);
    c.cmd(&["SET", "s", "x"]);
    c.cmd(&["RPUSH", "l2", "a"]);
    assert_eq!(
        next(&mut sub),
        w(&["pmessage", "__key*__:*", "__keyevent@0__:rpush", "l2"])
    );

    // `new`: only when a key is created.
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "En"]);
    c.cmd(&["LPUSH", "fresh", "1"]);
    c.cmd(&["LPUSH", "fresh", "2"]);
    c.cmd(&["SADD", "other", "1"]);
    assert_eq!(
        next(&mut sub),
        w(&["pmessage", "__key*__:*", "__keyevent@0__:new", "fresh"])
    );
    assert_eq!(
        next(&mut sub),
        w(&["pmessage", "__key*__:*", "__keyevent@0__:new", "other"])
    );

    // Database numbers appear in the channel.
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "K$"]);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "d3", "v"]);
    assert_eq!(
        next(&mut sub),
        w(&["pmessage", "__key*__:*", "__keyspace@3__:d3", "set"])
    );
}

#[test]
fn monitor_shows_commands_as_redis_formats_them() {
    let server = TestServer::start(&[]);
    let mut mon = server.connect();
    assert_eq!(bulk(&mon.cmd(&["MONITOR"])), "OK");
    let mut c = server.connect();
    let port = c.stream.local_addr().expect("addr").port();
    c.cmd(&["SET", "k", "a \"quoted\"\n\x01"]);
    c.cmd(&["CONFIG", "GET", "port"]); // admin: not shown
    c.cmd(&["AUTH", "secret"]);
    c.cmd(&["SELECT", "2"]);
    c.cmd(&["GET"]); // rejected before running: not shown
    c.cmd(&["PING"]);
    let line = |mon: &mut Conn| -> String {
        let l = bulk(&mon.read().expect("line"));
        let (time, rest) = l.split_once(' ').expect("time");
        let (secs, usecs) = time.split_once('.').expect("usecs");
        assert!(secs.parse::<u64>().is_ok() && usecs.len() == 6, "{l}");
        rest.to_string()
    };
    let me = format!("127.0.0.1:{port}");
    assert_eq!(
        line(&mut mon),
        format!("[0 {me}] \"SET\" \"k\" \"a \\\"quoted\\\"\\n\\x01\"")
    );
    assert_eq!(line(&mut mon), format!("[0 {me}] \"AUTH\" \"(redacted)\""));
    assert_eq!(line(&mut mon), format!("[2 {me}] \"SELECT\" \"2\""));
    assert_eq!(line(&mut mon), format!("[2 {me}] \"PING\""));
    // A transaction: MULTI, then EXEC once it ran.
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["EXEC"]);
    assert_eq!(line(&mut mon), format!("[2 {me}] \"MULTI\""));
    let mut rest = line(&mut mon);
    if rest.contains("\"INCR\"") {
        rest = line(&mut mon);
    }
    assert_eq!(rest, format!("[2 {me}] \"EXEC\""));
    let list = bulk(&c.cmd(&["CLIENT", "LIST"]));
    assert!(list.lines().any(|l| l.contains("flags=O")), "{list}");
}

#[test]
fn client_list_and_kill_know_subscribers() {
    let server = TestServer::start(&[]);
    let mut sub = server.connect();
    sub.send(&[b"SUBSCRIBE", b"a"]);
    next(&mut sub);
    sub.send(&[b"PSUBSCRIBE", b"p*"]);
    next(&mut sub);
    let mut c = server.connect();
    let list = bulk(&c.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]));
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(
        list.contains("flags=P") && list.contains("sub=1 psub=1 ssub=0"),
        "{list}"
    );
    let normal = bulk(&c.cmd(&["CLIENT", "LIST", "TYPE", "normal"]));
    assert_eq!(normal.lines().count(), 1, "{normal}");
    assert_eq!(int(&c.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"])), 1);
    assert!(sub.is_closed());
    assert_eq!(int(&c.cmd(&["CLIENT", "KILL", "TYPE", "replica"])), 0);
    assert_eq!(bulk(&c.cmd(&["PING"])), "PONG");
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected_at_its_limit() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 1mb 256kb 60",
    ]);
    let mut slow = TcpStream::connect(server.addr).expect("connect");
    slow.write_all(b"SUBSCRIBE flood\r\n").expect("write");
    // Wait for the subscription through the server itself.
    while words(&c.cmd(&["PUBSUB", "NUMSUB", "flood"]))[1] != ":1" {}
    let payload = "x".repeat(100 * 1024);
    let sent = 300 * payload.len();
    for _ in 0..300 {
        c.cmd(&["PUBLISH", "flood", &payload]);
    }
    // The server stays responsive and the subscriber's connection ends early.
    assert_eq!(bulk(&c.cmd(&["PING"])), "PONG");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut received = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    assert!(received < sent / 2, "received {received} of {sent}");
    let list = bulk(&c.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]));
    assert_eq!(list, "");
}

#[test]
fn pathological_patterns_answer_quickly() {
    let server = TestServer::start(&[]);
    let mut sub = server.connect();
    let pattern = "*a".repeat(40) + "b";
    sub.send(&[b"PSUBSCRIBE", pattern.as_bytes()]);
    next(&mut sub);
    let mut c = server.connect();
    let channel = "a".repeat(20_000);
    let start = Instant::now();
    for _ in 0..10 {
        assert_eq!(int(&c.cmd(&["PUBLISH", &channel, "m"])), 0);
    }
    assert_eq!(int(&c.cmd(&["PUBLISH", &(channel.clone() + "b"), "m"])), 1);
    // Backtracking over each star would take ages; the linear matcher takes milliseconds.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(words(&sub.read().expect("message"))[0], "pmessage");
}

#[test]
fn a_message_published_before_a_command_arrives_before_its_reply() {
    let server = TestServer::start(&[]);
    let mut sub = server.connect();
    sub.cmd(&["HELLO", "3"]);
    sub.send(&[b"SUBSCRIBE", b"ch"]);
    assert_eq!(next(&mut sub), w(&["subscribe", "ch", ":1"]));
    let mut publisher = server.connect();
    for i in 0..500 {
        let i = i.to_string();
        // The PUBLISH reply means the message is queued for the subscriber.
        assert_eq!(int(&publisher.cmd(&["PUBLISH", "ch", &i])), 1);
        sub.send(&[b"PING", i.as_bytes()]);
        assert_eq!(next(&mut sub), w(&["message", "ch", &i]));
        assert_eq!(bulk(&sub.read().expect("reply")), i);
    }
}

#[test]
fn large_messages_to_a_slow_reader_arrive_whole_and_in_order() {
    let server = TestServer::start(&[]);
    let mut sub = server.connect();
    sub.send(&[b"SUBSCRIBE", b"big"]);
    assert_eq!(next(&mut sub), w(&["subscribe", "big", ":1"]));
    let mut publisher = server.connect();
    // 6 MB: more than the socket buffers hold, less than the pubsub soft limit (8 MB).
    let messages: Vec<String> = (0..30u8)
        .map(|i| {
            char::from(b'a' + i % 26)
                .to_string()
                .repeat(200 * 1024 + usize::from(i))
        })
        .collect();
    for m in &messages {
        assert_eq!(int(&publisher.cmd(&["PUBLISH", "big", m])), 1);
    }
    // The subscriber starts reading only now: most of the output waited in the server.
    for m in &messages {
        let got = next(&mut sub);
        assert_eq!(got[..2], w(&["message", "big"]));
        assert!(got[2] == *m, "message of {} bytes differs", m.len());
    }
    sub.send(&[b"PING"]);
    assert_eq!(next(&mut sub), w(&["pong", ""]));
}

#[test]
fn delivered_messages_count_in_total_net_output_bytes() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    let output = |c: &mut Conn| -> u64 {
        bulk(&c.cmd(&["INFO", "stats"]))
            .lines()
            .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
            .expect("total_net_output_bytes")
            .trim()
            .parse()
            .expect("number")
    };
    let mut sub = server.connect();
    sub.send(&[b"SUBSCRIBE", b"ch"]);
    next(&mut sub);
    let before = output(&mut c);
    let payload = "x".repeat(1000);
    for _ in 0..100 {
        c.cmd(&["PUBLISH", "ch", &payload]);
    }
    for _ in 0..100 {
        assert_eq!(next(&mut sub)[2], payload);
    }
    let grew = output(&mut c) - before;
    assert!(grew >= 100 * 1000, "grew by {grew}");
}
