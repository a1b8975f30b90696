//! The network side of Cinnabar: listening sockets, one task per connection, and the
//! background cycles (active expiry, statistics sampling).
//!
//! # Layout
//! - this file: `start` (bind and spawn), `Running` (a started server).
//! - [`connection`]: the per-connection loop — read, decode, dispatch, write.
//! - [`cron`]: periodic work, Redis's `serverCron`.
//! - [`replication`]: replica links (master side) and the client of a master (replica side).
//! - the snapshot thread (`commands::family::persistence::snapshot_driver`), started here,
//!   which drives background snapshots to their end, and the AOF's writer and rewrite
//!   threads (`commands::aof`).
//! - [`poll`]: the busy poller that keeps a worker awake between requests under load.
//! - [`socket`]: a client socket driven by readiness (no wasted would-block reads).
//!
//! # Invariants
//! - Knows nothing about individual commands: everything goes through
//!   `commands::dispatch`.
//! - A malformed frame gets `-ERR Protocol error: ...` and a close; every other error keeps
//!   the connection open.

pub mod connection;
pub mod cron;
pub mod poll;
pub mod replication;
pub mod socket;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use commands::Server;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server that is accepting connections.
pub struct Running {
    pub server: Arc<Server>,
    pub addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The first bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Waits until the server has been asked to shut down and its listeners have stopped.
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Asks the server to stop.
    pub fn shutdown(&self) {
        self.server.request_shutdown();
    }
}

/// Parses the `bind` setting into socket addresses (a leading `-` marks an optional address,
/// skipped when it cannot be bound, as in Redis).
pub fn bind_addrs(bind: &str, port: u16) -> Vec<(SocketAddr, bool)> {
    bind.split_whitespace()
        .filter_map(|a| {
            let (optional, a) = match a.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, a),
            };
            let a = if a == "*" { "0.0.0.0" } else { a };
            let ip: std::net::IpAddr = a.parse().ok()?;
            Some((SocketAddr::new(ip, port), optional))
        })
        .collect()
}

/// Binds the configured addresses and starts accepting connections and the cron.
pub async fn start(server: Arc<Server>) -> io::Result<Running> {
    let port = server.config.get_i64("port") as u16;
    let bind = server.config.get("bind").unwrap_or_default();
    let mut listeners = Vec::new();
    let mut bound_port = port;
    for (addr, optional) in bind_addrs(&bind, port) {
        let addr = SocketAddr::new(addr.ip(), bound_port);
        match TcpListener::bind(addr).await {
            Ok(l) => {
                bound_port = l.local_addr()?.port();
                listeners.push(l);
            }
            Err(e) if optional => tracing::warn!("could not bind {addr}: {e}"),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("could not bind {addr}: {e}"),
                ))
            }
        }
    }
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no address to listen on",
        ));
    }
    server
        .bound_port
        .store(bound_port as u64, Ordering::Relaxed);
    let addrs = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    // min-replicas-to-write applies from the first command.
    commands::replication::refresh_gate(&server);
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::spawn(connection::accept_loop(server.clone(), l)));
    }
    tokio::spawn(cron::run(server.clone()));
    tokio::spawn(poll::run(server.clone()));
    tokio::spawn(commands::pubsub::Delivery::run(server.clone()));
    tokio::spawn(replication::supervise(server.clone()));
    // The AOF's writer (write, fsync) and rewrite threads.
    commands::aof::spawn_threads(server.clone())?;
    let driver = server.clone();
    std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || commands::family::persistence::snapshot_driver(driver))?;
    Ok(Running {
        server,
        addrs,
        tasks,
    })
}
