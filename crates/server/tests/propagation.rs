//! The effect stream that the append-only file and replicas receive: what each kind of
//! command logs, in Redis's form.

mod common;

use std::sync::Arc;

use commands::propagate::Sink;
use common::TestServer;
use parking_lot::Mutex;
use protocol::{parse_frame, Frame};

#[derive(Default)]
struct Collect(Mutex<Vec<u8>>);

impl Sink for Collect {
    fn feed(&self, bytes: &[u8]) {
        self.0.lock().extend_from_slice(bytes);
    }
}

impl Collect {
    /// The commands logged so far, each as its words joined by spaces.
    fn take(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.0.lock());
        let mut buf = &bytes[..];
        let mut out = Vec::new();
        while let Ok(Some((frame, used))) = parse_frame(buf) {
            buf = &buf[used..];
            let Frame::Array(items) = frame else {
                panic!("not a command: {frame:?}")
            };
            let words: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("not a bulk: {other:?}"),
                })
                .collect();
            out.push(words.join(" "));
        }
        assert!(buf.is_empty(), "partial command logged");
        out
    }

    /// Waits (up to 10 s) for something to be logged outside any command (the cron), and
    /// takes it.
    fn wait_for_entries(&self) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = self.take();
            if !log.is_empty() || std::time::Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn setup() -> (TestServer, Arc<Collect>) {
    let t = TestServer::start(&[]);
    let sink = Arc::new(Collect::default());
    t.server.propagation.attach(sink.clone());
    (t, sink)
}

#[test]
fn writes_are_logged_with_select_and_reads_are_not() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["GET", "a"]);
    c.cmd(&["INCR", "a"]);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["LPUSH", "l", "x", "y"]);
    c.cmd(&["LPOP", "missing"]);
    c.cmd(&["SET", "b", "2", "NX"]);
    c.cmd(&["SET", "b", "3", "NX"]);
    assert_eq!(
        sink.take(),
        [
            "SELECT 0",
            "SET a 1",
            "INCR a",
            "SELECT 3",
            "LPUSH l x y",
            "SET b 2 NX"
        ]
    );
}

#[test]
fn relative_expiry_is_logged_as_absolute() {
    let (t, sink) = setup();
    let mut c = t.connect();
    let now = 1_700_000_000_000u64;
    c.cmd(&["SET", "a", "1", "EX", "10"]);
    c.cmd(&["EXPIRE", "a", "100"]);
    c.cmd(&["SETEX", "b", "5", "v"]);
    c.cmd(&["EXPIRE", "missing", "100"]);
    assert_eq!(
        sink.take(),
        [
            "SELECT 0".to_string(),
            format!("SET a 1 PXAT {}", now + 10_000),
            format!("PEXPIREAT a {}", now + 100_000),
            format!("SET b v PXAT {}", now + 5_000),
        ]
    );
}

#[test]
fn transactions_and_scripts_log_their_effects_in_multi() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["GET", "a"]);
    c.cmd(&["INCR", "a"]);
    c.cmd(&["EXEC"]);
    c.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'v'); redis.call('get', KEYS[1]); return redis.call('incr', 'n')",
        "1",
        "k",
    ]);
    // One write alone needs no MULTI.
    c.cmd(&["EVAL", "return redis.call('del', 'k')", "0"]);
    c.cmd(&["EVAL", "return redis.call('get', 'k')", "0"]);
    assert_eq!(
        sink.take(),
        [
            "SELECT 0", "MULTI", "SET a 1", "INCR a", "EXEC", "MULTI", "set k v", "incr n", "EXEC",
            "del k"
        ]
    );
}

#[test]
fn expired_keys_are_logged_as_del() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["SET", "a", "1", "PX", "100"]);
    t.clock.advance(200);
    assert_eq!(c.cmd(&["GET", "a"]), Frame::NullBulk);
    let log = sink.take();
    assert_eq!(log[2], "DEL a", "{log:?}");
    assert_eq!(log.len(), 3, "{log:?}");
}

