//! MONITOR lines as redis-server 7 writes them for commands that other commands run: a
//! script's `redis.call` (shown from `lua`, after the script's own line, in the database
//! the script selected), a transaction's commands (at EXEC, between MULTI and EXEC), and
//! arguments that need escaping (sdscatrepr).

mod common;

use common::{bulk, Conn, TestServer};

/// The next MONITOR line without its timestamp, which is checked for its shape.
fn line(mon: &mut Conn) -> String {
    let l = bulk(&mon.read().expect("monitor line"));
    let (time, rest) = l.split_once(' ').expect("timestamp");
    let (secs, usecs) = time.split_once('.').expect("microseconds");
    assert!(
        secs.parse::<u64>().is_ok() && usecs.len() == 6 && usecs.parse::<u32>().is_ok(),
        "{l}"
    );
    rest.to_string()
}

fn monitored() -> (TestServer, Conn, Conn, String) {
    let server = TestServer::start(&[]);
    let mut mon = server.connect();
    assert_eq!(bulk(&mon.cmd(&["MONITOR"])), "OK");
    let c = server.connect();
    let me = format!("127.0.0.1:{}", c.stream.local_addr().expect("addr").port());
    (server, mon, c, me)
}

#[test]
fn script_commands_come_from_lua_after_the_script() {
    let (_server, mut mon, mut c, me) = monitored();
    let script =
        "redis.call('set', 'a', '1') redis.call('select', '3') return redis.call('get', 'a')";
    c.cmd(&["EVAL", script, "0"]);
    assert_eq!(
        line(&mut mon),
        format!("[0 {me}] \"EVAL\" \"redis.call('set', 'a', '1') redis.call('select', '3') return redis.call('get', 'a')\" \"0\"")
    );
    assert_eq!(line(&mut mon), "[0 lua] \"set\" \"a\" \"1\"");
    assert_eq!(line(&mut mon), "[3 lua] \"select\" \"3\"");
    assert_eq!(line(&mut mon), "[3 lua] \"get\" \"a\"");
    // The script's SELECT stays inside it.
    c.cmd(&["PING"]);
    assert_eq!(line(&mut mon), format!("[0 {me}] \"PING\""));
    let lib = "#!lua name=l\nredis.register_function('f', function(k) return redis.call('incr', k[1]) end)";
    c.cmd(&["FUNCTION", "LOAD", lib]);
    assert!(line(&mut mon).starts_with(&format!("[0 {me}] \"FUNCTION\" \"LOAD\"")));
    c.cmd(&["FCALL", "f", "1", "n"]);
    assert_eq!(
        line(&mut mon),
        format!("[0 {me}] \"FCALL\" \"f\" \"1\" \"n\"")
    );
    assert_eq!(line(&mut mon), "[0 lua] \"incr\" \"n\"");
    // A script that fails before running is still shown, as Redis feeds it first.
    c.cmd(&["EVALSHA", "abc", "0"]);
    assert_eq!(
        line(&mut mon),
        format!("[0 {me}] \"EVALSHA\" \"abc\" \"0\"")
    );
}

#[test]
fn transaction_commands_show_at_exec_with_escaped_arguments() {
    let (_server, mut mon, mut c, me) = monitored();
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "x"]);
    c.send(&[
        b"SET",
        b"b",
        b"a\x00\x01\x7f\x80\x07\x08\t\x0b\x0c\xe9\"\\ \r\n",
    ]);
    assert_eq!(c.read(), Some(protocol::Frame::Simple("QUEUED".into())));
    c.cmd(&["EXEC"]);
    assert_eq!(line(&mut mon), format!("[0 {me}] \"MULTI\""));
    assert_eq!(line(&mut mon), format!("[0 {me}] \"INCR\" \"x\""));
    assert_eq!(
        line(&mut mon),
        format!("[0 {me}] \"SET\" \"b\" \"a\\x00\\x01\\x7f\\x80\\a\\b\\t\\x0b\\x0c\\xe9\\\"\\\\ \\r\\n\"")
    );
    assert_eq!(line(&mut mon), format!("[0 {me}] \"EXEC\""));
    // A transaction that aborts shows MULTI and EXEC only.
    c.cmd(&["MULTI"]);
    c.cmd(&["NOSUCH"]);
    c.cmd(&["EXEC"]);
    assert_eq!(line(&mut mon), format!("[0 {me}] \"MULTI\""));
    assert_eq!(line(&mut mon), format!("[0 {me}] \"EXEC\""));
}
