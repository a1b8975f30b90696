//! maxmemory and eviction: each policy filled past a small limit (a few MB over what the
//! process uses), checking which keys go, `evicted_keys`, the `evicted` notification, and the
//! OOM error of noeviction, EXEC and scripts.
//!
//! Used memory is jemalloc's count for the whole process, so this binary uses jemalloc and
//! its tests take turns.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;

use common::{bulk, Conn, TestServer};

use protocol::Frame;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Memory is process-wide: one test at a time.
static TURN: Mutex<()> = Mutex::new(());

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
const VALUE_LEN: usize = 1000;
/// What the limit allows over the memory in use when it is set.
const HEADROOM: u64 = 3 << 20;

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let text = bulk(&c.cmd(&["INFO", section]));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .to_string()
}

fn info_u64(c: &mut Conn, section: &str, field: &str) -> u64 {
    info_field(c, section, field).parse().expect("number")
}

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn ok(f: Frame) {
    assert_eq!(f, Frame::Simple("OK".into()));
}

/// A test server that frees its keys when the test ends, so the next test starts from the
/// memory it really uses.
struct Fixture {
    ts: TestServer,
    c: Conn,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
        self.c.cmd(&["FLUSHALL", "SYNC"]);
    }
}

impl std::ops::Deref for Fixture {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.ts
    }
}

fn fixture(settings: &[(&str, &str)]) -> Fixture {
    let ts = TestServer::start(settings);
    let c = ts.connect();
    Fixture { ts, c }
}

/// A server with `policy`, and a limit of `HEADROOM` over the memory in use.
fn start(policy: &str) -> (Fixture, Conn, u64) {
    let f = fixture(&[("maxmemory-policy", policy)]);
    let mut c = f.connect();
    let used = info_u64(&mut c, "memory", "used_memory");
    let limit = used + HEADROOM;
    ok(c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]));
    (f, c, limit)
}

/// Sets `{prefix}{i}` for i in `range` to 1000-byte values (pipelined), with `EX ttl(i)`
/// when given. Returns the error replies by key index.
fn fill(
    c: &mut Conn,
    prefix: &str,
    range: std::ops::Range<usize>,
    ttl: Option<&dyn Fn(usize) -> u64>,
) -> Vec<(usize, String)> {
    let value = vec![b'v'; VALUE_LEN];
    let mut errors = Vec::new();
    let idx: Vec<usize> = range.collect();
    for batch in idx.chunks(100) {
        for &i in batch {
            let key = format!("{prefix}{i}");
            match ttl {
                Some(f) => {
                    let ex = f(i).to_string();
                    c.send(&[b"SET", key.as_bytes(), &value, b"EX", ex.as_bytes()])
                }
                None => c.send(&[b"SET", key.as_bytes(), &value]),
            }
        }
        for &i in batch {
            match c.read().expect("reply") {
                Frame::Simple(_) => {}
                Frame::Error(e) => errors.push((i, String::from_utf8_lossy(&e).into_owned())),
                other => panic!("unexpected reply {other:?}"),
            }
        }
    }
    errors
}

/// Which of `{prefix}{i}`, i in `range`, exist (pipelined EXISTS).
fn existing(c: &mut Conn, prefix: &str, range: std::ops::Range<usize>) -> HashSet<usize> {
    let idx: Vec<usize> = range.collect();
    let mut out = HashSet::new();
    for batch in idx.chunks(200) {
        for &i in batch {
            c.send(&[b"EXISTS", format!("{prefix}{i}").as_bytes()]);
        }
        for &i in batch {
            if int(&c.read().expect("reply")) == 1 {
                out.insert(i);
            }
        }
    }
    out
}

fn dbsize(c: &mut Conn) -> u64 {
    int(&c.cmd(&["DBSIZE"])) as u64
}

/// Used memory stays near the limit: at most one refresh interval of writes over it.
fn assert_near_limit(c: &mut Conn, limit: u64) {
    let used = info_u64(c, "memory", "used_memory");
    assert!(
        used <= limit + (1 << 20),
        "used_memory {used} far over maxmemory {limit}"
    );
}

