//! Scripts and functions under bad input and concurrency: a script that never ends (BUSY
//! to other clients past `busy-reply-threshold`, SCRIPT KILL / FUNCTION KILL end it), one
//! that raises, one that returns values Redis cannot send, a malformed library, keys the
//! script did not declare, and atomicity against another client.

mod common;

use common::{bulk, Conn, TestServer};
use protocol::Frame;

const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

fn err(f: &Frame) -> String {
    match f {
        Frame::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("not an error: {other:?}"),
    }
}

/// Pings until the server answers BUSY (the script has run past the threshold).
fn wait_busy(b: &mut Conn) -> String {
    for _ in 0..10_000 {
        match b.cmd(&["PING"]) {
            Frame::Error(e) => return String::from_utf8_lossy(&e).into_owned(),
            Frame::Simple(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("the script never became busy");
}

#[test]
fn endless_script_gets_busy_and_script_kill_ends_it() {
    let ts = TestServer::start(&[("busy-reply-threshold", "50")]);
    let mut a = ts.connect();
    let mut b = ts.connect();
    a.send(&[b"EVAL", b"local i = 0 while true do i = i + 1 end", b"0"]);
    assert_eq!(wait_busy(&mut b), BUSY_EVAL);
    assert_eq!(err(&b.cmd(&["GET", "x"])), BUSY_EVAL);
    assert_eq!(err(&b.cmd(&["FUNCTION", "KILL"])), BUSY_EVAL);
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    let reply = err(&a.read().expect("eval reply"));
    assert!(
        reply.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
        "{reply}"
    );
    assert_eq!(b.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(a.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(
        err(&b.cmd(&["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
}

/// Each server has its own script state: two servers of one process run endless scripts
/// at once, and SCRIPT KILL on one leaves the other's script running.
#[test]
fn servers_in_one_process_run_and_kill_scripts_independently() {
    let one = TestServer::start(&[("busy-reply-threshold", "20")]);
    let two = TestServer::start(&[("busy-reply-threshold", "20")]);
    let (mut a1, mut b1) = (one.connect(), one.connect());
    let (mut a2, mut b2) = (two.connect(), two.connect());
    let spin: &[u8] = b"while true do end";
    a1.send(&[b"EVAL", spin, b"0"]);
    assert_eq!(wait_busy(&mut b1), BUSY_EVAL);
    a2.send(&[b"EVAL", spin, b"0"]);
    assert_eq!(wait_busy(&mut b2), BUSY_EVAL);
    assert_eq!(b1.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    assert!(err(&a1.read().expect("reply")).starts_with("ERR Script killed by user"));
    assert_eq!(b1.cmd(&["SET", "k", "1"]), Frame::Simple("OK".into()));
    // The other server's script still runs, and a new one starts beside it.
    assert_eq!(err(&b2.cmd(&["GET", "k"])), BUSY_EVAL);
    a1.send(&[b"EVAL", spin, b"0"]);
    assert_eq!(wait_busy(&mut b1), BUSY_EVAL);
    assert_eq!(b2.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    assert!(err(&a2.read().expect("reply")).starts_with("ERR Script killed by user"));
    assert_eq!(b2.cmd(&["GET", "k"]), Frame::NullBulk);
    assert_eq!(err(&b1.cmd(&["GET", "k"])), BUSY_EVAL);
    assert_eq!(b1.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    assert!(err(&a1.read().expect("reply")).starts_with("ERR Script killed by user"));
    assert_eq!(bulk(&b1.cmd(&["GET", "k"])), "1");
}

#[test]
fn pcall_cannot_swallow_script_kill() {
    let ts = TestServer::start(&[("busy-reply-threshold", "20")]);
    let mut a = ts.connect();
    let mut b = ts.connect();
    a.send(&[
        b"EVAL",
        b"while true do pcall(function() while true do end end) end",
        b"0",
    ]);
    assert_eq!(wait_busy(&mut b), BUSY_EVAL);
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    assert!(err(&a.read().expect("reply")).starts_with("ERR Script killed by user"));
}

#[test]
fn script_that_wrote_is_unkillable_until_shutdown_nosave() {
    let ts = TestServer::start(&[("busy-reply-threshold", "20")]);
    let mut a = ts.connect();
    let mut b = ts.connect();
    a.send(&[
        b"EVAL",
        b"redis.call('set', 'w', 1) while true do end",
        b"0",
    ]);
    let busy = wait_busy(&mut b);
    assert_eq!(busy, BUSY_EVAL);
    assert!(err(&b.cmd(&["SCRIPT", "KILL"]))
        .starts_with("UNKILLABLE Sorry the script already executed write commands"));
    // Regression: SHUTDOWN without NOSAVE waited for the script forever; Redis answers BUSY.
    assert_eq!(err(&b.cmd(&["SHUTDOWN"])), BUSY_EVAL);
    assert_eq!(err(&b.cmd(&["SHUTDOWN", "SAVE"])), BUSY_EVAL);
    b.send(&[b"SHUTDOWN", b"NOSAVE"]);
    // The script dies and the server shuts down: both connections end.
    let _ = a.read();
    assert!(b.is_closed());
}

#[test]
fn endless_function_gets_busy_and_function_kill_ends_it() {
    let ts = TestServer::start(&[("busy-reply-threshold", "50")]);
    let mut a = ts.connect();
    let mut b = ts.connect();
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(bulk(&a.cmd(&["FUNCTION", "LOAD", lib])), "spin");
    a.send(&[b"FCALL", b"spin", b"0"]);
    assert_eq!(wait_busy(&mut b), BUSY_FUNCTION);
    assert_eq!(err(&b.cmd(&["SCRIPT", "KILL"])), BUSY_FUNCTION);
    match b.cmd(&["FUNCTION", "STATS"]) {
        Frame::Array(items) => assert_eq!(bulk(&items[0]), "running_script"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(b.cmd(&["FUNCTION", "KILL"]), Frame::Simple("OK".into()));
    assert!(err(&a.read().expect("reply")).starts_with("ERR Script killed by user"));
    assert_eq!(b.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn raising_and_odd_returns_leave_the_server_responsive() {
    let ts = TestServer::start(&[]);
    let mut c = ts.connect();
    let e = err(&c.cmd(&["EVAL", "error('boom')", "0"]));
    assert!(e.starts_with("ERR user_script:1: boom script: "), "{e}");
    // Functions, coroutines and userdata have no RESP form: nil, as in Redis.
    assert_eq!(
        c.cmd(&["EVAL", "return coroutine.create(function() end)", "0"]),
        Frame::NullBulk
    );
    assert_eq!(
        c.cmd(&["EVAL", "return {1, function() end, 3}", "0"]),
        Frame::Array(vec![Frame::Integer(1), Frame::NullBulk, Frame::Integer(3)])
    );
    // A table that contains itself is cut off instead of recursing forever.
    let r = c.cmd(&["EVAL", "local t = {1} t[2] = t return t", "0"]);
    assert!(matches!(r, Frame::Array(_)), "{r:?}");
    let e = err(&c.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=bad\nredis.register_function('f')",
    ]));
    assert!(e.starts_with("ERR Error registering functions: "), "{e}");
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn undeclared_keys_are_reachable() {
    let ts = TestServer::start(&[]);
    let mut c = ts.connect();
    c.cmd(&["SET", "hidden", "41"]);
    assert_eq!(
        c.cmd(&["EVAL", "return redis.call('incr', 'hidden')", "0"]),
        Frame::Integer(42)
    );
}

#[test]
fn scripts_are_atomic_against_other_clients() {
    let ts = TestServer::start(&[]);
    let mut a = ts.connect();
    let mut b = ts.connect();
    let script =
        "for i = 1, 20000 do redis.call('incr', 'x') end redis.call('set', 'done', 1) return 1";
    a.send(&[b"EVAL", script.as_bytes(), b"0"]);
    // Every read sees the counter before the script or after it, never in between.
    loop {
        let x = b.cmd(&["GET", "x"]);
        match &x {
            Frame::NullBulk => continue,
            Frame::Bulk(v) => {
                assert_eq!(&v[..], b"20000");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(a.read(), Some(Frame::Integer(1)));
}
