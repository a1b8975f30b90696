//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, and the glue between the Lua engine
//! (crate `scripting`) and the commands: the per-server engine, `redis.call` running
//! commands on the databases the script's command holds exclusively, and the busy-script
//! gate (BUSY replies, SCRIPT KILL / FUNCTION KILL) the dispatcher consults.
//!
//! A script runs under its command's exclusive world lock (flag EXCLUSIVE), so it is atomic
//! and may touch keys it did not declare. Other clients' commands wait for it, up to
//! `busy-reply-threshold` ms; after that they get BUSY, and SCRIPT KILL, FUNCTION KILL and
//! SHUTDOWN NOSAVE are answered without the world lock.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use keyspace::Dbs;
use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};
use protocol::{Protocol, ReplyWriter};
use scripting::{Engine, Host, Target};

use crate::args::{is, parse_i64};
use crate::client::{Action, Client};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::family::server::help_reply;
use crate::nested::{resolve, run_nested};
use crate::registry::registry;
use crate::server::Server;
use crate::spec::{flag::*, CommandSpec, Keys};

/// The scripting state of one server (`Server::scripts`): the busy gate the dispatcher
/// consults for every command, and the Lua engine, created on first use.
#[derive(Default)]
pub struct ScriptState {
    /// Held by every command from its busy check until it holds the world lock; a script's
    /// command takes it exclusively to announce the script. So a command either sees the
    /// script announced (and waits or gets BUSY) or holds the world lock before the script.
    gate: RwLock<()>,
    /// Scripts announced now (0 or 1): the gate costs one atomic load while this is zero.
    running: Arc<AtomicUsize>,
    scripting: OnceLock<Arc<Scripting>>,
    /// Serializes the engine's creation.
    init: Mutex<()>,
}

/// The Lua engine of one server and the script it runs.
pub struct Scripting {
    pub engine: Mutex<Engine>,
    kill: Arc<AtomicBool>,
    running: Mutex<Option<Running>>,
    /// `ScriptState::running`, counted with `running`.
    announced: Arc<AtomicUsize>,
    ended: Condvar,
    /// Library and function counts, readable while a script holds the engine.
    pub libraries: AtomicUsize,
    pub functions: AtomicUsize,
}

/// The script running now.
#[derive(Clone)]
struct Running {
    name: String,
    eval: bool,
    started: Instant,
    /// The command that runs it (FUNCTION STATS).
    command: Vec<Bytes>,
    /// It already wrote: SCRIPT KILL refuses (UNKILLABLE).
    wrote: Arc<AtomicBool>,
}

/// The scripting state of `server`, created on first use.
pub fn state(server: &Server) -> Result<Arc<Scripting>, CmdError> {
    let scripts = &server.scripts;
    if let Some(s) = scripts.scripting.get() {
        return Ok(s.clone());
    }
    let _init = scripts.init.lock();
    if let Some(s) = scripts.scripting.get() {
        return Ok(s.clone());
    }
    let engine = Engine::new().map_err(owned)?;
    engine.set_long_run_hook(hand_off_worker);
    let kill = engine.kill_flag();
    let s = Arc::new(Scripting {
        engine: Mutex::new(engine),
        kill,
        running: Mutex::new(None),
        announced: scripts.running.clone(),
        ended: Condvar::new(),
        libraries: AtomicUsize::new(0),
        functions: AtomicUsize::new(0),
    });
    Ok(scripts.scripting.get_or_init(|| s).clone())
}

impl Scripting {
    /// The running script's name, command and duration (ms), if one runs.
    pub fn running_info(&self) -> Option<(String, Vec<Bytes>, u128)> {
        let r = self.running.lock();
        let r = r.as_ref()?;
        Some((
            r.name.clone(),
            r.command.clone(),
            r.started.elapsed().as_millis(),
        ))
    }
}

fn existing_state(server: &Server) -> Option<&Scripting> {
    server.scripts.scripting.get().map(|s| &**s)
}

pub(crate) fn owned(text: String) -> CmdError {
    CmdError(Cow::Owned(text))
}

const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

