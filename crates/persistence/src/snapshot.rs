//! Snapshots on disk: saving the keyspace to an RDB file (written to a temporary file in the
//! same directory, synced, then renamed over the old one, as Redis does), the output of
//! background snapshots ([`RdbStream`], fed shard by shard by `keyspace::snapshot`), and
//! loading a file into the keyspace at start-up.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use keyspace::snapshot::{Hub, ShardWriter, SnapshotStart};
use keyspace::{Dbs, Keyspace, Shard};

use crate::crc64::crc64;
use crate::rdb::{
    self, write_select, FileSummary, LoadOptions, RdbError, Record, SaveOptions, Summary,
};

/// A failed load: the file and what was wrong in it.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    Io {
        file: PathBuf,
        error: std::io::Error,
    },
    Format {
        file: PathBuf,
        error: RdbError,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { file, error } => {
                write!(f, "can't read the RDB file '{}': {error}", file.display())
            }
            LoadError::Format { file, error } => write!(
                f,
                "bad RDB file '{}': {} at offset {}",
                file.display(),
                error.message,
                error.offset
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Writes every database of `dbs` to `path` in one go (SAVE). The caller holds the world
/// lock (shared or exclusive) for the whole call.
pub fn save(ks: &Keyspace, dbs: &Dbs, path: &Path, opts: &SaveOptions) -> io::Result<FileSummary> {
    let mut target = TempFile::create(path)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, target.file.try_clone()?);
        let mut sum = rdb::write_file(&mut w, dbs, ks.now_ms(), opts)?;
        w.flush()?;
        drop(w);
        target.commit(&mut sum)?;
        Ok(sum)
    })();
    if result.is_err() {
        target.discard();
    }
    result
}

/// A snapshot file being written: `temp-<pid>-<n>.rdb` beside the destination, synced and
/// renamed over it once complete (so the destination is always a whole file).
pub struct TempFile {
    tmp: PathBuf,
    path: PathBuf,
    file: File,
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    pub fn create(path: &Path) -> io::Result<TempFile> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("temp-{}-{n}.rdb", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        Ok(TempFile {
            tmp,
            path: path.to_path_buf(),
            file,
        })
    }

    /// A writer appending to the file (buffered).
    pub fn writer(&self) -> io::Result<Box<dyn Write + Send>> {
        Ok(Box::new(BufWriter::with_capacity(
            1 << 20,
            self.file.try_clone()?,
        )))
    }

    /// Completes the file whose writer has been flushed: marks it version 12 when it holds
    /// hash field TTLs (fixing the checksum), syncs it and renames it over the destination.
    pub fn commit(&mut self, sum: &mut FileSummary) -> io::Result<()> {
        if sum.field_ttls {
            let mut header = [0u8; 9];
            self.file.read_exact_at(&mut header, 0)?;
            let crc = rdb::set_version(&mut header, 12, sum.crc, sum.bytes - 8);
            self.file.write_all_at(&header, 0)?;
            self.file.write_all_at(&crc.to_le_bytes(), sum.bytes - 8)?;
            sum.crc = crc;
        }
        self.file.sync_all()?;
        std::fs::rename(&self.tmp, &self.path)
    }

    /// Removes the unfinished file.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Chunks of at most this many bytes are handed to the output at a time.
const CHUNK: usize = 64 * 1024;

/// A background snapshot's output: receives every shard once (see `keyspace::snapshot`)
/// and writes its keys as RDB records, each chunk preceded by SELECTDB, so shards written
/// concurrently by different threads interleave safely. The header (with each database's
/// RESIZEDB hint) goes out with the first chunk; [`RdbStream::finish`] writes EOF and the
/// checksum.
pub struct RdbStream {
    sink: Mutex<Sink>,
    opts: SaveOptions,
    now_ms: u64,
    hub: Arc<Hub>,
    /// Set by [`RdbStream::cancel`] or the first write error: later shards are skipped.
    stopped: AtomicBool,
}

struct Sink {
    out: Box<dyn Write + Send>,
    header: Vec<u8>,
    crc: u64,
    bytes: u64,
    keys: u64,
    field_ttls: bool,
    error: Option<io::Error>,
}

impl Sink {
    fn put(&mut self, b: &[u8], checksum: bool) -> io::Result<()> {
        if checksum {
            self.crc = crc64(self.crc, b);
        }
        self.out.write_all(b)?;
        self.bytes += b.len() as u64;
        Ok(())
    }

    fn put_header(&mut self, checksum: bool) -> io::Result<()> {
        if !self.header.is_empty() {
            let h = std::mem::take(&mut self.header);
            self.put(&h, checksum)?;
        }
        Ok(())
    }
}

impl RdbStream {
    /// A stream to `out` of a snapshot taken at `now_ms` (keys expired then are left out);
    /// progress is counted in `hub`'s status.
    pub fn new(out: Box<dyn Write + Send>, opts: SaveOptions, now_ms: u64, hub: Arc<Hub>) -> Self {
        let mut header = Vec::with_capacity(256);
        rdb::write_header(&mut header, &opts);
        RdbStream {
            sink: Mutex::new(Sink {
                out,
                header,
                crc: 0,
                bytes: 0,
                keys: 0,
                field_ttls: false,
                error: None,
            }),
            opts,
            now_ms,
            hub,
            stopped: AtomicBool::new(false),
        }
    }

    /// Adds each database's RESIZEDB hint (its sizes at the instant) to the header. Called
    /// at the instant, before any shard can be written.
    pub fn set_sizes(&self, start: &SnapshotStart) {
        let mut sink = self.sink();
        for (db, &(keys, volatile)) in start.sizes.iter().enumerate() {
            if keys > 0 {
                write_select(&mut sink.header, db, Some((keys, volatile)));
            }
        }
    }

