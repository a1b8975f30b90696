//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO. Bit 0 is the most significant bit of the first byte. Behaviour and error
//! texts follow Redis 7.4's `bitops.c` (7.4 has no BITOP DIFF/DIFF1/ANDOR/ONE: they are
//! syntax errors, as there).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use keyspace::{class, event, parse_canonical_i64, Event, Value};

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::{Ctx, KeyLock};
use crate::errors::{self, CmdError, CmdResult};
use crate::spec::{flag::*, CommandSpec, Keys};

/// BITOP's keys: the destination and every source.
const BITOP_KEYS: Keys = Keys {
    first: 2,
    last: -1,
    step: 1,
};

pub static COMMANDS: &[CommandSpec] = &[
    command!("setbit", 4, WRITE | DENYOOM, Keys::ONE, setbit,
        acl: &["bitmap"], group: "bitmap", since: "2.2.0", complexity: "O(1)",
        summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    command!("getbit", 3, READONLY | FAST, Keys::ONE, getbit,
        acl: &["bitmap"], group: "bitmap", since: "2.2.0", complexity: "O(1)",
        summary: "Returns a bit value by offset."),
    command!("bitcount", -2, READONLY, Keys::ONE, bitcount,
        acl: &["bitmap"], group: "bitmap", since: "2.6.0", complexity: "O(N)",
        summary: "Counts the number of set bits (population counting) in a string."),
    command!("bitpos", -3, READONLY, Keys::ONE, bitpos,
        acl: &["bitmap"], group: "bitmap", since: "2.8.7", complexity: "O(N)",
        summary: "Finds the first set (1) or clear (0) bit in a string."),
    command!("bitop", -4, WRITE | DENYOOM, BITOP_KEYS, bitop,
        acl: &["bitmap"], group: "bitmap", since: "2.6.0", complexity: "O(N)",
        summary: "Performs bitwise operations on multiple strings, and stores the result."),
    command!("bitfield", -2, WRITE | DENYOOM, Keys::ONE, bitfield,
        acl: &["bitmap"], group: "bitmap", since: "3.2.0",
        complexity: "O(1) for each subcommand specified",
        summary: "Performs arbitrary bitfield integer operations on strings."),
    command!("bitfield_ro", -2, READONLY | FAST, Keys::ONE, bitfield_ro,
        acl: &["bitmap"], group: "bitmap", since: "6.0.0",
        complexity: "O(1) for each subcommand specified",
        summary: "Performs arbitrary read-only bitfield integer operations on strings."),
];

/// SETBIT and BITFIELD notify `setbit`; BITOP notifies `set` (or `del`).
const SETBIT: Event = Event {
    name: "setbit",
    class: class::STRING,
};

const BIT_OFFSET: CmdError = CmdError::new("ERR bit offset is not an integer or out of range");
const BIT_VALUE: CmdError = CmdError::new("ERR bit is not an integer or out of range");
const BITPOS_BIT: CmdError = CmdError::new("ERR The bit argument must be 1 or 0.");
const BITOP_NOT_ONE: CmdError =
    CmdError::new("ERR BITOP NOT must be called with a single source key.");
const BITFIELD_TYPE: CmdError = CmdError::new(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const OVERFLOW_TYPE: CmdError = CmdError::new("ERR Invalid OVERFLOW type specified");
const RO_GET_ONLY: CmdError = CmdError::new("ERR BITFIELD_RO only supports the GET subcommand");
/// The allocator refused the bytes a bit offset asks for (Redis would abort).
const NO_MEMORY: CmdError =
    CmdError::new("ERR Insufficient memory, failed allocating transient memory for the string");

// ----- helpers ------------------------------------------------------------------------------

/// Redis's `getBitOffsetFromArgument`: a bit offset below 8 × proto-max-bulk-len; with
/// `hash_bits`, `#N` means N × bits (BITFIELD).
fn bit_offset(cx: &Ctx<'_>, arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, mul) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let off = parse_canonical_i64(digits)
        .and_then(|v| v.checked_mul(mul))
        .ok_or(BIT_OFFSET)?;
    let max = cx.server.config.proto_max_bulk_len.load(Ordering::Relaxed);
    if off < 0 || (off as u64 >> 3) >= max {
        return Err(BIT_OFFSET);
    }
    Ok(off as u64)
}

/// Takes the bytes of a string value out (no copy for long strings).
fn take(v: &mut Value) -> Vec<u8> {
    match std::mem::replace(v, Value::raw(b"")) {
        Value::Heap(b) => b.into_vec(),
        other => other.to_vec().unwrap_or_default(),
    }
}

/// Redis's `lookupStringForBitCommand`: makes the string at `key` (created when missing) at
/// least `len` bytes long, zero padded, then runs `f` on its bytes with whether the string
/// was created or grew. The TTL is kept.
fn update_grown<R>(
    k: &mut KeyLock<'_>,
    key: &[u8],
    pos: Option<usize>,
    len: usize,
    f: impl FnOnce(&mut [u8], bool) -> R,
) -> Result<R, CmdError> {
    let Some(p) = pos else {
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|_| NO_MEMORY)?;
        v.resize(len, 0);
        let r = f(&mut v, true);
        k.shard.insert(&k.op, k.hash, key, Value::raw_from_vec(v));
        return Ok(r);
    };
    if let Value::Heap(b) = k.shard.value_mut(p) {
        if b.len() >= len {
            return Ok(f(b, false));
        }
    }
    let cur = k.shard.value(p).str_len().unwrap_or(0);
    let mut v = take(k.shard.value_mut(p));
    if cur < len && v.try_reserve_exact(len - cur).is_err() {
        *k.shard.value_mut(p) = Value::raw_from_vec(v);
        return Err(NO_MEMORY);
    }
    if v.len() < len {
        v.resize(len, 0);
    }
    let r = f(&mut v, cur < len);
    *k.shard.value_mut(p) = Value::raw_from_vec(v);
    Ok(r)
}

/// Bit `i` of `s` (0 past the end).
#[inline]
fn bit_at(s: &[u8], i: u64) -> u64 {
    s.get((i >> 3) as usize)
        .map_or(0, |b| ((b >> (7 - (i & 7))) & 1) as u64)
}

/// Redis's `redisBitpos`: position of the first bit equal to `bit` in `s`; for 1 with none
/// set, -1; for 0 with none clear, the bit just past the end.
fn first_bit(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0 } else { 0xff };
    match s.iter().position(|&b| b != skip) {
        Some(i) => {
            let b = s[i];
            let within = if bit {
                b.leading_zeros()
            } else {
                b.leading_ones()
            };
            (i as i64) * 8 + within as i64
        }
        None if bit => -1,
        None => s.len() as i64 * 8,
    }
}