fn threshold_ms(server: &Server) -> u64 {
    let busy = server.config.get_i64("busy-reply-threshold");
    let legacy = server.config.get_i64("lua-time-limit");
    (if busy == 5000 && legacy != 5000 {
        legacy
    } else {
        busy
    })
    .max(0) as u64
}

/// SCRIPT KILL (`eval`) / FUNCTION KILL.
pub(crate) fn kill(st: &Scripting, eval: bool) -> Result<(), CmdError> {
    let running = st.running.lock().clone();
    let Some(r) = running else {
        return Err(CmdError::new(NOTBUSY));
    };
    if r.wrote.load(Ordering::SeqCst) {
        return Err(CmdError::new(UNKILLABLE));
    }
    if eval && !r.eval {
        return Err(CmdError::new(BUSY_FUNCTION));
    }
    if !eval && r.eval {
        return Err(CmdError::new(BUSY_EVAL));
    }
    st.kill.store(true, Ordering::SeqCst);
    Ok(())
}

/// What the dispatcher holds until it has the world lock (see [`busy_gate`]).
pub struct Gate<'a>(#[allow(dead_code)] Option<RwLockReadGuard<'a, ()>>);

const SCRIPT_COMMANDS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// The dispatcher's gate, before it takes the world lock: while a script runs, a command
/// without ALLOW_BUSY waits for it up to `busy-reply-threshold`, then gets BUSY; SCRIPT
/// KILL, FUNCTION KILL and FUNCTION STATS are answered here, without the world lock the
/// script holds; SHUTDOWN NOSAVE kills the script so its own wait ends. None when it
/// answered the command; otherwise what to hold until the world lock is taken.
pub fn busy_gate<'a>(
    server: &'a Server,
    out: &mut ReplyWriter,
    id: usize,
    args: &[Bytes],
) -> Option<Gate<'a>> {
    let reg = registry();
    let name = reg.full_name(id);
    if SCRIPT_COMMANDS.contains(&name) {
        // Announce the script before its command waits for the world lock.
        let Ok(st) = state(server) else {
            return Some(Gate(None));
        };
        loop {
            let gate = server.scripts.gate.write();
            let mut running = st.running.lock();
            if running.is_none() {
                *running = Some(Running {
                    name: String::new(),
                    eval: name.starts_with("eval"),
                    started: Instant::now(),
                    command: Vec::new(),
                    wrote: Arc::new(AtomicBool::new(false)),
                });
                st.kill.store(false, Ordering::SeqCst);
                st.announced.fetch_add(1, Ordering::SeqCst);
                drop(running);
                drop(gate);
                return Some(Gate(None));
            }
            drop(gate);
            // Another script is announced: wait for it like any command.
            if !wait_or_busy(server, &st, &mut running, out, id) {
                return None;
            }
        }
    }
    loop {
        // `read_recursive`: a reader never queues behind a waiting writer, so SCRIPT KILL gets
        // through while an EVAL waits to announce itself behind a reader that waits on the
        // world lock held by the running script.
        let guard = server.scripts.gate.read_recursive();
        if server.scripts.running.load(Ordering::SeqCst) == 0 {
            return Some(Gate(Some(guard)));
        }
        let Some(st) = existing_state(server) else {
            return Some(Gate(Some(guard)));
        };
        let spec = reg.spec(id);
        let answer = |out: &mut ReplyWriter, r: Result<(), CmdError>| {
            if let Err(e) = r {
                server.stats.cmd[id].failed.fetch_add(1, Ordering::Relaxed);
                server.stats.record_error(e.code());
                out.error(e.text().as_bytes());
            }
            server.stats.cmd[id].calls.fetch_add(1, Ordering::Relaxed);
            None
        };
        match name {
            "script|kill" => {
                let r = kill(st, true).map(|()| out.ok());
                return answer(out, r);
            }
            "function|kill" => {
                let r = kill(st, false).map(|()| out.ok());
                return answer(out, r);
            }
            "function|stats" => {
                crate::family::functions::write_stats(st, out);
                return answer(out, Ok(()));
            }
            "shutdown" if args.iter().any(|a| is(a, "nosave")) => {
                if st.running.lock().is_some() {
                    st.kill.store(true, Ordering::SeqCst);
                }
                return Some(Gate(Some(guard)));
            }
            _ => {}
        }
        let mut running = st.running.lock();
        // Without NOSAVE, SHUTDOWN waits for the script and then gets BUSY like any command
        // (Redis's shutdownCommand refuses it while a script runs past the threshold).
        if running.is_none() || (spec.has(ALLOW_BUSY) && name != "shutdown") {
            return Some(Gate(Some(guard)));
        }
        drop(guard);
        if !wait_or_busy(server, st, &mut running, out, id) {
            return None;
        }
    }
}

