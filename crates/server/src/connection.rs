//! One task per connection: read into a buffer, decode every complete request, dispatch each,
//! write all replies with one write, repeat. Pipelined requests thus cost one read and one
//! write per batch.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use commands::{Action, Client, ClientHandle, Server};
use protocol::{Protocol, ReplyWriter, RequestDecoder, RequestLimits};

use crate::socket::Socket;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const READ_CHUNK: usize = 16 * 1024;
/// Replies are flushed early once this much is buffered, so a long pipeline of big replies
/// does not accumulate without bound.
const FLUSH_AT: usize = 64 * 1024;

pub async fn accept_loop(server: Arc<Server>, listener: TcpListener) {
    loop {
        let notified = server.shutdown.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if server.shutdown_requested.load(Ordering::SeqCst) {
            return;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let local = stream.local_addr().unwrap_or(peer);
                    tokio::spawn(serve(server.clone(), stream, peer, local));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = &mut notified => return,
        }
    }
}

fn is_protected(server: &Server, peer: &SocketAddr) -> bool {
    server.config.get_bool("protected-mode")
        && !server.config.requirepass_set.load(Ordering::Relaxed)
        && !peer.ip().is_loopback()
        && server
            .config
            .get("bind")
            .is_some_and(|b| b == "127.0.0.1 -::1")
}

const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

async fn serve(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
    let _ = stream.set_nodelay(true);
    server
        .stats
        .total_connections
        .fetch_add(1, Ordering::Relaxed);
    if server.clients.count() as u64 >= server.config.maxclients.load(Ordering::Relaxed) {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    if is_protected(&server, &peer) {
        let _ = stream.write_all(DENIED).await;
        return;
    }
    let id = server.clients.next_id();
    let handle = Arc::new(ClientHandle::new(
        id,
        peer.to_string(),
        local.to_string(),
        server.keyspace.now_ms(),
    ));
    server.clients.add(handle.clone());
    let socket = match Socket::new(stream) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("client {id}: {e}");
            server.clients.remove(id);
            return;
        }
    };
    handle.fd.store(socket.raw_fd(), Ordering::Relaxed);
    let authenticated = !server.config.requirepass_set.load(Ordering::Relaxed);
    let mut client = Client::new(handle.clone(), authenticated);
    if let Err(e) = run(&server, &mut client, &socket).await {
        tracing::debug!("client {id} closed: {e}");
    }
    server.clients.remove(id);
}

/// The flags that decide whether CLIENT PAUSE holds a command (a subcommand's own, when the
/// container has subcommands).
fn command_flags(args: &[bytes::Bytes]) -> u32 {
    let reg = commands::registry::registry();
    let Some(id) = reg.lookup(&args[0]) else {
        return 0;
    };
    let id = args
        .get(1)
        .and_then(|sub| reg.lookup_sub(id, sub))
        .unwrap_or(id);
    reg.spec(id).flags
}

/// Holds a command while CLIENT PAUSE applies to it. Returns false if the client was killed
/// meanwhile.
async fn wait_while_paused(server: &Server, handle: &ClientHandle, args: &[bytes::Bytes]) -> bool {
    let flags = command_flags(args);
    loop {
        let resumed = server.pause.resumed.notified();
        tokio::pin!(resumed);
        resumed.as_mut().enable();
        let Some(until) = server.pause.holds(flags) else {
            return true;
        };
        let wait = Duration::from_millis(until.saturating_sub(commands::server::unix_ms()).max(1));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut resumed => {}
            _ = handle.killed() => return false,
        }
    }
}

async fn flush(stream: &Socket, out: &mut ReplyWriter, server: &Server) -> std::io::Result<()> {
    if !out.buf.is_empty() {
        stream.write_all(&out.buf).await?;
        server
            .stats
            .net_output_bytes
            .fetch_add(out.buf.len() as u64, Ordering::Relaxed);
        out.buf.clear();
        if out.buf.capacity() > 4 * FLUSH_AT {
            out.buf = BytesMut::with_capacity(READ_CHUNK);
        }
    }
    Ok(())
}

async fn run(server: &Server, client: &mut Client, stream: &Socket) -> std::io::Result<()> {
    let handle = client.handle.clone();
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = ReplyWriter::new(Protocol::Resp2);
    let mut decoder = RequestDecoder::new();
    loop {
        // One clock read per batch of pipelined commands; refreshed after any wait.
        let mut now_ms = server.keyspace.now_ms();
        handle.last_interaction_ms.store(now_ms, Ordering::Relaxed);
        loop {
            let limits = RequestLimits {
                max_bulk_len: server.config.proto_max_bulk_len.load(Ordering::Relaxed),
                authenticated: client.authenticated,
                ..RequestLimits::default()
            };
            match decoder.decode(&mut inbuf, &limits) {
                Ok(Some(args)) => {
                    if server.pause.until_ms.load(Ordering::Relaxed) != 0 {
                        flush(stream, &mut out, server).await?;
                        if !wait_while_paused(server, &handle, &args).await {
                            return Ok(());
                        }
                        now_ms = server.keyspace.now_ms();
                    }
                    commands::dispatch(server, client, &mut out, &args, now_ms);
                    if let Some(action) = client.action.take() {
                        match action {
                            Action::Close => {
                                flush(stream, &mut out, server).await?;
                                return Ok(());
                            }
                            Action::Shutdown(_save) => {
                                flush(stream, &mut out, server).await?;
                                server.request_shutdown();
                                return Ok(());
                            }
                            Action::Sleep(ms) => {
                                // The reply goes out after the sleep, as in Redis.
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                now_ms = server.keyspace.now_ms();
                            }
                            Action::Block(req) => {
                                // Waiting on keys is not wired yet: answer as a timeout.
                                match req.on_timeout {
                                    commands::blocking::TimeoutReply::NullArray => out.null_array(),
                                    commands::blocking::TimeoutReply::Null => out.null(),
                                }
                            }
                        }
                    }
                    if out.buf.len() >= FLUSH_AT {
                        flush(stream, &mut out, server).await?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let mut text = b"ERR ".to_vec();
                    text.extend_from_slice(&e.message());
                    server.stats.record_error("ERR");
                    out.error(&text);
                    flush(stream, &mut out, server).await?;
                    return Ok(());
                }
            }
        }
        flush(stream, &mut out, server).await?;
        handle.qbuf.store(inbuf.len(), Ordering::Relaxed);
        if inbuf.len() as u64 > server.config.query_buffer_limit.load(Ordering::Relaxed) {
            tracing::warn!("closing client that reached max query buffer length");
            return Ok(());
        }
        let want = decoder.bytes_needed().max(READ_CHUNK);
        if inbuf.capacity() - inbuf.len() < want {
            inbuf.reserve(want);
        }
        let timeout = server.config.timeout.load(Ordering::Relaxed);
        let idle = async {
            if timeout == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout)).await
            }
        };
        tokio::select! {
            read = stream.read_buf(&mut inbuf) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                server.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            _ = handle.killed() => return Ok(()),
            _ = idle => return Ok(()),
        }
        if client.proto != out.proto {
            out.proto = client.proto;
        }
    }
}
