//! Snapshots on disk: saving the keyspace to an RDB file (written to a temporary file in the
//! same directory, synced, then renamed over the old one, as Redis does) and loading one into
//! the keyspace at start-up.

use std::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use keyspace::{Dbs, Keyspace, OpCtx};

use crate::rdb::{self, LoadOptions, RdbError, SaveOptions, Summary};

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

/// Writes every database of `dbs` to `path`. The caller holds the world lock (shared or
/// exclusive) for the whole call. Returns the number of keys written.
pub fn save(ks: &Keyspace, dbs: &Dbs, path: &Path, opts: &SaveOptions) -> std::io::Result<u64> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let keys = rdb::write_file(&mut w, dbs, ks.now_ms(), opts)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(keys)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
    let access = ks.shared();
    let databases = ks.databases();
    rdb::load(bytes, opts, |item| {
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
        if let Some(idle) = item.idle {
            set_idle(&mut shard, pos, &cx, idle);
        }
        Ok(())
    })
}

/// Sets the key at `pos` to look `idle_secs` idle (OBJECT IDLETIME).
pub fn set_idle(shard: &mut keyspace::Shard, pos: usize, cx: &OpCtx<'_>, idle_secs: u64) {
    let back = OpCtx {
        now_ms: cx.now_ms.saturating_sub(idle_secs.saturating_mul(1000)),
        ..*cx
    };
    shard.touch(pos, &back);
}
