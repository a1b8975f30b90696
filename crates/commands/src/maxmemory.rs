//! maxmemory: admission of commands when memory is over the limit, and eviction by
//! `maxmemory-policy` (Redis's `performEvictions`).
//!
//! Before every command the dispatcher calls [`admit`]. With `maxmemory` 0 (the default) and
//! the parameters already applied, that is one atomic load. Otherwise the used-memory figure
//! is compared with the limit; when over, keys are evicted by the policy (the choice of keys
//! is `keyspace::evict`) until under, or until the `maxmemory-eviction-tenacity` time limit
//! is spent (the cron then goes on, as Redis's eviction time proc). If memory is still over
//! and nothing more can be evicted, commands flagged DENYOOM — and EXEC when its queue holds
//! one — are refused with Redis's OOM error.
//!
//! The used-memory figure is jemalloc's allocated bytes (RSS where jemalloc is not the
//! allocator), as INFO `used_memory`. Reading it needs a jemalloc epoch advance, so it is
//! cached and re-read at most once a millisecond, and at once while evicting.
//!
//! Scripts: as Redis's `scriptVerifyOOM`, a script started while over the limit may not run
//! a DENYOOM command before it has written anything, unless it declares `allow-oom` (or
//! `no-writes`); scripts that declare flags without either are refused when they start.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use bytes::Bytes;
use keyspace::evict::{Policy, Pool, Run};
use parking_lot::Mutex;
use scripting::flags::{ALLOW_OOM, EVAL_COMPAT, NO_WRITES};

use crate::client::Client;
use crate::errors::{self, CmdError};
use crate::registry::registry;
use crate::server::Server;
use crate::spec::{flag, CommandSpec};

/// The maxmemory parameters as read per command, the cached used-memory figure and the
/// eviction pool (one per server, kept in its `Config`).
pub struct MaxMemory {
    /// Set while `maxmemory` is non-zero or changed parameters are not yet applied to the
    /// keyspace: the only thing [`admit`] reads otherwise.
    armed: AtomicBool,
    limit: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    tenacity: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    /// Bumped by every parameter change; `applied` is the one the keyspace has.
    generation: AtomicU64,
    applied: AtomicU64,
    /// The used-memory figure and when it was read (ns since `epoch`, plus one; 0: never).
    used: AtomicU64,
    used_at: AtomicU64,
    epoch: quanta::Instant,
    /// Held by the one thread evicting; the pool keeps the best candidates between runs,
    /// and the last run (with when it started) is reused for a while.
    pool: Mutex<(Pool, Option<(Run, quanta::Instant)>)>,
}

const POLICIES: [Policy; 8] = [
    Policy::NoEviction,
    Policy::AllKeysLru,
    Policy::AllKeysLfu,
    Policy::AllKeysRandom,
    Policy::VolatileLru,
    Policy::VolatileLfu,
    Policy::VolatileRandom,
    Policy::VolatileTtl,
];

impl Default for MaxMemory {
    fn default() -> Self {
        MaxMemory {
            armed: AtomicBool::new(true),
            limit: AtomicU64::new(0),
            policy: AtomicU8::new(0),
            samples: AtomicU32::new(5),
            tenacity: AtomicU32::new(10),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            generation: AtomicU64::new(1),
            applied: AtomicU64::new(0),
            used: AtomicU64::new(0),
            used_at: AtomicU64::new(0),
            epoch: quanta::Instant::now(),
            pool: Mutex::new((Pool::default(), None)),
        }
    }
}

