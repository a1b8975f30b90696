//! Byte-level protocol tests against the in-process server: raw bytes in, exact bytes out.
//! Expected bytes are Redis's (checked against a real redis-server): pipelining, partial
//! frames, inline commands, big bulks, nulls per RESP version, and the exact protocol errors
//! (`-ERR Protocol error: ...` followed by a close). After every bad input a new connection
//! must still be served.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::TestServer;
use protocol::{parse_frame, Frame};

/// A raw client: writes bytes, reads and compares exact bytes.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads more bytes into the buffer; false on end of stream (or reset).
    fn fill(&mut self) -> bool {
        let mut chunk = vec![0u8; 256 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read: {e} (have {:?})", show(&self.buf)),
        }
    }

    /// Reads exactly `expected.len()` bytes and checks they are `expected`.
    fn expect(&mut self, expected: &[u8]) {
        while self.buf.len() < expected.len() {
            if !self.fill() {
                break;
            }
        }
        let n = expected.len().min(self.buf.len());
        let got: Vec<u8> = self.buf.drain(..n).collect();
        assert!(
            got == expected,
            "expected {:?}\n     got {:?}",
            show(expected),
            show(&got)
        );
    }

    /// Reads one RESP frame (for replies whose exact bytes vary, such as HELLO's).
    fn frame(&mut self) -> Frame {
        loop {
            if let Some((frame, n)) = parse_frame(&self.buf).expect("valid reply") {
                self.buf.drain(..n);
                return frame;
            }
            assert!(self.fill(), "connection closed before a full reply");
        }
    }

    /// Checks the server closed the connection with nothing more sent.
    fn expect_closed(&mut self) {
        while self.fill() {}
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {:?}",
            show(&self.buf)
        );
    }

    /// Sends a command as a multibulk.
    fn cmd(&mut self, args: &[&[u8]]) {
        self.send(&multibulk(args));
    }
}

/// Bytes for a log message, shortened when huge.
fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
    if b.len() > 300 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bulk_reply(data: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// A fresh connection answers PING: the server survived whatever came before.
fn assert_alive(addr: SocketAddr) {
    let mut c = Raw::connect(addr);
    c.send(b"*1\r\n$4\r\nPING\r\n");
    c.expect(b"+PONG\r\n");
}

/// Sends `input` on a new connection and checks the server answers exactly `reply` and
/// then closes; then checks the server still serves a new connection.
fn expect_reply_and_close(addr: SocketAddr, input: &[u8], reply: &[u8]) {
    let mut c = Raw::connect(addr);
    c.send(input);
    c.expect(reply);
    c.expect_closed();
    assert_alive(addr);
}

/// [`expect_reply_and_close`] for a server with `requirepass secret`.
fn expect_reply_and_close_unauthenticated(addr: SocketAddr, input: &[u8], reply: &[u8]) {
    let mut c = Raw::connect(addr);
    c.send(input);
    c.expect(reply);
    c.expect_closed();
    let mut c = Raw::connect(addr);
    c.send(b"PING\r\nAUTH secret\r\nPING\r\n");
    c.expect(b"-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n");
}

/// A deterministic byte pattern, so that corruption anywhere in a big value shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

#[test]
fn pipelined_commands_in_one_write_reply_in_order() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..2000 {
        let key = format!("k{i}");
        let val = format!("v{i}");
        input.extend(multibulk(&[b"SET", key.as_bytes(), val.as_bytes()]));
        expected.extend_from_slice(b"+OK\r\n");
        input.extend(multibulk(&[b"INCR", b"counter"]));
        expected.extend_from_slice(format!(":{}\r\n", i + 1).as_bytes());
        input.extend(multibulk(&[b"GET", key.as_bytes()]));
        expected.extend(bulk_reply(val.as_bytes()));
        input.extend_from_slice(b"PING\r\n");
        expected.extend_from_slice(b"+PONG\r\n");
    }
    input.extend(multibulk(&[b"DBSIZE"]));
    expected.extend_from_slice(b":2001\r\n");
    // Write from another thread: the replies (over 64 KB) are read while the input is sent.
    let mut writer = c.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || writer.write_all(&input).expect("write"));
    c.expect(&expected);
    sender.join().expect("writer");
}

