//! Replication sockets. As a master: a connection that sent SYNC/PSYNC becomes a replica
//! link — it writes the initial synchronisation (`+FULLRESYNC` and the RDB, or `+CONTINUE`
//! and the backlog), then forwards the stream queued for it and reads the replica's
//! `REPLCONF ACK`s. WAIT waits here for acknowledgements. As a replica: a task that
//! connects to the master, does the handshake (PING, AUTH, REPLCONF, PSYNC), loads the RDB
//! or continues, then applies the stream through `commands::dispatch` as the master client,
//! acknowledging its offset every second and reconnecting (with PSYNC) when the link drops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use commands::replication::{self as repl, Handoff, Link, ReplicaLink, SyncRequest, WaitRequest};
use commands::server::unix_ms;
use commands::{Client, ClientHandle, Server};
use protocol::{Protocol, ReplyWriter, RequestDecoder, RequestLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::socket::Socket;

const CHUNK: usize = 16 * 1024;

/// Carries out a client's replication action. Ok(false): the connection must close.
pub async fn handoff(
    server: &Server,
    client: &mut Client,
    stream: &Socket,
    input: &mut BytesMut,
    out: &mut ReplyWriter,
    action: Handoff,
) -> std::io::Result<bool> {
    match action {
        Handoff::Sync(req) => {
            serve_replica(server, client, stream, std::mem::take(input), req).await?;
            Ok(false)
        }
        Handoff::Wait(req) => Ok(wait_acks(server, client, &req, out).await),
    }
}

// ---------------------------------------------------------------------------------------
// Master side
// ---------------------------------------------------------------------------------------

async fn serve_replica(
    server: &Server,
    client: &mut Client,
    stream: &Socket,
    input: BytesMut,
    req: SyncRequest,
) -> std::io::Result<()> {
    let start = match repl::start_sync(server, client, &req) {
        Ok(s) => s,
        Err(e) => {
            server.stats.record_error(e.code());
            let text = format!("-{}\r\n", e.text());
            return stream.write_all(text.as_bytes()).await;
        }
    };
    let link = start.link.clone();
    let result = link_loop(server, client, stream, input, &start, &link).await;
    repl::end_link(server, &link);
    tracing::info!("Connection with replica {}:{} lost.", link.ip, link.port);
    result
}

async fn link_loop(
    server: &Server,
    client: &Client,
    stream: &Socket,
    mut input: BytesMut,
    start: &repl::SyncStart,
    link: &ReplicaLink,
) -> std::io::Result<()> {
    let handle = &client.handle;
    let mut wait_ack = start.stream_on_ack;
    tokio::select! {
        w = stream.write_all(&start.preamble) => w?,
        _ = handle.killed() => return Ok(()),
    }
    if let Some(snapshot) = &start.snapshot {
        if !send_snapshot(stream, handle, snapshot).await? {
            return Ok(());
        }
    }
    link.last_ack_ms.store(unix_ms(), Ordering::Relaxed);
    link.online.store(true, Ordering::Release);
    repl::refresh_gate(server);
    tracing::info!(
        "Synchronization with replica {}:{} succeeded",
        link.ip,
        link.port
    );
    let mut decoder = RequestDecoder::new();
    let limits = RequestLimits::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let notified = link.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if link.overflow.load(Ordering::Acquire) {
            tracing::warn!(
                "Client id={} addr={} closed for overcoming of output buffer limits.",
                client.id,
                handle.addr
            );
            return Ok(());
        }
        let data = if wait_ack {
            BytesMut::new()
        } else {
            link.take()
        };
        if !data.is_empty() {
            tokio::select! {
                w = stream.write_all(&data) => w?,
                _ = handle.killed() => return Ok(()),
            }
            server
                .stats
                .net_output_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            continue;
        }
        if input.capacity() - input.len() < CHUNK {
            input.reserve(CHUNK);
        }
        tokio::select! {
            _ = &mut notified => {}
            read = stream.read_buf(&mut input) => {
                if read? == 0 {
                    return Ok(());
                }
                while let Ok(Some(args)) = decoder.decode(&mut input, &limits) {
                    if replica_command(server, link, &args) {
                        wait_ack = false;
                    }
                }
            }
            _ = tick.tick() => {
                let timeout = server.config.get_i64("repl-timeout").max(1) as u64 * 1000;
                if unix_ms().saturating_sub(link.last_ack_ms.load(Ordering::Relaxed)) > timeout {
                    tracing::warn!("Disconnecting timedout replica: {}:{}", link.ip, link.port);
                    return Ok(());
                }
            }
            _ = handle.killed() => return Ok(()),
        }
    }
}

