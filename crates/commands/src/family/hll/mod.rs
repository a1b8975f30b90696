//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) on plain string
//! values in Redis's exact byte format (`repr.rs`), so GET/SET move HLLs between Cinnabar and
//! Redis unchanged. Behaviour and error texts follow Redis 7.4's `hyperloglog.c`.

pub mod repr;

use bytes::Bytes;
use keyspace::{class, Event, Value};
use rand::Rng;

use crate::args::is;
use crate::command;
use crate::context::Ctx;
use crate::errors::{CmdError, CmdResult, WRONGTYPE};
use crate::spec::{flag::*, CommandSpec, Keys};
use repr::{Corrupt, DENSE, HDR, REGISTERS, SPARSE};

/// PFDEBUG's key.
const SUB_KEY: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};

pub static COMMANDS: &[CommandSpec] = &[
    command!("pfadd", -2, WRITE | DENYOOM | FAST, Keys::ONE, pfadd,
        acl: &["hyperloglog"], group: "hyperloglog", since: "2.8.9",
        complexity: "O(1) to add every element.",
        summary: "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."),
    command!("pfcount", -2, READONLY | MAY_REPLICATE, Keys::ALL, pfcount,
        acl: &["hyperloglog"], group: "hyperloglog", since: "2.8.9",
        complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        summary: "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."),
    command!("pfmerge", -2, WRITE | DENYOOM, Keys::ALL, pfmerge,
        acl: &["hyperloglog"], group: "hyperloglog", since: "2.8.9",
        complexity: "O(N) to merge N HyperLogLogs, but with high constant times.",
        summary: "Merges one or more HyperLogLog values into a single key."),
    command!("pfdebug", 3, WRITE | DENYOOM | ADMIN, SUB_KEY, pfdebug,
        acl: &["hyperloglog"], group: "hyperloglog", since: "2.8.9", complexity: "N/A",
        summary: "Internal commands for debugging HyperLogLog values."),
    command!("pfselftest", 1, ADMIN, Keys::NONE, pfselftest,
        acl: &["hyperloglog"], group: "hyperloglog", since: "2.8.9", complexity: "N/A",
        summary: "An internal command for testing HyperLogLog values."),
];

pub const NOT_HLL: CmdError =
    CmdError::new("WRONGTYPE Key is not a valid HyperLogLog string value.");
pub const INVALID_HLL: CmdError = CmdError::new("INVALIDOBJ Corrupted HLL object detected");
const NO_SUCH_KEY: CmdError = CmdError::new("ERR The specified key does not exist");
const NOT_SPARSE: CmdError = CmdError::new("ERR HLL encoding is not sparse");

/// PFADD and PFMERGE notify `pfadd`.
const PFADD: Event = Event {
    name: "pfadd",
    class: class::STRING,
};
/// The stored bytes changed without a keyspace notification: PFCOUNT refreshing the cached
/// cardinality, PFDEBUG changing the encoding (Redis's `signalModifiedKey` / `dirty++`
/// without `notifyKeyspaceEvent`). Class 0: no notification class matches it.
const REWRITTEN: Event = Event {
    name: "pfdebug",
    class: 0,
};

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> Self {
        INVALID_HLL
    }
}

