//! Blocking commands end to end: clients waiting on keys are woken by writes from other
//! connections in FIFO order, time out, are unblocked by CLIENT UNBLOCK, and leave nothing
//! behind when they go away.

mod common;

use std::time::{Duration, Instant};

use common::{bulk, Conn, TestServer};
use protocol::Frame;

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn strings(f: &Frame) -> Vec<String> {
    match f {
        Frame::Array(items) => items.iter().map(bulk).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn client_id(c: &mut Conn) -> i64 {
    int(&c.cmd(&["CLIENT", "ID"]))
}

/// A field of INFO clients, read over the wire.
fn info_clients(c: &mut Conn, field: &str) -> i64 {
    let text = bulk(&c.cmd(&["INFO", "clients"]));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}

/// Polls INFO until `n` clients are blocked (the blocking command was sent from another
/// connection and has no reply to wait for).
fn until_blocked(watcher: &mut Conn, n: i64) {
    let start = Instant::now();
    while info_clients(watcher, "blocked_clients") != n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never reached {n} blocked clients"
        );
        std::thread::yield_now();
    }
}

fn send(c: &mut Conn, args: &[&str]) {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.send(&args);
}

#[test]
fn clients_blocked_on_one_key_are_served_in_fifo_order() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut clients: Vec<Conn> = (0..3).map(|_| s.connect()).collect();
    let c_id = client_id(&mut clients[2]) as u64;
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, &["BZPOPMIN", "z", "0"]);
        until_blocked(&mut w, i as i64 + 1);
    }
    assert_eq!(int(&w.cmd(&["ZADD", "z", "1", "a", "2", "b"])), 2);
    assert_eq!(strings(&clients[0].read().expect("reply")), ["z", "a", "1"]);
    assert_eq!(strings(&clients[1].read().expect("reply")), ["z", "b", "2"]);
    until_blocked(&mut w, 1);
    assert!(s.server.blocking.is_blocked(c_id));
    assert_eq!(int(&w.cmd(&["ZADD", "z", "3", "c"])), 1);
    assert_eq!(strings(&clients[2].read().expect("reply")), ["z", "c", "3"]);
    until_blocked(&mut w, 0);
    assert_eq!(int(&w.cmd(&["EXISTS", "z"])), 0);
}

#[test]
fn timeout_has_sub_second_precision() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let start = Instant::now();
    assert_eq!(a.cmd(&["BZPOPMIN", "z", "0.1"]), Frame::NullArray);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let mut w = s.connect();
    assert_eq!(info_clients(&mut w, "blocked_clients"), 0);
    // The connection goes on normally.
    assert_eq!(bulk(&a.cmd(&["PING"])), "PONG");
}

#[test]
fn resp3_timeout_is_null() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    a.cmd(&["HELLO", "3"]);
    assert_eq!(a.cmd(&["BZPOPMIN", "z", "0.01"]), Frame::Null);
    assert_eq!(
        a.cmd(&["XREAD", "BLOCK", "10", "STREAMS", "s", "$"]),
        Frame::Null
    );
}

