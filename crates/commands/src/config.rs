//! Configuration parameters: one table drives the command line, the config file, CONFIG GET,
//! CONFIG SET and CONFIG REWRITE. Values are kept in their canonical text form; the few read
//! on hot paths are mirrored in atomics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::glob;

/// How a parameter's value is checked and normalised.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count with optional unit (`100mb`, `1gb`, `512k`).
    Memory,
    Bool,
    Enum(&'static [&'static str]),
    Str,
    /// `save` points: pairs of seconds and changes, or empty.
    Save,
    /// Checked and normalised by a function of the new and the current value (parameters
    /// such as `client-output-buffer-limit`, whose value merges into the current one).
    Custom(fn(&str, &str) -> Result<String, String>),
}

pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    /// Settable with CONFIG SET at run time.
    pub mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        mutable,
    }
}

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
/// In Redis's order (its error text lists them so).
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const FSYNC: &[&str] = &["always", "everysec", "no"];

/// Every parameter the server knows.
pub static PARAMS: &[Param] = &[
    p("port", Kind::Int { min: 0, max: 65535 }, "6379", false),
    p("bind", Kind::Str, "127.0.0.1 -::1", false),
    p("protected-mode", Kind::Bool, "yes", true),
    p(
        "databases",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "16",
        false,
    ),
    p(
        "maxclients",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "10000",
        true,
    ),
    p(
        "timeout",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "0",
        true,
    ),
    p(
        "tcp-keepalive",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "300",
        true,
    ),
    p(
        "tcp-backlog",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "511",
        false,
    ),
    p("loglevel", Kind::Enum(LOGLEVELS), "notice", true),
    p("logfile", Kind::Str, "", false),
    p("dir", Kind::Str, ".", true),
    p("dbfilename", Kind::Str, "dump.rdb", true),
    p("daemonize", Kind::Enum(&["no"]), "no", false),
    p("pidfile", Kind::Str, "", false),
    p("requirepass", Kind::Str, "", true),
    p("save", Kind::Save, "3600 1 300 100 60 10000", true),
    p("appendonly", Kind::Bool, "no", true),
    p("appendfsync", Kind::Enum(FSYNC), "everysec", true),
    p("appendfilename", Kind::Str, "appendonly.aof", false),
    p("appenddirname", Kind::Str, "appendonlydir", false),
    p("aof-use-rdb-preamble", Kind::Bool, "yes", true),
    p("aof-load-truncated", Kind::Bool, "yes", true),
    p("aof-timestamp-enabled", Kind::Enum(&["no"]), "no", true),
    p("aof-rewrite-incremental-fsync", Kind::Bool, "yes", true),
    p("no-appendfsync-on-rewrite", Kind::Bool, "no", true),
    p(
        "auto-aof-rewrite-percentage",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "100",
        true,
    ),
    p("auto-aof-rewrite-min-size", Kind::Memory, "67108864", true),
    p("proto-max-bulk-len", Kind::Memory, "536870912", true),
    p(
        "client-query-buffer-limit",
        Kind::Memory,
        "1073741824",
        true,
    ),
    p("hz", Kind::Int { min: 1, max: 500 }, "10", true),
    p(
        "busy-poll-us",
        Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        "50",
        true,
    ),
    p("maxmemory", Kind::Memory, "0", true),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction", true),
    p(
        "maxmemory-samples",
        Kind::Int { min: 1, max: 64 },
        "5",
        true,
    ),
    p(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
        true,
    ),
    p(
        "lfu-log-factor",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "10",
        true,
    ),
    p(
        "lfu-decay-time",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "1",
        true,
    ),
    p(
        "notify-keyspace-events",
        Kind::Custom(crate::notify::normalize_flags),
        "",
        true,
    ),
    p(
        "client-output-buffer-limit",
        Kind::Custom(crate::pubsub::normalize_obuf),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true,
    ),
    p(
        "slowlog-log-slower-than",
        Kind::Int {
            min: -1,
            max: i64::MAX,
        },
        "10000",
        true,
    ),
    p(
        "slowlog-max-len",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "128",
        true,
    ),
    p(
        "lua-time-limit",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "5000",
        true,
    ),
    p(
        "busy-reply-threshold",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "5000",
        true,
    ),
    p("rdbcompression", Kind::Bool, "yes", true),
    p("rdbchecksum", Kind::Bool, "yes", true),
    p("stop-writes-on-bgsave-error", Kind::Bool, "yes", true),
    Param {
        name: "replica-read-only",
        alias: Some("slave-read-only"),
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
    },
    p("repl-backlog-size", Kind::Memory, "1048576", true),
    Param {
        name: "replicaof",
        alias: Some("slaveof"),
        kind: Kind::Str,
        default: "",
        mutable: false,
    },
    Param {
        name: "masterauth",
        alias: None,
        kind: Kind::Str,
        default: "",
        mutable: true,
    },
    p("masteruser", Kind::Str, "", true),
    Param {
        name: "replica-serve-stale-data",
        alias: Some("slave-serve-stale-data"),
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
    },
    p(
        "repl-timeout",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "60",
        true,
    ),
    Param {
        name: "repl-ping-replica-period",
        alias: Some("repl-ping-slave-period"),
        kind: Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        default: "10",
        mutable: true,
    },
    p("repl-diskless-sync", Kind::Bool, "yes", true),
    p(
        "repl-diskless-sync-delay",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "5",
        true,
    ),
    p(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        true,
    ),
    p(
        "repl-backlog-ttl",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "3600",
        true,
    ),
    Param {
        name: "min-replicas-to-write",
        alias: Some("min-slaves-to-write"),
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "0",
        mutable: true,
    },
    Param {
        name: "min-replicas-max-lag",
        alias: Some("min-slaves-max-lag"),
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "10",
        mutable: true,
    },
    Param {
        name: "replica-priority",
        alias: Some("slave-priority"),
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "100",
        mutable: true,
    },
    p("replica-announced", Kind::Bool, "yes", true),
    Param {
        name: "replica-announce-ip",
        alias: Some("slave-announce-ip"),
        kind: Kind::Str,
        default: "",
        mutable: true,
    },
    Param {
        name: "replica-announce-port",
        alias: Some("slave-announce-port"),
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        mutable: true,
    },
    p("latency-tracking", Kind::Bool, "yes", true),
    p(
        "tracking-table-max-keys",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "1000000",
        true,
    ),
    p("io-threads", Kind::Int { min: 1, max: 128 }, "1", false),
    p(
        "supervised",
        Kind::Enum(&["no", "upstart", "systemd", "auto"]),
        "no",
        false,
    ),
    p("always-show-logo", Kind::Bool, "no", false),
    p("set-proc-title", Kind::Bool, "yes", false),
    p(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        false,
    ),
    p(
        "hash-max-listpack-entries",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "128",
        true,
    ),
    p(
        "hash-max-listpack-value",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "64",
        true,
    ),
    p(
        "list-max-listpack-size",
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        "-2",
        true,
    ),
    p(
        "set-max-intset-entries",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "512",
        true,
    ),
    p(
        "set-max-listpack-entries",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "128",
        true,
    ),
    p(
        "set-max-listpack-value",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "64",
        true,
    ),
    p(
        "zset-max-listpack-entries",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "128",
        true,
    ),
    p(
        "zset-max-listpack-value",
        Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        "64",
        true,
    ),
    p("shards", Kind::Int { min: 1, max: 4096 }, "0", false),
];

