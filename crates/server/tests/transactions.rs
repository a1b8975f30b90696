//! Transactions across clients: WATCH fails EXEC when another client changes a watched key
//! (writes, expiry, FLUSHALL, SWAPDB, RENAME), watches vanish with EXEC, RESET and
//! disconnection, an EXEC wakes the clients blocked on keys it fed, and concurrent
//! MULTI/EXEC blocks on overlapping keys are serializable (checked against a sequential
//! model).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Conn, TestServer};
use proptest::prelude::*;
use protocol::Frame;

fn ok() -> Frame {
    Frame::Simple("OK".into())
}

fn queued() -> Frame {
    Frame::Simple("QUEUED".into())
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec().into())
}

fn is_nil(f: &Frame) -> bool {
    matches!(f, Frame::Null | Frame::NullArray | Frame::NullBulk)
}

/// WATCH `key` on `a`, let `change` run on `b`, then MULTI / GET key / EXEC on `a`.
fn exec_after(s: &TestServer, setup: &[&[&str]], key: &str, change: &[&[&str]]) -> Frame {
    let mut a = s.connect();
    let mut b = s.connect();
    for cmd in setup {
        b.cmd(cmd);
    }
    assert_eq!(a.cmd(&["WATCH", key]), ok());
    for cmd in change {
        b.cmd(cmd);
    }
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["GET", key]), queued());
    a.cmd(&["EXEC"])
}

#[test]
fn a_write_from_another_client_fails_exec() {
    let s = TestServer::start(&[]);
    let r = exec_after(&s, &[&["SET", "k", "1"]], "k", &[&["SET", "k", "2"]]);
    assert!(is_nil(&r), "{r:?}");
    let r = exec_after(&s, &[&["SET", "k", "1"]], "k", &[&["INCR", "k"]]);
    assert!(is_nil(&r), "{r:?}");
    // A write to another key, or to the same name in another database, does not.
    let r = exec_after(&s, &[&["SET", "k", "1"]], "k", &[&["SET", "other", "2"]]);
    assert_eq!(r, Frame::Array(vec![bulk("1")]));
    let r = exec_after(
        &s,
        &[&["SET", "k", "1"]],
        "k",
        &[&["SELECT", "3"], &["SET", "k", "x"]],
    );
    assert_eq!(r, Frame::Array(vec![bulk("1")]));
}

#[test]
fn a_null_exec_is_a_null_array_in_resp2() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let mut b = s.connect();
    a.cmd(&["WATCH", "k"]);
    b.cmd(&["SET", "k", "v"]);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::NullArray);
    a.cmd(&["HELLO", "3"]);
    a.cmd(&["WATCH", "k"]);
    b.cmd(&["SET", "k", "w"]);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::Null);
}

#[test]
fn expiry_of_a_watched_key_fails_exec_even_untouched() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    a.cmd(&["SET", "k", "v", "PX", "100"]);
    a.cmd(&["WATCH", "k"]);
    s.clock.advance(150);
    a.cmd(&["MULTI"]);
    assert!(is_nil(&a.cmd(&["EXEC"])));
    // Reclaimed by another client's read in between: the same.
    a.cmd(&["SET", "k", "v", "PX", "100"]);
    a.cmd(&["WATCH", "k"]);
    s.clock.advance(150);
    let mut b = s.connect();
    assert!(is_nil(&b.cmd(&["GET", "k"])));
    a.cmd(&["MULTI"]);
    assert!(is_nil(&a.cmd(&["EXEC"])));
    // Not yet expired at EXEC: fine.
    a.cmd(&["SET", "k", "v", "PX", "100"]);
    a.cmd(&["WATCH", "k"]);
    s.clock.advance(50);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::Array(vec![]));
}

#[test]
fn flushall_swapdb_and_rename_from_another_client_fail_exec() {
    let s = TestServer::start(&[]);
    let r = exec_after(&s, &[&["SET", "k", "1"]], "k", &[&["FLUSHALL"]]);
    assert!(is_nil(&r), "{r:?}");
    let r = exec_after(&s, &[&["SET", "k", "1"]], "k", &[&["FLUSHDB"]]);
    assert!(is_nil(&r), "{r:?}");
    // Nothing to flush: no change.
    let r = exec_after(&s, &[&["FLUSHALL"]], "k", &[&["FLUSHALL"]]);
    assert_eq!(r, Frame::Array(vec![Frame::NullBulk]));
    let r = exec_after(&s, &[&["SET", "k", "1"]], "k", &[&["SWAPDB", "0", "5"]]);
    assert!(is_nil(&r), "{r:?}");
    // The key only in the other database.
    let r = exec_after(
        &s,
        &[&["FLUSHALL"], &["SELECT", "5"], &["SET", "k", "in5"]],
        "k",
        &[&["SWAPDB", "0", "5"]],
    );
    assert!(is_nil(&r), "{r:?}");
    // In neither.
    let r = exec_after(&s, &[&["FLUSHALL"]], "k", &[&["SWAPDB", "0", "5"]]);
    assert_eq!(r, Frame::Array(vec![Frame::NullBulk]));
    let r = exec_after(
        &s,
        &[&["FLUSHALL"], &["SET", "src", "v"]],
        "k",
        &[&["RENAME", "src", "k"]],
    );
    assert!(is_nil(&r), "{r:?}");
}