#[test]
fn mixed_inline_and_multibulk_pipeline() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(
        b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n*2\r\n$4\r\nECHO\r\n$3\r\na\r\n\r\n\
          *0\r\n*-10\r\nPING\r\n",
    );
    c.expect(b"+PONG\r\n+OK\r\n$1\r\nv\r\n$3\r\na\r\n\r\n+PONG\r\n");
}

#[test]
fn command_sent_one_byte_per_write() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    let input = [
        multibulk(&[b"SET", b"key", b"hello world"]),
        b"GET key\r\n".to_vec(),
        multibulk(&[b"MGET", b"key", b"nokey"]),
        b"*1\r\n$4\r\nPING\r\n".to_vec(),
    ]
    .concat();
    for b in &input {
        c.send(std::slice::from_ref(b));
    }
    c.expect(b"+OK\r\n$11\r\nhello world\r\n*2\r\n$11\r\nhello world\r\n$-1\r\n+PONG\r\n");
}

#[test]
fn pipeline_split_at_every_byte() {
    let srv = TestServer::start(&[]);
    let input = [
        multibulk(&[b"SET", b"a", b"1"]),
        b"INCRBY a 41\r\n".to_vec(),
        multibulk(&[b"GET", b"a"]),
    ]
    .concat();
    let expected = b"+OK\r\n:42\r\n$2\r\n42\r\n";
    let mut c = Raw::connect(srv.addr);
    for split in 1..input.len() {
        c.send(&input[..split]);
        c.send(&input[split..]);
        c.expect(expected);
    }
}

#[test]
fn inline_commands() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(b"PING\r\n");
    c.expect(b"+PONG\r\n");
    c.send(b"SET k \"a b\"\r\n");
    c.expect(b"+OK\r\n");
    c.send(b"GET k\r\n");
    c.expect(b"$3\r\na b\r\n");
    // Bare `\n` line endings, empty lines and blank lines are accepted and skipped.
    c.send(b"PING\n\r\n\n   \r\nGET k\n");
    c.expect(b"+PONG\r\n$3\r\na b\r\n");
    // Extra spaces and tabs around arguments.
    c.send(b"  ECHO   x  \r\n\tECHO\ty\t\r\n");
    c.expect(b"$1\r\nx\r\n$1\r\ny\r\n");
    // Escapes inside double quotes, and `\'` inside single quotes.
    c.send(b"SET k \"\\x41\\n\\t\\\"\"\r\nGET k\r\nSET k 'it\\'s'\r\nGET k\r\n");
    c.expect(b"+OK\r\n$4\r\nA\n\t\"\r\n+OK\r\n$4\r\nit's\r\n");
    // An empty quoted argument is an argument.
    c.send(b"SET e \"\"\r\nGET e\r\nEXISTS e\r\n");
    c.expect(b"+OK\r\n$0\r\n\r\n:1\r\n");
}

#[test]
fn big_bulk_set_then_get_returns_identical_bytes() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    let value = pattern(20 * 1024 * 1024, 7);
    let request = multibulk(&[b"SET", b"big", &value]);
    for chunk in request.chunks(64 * 1024 + 3) {
        c.send(chunk);
    }
    c.expect(b"+OK\r\n");
    c.cmd(&[b"GET", b"big"]);
    c.expect(&bulk_reply(&value));
    // The connection is still in a sane state afterwards.
    c.cmd(&[b"EXISTS", b"big"]);
    c.expect(b":1\r\n");
}

#[test]
fn big_bulk_in_one_write_followed_by_pipelined_commands() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    let value = pattern(3 * 1024 * 1024 + 17, 3);
    let mut input = multibulk(&[b"SET", b"big", &value]);
    input.extend(multibulk(&[b"GET", b"big"]));
    input.extend_from_slice(b"PING\r\n");
    let mut writer = c.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || writer.write_all(&input).expect("write"));
    c.expect(b"+OK\r\n");
    c.expect(&bulk_reply(&value));
    c.expect(b"+PONG\r\n");
    sender.join().expect("writer");
}

#[test]
fn binary_bulk_with_crlf_inside() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    let value = b"\r\n*1\r\n$4\r\nPING\r\n\0\xff";
    c.cmd(&[b"SET", b"bin\0key", value]);
    c.expect(b"+OK\r\n");
    c.cmd(&[b"GET", b"bin\0key"]);
    c.expect(&bulk_reply(value));
}