#[test]
fn client_unblock_timeout_and_error() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let id = client_id(&mut a).to_string();
    assert_eq!(int(&w.cmd(&["CLIENT", "UNBLOCK", &id])), 0);

    send(&mut a, &["BZPOPMIN", "z", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(int(&w.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"])), 1);
    assert_eq!(a.read(), Some(Frame::NullArray));
    assert_eq!(int(&w.cmd(&["CLIENT", "UNBLOCK", &id])), 0);

    send(&mut a, &["BZPOPMIN", "z", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(int(&w.cmd(&["CLIENT", "UNBLOCK", &id, "error"])), 1);
    assert_eq!(
        a.read(),
        Some(Frame::Error(
            "UNBLOCKED client unblocked via CLIENT UNBLOCK".into()
        ))
    );
    until_blocked(&mut w, 0);
    let stats = bulk(&w.cmd(&["INFO", "errorstats"]));
    assert!(stats.contains("errorstat_UNBLOCKED:count=1"), "{stats}");

    // The reason is checked before the id, as Redis.
    assert_eq!(
        w.cmd(&["CLIENT", "UNBLOCK", "abc", "foo"]),
        Frame::Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into())
    );
    assert_eq!(
        w.cmd(&["CLIENT", "UNBLOCK", "abc"]),
        Frame::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(int(&w.cmd(&["CLIENT", "UNBLOCK", "-5"])), 0);
    // A served client is unblocked no more.
    assert_eq!(int(&w.cmd(&["ZADD", "z", "1", "m"])), 1);
    assert_eq!(strings(&a.cmd(&["BZPOPMIN", "z", "0"])), ["z", "m", "1"]);
}

#[test]
fn a_client_that_disconnects_while_blocked_leaves_nothing_behind() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let mut b = s.connect();
    send(&mut a, &["BZPOPMIN", "z", "y", "0"]);
    until_blocked(&mut w, 1);
    send(&mut b, &["BZPOPMIN", "z", "0"]);
    until_blocked(&mut w, 2);
    assert_eq!(info_clients(&mut w, "total_blocking_keys"), 2);
    drop(a);
    until_blocked(&mut w, 1);
    assert_eq!(info_clients(&mut w, "total_blocking_keys"), 1);
    // The element goes to the client still there.
    assert_eq!(int(&w.cmd(&["ZADD", "z", "1", "m"])), 1);
    assert_eq!(strings(&b.read().expect("reply")), ["z", "m", "1"]);
    until_blocked(&mut w, 0);
    assert_eq!(info_clients(&mut w, "total_blocking_keys"), 0);
}

#[test]
fn client_kill_ends_a_blocked_client() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let id = client_id(&mut a).to_string();
    send(&mut a, &["BZPOPMIN", "z", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(int(&w.cmd(&["CLIENT", "KILL", "ID", &id])), 1);
    assert!(a.is_closed());
    until_blocked(&mut w, 0);
}

#[test]
fn blocked_clients_show_in_info_and_client_list() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let id = client_id(&mut a);
    assert_eq!(info_clients(&mut w, "blocked_clients"), 0);
    send(&mut a, &["BZPOPMAX", "z", "0"]);
    until_blocked(&mut w, 1);
    let list = bulk(&w.cmd(&["CLIENT", "LIST"]));
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .expect("line");
    assert!(line.contains(" flags=b "), "{line}");
    assert!(line.contains(" cmd=bzpopmax "), "{line}");
    let me = bulk(&w.cmd(&["CLIENT", "INFO"]));
    assert!(me.contains(" flags=N "), "{me}");
    assert_eq!(int(&w.cmd(&["ZADD", "z", "1", "m"])), 1);
    assert_eq!(strings(&a.read().expect("reply")), ["z", "m", "1"]);
    assert_eq!(info_clients(&mut w, "blocked_clients"), 0);
}

#[test]
fn a_key_of_another_type_does_not_serve_the_waiter() {
    // Redis 7 checks the key's type against what the client blocked for: the waiter keeps
    // waiting (it gets no WRONGTYPE) until the key holds the right type.
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let id = client_id(&mut a) as u64;
    send(&mut a, &["BZPOPMIN", "k", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(bulk(&w.cmd(&["SET", "k", "v"])), "OK");
    assert_eq!(int(&w.cmd(&["DEL", "k"])), 1);
    assert_eq!(int(&w.cmd(&["SADD", "k", "v"])), 1);
    assert!(s.server.blocking.is_blocked(id));
    assert_eq!(int(&w.cmd(&["DEL", "k"])), 1);
    assert_eq!(int(&w.cmd(&["ZADD", "k", "5", "m"])), 1);
    assert_eq!(strings(&a.read().expect("reply")), ["k", "m", "5"]);
}

#[test]
fn pipelined_commands_wait_for_the_blocked_one() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    a.send_raw(b"BZPOPMIN z 0\r\nPING\r\nECHO after\r\n");
    until_blocked(&mut w, 1);
    assert_eq!(int(&w.cmd(&["ZADD", "z", "1", "m"])), 1);
    assert_eq!(strings(&a.read().expect("reply")), ["z", "m", "1"]);
    assert_eq!(bulk(&a.read().expect("reply")), "PONG");
    assert_eq!(bulk(&a.read().expect("reply")), "after");
}

#[test]
fn a_write_racing_the_block_is_never_lost() {
    // The push is sent without waiting for the waiter to register: whichever comes first,
    // the waiter gets the element.
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    for i in 0..200 {
        let member = format!("m{i}");
        send(&mut a, &["BZPOPMIN", "z", "0"]);
        assert_eq!(int(&w.cmd(&["ZADD", "z", "1", &member])), 1);
        assert_eq!(strings(&a.read().expect("reply")), ["z", &member, "1"]);
    }
    assert_eq!(s.server.blocking.blocked_clients(), 0);
}

#[test]
fn several_keys_any_one_serves() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    send(&mut a, &["BZPOPMIN", "z1", "z2", "z3", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(int(&w.cmd(&["ZADD", "z3", "7", "x"])), 1);
    assert_eq!(strings(&a.read().expect("reply")), ["z3", "x", "7"]);
    assert_eq!(info_clients(&mut w, "total_blocking_keys"), 0);
}

#[test]
fn swapdb_serves_the_waiters_of_both_databases() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    send(&mut a, &["BZPOPMIN", "z", "0"]);
    until_blocked(&mut w, 1);
    w.cmd(&["SELECT", "1"]);
    assert_eq!(int(&w.cmd(&["ZADD", "z", "1", "m"])), 1);
    assert_eq!(s.server.blocking.blocked_clients(), 1);
    assert_eq!(bulk(&w.cmd(&["SWAPDB", "0", "1"])), "OK");
    assert_eq!(strings(&a.read().expect("reply")), ["z", "m", "1"]);
    assert_eq!(int(&w.cmd(&["EXISTS", "z"])), 0);
}

#[test]
fn flushall_serves_nobody() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    send(&mut a, &["BZPOPMIN", "z", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(bulk(&w.cmd(&["FLUSHALL"])), "OK");
    assert_eq!(s.server.blocking.blocked_clients(), 1);
    assert_eq!(int(&w.cmd(&["ZADD", "z", "1", "m"])), 1);
    assert_eq!(strings(&a.read().expect("reply")), ["z", "m", "1"]);
}

#[test]
fn xread_block_is_woken_by_xadd() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    assert_eq!(bulk(&w.cmd(&["XADD", "s", "1-1", "f", "old"])), "1-1");
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    until_blocked(&mut w, 1);
    assert_eq!(bulk(&w.cmd(&["XADD", "s", "2-1", "f", "new"])), "2-1");
    let reply = a.read().expect("reply");
    let text = format!("{reply:?}");
    assert!(text.contains("2-1") && !text.contains("1-1"), "{text}");
}

#[test]
fn a_request_over_the_query_buffer_limit_is_not_executed() {
    // Regression: the limit was checked only after decoding, so one read that completed a
    // request larger than the limit ran it.
    // A small limit, so the whole request arrives in one read.
    let s = TestServer::start(&[("client-query-buffer-limit", "4kb")]);
    let mut a = s.connect();
    assert_eq!(bulk(&a.cmd(&["SET", "small", "v"])), "OK");
    let value = vec![b'x'; 6 * 1024];
    let mut req = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    // The server may close before it has read everything: a failed write is expected.
    let _ = std::io::Write::write_all(&mut a.stream, &req);
    assert!(a.is_closed());
    let mut w = s.connect();
    assert_eq!(int(&w.cmd(&["EXISTS", "k"])), 0);
    // A partly read multibulk counts the arguments the decoder already split off.
    let mut b = s.connect();
    let arg = "y".repeat(3 * 1024);
    let head = format!(
        "*5\r\n$4\r\nMSET\r\n$2\r\nk2\r\n${}\r\n{arg}\r\n",
        arg.len()
    );
    b.send_raw(head.as_bytes());
    let rest = format!("$2\r\nk3\r\n${}\r\n{arg}\r\n", arg.len());
    let _ = std::io::Write::write_all(&mut b.stream, rest.as_bytes());
    assert!(b.is_closed());
    assert_eq!(int(&w.cmd(&["EXISTS", "k2", "k3"])), 0);
}

#[test]
fn xreadgroup_waiters_learn_that_their_stream_is_gone() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let gone = Frame::Error("UNBLOCKED the stream key no longer exists".into());
    for how in [&["DEL", "s"][..], &["FLUSHALL"], &["FLUSHDB"]] {
        assert_eq!(
            bulk(&w.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])),
            "OK"
        );
        send(
            &mut a,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        until_blocked(&mut w, 1);
        w.cmd(how);
        assert_eq!(a.read(), Some(gone.clone()), "{how:?}");
        until_blocked(&mut w, 0);
    }
    // A new entry serves it.
    assert_eq!(
        bulk(&w.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])),
        "OK"
    );
    send(
        &mut a,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    until_blocked(&mut w, 1);
    assert_eq!(bulk(&w.cmd(&["XADD", "s", "5-1", "f", "v"])), "5-1");
    let text = format!("{:?}", a.read().expect("reply"));
    assert!(text.contains("5-1"), "{text}");
}

#[test]
fn a_plain_xread_waiter_sleeps_through_a_flush() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let id = client_id(&mut a) as u64;
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "0-0"]);
    until_blocked(&mut w, 1);
    assert_eq!(bulk(&w.cmd(&["FLUSHALL"])), "OK");
    assert_eq!(int(&w.cmd(&["DEL", "s"])), 0);
    assert!(s.server.blocking.is_blocked(id));
    assert_eq!(bulk(&w.cmd(&["XADD", "s", "1-1", "f", "v"])), "1-1");
    let text = format!("{:?}", a.read().expect("reply"));
    assert!(text.contains("1-1"), "{text}");
}