/// Polls until the server's WATCH registry holds `n` watches.
fn until_watches(s: &TestServer, n: usize) {
    let start = Instant::now();
    while s.server.watches.watches() != n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "registry still holds {} watches",
            s.server.watches.watches()
        );
        std::thread::yield_now();
    }
}

#[test]
fn watches_are_forgotten_by_exec_discard_unwatch_reset_and_disconnection() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let keys: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
    let mut watch: Vec<&str> = vec!["WATCH"];
    watch.extend(keys.iter().map(String::as_str));
    assert_eq!(a.cmd(&watch), ok());
    assert_eq!(s.server.watches.watches(), 1000);
    a.cmd(&["MULTI"]);
    a.cmd(&["EXEC"]);
    assert_eq!(s.server.watches.watches(), 0);

    a.cmd(&watch);
    a.cmd(&["MULTI"]);
    a.cmd(&["DISCARD"]);
    assert_eq!(s.server.watches.watches(), 0);

    a.cmd(&watch);
    a.cmd(&["UNWATCH"]);
    assert_eq!(s.server.watches.watches(), 0);

    // RESET leaves MULTI and unwatches.
    a.cmd(&watch);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["SET", "x", "1"]), queued());
    assert_eq!(a.cmd(&["RESET"]), Frame::Simple("RESET".into()));
    assert_eq!(s.server.watches.watches(), 0);
    assert_eq!(
        a.cmd(&["EXEC"]),
        Frame::Error("ERR EXEC without MULTI".into())
    );
    assert_eq!(a.cmd(&["EXISTS", "x"]), Frame::Integer(0));

    a.cmd(&watch);
    let mut b = s.connect();
    b.cmd(&watch);
    assert_eq!(s.server.watches.watches(), 2000);
    drop(a);
    until_watches(&s, 1000);
    drop(b);
    until_watches(&s, 0);
}

#[test]
fn client_handle_shows_queued_commands_and_watched_keys() {
    use std::sync::atomic::Ordering::Relaxed;
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let id = match a.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(i) => i as u64,
        other => panic!("{other:?}"),
    };
    let handle = s.server.clients.get(id).expect("client registered");
    assert_eq!(handle.multi.load(Relaxed), -1);
    a.cmd(&["WATCH", "x", "y", "x"]);
    assert_eq!(handle.watched.load(Relaxed), 2);
    a.cmd(&["MULTI"]);
    assert_eq!(handle.multi.load(Relaxed), 0);
    a.cmd(&["SET", "x", "1"]);
    a.cmd(&["GET", "x"]);
    assert_eq!(handle.multi.load(Relaxed), 2);
    a.cmd(&["EXEC"]);
    assert_eq!(handle.multi.load(Relaxed), -1);
    assert_eq!(handle.watched.load(Relaxed), 0);
}

#[test]
fn exec_wakes_clients_blocked_on_keys_it_fed() {
    let s = TestServer::start(&[]);
    let mut a = s.connect();
    let mut b = s.connect();
    b.send(&[b"BLPOP", b"list", b"0"]);
    let start = Instant::now();
    while s.server.blocking.blocked_clients() != 1 {
        assert!(start.elapsed() < Duration::from_secs(10), "never blocked");
        std::thread::yield_now();
    }
    a.cmd(&["MULTI"]);
    a.cmd(&["RPUSH", "list", "x"]);
    a.cmd(&["RPUSH", "list", "y"]);
    assert_eq!(
        a.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
    );
    assert_eq!(b.read(), Some(Frame::Array(vec![bulk("list"), bulk("x")])));
    assert_eq!(
        a.cmd(&["LRANGE", "list", "0", "-1"]),
        Frame::Array(vec![bulk("y")])
    );
}

// ---- serializability ------------------------------------------------------------------

const KEYS: [&str; 3] = ["a", "b", "c"];

