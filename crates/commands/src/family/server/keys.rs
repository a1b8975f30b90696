//! Key specs: where a command's keys are and how it uses them, as COMMAND INFO `key_specs`
//! and COMMAND GETKEYS/GETKEYSANDFLAGS report them. Follows Redis's `getKeysUsingKeySpecs`,
//! with its hand-written key finders for the commands whose specs are incomplete (SORT) or
//! whose flags depend on the arguments (SET, BITFIELD).

use bytes::Bytes;
use protocol::ReplyWriter;

use crate::args::is;
use crate::spec::{flag, CommandSpec};

use super::keyspecs::KEY_SPECS;

/// Where the search for a spec's keys starts.
pub(super) enum Begin {
    /// At this argument.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: backwards from the end).
    Keyword(&'static str, i32),
    Unknown,
}

/// Which arguments from the start are keys.
pub(super) enum Find {
    /// `last` keys after the first (negative: counting from the end), every `step`th; a
    /// `limit` of n takes 1/n of the remaining arguments.
    Range {
        last: i32,
        step: i32,
        limit: i32,
    },
    /// The number of keys is the argument at `idx`; they start `first` after it.
    Keynum {
        idx: i32,
        first: i32,
        step: i32,
    },
    Unknown,
}

pub(super) struct KeySpec {
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

const RO_ACCESS: &[&str] = &["RO", "access"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];
const OW_UPDATE: &[&str] = &["OW", "update"];

/// The key specs of the command named `full` (`get`, `object|encoding`), if it has any in
/// Redis's table.
pub(super) fn specs_of(full: &str) -> Option<&'static [KeySpec]> {
    KEY_SPECS
        .binary_search_by(|(n, _)| (*n).cmp(full))
        .ok()
        .map(|i| KEY_SPECS[i].1)
}

/// The arguments do not fit the command's key layout (or name zero keys where it counts
/// them).
pub(super) struct NoKeys;

/// A key's argument position and its flags.
pub(super) type KeyPos = (usize, &'static [&'static str]);

/// The keys of `argv` (argv[0] is the command name) for the command named `full`.
pub(super) fn find_keys(
    full: &str,
    spec: &CommandSpec,
    argv: &[Bytes],
) -> Result<Vec<KeyPos>, NoKeys> {
    match full {
        "sort" | "sort_ro" => return Ok(sort_keys(argv, full == "sort")),
        "set" => {
            let get = argv.iter().skip(3).any(|a| is(a, "get"));
            return Ok(vec![(1, if get { RW_ACCESS_UPDATE } else { OW_UPDATE })]);
        }
        "bitfield" => {
            let write = argv.iter().skip(2).any(|a| is(a, "set") || is(a, "incrby"));
            return Ok(vec![(1, if write { RW_ACCESS_UPDATE } else { RO_ACCESS })]);
        }
        _ => {}
    }
    let Some(specs) = specs_of(full) else {
        // A command Redis 7.0 lacks: its first/last/step triple.
        let flags = if spec.has(flag::WRITE) {
            RW_ACCESS_UPDATE
        } else {
            RO_ACCESS
        };
        return Ok(spec
            .keys
            .positions(argv.len())
            .map(|p| (p, flags))
            .collect());
    };
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for ks in specs {
        if ks.flags.contains(&"not_key") {
            continue;
        }
        let mut first = match ks.begin {
            Begin::Index(i) => i as i64,
            Begin::Keyword(word, from) => {
                let found = if from > 0 {
                    (from as i64..argc - 1).find(|&i| is(&argv[i as usize], word))
                } else {
                    (2..=(argc + from as i64).min(argc - 1))
                        .rev()
                        .find(|&i| is(&argv[i as usize], word))
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            Begin::Unknown => return Err(NoKeys),
        };
        let (last, step) = match ks.find {
            Find::Range { last, step, limit } => {
                let end = if last >= 0 {
                    first + last as i64
                } else if limit == 0 {
                    argc + last as i64
                } else {
                    first + ((argc - first) / limit as i64 + last as i64)
                };
                (end, step as i64)
            }
            Find::Keynum {
                idx,
                first: off,
                step,
            } => {
                let at = first + idx as i64;
                if at >= argc {
                    return Err(NoKeys);
                }
                let n = std::str::from_utf8(&argv[at as usize])
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or(NoKeys)?;
                if n == 0 {
                    return Err(NoKeys);
                }
                first += off as i64;
                (first.saturating_add(n) - 1, step as i64)
            }
            Find::Unknown => return Err(NoKeys),
        };
        if last >= argc || last < first || first >= argc || step < 1 {
            return Err(NoKeys);
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, ks.flags));
            i += step;
        }
    }
    Ok(keys)
}

