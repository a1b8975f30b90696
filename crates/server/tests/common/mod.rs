//! Test support: an in-process server on 127.0.0.1:0 with a manual clock, and a blocking
//! RESP client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use commands::{Config, Server};
use keyspace::{Keyspace, KeyspaceConfig, ManualClock};
use protocol::{parse_frame, Frame};

pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub server: Arc<Server>,
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
}

impl TestServer {
    /// Starts a server with the given settings (on top of port 0, loopback, no persistence).
    pub fn start(settings: &[(&str, &str)]) -> TestServer {
        Self::start_with_shards(settings, 4)
    }

    pub fn start_with_shards(settings: &[(&str, &str)], shards: usize) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = Config::new(None);
        for (k, v) in [("port", "0"), ("bind", "127.0.0.1"), ("save", "")]
            .iter()
            .chain(settings)
        {
            config.set_initial(k, v).expect("setting");
        }
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let databases = config.get_i64("databases") as usize;
        let keyspace = Keyspace::new(KeyspaceConfig { databases, shards }, clock.clone());
        let server = Server::with_keyspace(config, keyspace);
        let running = rt.block_on(server::start(server.clone())).expect("start");
        let addr = running.addr();
        rt.spawn(running.wait());
        TestServer {
            rt,
            server,
            addr,
            clock,
        }
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.request_shutdown();
    }
}

/// A blocking client speaking RESP.
pub struct Conn {
    pub stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Conn {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command as a multibulk.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.send_raw(&out);
    }

    /// Reads one reply; None if the server closed the connection.
    pub fn read(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, n)) = parse_frame(&self.buf).expect("valid reply") {
                let _ = self.buf.split_to(n);
                return Some(frame);
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Sends a command and reads its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Frame {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args);
        self.read().expect("reply")
    }

    /// Whether the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        self.read().is_none()
    }
}

/// A bulk reply's text.
pub fn bulk(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) | Frame::Error(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => panic!("not a string reply: {other:?}"),
    }
}
