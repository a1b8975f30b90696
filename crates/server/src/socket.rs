//! `Socket`: a client's TCP socket driven directly by readiness, so a read that drains the
//! socket is not followed by a second read that only learns it would block. With pipelining
//! off, that saves one of three system calls per request.

use std::io;
use std::mem::MaybeUninit;

use bytes::BytesMut;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

pub struct Socket {
    fd: AsyncFd<socket2::Socket>,
}

impl Socket {
    pub fn new(stream: TcpStream) -> io::Result<Socket> {
        let std = stream.into_std()?;
        std.set_nonblocking(true)?;
        let socket = socket2::Socket::from(std);
        // SAFETY: `socket` owns its descriptor, which stays open and unchanged until the
        // `AsyncFd` (which owns `socket`) is dropped.
        let fd = unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)?;
        Ok(Socket { fd })
    }

    pub fn raw_fd(&self) -> i64 {
        use std::os::fd::AsRawFd;
        i64::from(self.fd.as_raw_fd())
    }

    /// Reads what the socket has into `buf`'s spare capacity (which must be non-empty).
    /// Returns 0 at end of stream.
    pub async fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let spare: &mut [MaybeUninit<u8>] = buf.spare_capacity_mut();
            let room = spare.len();
            match guard.try_io(|s| s.get_ref().recv(spare)) {
                Ok(Ok(n)) => {
                    // SAFETY: recv initialised the first `n` bytes of the spare capacity.
                    unsafe { buf.set_len(buf.len() + n) };
                    if n > 0 && n < room {
                        // A short read drained the socket (edge-triggered readiness fires
                        // again when more arrives), so the next read waits instead of
                        // spending a system call to learn it would block.
                        guard.clear_ready();
                    }
                    return Ok(n);
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes what the socket accepts now without waiting; the number of bytes written
    /// (0 when it would block).
    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        loop {
            match self.fd.get_ref().send(data) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes all of `data`.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            // Try first: the socket is almost always writable.
            match self.fd.get_ref().send(data) {
                Ok(n) => {
                    data = &data[n..];
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                Err(_) => {}
            }
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|s| s.get_ref().send(data)) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}

impl commands::pubsub::PushSink for Socket {
    fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        Socket::try_write(self, data)
    }
}
