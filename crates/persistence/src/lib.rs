//! Redis-compatible persistence for Cinnabar: RDB snapshots, DUMP/RESTORE payloads and the
//! append-only file's layout.
//!
//! # Layout
//! - [`aof`]: the append-only file's multi-part layout (manifest, file names) and the
//!   reading of command files (torn tails told from corruption).
//! - [`rdb`]: the RDB format — `write` (values and key records in Redis's encodings, whole
//!   files) and `read` (files of every RDB version 1-12 value type Redis 7 reads, hash
//!   field TTLs included, and single values).
//! - [`dump`]: DUMP payloads (a value, the RDB version, a CRC64) and their verification.
//! - [`snapshot`]: saving the keyspace to `dir/dbfilename` (temp file, fsync, rename), the
//!   output of background snapshots (`RdbStream`, fed shard by shard by
//!   `keyspace::snapshot`), and loading a file into the keyspace at start-up.
//! - [`listpack`], [`ziplist`] (ziplists, zipmaps, intsets), [`lzf`], [`crc64`]: the
//!   containers, compression and checksum the format is made of.
//!
//! # Invariants
//! - Knows nothing about sockets, clients or RESP.
//! - No input makes the reader panic or allocate more than the input justifies: every
//!   length is checked against the bytes left first; errors name the byte offset.

pub mod aof;
pub mod crc64;
pub mod dump;
pub mod listpack;
pub mod lzf;
pub mod rdb;
pub mod snapshot;
pub mod ziplist;