#[test]
fn noeviction_refuses_writes_with_oom_and_serves_reads() {
    let _t = turn();
    let (_ts, mut c, limit) = start("noeviction");
    assert_eq!(info_u64(&mut c, "memory", "maxmemory"), limit);
    assert_eq!(
        info_field(&mut c, "memory", "maxmemory_policy"),
        "noeviction"
    );
    let errors = fill(&mut c, "k", 0..8000, None);
    assert!(!errors.is_empty(), "8 MB written under a 3 MB headroom");
    assert!(errors.iter().all(|(_, e)| e == OOM), "{errors:?}");
    let first = errors[0].0;
    assert!(first > 0);
    // Reads and non-DENYOOM writes still work; nothing was evicted.
    assert_eq!(bulk(&c.cmd(&["GET", "k0"])).len(), VALUE_LEN);
    assert_eq!(int(&c.cmd(&["EXISTS", &format!("k{}", first - 1)])), 1);
    assert_eq!(int(&c.cmd(&["STRLEN", "k0"])), VALUE_LEN as i64);
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
    assert_eq!(dbsize(&mut c), (8000 - errors.len()) as u64);
    assert_eq!(bulk(&c.cmd(&["APPEND", "k0", "x"])), OOM);
    assert_eq!(int(&c.cmd(&["DEL", "k0"])), 1);
    // Lifting the limit lifts the refusal.
    ok(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]));
    ok(c.cmd(&["SET", "k0", "again"]));
}

#[test]
fn allkeys_random_evicts_and_counts() {
    let _t = turn();
    let (_ts, mut c, limit) = start("allkeys-random");
    let errors = fill(&mut c, "k", 0..8000, None);
    assert!(errors.is_empty(), "{errors:?}");
    // No key expired, so every missing key was evicted. (The cron may still be evicting:
    // read until the count holds still around DBSIZE.)
    let (evicted, size) = loop {
        let before = info_u64(&mut c, "stats", "evicted_keys");
        let size = dbsize(&mut c);
        if info_u64(&mut c, "stats", "evicted_keys") == before {
            break (before, size);
        }
    };
    assert!(evicted > 0);
    assert_eq!(evicted, 8000 - size);
    assert_near_limit(&mut c, limit);
}

/// volatile-*: keys without a TTL are never evicted; once no key with a TTL is left, writes
/// get the OOM error.
fn volatile_policy_spares_persistent_keys(policy: &str) {
    let _t = turn();
    let (_ts, mut c, limit) = start(policy);
    let errors = fill(&mut c, "p", 0..1000, None);
    assert!(errors.is_empty());
    let errors = fill(&mut c, "v", 0..6000, Some(&|i| 100_000 + i as u64));
    assert!(errors.is_empty(), "{policy}: {errors:?}");
    assert!(info_u64(&mut c, "stats", "evicted_keys") > 0, "{policy}");
    assert_eq!(existing(&mut c, "p", 0..1000).len(), 1000, "{policy}");
    assert_near_limit(&mut c, limit);
    // Keys without a TTL push the volatile ones out, then are refused.
    let errors = fill(&mut c, "q", 0..8000, None);
    assert!(!errors.is_empty(), "{policy}");
    assert!(errors.iter().all(|(_, e)| e == OOM), "{policy}: {errors:?}");
    assert!(existing(&mut c, "v", 0..6000).is_empty(), "{policy}");
    assert_eq!(existing(&mut c, "p", 0..1000).len(), 1000, "{policy}");
    let written_q = 8000 - errors.len();
    assert_eq!(
        existing(&mut c, "q", 0..8000).len(),
        written_q,
        "{policy}: a key without TTL was evicted"
    );
    assert_eq!(
        info_u64(&mut c, "stats", "evicted_keys"),
        6000,
        "{policy}: every volatile key, and only those"
    );
}

#[test]
fn volatile_lru_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-lru");
}

#[test]
fn volatile_lfu_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-lfu");
}

#[test]
fn volatile_random_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-random");
}

