//! Client-side caching across connections: invalidation pushes in default, NOLOOP, OPTIN and
//! BCAST modes, RESP2 redirection to a `__redis__:invalidate` subscriber, the null
//! invalidation of FLUSHALL, a broken redirection, and the tracking table limit.
//!
//! Absence of a message is checked by sending PING and seeing PONG as the next frame: a
//! message queued before it would arrive first.

mod common;

use common::{bulk, Conn, TestServer};
use protocol::Frame;

/// A message as strings: bulks as text, nested arrays as `[a,b]`, nulls as `nil`,
/// integers as `:n`.
fn show(f: &Frame) -> String {
    match f {
        Frame::Array(a) | Frame::Push(a) => {
            let parts: Vec<String> = a.iter().map(show).collect();
            format!("[{}]", parts.join(","))
        }
        Frame::Null | Frame::NullBulk | Frame::NullArray => "nil".into(),
        Frame::Integer(n) => format!(":{n}"),
        other => bulk(other),
    }
}

fn is_push(f: &Frame) -> bool {
    matches!(f, Frame::Push(_))
}

fn next(c: &mut Conn) -> String {
    show(&c.read().expect("frame"))
}

fn resp3(server: &TestServer) -> Conn {
    let mut c = server.connect();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
    c
}

fn ok(c: &mut Conn, args: &[&str]) {
    assert_eq!(show(&c.cmd(args)), "OK", "{args:?}");
}

/// Asserts nothing was pushed to `c`: its next frame is PING's reply.
fn quiet(c: &mut Conn) {
    assert_eq!(next_after_ping(c), "PONG");
}

fn next_after_ping(c: &mut Conn) -> String {
    c.send(&[b"PING"]);
    next(c)
}

#[test]
fn default_mode_invalidates_keys_read_once() {
    let server = TestServer::start(&[]);
    let mut a = resp3(&server);
    let mut b = server.connect();
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    ok(&mut b, &["SET", "k", "1"]);
    assert_eq!(show(&a.cmd(&["GET", "k"])), "1");
    quiet(&mut a);
    ok(&mut b, &["SET", "k", "2"]);
    let push = a.read().expect("push");
    assert!(is_push(&push));
    assert_eq!(show(&push), "[invalidate,[k]]");
    // The key was forgotten: a second write sends nothing until it is read again.
    ok(&mut b, &["SET", "k", "3"]);
    quiet(&mut a);
    // A key never read is not tracked.
    ok(&mut b, &["SET", "other", "1"]);
    quiet(&mut a);
    // Several keys read by one command; a deletion invalidates too.
    a.cmd(&["MGET", "k", "x"]);
    // Deleting a missing key changes nothing, so `x` stays tracked.
    assert_eq!(show(&b.cmd(&["DEL", "k", "x"])), ":1");
    assert_eq!(next(&mut a), "[invalidate,[k]]");
    quiet(&mut a);
    ok(&mut b, &["SET", "x", "1"]);
    assert_eq!(next(&mut a), "[invalidate,[x]]");
    // The client's own write reaches it after the write's reply.
    a.cmd(&["GET", "own"]);
    assert_eq!(show(&a.cmd(&["SET", "own", "v"])), "OK");
    assert_eq!(next(&mut a), "[invalidate,[own]]");
    // Setting a TTL is a change; the key expiring is another.
    a.cmd(&["GET", "own"]);
    assert_eq!(show(&b.cmd(&["PEXPIRE", "own", "10"])), ":1");
    assert_eq!(next(&mut a), "[invalidate,[own]]");
    assert_eq!(show(&a.cmd(&["GET", "own"])), "v");
    server.clock.advance(20);
    assert_eq!(show(&b.cmd(&["GET", "own"])), "nil");
    assert_eq!(next(&mut a), "[invalidate,[own]]");
    // Off: nothing more.
    a.cmd(&["GET", "k"]);
    ok(&mut a, &["CLIENT", "TRACKING", "OFF"]);
    ok(&mut b, &["SET", "k", "4"]);
    quiet(&mut a);
}

