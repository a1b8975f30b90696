//! Per-connection state: `Client` (owned by the connection's task) and `ClientHandle` (the
//! part other connections see through CLIENT LIST / CLIENT KILL).

use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;
use protocol::Protocol;

/// What the connection loop must do after the current command's reply is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Close the connection (QUIT, CLIENT KILL of oneself, protocol error).
    Close,
    /// Shut the server down; `Some(true)` SAVE, `Some(false)` NOSAVE, `None` as configured.
    Shutdown(Option<bool>),
    /// Sleep this many ms holding nothing (DEBUG SLEEP, which in Redis blocks the server),
    /// then send the reply.
    Sleep(u64),
    /// Wait for keys (a blocking command found nothing to serve).
    Block(crate::blocking::BlockRequest),
    /// Become a replica link (SYNC, PSYNC) or wait for replicas' acknowledgements (WAIT).
    Replication(crate::replication::Handoff),
}

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
}

/// A transaction being queued (between MULTI and EXEC/DISCARD).
#[derive(Debug, Default)]
pub struct Multi {
    /// The queued commands: registry id and arguments.
    pub queued: Vec<(usize, Vec<Bytes>)>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub failed: bool,
}

/// Shared view of a client, read by other connections.
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    /// The socket's file descriptor (CLIENT LIST fd), -1 when unknown.
    pub fd: AtomicI64,
    pub created_ms: u64,
    pub name: Mutex<Option<String>>,
    pub lib_name: Mutex<Option<String>>,
    pub lib_ver: Mutex<Option<String>>,
    pub db: AtomicUsize,
    pub last_interaction_ms: AtomicU64,
    /// Registry index of the last command, u32::MAX before any.
    pub last_cmd: AtomicU32,
    pub resp: AtomicU8,
    pub user_authenticated: AtomicBool,
    /// Bytes in the query buffer and the output buffer (CLIENT LIST qbuf/omem).
    pub qbuf: AtomicUsize,
    pub omem: AtomicUsize,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// Commands queued since MULTI, -1 outside MULTI (CLIENT LIST multi=).
    pub multi: AtomicI64,
    /// Number of WATCHed keys (CLIENT LIST watch=).
    pub watched: AtomicUsize,
    killed: AtomicBool,
    /// The connection task waiting in [`ClientHandle::killed`], woken by `kill`.
    kill_waker: Mutex<Option<Waker>>,
}

impl ClientHandle {
    pub fn new(id: u64, addr: String, laddr: String, now_ms: u64) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            fd: AtomicI64::new(-1),
            created_ms: now_ms,
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicUsize::new(0),
            last_interaction_ms: AtomicU64::new(now_ms),
            last_cmd: AtomicU32::new(u32::MAX),
            resp: AtomicU8::new(2),
            user_authenticated: AtomicBool::new(false),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            multi: AtomicI64::new(-1),
            watched: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            kill_waker: Mutex::new(None),
        }
    }

    /// Asks the connection to close (CLIENT KILL, shutdown).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        if let Some(waker) = self.kill_waker.lock().take() {
            waker.wake();
        }
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Resolves once the client has been killed. Awaited only by the connection's own
    /// task (one waiter at a time); polling it costs an uncontended lock, not a queue
    /// registration, since the connection loop polls it once per batch of commands.
    pub fn killed(&self) -> Killed<'_> {
        Killed(self)
    }
}

/// The future of [`ClientHandle::killed`].
pub struct Killed<'a>(&'a ClientHandle);

impl std::future::Future for Killed<'_> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let handle = self.0;
        if handle.is_killed() {
            return Poll::Ready(());
        }
        {
            let mut slot = handle.kill_waker.lock();
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        // `kill` may have run between the first check and the registration.
        if handle.is_killed() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// The state of one connection, owned by its task.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    pub action: Option<Action>,
    pub handle: Arc<ClientHandle>,
    /// Some between MULTI and EXEC/DISCARD.
    pub multi: Option<Multi>,
    /// The keys this client WATCHes; None when it watches none.
    pub watching: Option<crate::watch::Watching>,
    /// While EXEC runs its commands, the name of the one running: a blocking command
    /// answers at once, as on timeout (Redis's CLIENT_DENY_BLOCKING).
    pub deny_blocking: Option<&'static str>,
    /// The outbound queue of pub/sub messages and MONITOR lines, once the client has
    /// subscribed or monitored.
    pub pushes: Option<crate::pubsub::Inbox>,
    /// Where pushes are written (the connection's socket); None for clients without one.
    pub push_route: Option<crate::pubsub::PushRoute>,
    /// Client-side-caching state (CLIENT TRACKING), also present for clients with a push
    /// queue so they can be redirect targets; dropping it unregisters the client.
    pub tracking: Option<Box<crate::tracking::ClientTracking>>,
    /// The replication offset after this client's last write (Redis's `woff`): what WAIT
    /// and WAITAOF wait for.
    pub woff: u64,
}

impl Client {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Self {
        handle
            .user_authenticated
            .store(authenticated, Ordering::Relaxed);
        Client {
            id: handle.id,
            db: 0,
            proto: Protocol::Resp2,
            authenticated,
            reply_mode: ReplyMode::On,
            action: None,
            handle,
            multi: None,
            watching: None,
            deny_blocking: None,
            pushes: None,
            push_route: None,
            tracking: None,
            woff: 0,
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.handle.db.store(db, Ordering::Relaxed);
    }

    pub fn set_proto(&mut self, proto: Protocol) {
        self.proto = proto;
        self.handle.resp.store(
            if proto == Protocol::Resp3 { 3 } else { 2 },
            Ordering::Relaxed,
        );
    }

    pub fn set_authenticated(&mut self, yes: bool) {
        self.authenticated = yes;
        self.handle.user_authenticated.store(yes, Ordering::Relaxed);
    }
}
