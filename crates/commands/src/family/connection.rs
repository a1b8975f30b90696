//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, QUIT, RESET.

use bytes::Bytes;
use protocol::Protocol;

use crate::args::{is, parse_i64};
use crate::client::Action;
use crate::command;
use crate::context::Ctx;
use crate::errors::{self, CmdError, CmdResult};
use crate::spec::{flag::*, CommandSpec, Keys};

pub static COMMANDS: &[CommandSpec] = &[
    command!("ping", -1, FAST, Keys::NONE, ping,
        acl: &["connection"], group: "connection", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the server's liveliness response."),
    command!("echo", 2, FAST, Keys::NONE, echo,
        acl: &["connection"], group: "connection", since: "1.0.0", complexity: "O(1)",
        summary: "Returns the given string."),
    command!("select", 2, LOADING | STALE | FAST, Keys::NONE, select,
        acl: &["connection"], group: "connection", since: "1.0.0", complexity: "O(1)",
        summary: "Changes the selected database."),
    command!("quit", -1, ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, Keys::NONE, quit,
        acl: &["connection"], group: "connection", since: "1.0.0", complexity: "O(1)",
        summary: "Closes the connection."),
    command!("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, Keys::NONE, auth,
        acl: &["connection"], group: "connection", since: "1.0.0",
        complexity: "O(N) where N is the number of passwords defined for the user",
        summary: "Authenticates the connection."),
    command!("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, Keys::NONE, hello,
        acl: &["connection"], group: "connection", since: "6.0.0", complexity: "O(1)",
        summary: "Handshakes with the Redis server."),
    command!("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, Keys::NONE, reset,
        acl: &["connection"], group: "connection", since: "6.2.0", complexity: "O(1)",
        summary: "Resets the connection."),
];

/// RESET: back to a fresh connection's state — RESP2, database 0, no name, replies on,
/// no eviction/touch flags, and unauthenticated when a password is required.
fn reset(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    use crate::client::ReplyMode;
    use std::sync::atomic::Ordering;
    let client = &mut *cx.client;
    client.reply_mode = ReplyMode::On;
    client.select(0);
    cx.store.db = 0;
    client.set_proto(Protocol::Resp2);
    cx.out.proto = Protocol::Resp2;
    *client.handle.name.lock() = None;
    client.handle.no_evict.store(false, Ordering::Relaxed);
    client.handle.no_touch.store(false, Ordering::Relaxed);
    let required = cx.server.config.requirepass_set.load(Ordering::Relaxed);
    client.set_authenticated(!required);
    cx.out.simple(b"RESET");
    Ok(())
}

fn ping(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // A RESP2 client in subscribed mode gets the pub/sub shape (also when the PING was
    // queued by MULTI before a SUBSCRIBE in the same transaction).
    let subscribed = cx.client.proto == Protocol::Resp2
        && cx
            .client
            .pushes
            .as_ref()
            .is_some_and(|inbox| inbox.out.subscribed());
    if subscribed && args.len() <= 2 {
        cx.out.array(2);
        cx.out.bulk(b"pong");
        cx.out.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
        return Ok(());
    }
    match args.len() {
        1 => cx.out.simple(b"PONG"),
        2 => cx.out.bulk(&args[1]),
        _ => return Err(errors::wrong_arity("ping")),
    }
    Ok(())
}

fn echo(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    cx.out.bulk(&args[1]);
    Ok(())
}

fn select(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = parse_i64(&args[1])
        .map_err(|_| CmdError::new("ERR value is not an integer or out of range"))?;
    if db < 0 || db as usize >= cx.store.keyspace.databases() {
        return Err(errors::DB_INDEX);
    }
    cx.client.select(db as usize);
    cx.store.db = db as usize;
    cx.out.ok();
    Ok(())
}

fn quit(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.client.action = Some(Action::Close);
    cx.out.ok();
    Ok(())
}

/// Checks a username/password pair against `requirepass` (the default user).
pub(crate) fn check_password(cx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> Result<(), CmdError> {
    let required = cx.server.config.get("requirepass").unwrap_or_default();
    if user != b"default" {
        return Err(errors::WRONGPASS);
    }
    if required.is_empty() || required.as_bytes() == pass {
        Ok(())
    } else {
        Err(errors::WRONGPASS)
    }
}

fn auth(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (user, pass): (&[u8], &[u8]) = match args.len() {
        2 => {
            if cx
                .server
                .config
                .get("requirepass")
                .unwrap_or_default()
                .is_empty()
            {
                return Err(errors::AUTH_NOT_CONFIGURED);
            }
            (b"default", &args[1])
        }
        3 => (&args[1], &args[2]),
        _ => return Err(errors::SYNTAX),
    };
    check_password(cx, user, pass)?;
    cx.client.set_authenticated(true);
    cx.out.ok();
    Ok(())
}

fn hello(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut proto = cx.client.proto;
    if args.len() >= 2 {
        let v = parse_i64(&args[1])
            .map_err(|_| CmdError::new("ERR Protocol version is not an integer or out of range"))?;
        proto = match v {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(errors::NO_PROTO),
        };
    }
    let mut auth: Option<(&Bytes, &Bytes)> = None;
    let mut name: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "auth") && more >= 2 {
            auth = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::err(format_args!(
                "Syntax error in HELLO option '{}'",
                crate::args::text(&args[i])
            )));
        }
    }
    if let Some((user, pass)) = auth {
        check_password(cx, user, pass)?;
        cx.client.set_authenticated(true);
    }
    if !cx.client.authenticated {
        return Err(CmdError::new("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        crate::family::server::set_client_name(cx, n)?;
    }
    cx.client.set_proto(proto);
    cx.out.proto = proto;
    if proto == Protocol::Resp3 {
        // A RESP3 client can receive pushes (invalidations as a tracking REDIRECT target)
        // without subscribing: it gets its push queue now.
        crate::pubsub::PubSub::outbound(cx.client);
    }
    let role = crate::replication::hello_role(cx.server);
    let out = &mut *cx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(cx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(role);
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}
