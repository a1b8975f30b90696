//! Background snapshots (BGSAVE) that do not stop the world: the file holds exactly the
//! keyspace at the instant BGSAVE ran, however writers, SWAPDB and FLUSHALL change it while
//! the file is written; BGSAVE / SAVE / SHUTDOWN interplay and their Redis error texts; hash
//! field TTLs in RDB 12; save points started by the cron; INFO persistence; and the file
//! passing redis-check-rdb and loading into redis-server 7.0.
//!
//! A snapshot is kept in progress deterministically by holding the snapshot thread
//! (`Status::hold`): commands then write the shards they reach themselves, which is the
//! path these tests exercise. Deadlines are generous: a save ends with an fsync, which can
//! take seconds on a busy disk.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bulk, Conn, TestServer};
use protocol::Frame;

/// A far-future Unix time in ms (2100-01-01).
const FAR: u64 = 4_102_444_800_000;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cinnabar-snap-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn server_in(dir: &Path, file: &str, extra: &[(&str, &str)]) -> TestServer {
    let dirs = dir.to_str().expect("utf-8 path");
    let mut settings = vec![("dir", dirs), ("dbfilename", file)];
    settings.extend_from_slice(extra);
    TestServer::start(&settings)
}

fn ok(f: Frame) {
    assert_eq!(f, Frame::Simple("OK".into()));
}

fn info_field(c: &mut Conn, field: &str) -> String {
    let text = bulk(&c.cmd(&["INFO", "persistence"]));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO: {text}"))
        .to_string()
}

fn hold(ts: &TestServer, on: bool) {
    ts.server
        .keyspace
        .snapshots()
        .status
        .hold
        .store(on, Ordering::Release);
}

/// Polls INFO until no background save runs; returns the last status.
fn wait_bgsave(c: &mut Conn) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::yield_now();
    }
    info_field(c, "rdb_last_bgsave_status")
}

/// Every key of a server, read in-process: (db, key) → (value text, expiry).
type Contents = BTreeMap<(usize, String), (String, Option<u64>)>;

fn contents(ts: &TestServer) -> Contents {
    let ks = &ts.server.keyspace;
    let access = ks.shared();
    let mut out = BTreeMap::new();
    for db in 0..ks.databases() {
        let d = access.db(db);
        for i in 0..d.shard_count() {
            let s = d.lock(i);
            for pos in 0..s.len() {
                let v = s.value(pos);
                let text = match v.to_vec() {
                    Some(b) => String::from_utf8_lossy(&b).into_owned(),
                    None => format!("<{}>", v.kind().name()),
                };
                let key = String::from_utf8_lossy(s.key(pos)).into_owned();
                out.insert((db, key), (text, s.expire_at(pos)));
            }
        }
    }
    out
}

/// Loads `dir/file` into a fresh server and returns it.
fn load(dir: &Path, file: &str) -> TestServer {
    let ts = server_in(dir, file, &[]);
    commands::family::persistence::load_at_startup(&ts.server)
        .expect("load")
        .expect("file present");
    ts
}