#[test]
fn hash_fields_removed_by_their_ttl_are_logged_as_hdel() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    c.cmd(&["HPEXPIRE", "h", "100", "FIELDS", "2", "a", "b"]);
    sink.take();
    t.clock.advance(200);
    // The read that finds them due (or the cron, first) removes them; either way they are
    // logged as HDEL, and the read is not logged.
    assert_eq!(c.cmd(&["HGET", "h", "a"]), Frame::NullBulk);
    let mut log = sink.take();
    log.sort();
    assert_eq!(log, ["HDEL h a", "HDEL h b"]);
    // The last field goes with the hash: HDEL alone deletes it on the replica too.
    c.cmd(&["HPEXPIRE", "h", "100", "FIELDS", "1", "c"]);
    sink.take();
    t.clock.advance(200);
    assert_eq!(c.cmd(&["HLEN", "h"]), Frame::Integer(0));
    assert_eq!(sink.take(), ["HDEL h c"]);
    // A hash nobody touches: the cron's sweep removes and logs the field.
    c.cmd(&["HSET", "idle", "x", "1", "y", "2"]);
    c.cmd(&["HPEXPIRE", "idle", "100", "FIELDS", "1", "x"]);
    sink.take();
    t.clock.advance(200);
    assert_eq!(sink.wait_for_entries(), ["HDEL idle x"]);
    // While a writer holds the order lock the sweep logs nothing; it goes on once free.
    c.cmd(&["HPEXPIRE", "idle", "100", "FIELDS", "1", "y"]);
    sink.take();
    let order = t.server.propagation.order();
    t.clock.advance(200);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sink.take(), Vec::<String>::new());
    drop(order);
    assert_eq!(sink.wait_for_entries(), ["HDEL idle y"]);
}

#[test]
fn flush_and_swap_are_logged() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SWAPDB", "0", "1"]);
    c.cmd(&["FLUSHALL"]);
    c.cmd(&["FLUSHALL"]);
    let log = sink.take();
    assert_eq!(log[1..], ["SET a 1", "SWAPDB 0 1", "FLUSHALL", "FLUSHALL"]);
    let dyn_sink: Arc<dyn Sink> = sink.clone();
    t.server.propagation.detach(&dyn_sink);
    c.cmd(&["SET", "a", "1"]);
    assert!(sink.take().is_empty());
}

/// A bulk or simple reply's text.
fn text(f: &Frame) -> String {
    common::bulk(f)
}

#[test]
fn spop_logs_the_members_it_removed() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["SADD", "s", "a", "b", "c", "d"]);
    let one = text(&c.cmd(&["SPOP", "s"]));
    let Frame::Array(two) = c.cmd(&["SPOP", "s", "2"]) else {
        panic!("SPOP with a count")
    };
    let two: Vec<String> = two.iter().map(text).collect();
    c.cmd(&["SRANDMEMBER", "s"]);
    c.cmd(&["SPOP", "s", "10"]);
    c.cmd(&["SPOP", "s"]);
    let log = sink.take();
    assert_eq!(log[2], format!("SREM s {one}"));
    assert_eq!(log[3], format!("SREM s {}", two.join(" ")));
    assert_eq!(log[4], "DEL s");
    assert_eq!(log.len(), 5, "{log:?}");
}