/// Waits for the running script to end (true) or, past the threshold, answers BUSY (false).
fn wait_or_busy(
    server: &Server,
    st: &Scripting,
    running: &mut parking_lot::MutexGuard<'_, Option<Running>>,
    out: &mut ReplyWriter,
    id: usize,
) -> bool {
    let limit = Duration::from_millis(threshold_ms(server));
    loop {
        let Some(r) = running.as_ref() else {
            return true;
        };
        let elapsed = r.started.elapsed();
        if elapsed >= limit {
            let text = if r.eval { BUSY_EVAL } else { BUSY_FUNCTION };
            server.stats.cmd[id]
                .rejected
                .fetch_add(1, Ordering::Relaxed);
            server.stats.record_error("BUSY");
            out.error(text.as_bytes());
            return false;
        }
        off_worker(|| st.ended.wait_for(running, limit - elapsed));
    }
}

/// Runs `f`, which may block for long (a script, a wait for one), off the async worker:
/// on a multi-threaded runtime the worker's queue moves to another thread meanwhile, so
/// the other connections (SCRIPT KILL, BUSY replies) are still served when every other
/// worker is busy too.
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Called by a script that has run its first 100,000 instructions: on a multi-threaded
/// runtime, hands this worker's queue (the other connections it serves: BUSY replies,
/// SCRIPT KILL) to another thread while the script goes on here. Returns once a task
/// spawned meanwhile has run, i.e. once the runtime is served elsewhere (or after 10 ms).
fn hand_off_worker() {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return;
    }
    let served = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = served.clone();
    tokio::task::block_in_place(|| {
        handle.spawn(async move { flag.store(true, Ordering::Release) });
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(10);
        while !served.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    });
}

thread_local! {
    /// Whether this thread runs a script's commands now (MONITOR shows them as `lua`).
    static IN_SCRIPT: Cell<bool> = const { Cell::new(false) };
}

/// Marks the thread as running a script until dropped.
struct InScript(bool);

impl InScript {
    fn enter() -> Self {
        InScript(IN_SCRIPT.with(|c| c.replace(true)))
    }
}

impl Drop for InScript {
    fn drop(&mut self) {
        IN_SCRIPT.with(|c| c.set(self.0));
    }
}

/// Whether the command running on this thread was called by a script (`redis.call`).
pub fn in_script() -> bool {
    IN_SCRIPT.with(|c| c.get())
}

/// Ends the announcement of a script command's gate (its handler runs this on every exit).
pub(crate) struct Announced<'a>(pub(crate) &'a Scripting);

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        let mut running = self.0.running.lock();
        if running.take().is_some() {
            self.0.announced.fetch_sub(1, Ordering::SeqCst);
        }
        drop(running);
        self.0.ended.notify_all();
    }
}

/// What `redis.call` runs commands with: the script's own client on the databases lent
/// by the script's command.
struct ScriptHost<'a> {
    server: &'a Server,
    client: Client,
    dbs: &'a mut Dbs,
    now_ms: u64,
    read_only: bool,
    wrote: Arc<AtomicBool>,
}