#[test]
fn null_replies_under_resp2() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(b"SET k v\r\nGET missing\r\nMGET k missing\r\n");
    c.expect(b"+OK\r\n$-1\r\n*2\r\n$1\r\nv\r\n$-1\r\n");
}

#[test]
fn null_replies_under_resp3_and_back() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(b"SET k v\r\n");
    c.expect(b"+OK\r\n");
    c.send(b"HELLO 3\r\n");
    let Frame::Map(fields) = c.frame() else {
        panic!("HELLO 3 must answer a map");
    };
    assert!(fields.contains(&(Frame::Bulk("proto".into()), Frame::Integer(3))));
    c.send(b"GET missing\r\nMGET k missing\r\n");
    c.expect(b"_\r\n*2\r\n$1\r\nv\r\n_\r\n");
    c.send(b"HELLO 2\r\n");
    let Frame::Array(_) = c.frame() else {
        panic!("HELLO 2 must answer an array");
    };
    c.send(b"GET missing\r\n");
    c.expect(b"$-1\r\n");
}

#[test]
fn hello_3_pipelined_with_the_next_command() {
    // Redis switches protocol for the very next reply, even within one read.
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(b"HELLO 3\r\nGET missing\r\nHELLO 2\r\nGET missing\r\n");
    let Frame::Map(_) = c.frame() else {
        panic!("HELLO 3 must answer a map");
    };
    c.expect(b"_\r\n");
    let Frame::Array(_) = c.frame() else {
        panic!("HELLO 2 must answer an array");
    };
    c.expect(b"$-1\r\n");
}

#[test]
fn invalid_bulk_length_closes() {
    let srv = TestServer::start(&[]);
    let err = b"-ERR Protocol error: invalid bulk length\r\n";
    expect_reply_and_close(srv.addr, b"*1\r\n$abc\r\n", err);
    expect_reply_and_close(srv.addr, b"*1\r\n$-5\r\n", err);
    expect_reply_and_close(srv.addr, b"*1\r\n$-1\r\n", err);
    expect_reply_and_close(srv.addr, b"*2\r\n$3\r\nGET\r\n$1x\r\n", err);
}

#[test]
fn replies_before_a_protocol_error_are_sent() {
    let srv = TestServer::start(&[]);
    expect_reply_and_close(
        srv.addr,
        b"SET k v\r\n*1\r\n$4\r\nPING\r\n*1\r\n$-1\r\n",
        b"+OK\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
    );
    // The command before the error took effect.
    let mut c = Raw::connect(srv.addr);
    c.send(b"GET k\r\n");
    c.expect(b"$1\r\nv\r\n");
}

#[test]
fn expected_dollar_closes() {
    let srv = TestServer::start(&[]);
    expect_reply_and_close(
        srv.addr,
        b"*1\r\nx\r\n",
        b"-ERR Protocol error: expected '$', got 'x'\r\n",
    );
    expect_reply_and_close(
        srv.addr,
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
        b"-ERR Protocol error: expected '$', got 'f'\r\n",
    );
}

#[test]
fn unbalanced_quotes_in_inline_command_closes() {
    let srv = TestServer::start(&[]);
    let err = b"-ERR Protocol error: unbalanced quotes in request\r\n";
    expect_reply_and_close(srv.addr, b"SET k \"abc\r\n", err);
    expect_reply_and_close(srv.addr, b"SET k 'abc\r\n", err);
    // A closing quote must be followed by a space or the end.
    expect_reply_and_close(srv.addr, b"SET k \"a\"b\r\n", err);
    expect_reply_and_close(
        srv.addr,
        b"PING\r\nECHO \"x\n",
        b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n",
    );
}

#[test]
fn invalid_multibulk_length_closes() {
    let srv = TestServer::start(&[]);
    let err = b"-ERR Protocol error: invalid multibulk length\r\n";
    expect_reply_and_close(srv.addr, b"*2147483648\r\n", err);
    expect_reply_and_close(srv.addr, b"*99999999999999999999\r\n", err);
    expect_reply_and_close(srv.addr, b"*abc\r\n", err);
}