#[test]
fn blocking_pops_served_at_once_log_plain_pops() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["RPUSH", "l", "a", "b", "c", "d"]);
    c.cmd(&["BLPOP", "missing", "l", "0"]);
    c.cmd(&["BRPOP", "l", "0"]);
    c.cmd(&["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "5"]);
    c.cmd(&["RPUSH", "src", "x", "y"]);
    c.cmd(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    c.cmd(&["BRPOPLPUSH", "src", "dst", "0"]);
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    c.cmd(&["BZPOPMIN", "z", "0"]);
    c.cmd(&["BZMPOP", "0", "1", "z", "MAX", "COUNT", "10"]);
    c.cmd(&["ZADD", "z", "1", "a"]);
    c.cmd(&["ZMPOP", "1", "z", "MIN"]);
    assert_eq!(
        sink.take()[1..],
        [
            "RPUSH l a b c d",
            "LPOP l",
            "RPOP l",
            "LPOP l 2",
            "RPUSH src x y",
            "LMOVE src dst LEFT RIGHT",
            "RPOPLPUSH src dst",
            "ZADD z 1 a 2 b 3 c",
            "ZPOPMIN z 1",
            "ZPOPMAX z 2",
            "ZADD z 1 a",
            "ZPOPMIN z 1",
        ]
    );
}

#[test]
fn blocked_pops_log_the_pop_after_the_push_that_served_them() {
    let (t, sink) = setup();
    let mut waiter = t.connect();
    let mut mover = t.connect();
    let mut pusher = t.connect();
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    mover.send(&[b"BLMOVE", b"q2", b"dst", b"RIGHT", b"LEFT", b"0"]);
    // Wait until both are registered as blocked.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text(&pusher.cmd(&["INFO", "clients"])).contains("blocked_clients:2") {
        assert!(
            std::time::Instant::now() < deadline,
            "clients did not block"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // Nothing is logged for a command that blocked.
    assert!(sink.take().is_empty());
    pusher.cmd(&["RPUSH", "q", "x"]);
    assert_eq!(
        waiter.read(),
        Some(Frame::Array(vec![
            Frame::Bulk("q".into()),
            Frame::Bulk("x".into())
        ]))
    );
    pusher.cmd(&["RPUSH", "q2", "y"]);
    assert_eq!(mover.read(), Some(Frame::Bulk("y".into())));
    assert_eq!(
        sink.take(),
        [
            "SELECT 0",
            "RPUSH q x",
            "LPOP q",
            "RPUSH q2 y",
            "LMOVE q2 dst RIGHT LEFT"
        ]
    );
}

#[test]
fn xadd_logs_the_id_it_chose_and_exact_trims() {
    let (t, sink) = setup();
    let mut c = t.connect();
    let id1 = text(&c.cmd(&["XADD", "s", "*", "f", "v"]));
    let id2 = text(&c.cmd(&["XADD", "s", "1700000000000-*", "f", "v"]));
    c.cmd(&["XADD", "s", "1700000000001-1", "f", "v"]);
    let id4 = text(&c.cmd(&[
        "XADD",
        "s",
        "NOMKSTREAM",
        "MAXLEN",
        "~",
        "1",
        "LIMIT",
        "10",
        "*",
        "g",
        "w",
    ]));
    c.cmd(&["XADD", "s", "MAXLEN", "2", "*", "h", "x"]);
    c.cmd(&["XTRIM", "s", "MINID", "~", "0"]);
    let log = sink.take();
    assert_eq!(id1, "1700000000000-0");
    assert_eq!(log[1], format!("XADD s {id1} f v"));
    assert_eq!(log[2], format!("XADD s {id2} f v"));
    assert_eq!(id2, "1700000000000-1");
    assert_eq!(log[3], "XADD s 1700000000001-1 f v");
    let len = match c.cmd(&["XLEN", "s"]) {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    assert!(log[4].starts_with("XADD s NOMKSTREAM MAXLEN = "), "{log:?}");
    assert!(log[4].ends_with(&format!(" {id4} g w")), "{log:?}");
    assert!(
        log[5].starts_with("XADD s MAXLEN 2 1700000000001-"),
        "{log:?}"
    );
    assert_eq!(len, 2);
    // An approximate trim that removed nothing is not a write.
    assert_eq!(log.len(), 6, "{log:?}");
}

#[test]
fn consumer_group_reads_and_claims_log_idempotent_xclaims() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["XADD", "s", "1-1", "f", "v"]);
    c.cmd(&["XADD", "s", "2-1", "f", "v"]);
    c.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
    sink.take();
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ]);
    let now = 1_700_000_000_000u64;
    assert_eq!(
        sink.take(),
        [
            "MULTI".to_string(),
            "XGROUP CREATECONSUMER s g alice".to_string(),
            format!("XCLAIM s g alice 0 1-1 TIME {now} RETRYCOUNT 1 FORCE JUSTID LASTID 1-1"),
            "XGROUP SETID s g 1-1 ENTRIESREAD 1".to_string(),
            "EXEC".to_string(),
        ]
    );
    // Reading the consumer's history counts a delivery but is not propagated (as Redis).
    c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]);
    assert!(sink.take().is_empty());
    // NOACK: nothing pending, only the group's new position.
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ]);
    assert_eq!(sink.take(), ["XGROUP SETID s g 2-1 ENTRIESREAD 2"]);
    t.clock.advance(100);
    c.cmd(&["XCLAIM", "s", "g", "bob", "10", "1-1"]);
    assert_eq!(
        sink.take(),
        [format!(
            "XCLAIM s g bob 0 1-1 TIME {} RETRYCOUNT 3 FORCE JUSTID LASTID 2-1",
            now + 100
        )]
    );
    c.cmd(&["XAUTOCLAIM", "s", "g", "carol", "0", "0", "JUSTID"]);
    assert_eq!(
        sink.take(),
        [format!(
            "XCLAIM s g carol 0 1-1 TIME {} RETRYCOUNT 3 FORCE JUSTID LASTID 2-1",
            now + 100
        )]
    );
    c.cmd(&["XACK", "s", "g", "1-1"]);
    c.cmd(&["XACK", "s", "g", "1-1"]);
    assert_eq!(sink.take(), ["XACK s g 1-1"]);
}

#[test]
fn float_increments_log_their_result() {
    let (t, sink) = setup();
    let mut c = t.connect();
    c.cmd(&["SET", "f", "0.1", "PX", "100000"]);
    c.cmd(&["INCRBYFLOAT", "f", "0.2"]);
    c.cmd(&["HINCRBYFLOAT", "h", "x", "1.5"]);
    c.cmd(&["HINCRBYFLOAT", "h", "x", "1e1"]);
    let log = sink.take();
    assert_eq!(
        log[2..],
        ["SET f 0.3 KEEPTTL", "HSET h x 1.5", "HSET h x 11.5"],
        "{log:?}"
    );
}