/// Sends a background snapshot's RDB: as it is produced after `$EOF:<mark>` (then the
/// mark), or once complete as `$<len>` and the bytes. Ok(false) when the client was
/// killed meanwhile.
async fn send_snapshot(
    stream: &Socket,
    handle: &ClientHandle,
    snapshot: &repl::Snapshot,
) -> std::io::Result<bool> {
    let pipe = &snapshot.pipe;
    let Some(mark) = &snapshot.mark else {
        tokio::select! {
            r = snapshot.handle.finished() => {
                r.map_err(std::io::Error::other)?;
            }
            _ = handle.killed() => return Ok(false),
        }
        let rdb = pipe.take();
        let mut out = format!("${}\r\n", rdb.len()).into_bytes();
        out.extend_from_slice(&rdb);
        tokio::select! {
            w = stream.write_all(&out) => w?,
            _ = handle.killed() => return Ok(false),
        }
        return Ok(true);
    };
    loop {
        let arrived = pipe.notify.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        // The result is set once every byte has been written to the pipe.
        let done = snapshot.handle.try_result();
        let chunk = pipe.take();
        if !chunk.is_empty() {
            tokio::select! {
                w = stream.write_all(&chunk) => w?,
                _ = handle.killed() => return Ok(false),
            }
        }
        if let Some(result) = done {
            result.map_err(std::io::Error::other)?;
            tokio::select! {
                w = stream.write_all(mark.as_bytes()) => w?,
                _ = handle.killed() => return Ok(false),
            }
            return Ok(true);
        }
        if chunk.is_empty() {
            tokio::select! {
                _ = &mut arrived => {}
                _ = snapshot.handle.finished() => {}
                _ = handle.killed() => return Ok(false),
            }
        }
    }
}

/// What a replica sends on its link: `REPLCONF ACK <offset> [FACK <aofoffset>]`. True for
/// an ACK.
fn replica_command(server: &Server, link: &ReplicaLink, args: &[Bytes]) -> bool {
    if args.len() >= 3
        && args[0].eq_ignore_ascii_case(b"replconf")
        && args[1].eq_ignore_ascii_case(b"ack")
    {
        let number = |a: &Bytes| std::str::from_utf8(a).ok()?.parse::<u64>().ok();
        if let Some(off) = number(&args[2]) {
            let fack = match args.get(3..5) {
                Some([opt, val]) if opt.eq_ignore_ascii_case(b"fack") => number(val),
                _ => None,
            };
            repl::ack(server, link, off, fack);
            return true;
        }
    }
    false
}