impl Host for ScriptHost<'_> {
    fn call(&mut self, args: Vec<Bytes>, resp3: bool) -> Result<Bytes, String> {
        let id = match resolve(&args) {
            Ok(id) => id,
            Err((Some(_), e)) if e.text().starts_with("ERR wrong number") => {
                return Err("ERR Wrong number of args calling Redis command from script".into())
            }
            Err(_) => return Err("ERR Unknown Redis command called from script".into()),
        };
        let spec = registry().spec(id);
        if spec.has(NOSCRIPT) {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        if spec.has(WRITE) && self.read_only {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        let proto = if resp3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        self.client.proto = proto;
        self.client.deny_blocking = Some(spec.name);
        let mut out = ReplyWriter::new(proto);
        let dirty = self.server.keyspace.feed.dirty();
        let r = run_nested(
            self.server,
            &mut self.client,
            self.dbs,
            &mut out,
            id,
            &args,
            self.now_ms,
        );
        if self.server.keyspace.feed.dirty() != dirty {
            self.wrote.store(true, Ordering::SeqCst);
        }
        if let Some(Action::Block(req)) = self.client.action.take() {
            // Nothing blocks inside a script: answer as on timeout.
            out = ReplyWriter::new(proto);
            crate::family::transactions::deny_block(&mut out, spec.name, req.on_timeout);
        }
        if let Err(e) = r {
            out.error(e.text().as_bytes());
        }
        Ok(out.buf.freeze())
    }

    fn command_exists(&mut self, name: &[u8]) -> bool {
        registry().lookup(name).is_some()
    }
}

/// Runs `target` for the command in `cx` (EVAL*, FCALL*): numkeys, the running-script
/// bookkeeping, the script's client.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_target(
    cx: &mut Ctx<'_>,
    st: &Scripting,
    engine: &mut Engine,
    target: Target<'_>,
    command: &[Bytes],
    keys: &[Bytes],
    argv: &[Bytes],
    read_only: bool,
) -> CmdResult {
    let name = match &target {
        Target::Script(s) | Target::Function(s) => s.to_string(),
    };
    let eval = matches!(target, Target::Script(_));
    let Some(dbs) = cx.store.access.exclusive() else {
        return Err(CmdError::err("scripts need exclusive access"));
    };
    let wrote = Arc::new(AtomicBool::new(false));
    let info = Running {
        name,
        eval,
        started: Instant::now(),
        command: command.to_vec(),
        wrote: wrote.clone(),
    };
    {
        // Announced by the gate, or (inside EXEC) not yet: announce it now.
        let mut running = st.running.lock();
        if running.is_none() {
            st.kill.store(false, Ordering::SeqCst);
            st.announced.fetch_add(1, Ordering::SeqCst);
        }
        *running = Some(info);
    }
    let guard = Announced(st);
    let mut fake = Client::new(cx.client.handle.clone(), true);
    fake.db = cx.client.db;
    let mut host = ScriptHost {
        server: cx.server,
        client: fake,
        dbs,
        now_ms: cx.store.now_ms,
        read_only,
        wrote,
    };
    let in_script = InScript::enter();
    // A long script moves this worker's other connections away once it reaches the first
    // instruction hook (`hand_off_worker`); short ones run here without a thread switch.
    let r = engine.run(target, keys, argv, &mut host, cx.out);
    drop(in_script);
    drop(host);
    drop(guard);
    // The script's SELECT must not show on its caller.
    let db = cx.client.db;
    cx.client.select(db);
    r.map_err(owned)
}

/// Splits `numkeys key... arg...` (args[2..]) as EVAL and FCALL do.
pub(crate) fn split_keys(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), CmdError> {
    let numkeys = parse_i64(&args[2])?;
    let rest = &args[3..];
    if numkeys > rest.len() as i64 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::new("ERR Number of keys can't be negative"));
    }
    Ok(rest.split_at(numkeys as usize))
}