impl MaxMemory {
    /// Takes the current parameter values (called whenever the configuration changes).
    pub fn refresh(&self, values: &BTreeMap<&'static str, String>) {
        let num = |k: &str| {
            values
                .get(k)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let policy = values
            .get("maxmemory-policy")
            .and_then(|p| Policy::from_name(p))
            .unwrap_or(Policy::NoEviction);
        let index = POLICIES.iter().position(|&p| p == policy).unwrap_or(0);
        self.policy.store(index as u8, Ordering::Relaxed);
        self.limit.store(num("maxmemory"), Ordering::Relaxed);
        self.samples
            .store(num("maxmemory-samples").max(1) as u32, Ordering::Relaxed);
        self.tenacity.store(
            values
                .get("maxmemory-eviction-tenacity")
                .and_then(|s| s.parse().ok())
                .unwrap_or(10),
            Ordering::Relaxed,
        );
        let clamp = |n: u64| n.min(u32::MAX as u64) as u32;
        self.lfu_log_factor
            .store(clamp(num("lfu-log-factor")), Ordering::Relaxed);
        self.lfu_decay_time
            .store(clamp(num("lfu-decay-time")), Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn policy(&self) -> Policy {
        POLICIES[self.policy.load(Ordering::Relaxed) as usize % POLICIES.len()]
    }

    /// Applies changed parameters to the keyspace (LRU or LFU access tracking) and
    /// recomputes `armed`.
    fn apply(&self, server: &Server) {
        let generation = self.generation.load(Ordering::SeqCst);
        if self.applied.load(Ordering::SeqCst) == generation {
            return;
        }
        server.keyspace.set_tracking(
            self.policy().lfu(),
            self.lfu_log_factor.load(Ordering::Relaxed),
            self.lfu_decay_time.load(Ordering::Relaxed),
        );
        self.applied.store(generation, Ordering::SeqCst);
        // A change made meanwhile keeps `armed` set until it is applied in turn.
        let pending = self.generation.load(Ordering::SeqCst) != generation;
        self.armed
            .store(pending || self.limit() > 0, Ordering::SeqCst);
    }

    /// The used-memory figure compared with the limit: re-read when older than 1 ms, or
    /// always when `fresh`.
    fn used(&self, fresh: bool) -> u64 {
        // 0 means never read.
        let now = self.epoch.elapsed().as_nanos() as u64 + 1;
        let at = self.used_at.load(Ordering::Relaxed);
        if !fresh && at != 0 && now.saturating_sub(at) < 1_000_000 {
            return self.used.load(Ordering::Relaxed);
        }
        let used = match crate::family::info::allocated() {
            0 => crate::family::info::rss(),
            n => n,
        };
        self.used.store(used, Ordering::Relaxed);
        self.used_at.store(now, Ordering::Relaxed);
        used
    }

    /// Redis's `evictionTimeLimitUs`: how long one eviction run may take.
    fn time_limit_us(&self) -> u64 {
        let t = self.tenacity.load(Ordering::Relaxed).min(100);
        if t <= 10 {
            50 * u64::from(t)
        } else if t < 100 {
            (500.0 * 1.15f64.powi(t as i32 - 10)) as u64
        } else {
            u64::MAX
        }
    }
}

/// What an eviction run achieved (Redis's `EVICT_OK`, `EVICT_RUNNING`, `EVICT_FAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evicted {
    /// Memory is under the limit.
    Ok,
    /// Still over, but the time limit stopped the run; eviction goes on later.
    Running,
    /// Still over and nothing (more) can be evicted.
    Fail,
}

/// Frees memory by the policy while used memory is over `maxmemory`.
pub fn perform_evictions(server: &Server) -> Evicted {
    let mm = &server.config.memory;
    let max = mm.limit();
    if max == 0 || mm.used(false) <= max {
        return Evicted::Ok;
    }
    // Replicas ignore maxmemory (Redis's default `replica-ignore-maxmemory yes`): they
    // stay exact copies, and the master's writes are never refused.
    if server.replication.is_replica() {
        return Evicted::Ok;
    }
    let policy = mm.policy();
    if policy == Policy::NoEviction {
        return Evicted::Fail;
    }
    // One evictor at a time; whoever waited finds memory freed by the one before.
    let mut guard = mm.pool.lock();
    let (pool, kept) = &mut *guard;
    let used = mm.used(true);
    if used <= max {
        return Evicted::Ok;
    }
    let start = quanta::Instant::now();
    let limit_us = mm.time_limit_us();
    // Evictions are logged to the AOF and replicas in order with the writers.
    let _order = server
        .propagation
        .is_active()
        .then(|| server.propagation.order());
    let keyspace = &server.keyspace;
    let access = keyspace.shared();
    let samples = mm.samples.load(Ordering::Relaxed) as usize;
    // The shards with candidates, found again when the kept run is for other parameters or
    // older than 100 ms.
    let mut fresh_run = false;
    let run = match kept.take() {
        Some((run, at))
            if run.policy() == policy
                && run.samples() == samples.max(1)
                && at.elapsed() < std::time::Duration::from_millis(100) =>
        {
            &mut kept.insert((run, at)).0
        }
        _ => {
            fresh_run = true;
            let run = keyspace.eviction_run(&access, policy, samples);
            &mut kept.insert((run, quanta::Instant::now())).0
        }
    };
    let mut to_free = used - max;
    let (mut freed, mut keys) = (0u64, 0u64);
    loop {
        if freed >= to_free {
            // The estimate says enough: measure.
            let used = mm.used(true);
            if used <= max {
                return Evicted::Ok;
            }
            to_free = freed + (used - max);
        }
        match keyspace.evict_one(&access, pool, run) {
            Some(bytes) => {
                freed += bytes as u64;
                keys += 1;
            }
            None if !fresh_run => {
                // The kept run may have missed shards that gained keys: look again.
                fresh_run = true;
                *run = keyspace.eviction_run(&access, policy, samples);
            }
            None => {
                let ok = mm.used(true) <= max;
                return if ok { Evicted::Ok } else { Evicted::Fail };
            }
        }
        if keys > 0 && keys % 16 == 0 && start.elapsed().as_micros() as u64 > limit_us {
            return Evicted::Running;
        }
    }
}

thread_local! {
    /// What the outermost command found when it was admitted, for the commands a script it
    /// runs calls: over the limit then, the script's OOM flags, and the write count before
    /// the script's first command (None until that command).
    static SCRIPT_OOM: Cell<ScriptOom> = const { Cell::new(ScriptOom::NONE) };
}

#[derive(Clone, Copy)]
struct ScriptOom {
    over: bool,
    allow: bool,
    dirty_before: Option<u64>,
}

impl ScriptOom {
    const NONE: ScriptOom = ScriptOom {
        over: false,
        allow: true,
        dirty_before: None,
    };
}

/// Called by the dispatcher before every command runs (outside any lock): frees memory by
/// the configured policy when over `maxmemory`, and refuses commands that may grow memory
/// (DENYOOM) when it cannot.
#[inline]
pub fn admit(
    server: &Server,
    client: &mut Client,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(), CmdError> {
    if !server.config.memory.armed.load(Ordering::Relaxed) {
        return Ok(());
    }
    admit_armed(server, client, spec, args)
}

#[cold]
fn admit_armed(
    server: &Server,
    client: &mut Client,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(), CmdError> {
    let mm = &server.config.memory;
    mm.apply(server);
    let over = mm.limit() > 0 && perform_evictions(server) == Evicted::Fail;
    let flags = if over {
        script_flags_of(server, spec, Some(args))
    } else {
        None
    };
    SCRIPT_OOM.with(|s| {
        s.set(ScriptOom {
            over,
            allow: flags.is_some_and(allows_oom),
            dirty_before: None,
        })
    });
    if !over {
        return Ok(());
    }
    // A script that declares flags without allow-oom counts as DENYOOM (Redis's
    // scriptFlagsToCmdFlags).
    let declared_denyoom = flags.is_some_and(|f| f & EVAL_COMPAT == 0 && !allows_oom(f));
    if spec.has(flag::DENYOOM) || declared_denyoom {
        return Err(errors::OOM);
    }
    if spec.name == "exec" {
        let reg = registry();
        let denied = client.multi.as_ref().is_some_and(|m| {
            m.queued
                .iter()
                .any(|(id, _)| reg.spec(*id).has(flag::DENYOOM))
        });
        if denied {
            // Redis's execCommandAbort: the transaction is discarded.
            client.multi = None;
            client.watching = None;
            client.handle.multi.store(-1, Ordering::Relaxed);
            client.handle.watched.store(0, Ordering::Relaxed);
            return Err(errors::EXECABORT_OOM);
        }
    }
    Ok(())
}

/// A command about to be queued inside MULTI while memory is over `maxmemory` and nothing
/// more can be evicted: refused whatever its flags, since queueing itself takes memory
/// (Redis's `processCommand`; EXEC, DISCARD, QUIT and RESET are never queued, so never
/// refused here). The refusal flags the transaction, so EXEC then aborts.
pub fn admit_queued(server: &Server) -> Result<(), CmdError> {
    let mm = &server.config.memory;
    if !mm.armed.load(Ordering::Relaxed) {
        return Ok(());
    }
    mm.apply(server);
    if mm.limit() > 0 && perform_evictions(server) == Evicted::Fail {
        return Err(errors::OOM);
    }
    Ok(())
}

/// Called before a command run by EXEC or a script (`nested.rs`): a script started while
/// over the limit may not run a DENYOOM command before its first write, unless it allows
/// OOM (Redis's `scriptVerifyOOM`). EXEC's own commands are checked when EXEC is admitted.
#[inline]
pub fn admit_nested(server: &Server, spec: &CommandSpec, args: &[Bytes]) -> Result<(), CmdError> {
    if !server.config.memory.armed.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut state = SCRIPT_OOM.with(Cell::get);
    if !state.over {
        return Ok(());
    }
    if is_script_command(spec) {
        // A script run by EXEC: its own flags, and its writes count from its first command.
        state.allow = script_flags_of(server, spec, Some(args)).is_some_and(allows_oom);
        state.dirty_before = None;
        SCRIPT_OOM.with(|s| s.set(state));
        return Ok(());
    }
    let dirty = server.keyspace.feed.dirty();
    let before = *state.dirty_before.get_or_insert(dirty);
    SCRIPT_OOM.with(|s| s.set(state));
    if !state.allow && spec.has(flag::DENYOOM) && dirty == before {
        return Err(errors::OOM);
    }
    Ok(())
}

fn is_script_command(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Whether script flags let a script run DENYOOM commands over the limit.
fn allows_oom(flags: u32) -> bool {
    flags & EVAL_COMPAT == 0 && flags & (ALLOW_OOM | NO_WRITES) != 0
}

/// The flags of the script a command runs (`EVAL_COMPAT` for a script without a shebang);
/// None for other commands, and where they cannot be known without waiting (a script is
/// running and holds the engine).
fn script_flags_of(server: &Server, spec: &CommandSpec, args: Option<&[Bytes]>) -> Option<u32> {
    if !is_script_command(spec) {
        return None;
    }
    let target = args?.get(1)?;
    match spec.name {
        "eval" | "eval_ro" => script_flags(target),
        "evalsha" | "evalsha_ro" => {
            let st = crate::family::scripting::state(server).ok()?;
            let engine = st.engine.try_lock()?;
            let sha = String::from_utf8_lossy(target).to_ascii_lowercase();
            engine.script(&sha).map(|s| s.flags)
        }
        _ => {
            let st = crate::family::scripting::state(server).ok()?;
            let engine = st.engine.try_lock()?;
            let name = String::from_utf8_lossy(target);
            engine.function(&name).map(|f| f.flags)
        }
    }
}

/// The flags of a script body's `#!lua flags=...` shebang (`EVAL_COMPAT` without one).
fn script_flags(body: &[u8]) -> Option<u32> {
    let Some(rest) = body.strip_prefix(b"#!") else {
        return Some(EVAL_COMPAT);
    };
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    let line = std::str::from_utf8(line).ok()?;
    let mut f = 0;
    for part in line.split_whitespace().skip(1) {
        if let Some(list) = part.strip_prefix("flags=") {
            for name in list.split(',').filter(|n| !n.is_empty()) {
                f |= scripting::flags::parse(name)?;
            }
        }
    }
    Some(f)
}

/// Periodic work (from the server cron): applies changed parameters, and goes on evicting
/// while an eviction run stopped at its time limit (Redis's eviction time proc).
pub fn cron(server: &Server) {
    let mm = &server.config.memory;
    if !mm.armed.load(Ordering::Relaxed) || crate::family::persistence::loading(server) {
        return;
    }
    mm.apply(server);
    if mm.limit() > 0 {
        let deadline = quanta::Instant::now() + std::time::Duration::from_millis(50);
        while perform_evictions(server) == Evicted::Running && quanta::Instant::now() < deadline {}
    }
}

/// Keys evicted since start (INFO stats `evicted_keys`).
pub fn evicted_keys(server: &Server) -> u64 {
    server.keyspace.evicted.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags() {
        use scripting::flags::*;
        let _ = ALLOW_STALE;
        assert_eq!(script_flags(b"return 1"), Some(EVAL_COMPAT));
        assert_eq!(script_flags(b"#!lua\nreturn 1"), Some(0));
        assert_eq!(
            script_flags(b"#!lua flags=allow-oom,no-writes\nreturn 1"),
            Some(ALLOW_OOM | NO_WRITES)
        );
        assert_eq!(script_flags(b"#!lua flags=bogus\nreturn 1"), None);
    }

    #[test]
    fn tenacity_time_limits() {
        let mm = MaxMemory::default();
        let at = |t: u32| {
            mm.tenacity.store(t, Ordering::Relaxed);
            mm.time_limit_us()
        };
        assert_eq!(at(0), 0);
        assert_eq!(at(10), 500);
        assert_eq!(at(11), 575);
        assert_eq!(at(100), u64::MAX);
    }
}
