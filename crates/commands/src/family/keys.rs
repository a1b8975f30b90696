//! Generic key commands: existence, deletion, expiry, iteration, renaming, databases.

use bytes::Bytes;
use keyspace::event;

use crate::command;
use crate::context::Ctx;
use crate::errors::CmdResult;
use crate::spec::{flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[
    command!("del", -2, WRITE, Keys::ALL, del,
        acl: &["keyspace"], group: "generic", since: "1.0.0",
        complexity: "O(N) where N is the number of keys that will be removed.",
        summary: "Deletes one or more keys."),
    command!("exists", -2, READONLY | FAST, Keys::ALL, exists,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(N) where N is the number of keys to check.",
        summary: "Determines whether one or more keys exist."),
    command!("type", 2, READONLY | FAST, Keys::ONE, type_,
        acl: &["keyspace"], group: "generic", since: "1.0.0", complexity: "O(1)",
        summary: "Determines the type of value stored at a key."),
    command!("dbsize", 1, READONLY | FAST, Keys::NONE, dbsize,
        acl: &["keyspace"], group: "server", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the number of keys in the database."),
    command!("flushall", -1, WRITE | EXCLUSIVE, Keys::NONE, flushall,
        acl: &["keyspace", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(N) where N is the total number of keys in all databases",
        summary: "Removes all keys from all databases."),
    command!("flushdb", -1, WRITE | EXCLUSIVE, Keys::NONE, flushdb,
        acl: &["keyspace", "dangerous"], group: "server", since: "1.0.0",
        complexity: "O(N) where N is the number of keys in the selected database",
        summary: "Remove all keys from the current database."),
];

/// Removes `keys` from the current database; returns how many existed.
pub(crate) fn delete_keys(cx: &mut Ctx<'_>, keys: &[Bytes]) -> i64 {
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    let mut n = 0;
    for (key, &(hash, shard)) in keys.iter().zip(&placed) {
        let s = locked.shard(shard);
        if let Some(pos) = s.lookup(&op, hash, key) {
            s.remove(pos);
            op.emit(key, event::DEL);
            n += 1;
        }
    }
    n
}

fn del(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = delete_keys(cx, &args[1..]);
    cx.out.int(n);
    Ok(())
}

fn exists(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..];
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    let n = keys
        .iter()
        .zip(&placed)
        .filter(|(key, &(hash, shard))| locked.shard(shard).lookup(&op, hash, key).is_some())
        .count();
    cx.out.int(n as i64);
    Ok(())
}

fn type_(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    match k.find(&args[1]) {
        Some(pos) => cx.out.simple(k.shard.value(pos).kind().name().as_bytes()),
        None => cx.out.simple(b"none"),
    }
    Ok(())
}

fn dbsize(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = cx.store.access.db(cx.store.db).len();
    cx.out.int(n as i64);
    Ok(())
}

/// Parses FLUSHALL/FLUSHDB's optional ASYNC|SYNC; true for ASYNC.
fn flush_mode(args: &[Bytes]) -> Result<bool, crate::errors::CmdError> {
    match args.len() {
        1 => Ok(false),
        2 if crate::args::is(&args[1], "async") => Ok(true),
        2 if crate::args::is(&args[1], "sync") => Ok(false),
        _ => Err(crate::errors::SYNTAX),
    }
}

fn flush(cx: &mut Ctx<'_>, args: &[Bytes], db: Option<usize>) -> CmdResult {
    let asynchronous = flush_mode(args)?;
    let keyspace = cx.store.keyspace;
    let Some(dbs) = cx.store.access.exclusive() else {
        debug_assert!(false, "flush without exclusive access");
        return Err(crate::errors::CmdError::err(
            "flush requires exclusive access",
        ));
    };
    let old = keyspace.flush(dbs, db);
    if asynchronous {
        std::thread::spawn(move || drop(old));
    } else {
        drop(old);
    }
    cx.out.ok();
    Ok(())
}

fn flushall(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush(cx, args, None)
}

fn flushdb(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = cx.store.db;
    flush(cx, args, Some(db))
}
