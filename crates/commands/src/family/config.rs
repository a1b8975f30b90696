//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP over the parameter table of `crate::config`.

use bytes::Bytes;

use crate::args::text;
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::family::server::help_reply;
use crate::spec::{flag::*, CommandSpec, Keys};

const ADM: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

static SUBCOMMANDS: &[CommandSpec] = &[
    command!("get", -3, ADM, Keys::NONE, get,
        acl: &[], group: "server", since: "2.0.0",
        complexity: "O(N) when N is the number of configuration parameters provided",
        summary: "Returns the effective values of configuration parameters."),
    command!("set", -4, ADM, Keys::NONE, set,
        acl: &[], group: "server", since: "2.0.0",
        complexity: "O(N) when N is the number of configuration parameters provided",
        summary: "Sets configuration parameters in-flight."),
    command!("resetstat", 2, ADM, Keys::NONE, resetstat,
        acl: &[], group: "server", since: "2.0.0", complexity: "O(1)",
        summary: "Resets the server's statistics."),
    command!("rewrite", 2, ADM, Keys::NONE, rewrite,
        acl: &[], group: "server", since: "2.8.0", complexity: "O(1)",
        summary: "Persists the effective configuration to file."),
    command!("help", 2, LOADING | STALE, Keys::NONE, help,
        acl: &[], group: "server", since: "5.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

pub static COMMANDS: &[CommandSpec] = &[command!("config", -2, 0, Keys::NONE, container,
    acl: &[], group: "server", since: "2.0.0", complexity: "Depends on subcommand.",
    summary: "A container for server configuration commands.", subcommands: SUBCOMMANDS)];

/// Never runs: the dispatcher resolves a subcommand or rejects the arity first.
fn container(_cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(errors::wrong_arity("config"))
}

fn get(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut pairs: Vec<(&'static str, String)> = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in cx.server.config.matching(pattern) {
            if !pairs.iter().any(|(n, _)| *n == name) {
                pairs.push((name, value));
            }
        }
    }
    cx.out.map(pairs.len());
    for (n, v) in pairs {
        cx.out.bulk(n.as_bytes());
        cx.out.bulk(v.as_bytes());
    }
    Ok(())
}

fn set(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(errors::wrong_arity("config|set"));
    }
    let pairs: Vec<(String, String)> = args[2..]
        .chunks(2)
        .map(|p| (text(&p[0]), text(&p[1])))
        .collect();
    cx.server.config.set_many(&pairs).map_err(CmdError::err)?;
    cx.out.ok();
    Ok(())
}

fn resetstat(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.server.stats.reset(cx.store.keyspace);
    let ks = cx.store.keyspace;
    for db in 0..ks.databases() {
        let d = cx.store.access.db(db);
        for s in 0..d.shard_count() {
            d.lock(s).stats = keyspace::ShardStats::default();
        }
    }
    cx.out.ok();
    Ok(())
}

fn rewrite(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(path) = cx.server.config.file.as_ref() else {
        return Err(errors::NO_CONFIG_FILE);
    };
    let fail = |e: std::io::Error| CmdError::err(format_args!("Rewriting config file: {e}"));
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(e)),
    };
    let new = cx.server.config.rewritten(&old);
    let tmp = path.with_extension("rewrite.tmp");
    std::fs::write(&tmp, new).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    cx.out.ok();
    Ok(())
}

fn help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "config",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