#[test]
fn noloop_skips_the_writers_own_changes() {
    let server = TestServer::start(&[]);
    let mut a = resp3(&server);
    let mut b = server.connect();
    ok(&mut a, &["CLIENT", "TRACKING", "ON", "NOLOOP"]);
    a.cmd(&["GET", "k"]);
    ok(&mut a, &["SET", "k", "mine"]);
    quiet(&mut a);
    a.cmd(&["GET", "k"]);
    ok(&mut b, &["SET", "k", "theirs"]);
    assert_eq!(next(&mut a), "[invalidate,[k]]");
}

#[test]
fn optin_tracks_only_after_caching_yes() {
    let server = TestServer::start(&[]);
    let mut a = resp3(&server);
    let mut b = server.connect();
    ok(&mut a, &["CLIENT", "TRACKING", "ON", "OPTIN"]);
    a.cmd(&["GET", "plain"]);
    ok(&mut a, &["CLIENT", "CACHING", "YES"]);
    a.cmd(&["GET", "cached"]);
    // CACHING YES applied to one command only.
    a.cmd(&["GET", "after"]);
    ok(&mut b, &["MSET", "plain", "1", "cached", "1", "after", "1"]);
    assert_eq!(next(&mut a), "[invalidate,[cached]]");
    quiet(&mut a);

    // OPTOUT: everything but the command after CACHING NO.
    let mut c = resp3(&server);
    ok(&mut c, &["CLIENT", "TRACKING", "ON", "OPTOUT"]);
    ok(&mut c, &["CLIENT", "CACHING", "NO"]);
    c.cmd(&["GET", "skipped"]);
    c.cmd(&["GET", "kept"]);
    ok(&mut b, &["MSET", "skipped", "1", "kept", "1"]);
    assert_eq!(next(&mut c), "[invalidate,[kept]]");
    quiet(&mut c);
}

#[test]
fn bcast_sends_every_key_under_a_prefix_in_one_message() {
    let server = TestServer::start(&[]);
    let mut a = resp3(&server);
    let mut b = server.connect();
    ok(
        &mut a,
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "cart:",
        ],
    );
    ok(
        &mut b,
        &[
            "MSET", "user:2", "x", "item:1", "y", "user:1", "z", "cart:9", "w",
        ],
    );
    // One message per prefix, keys in order; item:1 matches no prefix.
    let mut got = vec![next(&mut a), next(&mut a)];
    got.sort();
    assert_eq!(
        got,
        vec!["[invalidate,[cart:9]]", "[invalidate,[user:1,user:2]]"]
    );
    quiet(&mut a);
    // BCAST needs no read; every write counts, and NOLOOP drops the client's own keys.
    let mut n = resp3(&server);
    ok(&mut n, &["CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"]);
    ok(&mut n, &["SET", "mine", "1"]);
    quiet(&mut n);
    ok(&mut b, &["SET", "theirs", "1"]);
    assert_eq!(next(&mut n), "[invalidate,[theirs]]");
    // `theirs` matches none of the first client's prefixes.
    quiet(&mut a);
}

#[test]
fn resp2_redirect_to_an_invalidate_subscriber() {
    let server = TestServer::start(&[]);
    let mut sub = server.connect();
    let sub_id = match sub.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        show(&sub.cmd(&["SUBSCRIBE", "__redis__:invalidate"])),
        "[subscribe,__redis__:invalidate,:1]"
    );
    let mut a = server.connect();
    let mut b = server.connect();
    ok(
        &mut a,
        &["CLIENT", "TRACKING", "ON", "REDIRECT", &sub_id.to_string()],
    );
    assert_eq!(show(&a.cmd(&["CLIENT", "GETREDIR"])), format!(":{sub_id}"));
    a.cmd(&["GET", "k"]);
    ok(&mut b, &["SET", "k", "1"]);
    assert_eq!(next(&mut sub), "[message,__redis__:invalidate,[k]]");
    // FLUSHALL: a null invalidation means every key.
    ok(&mut b, &["FLUSHALL"]);
    assert_eq!(next(&mut sub), "[message,__redis__:invalidate,nil]");
    // The subscriber leaves: the redirection is broken.
    drop(sub);
    let mut probe = server.connect();
    loop {
        // Wait (without sleeping) until the server has seen the disconnection.
        let list = bulk(&probe.cmd(&["CLIENT", "LIST"]));
        if !list.contains(&format!("id={sub_id} ")) {
            break;
        }
    }
    a.cmd(&["GET", "k"]);
    ok(&mut b, &["SET", "k", "2"]);
    let info = show(&a.cmd(&["CLIENT", "TRACKINGINFO"]));
    assert!(info.contains("broken_redirect"), "{info}");
}