#[test]
fn header_integers_are_strict() {
    let srv = TestServer::start(&[]);
    let mbulk = b"-ERR Protocol error: invalid multibulk length\r\n";
    for input in [&b"*\r\n"[..], b"*+1\r\n", b"*01\r\n", b"*1 \r\n"] {
        expect_reply_and_close(srv.addr, input, mbulk);
    }
    let bulk = b"-ERR Protocol error: invalid bulk length\r\n";
    for input in [
        &b"*1\r\n$\r\n"[..],
        b"*1\r\n$04\r\n",
        b"*1\r\n$+4\r\n",
        b"*1\r\n$ 4\r\n",
    ] {
        expect_reply_and_close(srv.addr, input, bulk);
    }
    // An empty line where a bulk header belongs: Redis shows the `\r` as a space.
    expect_reply_and_close(
        srv.addr,
        b"*1\r\n\r\n",
        b"-ERR Protocol error: expected '$', got ' '\r\n",
    );
}

#[test]
fn bytes_after_a_header_cr_or_a_bulk_are_not_checked() {
    // Redis skips the byte after a header's `\r` and the two bytes after a bulk unchecked.
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(b"*1\rx$4\r\nPING\r\n*1\r\n$4\rxPING\r\n*1\r\n$4\r\nPINGxx");
    c.expect(b"+PONG\r\n+PONG\r\n+PONG\r\n");
}

#[test]
fn zero_and_negative_multibulk_counts_are_skipped() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(b"*0\r\n*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n");
    c.expect(b"+PONG\r\n");
}

#[test]
fn oversized_bulk_with_default_limit_closes() {
    let srv = TestServer::start(&[]);
    let err = b"-ERR Protocol error: invalid bulk length\r\n";
    expect_reply_and_close(srv.addr, b"*1\r\n$600000000\r\n", err);
    // One byte above the default 512 MB proto-max-bulk-len.
    expect_reply_and_close(srv.addr, b"*1\r\n$536870913\r\n", err);
    expect_reply_and_close(srv.addr, b"*1\r\n$99999999999999999999\r\n", err);
}