#[test]
fn bgsave_holds_exactly_the_keyspace_at_its_instant_while_writers_run() {
    const BULK: usize = 20_000;
    const WRITERS: usize = 4;
    const PRE: usize = 50;
    let dir = tempdir("pit");
    let ts = server_in(&dir, "pit.rdb", &[]);
    let mut c = ts.connect();
    for chunk in (0..BULK).collect::<Vec<_>>().chunks(1000) {
        let mut args = vec!["MSET".to_string()];
        for i in chunk {
            args.push(format!("bulk:{i}"));
            args.push(format!("value-{i}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(c.cmd(&args));
    }
    ok(c.cmd(&["SET", "volatile", "v", "PXAT", &FAR.to_string()]));
    for w in 0..WRITERS {
        for q in 0..PRE {
            ok(c.cmd(&["SET", &format!("pre:{w}:{q}"), "old"]));
        }
    }
    let before = contents(&ts);

    // Writers: step j sets, atomically (MSET locks every shard involved), a new key
    // new:w:j, an old key pre:w:(j % PRE) and the step counter last:w. Whatever the file
    // holds for a writer must be the state after some step m: new:w:1..=m and nothing
    // later, pre keys as of step m.
    let stop = Arc::new(AtomicBool::new(false));
    let addr = ts.addr;
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let mut j = 0u64;
                while !stop.load(Ordering::Relaxed) || j < 50 {
                    j += 1;
                    let n = j.to_string();
                    ok(c.cmd(&[
                        "MSET",
                        &format!("new:{w}:{j}"),
                        &n,
                        &format!("pre:{w}:{}", j as usize % PRE),
                        &n,
                        &format!("last:{w}"),
                        &n,
                    ]));
                }
                j
            })
        })
        .collect();

    hold(&ts, true);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    // After the instant, by construction: this connection's own changes.
    ok(c.cmd(&["SET", "bulk:0", "changed"]));
    assert_eq!(c.cmd(&["DEL", "bulk:1", "bulk:2"]), Frame::Integer(2));
    assert_eq!(c.cmd(&["PERSIST", "volatile"]), Frame::Integer(1));
    ok(c.cmd(&["SET", "born-after", "x"]));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    // Let every writer make steps after the instant while the snapshot is in progress
    // (held), then let it finish.
    let counter = |c: &mut Conn, w: usize| -> u64 {
        match c.cmd(&["GET", &format!("last:{w}")]) {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).parse().expect("counter"),
            _ => 0,
        }
    };
    let seen: Vec<u64> = (0..WRITERS).map(|w| counter(&mut c, w)).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for (w, &at) in seen.iter().enumerate() {
        while counter(&mut c, w) < at + 3 {
            assert!(Instant::now() < deadline, "writer {w} made no progress");
            std::thread::yield_now();
        }
    }
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_ne!(info_field(&mut c, "current_save_keys_processed"), "0");
    hold(&ts, false);
    assert_eq!(wait_bgsave(&mut c), "ok");
    stop.store(true, Ordering::Relaxed);
    let finals: Vec<u64> = handles
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();

    let loaded = contents(&load(&dir, "pit.rdb"));
    let get = |k: &str| loaded.get(&(0, k.to_string())).map(|v| v.0.clone());
    assert_eq!(get("bulk:0").as_deref(), Some("value-0"));
    assert_eq!(get("bulk:1").as_deref(), Some("value-1"));
    assert_eq!(get("born-after"), None);
    assert_eq!(loaded[&(0, "volatile".to_string())].1, Some(FAR));
    for i in 3..BULK {
        let k = format!("bulk:{i}");
        assert_eq!(loaded.get(&(0, k.clone())), before.get(&(0, k)));
    }
    let mut after_instant = 0;
    for (w, &last) in finals.iter().enumerate() {
        let m: u64 = get(&format!("last:{w}")).map_or(0, |v| v.parse().expect("counter"));
        assert!(m <= last);
        after_instant += last - m;
        for j in 1..=last {
            let present = get(&format!("new:{w}:{j}"));
            if j <= m {
                assert_eq!(present, Some(j.to_string()), "writer {w} step {j} missing");
            } else {
                assert_eq!(present, None, "writer {w} step {j} after the instant");
            }
        }
        for q in 0..PRE {
            let expected = (1..=m)
                .rev()
                .find(|j| *j as usize % PRE == q)
                .map_or("old".to_string(), |j| j.to_string());
            assert_eq!(get(&format!("pre:{w}:{q}")), Some(expected), "pre:{w}:{q}");
        }
    }
    // The writers did run while the snapshot was in progress.
    assert!(after_instant > 0);
}

#[test]
fn swapdb_and_flushes_during_a_snapshot_leave_it_unchanged() {
    let dir = tempdir("swap");
    let ts = server_in(&dir, "swap.rdb", &[]);
    let mut c = ts.connect();
    for (db, name) in [(0, "zero"), (1, "one"), (2, "two"), (3, "three")] {
        ok(c.cmd(&["SELECT", &db.to_string()]));
        for i in 0..200 {
            ok(c.cmd(&["SET", &format!("{name}:{i}"), name]));
        }
        assert_eq!(
            c.cmd(&["HSET", &format!("{name}:h"), "f", "v"]),
            Frame::Integer(1)
        );
    }
    let before = contents(&ts);
    hold(&ts, true);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    ok(c.cmd(&["SWAPDB", "0", "1"]));
    ok(c.cmd(&["SELECT", "2"]));
    ok(c.cmd(&["FLUSHDB"]));
    ok(c.cmd(&["SET", "two:new", "x"]));
    ok(c.cmd(&["SELECT", "0"]));
    ok(c.cmd(&["SET", "one:0", "changed"]));
    ok(c.cmd(&["FLUSHALL"]));
    ok(c.cmd(&["SET", "after", "flushall"]));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    hold(&ts, false);
    assert_eq!(wait_bgsave(&mut c), "ok");
    assert_eq!(contents(&load(&dir, "swap.rdb")), before);
}