    fn sink(&self) -> std::sync::MutexGuard<'_, Sink> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops writing: shards not yet written are skipped, and [`RdbStream::finish`] fails.
    pub fn cancel(&self) {
        self.stopped.store(true, Ordering::Release);
        let mut sink = self.sink();
        if sink.error.is_none() {
            sink.error = Some(io::Error::other("snapshot cancelled"));
        }
    }

    fn emit(&self, buf: &[u8], keys: u64, field_ttls: bool) {
        let mut sink = self.sink();
        if sink.error.is_some() {
            return;
        }
        let checksum = self.opts.checksum;
        let r = sink
            .put_header(checksum)
            .and_then(|_| sink.put(buf, checksum));
        match r {
            Ok(()) => {
                sink.keys += keys;
                sink.field_ttls |= field_ttls;
                self.hub.status.keys_done.fetch_add(keys, Ordering::Relaxed);
            }
            Err(e) => {
                sink.error = Some(e);
                self.stopped.store(true, Ordering::Release);
            }
        }
    }

    /// Writes EOF and the checksum and flushes: the summary of a complete stream, or the
    /// first error met.
    pub fn finish(&self) -> io::Result<FileSummary> {
        let mut sink = self.sink();
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        let checksum = self.opts.checksum;
        sink.put_header(checksum)?;
        sink.put(&[rdb::op::EOF], checksum)?;
        let crc = if checksum { sink.crc } else { 0 };
        sink.out.write_all(&crc.to_le_bytes())?;
        sink.bytes += 8;
        sink.out.flush()?;
        Ok(FileSummary {
            keys: sink.keys,
            bytes: sink.bytes,
            crc,
            field_ttls: sink.field_ttls,
        })
    }
}

impl ShardWriter for RdbStream {
    fn write_shard(&self, db: usize, shard: &Shard) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 4);
        let mut held = buf.capacity() as u64;
        self.hub.status.hold(held);
        write_select(&mut buf, db, None);
        let head = buf.len();
        let (mut keys, mut field_ttls) = (0u64, false);
        for pos in 0..shard.len() {
            let rec = rdb::write_record(
                &mut buf,
                shard.key(pos),
                shard.value(pos),
                shard.expire_at(pos),
                self.now_ms,
                &self.opts,
            );
            match rec {
                Record::Skipped => continue,
                Record::Written => keys += 1,
                Record::WrittenV12 => {
                    keys += 1;
                    field_ttls = true;
                }
            }
            if buf.capacity() as u64 > held {
                self.hub.status.hold(buf.capacity() as u64 - held);
                held = buf.capacity() as u64;
            }
            if buf.len() >= CHUNK {
                self.emit(&buf, keys, field_ttls);
                if self.stopped.load(Ordering::Acquire) {
                    break;
                }
                buf.truncate(head);
                keys = 0;
            }
        }
        if buf.len() > head {
            self.emit(&buf, keys, field_ttls);
        }
        self.hub.status.release(held);
    }
}

/// Loads `path` into the keyspace (which should be empty). Ok(None) when there is no file.
/// Keys already expired are skipped, as a master does.
pub fn load(ks: &Keyspace, path: &Path, opts: &LoadOptions) -> Result<Option<Summary>, LoadError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(LoadError::Io {
                file: path.to_path_buf(),
                error,
            })
        }
    };
    load_bytes(ks, &bytes, opts)
        .map(Some)
        .map_err(|error| LoadError::Format {
            file: path.to_path_buf(),
            error,
        })
}

/// Loads an RDB image held in memory into the keyspace.
pub fn load_bytes(ks: &Keyspace, bytes: &[u8], opts: &LoadOptions) -> Result<Summary, RdbError> {
    load_bytes_with_progress(ks, bytes, opts, &mut |_| {})
}

/// Keys loaded between two takings of the world lock.
const KEYS_PER_LOCK: u32 = 1024;

/// [`load_bytes`], calling `progress` with the bytes read so far every
/// [`KEYS_PER_LOCK`] keys. The world lock is held shared for that many keys at a time,
/// so a command waiting for it exclusively (and every reader queued behind that one)
/// waits for a batch, never for the whole load.
pub fn load_bytes_with_progress(
    ks: &Keyspace,
    bytes: &[u8],
    opts: &LoadOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, RdbError> {
    let mut access = Some(ks.shared());
    let mut batch = 0u32;
    let databases = ks.databases();
    rdb::load(bytes, opts, |item| {
        batch += 1;
        if batch == KEYS_PER_LOCK {
            batch = 0;
            progress(item.end as u64);
            // Released before taken again: a writer may be queued in between.
            access = None;
            access = Some(ks.shared());
        }
        let Some(access) = access.as_ref() else {
            return Err("the keyspace is not reachable".into());
        };
        if item.db >= databases {
            return Err(format!(
                "data file was created with a server configured to handle more than {databases} databases"
            ));
        }
        let hash = ks.hash(&item.key);
        let mut shard = access.db(item.db).lock(ks.shard_of(hash));
        let cx = ks.op_ctx(item.db);
        if shard.find(hash, &item.key).is_some() {
            return Err(format!(
                "duplicated key '{}' in DB {}",
                String::from_utf8_lossy(&item.key),
                item.db
            ));
        }
        let pos = shard.insert_quiet(&cx, hash, &item.key, item.value);
        if item.expire_ms.is_some() {
            shard.set_expire(pos, item.expire_ms);
        }
        shard.set_access(pos, &cx, item.idle, item.freq);
        Ok(())
    })
}