/// SORT's keys: the sorted key and the STORE destination (BY/GET patterns are not keys
/// one can name up front, so Redis leaves them out too).
fn sort_keys(argv: &[Bytes], store: bool) -> Vec<KeyPos> {
    let mut keys = vec![(1, RO_ACCESS)];
    if !store {
        return keys;
    }
    let mut dest = None;
    let mut i = 2;
    while i < argv.len() {
        let skip = if is(&argv[i], "limit") {
            2
        } else if is(&argv[i], "get") || is(&argv[i], "by") {
            1
        } else if is(&argv[i], "store") {
            if i + 1 < argv.len() {
                dest = Some(i + 1);
            }
            1
        } else {
            0
        };
        i += 1 + skip;
    }
    if let Some(d) = dest {
        keys.push((d, OW_UPDATE));
    }
    keys
}

/// Writes COMMAND INFO's `key_specs` for the command named `full`.
pub(super) fn write_key_specs(out: &mut ReplyWriter, full: &str, spec: &CommandSpec) {
    let Some(specs) = specs_of(full) else {
        write_legacy_key_specs(out, spec);
        return;
    };
    out.array(specs.len());
    for ks in specs {
        out.map(3);
        out.bulk(b"flags");
        out.set(ks.flags.len());
        for f in ks.flags {
            out.simple(f.as_bytes());
        }
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        match ks.begin {
            Begin::Index(i) => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map(1);
                out.bulk(b"index");
                out.int(i as i64);
            }
            Begin::Keyword(word, from) => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(word.as_bytes());
                out.bulk(b"startfrom");
                out.int(from as i64);
            }
            Begin::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        match ks.find {
            Find::Range { last, step, limit } => {
                out.bulk(b"range");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"lastkey");
                out.int(last as i64);
                out.bulk(b"keystep");
                out.int(step as i64);
                out.bulk(b"limit");
                out.int(limit as i64);
            }
            Find::Keynum { idx, first, step } => {
                out.bulk(b"keynum");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"keynumidx");
                out.int(idx as i64);
                out.bulk(b"firstkey");
                out.int(first as i64);
                out.bulk(b"keystep");
                out.int(step as i64);
            }
            Find::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
    }
}

/// Key specs derived from the first/last/step triple, for commands Redis 7.0's table lacks.
fn write_legacy_key_specs(out: &mut ReplyWriter, spec: &CommandSpec) {
    let k = spec.keys;
    if k.first == 0 {
        out.array(0);
        return;
    }
    out.array(1);
    out.map(3);
    out.bulk(b"flags");
    let flags = if spec.has(flag::WRITE) {
        RW_ACCESS_UPDATE
    } else {
        RO_ACCESS
    };
    out.set(flags.len());
    for f in flags {
        out.simple(f.as_bytes());
    }
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"index");
    out.bulk(b"spec");
    out.map(1);
    out.bulk(b"index");
    out.int(k.first as i64);
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"range");
    out.bulk(b"spec");
    out.map(3);
    out.bulk(b"lastkey");
    out.int(if k.last < 0 {
        k.last as i64
    } else {
        (k.last - k.first) as i64
    });
    out.bulk(b"keystep");
    out.int(k.step as i64);
    out.bulk(b"limit");
    out.int(0);
}

/// Whether the command has keys at all (COMMAND GETKEYS refuses those without).
pub(super) fn has_keys(full: &str, spec: &CommandSpec) -> bool {
    match specs_of(full) {
        Some(specs) => specs.iter().any(|s| !s.flags.contains(&"not_key")),
        None => spec.keys.first != 0 || spec.has(flag::MOVABLE_KEYS),
    }
}

/// Commands whose keys are optional (Redis's `no_mandatory_keys` flag).
pub(super) fn keys_optional(full: &str) -> bool {
    matches!(
        full,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}