#[test]
fn volatile_ttl_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-ttl");
}

/// A cheap deterministic spread of TTLs over keys (a multiplicative hash).
fn spread_ttl(i: usize) -> u64 {
    1000 + (i as u64).wrapping_mul(2_654_435_761) % 1_000_000
}

#[test]
fn volatile_ttl_evicts_soonest_expiring_first() {
    let _t = turn();
    let (_ts, mut c, _limit) = start("volatile-ttl");
    // Keys with spread TTLs that fit, then keys without TTL pushing about a quarter out.
    let n = 2000;
    let errors = fill(&mut c, "v", 0..n, Some(&spread_ttl));
    assert!(errors.is_empty(), "{errors:?}");
    assert!(fill(&mut c, "p", 0..1200, None).is_empty());
    let alive = existing(&mut c, "v", 0..n);
    let mut ttls: Vec<u64> = (0..n).map(spread_ttl).collect();
    ttls.sort_unstable();
    let median = ttls[n / 2];
    let evicted: Vec<u64> = (0..n)
        .filter(|i| !alive.contains(i))
        .map(spread_ttl)
        .collect();
    assert!(
        !evicted.is_empty() && evicted.len() < n / 2,
        "{} evicted",
        evicted.len()
    );
    let short = evicted.iter().filter(|&&t| t < median).count();
    // Random choice would take half from below the median.
    assert!(
        short * 10 >= evicted.len() * 8,
        "{short} of {} evicted keys had a TTL below the median",
        evicted.len()
    );
}

/// Writes new keys `c0`, `c1`... in batches of 100 until at least `n` keys were evicted
/// (however much memory the process had to start with); returns the number evicted.
fn fill_until_evicted(c: &mut Conn, n: usize) -> usize {
    for start in (0..20_000).step_by(100) {
        assert!(fill(c, "c", start..start + 100, None).is_empty());
        let evicted = info_u64(c, "stats", "evicted_keys") as usize;
        if evicted >= n {
            return evicted;
        }
    }
    panic!("20000 keys written, {n} not evicted");
}

#[test]
fn allkeys_lru_keeps_recently_touched_keys() {
    let _t = turn();
    let (ts, mut c, limit) = start("allkeys-lru");
    // A and B together fit; A is read 100 s later, then C pushes past the limit.
    assert!(fill(&mut c, "a", 0..1000, None).is_empty());
    assert!(fill(&mut c, "b", 0..1000, None).is_empty());
    ts.clock.advance(100_000);
    for batch in (0..1000).collect::<Vec<_>>().chunks(200) {
        for i in batch {
            c.send(&[b"GET", format!("a{i}").as_bytes()]);
        }
        for _ in batch {
            c.read().expect("reply");
        }
    }
    ts.clock.advance(100_000);
    let evicted = fill_until_evicted(&mut c, 300);
    let kept_a = existing(&mut c, "a", 0..1000);
    let a = kept_a.len();
    let b = existing(&mut c, "b", 0..1000).len();
    // Sampled LRU, as Redis's: mostly, not strictly, the oldest go (random eviction would
    // take A, B and C alike: about a third of the evictions each).
    assert!(
        a >= 900,
        "only {a} of 1000 recently read keys kept ({evicted} evicted)"
    );
    assert!(
        1000 - b >= evicted * 3 / 4,
        "{b} untouched kept, {evicted} evicted"
    );
    assert_near_limit(&mut c, limit);
    // OBJECT IDLETIME is real under an LRU policy (of a key eviction left; the cron's
    // eviction may still take some while memory is near the limit).
    let idle = kept_a
        .iter()
        .find_map(|i| match c.cmd(&["OBJECT", "IDLETIME", &format!("a{i}")]) {
            Frame::Integer(n) => Some(n),
            _ => None,
        })
        .expect("a key of A kept");
    assert_eq!(idle, 100);
}