#[derive(Clone, Debug)]
enum Op {
    IncrBy(usize, i64),
    Set(usize, &'static str),
    Get(usize),
    Append(usize, &'static str),
    Del(usize),
}

impl Op {
    fn args(&self) -> Vec<String> {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        match *self {
            Op::IncrBy(k, n) => v(&["INCRBY", KEYS[k], &n.to_string()]),
            Op::Set(k, val) => v(&["SET", KEYS[k], val]),
            Op::Get(k) => v(&["GET", KEYS[k]]),
            Op::Append(k, val) => v(&["APPEND", KEYS[k], val]),
            Op::Del(k) => v(&["DEL", KEYS[k]]),
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        (key.clone(), -5i64..10).prop_map(|(k, n)| Op::IncrBy(k, n)),
        (key.clone(), prop::sample::select(vec!["0", "7", "-3", "x"]))
            .prop_map(|(k, v)| Op::Set(k, v)),
        key.clone().prop_map(Op::Get),
        (key.clone(), prop::sample::select(vec!["1", "z"])).prop_map(|(k, v)| Op::Append(k, v)),
        key.prop_map(Op::Del),
    ]
}

/// Redis's string2ll: an optional minus, no leading zeros, no sign on zero.
fn parse_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = s == "0"
        || (!digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// The sequential model: what each op answers run alone, in order.
fn apply(model: &mut HashMap<usize, Vec<u8>>, op: &Op) -> Frame {
    match *op {
        Op::IncrBy(k, n) => {
            let cur = match model.get(&k) {
                None => Some(0),
                Some(v) => parse_int(v),
            };
            match cur {
                Some(c) => {
                    model.insert(k, (c + n).to_string().into_bytes());
                    Frame::Integer(c + n)
                }
                None => Frame::Error("ERR value is not an integer or out of range".into()),
            }
        }
        Op::Set(k, v) => {
            model.insert(k, v.as_bytes().to_vec());
            ok()
        }
        Op::Get(k) => match model.get(&k) {
            Some(v) => Frame::Bulk(v.clone().into()),
            None => Frame::NullBulk,
        },
        Op::Append(k, v) => {
            let cur = model.entry(k).or_default();
            cur.extend_from_slice(v.as_bytes());
            Frame::Integer(cur.len() as i64)
        }
        Op::Del(k) => Frame::Integer(model.remove(&k).is_some() as i64),
    }
}

/// Runs one client's transactions; returns, per transaction, its ops and EXEC's reply.
fn run_client(mut c: Conn, txs: Vec<Vec<Op>>) -> Vec<(Vec<Op>, Vec<Frame>)> {
    let mut done = Vec::new();
    for ops in txs {
        // Pipelined, as clients send transactions.
        let mut cmds: Vec<Vec<String>> =
            vec![vec!["MULTI".into()], vec!["INCR".into(), "ctr".into()]];
        cmds.extend(ops.iter().map(Op::args));
        cmds.push(vec!["EXEC".into()]);
        for cmd in &cmds {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            c.send(&args);
        }
        assert_eq!(c.read(), Some(ok()));
        for _ in 1..cmds.len() - 1 {
            assert_eq!(c.read(), Some(queued()));
        }
        match c.read() {
            Some(Frame::Array(replies)) => done.push((ops, replies)),
            other => panic!("EXEC answered {other:?}"),
        }
    }
    done
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Concurrent clients' transactions on overlapping keys: each EXEC's INCR of a shared
    /// counter gives its position in the serial order; replaying that order against the
    /// model must reproduce every reply of every transaction.
    #[test]
    fn concurrent_transactions_are_serializable(
        clients in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(op(), 1..6), 5..25),
            2..5,
        )
    ) {
        let s = TestServer::start(&[]);
        let handles: Vec<_> = clients
            .into_iter()
            .map(|txs| {
                let c = s.connect();
                std::thread::spawn(move || run_client(c, txs))
            })
            .collect();
        let mut history: Vec<(i64, Vec<Op>, Vec<Frame>)> = Vec::new();
        for h in handles {
            for (ops, mut replies) in h.join().expect("client thread") {
                prop_assert_eq!(replies.len(), ops.len() + 1);
                let pos = match replies.remove(0) {
                    Frame::Integer(n) => n,
                    other => return Err(TestCaseError::fail(format!("INCR ctr: {other:?}"))),
                };
                history.push((pos, ops, replies));
            }
        }
        history.sort_by_key(|h| h.0);
        let mut model = HashMap::new();
        for (i, (pos, ops, replies)) in history.iter().enumerate() {
            prop_assert_eq!(*pos, i as i64 + 1, "counter positions are 1..=n, each once");
            let expected: Vec<Frame> = ops.iter().map(|op| apply(&mut model, op)).collect();
            prop_assert_eq!(&expected, replies, "transaction {} ({:?})", pos, ops);
        }
        // And the final state is the model's.
        let mut c = s.connect();
        for (k, name) in KEYS.iter().enumerate() {
            prop_assert_eq!(apply(&mut model, &Op::Get(k)), c.cmd(&["GET", name]));
        }
    }
}