/// WAIT: waits until `req.replicas` replicas acknowledged `req.offset` or the deadline
/// passes, then replies the count. False when the client was killed meanwhile.
async fn wait_acks(
    server: &Server,
    client: &Client,
    req: &WaitRequest,
    out: &mut ReplyWriter,
) -> bool {
    loop {
        let acked = server.replication.acked.notified();
        tokio::pin!(acked);
        acked.as_mut().enable();
        let n = req.acked(server);
        let now = unix_ms();
        let expired = req.deadline_ms.is_some_and(|d| now >= d);
        if n >= req.replicas || expired {
            req.reply(server, out, n);
            return true;
        }
        let left = req
            .deadline_ms
            .map_or(Duration::from_secs(1), |d| Duration::from_millis(d - now))
            .min(Duration::from_secs(1));
        tokio::select! {
            _ = &mut acked => {}
            _ = tokio::time::sleep(left) => {
                // Ask again: an ACK may have been sent before the GETACK was queued.
                repl::request_acks(server);
            }
            _ = client.handle.killed() => return false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Replica side
// ---------------------------------------------------------------------------------------

/// Starts the replica client whenever REPLICAOF (or the `replicaof` setting) names a master.
pub async fn supervise(server: Arc<Server>) {
    if let Some(v) = server.config.get("replicaof") {
        let mut words = v.split_whitespace();
        if let (Some(host), Some(port)) = (words.next(), words.next()) {
            if !host.eq_ignore_ascii_case("no") {
                if let Ok(port) = port.parse::<u16>() {
                    repl::set_master(&server, host.to_string(), port);
                }
            }
        }
    }
    let mut running = 0u64;
    loop {
        let changed = server.replication.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let shutdown = server.shutdown.notified();
        tokio::pin!(shutdown);
        shutdown.as_mut().enable();
        if server.shutdown_requested.load(Ordering::SeqCst) {
            return;
        }
        if let Some(r) = server.replication.replica_of() {
            if r.generation != running {
                running = r.generation;
                tokio::spawn(replica_client(server.clone(), r.generation));
            }
        }
        tokio::select! {
            _ = &mut changed => {}
            _ = &mut shutdown => return,
        }
    }
}

/// Why a session with the master ended.
#[derive(Debug)]
enum End {
    /// REPLICAOF changed or the server shuts down: stop.
    Stop,
    /// The link failed: reconnect.
    Lost(String),
}

impl From<std::io::Error> for End {
    fn from(e: std::io::Error) -> Self {
        End::Lost(e.to_string())
    }
}

async fn replica_client(server: Arc<Server>, generation: u64) {
    // The dataset loaded at start-up comes first (a `replicaof` setting).
    while commands::family::persistence::loading(&server) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The database the master's stream last selected, kept for a partial resync.
    let mut db = 0usize;
    loop {
        let Some(r) = server.replication.replica_of() else {
            return;
        };
        if r.generation != generation || server.shutdown_requested.load(Ordering::SeqCst) {
            return;
        }
        tracing::info!("Connecting to MASTER {}:{}", r.host, r.port);
        let end = session(&server, generation, &r.host, r.port, &mut db).await;
        server.replication.master_client.store(0, Ordering::Relaxed);
        let was_up = server
            .replication
            .replica_of()
            .is_some_and(|r| r.link == Link::Connected);
        let alive = server.replication.update(generation, |r| {
            if was_up {
                r.down_since_s = unix_ms() / 1000;
            }
            r.link = Link::Connect;
        });
        repl::refresh_gate(&server);
        match end {
            End::Stop => return,
            End::Lost(e) => tracing::warn!("Connection with master lost: {e}"),
        }
        if !alive {
            return;
        }
        let changed = server.replication.changed.notified();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = changed => {}
        }
    }
}

/// A connection to the master with its read buffer.
struct MasterConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl MasterConn {
    async fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut out = BytesMut::new();
        commands::propagate::encode(&mut out, &args);
        self.stream.write_all(&out).await
    }

    async fn fill(&mut self) -> Result<(), End> {
        if self.buf.capacity() - self.buf.len() < CHUNK {
            self.buf.reserve(CHUNK);
        }
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(End::Lost("connection closed by the master".into()));
        }
        Ok(())
    }

    /// Reads one line (without its CRLF); bare newlines (keep-alives) are skipped.
    async fn line(&mut self) -> Result<String, End> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(i + 1);
                let text = String::from_utf8_lossy(&line[..i]);
                let text = text.trim_end_matches('\r').to_string();
                if text.is_empty() {
                    continue;
                }
                return Ok(text);
            }
            self.fill().await?;
        }
    }

    async fn command(&mut self, args: &[&[u8]]) -> Result<String, End> {
        self.send(args).await?;
        self.line().await
    }
}

async fn session(
    server: &Arc<Server>,
    generation: u64,
    host: &str,
    port: u16,
    db: &mut usize,
) -> End {
    match session_inner(server, generation, host, port, db).await {
        Ok(()) => End::Stop,
        Err(e) => e,
    }
}