/// Finds a parameter by name or alias, case-insensitively.
pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses a memory amount as Redis's `memtoull`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Checks `value` for `param` and returns its canonical text, or Redis's reason.
pub fn normalize(param: &Param, value: &str) -> Result<String, String> {
    match param.kind {
        Kind::Int { min, max } => {
            let v: i64 = value
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(v.to_string())
        }
        Kind::Memory => parse_memory(value)
            .map(|v| v.to_string())
            .ok_or_else(|| "argument must be a memory value".to_string()),
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Enum(options) => {
            let v = value.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &options.join(", "))
            }
        }
        Kind::Str => Ok(value.to_string()),
        Kind::Custom(f) => f(value, param.default),
        Kind::Save => {
            let parts: Vec<&str> = value.split_whitespace().collect();
            if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            Ok(parts.join(" "))
        }
    }
}

/// The current configuration.
pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
    /// Path of the config file the server started with (CONFIG REWRITE writes it back).
    pub file: Option<std::path::PathBuf>,
    pub maxclients: AtomicU64,
    pub proto_max_bulk_len: AtomicU64,
    pub timeout: AtomicU64,
    pub requirepass_set: AtomicBool,
    pub query_buffer_limit: AtomicU64,
    /// Values pub/sub delivery and keyspace notifications read on every message.
    pub pubsub_hot: std::sync::Arc<crate::pubsub::HotConfig>,
    /// Encoding thresholds of small collections (`hash-max-listpack-entries`, ...).
    pub limits: RwLock<keyspace::types::Limits>,
    /// `slowlog-log-slower-than` (µs, negative: off) and `slowlog-max-len`, read per command.
    pub slowlog_slower_than: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// maxmemory parameters read per command, the used-memory figure and eviction pool.
    pub memory: crate::maxmemory::MaxMemory,
}

