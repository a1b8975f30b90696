//! txload -- a closed-loop load generator for transactions, which redis-benchmark cannot
//! send: each of CLIENTS connections sends `MULTI`, `INCR KEY`, `EXEC` in one write, waits
//! for the whole reply (`+OK`, `+QUEUED`, `*1`, `:n`: four lines), and sends the next, until
//! TOTAL transactions are done. Prints `<transactions per second>` on stdout.
//!
//! Standard library only, one thread, poll(2) over the connections; bench/messaging.sh
//! builds it with `rustc -O`.
//!
//! Usage: txload HOST PORT CLIENTS TOTAL [KEY]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::io::AsRawFd;
use std::time::Instant;

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

const POLLIN: i16 = 1;

extern "C" {
    fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
}

/// Lines of one transaction's reply.
const LINES: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: txload HOST PORT CLIENTS TOTAL [KEY]");
        std::process::exit(2);
    }
    let addr = format!("{}:{}", args[1], args[2]);
    let clients: usize = args[3].parse().expect("CLIENTS");
    let total: u64 = args[4].parse().expect("TOTAL");
    let key = args.get(5).map(String::as_str).unwrap_or("counter");
    let request = format!(
        "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n${}\r\n{key}\r\n*1\r\n$4\r\nEXEC\r\n",
        key.len()
    );
    let mut conns: Vec<TcpStream> = (0..clients)
        .map(|_| {
            let s = TcpStream::connect(&addr).expect("connect");
            s.set_nodelay(true).expect("nodelay");
            s
        })
        .collect();
    // The first transaction of one connection, checked for its shape.
    {
        let c = &mut conns[0];
        c.write_all(request.as_bytes()).expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while buf.windows(2).filter(|w| w == b"\r\n").count() < LINES {
            let n = c.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.starts_with("+OK\r\n+QUEUED\r\n*1\r\n:"),
            "unexpected transaction reply: {text:?}"
        );
    }
    let mut pending = vec![0usize; clients];
    let mut sent: u64 = 0;
    let mut done: u64 = 0;
    let start = Instant::now();
    for (i, c) in conns.iter_mut().enumerate() {
        if sent < total {
            c.write_all(request.as_bytes()).expect("write");
            pending[i] = LINES;
            sent += 1;
        }
    }
    let mut fds: Vec<PollFd> = conns
        .iter()
        .map(|c| PollFd {
            fd: c.as_raw_fd(),
            events: POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = [0u8; 16 * 1024];
    while done < total {
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let n = unsafe { poll(fds.as_mut_ptr(), fds.len() as u64, 10_000) };
        assert!(n > 0, "poll: no reply within 10 s");
        for i in 0..fds.len() {
            if fds[i].revents == 0 {
                continue;
            }
            let n = conns[i].read(&mut buf).expect("read");
            assert!(n > 0, "connection closed");
            let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
            assert!(lines <= pending[i], "more replies than requests");
            pending[i] -= lines;
            if lines > 0 && pending[i] == 0 {
                done += 1;
                if sent < total {
                    conns[i].write_all(request.as_bytes()).expect("write");
                    pending[i] = LINES;
                    sent += 1;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.2}", total as f64 / secs);
}