// ----- SETBIT / GETBIT ----------------------------------------------------------------------

fn setbit(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(cx, &args[2], None)?;
    let on = parse_canonical_i64(&args[3]).ok_or(BIT_VALUE)?;
    if on & !1 != 0 {
        return Err(BIT_VALUE);
    }
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = k.string_pos(key, false)?;
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let (old, changed) = update_grown(&mut k, key, pos, byte + 1, |s, grew| {
        let old = s[byte] & mask != 0;
        if on == 1 {
            s[byte] |= mask;
        } else {
            s[byte] &= !mask;
        }
        (old, grew || old != (on == 1))
    })?;
    if changed {
        k.op.emit(key, SETBIT);
    }
    cx.out.int(old as i64);
    Ok(())
}

fn getbit(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(cx, &args[2], None)?;
    let mut k = cx.store.lock(&args[1]);
    let bit = match k.string_pos(&args[1], true)? {
        Some(pos) => {
            let mut buf = itoa::Buffer::new();
            let s = k.shard.value(pos).as_bytes(&mut buf).unwrap_or_default();
            bit_at(s, offset)
        }
        None => 0,
    };
    cx.out.int(bit as i64);
    Ok(())
}

// ----- BITCOUNT / BITPOS --------------------------------------------------------------------

/// A range of BITCOUNT/BITPOS after Redis's index conversion: whole bytes `start..=end` plus,
/// in BIT mode, masks of the bits outside the range in the first and last byte.
struct Range {
    start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
}

