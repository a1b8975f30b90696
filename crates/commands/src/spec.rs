//! `CommandSpec`: the one declaration of a command — name, arity, flags, keys, ACL
//! categories, docs and handler. Dispatch checks, COMMAND INFO/DOCS/GETKEYS and ACL
//! categories are all derived from it.

use bytes::Bytes;

use crate::context::Ctx;
use crate::errors::CmdResult;

/// A command handler: parses `args` (args[0] is the command name), runs on the keyspace and
/// writes exactly one reply (or none, when it sets a client action that replies later).
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

/// Command flags, with Redis's names for COMMAND INFO.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;
    pub const MOVABLE_KEYS: u32 = 1 << 16;
    /// Not a Redis flag: the command needs the whole keyspace exclusively.
    pub const EXCLUSIVE: u32 = 1 << 24;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

/// Where the keys are among the arguments (Redis's legacy first/last/step triple; `last` may
/// be negative, counting from the end). `first == 0` means no keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

impl Keys {
    pub const NONE: Keys = Keys {
        first: 0,
        last: 0,
        step: 0,
    };
    pub const ONE: Keys = Keys {
        first: 1,
        last: 1,
        step: 1,
    };
    pub const ALL: Keys = Keys {
        first: 1,
        last: -1,
        step: 1,
    };
    pub const PAIRS: Keys = Keys {
        first: 1,
        last: -1,
        step: 2,
    };

    /// Positions of the keys in `argc` arguments.
    pub fn positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first.max(0) as usize, self.step.max(1) as usize);
        let last = if self.last < 0 {
            argc as i64 + self.last as i64
        } else {
            self.last as i64
        };
        let last = if self.first == 0 {
            -1
        } else {
            last.min(argc as i64 - 1)
        };
        (first..=last.max(0) as usize)
            .step_by(step)
            .filter(move |_| last >= first as i64)
    }
}

/// The declaration of one command (or subcommand).
pub struct CommandSpec {
    /// Lower-case name; for a subcommand, its own word (`list` of `client|list`).
    pub name: &'static str,
    /// Redis's convention: N exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: u32,
    pub keys: Keys,
    /// ACL categories beyond those implied by flags, e.g. `&["string"]`.
    pub acl: &'static [&'static str],
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// Whether `argc` arguments satisfy the arity.
    #[inline]
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= (-self.arity) as usize
        }
    }

    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// ACL categories as COMMAND INFO lists them (`@write`, `@string`, ...).
    pub fn acl_categories(&self) -> Vec<String> {
        let mut out = Vec::new();
        let implied = [
            (flag::WRITE, "write"),
            (flag::READONLY, "read"),
            (flag::ADMIN, "admin"),
            (flag::ADMIN, "dangerous"),
            (flag::PUBSUB, "pubsub"),
            (flag::FAST, "fast"),
            (flag::BLOCKING, "blocking"),
        ];
        for c in self.acl {
            out.push(format!("@{c}"));
        }
        for (f, c) in implied {
            if self.has(f) && !self.acl.contains(&c) {
                out.push(format!("@{c}"));
            }
        }
        if !self.has(flag::FAST) && !self.acl.contains(&"slow") && !self.acl.contains(&"fast") {
            out.push("@slow".to_string());
        }
        out
    }
}

/// Declares a `CommandSpec` with defaults for the rarely set fields.
#[macro_export]
macro_rules! command {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $handler:expr,
     acl: $acl:expr, group: $group:literal, since: $since:literal,
     complexity: $complexity:literal, summary: $summary:literal $(, subcommands: $subs:expr)? $(,)?) => {
        $crate::spec::CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            acl: $acl,
            group: $group,
            summary: $summary,
            since: $since,
            complexity: $complexity,
            handler: $handler,
            subcommands: $crate::command!(@subs $($subs)?),
        }
    };
    (@subs) => { &[] };
    (@subs $subs:expr) => { $subs };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions_follow_redis_convention() {
        assert_eq!(Keys::ONE.positions(2).collect::<Vec<_>>(), vec![1]);
        assert_eq!(Keys::ALL.positions(4).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(Keys::PAIRS.positions(5).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(Keys::NONE.positions(3).count(), 0);
        assert_eq!(
            Keys {
                first: 1,
                last: -2,
                step: 1
            }
            .positions(4)
            .collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}
