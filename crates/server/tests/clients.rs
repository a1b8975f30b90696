//! Connection-level behaviour that a transcript cannot show: several clients, replies that
//! never come, closed connections, pauses, authentication and limits.

mod common;

use common::{bulk, TestServer};
use protocol::Frame;

fn err(f: &Frame) -> String {
    match f {
        Frame::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn maxclients_rejects_the_extra_connection_and_stays_usable() {
    let s = TestServer::start(&[("maxclients", "2")]);
    let mut a = s.connect();
    let mut b = s.connect();
    assert_eq!(bulk(&a.cmd(&["PING"])), "PONG");
    assert_eq!(bulk(&b.cmd(&["PING"])), "PONG");
    let mut c = s.connect();
    assert_eq!(
        err(&c.read().expect("error reply")),
        "ERR max number of clients reached"
    );
    assert!(c.is_closed());
    assert_eq!(bulk(&a.cmd(&["PING"])), "PONG");
    drop(b);
    // The freed slot is taken again once the server has noticed the close.
    let mut tries = 0;
    loop {
        let mut d = s.connect();
        match d.cmd(&["PING"]) {
            Frame::Simple(_) => break,
            _ => {
                tries += 1;
                assert!(tries < 100, "slot never freed");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn client_kill_closes_the_other_connection() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let mut b = s.connect();
    let id = match b.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        Frame::Integer(1)
    );
    assert!(b.is_closed());
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        Frame::Integer(0)
    );
}

#[test]
fn client_kill_old_form_by_address() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let mut b = s.connect();
    // A reply means the server has registered b's connection.
    assert_eq!(b.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let addr = b.stream.local_addr().expect("addr").to_string();
    assert_eq!(bulk(&a.cmd(&["CLIENT", "KILL", &addr])), "OK");
    assert!(b.is_closed());
    assert_eq!(
        err(&a.cmd(&["CLIENT", "KILL", &addr])),
        "ERR No such client"
    );
}

#[test]
fn client_pause_write_holds_writes_until_unpause() {
    let s = TestServer::start(&[]);
    let mut admin = s.connect();
    let mut writer = s.connect();
    let mut reader = s.connect();
    assert_eq!(
        bulk(&admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])),
        "OK"
    );
    writer.send(&[b"SET", b"k", b"v"]);
    // Reads are answered meanwhile, and the SET has not run.
    assert_eq!(reader.cmd(&["GET", "k"]), Frame::NullBulk);
    assert_eq!(reader.cmd(&["GET", "k"]), Frame::NullBulk);
    assert_eq!(bulk(&admin.cmd(&["CLIENT", "UNPAUSE"])), "OK");
    assert_eq!(bulk(&writer.read().expect("SET reply")), "OK");
    assert_eq!(bulk(&reader.cmd(&["GET", "k"])), "v");
}

#[test]
fn client_reply_off_and_skip() {
    let s = TestServer::start(&[]);
    let mut c = s.connect();
    c.send(&[b"CLIENT", b"REPLY", b"SKIP"]);
    c.send(&[b"PING", b"one"]);
    assert_eq!(bulk(&c.cmd(&["PING", "two"])), "two");
    c.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    c.send(&[b"PING", b"three"]);
    c.send(&[b"SET", b"k", b"v"]);
    assert_eq!(bulk(&c.cmd(&["CLIENT", "REPLY", "ON"])), "OK");
    assert_eq!(bulk(&c.cmd(&["GET", "k"])), "v");
    c.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    assert_eq!(bulk(&c.cmd(&["RESET"])), "RESET");
    assert_eq!(bulk(&c.cmd(&["PING"])), "PONG");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let s = TestServer::start(&[("timeout", "1")]);
    let mut c = s.connect();
    assert_eq!(bulk(&c.cmd(&["PING"])), "PONG");
    let start = std::time::Instant::now();
    assert!(c.is_closed());
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn requirepass_needs_auth() {
    let s = TestServer::start(&[("requirepass", "secret")]);
    let mut c = s.connect();
    assert_eq!(
        err(&c.cmd(&["GET", "k"])),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        err(&c.cmd(&["AUTH", "wrong"])),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(
        err(&c.cmd(&["HELLO", "3"])),
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
    );
    assert_eq!(bulk(&c.cmd(&["AUTH", "secret"])), "OK");
    assert_eq!(c.cmd(&["GET", "k"]), Frame::NullBulk);
    // RESET makes the connection unauthenticated again.
    assert_eq!(bulk(&c.cmd(&["RESET"])), "RESET");
    assert_eq!(
        err(&c.cmd(&["GET", "k"])),
        "NOAUTH Authentication required."
    );
    assert!(matches!(
        c.cmd(&["HELLO", "3", "AUTH", "default", "secret"]),
        Frame::Map(_)
    ));
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Null);
}

#[test]
fn debug_sleep_replies_after_sleeping_when_enabled() {
    let s = TestServer::start(&[("enable-debug-command", "yes")]);
    let mut c = s.connect();
    let start = std::time::Instant::now();
    assert_eq!(bulk(&c.cmd(&["DEBUG", "SLEEP", "0.2"])), "OK");
    assert!(start.elapsed() >= std::time::Duration::from_millis(200));
    assert!(err(&c.cmd(&["DEBUG", "FOO"])).starts_with(
        "ERR unknown subcommand or wrong number of arguments for 'FOO'. Try DEBUG HELP."
    ));
}

/// Waits up to three seconds for the busy poller to reach the wanted state.
fn poller_parked_within(s: &TestServer, parked: bool) -> bool {
    for _ in 0..300 {
        if s.server.busy_poll.is_parked() == parked {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

#[test]
fn busy_poller_parks_when_idle_and_a_request_wakes_it() {
    let s = TestServer::start(&[]);
    let mut c = s.connect();
    match c.cmd(&["CONFIG", "GET", "busy-poll-us"]) {
        Frame::Array(items) => assert_eq!(bulk(&items[1]), "50"),
        other => panic!("{other:?}"),
    }
    for _ in 0..100 {
        assert_eq!(bulk(&c.cmd(&["PING"])), "PONG");
    }
    // 50 µs after the last request (or at once on a CPU shared with busy threads) it parks.
    assert!(poller_parked_within(&s, true), "poller never parked");
    // The next request wakes it.
    let before = s.server.busy_poll.wakeups();
    assert_eq!(bulk(&c.cmd(&["PING"])), "PONG");
    assert!(
        s.server.busy_poll.wakeups() > before,
        "a request did not wake it"
    );
    assert!(poller_parked_within(&s, true));
    // Off: it parks again after each wake-up without spinning.
    assert_eq!(bulk(&c.cmd(&["CONFIG", "SET", "busy-poll-us", "0"])), "OK");
    for _ in 0..10 {
        assert_eq!(bulk(&c.cmd(&["PING"])), "PONG");
    }
    assert!(poller_parked_within(&s, true), "still spinning");
    assert!(matches!(
        c.cmd(&["CONFIG", "SET", "busy-poll-us", "-1"]),
        Frame::Error(_)
    ));
}