#[test]
fn allkeys_lfu_keeps_frequently_read_keys() {
    let _t = turn();
    let (_ts, mut c, limit) = start("allkeys-lfu");
    assert!(fill(&mut c, "a", 0..1000, None).is_empty());
    assert!(fill(&mut c, "b", 0..1000, None).is_empty());
    for _ in 0..3 {
        for batch in (0..1000).collect::<Vec<_>>().chunks(200) {
            for i in batch {
                c.send(&[b"GET", format!("a{i}").as_bytes()]);
            }
            for _ in batch {
                c.read().expect("reply");
            }
        }
    }
    // The first access always counts: 5 (new) + 1 at least.
    assert!(int(&c.cmd(&["OBJECT", "FREQ", "a0"])) >= 6);
    assert_eq!(int(&c.cmd(&["OBJECT", "FREQ", "b0"])), 5);
    let evicted = fill_until_evicted(&mut c, 300);
    let a = existing(&mut c, "a", 0..1000).len();
    let b = existing(&mut c, "b", 0..1000).len();
    // Sampled LFU: mostly, not strictly, the least used go.
    assert!(
        a >= 900,
        "only {a} of 1000 frequently read keys kept ({evicted} evicted)"
    );
    // New keys (C) start at the same count as B: B loses its share of the evictions.
    assert!(b < 1000, "{evicted} evicted, none of B");
    assert_near_limit(&mut c, limit);
}

#[test]
fn evicted_keys_are_notified() {
    let _t = turn();
    let (ts, mut c, _limit) = start("allkeys-random");
    ok(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]));
    let mut sub = ts.connect();
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    assert!(fill(&mut c, "k", 0..6000, None).is_empty());
    assert!(info_u64(&mut c, "stats", "evicted_keys") > 0);
    let msg = match sub.read().expect("message") {
        Frame::Array(a) | Frame::Push(a) => a,
        other => panic!("not a message: {other:?}"),
    };
    assert_eq!(bulk(&msg[0]), "message");
    assert_eq!(bulk(&msg[1]), "__keyevent@0__:evicted");
    let key = bulk(&msg[2]);
    assert!(key.starts_with('k'));
    assert_eq!(int(&c.cmd(&["EXISTS", &key])), 0);
}

#[test]
fn exec_over_the_limit() {
    let _t = turn();
    let ts = fixture(&[]);
    let mut c = ts.connect();
    let mut admin = ts.connect();
    ok(c.cmd(&["SET", "x", "value"]));
    // Only reads queued: EXEC runs.
    ok(c.cmd(&["MULTI"]));
    c.cmd(&["GET", "x"]);
    c.cmd(&["PING"]);
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"]));
    match c.cmd(&["EXEC"]) {
        Frame::Array(a) => assert_eq!(bulk(&a[0]), "value"),
        other => panic!("{other:?}"),
    }
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]));
    // A DENYOOM command queued: EXEC is refused and the transaction discarded.
    ok(c.cmd(&["MULTI"]));
    c.cmd(&["SET", "x", "1"]);
    c.cmd(&["GET", "x"]);
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"]));
    assert_eq!(
        bulk(&c.cmd(&["EXEC"])),
        format!("EXECABORT Transaction discarded because of: {OOM}")
    );
    assert_eq!(bulk(&c.cmd(&["EXEC"])), "ERR EXEC without MULTI");
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]));
    assert_eq!(bulk(&c.cmd(&["GET", "x"])), "value");
}

/// Over the limit, every command queued inside MULTI is refused (even a read: queueing
/// takes memory), the transaction is flagged and EXEC aborts; DISCARD still works.
#[test]
fn commands_queued_over_the_limit_are_refused() {
    let _t = turn();
    let ts = fixture(&[]);
    let mut c = ts.connect();
    let mut admin = ts.connect();
    ok(c.cmd(&["SET", "x", "value"]));
    ok(c.cmd(&["MULTI"]));
    assert_eq!(c.cmd(&["GET", "x"]), Frame::Simple("QUEUED".into()));
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"]));
    assert_eq!(bulk(&c.cmd(&["GET", "x"])), OOM);
    assert_eq!(bulk(&c.cmd(&["SET", "x", "1"])), OOM);
    assert_eq!(
        bulk(&c.cmd(&["EXEC"])),
        "EXECABORT Transaction discarded because of previous errors."
    );
    // DISCARD is never refused.
    ok(c.cmd(&["MULTI"]));
    assert_eq!(bulk(&c.cmd(&["INCR", "x"])), OOM);
    ok(c.cmd(&["DISCARD"]));
    ok(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]));
    assert_eq!(bulk(&c.cmd(&["GET", "x"])), "value");
    let rejected = info_field(&mut c, "commandstats", "cmdstat_get");
    assert!(rejected.contains("rejected_calls=1"), "{rejected}");
}

