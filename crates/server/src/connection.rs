//! One task per connection: read into a buffer, decode every complete request, dispatch each,
//! write all replies with one write, repeat. Pipelined requests thus cost one read and one
//! write per batch.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use commands::blocking::{self, BlockRequest, TimeoutReply, Wake};
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
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::warn!("client {id}: {e}");
            server.clients.remove(id);
            return;
        }
    };
    handle.fd.store(socket.raw_fd(), Ordering::Relaxed);
    let authenticated = !server.config.requirepass_set.load(Ordering::Relaxed);
    let mut client = Client::new(handle.clone(), authenticated);
    client.push_route = Some(commands::pubsub::PushRoute {
        sink: socket.clone(),
        delivery: server.pubsub.delivery.clone(),
    });
    if let Err(e) = run(&server, &mut client, &socket).await {
        tracing::debug!("client {id} closed: {e}");
    }
    if let Some(inbox) = &client.pushes {
        inbox.detach();
        server.pubsub.remove_client(&inbox.out);
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

/// Writes the buffered replies (after the AOF holds the effects of the commands they answer,
/// up to stream position `logged`), and a receiver's queued pushes after them. A client
/// killed meanwhile (CLIENT KILL, or a subscriber past its output buffer limit that does not
/// read) ends the write with an error.
async fn flush(
    stream: &Socket,
    out: &mut ReplyWriter,
    server: &Server,
    client: &Client,
    logged: &mut u64,
) -> std::io::Result<()> {
    // The AOF: replies to writes go out once their effects are as durable as
    // `appendfsync` promises.
    if *logged != 0 {
        commands::aof::wait_durable(server, std::mem::take(logged)).await;
    }
    loop {
        if let Some(inbox) = &client.pushes {
            inbox.take_into(&mut out.buf);
        }
        if !out.buf.is_empty() {
            write_out(stream, out, server, &client.handle).await?;
        }
        match &client.pushes {
            // Frames queued during the write go out before the deliverer writes again.
            Some(inbox) if !inbox.release() => continue,
            _ => return Ok(()),
        }
    }
}

/// Writes `out`'s buffer whole (or fails once the client is killed), and counts it.
async fn write_out(
    stream: &Socket,
    out: &mut ReplyWriter,
    server: &Server,
    handle: &ClientHandle,
) -> std::io::Result<()> {
    // The socket almost always takes the whole batch at once: no waiting machinery.
    let sent = stream.try_write(&out.buf)?;
    if sent < out.buf.len() {
        tokio::select! {
            written = stream.write_all(&out.buf[sent..]) => written?,
            _ = handle.killed() => {
                return Err(std::io::Error::other("killed while writing"));
            }
        }
    }
    server
        .stats
        .net_output_bytes
        .fetch_add(out.buf.len() as u64, Ordering::Relaxed);
    out.buf.clear();
    if out.buf.capacity() > 4 * FLUSH_AT {
        out.buf = BytesMut::with_capacity(READ_CHUNK);
    }
    Ok(())
}

/// Bytes a client holds that no command has consumed yet: its input buffer plus what the
/// decoder already split off for a partly read command (Redis's querybuf + argv).
struct Input {
    buf: BytesMut,
    /// Bytes of the current, incomplete command the decoder has taken out of `buf`.
    partial: usize,
}

impl Input {
    /// Reads once into the buffer; Ok(false) on EOF or when the client passed
    /// client-query-buffer-limit (checked right after the read, before anything is
    /// processed, as Redis).
    async fn read(
        &mut self,
        server: &Server,
        handle: &ClientHandle,
        stream: &Socket,
        want: usize,
    ) -> std::io::Result<bool> {
        let want = want.max(READ_CHUNK);
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want);
        }
        let n = stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Ok(false);
        }
        server
            .stats
            .net_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        server.busy_poll.activity();
        let held = self.buf.len() + self.partial;
        handle.qbuf.store(held, Ordering::Relaxed);
        if held as u64 > server.config.query_buffer_limit.load(Ordering::Relaxed) {
            tracing::warn!(
                "closing client {} that reached max query buffer length",
                handle.id
            );
            return Ok(false);
        }
        Ok(true)
    }
}