/// `hll-sparse-max-bytes` (3000 unless the configuration table has the parameter).
fn sparse_max_bytes(cx: &Ctx<'_>) -> usize {
    cx.server
        .config
        .get("hll-sparse-max-bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// The bytes of a value that must be an HLL: WRONGTYPE for other types, the HLL error for
/// strings that are not HLLs (integer-encoded strings included, as Redis's
/// `sdsEncodedObject` check).
fn hll_bytes(v: &Value) -> Result<&[u8], CmdError> {
    let s: &[u8] = match v {
        Value::Inline { len, data } => &data[..*len as usize],
        Value::Heap(b) => b,
        Value::Int(_) => return Err(NOT_HLL),
        _ => return Err(WRONGTYPE),
    };
    if repr::is_hll(s) {
        Ok(s)
    } else {
        Err(NOT_HLL)
    }
}

/// The bytes of a string value, writable in place.
fn bytes_mut(v: &mut Value) -> Option<&mut [u8]> {
    match v {
        Value::Inline { len, data } => Some(&mut data[..*len as usize]),
        Value::Heap(b) => Some(b),
        _ => None,
    }
}

/// Takes the bytes of a string value out (no copy for long strings).
fn take(v: &mut Value) -> Vec<u8> {
    match std::mem::replace(v, Value::raw(b"")) {
        Value::Heap(b) => b.into_vec(),
        other => other.to_vec().unwrap_or_default(),
    }
}

/// PFADD key [element ...]
fn pfadd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let max_bytes = sparse_max_bytes(cx);
    let mut k = cx.store.lock(key);
    let pos = k.find(key);
    let (mut s, mut updated) = match pos {
        None => (repr::new_sparse(), true),
        Some(p) => {
            hll_bytes(k.shard.value(p))?;
            (take(k.shard.value_mut(p)), false)
        }
    };
    let mut result: Result<(), Corrupt> = Ok(());
    for ele in &args[2..] {
        match repr::add(&mut s, ele, max_bytes) {
            Ok(changed) => updated |= changed,
            Err(e) => {
                // Redis keeps what the earlier elements changed and replies the error.
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() && updated {
        repr::invalidate_cache(&mut s);
    }
    let value = Value::raw_from_vec(s);
    match pos {
        Some(p) => *k.shard.value_mut(p) = value,
        None => {
            k.shard.insert(&k.op, k.hash, key, value);
        }
    }
    result?;
    if updated {
        k.op.emit(key, PFADD);
    }
    cx.out.int(updated as i64);
    Ok(())
}

/// PFCOUNT key [key ...]: one key answers from (and refreshes) the cached cardinality;
/// several keys count their union, uncached.
fn pfcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        let keys = &args[1..];
        let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
        let op = cx.store.op();
        let mut max = [0u8; REGISTERS];
        for (key, &(hash, shard)) in keys.iter().zip(&placed) {
            let s = locked.shard(shard);
            if let Some(pos) = s.lookup_read(&op, hash, key) {
                repr::merge_into(&mut max, hll_bytes(s.value(pos))?)?;
            }
        }
        cx.out
            .int(repr::estimate(&repr::raw_histogram(&max)) as i64);
        return Ok(());
    }
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = k.find_read(key) else {
        cx.out.int(0);
        return Ok(());
    };
    let s = hll_bytes(k.shard.value(pos))?;
    let card = match repr::cached(s) {
        Some(card) => card,
        None => {
            let card = repr::count(s)?;
            if let Some(b) = bytes_mut(k.shard.value_mut(pos)) {
                repr::set_cached(b, card);
            }
            k.op.emit(key, REWRITTEN);
            card
        }
    };
    cx.out.int(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the destination takes part in the union; the result is
/// dense when any input is dense, otherwise sparse (promoted as it grows).
fn pfmerge(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let max_bytes = sparse_max_bytes(cx);
    let keys = &args[1..];
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    let mut max = [0u8; REGISTERS];
    let mut use_dense = false;
    for (key, &(hash, shard)) in keys.iter().zip(&placed) {
        let s = locked.shard(shard);
        if let Some(pos) = s.lookup_read(&op, hash, key) {
            let bytes = hll_bytes(s.value(pos))?;
            use_dense |= repr::encoding(bytes) == DENSE;
            repr::merge_into(&mut max, bytes)?;
        }
    }

    let (dest, (hash, shard)) = (&args[1], placed[0]);
    let s = locked.shard(shard);
    let pos = s.lookup(&op, hash, dest);
    let mut hll = match pos {
        Some(p) => take(s.value_mut(p)),
        None => repr::new_sparse(),
    };
    let converted = if use_dense {
        repr::to_dense(&mut hll)
    } else {
        Ok(())
    };
    if converted.is_ok() {
        for (j, &m) in max.iter().enumerate() {
            if m == 0 {
                continue;
            }
            // As Redis, a failure here (impossible after the merge above) is ignored.
            let _ = match repr::encoding(&hll) {
                DENSE => Ok(repr::dense_set(&mut hll[HDR..], j, m)),
                _ => repr::sparse_set(&mut hll, j, m, max_bytes),
            };
        }
        repr::invalidate_cache(&mut hll);
    }
    let value = Value::raw_from_vec(hll);
    match pos {
        Some(p) => *s.value_mut(p) = value,
        None => {
            s.insert(&op, hash, dest, value);
        }
    }
    converted?;
    op.emit(dest, PFADD);
    cx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
fn pfdebug(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (sub, key) = (&args[1], &args[2]);
    let mut k = cx.store.lock(key);
    let pos = k.find(key).ok_or(NO_SUCH_KEY)?;
    let enc = repr::encoding(hll_bytes(k.shard.value(pos))?);

    if is(sub, "getreg") || is(sub, "todense") {
        let converted = enc == SPARSE;
        if converted {
            let dense = repr::sparse_to_dense(hll_bytes(k.shard.value(pos))?)?;
            *k.shard.value_mut(pos) = Value::raw_from_vec(dense);
            k.op.emit(key, REWRITTEN);
        }
        if is(sub, "todense") {
            cx.out.int(converted as i64);
            return Ok(());
        }
        let regs = &hll_bytes(k.shard.value(pos))?[HDR..];
        cx.out.array(REGISTERS);
        for i in 0..REGISTERS {
            cx.out.int(repr::dense_get(regs, i) as i64);
        }
    } else if is(sub, "decode") {
        if enc != SPARSE {
            return Err(NOT_SPARSE);
        }
        let text = repr::decode(hll_bytes(k.shard.value(pos))?);
        cx.out.bulk(text.as_bytes());
    } else if is(sub, "encoding") {
        cx.out
            .simple(if enc == DENSE { b"dense" } else { b"sparse" });
    } else {
        return Err(CmdError::err(format_args!(
            "Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// Redis runs 1000 register rounds and adds 10 million elements; this keeps the same checks
/// on a smaller scale so the command answers in well under a second.
const SELFTEST_CYCLES: usize = 20;
const SELFTEST_ELEMENTS: u64 = 1_000_000;

/// PFSELFTEST: register access, then dense and sparse agreement and the error bound.
fn pfselftest(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let mut rng = rand::thread_rng();
    let mut regs = vec![0u8; repr::DENSE_SIZE - HDR];
    let mut want = vec![0u8; REGISTERS];
    for _ in 0..SELFTEST_CYCLES {
        for (i, w) in want.iter_mut().enumerate() {
            *w = rng.gen_range(0..64u8);
            repr::dense_put(&mut regs, i, *w);
        }
        for (i, &w) in want.iter().enumerate() {
            let v = repr::dense_get(&regs, i);
            if v != w {
                return Err(CmdError(
                    format!("TESTFAILED Register {i} should be {w} but is {v}").into(),
                ));
            }
        }
    }
    selftest_error(cx, &mut rng)
}

fn selftest_error(cx: &mut Ctx<'_>, rng: &mut impl Rng) -> CmdResult {
    let max_bytes = sparse_max_bytes(cx);
    let mut dense = repr::sparse_to_dense(&repr::new_sparse())?;
    let mut sparse = repr::new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed: u64 = rng.gen();
    let mut checkpoint = 1u64;
    for j in 1..=SELFTEST_ELEMENTS {
        let ele = (j ^ seed).to_le_bytes();
        repr::add(&mut dense, &ele, max_bytes)?;
        repr::add(&mut sparse, &ele, max_bytes)?;
        if j != checkpoint {
            continue;
        }
        if j < max_bytes as u64 / 2 && repr::encoding(&sparse) != SPARSE {
            return Err(CmdError::new("TESTFAILED sparse encoding not used"));
        }
        let card = repr::count(&dense)?;
        if card != repr::count(&sparse)? {
            return Err(CmdError::new("TESTFAILED dense/sparse disagree"));
        }
        let abserr = (checkpoint as i64 - card as i64).unsigned_abs();
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(CmdError(
                format!("TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}").into(),
            ));
        }
        checkpoint *= 10;
    }
    cx.out.ok();
    Ok(())
}