/// Converts `start..=end` (negative from the end) over `len` bytes, in bits when `bit`.
fn convert_range(mut start: i64, mut end: i64, len: usize, bit: bool) -> Range {
    let total = if bit { len as i64 * 8 } else { len as i64 };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    let (mut first_mask, mut last_mask) = (0, 0);
    if bit && start <= end {
        first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Range {
        start,
        end,
        first_mask,
        last_mask,
    }
}

/// BIT or BYTE, case-insensitive.
fn unit(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(errors::SYNTAX)
    }
}

/// BITCOUNT key [start end [BYTE | BIT]]
fn bitcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let start = parse_i64(&args[2])?;
            let end = parse_i64(&args[3])?;
            let bit = match args.get(4) {
                Some(u) => unit(u)?,
                None => false,
            };
            Some((start, end, bit))
        }
        _ => return Err(errors::SYNTAX),
    };
    let mut k = cx.store.lock(&args[1]);
    let Some(pos) = k.string_pos(&args[1], true)? else {
        cx.out.int(0);
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let s = k.shard.value(pos).as_bytes(&mut buf).unwrap_or_default();
    let r = match range {
        None => Range {
            start: 0,
            end: s.len() as i64 - 1,
            first_mask: 0,
            last_mask: 0,
        },
        Some((start, end, _)) if start < 0 && end < 0 && start > end => {
            cx.out.int(0);
            return Ok(());
        }
        Some((start, end, bit)) => convert_range(start, end, s.len(), bit),
    };
    if r.start > r.end {
        cx.out.int(0);
        return Ok(());
    }
    let (a, b) = (r.start as usize, r.end as usize);
    let mut n: u64 = s[a..=b].iter().map(|x| x.count_ones() as u64).sum();
    n -= (s[a] & r.first_mask).count_ones() as u64;
    n -= (s[b] & r.last_mask).count_ones() as u64;
    cx.out.int(n as i64);
    Ok(())
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
fn bitpos(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let bit = parse_i64(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(BITPOS_BIT);
    }
    let bit = bit == 1;
    let (mut start, mut end, mut is_bit) = (0, None, false);
    match args.len() {
        3 => {}
        4..=6 => {
            start = parse_i64(&args[3])?;
            if let Some(u) = args.get(5) {
                is_bit = unit(u)?;
            }
            if let Some(e) = args.get(4) {
                end = Some(parse_i64(e)?);
            }
        }
        _ => return Err(errors::SYNTAX),
    }
    let mut k = cx.store.lock(&args[1]);
    let Some(pos) = k.string_pos(&args[1], true)? else {
        cx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut buf = itoa::Buffer::new();
    let s = k.shard.value(pos).as_bytes(&mut buf).unwrap_or_default();
    let r = convert_range(start, end.unwrap_or(-1), s.len(), is_bit && end.is_some());
    cx.out.int(bitpos_in(s, bit, &r, end.is_some()));
    Ok(())
}

/// The search of Redis's `bitposCommand` over a converted range.
fn bitpos_in(s: &[u8], bit: bool, r: &Range, end_given: bool) -> i64 {
    if r.start > r.end {
        return -1;
    }
    let (mut start, end) = (r.start as usize, r.end as usize);
    let mut bytes = end - start + 1;
    // The first and last byte with the bits outside the range forced to "not found".
    let masked = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let pos = 'found: {
        if r.first_mask != 0 {
            let mut c = masked(s[start], r.first_mask);
            if r.last_mask != 0 && bytes == 1 {
                c = masked(c, r.last_mask);
            }
            let pos = first_bit(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'found pos;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - usize::from(r.last_mask != 0);
        if cur > 0 {
            let pos = first_bit(&s[start..start + cur], bit);
            if bytes == cur || (pos != -1 && pos != cur as i64 * 8) {
                break 'found pos;
            }
            start += cur;
            bytes -= cur;
        }
        first_bit(&[masked(s[end], r.last_mask)], bit)
    };
    // With an explicit end, a clear bit past the range does not count.
    if end_given && !bit && pos == bytes as i64 * 8 {
        return -1;
    }
    if pos == -1 {
        -1
    } else {
        pos + start as i64 * 8
    }
}

// ----- BITOP --------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
fn bitop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = match &args[1] {
        a if is(a, "and") => BitOp::And,
        a if is(a, "or") => BitOp::Or,
        a if is(a, "xor") => BitOp::Xor,
        a if is(a, "not") => BitOp::Not,
        _ => return Err(errors::SYNTAX),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(BITOP_NOT_ONE);
    }
    let keys = &args[2..];
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op_cx = cx.store.op();
    // Fold the sources into the result one at a time (missing keys are empty strings).
    let mut res: Vec<u8> = Vec::new();
    for (i, (key, &(hash, shard))) in keys.iter().zip(&placed).enumerate().skip(1) {
        let s = locked.shard(shard);
        let mut buf = itoa::Buffer::new();
        let src: &[u8] = match s.lookup_read(&op_cx, hash, key) {
            Some(pos) => s.value(pos).as_bytes(&mut buf).ok_or(errors::WRONGTYPE)?,
            None => &[],
        };
        if i == 1 {
            res = src.to_vec();
            if op == BitOp::Not {
                res.iter_mut().for_each(|b| *b = !*b);
            }
            continue;
        }
        if res.len() < src.len() {
            res.resize(src.len(), 0);
        }
        match op {
            BitOp::And => {
                for (j, r) in res.iter_mut().enumerate() {
                    *r &= src.get(j).copied().unwrap_or(0);
                }
            }
            BitOp::Or => res.iter_mut().zip(src).for_each(|(r, b)| *r |= b),
            BitOp::Xor => res.iter_mut().zip(src).for_each(|(r, b)| *r ^= b),
            BitOp::Not => {}
        }
    }
    let (dest, (hash, shard)) = (&args[2], placed[0]);
    let s = locked.shard(shard);
    let len = res.len();
    if len > 0 {
        s.upsert(&op_cx, hash, dest, Value::raw_from_vec(res), false);
        op_cx.emit(dest, event::SET);
    } else if let Some(pos) = s.lookup(&op_cx, hash, dest) {
        s.remove(pos);
        op_cx.emit(dest, event::DEL);
    }
    cx.out.int(len as i64);
    Ok(())
}

// ----- BITFIELD -----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FieldOp {
    Get,
    Set,
    Incrby,
}

/// One parsed BITFIELD operation.
#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    offset: u64,
    bits: u32,
    signed: bool,
    /// SET's value or INCRBY's increment.
    value: i64,
    overflow: Overflow,
}