/// CONFIG RESETSTAT sets `evicted_keys` back to 0.
#[test]
fn resetstat_clears_evicted_keys() {
    let _t = turn();
    let (_ts, mut c, _limit) = start("allkeys-random");
    assert!(fill(&mut c, "k", 0..6000, None).is_empty());
    assert!(info_u64(&mut c, "stats", "evicted_keys") > 0);
    ok(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]));
    ok(c.cmd(&["CONFIG", "RESETSTAT"]));
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
}

#[test]
fn scripts_over_the_limit() {
    let _t = turn();
    let ts = fixture(&[]);
    let mut c = ts.connect();
    ok(c.cmd(&["SET", "x", "value"]));
    ok(c.cmd(&["SET", "tmp", "1"]));
    ok(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]));
    // A script without flags: its first DENYOOM command fails.
    let e = bulk(&c.cmd(&["EVAL", "return redis.call('set', 'x', 'y')", "0"]));
    assert!(e.starts_with(OOM), "{e}");
    // ... but one that writes first (DEL is not DENYOOM) may go on.
    let r = c.cmd(&[
        "EVAL",
        "redis.call('del', 'tmp'); redis.call('incr', 'n'); return redis.call('get', 'x')",
        "0",
    ]);
    assert_eq!(bulk(&r), "value");
    // Declared flags without allow-oom: refused before it runs.
    assert_eq!(
        bulk(&c.cmd(&["EVAL", "#!lua\nreturn redis.call('get', 'x')", "0"])),
        OOM
    );
    // allow-oom and no-writes scripts run.
    let r = c.cmd(&[
        "EVAL",
        "#!lua flags=allow-oom\nreturn redis.call('set', 'y', '1')",
        "0",
    ]);
    assert_eq!(bulk(&r), "OK");
    let r = c.cmd(&[
        "EVAL",
        "#!lua flags=no-writes\nreturn redis.call('get', 'x')",
        "0",
    ]);
    assert_eq!(bulk(&r), "value");
    ok(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]));
    ok(c.cmd(&["SET", "x", "z"]));
}

/// RESTORE IDLETIME sets the idle time under LRU policies and FREQ the LFU counter under
/// LFU ones (Redis's objectSetLRUOrLFU); each is ignored under the other kind of policy.
#[test]
fn restore_sets_idle_time_or_frequency_by_policy() {
    let t = TestServer::start(&[]);
    let mut c = t.connect();
    ok(c.cmd(&["SET", "src", "v"]));
    let payload = match c.cmd(&["DUMP", "src"]) {
        Frame::Bulk(b) => b,
        other => panic!("{other:?}"),
    };
    let restore = |c: &mut Conn, key: &str, opt: &str, n: &str| {
        let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), b"0", &payload];
        args.extend([opt.as_bytes(), n.as_bytes()]);
        c.send(&args);
        ok(c.read().expect("reply"));
    };
    restore(&mut c, "idle", "IDLETIME", "1000");
    assert_eq!(int(&c.cmd(&["OBJECT", "IDLETIME", "idle"])), 1000);
    ok(c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]));
    restore(&mut c, "hot", "FREQ", "100");
    assert_eq!(int(&c.cmd(&["OBJECT", "FREQ", "hot"])), 100);
    // Under LFU, IDLETIME is ignored: the key starts with the initial counter, 5.
    restore(&mut c, "idle2", "IDLETIME", "1000");
    assert_eq!(int(&c.cmd(&["OBJECT", "FREQ", "idle2"])), 5);
}
