//! Persistence commands: SAVE, BGSAVE, DUMP and RESTORE, plus the helpers the server uses
//! around them (the snapshot path, saving on SHUTDOWN and at save points, loading at
//! start-up). The RDB format itself lives in the `persistence` crate.
//!
//! Snapshots are taken under the world lock held exclusively (the spec flag `EXCLUSIVE`,
//! or [`save_blocking`]): the file is one point in time, and nothing else runs while it is
//! written. BGSAVE therefore replies once the file is written. (D5's per-shard
//! copy-on-write snapshot, which lets writers continue, is the next step.)

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use keyspace::{event, Dbs, Event};
use persistence::rdb::{LoadOptions, SaveOptions, Version};
use persistence::{dump, snapshot};

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::server::{unix_ms, Server};
use crate::spec::{flag::*, CommandSpec, Keys};

/// RESTORE's keyspace event.
const RESTORE_EVENT: Event = Event {
    name: "restore",
    class: keyspace::class::GENERIC,
};

/// The RDB version of files and DUMP payloads: 10, which every Redis from 7.0 reads.
pub const RDB_VERSION: Version = Version::V10;

pub static COMMANDS: &[CommandSpec] = &[
    command!("save", 1, ADMIN | NOSCRIPT | NO_MULTI | EXCLUSIVE, Keys::NONE, save,
        acl: &["admin", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(N) where N is the total number of keys in all databases",
        summary: "Synchronously saves the database(s) to disk."),
    command!("bgsave", -1, ADMIN | NOSCRIPT | EXCLUSIVE, Keys::NONE, bgsave,
        acl: &["admin", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(1)",
        summary: "Asynchronously saves the database(s) to disk."),
    command!("dump", 2, READONLY, Keys::ONE, dump_cmd,
        acl: &["keyspace", "read"], group: "generic", since: "2.6.0",
        complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
        summary: "Returns a serialized representation of the value stored at a key."),
    command!("restore", -4, WRITE | DENYOOM, Keys::ONE, restore,
        acl: &["keyspace", "write", "slow", "dangerous"], group: "generic", since: "2.6.0",
        complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
        summary: "Creates a key from the serialized representation of a value."),
];

/// Where snapshots go: `dbfilename` inside `dir` (the process has already changed into
/// `dir`, so a relative `dir` is not applied twice).
pub fn rdb_path(server: &Server) -> PathBuf {
    let file = server
        .config
        .get("dbfilename")
        .unwrap_or_else(|| "dump.rdb".into());
    let dir = server.config.get("dir").unwrap_or_else(|| ".".into());
    let dir = PathBuf::from(dir);
    if dir.is_absolute() {
        dir.join(file)
    } else {
        PathBuf::from(file)
    }
}

fn save_options(server: &Server) -> SaveOptions {
    SaveOptions {
        version: RDB_VERSION,
        compress: server.config.get_bool("rdbcompression"),
        checksum: server.config.get_bool("rdbchecksum"),
        redis_ver: crate::REDIS_VERSION.to_string(),
        used_mem: crate::family::info::used_memory(server),
        aof_base: false,
        ctime: unix_ms() / 1000,
    }
}

/// Writes the snapshot of `dbs` (the caller holds the world lock) and records the save.
pub fn save_dbs(server: &Server, dbs: &Dbs) -> std::io::Result<u64> {
    let path = rdb_path(server);
    let dirty = server.keyspace.feed.dirty();
    let started = std::time::Instant::now();
    let keys = snapshot::save(&server.keyspace, dbs, &path, &save_options(server))?;
    server.dirty_at_save.store(dirty, Ordering::Relaxed);
    server.last_save.store(unix_ms() / 1000, Ordering::Relaxed);
    tracing::info!(
        "DB saved on disk ({keys} keys, {} ms): {}",
        started.elapsed().as_millis(),
        path.display()
    );
    Ok(keys)
}

/// Takes the world lock exclusively and saves (SHUTDOWN, save points).
pub fn save_blocking(server: &Server) -> std::io::Result<u64> {
    let access = server.keyspace.exclusive();
    save_dbs(server, &access)
}

/// Whether a `save` line is configured (so SHUTDOWN saves by default).
pub fn has_save_points(server: &Server) -> bool {
    !save_points(server).is_empty()
}

/// The `save` parameter as (seconds, changes) pairs.
pub fn save_points(server: &Server) -> Vec<(u64, u64)> {
    let line = server.config.get("save").unwrap_or_default();
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// Redis's serverCron check: saves when some save point is reached (at least `changes`
/// writes and `seconds` elapsed since the last save). Returns whether it saved.
pub fn save_if_due(server: &Server) -> bool {
    let changes = server
        .keyspace
        .feed
        .dirty()
        .saturating_sub(server.dirty_at_save.load(Ordering::Relaxed));
    if changes == 0 {
        return false;
    }
    let elapsed = (unix_ms() / 1000).saturating_sub(server.last_save.load(Ordering::Relaxed));
    let due = save_points(server)
        .iter()
        .any(|&(secs, n)| changes >= n && elapsed >= secs);
    if !due {
        return false;
    }
    tracing::info!("{changes} changes in {elapsed} seconds. Saving...");
    match save_blocking(server) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("Background saving error: {e}");
            // As Redis, retry no sooner than the next save point allows.
            server.last_save.store(unix_ms() / 1000, Ordering::Relaxed);
            false
        }
    }
}

/// Loads `dir/dbfilename` into the (empty) keyspace at start-up; Ok(None) without a file.
pub fn load_at_startup(
    server: &Server,
) -> Result<Option<persistence::rdb::Summary>, snapshot::LoadError> {
    let path = rdb_path(server);
    let opts = LoadOptions {
        limits: *server.config.limits.read(),
        verify_checksum: server.config.get_bool("rdbchecksum"),
        now_ms: server.keyspace.now_ms(),
    };
    let started = std::time::Instant::now();
    let summary = snapshot::load(&server.keyspace, &path, &opts)?;
    if let Some(s) = &summary {
        server
            .dirty_at_save
            .store(server.keyspace.feed.dirty(), Ordering::Relaxed);
        tracing::info!(
            "DB loaded from disk: {:.3} seconds ({} keys, {} expired skipped)",
            started.elapsed().as_secs_f64(),
            s.keys,
            s.expired_skipped
        );
        if s.functions_skipped > 0 {
            tracing::warn!(
                "{} function libraries in the RDB file were not loaded",
                s.functions_skipped
            );
        }
    }
    Ok(summary)
}

fn save(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    match save_dbs(cx.server, &cx.store.access) {
        Ok(_) => {
            cx.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("Failed saving the DB: {e}");
            Err(CmdError::new("ERR"))
        }
    }
}

fn bgsave(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "schedule") => {}
        _ => return Err(errors::SYNTAX),
    }
    match save_dbs(cx.server, &cx.store.access) {
        Ok(_) => {
            cx.out.simple(b"Background saving started");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("Background saving error: {e}");
            Err(CmdError::new("ERR"))
        }
    }
}