/// `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BITFIELD_TYPE),
    };
    let bits = parse_canonical_i64(&arg[1..]).ok_or(BITFIELD_TYPE)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(BITFIELD_TYPE);
    }
    Ok((signed, bits as u32))
}

fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0, |v, j| (v << 1) | bit_at(s, offset + j))
}

fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(s, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

fn set_unsigned(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bitval = ((value >> (bits as u64 - 1 - j)) & 1) as u8;
        let o = offset + j;
        let shift = 7 - (o & 7);
        if let Some(b) = s.get_mut((o >> 3) as usize) {
            *b = (*b & !(1 << shift)) | (bitval << shift);
        }
    }
}

/// `checkUnsignedBitfieldOverflow`: 0, 1 (overflow) or -1 (underflow), with the value to
/// store under WRAP or SAT.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Sat => max,
            _ => wrap(),
        };
        (1, limit)
    } else if incr < 0 && incr < minincr {
        let limit = match ow {
            Overflow::Sat => 0,
            _ => wrap(),
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

/// `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Sat { max } else { wrap() })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        (-1, if ow == Overflow::Sat { min } else { wrap() })
    } else {
        (0, 0)
    }
}

/// Runs a SET or INCRBY on `s`: the reply (None when OVERFLOW FAIL stops it) and whether
/// the stored bits changed.
fn apply(s: &mut [u8], f: &Field) -> (Option<i64>, bool) {
    if f.signed {
        let old = get_signed(s, f.offset, f.bits);
        let (new, ret, overflow) = if f.op == FieldOp::Incrby {
            let (o, w) = signed_overflow(old, f.value, f.bits, f.overflow);
            let new = if o != 0 { w } else { old.wrapping_add(f.value) };
            (new, new, o)
        } else {
            let (o, w) = signed_overflow(f.value, 0, f.bits, f.overflow);
            (if o != 0 { w } else { f.value }, old, o)
        };
        if overflow != 0 && f.overflow == Overflow::Fail {
            return (None, false);
        }
        set_unsigned(s, f.offset, f.bits, new as u64);
        (Some(ret), old != new)
    } else {
        let old = get_unsigned(s, f.offset, f.bits);
        let (new, ret, overflow) = if f.op == FieldOp::Incrby {
            let (o, w) = unsigned_overflow(old, f.value, f.bits, f.overflow);
            let new = if o != 0 {
                w
            } else {
                old.wrapping_add(f.value as u64)
            };
            (new, new, o)
        } else {
            let v = f.value as u64;
            let (o, w) = unsigned_overflow(v, 0, f.bits, f.overflow);
            (if o != 0 { w } else { v }, old, o)
        };
        if overflow != 0 && f.overflow == Overflow::Fail {
            return (None, false);
        }
        set_unsigned(s, f.offset, f.bits, new);
        (Some(ret as i64), old != new)
    }
}