#[test]
fn blpop_waiters_are_served_in_fifo_order() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut clients: Vec<Conn> = (0..3).map(|_| s.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, &["BLPOP", "list", "0"]);
        until_blocked(&mut w, i as i64 + 1);
    }
    assert_eq!(int(&w.cmd(&["RPUSH", "list", "a", "b"])), 2);
    assert_eq!(strings(&clients[0].read().expect("reply")), ["list", "a"]);
    assert_eq!(strings(&clients[1].read().expect("reply")), ["list", "b"]);
    until_blocked(&mut w, 1);
    assert_eq!(int(&w.cmd(&["LPUSH", "list", "c"])), 1);
    assert_eq!(strings(&clients[2].read().expect("reply")), ["list", "c"]);
    until_blocked(&mut w, 0);
    assert_eq!(int(&w.cmd(&["EXISTS", "list"])), 0);
}

#[test]
fn blpop_timeout_and_resp3_null() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let start = Instant::now();
    assert_eq!(a.cmd(&["BLPOP", "k", "0.1"]), Frame::NullArray);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(a.cmd(&["BRPOP", "k", "0.01"]), Frame::NullArray);
    a.cmd(&["HELLO", "3"]);
    assert_eq!(a.cmd(&["BLPOP", "k", "0.01"]), Frame::Null);
    assert_eq!(
        a.cmd(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0.01"]),
        Frame::Null
    );
}