async fn session_inner(
    server: &Arc<Server>,
    generation: u64,
    host: &str,
    port: u16,
    db: &mut usize,
) -> Result<(), End> {
    let set = |link: Link| {
        if server.replication.update(generation, |r| r.link = link) {
            Ok(())
        } else {
            Err(End::Stop)
        }
    };
    set(Link::Connecting)?;
    let timeout = Duration::from_secs(server.config.get_i64("repl-timeout").max(1) as u64);
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| End::Lost("timeout connecting to the master".into()))??;
    let _ = stream.set_nodelay(true);
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut m = MasterConn {
        stream,
        buf: BytesMut::with_capacity(CHUNK),
    };
    set(Link::Handshake)?;
    let handshake = async {
        let pong = m.command(&[b"PING"]).await?;
        if pong.starts_with('-')
            && !pong.starts_with("-NOAUTH")
            && !pong.starts_with("-NOPERM")
            && !pong.starts_with("-ERR operation not permitted")
        {
            return Err(End::Lost(format!(
                "Error reply to PING from master: '{pong}'"
            )));
        }
        let pass = server.config.get("masterauth").unwrap_or_default();
        if !pass.is_empty() {
            let user = server.config.get("masteruser").unwrap_or_default();
            let reply = if user.is_empty() {
                m.command(&[b"AUTH", pass.as_bytes()]).await?
            } else {
                m.command(&[b"AUTH", user.as_bytes(), pass.as_bytes()])
                    .await?
            };
            if reply.starts_with('-') {
                return Err(End::Lost(format!("Unable to AUTH to MASTER: {reply}")));
            }
        }
        let announce = server.config.get_i64("replica-announce-port");
        let my_port = if announce > 0 {
            announce as u64
        } else {
            server.bound_port.load(Ordering::Relaxed)
        };
        m.command(&[
            b"REPLCONF",
            b"listening-port",
            my_port.to_string().as_bytes(),
        ])
        .await?;
        let ip = server.config.get("replica-announce-ip").unwrap_or_default();
        if !ip.is_empty() {
            m.command(&[b"REPLCONF", b"ip-address", ip.as_bytes()])
                .await?;
        }
        m.command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
            .await?;
        let (id, offset) = repl::psync_args(server);
        let reply = m
            .command(&[b"PSYNC", id.as_bytes(), offset.as_bytes()])
            .await?;
        Ok::<String, End>(reply)
    };
    let reply = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| End::Lost("timeout during the handshake with the master".into()))??;
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut words = rest.split_whitespace();
        let id = words.next().unwrap_or_default().to_string();
        let offset: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        tracing::info!("Full resync from master: {id}:{offset}");
        set(Link::Sync)?;
        let rdb = receive_rdb(server, generation, &mut m, timeout).await?;
        let s = server.clone();
        let loaded =
            tokio::task::spawn_blocking(move || repl::load_full_sync(&s, &id, offset, &rdb))
                .await
                .map_err(|e| End::Lost(e.to_string()))?;
        match loaded {
            Ok((keys, stream_db)) => {
                tracing::info!("MASTER <-> REPLICA sync: Finished with success ({keys} keys)");
                *db = stream_db;
            }
            Err(e) => {
                return Err(End::Lost(format!(
                    "Failed trying to load the MASTER synchronization DB from socket: {e}"
                )))
            }
        }
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        tracing::info!("Successful partial resynchronization with master.");
        repl::continue_sync(server, (!id.is_empty()).then_some(id));
    } else {
        return Err(End::Lost(format!(
            "Unexpected reply to PSYNC from master: {reply}"
        )));
    }
    stream_loop(server, generation, m, db, timeout, &peer, &laddr).await
}