impl Config {
    pub fn new(file: Option<std::path::PathBuf>) -> Self {
        // Absolute, so CONFIG REWRITE finds it after the server changes to `dir`.
        let file = file.map(|f| std::fs::canonicalize(&f).unwrap_or(f));
        let values = PARAMS
            .iter()
            .map(|p| (p.name, p.default.to_string()))
            .collect();
        let c = Config {
            values: RwLock::new(values),
            file,
            maxclients: AtomicU64::new(0),
            proto_max_bulk_len: AtomicU64::new(0),
            timeout: AtomicU64::new(0),
            requirepass_set: AtomicBool::new(false),
            query_buffer_limit: AtomicU64::new(0),
            pubsub_hot: Default::default(),
            limits: RwLock::new(keyspace::types::Limits::default()),
            slowlog_slower_than: Default::default(),
            slowlog_max_len: AtomicU64::new(0),
            memory: Default::default(),
        };
        c.refresh_hot();
        c
    }

    /// `normalize`, merging into the current value where the parameter's kind does.
    fn normalize_current(&self, param: &Param, value: &str) -> Result<String, String> {
        match param.kind {
            Kind::Custom(f) => f(value, &self.get(param.name).unwrap_or_default()),
            _ => normalize(param, value),
        }
    }

    /// Sets a parameter from the command line or config file (immutable ones included).
    pub fn set_initial(&self, name: &str, value: &str) -> Result<(), String> {
        let param = param(name).ok_or_else(|| format!("unknown option '{name}'"))?;
        let v = self
            .normalize_current(param, value)
            .map_err(|e| format!("invalid value for '{}': {e}", param.name))?;
        self.values.write().insert(param.name, v);
        self.refresh_hot();
        Ok(())
    }

    /// CONFIG SET of one parameter; errors are Redis's texts (without the `ERR ` prefix).
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        let Some(param) = param(name) else {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        if !param.mutable {
            return Err(format!("CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"));
        }
        let v = self.normalize_current(param, value).map_err(|e| {
            format!("CONFIG SET failed (possibly related to argument '{name}') - {e}")
        })?;
        if param.name == "dir" {
            std::env::set_current_dir(&v).map_err(|e| {
                format!("CONFIG SET failed (possibly related to argument 'dir') - {e}")
            })?;
        }
        self.values.write().insert(param.name, v);
        self.refresh_hot();
        Ok(())
    }

