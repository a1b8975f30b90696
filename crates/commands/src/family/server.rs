//! Server commands: COMMAND (generated from the table), SHUTDOWN, TIME, LASTSAVE, ROLE,
//! LOLWUT, SLOWLOG and LATENCY (in `monitor`), and
//! helpers shared with the other families (client names, HELP replies).

use bytes::Bytes;
use protocol::ReplyWriter;

use crate::args::is;
use crate::client::Action;
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::glob;
use crate::registry::{registry, Registry};
use crate::spec::{flag, flag::*, CommandSpec, Keys};

mod keys;
mod keyspecs;
mod monitor;

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    command!("count", 2, LOADING | STALE, Keys::NONE, command_count,
        acl: &["connection"], group: "server", since: "2.8.13", complexity: "O(1)",
        summary: "Returns a count of commands."),
    command!("list", -2, LOADING | STALE, Keys::NONE, command_list,
        acl: &["connection"], group: "server", since: "7.0.0", complexity: "O(N) where N is the total number of Redis commands",
        summary: "Returns a list of command names."),
    command!("info", -2, LOADING | STALE, Keys::NONE, command_info,
        acl: &["connection"], group: "server", since: "2.8.13", complexity: "O(N) where N is the number of commands to look up",
        summary: "Returns information about one, multiple or all commands."),
    command!("docs", -2, LOADING | STALE, Keys::NONE, command_docs,
        acl: &["connection"], group: "server", since: "7.0.0", complexity: "O(N) where N is the number of commands to look up",
        summary: "Returns documentary information about one, multiple or all commands."),
    command!("getkeys", -3, LOADING | STALE, Keys::NONE, command_getkeys,
        acl: &["connection"], group: "server", since: "2.8.13", complexity: "O(N) where N is the number of arguments to the command",
        summary: "Extracts the key names from an arbitrary command."),
    command!("getkeysandflags", -3, LOADING | STALE, Keys::NONE, command_getkeysandflags,
        acl: &["connection"], group: "server", since: "7.0.0", complexity: "O(N) where N is the number of arguments to the command",
        summary: "Extracts the key names and access flags for an arbitrary command."),
    command!("help", 2, LOADING | STALE, Keys::NONE, command_help,
        acl: &["connection"], group: "server", since: "5.0.0", complexity: "O(1)",
        summary: "Returns helpful text about the different subcommands."),
];

