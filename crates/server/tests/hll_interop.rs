//! HyperLogLog byte compatibility with a real redis-server: the same PFADDs give the same
//! bytes (sparse and dense, every step of the way), each server counts the other's HLLs
//! the same, and the estimates stay within 2% at 100k and 1M elements.
//!
//! redis-server comes from the system (`.ci/run` installs Debian's package); it is started
//! on a free loopback port with no persistence and killed when the test ends.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};

use common::{Conn, TestServer};
use protocol::Frame;

/// A redis-server child process, killed on drop.
struct Redis {
    child: Child,
    addr: SocketAddr,
}

impl Redis {
    fn start() -> Redis {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let bin = std::env::split_paths(&path)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
            .expect("redis-server on PATH (install the redis-server package)");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--logfile", ""])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // Its log says when it listens: no polling needed.
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let ready = lines.any(|l| {
            l.map(|l| l.contains("Ready to accept connections"))
                .unwrap_or(false)
        });
        let redis = Redis {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        assert!(ready, "redis-server did not start");
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        redis
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cmd(c: &mut Conn, args: &[&[u8]]) -> Frame {
    c.send(args);
    c.read().expect("reply")
}

fn bytes(c: &mut Conn, key: &str) -> Vec<u8> {
    match cmd(c, &[b"GET", key.as_bytes()]) {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("GET {key}: {other:?}"),
    }
}

fn int(f: Frame) -> i64 {
    match f {
        Frame::Integer(i) => i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn pfcount(c: &mut Conn, keys: &[&str]) -> i64 {
    let mut args: Vec<&[u8]> = vec![b"PFCOUNT"];
    args.extend(keys.iter().map(|k| k.as_bytes()));
    int(cmd(c, &args))
}

/// PFADDs `elements` to `key` in pipelined batches; returns the replies.
fn pfadd_batches(c: &mut Conn, key: &str, elements: &[Vec<u8>], batch: usize) -> Vec<i64> {
    let chunks: Vec<&[Vec<u8>]> = elements.chunks(batch).collect();
    for group in chunks.chunks(64) {
        for chunk in group {
            let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
            args.extend(chunk.iter().map(|e| &e[..]));
            c.send(&args);
        }
    }
    (0..chunks.len())
        .map(|_| int(c.read().expect("reply")))
        .collect()
}

fn elements(prefix: &str, range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    range.map(|i| format!("{prefix}{i}").into_bytes()).collect()
}

/// Both servers, each with one connection.
struct Pair {
    _redis: Redis,
    _cinnabar: TestServer,
    r: Conn,
    c: Conn,
}

fn pair() -> Pair {
    let redis = Redis::start();
    let cinnabar = TestServer::start(&[]);
    let mut r = Conn::connect(redis.addr);
    let c = cinnabar.connect();
    // The reference really is redis-server, not a second Cinnabar.
    match cmd(&mut r, &[b"INFO", b"server"]) {
        Frame::Bulk(info) => assert!(!String::from_utf8_lossy(&info).contains("cinnabar")),
        other => panic!("INFO: {other:?}"),
    }
    Pair {
        _redis: redis,
        _cinnabar: cinnabar,
        r,
        c,
    }
}

#[test]
fn same_bytes_as_redis_from_sparse_to_dense() {
    let mut p = pair();
    // Growing one HLL 25 elements at a time: the sparse form must match at every step,
    // through the promotion to dense past hll-sparse-max-bytes.
    let els = elements("user:", 0..4000);
    let mut promoted = false;
    for chunk in els.chunks(25) {
        let mut args: Vec<&[u8]> = vec![b"PFADD", b"grow"];
        args.extend(chunk.iter().map(|e| &e[..]));
        assert_eq!(cmd(&mut p.r, &args), cmd(&mut p.c, &args));
        let (rb, cb) = (bytes(&mut p.r, "grow"), bytes(&mut p.c, "grow"));
        assert_eq!(rb, cb, "bytes differ after {:?}", chunk.last());
        promoted |= rb[4] == 0;
        // PFCOUNT writes the cached cardinality into the header: same bytes again.
        assert_eq!(pfcount(&mut p.r, &["grow"]), pfcount(&mut p.c, &["grow"]));
        assert_eq!(bytes(&mut p.r, "grow"), bytes(&mut p.c, "grow"));
    }
    assert!(promoted, "never became dense");
    for sub in [&b"ENCODING"[..], b"GETREG"] {
        let args: [&[u8]; 3] = [b"PFDEBUG", sub, b"grow"];
        assert_eq!(cmd(&mut p.r, &args), cmd(&mut p.c, &args));
    }

    // Single elements of every length (MurmurHash64A's tail), one per PFADD.
    for n in 0..40usize {
        let e: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
        let args: [&[u8]; 3] = [b"PFADD", b"lengths", &e];
        assert_eq!(cmd(&mut p.r, &args), cmd(&mut p.c, &args));
    }
    assert_eq!(bytes(&mut p.r, "lengths"), bytes(&mut p.c, "lengths"));
    let decode: [&[u8]; 3] = [b"PFDEBUG", b"DECODE", b"lengths"];
    assert_eq!(cmd(&mut p.r, &decode), cmd(&mut p.c, &decode));
}

#[test]
fn merges_and_unions_match_redis() {
    let mut p = pair();
    for conn in [&mut p.r, &mut p.c] {
        pfadd_batches(conn, "s1", &elements("a", 0..300), 100);
        pfadd_batches(conn, "s2", &elements("a", 200..700), 100);
        pfadd_batches(conn, "d1", &elements("b", 0..5000), 500);
    }
    for key in ["s1", "s2", "d1"] {
        assert_eq!(bytes(&mut p.r, key), bytes(&mut p.c, key), "{key}");
    }
    assert_eq!(bytes(&mut p.c, "s1")[4], 1, "s1 sparse");
    assert_eq!(bytes(&mut p.c, "d1")[4], 0, "d1 dense");
    for keys in [&["s1", "s2"][..], &["s1", "s2", "d1"], &["d1", "nokey"]] {
        assert_eq!(pfcount(&mut p.r, keys), pfcount(&mut p.c, keys), "{keys:?}");
    }
    // Sparse + sparse stays sparse; any dense input makes the result dense.
    let merges: [&[&[u8]]; 4] = [
        &[b"PFMERGE", b"m1", b"s1", b"s2"],
        &[b"PFMERGE", b"m2", b"s1", b"d1"],
        &[b"PFMERGE", b"s2", b"s1"],
        &[b"PFMERGE", b"m3"],
    ];
    for args in merges {
        assert_eq!(cmd(&mut p.r, args), cmd(&mut p.c, args));
    }
    for key in ["m1", "m2", "s2", "m3"] {
        assert_eq!(bytes(&mut p.r, key), bytes(&mut p.c, key), "{key}");
        assert_eq!(
            pfcount(&mut p.r, &[key]),
            pfcount(&mut p.c, &[key]),
            "{key}"
        );
    }
}

#[test]
fn each_server_reads_the_others_hlls() {
    let mut p = pair();
    for (key, range) in [("small", 0..50), ("medium", 0..1500), ("large", 0..20_000)] {
        let els = elements("x", range);
        // Written by Redis, counted by Cinnabar (cache invalid, so it is recomputed).
        pfadd_batches(&mut p.r, key, &els, 500);
        let from_redis = bytes(&mut p.r, key);
        assert_ne!(from_redis[15] & 0x80, 0, "cache should be invalid");
        let set: [&[u8]; 3] = [b"SET", key.as_bytes(), &from_redis];
        assert_eq!(cmd(&mut p.c, &set), Frame::Simple("OK".into()));
        let expected = pfcount(&mut p.r, &[key]);
        assert_eq!(pfcount(&mut p.c, &[key]), expected, "{key}: Redis's bytes");
        // Both wrote the same cached cardinality back.
        assert_eq!(bytes(&mut p.c, key), bytes(&mut p.r, key), "{key}");

        // Written by Cinnabar, counted by Redis.
        let other = format!("{key}-c");
        pfadd_batches(&mut p.c, &other, &els, 500);
        let from_cinnabar = bytes(&mut p.c, &other);
        let set: [&[u8]; 3] = [b"SET", other.as_bytes(), &from_cinnabar];
        assert_eq!(cmd(&mut p.r, &set), Frame::Simple("OK".into()));
        assert_eq!(pfcount(&mut p.r, &[&other]), pfcount(&mut p.c, &[&other]));
        // Redis keeps adding to Cinnabar's HLL and the other way round.
        let more = elements("y", 0..100);
        pfadd_batches(&mut p.r, &other, &more, 100);
        pfadd_batches(&mut p.c, &other, &more, 100);
        assert_eq!(bytes(&mut p.r, &other), bytes(&mut p.c, &other), "{other}");
    }
}

#[test]
fn large_cardinalities_match_redis_within_two_percent() {
    let mut p = pair();
    for (key, n) in [("k100k", 100_000u64), ("k1m", 1_000_000)] {
        let els = elements("member-", 0..n);
        pfadd_batches(&mut p.r, key, &els, 1000);
        pfadd_batches(&mut p.c, key, &els, 1000);
        assert_eq!(bytes(&mut p.r, key), bytes(&mut p.c, key), "{key}");
        let (r, c) = (pfcount(&mut p.r, &[key]), pfcount(&mut p.c, &[key]));
        assert_eq!(r, c, "{key}: same registers, same estimate");
        let err = (c - n as i64).abs() as f64 / n as f64;
        assert!(err < 0.02, "{key}: estimate {c} for {n} (error {err:.4})");
    }
}