#[test]
fn resp3_redirect_target_gets_pushes_and_broken_redirect_is_reported() {
    let server = TestServer::start(&[]);
    let mut target = resp3(&server);
    let tid = match target.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    // As Redis: a RESP3 target gets the push without subscribing to anything.
    let mut a = resp3(&server);
    let mut b = server.connect();
    ok(
        &mut a,
        &["CLIENT", "TRACKING", "ON", "REDIRECT", &tid.to_string()],
    );
    a.cmd(&["GET", "k"]);
    ok(&mut b, &["SET", "k", "1"]);
    assert_eq!(next(&mut target), "[invalidate,[k]]");
    quiet(&mut a);
    drop(target);
    let mut probe = server.connect();
    while bulk(&probe.cmd(&["CLIENT", "LIST"])).contains(&format!("id={tid} ")) {}
    a.cmd(&["GET", "k"]);
    ok(&mut b, &["SET", "k", "2"]);
    assert_eq!(next(&mut a), format!("[tracking-redir-broken,:{tid}]"));
}

#[test]
fn flushall_sends_a_null_invalidation_to_every_tracking_client() {
    let server = TestServer::start(&[]);
    let mut a = resp3(&server);
    let mut bc = resp3(&server);
    let mut b = server.connect();
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    ok(&mut bc, &["CLIENT", "TRACKING", "ON", "BCAST"]);
    a.cmd(&["GET", "k"]);
    ok(&mut b, &["FLUSHALL"]);
    assert_eq!(next(&mut a), "[invalidate,nil]");
    assert_eq!(next(&mut bc), "[invalidate,nil]");
    // The table was emptied.
    ok(&mut b, &["SET", "k", "1"]);
    quiet(&mut a);
    ok(&mut b, &["FLUSHDB"]);
    assert_eq!(next(&mut a), "[invalidate,nil]");
}

#[test]
fn table_limit_evicts_keys_with_an_invalidation() {
    let server = TestServer::start(&[]);
    let mut a = resp3(&server);
    ok(&mut a, &["CONFIG", "SET", "tracking-table-max-keys", "2"]);
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    a.cmd(&["MGET", "k1", "k2"]);
    quiet(&mut a);
    assert_eq!(server.server.tracking.totals().0, 2);
    // A third key pushes an older one out of the table, with its invalidation.
    assert_eq!(show(&a.cmd(&["GET", "k3"])), "nil");
    let evicted = next(&mut a);
    assert!(
        evicted == "[invalidate,[k1]]" || evicted == "[invalidate,[k2]]",
        "{evicted}"
    );
    assert_eq!(server.server.tracking.totals().0, 2);
    quiet(&mut a);
}

#[test]
fn disconnecting_clients_leave_no_tracking_state() {
    let server = TestServer::start(&[]);
    let mut a = resp3(&server);
    ok(
        &mut a,
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p"],
    );
    assert_eq!(server.server.tracking.clients(), 1);
    let id = match a.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    drop(a);
    let mut probe = server.connect();
    while bulk(&probe.cmd(&["CLIENT", "LIST"])).contains(&format!("id={id} ")) {}
    // The connection task frees the client's state right after leaving CLIENT LIST.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.server.tracking.clients() != 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(server.server.tracking.clients(), 0);
    assert_eq!(server.server.tracking.totals().2, 0);
}