pub static COMMANDS: &[CommandSpec] = &[
    command!("command", -1, LOADING | STALE, Keys::NONE, command_all,
        acl: &["connection"], group: "server", since: "2.8.13", complexity: "O(N) where N is the total number of Redis commands",
        summary: "Returns detailed information about all commands.", subcommands: COMMAND_SUBCOMMANDS),
    command!("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, Keys::NONE, shutdown,
        acl: &[], group: "server", since: "1.0.0",
        complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        summary: "Synchronously saves the database(s) to disk and shuts down the Redis server."),
    command!("time", 1, LOADING | STALE | FAST, Keys::NONE, time,
        acl: &[], group: "server", since: "2.6.0", complexity: "O(1)",
        summary: "Returns the server time."),
    command!("slowlog", -2, 0, Keys::NONE, monitor::container,
        acl: &[], group: "server", since: "2.2.12", complexity: "Depends on subcommand.",
        summary: "A container for slow log commands.", subcommands: monitor::SLOWLOG_SUBCOMMANDS),
    command!("latency", -2, 0, Keys::NONE, monitor::container,
        acl: &[], group: "server", since: "2.8.13", complexity: "Depends on subcommand.",
        summary: "A container for latency diagnostics commands.", subcommands: monitor::LATENCY_SUBCOMMANDS),
    command!("role", 1, NOSCRIPT | LOADING | STALE | FAST, Keys::NONE, role,
        acl: &["admin", "dangerous"], group: "server", since: "2.8.12", complexity: "O(1)",
        summary: "Returns the replication role."),
    command!("lolwut", -1, READONLY | FAST, Keys::NONE, lolwut,
        acl: &[], group: "server", since: "5.0.0", complexity: "",
        summary: "Displays computer art and the Redis version"),
    command!("lastsave", 1, LOADING | STALE | FAST, Keys::NONE, lastsave,
        acl: &["admin", "dangerous"], group: "server", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the Unix timestamp of the last successful save to disk."),
];

fn time(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    cx.out.array(2);
    cx.out.bulk_from_int(now.as_secs() as i64);
    cx.out.bulk_from_int(now.subsec_micros() as i64);
    Ok(())
}

/// ROLE: see `replication::role`.
fn role(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    crate::replication::role(cx)
}

/// LOLWUT: the version line (without the computer art of VERSION 5 and 6).
fn lolwut(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    monitor::lolwut_version(args)?;
    cx.out.verbatim(
        b"txt",
        format!("Redis ver. {}\n", crate::REDIS_VERSION).as_bytes(),
    );
    Ok(())
}

fn lastsave(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.int(
        cx.server
            .last_save
            .load(std::sync::atomic::Ordering::Relaxed) as i64,
    );
    Ok(())
}

/// Sets the client's name after Redis's checks (no spaces or newlines).
pub(crate) fn set_client_name(cx: &mut Ctx<'_>, name: &[u8]) -> CmdResult {
    if name.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        return Err(CmdError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    let name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    *cx.client.handle.name.lock() = name;
    Ok(())
}

/// Writes a string-set (flags, ACL categories): a RESP3 set of simple strings.
fn simple_set(out: &mut ReplyWriter, items: &[String]) {
    out.set(items.len());
    for s in items {
        out.simple(s.as_bytes());
    }
}

fn write_info(out: &mut ReplyWriter, reg: &Registry, id: usize) {
    let spec = reg.spec(id);
    out.array(10);
    out.bulk(reg.full_name(id).as_bytes());
    out.int(spec.arity as i64);
    let flags: Vec<String> = flag::NAMES
        .iter()
        .filter(|(f, _)| spec.has(*f))
        .map(|(_, n)| n.to_string())
        .collect();
    simple_set(out, &flags);
    let k = spec.keys;
    out.int(k.first as i64);
    out.int(k.last as i64);
    out.int(k.step as i64);
    simple_set(out, &spec.acl_categories());
    out.array(0); // tips
    keys::write_key_specs(out, reg.full_name(id), spec);
    let subs = reg.subcommands(id);
    out.array(subs.len());
    for &s in subs {
        write_info(out, reg, s);
    }
}

fn write_docs(out: &mut ReplyWriter, reg: &Registry, id: usize) {
    let spec = reg.spec(id);
    let subs = reg.subcommands(id);
    out.map(4 + usize::from(!subs.is_empty()));
    out.bulk(b"summary");
    out.bulk(spec.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(spec.since.as_bytes());
    out.bulk(b"group");
    out.bulk(spec.group.as_bytes());
    out.bulk(b"complexity");
    out.bulk(spec.complexity.as_bytes());
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for &s in subs {
            out.bulk(reg.full_name(s).as_bytes());
            write_docs(out, reg, s);
        }
    }
}

fn command_all(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let reg = registry();
    let top = reg.top_level();
    cx.out.array(top.len());
    for &id in top {
        write_info(cx.out, reg, id);
    }
    Ok(())
}

fn command_count(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.out.int(registry().top_level().len() as i64);
    Ok(())
}

fn command_list(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let reg = registry();
    let mut names: Vec<&str> = Vec::new();
    let filter: Option<(&Bytes, &Bytes)> = match args.len() {
        2 => None,
        5 if is(&args[2], "filterby") => Some((&args[3], &args[4])),
        _ => return Err(errors::SYNTAX),
    };
    for &id in reg.top_level() {
        for cid in std::iter::once(id).chain(reg.subcommands(id).iter().copied()) {
            let name = reg.full_name(cid);
            let keep = match filter {
                None => true,
                Some((kind, v)) if is(kind, "pattern") => glob::matches(v, name.as_bytes(), true),
                Some((kind, v)) if is(kind, "aclcat") => {
                    let cat = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                    reg.spec(cid).acl_categories().contains(&cat)
                }
                Some((kind, _)) if is(kind, "module") => false,
                Some(_) => return Err(errors::SYNTAX),
            };
            if keep {
                names.push(name);
            }
        }
    }
    cx.out.array(names.len());
    for n in names {
        cx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_info(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let reg = registry();
    if args.len() == 2 {
        return command_all(cx, args);
    }
    cx.out.array(args.len() - 2);
    for name in &args[2..] {
        match reg.lookup_full(name) {
            Some(id) => write_info(cx.out, reg, id),
            None => cx.out.null_array(),
        }
    }
    Ok(())
}

fn command_docs(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let reg = registry();
    let ids: Vec<usize> = if args.len() == 2 {
        reg.top_level().to_vec()
    } else {
        args[2..]
            .iter()
            .filter_map(|n| reg.lookup_full(n))
            .collect()
    };
    cx.out.map(ids.len());
    for id in ids {
        cx.out.bulk(reg.full_name(id).as_bytes());
        write_docs(cx.out, reg, id);
    }
    Ok(())
}

fn command_getkeys(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    getkeys(cx, args, false)
}

fn command_getkeysandflags(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    getkeys(cx, args, true)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the keys of a full command line, from its key specs.
fn getkeys(cx: &mut Ctx<'_>, args: &[Bytes], with_flags: bool) -> CmdResult {
    let reg = registry();
    let cmd = &args[2..];
    let Some(mut id) = reg.lookup(&cmd[0]) else {
        return Err(CmdError::new("ERR Invalid command specified"));
    };
    if !reg.subcommands(id).is_empty() && cmd.len() >= 2 {
        id = reg
            .lookup_sub(id, &cmd[1])
            .ok_or(CmdError::new("ERR Invalid command specified"))?;
    }
    let spec = reg.spec(id);
    let full = reg.full_name(id);
    if !keys::has_keys(full, spec) {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(cmd.len()) {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let found = match keys::find_keys(full, spec, cmd) {
        Ok(found) if !found.is_empty() => found,
        Ok(_) | Err(_) if keys::keys_optional(full) => Vec::new(),
        _ => return Err(CmdError::new("ERR Invalid arguments specified for command")),
    };
    cx.out.array(found.len());
    for (p, flags) in found {
        if with_flags {
            cx.out.array(2);
            cx.out.bulk(&cmd[p]);
            cx.out.set(flags.len());
            for f in flags {
                cx.out.simple(f.as_bytes());
            }
        } else {
            cx.out.bulk(&cmd[p]);
        }
    }
    Ok(())
}

/// Writes a HELP reply: a title line and the lines of `text`.
pub(crate) fn help_reply(out: &mut ReplyWriter, container: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(
        format!(
            "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            container.to_ascii_uppercase()
        )
        .as_bytes(),
    );
    for l in lines {
        out.simple(l.as_bytes());
    }
    out.simple(b"HELP");
    out.simple(b"    Print this help.");
}

fn command_help(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        cx.out,
        "command",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

fn shutdown(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    for a in &args[1..] {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") || is(a, "force") {
            // Nothing to skip or force: there are no replicas to wait for.
            other = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(errors::SYNTAX);
    }
    if abort {
        // A shutdown never waits here, so there is never one in progress to abort.
        return Err(errors::NO_SHUTDOWN);
    }
    cx.client.action = Some(Action::Shutdown(if save {
        Some(true)
    } else if nosave {
        Some(false)
    } else {
        None
    }));
    Ok(())
}