#[test]
fn bgsave_errors_and_scheduling_match_redis() {
    let dir = tempdir("errors");
    let ts = server_in(&dir, "e.rdb", &[]);
    let mut c = ts.connect();
    ok(c.cmd(&["SET", "k", "v"]));
    assert_eq!(
        c.cmd(&["BGSAVE", "NOW"]),
        Frame::Error("ERR syntax error".into())
    );
    hold(&ts, true);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    let busy = Frame::Error("ERR Background save already in progress".into());
    assert_eq!(c.cmd(&["BGSAVE"]), busy);
    assert_eq!(c.cmd(&["BGSAVE", "SCHEDULE"]), busy);
    assert_eq!(c.cmd(&["SAVE"]), busy);
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_ne!(info_field(&mut c, "rdb_current_bgsave_time_sec"), "-1");
    assert_eq!(info_field(&mut c, "current_save_keys_total"), "1");
    hold(&ts, false);
    assert_eq!(wait_bgsave(&mut c), "ok");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    // One change per write, as Redis counts: creating a key is not a second change.
    c.cmd(&["SET", "fresh", "1"]);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    c.cmd(&["SET", "fresh", "2"]);
    c.cmd(&["INCR", "counter"]);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "3");
    assert_eq!(info_field(&mut c, "rdb_current_bgsave_time_sec"), "-1");
    assert_ne!(info_field(&mut c, "rdb_last_bgsave_time_sec"), "-1");
    assert!(dir.join("e.rdb").exists());
    let temps: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");

    // Inside MULTI, as in Redis, the save is scheduled; the cron starts it.
    ok(c.cmd(&["SET", "k", "v2"]));
    ok(c.cmd(&["MULTI"]));
    assert_eq!(c.cmd(&["BGSAVE"]), Frame::Simple("QUEUED".into()));
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("Background saving scheduled".into())])
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while info_field(&mut c, "rdb_saves") != "2" {
        assert!(Instant::now() < deadline, "scheduled BGSAVE never ran");
        std::thread::yield_now();
    }
    assert_eq!(wait_bgsave(&mut c), "ok");

    // A directory that is gone: as in Redis, the save starts, fails, and INFO says so.
    std::fs::remove_dir_all(&dir).expect("remove dir");
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    assert_eq!(wait_bgsave(&mut c), "err");
    assert_eq!(info_field(&mut c, "rdb_saves"), "2");
}

#[test]
fn a_failed_background_write_is_reported_in_info() {
    let dir = tempdir("fail");
    let ts = server_in(&dir, "f.rdb", &[]);
    let mut c = ts.connect();
    ok(c.cmd(&["SET", "k", "v"]));
    // A sink that fails: the snapshot ends in error, the server goes on.
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let h =
        commands::family::persistence::begin_background_save(&ts.server, Box::new(Broken), || {})
            .expect("begin");
    let e = h.wait().expect_err("failed");
    assert!(e.contains("disk on fire"), "{e}");
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Bulk("v".into()));
    // A stream snapshot is not BGSAVE: its outcome leaves BGSAVE's status alone.
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
}

#[test]
fn a_stream_snapshot_starts_exactly_at_its_instant() {
    let dir = tempdir("stream");
    let ts = server_in(&dir, "s.rdb", &[]);
    let mut c = ts.connect();
    for i in 0..100 {
        ok(c.cmd(&["SET", &format!("k{i}"), "before"]));
    }
    hold(&ts, true);
    let buf = Arc::new(parking_lot::Mutex::new(Vec::new()));
    struct Shared(Arc<parking_lot::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let dirty_at_start = Arc::new(parking_lot::Mutex::new(0u64));
    let d = dirty_at_start.clone();
    let server = ts.server.clone();
    let h = commands::family::persistence::begin_background_save(
        &ts.server,
        Box::new(Shared(buf.clone())),
        move || *d.lock() = server.keyspace.feed.dirty(),
    )
    .expect("begin");
    // While a stream snapshot runs, BGSAVE is refused as by another child; SCHEDULE waits.
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.".into())
    );
    assert_eq!(
        c.cmd(&["BGSAVE", "SCHEDULE"]),
        Frame::Simple("Background saving scheduled".into())
    );
    for i in 0..100 {
        ok(c.cmd(&["SET", &format!("k{i}"), "after"]));
    }
    assert_eq!(
        *dirty_at_start.lock() + 100,
        ts.server.keyspace.feed.dirty()
    );
    hold(&ts, false);
    let sum = h.wait().expect("stream");
    assert_eq!(sum.keys, 100);
    let bytes = buf.lock().clone();
    assert_eq!(sum.bytes as usize, bytes.len());
    assert!(bytes.starts_with(b"REDIS0010"));
    std::fs::write(dir.join("s.rdb"), &bytes).expect("write");
    let loaded = contents(&load(&dir, "s.rdb"));
    assert_eq!(loaded.len(), 100);
    assert!(loaded.values().all(|v| v.0 == "before"));
    // The scheduled BGSAVE runs once the stream is done.
    let deadline = Instant::now() + Duration::from_secs(120);
    while info_field(&mut c, "rdb_saves") != "1" {
        assert!(
            Instant::now() < deadline,
            "scheduled BGSAVE never ran: {}",
            bulk(&c.cmd(&["INFO", "persistence"]))
        );
        std::thread::yield_now();
    }
}

