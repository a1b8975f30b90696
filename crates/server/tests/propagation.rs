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
            "SELECT 0", "MULTI", "SET a 1", "INCR a", "EXEC", "MULTI", "set k v", "incr n",
            "EXEC", "del k"
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