    /// CONFIG SET of several parameters, all or nothing, with Redis's checks in Redis's
    /// order: names, mutability and duplicates first, then values.
    pub fn set_many(&self, pairs: &[(String, String)]) -> Result<(), String> {
        let mut seen: Vec<&'static str> = Vec::new();
        let mut params = Vec::new();
        for (name, _) in pairs {
            let Some(param) = param(name) else {
                return Err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            if !param.mutable {
                return Err(format!("CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"));
            }
            if seen.contains(&param.name) {
                return Err(format!(
                    "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                ));
            }
            seen.push(param.name);
            params.push(param);
        }
        let mut values = Vec::new();
        for ((name, value), param) in pairs.iter().zip(&params) {
            let v = self.normalize_current(param, value).map_err(|e| {
                format!("CONFIG SET failed (possibly related to argument '{name}') - {e}")
            })?;
            values.push(v);
        }
        let old: Vec<Option<String>> = params.iter().map(|p| self.get(p.name)).collect();
        for (i, (param, v)) in params.iter().zip(&values).enumerate() {
            if param.name == "dir" {
                if let Err(e) = std::env::set_current_dir(v) {
                    // Undo what was applied, so the command changes nothing.
                    let mut w = self.values.write();
                    for (p, o) in params.iter().zip(&old).take(i) {
                        if let Some(o) = o {
                            w.insert(p.name, o.clone());
                        }
                    }
                    drop(w);
                    self.refresh_hot();
                    return Err(format!(
                        "CONFIG SET failed (possibly related to argument '{}') - {e}",
                        pairs[i].0
                    ));
                }
            }
            self.values.write().insert(param.name, v.clone());
        }
        self.refresh_hot();
        Ok(())
    }

    /// The text of the config file rewritten with the current values (CONFIG REWRITE):
    /// lines of known parameters get the current value, later duplicates are dropped,
    /// comments and unknown lines are kept, and parameters that differ from their defaults
    /// and were not in the file are appended.
    pub fn rewritten(&self, old: &str) -> String {
        let mut done: Vec<&'static str> = Vec::new();
        let mut out = String::new();
        for line in old.lines() {
            let words = split_line(line.trim()).unwrap_or_default();
            let known = words
                .first()
                .filter(|_| !line.trim_start().starts_with('#'))
                .and_then(|w| param(w));
            match known {
                Some(p) if done.contains(&p.name) => {}
                Some(p) => {
                    done.push(p.name);
                    out.push_str(&self.config_line(p));
                    out.push('\n');
                }
                None => {
                    if line.starts_with("# Generated by CONFIG REWRITE") {
                        continue;
                    }
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        let extra: Vec<_> = self
            .non_defaults()
            .into_iter()
            .filter(|(n, _)| !done.contains(n))
            .collect();
        if !extra.is_empty() {
            out.push_str("# Generated by CONFIG REWRITE\n");
            for (n, _) in extra {
                if let Some(p) = param(n) {
                    out.push_str(&self.config_line(p));
                    out.push('\n');
                }
            }
        }
        out
    }

    fn config_line(&self, p: &Param) -> String {
        let v = self.get(p.name).unwrap_or_default();
        let quoted = if v.is_empty()
            || v.contains(|c: char| c == '"' || c == '\'' || c == '\\' || c.is_control())
            || (v.contains(' ') && !matches!(p.kind, Kind::Save | Kind::Str))
        {
            let mut q = String::from("\"");
            for c in v.chars() {
                match c {
                    '"' => q.push_str("\\\""),
                    '\\' => q.push_str("\\\\"),
                    '\n' => q.push_str("\\n"),
                    '\r' => q.push_str("\\r"),
                    '\t' => q.push_str("\\t"),
                    c => q.push(c),
                }
            }
            q.push('"');
            q
        } else {
            v
        };
        format!("{} {quoted}", p.name)
    }

    pub fn get(&self, name: &str) -> Option<String> {
        let p = param(name)?;
        self.values.read().get(p.name).cloned()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "yes")
    }

    /// (name, value) pairs whose name or alias matches a glob pattern.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        let mut out = Vec::new();
        for p in PARAMS {
            let hit_name = glob::matches(pattern, p.name.as_bytes(), true);
            let hit_alias = p
                .alias
                .filter(|a| glob::matches(pattern, a.as_bytes(), true));
            if hit_name {
                out.push((p.name, values.get(p.name).cloned().unwrap_or_default()));
            }
            if let Some(a) = hit_alias {
                out.push((a, values.get(p.name).cloned().unwrap_or_default()));
            }
        }
        out
    }

    /// Every parameter that differs from its default, for CONFIG REWRITE.
    pub fn non_defaults(&self) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        PARAMS
            .iter()
            .filter_map(|p| {
                values
                    .get(p.name)
                    .filter(|v| v.as_str() != p.default)
                    .map(|v| (p.name, v.clone()))
            })
            .collect()
    }

    fn refresh_hot(&self) {
        let v = self.values.read();
        let num = |k: &str| v.get(k).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        self.maxclients.store(num("maxclients"), Ordering::Relaxed);
        self.proto_max_bulk_len
            .store(num("proto-max-bulk-len"), Ordering::Relaxed);
        self.timeout.store(num("timeout"), Ordering::Relaxed);
        self.slowlog_slower_than.store(
            v.get("slowlog-log-slower-than")
                .and_then(|s| s.parse().ok())
                .unwrap_or(10000),
            Ordering::Relaxed,
        );
        self.slowlog_max_len
            .store(num("slowlog-max-len"), Ordering::Relaxed);
        self.query_buffer_limit
            .store(num("client-query-buffer-limit"), Ordering::Relaxed);
        self.memory.refresh(&v);
        self.pubsub_hot.refresh(
            v.get("notify-keyspace-events").map_or("", |s| s.as_str()),
            v.get("client-output-buffer-limit")
                .map_or("", |s| s.as_str()),
        );
        self.requirepass_set.store(
            v.get("requirepass").is_some_and(|s| !s.is_empty()),
            Ordering::Relaxed,
        );
        let size = |k: &str| num(k) as usize;
        *self.limits.write() = keyspace::types::Limits {
            hash_max_listpack_entries: size("hash-max-listpack-entries"),
            hash_max_listpack_value: size("hash-max-listpack-value"),
            set_max_intset_entries: size("set-max-intset-entries"),
            set_max_listpack_entries: size("set-max-listpack-entries"),
            set_max_listpack_value: size("set-max-listpack-value"),
            zset_max_listpack_entries: size("zset-max-listpack-entries"),
            zset_max_listpack_value: size("zset-max-listpack-value"),
            list_max_listpack_size: v
                .get("list-max-listpack-size")
                .and_then(|s| s.parse().ok())
                .unwrap_or(-2),
        };
    }
}

/// Splits a config file line into words as Redis's `sdssplitargs` does (quotes allowed).
pub fn split_line(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                if ch == '\\' && c == '"' {
                    match chars.next()? {
                        'n' => word.push('\n'),
                        't' => word.push('\t'),
                        'r' => word.push('\r'),
                        other => word.push(other),
                    }
                } else if ch == c {
                    closed = true;
                    break;
                } else {
                    word.push(ch);
                }
            }
            if !closed || chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return None;
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100mb"), Some(100 * 1024 * 1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("1xb"), None);
    }

    #[test]
    fn set_and_get() {
        let c = Config::new(None);
        assert_eq!(c.get("maxclients").as_deref(), Some("10000"));
        c.set("maxclients", "5").unwrap();
        assert_eq!(c.maxclients.load(Ordering::Relaxed), 5);
        assert!(c
            .set("maxclients", "x")
            .unwrap_err()
            .contains("couldn't be parsed into an integer"));
        assert_eq!(
            c.set("nope", "1").unwrap_err(),
            "Unknown option or number of arguments for CONFIG SET - 'nope'"
        );
        assert!(c.set("port", "1").unwrap_err().contains("immutable"));
        assert_eq!(
            c.matching(b"slave-read-only"),
            vec![("slave-read-only", "yes".to_string())]
        );
    }

    #[test]
    fn config_lines_split_like_redis() {
        assert_eq!(split_line("save \"\"").unwrap(), vec!["save", ""]);
        assert_eq!(split_line("  port 7000 ").unwrap(), vec!["port", "7000"]);
        assert!(split_line("x \"unterminated").is_none());
    }
}