fn eval_generic(cx: &mut Ctx<'_>, args: &[Bytes], by_sha: bool, ro: bool) -> CmdResult {
    let st = state(cx.server)?;
    let _announced = Announced(&st);
    let (keys, argv) = split_keys(args)?;
    let mut engine = st.engine.lock();
    let sha = if by_sha {
        if args[1].len() != 40 {
            return Err(CmdError::new(scripting::NOSCRIPT));
        }
        String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
    } else {
        engine.load_script(&args[1]).map_err(owned)?
    };
    let Some(script) = engine.script(&sha) else {
        return Err(CmdError::new(scripting::NOSCRIPT));
    };
    let flags = script.flags;
    let compat = flags & scripting::flags::EVAL_COMPAT != 0;
    let no_writes = !compat && flags & scripting::flags::NO_WRITES != 0;
    if ro && !compat && !no_writes {
        return Err(CmdError::new(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    run_target(
        cx,
        &st,
        &mut engine,
        Target::Script(&sha),
        args,
        keys,
        argv,
        ro || no_writes,
    )
}

fn eval(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(cx, args, false, false)
}

fn evalsha(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(cx, args, true, false)
}

fn eval_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(cx, args, false, true)
}

fn evalsha_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(cx, args, true, true)
}

fn script_load(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = state(cx.server)?;
    let sha = st.engine.lock().load_script(&args[2]).map_err(owned)?;
    cx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = state(cx.server)?;
    let engine = st.engine.lock();
    cx.out.array(args.len() - 2);
    for a in &args[2..] {
        let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
        cx.out.int(engine.script(&sha).is_some() as i64);
    }
    Ok(())
}

/// Parses FLUSH's optional ASYNC|SYNC.
pub(crate) fn flush_mode(args: &[Bytes], err: &'static str) -> CmdResult {
    match args.len() {
        2 => Ok(()),
        3 if is(&args[2], "sync") || is(&args[2], "async") => Ok(()),
        _ => Err(CmdError::new(err)),
    }
}

fn script_flush(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")?;
    let st = state(cx.server)?;
    st.engine.lock().flush_scripts();
    cx.out.ok();
    Ok(())
}

fn script_kill(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    // A running script is killed by the gate; here none runs.
    let st = state(cx.server)?;
    kill(&st, true)?;
    cx.out.ok();
    Ok(())
}

fn script_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "script",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}

/// Never runs: the dispatcher resolves a subcommand or rejects the arity first.
fn container(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(errors::wrong_arity("script"))
}

const RUN: u32 = NOSCRIPT | SKIP_MONITOR | STALE | MOVABLE_KEYS | EXCLUSIVE;

static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    command!("exists", -3, NOSCRIPT, Keys::NONE, script_exists,
        acl: &["scripting"], group: "scripting", since: "2.6.0",
        complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
        summary: "Determines whether server-side Lua scripts exist in the script cache."),
    command!("flush", -2, NOSCRIPT | EXCLUSIVE, Keys::NONE, script_flush,
        acl: &["scripting"], group: "scripting", since: "2.6.0",
        complexity: "O(N) with N being the number of scripts in cache",
        summary: "Removes all server-side Lua scripts from the script cache."),
    command!("kill", 2, NOSCRIPT | ALLOW_BUSY, Keys::NONE, script_kill,
        acl: &["scripting"], group: "scripting", since: "2.6.0", complexity: "O(1)",
        summary: "Terminates a server-side Lua script during execution."),
    command!("load", 3, NOSCRIPT | STALE | EXCLUSIVE, Keys::NONE, script_load,
        acl: &["scripting"], group: "scripting", since: "2.6.0",
        complexity: "O(N) with N being the length in bytes of the script body.",
        summary: "Loads a server-side Lua script to the script cache."),
    command!("help", 2, LOADING | STALE, Keys::NONE, script_help,
        acl: &["scripting"], group: "scripting", since: "5.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!("eval", -3, RUN | MAY_REPLICATE, Keys::NONE, eval,
        acl: &["scripting"], group: "scripting", since: "2.6.0",
        complexity: "Depends on the script that is executed.",
        summary: "Executes a server-side Lua script."),
    command!("evalsha", -3, RUN | MAY_REPLICATE, Keys::NONE, evalsha,
        acl: &["scripting"], group: "scripting", since: "2.6.0",
        complexity: "Depends on the script that is executed.",
        summary: "Executes a server-side Lua script by SHA1 digest."),
    command!("eval_ro", -3, RUN | READONLY, Keys::NONE, eval_ro,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "Depends on the script that is executed.",
        summary: "Executes a read-only server-side Lua script."),
    command!("evalsha_ro", -3, RUN | READONLY, Keys::NONE, evalsha_ro,
        acl: &["scripting"], group: "scripting", since: "7.0.0",
        complexity: "Depends on the script that is executed.",
        summary: "Executes a read-only server-side Lua script by SHA1 digest."),
    command!("script", -2, 0, Keys::NONE, container,
        acl: &["scripting"], group: "scripting", since: "2.6.0",
        complexity: "Depends on subcommand.",
        summary: "A container for Lua scripts management commands.",
        subcommands: SCRIPT_SUBCOMMANDS),
];