/// Waits, with the command's replies so far already sent, until the blocked client is
/// served, times out, is unblocked, killed or disconnects; writes its reply into `out`.
/// Ok(false) when the connection must close.
async fn wait_blocked(
    server: &Server,
    client: &Client,
    stream: &Socket,
    input: &mut Input,
    out: &mut ReplyWriter,
    req: &BlockRequest,
    mut rx: tokio::sync::oneshot::Receiver<Wake>,
) -> std::io::Result<bool> {
    let handle = &client.handle;
    // The deadline is on the keyspace clock; the wait is real time.
    let deadline = async {
        match req.deadline_ms {
            Some(d) => {
                let left = d.saturating_sub(server.keyspace.now_ms());
                tokio::time::sleep(Duration::from_millis(left)).await
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(deadline);
    let mut timed_out = false;
    let wake = loop {
        tokio::select! {
            biased;
            wake = &mut rx => break wake,
            _ = handle.killed() => {
                server.blocking.remove(client.id);
                return Ok(false);
            }
            // The registry answers through `rx` (its own reply if it is serving the client
            // at this very moment), so the client gets exactly one reply.
            _ = &mut deadline, if !timed_out => {
                timed_out = true;
                server.blocking.cancel(client.id, Wake::Timeout);
            }
            // Keep reading (pipelined commands wait for the reply) to see a disconnect.
            read = input.read(server, handle, stream, 0) => {
                if !matches!(read, Ok(true)) {
                    server.blocking.remove(client.id);
                    return read.map(|_| false);
                }
            }
        }
    };
    let Ok(wake) = wake else {
        // The registry dropped the wait without an answer: nothing to send.
        return Ok(true);
    };
    let reply = !matches!(client.reply_mode, commands::client::ReplyMode::Off);
    match wake {
        Wake::Reply(bytes) => {
            if reply {
                out.buf.extend_from_slice(&bytes);
            }
        }
        Wake::Timeout => {
            blocking::count_unserved(server, handle);
            if reply {
                match req.on_timeout {
                    TimeoutReply::NullArray => out.null_array(),
                }
            }
        }
        Wake::Unblocked => {
            blocking::count_unserved(server, handle);
            server.stats.record_error("UNBLOCKED");
            if reply {
                out.error(blocking::UNBLOCKED.as_bytes());
            }
        }
    }
    Ok(true)
}

async fn run(server: &Server, client: &mut Client, stream: &Socket) -> std::io::Result<()> {
    let handle = client.handle.clone();
    let mut input = Input {
        buf: BytesMut::with_capacity(READ_CHUNK),
        partial: 0,
    };
    let mut out = ReplyWriter::new(Protocol::Resp2);
    let mut decoder = RequestDecoder::new();
    // The AOF stream position of this connection's unanswered writes (0: none).
    let mut logged = 0u64;
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
            let before = input.buf.len();
            match decoder.decode(&mut input.buf, &limits) {
                Ok(Some(args)) => {
                    input.partial = 0;
                    if server.pause.until_ms.load(Ordering::Relaxed) != 0 {
                        flush(stream, &mut out, server, client, &mut logged).await?;
                        if !wait_while_paused(server, &handle, &args).await {
                            return Ok(());
                        }
                        now_ms = server.keyspace.now_ms();
                    }
                    // Messages queued before this command go out before its reply.
                    if let Some(inbox) = &client.pushes {
                        if inbox.pending() {
                            inbox.take_into(&mut out.buf);
                        }
                    }
                    commands::dispatch(server, client, &mut out, &args, now_ms);
                    logged = logged.max(commands::aof::take_logged());
                    if let Some(action) = client.action.take() {
                        match action {
                            Action::Close => {
                                flush(stream, &mut out, server, client, &mut logged).await?;
                                return Ok(());
                            }
                            Action::Shutdown(save) => {
                                let saved =
                                    commands::family::persistence::shutdown_save(server, save);
                                if let Err(e) = saved {
                                    out.error(e.as_bytes());
                                } else {
                                    flush(stream, &mut out, server, client, &mut logged).await?;
                                    server.request_shutdown();
                                    return Ok(());
                                }
                            }
                            Action::Sleep(ms) => {
                                // The reply goes out after the sleep, as in Redis.
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                now_ms = server.keyspace.now_ms();
                            }
                            Action::Block(req) => {
                                let rx = server.blocking.block(server, client, &args, &req);
                                flush(stream, &mut out, server, client, &mut logged).await?;
                                if !wait_blocked(
                                    server, client, stream, &mut input, &mut out, &req, rx,
                                )
                                .await?
                                {
                                    return Ok(());
                                }
                                // A served command was logged by the thread that served it.
                                logged = logged.max(server.aof.fed());
                                now_ms = server.keyspace.now_ms();
                                handle.last_interaction_ms.store(now_ms, Ordering::Relaxed);
                            }
                            Action::Replication(work) => {
                                flush(stream, &mut out, server, client, &mut logged).await?;
                                // The replication stream owns the socket now: pushes, if
                                // any, go through this connection's own writes only.
                                if let Some(inbox) = &client.pushes {
                                    inbox.detach();
                                }
                                let go_on = crate::replication::handoff(
                                    server,
                                    client,
                                    stream,
                                    &mut input.buf,
                                    &mut out,
                                    work,
                                )
                                .await?;
                                if !go_on {
                                    return Ok(());
                                }
                                now_ms = server.keyspace.now_ms();
                            }
                        }
                    }
                    if out.buf.len() >= FLUSH_AT {
                        flush(stream, &mut out, server, client, &mut logged).await?;
                    }
                }
                Ok(None) => {
                    input.partial += before - input.buf.len();
                    break;
                }
                Err(e) => {
                    let mut text = b"ERR ".to_vec();
                    text.extend_from_slice(&e.message());
                    server.stats.record_error("ERR");
                    out.error(&text);
                    flush(stream, &mut out, server, client, &mut logged).await?;
                    return Ok(());
                }
            }
        }
        flush(stream, &mut out, server, client, &mut logged).await?;
        handle
            .qbuf
            .store(input.buf.len() + input.partial, Ordering::Relaxed);
        let timeout = server.config.timeout.load(Ordering::Relaxed);
        let idle = async {
            if timeout == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout)).await
            }
        };
        let pushes = async {
            match &client.pushes {
                Some(inbox) => inbox.woken().await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            read = input.read(server, &handle, stream, decoder.bytes_needed()) => {
                if !read? {
                    return Ok(());
                }
            }
            // Pub/sub messages and MONITOR lines the deliverer could not write: the next
            // flush writes them.
            _ = pushes => {}
            _ = handle.killed() => return Ok(()),
            _ = idle => return Ok(()),
        }
        if client.proto != out.proto {
            out.proto = client.proto;
        }
    }
}
