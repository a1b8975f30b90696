//! Command families: one file per group of commands, each with its spec table (`COMMANDS`)
//! and handlers. A handler parses its arguments, works on the keyspace under the locks it
//! takes, and writes one reply.

pub mod client;
pub mod config;
pub mod connection;
pub mod debug;
pub mod info;
pub mod keys;
pub mod server;
pub mod strings;