/// Reads the RDB after `+FULLRESYNC`: `$<len>\r\n<bytes>` or the diskless form
/// `$EOF:<40-byte mark>\r\n<bytes><mark>`.
async fn receive_rdb(
    server: &Server,
    generation: u64,
    m: &mut MasterConn,
    timeout: Duration,
) -> Result<Vec<u8>, End> {
    let header = tokio::time::timeout(timeout, m.line())
        .await
        .map_err(|_| End::Lost("timeout receiving the RDB header".into()))??;
    let Some(spec) = header.strip_prefix('$') else {
        return Err(End::Lost(format!("Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?")));
    };
    let progress = |read: u64, total: u64| {
        server.replication.update(generation, |r| {
            r.sync_read = read;
            r.sync_total = total;
            r.last_io_ms = unix_ms();
        })
    };
    let mut rdb = Vec::new();
    if let Some(mark) = spec.strip_prefix("EOF:") {
        let mark = mark.as_bytes().to_vec();
        if mark.len() != 40 {
            return Err(End::Lost("bad EOF mark from master".into()));
        }
        loop {
            let from = rdb.len().saturating_sub(39);
            rdb.extend_from_slice(&m.buf);
            m.buf.clear();
            if let Some(at) = rdb[from..].windows(40).position(|w| w == &mark[..]) {
                // Whatever follows the mark is the stream.
                let end = from + at;
                m.buf.extend_from_slice(&rdb[end + 40..]);
                rdb.truncate(end);
                return Ok(rdb);
            }
            if !progress(rdb.len() as u64, 0) {
                return Err(End::Stop);
            }
            tokio::time::timeout(timeout, m.fill())
                .await
                .map_err(|_| End::Lost("timeout receiving the RDB".into()))??;
        }
    }
    let len: usize = spec
        .parse()
        .map_err(|_| End::Lost(format!("bad RDB length from master: {spec}")))?;
    rdb.reserve(len);
    loop {
        let take = (len - rdb.len()).min(m.buf.len());
        rdb.extend_from_slice(&m.buf[..take]);
        m.buf.advance(take);
        if rdb.len() == len {
            return Ok(rdb);
        }
        if !progress(rdb.len() as u64, len as u64) {
            return Err(End::Stop);
        }
        tokio::time::timeout(timeout, m.fill())
            .await
            .map_err(|_| End::Lost("timeout receiving the RDB".into()))??;
    }
}

/// Applies the master's stream: each command through the dispatcher as the master client
/// (its replies dropped), `REPLCONF GETACK` answered with the processed offset, an ACK
/// every second.
async fn stream_loop(
    server: &Arc<Server>,
    generation: u64,
    mut m: MasterConn,
    db: &mut usize,
    timeout: Duration,
    peer: &str,
    laddr: &str,
) -> Result<(), End> {
    let id = server.clients.next_id();
    let handle = Arc::new(ClientHandle::new(
        id,
        peer.to_string(),
        laddr.to_string(),
        server.keyspace.now_ms(),
    ));
    *handle.name.lock() = None;
    server.clients.add(handle.clone());
    let mut client = Client::new(handle.clone(), true);
    client.select(*db);
    server.replication.stream_db.store(*db, Ordering::Release);
    server
        .replication
        .master_client
        .store(id, Ordering::Relaxed);
    let up = server.replication.update(generation, |r| {
        r.link = Link::Connected;
        r.last_io_ms = unix_ms();
        r.sync_read = 0;
        r.sync_total = 0;
    });
    repl::refresh_gate(server);
    let result = if up {
        tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization or finished a full one; link up.");
        apply_stream(server, generation, &mut m, &mut client, timeout).await
    } else {
        Err(End::Stop)
    };
    *db = client.db;
    server.clients.remove(id);
    result
}