#[test]
fn oversized_bulk_with_lowered_limit_closes() {
    let srv = TestServer::start(&[("proto-max-bulk-len", "1mb")]);
    // Exactly at the limit is accepted.
    let value = pattern(1024 * 1024, 11);
    let mut c = Raw::connect(srv.addr);
    c.cmd(&[b"ECHO", &value]);
    c.expect(&bulk_reply(&value));
    expect_reply_and_close(
        srv.addr,
        b"*2\r\n$4\r\nECHO\r\n$1048577\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
}

#[test]
fn too_long_headers_and_inline_lines_close() {
    let srv = TestServer::start(&[]);
    // 64 KB without a newline is still waited on; one more byte is an error.
    let inline = vec![b'a'; 64 * 1024 + 1];
    expect_reply_and_close(
        srv.addr,
        &inline,
        b"-ERR Protocol error: too big inline request\r\n",
    );
    let mut count = b"*".to_vec();
    count.extend(std::iter::repeat_n(b'1', 64 * 1024));
    expect_reply_and_close(
        srv.addr,
        &count,
        b"-ERR Protocol error: too big mbulk count string\r\n",
    );
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', 64 * 1024));
    expect_reply_and_close(
        srv.addr,
        &bulk,
        b"-ERR Protocol error: too big bulk count string\r\n",
    );
}

#[test]
fn unauthenticated_client_limits() {
    let srv = TestServer::start(&[("requirepass", "secret")]);
    expect_reply_and_close_unauthenticated(
        srv.addr,
        b"*11\r\n",
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    expect_reply_and_close_unauthenticated(
        srv.addr,
        b"*2\r\n$4\r\nECHO\r\n$16385\r\n",
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    // Up to the limits is accepted, and answered with NOAUTH on a connection that stays open.
    let mut c = Raw::connect(srv.addr);
    let mut input = b"*10\r\n$4\r\nMSET\r\n".to_vec();
    for _ in 0..9 {
        input.extend_from_slice(b"$1\r\na\r\n");
    }
    input.extend(multibulk(&[b"ECHO", &[b'x'; 16384]]));
    c.send(&input);
    c.expect(b"-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n");
    // Once authenticated (in the same pipeline), the limits are gone.
    let big = [b'y'; 20000];
    let mut input = b"AUTH secret\r\n".to_vec();
    input.extend(multibulk(&[
        b"MSET", b"k1", b"1", b"k2", b"2", b"k3", b"3", b"k4", b"4", b"k5", b"5",
    ]));
    input.extend(multibulk(&[b"ECHO", &big]));
    c.send(&input);
    c.expect(b"+OK\r\n+OK\r\n");
    c.expect(&bulk_reply(&big));
}

#[test]
fn query_buffer_limit_closes_without_a_reply() {
    let srv = TestServer::start(&[("client-query-buffer-limit", "1mb")]);
    let mut c = Raw::connect(srv.addr);
    // A 2 MB bulk of which 1.5 MB is sent: the command never completes, so the buffered
    // request must cross the 1 MB limit whatever the read sizes are.
    let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1_500_000));
    // The server may close (and reset) before everything is written.
    let _ = c.stream.write_all(&input);
    c.expect_closed();
    let mut c = Raw::connect(srv.addr);
    c.send(b"EXISTS k\r\n");
    c.expect(b":0\r\n");
}

#[test]
fn unknown_command_and_wrong_arity_keep_the_connection() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    c.send(b"NOSUCH a b\r\nPING\r\n");
    c.expect(b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n+PONG\r\n");
    c.cmd(&[b"nosuch"]);
    c.expect(b"-ERR unknown command 'nosuch', with args beginning with: \r\n");
    c.send(b"GET\r\n");
    c.expect(b"-ERR wrong number of arguments for 'get' command\r\n");
    c.cmd(&[b"GET", b"a", b"b"]);
    c.expect(b"-ERR wrong number of arguments for 'get' command\r\n");
    c.cmd(&[b"PING"]);
    c.expect(b"+PONG\r\n");
}

#[test]
fn unknown_command_error_is_sanitized_and_truncated() {
    let srv = TestServer::start(&[]);
    let mut c = Raw::connect(srv.addr);
    // `\r` and `\n` inside an error become spaces, so the reply stays one line.
    c.cmd(&[b"NO\r\nSU", b"a\r\n"]);
    c.expect(b"-ERR unknown command 'NO  SU', with args beginning with: 'a  ' \r\n");
    // The name is cut at 128 bytes, the argument list at about 128 bytes.
    c.cmd(&[&[b'c'; 200]]);
    let mut expected = b"-ERR unknown command '".to_vec();
    expected.extend_from_slice(&[b'c'; 128]);
    expected.extend_from_slice(b"', with args beginning with: \r\n");
    c.expect(&expected);
    c.cmd(&[b"foo", &[b'a'; 100], &[b'b'; 100], b"bar"]);
    let mut expected = b"-ERR unknown command 'foo', with args beginning with: '".to_vec();
    expected.extend_from_slice(&[b'a'; 100]);
    expected.extend_from_slice(b"' '");
    expected.extend_from_slice(&[b'b'; 25]);
    expected.extend_from_slice(b"' \r\n");
    c.expect(&expected);
    c.send(b"PING\r\n");
    c.expect(b"+PONG\r\n");
}

#[test]
fn quit_replies_ok_and_closes() {
    let srv = TestServer::start(&[]);
    expect_reply_and_close(srv.addr, b"QUIT\r\n", b"+OK\r\n");
}

#[test]
fn client_disconnecting_mid_request_does_not_hurt_the_server() {
    let srv = TestServer::start(&[]);
    let partials: [&[u8]; 7] = [
        b"*",
        b"*3\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r",
        b"*2\r\n$3\r\nGET\r\n$100\r\nabc",
        b"*1\r\n$536870912\r\n",
        b"*2147483647\r\n",
        b"SET k \"unterminated",
    ];
    for p in partials {
        let mut c = Raw::connect(srv.addr);
        c.send(p);
        drop(c);
        assert_alive(srv.addr);
    }
}

#[test]
fn garbage_never_kills_the_server() {
    let srv = TestServer::start(&[]);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet = b"*$\r\n-0123456789abc\"' \0\xff";
    for _ in 0..200 {
        let len = (next() % 64) as usize + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let mut c = Raw::connect(srv.addr);
        // The server may close early; a failed write is fine.
        let _ = c.stream.write_all(&bytes);
        drop(c);
    }
    assert_alive(srv.addr);
}