fn dump_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    match k.find_read(&args[1]) {
        Some(pos) => {
            let payload = dump::dump(k.shard.value(pos), RDB_VERSION);
            drop(k);
            cx.out.bulk(&payload);
        }
        None => {
            drop(k);
            cx.out.null();
        }
    }
    Ok(())
}

fn restore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "absttl") {
            absttl = true;
        } else if is(&args[j], "idletime") && more >= 1 && freq.is_none() {
            let v = parse_i64(&args[j + 1])?;
            if v < 0 {
                return Err(CmdError::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if is(&args[j], "freq") && more >= 1 && idle.is_none() {
            let v = parse_i64(&args[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::new(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let existing = k.find(key);
    if !replace && existing.is_some() {
        return Err(CmdError::new("BUSYKEY Target key name already exists."));
    }
    let ttl = parse_i64(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let limits = *cx.server.config.limits.read();
    let value = match dump::restore(&args[3], &limits, true) {
        Ok(v) => v,
        Err(dump::PayloadError::VersionOrChecksum) => {
            return Err(CmdError::new(
                "ERR DUMP payload version or checksum are wrong",
            ))
        }
        Err(_) => return Err(CmdError::new("ERR Bad data format")),
    };
    let deleted = match existing {
        Some(pos) if replace => {
            k.shard.remove(pos);
            true
        }
        _ => false,
    };
    let at = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(cx.store.now_ms.saturating_add(t as u64)),
    };
    if at.is_some_and(|a| a <= cx.store.now_ms) {
        // Already expired: the key is gone (deleted if it was replaced).
        if deleted {
            k.op.emit(key, event::DEL);
        }
        drop(k);
        cx.out.ok();
        return Ok(());
    }
    let op = k.op;
    let pos = k.shard.insert(&op, k.hash, key, value);
    if at.is_some() {
        k.shard.set_expire(pos, at);
    }
    if let Some(idle) = idle {
        snapshot::set_idle(&mut k.shard, pos, &op, idle as u64);
    }
    k.op.emit(key, RESTORE_EVENT);
    drop(k);
    cx.out.ok();
    Ok(())
}

/// The save SHUTDOWN makes: `Some(true)` SAVE, `Some(false)` NOSAVE, `None` when save
/// points are configured. Err holds the error reply that cancels the shutdown.
pub fn shutdown_save(server: &Server, save: Option<bool>) -> Result<(), String> {
    if !save.unwrap_or_else(|| has_save_points(server)) {
        return Ok(());
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    save_blocking(server).map(|_| ()).map_err(|e| {
        tracing::warn!("Error trying to save the DB, can't exit: {e}");
        "ERR Errors trying to SHUTDOWN. Check logs.".to_string()
    })
}