#[test]
fn shutdown_during_bgsave_cancels_it_and_saves_the_final_state() {
    let dir = tempdir("shutdown");
    let ts = server_in(&dir, "sd.rdb", &[]);
    let mut c = ts.connect();
    ok(c.cmd(&["SET", "k", "before"]));
    hold(&ts, true);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    ok(c.cmd(&["SET", "k", "after"]));
    commands::family::persistence::shutdown_save(&ts.server, Some(true)).expect("saved");
    assert!(!ts.server.keyspace.snapshot_running());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["sd.rdb".to_string()]);
    let loaded = contents(&load(&dir, "sd.rdb"));
    assert_eq!(loaded[&(0, "k".to_string())].0, "after");
}

#[test]
fn hash_field_ttls_round_trip_in_an_rdb_12_file() {
    let dir = tempdir("hfe");
    let ts = server_in(&dir, "h.rdb", &[]);
    let mut c = ts.connect();
    let far = FAR.to_string();
    let later = (FAR + 1000).to_string();
    assert_eq!(
        c.cmd(&["HSET", "small", "a", "1", "b", "2", "c", "3"]),
        Frame::Integer(3)
    );
    c.cmd(&["HPEXPIREAT", "small", &later, "FIELDS", "1", "a"]);
    c.cmd(&["HPEXPIREAT", "small", &far, "FIELDS", "1", "c"]);
    let mut args = vec!["HSET".to_string(), "big".to_string()];
    for i in 0..300 {
        args.push(format!("field-{i}"));
        args.push(format!("value-{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&args), Frame::Integer(300));
    c.cmd(&[
        "HPEXPIREAT",
        "big",
        &far,
        "FIELDS",
        "2",
        "field-7",
        "field-9",
    ]);
    // A field already due when the snapshot is taken is left out.
    let soon = (1_700_000_000_000u64 + 10).to_string();
    c.cmd(&["HPEXPIREAT", "big", &soon, "FIELDS", "1", "field-8"]);
    ts.clock.advance(20);
    ok(c.cmd(&["SET", "plain", "x"]));
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    assert_eq!(wait_bgsave(&mut c), "ok");
    let bytes = std::fs::read(dir.join("h.rdb")).expect("file");
    assert!(bytes.starts_with(b"REDIS0012"));

    let fresh = load(&dir, "h.rdb");
    let mut f = fresh.connect();
    let times = |f: &mut Conn, key: &str, fields: &[&str]| {
        let mut a = vec!["HPEXPIRETIME", key, "FIELDS"];
        let n = fields.len().to_string();
        a.push(&n);
        a.extend_from_slice(fields);
        f.cmd(&a)
    };
    assert_eq!(
        times(&mut f, "small", &["a", "b", "c"]),
        Frame::Array(vec![
            Frame::Integer(FAR as i64 + 1000),
            Frame::Integer(-1),
            Frame::Integer(FAR as i64)
        ])
    );
    assert_eq!(
        times(
            &mut f,
            "big",
            &["field-7", "field-8", "field-9", "field-10"]
        ),
        Frame::Array(vec![
            Frame::Integer(FAR as i64),
            Frame::Integer(-2),
            Frame::Integer(FAR as i64),
            Frame::Integer(-1)
        ])
    );
    assert_eq!(f.cmd(&["HLEN", "big"]), Frame::Integer(299));
    assert_eq!(f.cmd(&["HGET", "small", "b"]), Frame::Bulk("2".into()));
    assert_eq!(f.cmd(&["GET", "plain"]), Frame::Bulk("x".into()));

    // Without field TTLs the file stays version 10.
    c.cmd(&["HPERSIST", "small", "FIELDS", "2", "a", "c"]);
    c.cmd(&["HPERSIST", "big", "FIELDS", "2", "field-7", "field-9"]);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    assert_eq!(wait_bgsave(&mut c), "ok");
    let bytes = std::fs::read(dir.join("h.rdb")).expect("file");
    assert!(bytes.starts_with(b"REDIS0010"));
}

#[test]
fn a_save_point_starts_a_background_save_from_the_cron() {
    let dir = tempdir("savepoint");
    let ts = server_in(&dir, "sp.rdb", &[("save", "1 3"), ("hz", "100")]);
    let mut c = ts.connect();
    let before = match c.cmd(&["LASTSAVE"]) {
        Frame::Integer(t) => t,
        other => panic!("{other:?}"),
    };
    for i in 0..3 {
        ok(c.cmd(&["SET", &format!("k{i}"), "v"]));
    }
    assert_ne!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    let deadline = Instant::now() + Duration::from_secs(120);
    while info_field(&mut c, "rdb_saves") != "1" {
        assert!(
            Instant::now() < deadline,
            "save point never triggered: {}",
            bulk(&c.cmd(&["INFO", "persistence"]))
        );
        std::thread::yield_now();
    }
    assert_eq!(wait_bgsave(&mut c), "ok");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    match c.cmd(&["LASTSAVE"]) {
        Frame::Integer(t) => assert!(t >= before),
        other => panic!("{other:?}"),
    }
    assert_eq!(contents(&load(&dir, "sp.rdb")).len(), 3);
}

// ----- interoperability with redis-server 7.0 -----------------------------------------------

/// Ports of the redis-server instances these tests start.
const REDIS_PORT: u16 = 7203;

struct Redis {
    child: Child,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_in(dir: &Path, file: &str) -> (Redis, Conn) {
    let child = Command::new("redis-server")
        .args(["--port", &REDIS_PORT.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", ""])
        .arg("--dir")
        .arg(dir)
        .args(["--dbfilename", file])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server)");
    let redis = Redis { child };
    let addr = format!("127.0.0.1:{REDIS_PORT}").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            let mut c = Conn::connect(addr);
            if !matches!(c.cmd(&["PING"]), Frame::Error(_)) {
                return (redis, c);
            }
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::yield_now();
    }
}

#[test]
fn a_background_snapshot_passes_redis_check_rdb_and_loads_into_redis() {
    let dir = tempdir("interop");
    let ts = server_in(&dir, "bg.rdb", &[]);
    let mut c = ts.connect();
    let mut expected = BTreeMap::new();
    for db in [0usize, 3] {
        ok(c.cmd(&["SELECT", &db.to_string()]));
        for i in 0..3000 {
            let k = format!("key:{db}:{i}");
            ok(c.cmd(&["SET", &k, &format!("{i}-{}", "x".repeat(i % 40))]));
            expected.insert((db, k), format!("{i}-{}", "x".repeat(i % 40)));
        }
        c.cmd(&["RPUSH", "list", "a", "b", "c"]);
        c.cmd(&["SADD", "set", "1", "2", "3"]);
        c.cmd(&["ZADD", "zset", "1.5", "m"]);
        c.cmd(&["HSET", "hash", "f", "v"]);
        ok(c.cmd(&["SET", "ttl", "v", "PXAT", &FAR.to_string()]));
    }
    hold(&ts, true);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    // Commands reach shards first, so the file's chunks come in a mixed order.
    for db in [3usize, 0] {
        ok(c.cmd(&["SELECT", &db.to_string()]));
        for i in (0..3000).step_by(97) {
            ok(c.cmd(&["SET", &format!("key:{db}:{i}"), "changed"]));
        }
    }
    hold(&ts, false);
    assert_eq!(wait_bgsave(&mut c), "ok");

    let file = dir.join("bg.rdb");
    let check = Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("redis-check-rdb");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && report.contains("RDB looks OK"),
        "{report}"
    );

    let (_redis, mut r) = redis_in(&dir, "bg.rdb");
    for db in [0usize, 3] {
        ok(r.cmd(&["SELECT", &db.to_string()]));
        assert_eq!(r.cmd(&["DBSIZE"]), Frame::Integer(3005));
        assert_eq!(r.cmd(&["LLEN", "list"]), Frame::Integer(3));
        assert_eq!(r.cmd(&["PEXPIRETIME", "ttl"]), Frame::Integer(FAR as i64));
        assert_eq!(r.cmd(&["SCARD", "set"]), Frame::Integer(3));
        assert_eq!(r.cmd(&["HGET", "hash", "f"]), Frame::Bulk("v".into()));
    }
    for ((db, k), v) in &expected {
        ok(r.cmd(&["SELECT", &db.to_string()]));
        assert_eq!(r.cmd(&["GET", k]), Frame::Bulk(v.clone().into()), "{k}");
    }
}

/// Start-up as the binary does it: the server listens first and loads the file in the
/// background. Meanwhile commands without Redis's `loading` flag get `-LOADING` (PING
/// included), INFO answers and shows the `loading_*` fields; then the data is there. The loader is held at its first
/// key by holding a shard lock (the loader takes the world lock only shared, so INFO is
/// not held up).
#[test]
fn a_dump_loads_in_the_background_while_clients_get_loading() {
    const KEYS: usize = 60_000;
    let dir = tempdir("bgload");
    {
        let ts = server_in(&dir, "big.rdb", &[]);
        let mut c = ts.connect();
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
            let mut args = vec!["MSET".to_string()];
            for i in chunk {
                args.push(format!("key:{i}"));
                args.push(format!("value-{i}-{}", "x".repeat(40)));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(c.cmd(&args));
        }
        ok(c.cmd(&["SAVE"]));
    }
    let size = std::fs::metadata(dir.join("big.rdb")).expect("dump").len();
    let ts = server_in(&dir, "big.rdb", &[]);
    let mut c = ts.connect();
    commands::family::persistence::mark_loading(&ts.server);
    const LOADING: &str = "LOADING Redis is loading the dataset in memory";
    assert_eq!(c.cmd(&["GET", "key:0"]), Frame::Error(LOADING.into()));
    // PING has no `loading` flag in Redis either; INFO has.
    assert_eq!(c.cmd(&["PING"]), Frame::Error(LOADING.into()));
    assert_eq!(info_field(&mut c, "loading"), "1");
    // Inside MULTI the command is refused as it is queued.
    ok(c.cmd(&["MULTI"]));
    assert_eq!(c.cmd(&["SET", "k", "v"]), Frame::Error(LOADING.into()));
    assert_eq!(c.cmd(&["DISCARD"]), Frame::Simple("OK".into()));

    let access = ts.server.keyspace.shared();
    let shard = access.db(0).lock(0);
    let server = ts.server.clone();
    let loader = std::thread::spawn(move || commands::family::persistence::load_dataset(&server));
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(&mut c, "loading_total_bytes") != size.to_string() {
        assert!(Instant::now() < deadline, "the load did not start");
        std::thread::yield_now();
    }
    assert_eq!(info_field(&mut c, "loading"), "1");
    let start: u64 = info_field(&mut c, "loading_start_time")
        .parse()
        .expect("time");
    assert!(start > 1_600_000_000, "{start}");
    let loaded: u64 = info_field(&mut c, "loading_loaded_bytes")
        .parse()
        .expect("n");
    assert!(loaded < size);
    let perc: f64 = info_field(&mut c, "loading_loaded_perc")
        .parse()
        .expect("perc");
    assert!((0.0..100.0).contains(&perc), "{perc}");
    info_field(&mut c, "loading_eta_seconds");
    let used_mem: u64 = info_field(&mut c, "loading_rdb_used_mem")
        .parse()
        .expect("n");
    assert!(used_mem > 0);
    assert_eq!(c.cmd(&["GET", "key:0"]), Frame::Error(LOADING.into()));
    drop(shard);
    drop(access);

    // Polling: LOADING until the whole dataset is in, never a partial answer.
    loop {
        match c.cmd(&["DBSIZE"]) {
            Frame::Error(e) => assert_eq!(e, LOADING),
            Frame::Integer(n) => {
                assert_eq!(n, KEYS as i64);
                break;
            }
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "the load did not end");
        std::thread::yield_now();
    }
    loader.join().expect("loader").expect("load");
    assert_eq!(info_field(&mut c, "loading"), "0");
    assert_eq!(
        info_field(&mut c, "rdb_last_load_keys_loaded"),
        KEYS.to_string()
    );
    assert_eq!(
        bulk(&c.cmd(&["GET", "key:59999"])),
        format!("value-59999-{}", "x".repeat(40))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
