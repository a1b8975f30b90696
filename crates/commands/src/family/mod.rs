//! Command families: one file per group of commands, each with its spec table (`COMMANDS`)
//! and handlers. A handler parses its arguments, works on the keyspace under the locks it
//! takes, and writes one reply.

pub mod bitmaps;
pub mod client;
pub mod config;
pub mod connection;
pub mod debug;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod info;
pub mod json;
pub mod keys;
pub mod lists;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;