/// The value a GET reads.
fn read_field(s: &[u8], f: &Field) -> i64 {
    if f.signed {
        get_signed(s, f.offset, f.bits)
    } else {
        get_unsigned(s, f.offset, f.bits) as i64
    }
}

/// Parses BITFIELD's operations (from args[2]); returns them and whether all are GETs.
fn parse_fields(cx: &Ctx<'_>, args: &[Bytes]) -> Result<(Vec<Field>, bool), CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let sub = &args[j];
        let op = if is(sub, "get") && rem >= 2 {
            FieldOp::Get
        } else if is(sub, "set") && rem >= 3 {
            FieldOp::Set
        } else if is(sub, "incrby") && rem >= 3 {
            FieldOp::Incrby
        } else if is(sub, "overflow") && rem >= 1 {
            let t = &args[j + 1];
            overflow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(OVERFLOW_TYPE);
            };
            j += 2;
            continue;
        } else {
            return Err(errors::SYNTAX);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(cx, &args[j + 2], Some(bits))?;
        let value = if op == FieldOp::Get {
            0
        } else {
            readonly = false;
            parse_i64(&args[j + 3])?
        };
        fields.push(Field {
            op,
            offset,
            bits,
            signed,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok((fields, readonly))
}

/// BITFIELD and BITFIELD_RO (`ro`: only GET is allowed).
fn bitfield_generic(cx: &mut Ctx<'_>, args: &[Bytes], ro: bool) -> CmdResult {
    let (fields, readonly) = parse_fields(cx, args)?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    if readonly {
        let pos = k.string_pos(key, true)?;
        let mut buf = itoa::Buffer::new();
        let s = match pos {
            Some(p) => k.shard.value(p).as_bytes(&mut buf).unwrap_or_default(),
            None => &[],
        };
        cx.out.array(fields.len());
        for f in &fields {
            cx.out.int(read_field(s, f));
        }
        return Ok(());
    }
    if ro {
        return Err(RO_GET_ONLY);
    }
    let highest = fields
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + f.bits as u64 - 1)
        .max()
        .unwrap_or(0);
    let pos = k.string_pos(key, false)?;
    let (replies, changes) =
        update_grown(&mut k, key, pos, (highest >> 3) as usize + 1, |s, grew| {
            let mut changes = 0;
            let replies: Vec<Option<i64>> = fields
                .iter()
                .map(|f| {
                    if f.op == FieldOp::Get {
                        return Some(read_field(s, f));
                    }
                    let (reply, changed) = apply(s, f);
                    if reply.is_some() && (grew || changed) {
                        changes += 1;
                    }
                    reply
                })
                .collect();
            (replies, changes)
        })?;
    if changes > 0 {
        k.op.emit(key, SETBIT);
    }
    cx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => cx.out.int(v),
            None => cx.out.null(),
        }
    }
    Ok(())
}

