//! Commands of Cinnabar: the command table, argument parsing, error texts, handlers and the
//! dispatcher that runs them.
//!
//! # Layout
//! - [`spec`]: `CommandSpec`, the one declaration of a command, and its flags.
//! - [`registry`]: every family's specs listed once, indexed by name and id.
//! - [`dispatch`]: lookup, arity, auth, locking and statistics around every handler.
//! - [`context`]: `Ctx`, what a handler gets: `Store` (the keyspace under the world lock),
//!   the client, the server, the reply writer.
//! - [`family`]: one file per command family (strings, keys, connection, server).
//! - [`errors`]: every protocol-visible error text.
//! - [`aof`]: the append-only file (writer, fsync, rewrite, loading), BGREWRITEAOF, WAITAOF.
//! - [`args`], [`glob`]: argument parsing and Redis's glob matching.
//! - [`server`], [`client`], [`config`]: shared server state, per-connection state,
//!   configuration parameters.
//!
//! # Invariants
//! - Knows nothing about sockets: a command is bytes in, reply bytes out.
//! - A handler writes exactly one reply, or returns an error and writes nothing.

pub mod aof;
pub mod args;
pub mod blocking;
pub mod client;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod errors;
pub mod family;
pub mod glob;
pub mod maxmemory;
pub mod nested;
pub mod notify;
pub mod propagate;
pub mod pubsub;
pub mod registry;
pub mod replication;
pub mod server;
pub mod spec;
pub mod tracking;
pub mod watch;

pub use client::{Action, Client, ClientHandle};
pub use config::Config;
pub use dispatch::dispatch;
pub use server::Server;

/// The Redis version Cinnabar reports, so clients enable the features of this version.
pub const REDIS_VERSION: &str = "7.4.0";
/// Cinnabar's own version.
pub const CINNABAR_VERSION: &str = "0.1.0";