#[test]
fn blpop_ignores_a_key_that_becomes_a_string() {
    // Redis 7: the waiter keeps waiting (no WRONGTYPE) until the key is a list.
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let id = client_id(&mut a) as u64;
    send(&mut a, &["BLPOP", "k", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(bulk(&w.cmd(&["SET", "k", "v"])), "OK");
    assert!(s.server.blocking.is_blocked(id));
    assert_eq!(int(&w.cmd(&["DEL", "k"])), 1);
    assert_eq!(int(&w.cmd(&["RPUSH", "k", "x"])), 1);
    assert_eq!(strings(&a.read().expect("reply")), ["k", "x"]);
}

#[test]
fn blmove_chains_serve_the_clients_waiting_on_its_destination() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let mut b = s.connect();
    let mut c = s.connect();
    send(&mut a, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    until_blocked(&mut w, 1);
    send(&mut b, &["BLPOP", "src", "0"]);
    until_blocked(&mut w, 2);
    send(&mut c, &["BRPOP", "dst", "0"]);
    until_blocked(&mut w, 3);
    assert_eq!(int(&w.cmd(&["RPUSH", "src", "x", "y"])), 2);
    assert_eq!(bulk(&a.read().expect("reply")), "x");
    assert_eq!(strings(&b.read().expect("reply")), ["src", "y"]);
    assert_eq!(strings(&c.read().expect("reply")), ["dst", "x"]);
    until_blocked(&mut w, 0);
    assert_eq!(int(&w.cmd(&["EXISTS", "src", "dst"])), 0);
}

#[test]
fn blpop_unblock_and_disconnect() {
    let s = TestServer::start(&[]);
    let mut w = s.connect();
    let mut a = s.connect();
    let id = client_id(&mut a).to_string();
    send(&mut a, &["BLPOP", "k", "0"]);
    until_blocked(&mut w, 1);
    assert_eq!(int(&w.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"])), 1);
    assert_eq!(a.read(), Some(Frame::NullArray));
    send(&mut a, &["BRPOP", "k", "0"]);
    until_blocked(&mut w, 1);
    drop(a);
    until_blocked(&mut w, 0);
    assert_eq!(int(&w.cmd(&["RPUSH", "k", "v"])), 1);
    assert_eq!(int(&w.cmd(&["LLEN", "k"])), 1);
}