async fn apply_stream(
    server: &Arc<Server>,
    generation: u64,
    m: &mut MasterConn,
    client: &mut Client,
    timeout: Duration,
) -> Result<(), End> {
    let mut decoder = RequestDecoder::new();
    let limits = RequestLimits {
        max_bulk_len: u64::MAX / 2,
        authenticated: true,
        ..RequestLimits::default()
    };
    let mut out = ReplyWriter::new(Protocol::Resp2);
    // The stream's bytes not yet attributed to a command, and how many of them the decoder
    // has consumed so far.
    let mut raw = BytesMut::new();
    let mut consumed = 0usize;
    let mut read_offset = repl::processed_offset(server);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_io = std::time::Instant::now();
    let mut fsynced = FsyncedOffset::default();
    send_ack(m, server, &mut fsynced).await?;
    // Bytes already read past the RDB or the +CONTINUE line belong to the stream.
    let mut fresh = std::mem::take(&mut m.buf);
    loop {
        if !fresh.is_empty() {
            raw.extend_from_slice(&fresh);
            m.buf.extend_from_slice(&fresh);
            read_offset += fresh.len() as u64;
            fresh.clear();
            let now_ms = server.keyspace.now_ms();
            loop {
                let before = m.buf.len();
                let decoded = decoder.decode(&mut m.buf, &limits);
                consumed += before - m.buf.len();
                match decoded {
                    Ok(Some(args)) => {
                        let bytes = raw.split_to(consumed);
                        consumed = 0;
                        if is_getack(&args) {
                            send_ack(m, server, &mut fsynced).await?;
                            repl::applied(server, &bytes);
                        } else {
                            // The command and its bytes in the backlog, as one step.
                            let _applying = server.replication.apply_lock.lock();
                            commands::dispatch(server, client, &mut out, &args, now_ms);
                            out.buf.clear();
                            client.action = None;
                            server
                                .replication
                                .stream_db
                                .store(client.db, Ordering::Release);
                            repl::applied(server, &bytes);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Err(End::Lost(format!(
                            "protocol error in the master's stream: {}",
                            String::from_utf8_lossy(&e.message())
                        )))
                    }
                }
            }
            let _ = server.replication.update(generation, |r| {
                r.read_offset = read_offset;
                r.last_io_ms = unix_ms();
            });
        }
        let changed = server.replication.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if repl::generation(server) != generation
            || server.shutdown_requested.load(Ordering::SeqCst)
        {
            return Err(End::Stop);
        }
        fresh.reserve(CHUNK);
        tokio::select! {
            n = m.stream.read_buf(&mut fresh) => {
                if n? == 0 {
                    return Err(End::Lost("connection closed by the master".into()));
                }
                last_io = std::time::Instant::now();
            }
            _ = tick.tick() => {
                if last_io.elapsed() > timeout {
                    return Err(End::Lost("MASTER timeout: no data nor PING received".into()));
                }
                send_ack(m, server, &mut fsynced).await?;
            }
            _ = &mut changed => {}
            _ = client.handle.killed() => return Err(End::Lost("master client killed".into())),
        }
    }
}

fn is_getack(args: &[Bytes]) -> bool {
    args.len() >= 2
        && args[0].eq_ignore_ascii_case(b"replconf")
        && args[1].eq_ignore_ascii_case(b"getack")
}

/// The master's stream offset known to be fsynced to this replica's AOF (Redis's
/// `fsynced_reploff`), reported as `FACK`. The AOF holds the replica's own log of the
/// stream, so the offset is tracked by pairing a processed offset with the AOF position
/// reached when it was processed; the pair counts once that position is fsynced.
#[derive(Default)]
struct FsyncedOffset {
    confirmed: u64,
    /// (AOF position, stream offset processed by then), waiting for the fsync.
    candidate: Option<(u64, u64)>,
}

impl FsyncedOffset {
    fn update(&mut self, server: &Server, processed: u64) -> u64 {
        let aof = &server.aof;
        // Read after `processed`: every command processed by then is logged at or before
        // `fed` (the apply loop logs a command before counting its bytes).
        let fed = aof.fed();
        let synced = aof.synced();
        if let Some((pos, off)) = self.candidate {
            if synced >= pos {
                self.confirmed = self.confirmed.max(off);
                self.candidate = None;
            }
        }
        if synced >= fed {
            self.confirmed = self.confirmed.max(processed);
            self.candidate = None;
        } else if self.candidate.is_none() {
            self.candidate = Some((fed, processed));
        }
        self.confirmed
    }
}

/// `REPLCONF ACK <processed offset>`, with `FACK <fsynced offset>` while the AOF is on.
async fn send_ack(
    m: &mut MasterConn,
    server: &Server,
    fsynced: &mut FsyncedOffset,
) -> Result<(), End> {
    let processed = repl::processed_offset(server);
    let off = processed.to_string();
    if server.aof.is_on() {
        let fack = fsynced.update(server, processed).to_string();
        m.send(&[
            b"REPLCONF",
            b"ACK",
            off.as_bytes(),
            b"FACK",
            fack.as_bytes(),
        ])
        .await?;
    } else {
        m.send(&[b"REPLCONF", b"ACK", off.as_bytes()]).await?;
    }
    Ok(())
}