fn bitfield(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(cx, args, false)
}

fn bitfield_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(cx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The bits of `s`, most significant first.
    fn bits(s: &[u8]) -> Vec<bool> {
        (0..s.len() as u64 * 8).map(|i| bit_at(s, i) == 1).collect()
    }

    #[test]
    fn bitfield_example_from_redis_docs() {
        // Setting a 5-bit unsigned 23 at offset 7 gives 00000001 01110000.
        let mut s = [0u8; 2];
        set_unsigned(&mut s, 7, 5, 23);
        assert_eq!(s, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_unsigned(&s, 7, 5), 23);
        assert_eq!(get_signed(&s, 7, 5), 23 - 32);
    }

    #[test]
    fn overflow_rules_match_redis() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), (1, 4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), (1, 255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), (-1, 0));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Wrap), (-1, 251));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Wrap), (1, -126));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Sat), (1, 127));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Sat), (-1, -128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            (1, i64::MIN)
        );
        assert_eq!(
            signed_overflow(-5, i64::MIN, 64, Overflow::Sat),
            (-1, i64::MIN)
        );
        assert_eq!(signed_overflow(5, i64::MIN, 64, Overflow::Sat), (0, 0));
        // SET of a negative value into an unsigned field.
        assert_eq!(
            unsigned_overflow(-1i64 as u64, 0, 8, Overflow::Wrap),
            (1, 255)
        );
    }

    proptest! {
        /// BITFIELD SET/GET of any width at any offset against a vector of bools.
        #[test]
        fn fields_match_bit_vector(
            init in prop::collection::vec(any::<u8>(), 0..12),
            ops in prop::collection::vec((0u64..80, 1u32..=64, any::<i64>()), 1..20),
        ) {
            let mut s = init.clone();
            s.resize(20, 0);
            let mut oracle = bits(&s);
            for (offset, width, value) in ops {
                set_unsigned(&mut s, offset, width, value as u64);
                for j in 0..width as u64 {
                    oracle[(offset + j) as usize] = (value as u64 >> (width as u64 - 1 - j)) & 1 == 1;
                }
                prop_assert_eq!(bits(&s), oracle.clone());
                let want = value as u64 & (u64::MAX >> (64 - width));
                prop_assert_eq!(get_unsigned(&s, offset, width), want);
                let signed = get_signed(&s, offset, width);
                prop_assert_eq!(signed as u64 & (u64::MAX >> (64 - width)), want);
                prop_assert!(width == 64 || (signed >= -(1i64 << (width - 1)) && signed < (1i64 << (width - 1))));
            }
        }

        /// BITCOUNT and BITPOS over bit ranges against a vector of bools.
        #[test]
        fn ranges_match_bit_vector(
            s in prop::collection::vec(any::<u8>(), 1..10),
            start in -90i64..90,
            end in -90i64..90,
            want in any::<bool>(),
        ) {
            let v = bits(&s);
            let total = v.len() as i64;
            let norm = |i: i64| if i < 0 { (total + i).max(0) } else { i };
            let (a, b) = (norm(start), norm(end).min(total - 1));
            let r = convert_range(start, end, s.len(), true);
            let count = if r.start > r.end {
                0
            } else {
                let (x, y) = (r.start as usize, r.end as usize);
                s[x..=y].iter().map(|c| c.count_ones() as i64).sum::<i64>()
                    - (s[x] & r.first_mask).count_ones() as i64
                    - (s[y] & r.last_mask).count_ones() as i64
            };
            let oracle_count = if a > b { 0 } else { v[a as usize..=b as usize].iter().filter(|&&x| x).count() as i64 };
            prop_assert_eq!(count, oracle_count);
            let pos = bitpos_in(&s, want, &r, true);
            let oracle_pos = if a > b { -1 } else {
                (a..=b).find(|&i| v[i as usize] == want).unwrap_or(-1)
            };
            prop_assert_eq!(pos, oracle_pos);
        }
    }
}
