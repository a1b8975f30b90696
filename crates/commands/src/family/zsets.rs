//! Sorted set commands, blocking pops included. Behaviour and error texts follow Redis 7.4's
//! `t_zset.c`: first the type API (argument parsing for scores, score and lex ranges,
//! timeouts; lookups; reply helpers), then the commands.

use bytes::Bytes;
use keyspace::types::{Limits, ZSet};
use keyspace::{class, event, Event, Shard, Value};
use protocol::{format_double_reply, Protocol, DOUBLE_TEXT_MAX};
use rand::Rng;

use crate::args::{is, parse_i64};
use crate::blocking::{BlockRequest, TimeoutReply};
use crate::command;
use crate::context::{Ctx, KeyLock};
use crate::errors::{self, CmdError, CmdResult, WRONGTYPE};
use crate::glob;
use crate::spec::{flag::*, CommandSpec, Keys};

const SS: &[&str] = &["sortedset"];

pub static COMMANDS: &[CommandSpec] = &[
    command!("zadd", -4, WRITE | DENYOOM | FAST, Keys::ONE, zadd,
        acl: SS, group: "sorted-set", since: "1.2.0",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    command!("zincrby", 4, WRITE | DENYOOM | FAST, Keys::ONE, zincrby,
        acl: SS, group: "sorted-set", since: "1.2.0",
        complexity: "O(log(N)) where N is the number of elements in the sorted set.",
        summary: "Increments the score of a member in a sorted set."),
    command!("zrem", -3, WRITE | FAST, Keys::ONE, zrem,
        acl: SS, group: "sorted-set", since: "1.2.0",
        complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
        summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    command!("zcard", 2, READONLY | FAST, Keys::ONE, zcard,
        acl: SS, group: "sorted-set", since: "1.2.0", complexity: "O(1)",
        summary: "Returns the number of members in a sorted set."),
    command!("zcount", 4, READONLY | FAST, Keys::ONE, zcount,
        acl: SS, group: "sorted-set", since: "2.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        summary: "Returns the count of members in a sorted set that have scores within a range."),
    command!("zlexcount", 4, READONLY | FAST, Keys::ONE, zlexcount,
        acl: SS, group: "sorted-set", since: "2.8.9",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        summary: "Returns the number of members in a sorted set within a lexicographical range."),
    command!("zscore", 3, READONLY | FAST, Keys::ONE, zscore,
        acl: SS, group: "sorted-set", since: "1.2.0", complexity: "O(1)",
        summary: "Returns the score of a member in a sorted set."),
    command!("zmscore", -3, READONLY | FAST, Keys::ONE, zmscore,
        acl: SS, group: "sorted-set", since: "6.2.0",
        complexity: "O(N) where N is the number of members being requested.",
        summary: "Returns the score of one or more members in a sorted set."),
    command!("zrank", -3, READONLY | FAST, Keys::ONE, zrank,
        acl: SS, group: "sorted-set", since: "2.0.0", complexity: "O(log(N))",
        summary: "Returns the index of a member in a sorted set ordered by ascending scores."),
    command!("zrevrank", -3, READONLY | FAST, Keys::ONE, zrevrank,
        acl: SS, group: "sorted-set", since: "2.0.0", complexity: "O(log(N))",
        summary: "Returns the index of a member in a sorted set ordered by descending scores."),
    command!("zrange", -4, READONLY, Keys::ONE, zrange,
        acl: SS, group: "sorted-set", since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        summary: "Returns members in a sorted set within a range of indexes."),
    command!("zrangestore", -5, WRITE | DENYOOM, Keys { first: 1, last: 2, step: 1 }, zrangestore,
        acl: SS, group: "sorted-set", since: "6.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
        summary: "Stores a range of members from sorted set in a key."),
    command!("zrevrange", -4, READONLY, Keys::ONE, zrevrange,
        acl: SS, group: "sorted-set", since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
        summary: "Returns members in a sorted set within a range of indexes in reverse order."),
    command!("zrangebyscore", -4, READONLY, Keys::ONE, zrangebyscore,
        acl: SS, group: "sorted-set", since: "1.0.5",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        summary: "Returns members in a sorted set within a range of scores."),
    command!("zrevrangebyscore", -4, READONLY, Keys::ONE, zrevrangebyscore,
        acl: SS, group: "sorted-set", since: "2.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        summary: "Returns members in a sorted set within a range of scores in reverse order."),
    command!("zrangebylex", -4, READONLY, Keys::ONE, zrangebylex,
        acl: SS, group: "sorted-set", since: "2.8.9",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        summary: "Returns members in a sorted set within a lexicographical range."),
    command!("zrevrangebylex", -4, READONLY, Keys::ONE, zrevrangebylex,
        acl: SS, group: "sorted-set", since: "2.8.9",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
        summary: "Returns members in a sorted set within a lexicographical range in reverse order."),
    command!("zremrangebyrank", 4, WRITE, Keys::ONE, zremrangebyrank,
        acl: SS, group: "sorted-set", since: "2.0.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    command!("zremrangebyscore", 4, WRITE, Keys::ONE, zremrangebyscore,
        acl: SS, group: "sorted-set", since: "1.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    command!("zremrangebylex", 4, WRITE, Keys::ONE, zremrangebylex,
        acl: SS, group: "sorted-set", since: "2.8.9",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
        summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    command!("zpopmin", -2, WRITE | FAST, Keys::ONE, zpopmin,
        acl: SS, group: "sorted-set", since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    command!("zpopmax", -2, WRITE | FAST, Keys::ONE, zpopmax,
        acl: SS, group: "sorted-set", since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    command!("zmpop", -4, WRITE | MOVABLE_KEYS, Keys::NONE, zmpop,
        acl: SS, group: "sorted-set", since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        summary: "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."),
    command!("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, Keys { first: 1, last: -2, step: 1 }, bzpopmin,
        acl: SS, group: "sorted-set", since: "5.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    command!("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, Keys { first: 1, last: -2, step: 1 }, bzpopmax,
        acl: SS, group: "sorted-set", since: "5.0.0",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."),
    command!("bzmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, Keys::NONE, bzmpop,
        acl: SS, group: "sorted-set", since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        summary: "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    command!("zrandmember", -2, READONLY, Keys::ONE, zrandmember,
        acl: SS, group: "sorted-set", since: "6.2.0",
        complexity: "O(N) where N is the number of members returned",
        summary: "Returns one or more random members from a sorted set."),
    command!("zunion", -3, READONLY | MOVABLE_KEYS, Keys::NONE, zunion,
        acl: SS, group: "sorted-set", since: "6.2.0",
        complexity: "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        summary: "Returns the union of multiple sorted sets."),
    command!("zinter", -3, READONLY | MOVABLE_KEYS, Keys::NONE, zinter,
        acl: SS, group: "sorted-set", since: "6.2.0",
        complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        summary: "Returns the intersect of multiple sorted sets."),
    command!("zdiff", -3, READONLY | MOVABLE_KEYS, Keys::NONE, zdiff,
        acl: SS, group: "sorted-set", since: "6.2.0",
        complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        summary: "Returns the difference between multiple sorted sets."),
    command!("zunionstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, Keys::ONE, zunionstore,
        acl: SS, group: "sorted-set", since: "2.0.0",
        complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        summary: "Stores the union of multiple sorted sets in a key."),
    command!("zinterstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, Keys::ONE, zinterstore,
        acl: SS, group: "sorted-set", since: "2.0.0",
        complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        summary: "Stores the intersect of multiple sorted sets in a key."),
    command!("zdiffstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, Keys::ONE, zdiffstore,
        acl: SS, group: "sorted-set", since: "6.2.0",
        complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        summary: "Stores the difference of multiple sorted sets in a key."),
    command!("zintercard", -3, READONLY | MOVABLE_KEYS, Keys::NONE, zintercard,
        acl: SS, group: "sorted-set", since: "7.0.0",
        complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
        summary: "Returns the number of members of the intersect of multiple sorted sets."),
    command!("zscan", -3, READONLY, Keys::ONE, zscan,
        acl: SS, group: "sorted-set", since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        summary: "Iterates over members and scores of a sorted set."),
];

// ----- events and errors --------------------------------------------------------------------

const fn zevent(name: &'static str) -> Event {
    Event {
        name,
        class: class::ZSET,
    }
}

const EV_ZADD: Event = zevent("zadd");
const EV_ZINCR: Event = zevent("zincr");
const EV_ZREM: Event = zevent("zrem");
const EV_ZREMRANGEBYRANK: Event = zevent("zremrangebyrank");
const EV_ZREMRANGEBYSCORE: Event = zevent("zremrangebyscore");
const EV_ZREMRANGEBYLEX: Event = zevent("zremrangebylex");
const EV_ZPOPMIN: Event = zevent("zpopmin");
const EV_ZPOPMAX: Event = zevent("zpopmax");
const EV_ZUNIONSTORE: Event = zevent("zunionstore");
const EV_ZINTERSTORE: Event = zevent("zinterstore");
const EV_ZDIFFSTORE: Event = zevent("zdiffstore");
const EV_ZRANGESTORE: Event = zevent("zrangestore");

const XX_AND_NX: CmdError =
    CmdError::new("ERR XX and NX options at the same time are not compatible");
const GT_LT_NX: CmdError =
    CmdError::new("ERR GT, LT, and/or NX options at the same time are not compatible");
const INCR_PAIR: CmdError =
    CmdError::new("ERR INCR option supports a single increment-element pair");
const SCORE_NAN: CmdError = CmdError::new("ERR resulting score is not a number (NaN)");
const NOT_FLOAT_RANGE: CmdError = CmdError::new("ERR min or max is not a float");
const NOT_LEX_RANGE: CmdError = CmdError::new("ERR min or max not valid string range item");
const WITHSCORES_BYLEX: CmdError =
    CmdError::new("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
const LIMIT_RANK: CmdError = CmdError::new(
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
);
const WEIGHT_NOT_FLOAT: CmdError = CmdError::new("ERR weight value is not a float");
const LIMIT_NEGATIVE: CmdError = CmdError::new("ERR LIMIT can't be negative");
const NUMKEYS_POSITIVE: CmdError = CmdError::new("ERR numkeys should be greater than 0");
const COUNT_POSITIVE: CmdError = CmdError::new("ERR count should be greater than 0");
const OUT_OF_RANGE: CmdError = CmdError::new("ERR value is out of range");
const LONG_RANGE: CmdError = CmdError::new(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
);
const TIMEOUT_NOT_FLOAT: CmdError = CmdError::new("ERR timeout is not a float or out of range");
const TIMEOUT_NEGATIVE: CmdError = CmdError::new("ERR timeout is negative");
const TIMEOUT_RANGE: CmdError = CmdError::new("ERR timeout is out of range");

/// Most elements ZRANDMEMBER with a negative count may return (repetitions allowed). Redis
/// has no cap and would stream up to 2^63 elements; one reply buffer cannot.
const RANDMEMBER_MAX: u64 = 1 << 20;

// ----- number parsing -----------------------------------------------------------------------

/// C's `strtod` over the whole of `s`: the value and whether it over- or underflowed
/// (ERANGE), or None when something is left unparsed. Accepts leading white space, a sign,
/// `inf`/`infinity`/`nan`, decimal and hexadecimal (`0x1.8p3`) forms; an empty text is 0.
fn strtod(s: &[u8]) -> Option<(f64, bool)> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    if i == s.len() {
        // Nothing converted: strtod leaves the end pointer at the start.
        return (i == 0).then_some((0.0, false));
    }
    let neg = s[i] == b'-';
    if matches!(s[i], b'+' | b'-') {
        i += 1;
    }
    let rest = &s[i..];
    let sign = if neg { -1.0 } else { 1.0 };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some((sign * f64::INFINITY, false));
    }
    if rest.eq_ignore_ascii_case(b"nan") {
        return Some((f64::NAN, false));
    }
    if rest.len() > 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (rest[2].is_ascii_hexdigit() || rest[2] == b'.')
    {
        return parse_hex_float(&rest[2..]).map(|(v, r)| (sign * v, r));
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one mantissa digit.
    let mut j = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while j < rest.len() && rest[j].is_ascii_digit() {
        nonzero |= rest[j] != b'0';
        j += 1;
        digits += 1;
    }
    if j < rest.len() && rest[j] == b'.' {
        j += 1;
        while j < rest.len() && rest[j].is_ascii_digit() {
            nonzero |= rest[j] != b'0';
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if j < rest.len() && (rest[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < rest.len() && matches!(rest[k], b'+' | b'-') {
            k += 1;
        }
        let start = k;
        while k < rest.len() && rest[k].is_ascii_digit() {
            k += 1;
        }
        if k > start {
            j = k;
        }
    }
    if j != rest.len() {
        return None;
    }
    let text = std::str::from_utf8(rest).ok()?;
    let v: f64 = text.parse().ok()?;
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((sign * v, erange))
}

fn parse_hex_float(s: &[u8]) -> Option<(f64, bool)> {
    let mut v = 0.0f64;
    let mut i = 0;
    let mut any = false;
    while i < s.len() && s[i].is_ascii_hexdigit() {
        v = v * 16.0 + f64::from((s[i] as char).to_digit(16)?);
        i += 1;
        any = true;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        let mut scale = 1.0 / 16.0;
        while i < s.len() && s[i].is_ascii_hexdigit() {
            v += f64::from((s[i] as char).to_digit(16)?) * scale;
            scale /= 16.0;
            i += 1;
            any = true;
        }
    }
    if !any {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        let exp = std::str::from_utf8(&s[i + 1..]).ok()?.parse::<i32>().ok()?;
        v *= 2f64.powi(exp.clamp(-2000, 2000));
        i = s.len();
    }
    (i == s.len()).then_some((v, v.is_infinite()))
}

/// Redis's `getDoubleFromObject`: no leading space, the whole text, no overflow or
/// underflow, no NaN.
fn parse_double(arg: &[u8], err: CmdError) -> Result<f64, CmdError> {
    if arg.is_empty() || arg[0].is_ascii_whitespace() {
        return Err(err);
    }
    match strtod(arg) {
        Some((v, false)) if !v.is_nan() => Ok(v),
        _ => Err(err),
    }
}

/// A score argument (ZADD, ZINCRBY).
#[inline]
fn parse_score(arg: &[u8]) -> Result<f64, CmdError> {
    // Fast path for plain integers, the common case.
    if let Some(i) = keyspace::parse_canonical_i64(arg) {
        if i.unsigned_abs() < (1u64 << 53) {
            return Ok(i as f64);
        }
    }
    parse_double(arg, errors::NOT_FLOAT)
}

/// A score range (`zrangespec`): bounds, each inclusive unless written `(x`.
#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

/// Redis's `zslParseRange` item: `(` for exclusive, then `strtod` over the rest.
fn parse_score_bound(arg: &[u8]) -> Result<(f64, bool), CmdError> {
    let (ex, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    match strtod(text) {
        Some((v, _)) if !v.is_nan() => Ok((v, ex)),
        _ => Err(NOT_FLOAT_RANGE),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let (min, minex) = parse_score_bound(min)?;
    let (max, maxex) = parse_score_bound(max)?;
    Ok(ScoreRange {
        min,
        minex,
        max,
        maxex,
    })
}

impl ScoreRange {
    /// The ranks `lo..hi` of the elements in range.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let (min, max) = (self.min, self.max);
        let lo = if self.minex {
            z.partition_point(|s, _| s <= min)
        } else {
            z.partition_point(|s, _| s < min)
        };
        let hi = if self.maxex {
            z.partition_point(|s, _| s < max)
        } else {
            z.partition_point(|s, _| s <= max)
        };
        (lo, hi.max(lo))
    }
}

/// One end of a lex range.
#[derive(Clone, Copy, Debug)]
enum Lex<'a> {
    /// `-`
    Min,
    /// `+`
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

/// Redis's `zslParseLexRangeItem`.
fn parse_lex(arg: &[u8]) -> Result<Lex<'_>, CmdError> {
    match arg {
        b"-" => Ok(Lex::Min),
        b"+" => Ok(Lex::Max),
        [b'[', rest @ ..] => Ok(Lex::Incl(rest)),
        [b'(', rest @ ..] => Ok(Lex::Excl(rest)),
        _ => Err(NOT_LEX_RANGE),
    }
}

#[derive(Clone, Copy, Debug)]
struct LexRange<'a> {
    min: Lex<'a>,
    max: Lex<'a>,
}

fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CmdError> {
    Ok(LexRange {
        min: parse_lex(min)?,
        max: parse_lex(max)?,
    })
}

impl LexRange<'_> {
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = z.partition_point(|_, m| match self.min {
            Lex::Min => false,
            Lex::Max => true,
            Lex::Incl(b) => m < b,
            Lex::Excl(b) => m <= b,
        });
        let hi = z.partition_point(|_, m| match self.max {
            Lex::Min => false,
            Lex::Max => true,
            Lex::Incl(b) => m <= b,
            Lex::Excl(b) => m < b,
        });
        (lo, hi.max(lo))
    }
}

/// Redis's `getTimeoutFromObjectOrReply` in seconds: the absolute deadline in ms, None for
/// 0 (wait forever).
fn parse_timeout(arg: &[u8], now_ms: u64) -> Result<Option<u64>, CmdError> {
    let secs = parse_double(arg, TIMEOUT_NOT_FLOAT)?;
    let ms = (secs * 1000.0).ceil();
    if ms > i64::MAX as f64 {
        return Err(TIMEOUT_RANGE);
    }
    if ms < 0.0 {
        return Err(TIMEOUT_NEGATIVE);
    }
    if ms == 0.0 {
        return Ok(None);
    }
    (ms as u64)
        .checked_add(now_ms)
        .filter(|&d| d <= i64::MAX as u64)
        .map(Some)
        .ok_or(TIMEOUT_RANGE)
}

// ----- lookups ------------------------------------------------------------------------------

fn limits(cx: &Ctx<'_>) -> Limits {
    *cx.server.config.limits.read()
}

#[inline]
fn as_zset(v: &Value) -> Option<&ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

#[inline]
fn as_zset_mut(v: &mut Value) -> Option<&mut ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// Position of a live sorted set `key` (WRONGTYPE for other types); `read` counts a
/// keyspace hit or miss.
#[inline]
fn zset_pos(k: &mut KeyLock<'_>, key: &[u8], read: bool) -> Result<Option<usize>, CmdError> {
    let pos = if read { k.find_read(key) } else { k.find(key) };
    match pos {
        Some(p) if as_zset(k.shard.value(p)).is_none() => Err(WRONGTYPE),
        other => Ok(other),
    }
}

/// The sorted set of `key`, if any, for reading.
fn read_zset<'k>(k: &'k mut KeyLock<'_>, key: &[u8]) -> Result<Option<&'k ZSet>, CmdError> {
    match zset_pos(k, key, true)? {
        Some(p) => Ok(as_zset(k.shard.value(p))),
        None => Ok(None),
    }
}

/// Deletes the key at `pos` when its set is empty, announcing `del`.
fn delete_if_empty(shard: &mut Shard, op: &keyspace::OpCtx<'_>, pos: usize, key: &[u8]) -> bool {
    if as_zset(shard.value(pos)).is_some_and(ZSet::is_empty) {
        shard.remove(pos);
        op.emit(key, event::DEL);
        return true;
    }
    false
}

// ----- replies ------------------------------------------------------------------------------

/// Header of a list of `n` entries: with scores, pairs in RESP3 and a flat list in RESP2.
fn entries_header(out: &mut protocol::ReplyWriter, n: usize, withscores: bool) {
    if withscores && out.proto != Protocol::Resp3 {
        out.array(n.saturating_mul(2));
    } else {
        out.array(n);
    }
}

#[inline]
fn entry(out: &mut protocol::ReplyWriter, m: &[u8], s: f64, withscores: bool) {
    if withscores {
        if out.proto == Protocol::Resp3 {
            out.array(2);
        }
        out.bulk(m);
        out.double(s);
    } else {
        out.bulk(m);
    }
}

/// Owned (member, score) entries: popped, or computed for a reply or a store.
type Entries = Vec<(Vec<u8>, f64)>;

// ----- ZADD, ZINCRBY, ZREM ------------------------------------------------------------------

fn zadd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zadd_generic(cx, args, false)
}

fn zincrby(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zadd_generic(cx, args, true)
}

/// Redis's `zaddGenericCommand` (ZINCRBY is ZADD with INCR forced).
fn zadd_generic(cx: &mut Ctx<'_>, args: &[Bytes], mut incr: bool) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "ch") {
            ch = true;
        } else if is(a, "incr") {
            incr = true;
        } else if is(a, "gt") {
            gt = true;
        } else if is(a, "lt") {
            lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = args.len() - i;
    if elements % 2 == 1 || elements == 0 {
        return Err(errors::SYNTAX);
    }
    if nx && xx {
        return Err(XX_AND_NX);
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return Err(GT_LT_NX);
    }
    if incr && elements > 2 {
        return Err(INCR_PAIR);
    }
    let pairs = &args[i..];
    let mut scores = Vec::with_capacity(elements / 2);
    for p in pairs.chunks_exact(2) {
        scores.push(parse_score(&p[0])?);
    }
    let limits = limits(cx);
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = match zset_pos(&mut k, key, false)? {
        Some(p) => p,
        None if xx => {
            if incr {
                cx.out.null();
            } else {
                cx.out.int(0);
            }
            return Ok(());
        }
        None => {
            let longest = pairs.iter().skip(1).step_by(2).map(|m| m.len()).max();
            let z = ZSet::with_hint(scores.len(), longest.unwrap_or(0), &limits);
            let hash = k.hash;
            k.shard.insert(&k.op, hash, key, Value::ZSet(Box::new(z)))
        }
    };
    let Some(z) = as_zset_mut(k.shard.value_mut(pos)) else {
        return Err(WRONGTYPE);
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0usize);
    let mut last = 0.0;
    let mut nan = false;
    let plain = !(nx || xx || lt || gt || incr);
    for (p, &score) in pairs.chunks_exact(2).zip(&scores) {
        let m = &p[1];
        if plain {
            // No condition to check first: one lookup that adds or updates.
            match z.insert(m, score, &limits) {
                Some(cur) => updated += i64::from(cur != score),
                None => added += 1,
            }
            processed += 1;
            last = score;
            continue;
        }
        match z.score(m) {
            Some(cur) => {
                if nx {
                    continue;
                }
                let score = if incr { score + cur } else { score };
                if score.is_nan() {
                    nan = true;
                    break;
                }
                if (lt && score >= cur) || (gt && score <= cur) {
                    continue;
                }
                processed += 1;
                last = score;
                if score != cur {
                    z.insert(m, score, &limits);
                    updated += 1;
                }
            }
            None => {
                if xx {
                    continue;
                }
                z.insert_new(m, score, &limits);
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    if added + updated > 0 {
        k.op.emit(key, if incr { EV_ZINCR } else { EV_ZADD });
    }
    if nan {
        return Err(SCORE_NAN);
    }
    if incr {
        if processed > 0 {
            cx.out.double(last);
        } else {
            cx.out.null();
        }
    } else {
        cx.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

fn zrem(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = zset_pos(&mut k, key, false)? else {
        cx.out.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    if let Some(z) = as_zset_mut(k.shard.value_mut(pos)) {
        for m in &args[2..] {
            if z.remove(m).is_some() {
                deleted += 1;
                if z.is_empty() {
                    break;
                }
            }
        }
    }
    if deleted > 0 {
        k.op.emit(key, EV_ZREM);
        delete_if_empty(&mut k.shard, &k.op, pos, key);
    }
    cx.out.int(deleted);
    Ok(())
}

// ----- reads --------------------------------------------------------------------------------

fn zcard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let n = read_zset(&mut k, &args[1])?.map_or(0, ZSet::len);
    cx.out.int(n as i64);
    Ok(())
}

fn zcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let range = parse_score_range(&args[2], &args[3])?;
    let mut k = cx.store.lock(&args[1]);
    let n = read_zset(&mut k, &args[1])?.map_or(0, |z| {
        let (lo, hi) = range.ranks(z);
        hi - lo
    });
    cx.out.int(n as i64);
    Ok(())
}

fn zlexcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let range = parse_lex_range(&args[2], &args[3])?;
    let mut k = cx.store.lock(&args[1]);
    let n = read_zset(&mut k, &args[1])?.map_or(0, |z| {
        let (lo, hi) = range.ranks(z);
        hi - lo
    });
    cx.out.int(n as i64);
    Ok(())
}

fn zscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    match read_zset(&mut k, &args[1])?.and_then(|z| z.score(&args[2])) {
        Some(s) => cx.out.double(s),
        None => cx.out.null(),
    }
    Ok(())
}

fn zmscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let z = read_zset(&mut k, &args[1])?;
    cx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => cx.out.double(s),
            None => cx.out.null(),
        }
    }
    Ok(())
}

fn zrank(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrank_generic(cx, args, false)
}

fn zrevrank(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrank_generic(cx, args, true)
}

fn zrank_generic(cx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    let name = if rev { "zrevrank" } else { "zrank" };
    if args.len() > 4 {
        return Err(errors::wrong_arity(name));
    }
    let withscore = args.len() == 4;
    if withscore && !is(&args[3], "withscore") {
        return Err(errors::SYNTAX);
    }
    let mut k = cx.store.lock(&args[1]);
    let found = read_zset(&mut k, &args[1])?.and_then(|z| {
        z.rank(&args[2])
            .map(|(r, s)| (if rev { z.len() - 1 - r } else { r }, s))
    });
    match found {
        Some((r, s)) if withscore => {
            cx.out.array(2);
            cx.out.int(r as i64);
            cx.out.double(s);
        }
        Some((r, _)) => cx.out.int(r as i64),
        None if withscore => cx.out.null_array(),
        None => cx.out.null(),
    }
    Ok(())
}

// ----- ZRANGE and its relatives -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, Debug)]
enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// The ranks a range selects (`start..end`, ascending) and whether to walk them backwards.
fn select(z: &ZSet, range: &Range<'_>, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    let len = z.len() as i64;
    match *range {
        Range::Rank(mut start, mut end) => {
            if start < 0 {
                start += len;
            }
            if end < 0 {
                end += len;
            }
            start = start.max(0);
            if start > end || start >= len {
                return (0, 0);
            }
            end = end.min(len - 1);
            if rev {
                ((len - 1 - end) as usize, (len - start) as usize)
            } else {
                (start as usize, end as usize + 1)
            }
        }
        Range::Score(_) | Range::Lex(_) => {
            let (lo, hi) = match range {
                Range::Score(r) => r.ranks(z),
                Range::Lex(r) => r.ranks(z),
                Range::Rank(..) => (0, 0),
            };
            if offset < 0 {
                return (0, 0);
            }
            let n = hi - lo;
            let off = usize::try_from(offset).unwrap_or(usize::MAX).min(n);
            let avail = n - off;
            let take = if limit < 0 {
                avail
            } else {
                usize::try_from(limit).unwrap_or(usize::MAX).min(avail)
            };
            if rev {
                (hi - off - take, hi - off)
            } else {
                (lo + off, lo + off + take)
            }
        }
    }
}

/// Redis's `zrangeGenericCommand`: ZRANGE, ZRANGESTORE and the legacy forms. `rtype` and
/// `rev` are fixed by the legacy commands (`None` direction: ZRANGE's REV keyword decides).
fn zrange_generic(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    store: bool,
    mut rtype: RangeType,
    dir: Option<bool>,
) -> CmdResult {
    let src = if store { 2 } else { 1 };
    let (mut min_i, mut max_i) = (src + 1, src + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut limit_given = false;
    let mut rev = dir.unwrap_or(false);
    let mut j = src + 3;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = parse_i64(&args[j + 1])?;
            limit = parse_i64(&args[j + 2])?;
            limit_given = true;
            j += 2;
        } else if dir.is_none() && is(a, "rev") {
            rev = true;
        } else if rtype == RangeType::Auto && is(a, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && is(a, "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit_given && rtype == RangeType::Rank {
        return Err(LIMIT_RANK);
    }
    if withscores && rtype == RangeType::Lex {
        return Err(WITHSCORES_BYLEX);
    }
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut min_i, &mut max_i);
    }
    let range = match rtype {
        RangeType::Score => Range::Score(parse_score_range(&args[min_i], &args[max_i])?),
        RangeType::Lex => Range::Lex(parse_lex_range(&args[min_i], &args[max_i])?),
        _ => Range::Rank(parse_i64(&args[min_i])?, parse_i64(&args[max_i])?),
    };
    if store {
        return zrangestore_run(cx, &args[1], &args[2], &range, rev, offset, limit);
    }
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(z) = read_zset(&mut k, key)? else {
        cx.out.array(0);
        return Ok(());
    };
    let (start, end) = select(z, &range, rev, offset, limit);
    let out = &mut *cx.out;
    entries_header(out, end - start, withscores);
    z.for_range(start, end, rev, |m, s| entry(out, m, s, withscores));
    Ok(())
}

fn zrangestore_run(
    cx: &mut Ctx<'_>,
    dst: &[u8],
    src: &[u8],
    range: &Range<'_>,
    rev: bool,
    offset: i64,
    limit: i64,
) -> CmdResult {
    let limits = limits(cx);
    let (mut locked, placed) = cx.store.lock_keys([dst, src]);
    let op = cx.store.op();
    let s = locked.shard(placed[1].1);
    let mut result = Vec::new();
    if let Some(pos) = s.lookup_read(&op, placed[1].0, src) {
        let Some(z) = as_zset(s.value(pos)) else {
            return Err(WRONGTYPE);
        };
        let (start, end) = select(z, range, rev, offset, limit);
        result.reserve(end - start);
        z.for_range(start, end, false, |m, s| result.push((m.to_vec(), s)));
    }
    let n = store_result(
        locked.shard(placed[0].1),
        &op,
        placed[0].0,
        dst,
        result,
        EV_ZRANGESTORE,
        &limits,
    );
    cx.out.int(n as i64);
    Ok(())
}

/// Replaces `dst` with a sorted set of `entries` (deleting it when there are none, as
/// Redis); returns the number stored.
fn store_result(
    shard: &mut Shard,
    op: &keyspace::OpCtx<'_>,
    hash: u64,
    dst: &[u8],
    entries: Vec<(Vec<u8>, f64)>,
    ev: Event,
    limits: &Limits,
) -> usize {
    let existing = shard.lookup(op, hash, dst);
    if entries.is_empty() {
        if let Some(p) = existing {
            shard.remove(p);
            op.emit(dst, event::DEL);
        }
        return 0;
    }
    let longest = entries.iter().map(|e| e.0.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(entries.len(), longest, limits);
    for (m, s) in &entries {
        z.insert(m, *s, limits);
    }
    z.shrink_if_small(limits);
    let n = z.len();
    shard.upsert(op, hash, dst, Value::ZSet(Box::new(z)), false);
    op.emit(dst, ev);
    n
}

fn zrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(cx, args, false, RangeType::Auto, None)
}

fn zrangestore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(cx, args, true, RangeType::Auto, None)
}

fn zrevrange(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(cx, args, false, RangeType::Rank, Some(true))
}

fn zrangebyscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(cx, args, false, RangeType::Score, Some(false))
}

fn zrevrangebyscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(cx, args, false, RangeType::Score, Some(true))
}

fn zrangebylex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(cx, args, false, RangeType::Lex, Some(false))
}

fn zrevrangebylex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(cx, args, false, RangeType::Lex, Some(true))
}

// ----- ZREMRANGEBY* -------------------------------------------------------------------------

fn zremrange_generic(cx: &mut Ctx<'_>, args: &[Bytes], rtype: RangeType) -> CmdResult {
    let range = match rtype {
        RangeType::Score => Range::Score(parse_score_range(&args[2], &args[3])?),
        RangeType::Lex => Range::Lex(parse_lex_range(&args[2], &args[3])?),
        _ => Range::Rank(parse_i64(&args[2])?, parse_i64(&args[3])?),
    };
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = zset_pos(&mut k, key, false)? else {
        cx.out.int(0);
        return Ok(());
    };
    let deleted = match as_zset_mut(k.shard.value_mut(pos)) {
        Some(z) => {
            let (start, end) = select(z, &range, false, 0, -1);
            z.remove_ranks(start, end)
        }
        None => 0,
    };
    if deleted > 0 {
        let ev = match rtype {
            RangeType::Score => EV_ZREMRANGEBYSCORE,
            RangeType::Lex => EV_ZREMRANGEBYLEX,
            _ => EV_ZREMRANGEBYRANK,
        };
        k.op.emit(key, ev);
        delete_if_empty(&mut k.shard, &k.op, pos, key);
    }
    cx.out.int(deleted as i64);
    Ok(())
}

fn zremrangebyrank(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zremrange_generic(cx, args, RangeType::Rank)
}

fn zremrangebyscore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zremrange_generic(cx, args, RangeType::Score)
}

fn zremrangebylex(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zremrange_generic(cx, args, RangeType::Lex)
}

// ----- pops ---------------------------------------------------------------------------------

/// Pops up to `count` entries from the set at `pos`, announcing the pop (and `del` when it
/// empties the set).
fn pop_entries(
    shard: &mut Shard,
    op: &keyspace::OpCtx<'_>,
    pos: usize,
    key: &[u8],
    max: bool,
    count: usize,
) -> Vec<(Vec<u8>, f64)> {
    let mut popped = Vec::new();
    if let Some(z) = as_zset_mut(shard.value_mut(pos)) {
        popped.reserve(count.min(z.len()));
        while popped.len() < count {
            match z.pop(max) {
                Some(e) => popped.push(e),
                None => break,
            }
        }
    }
    if !popped.is_empty() {
        op.emit(key, if max { EV_ZPOPMAX } else { EV_ZPOPMIN });
        delete_if_empty(shard, op, pos, key);
    }
    popped
}

fn zpopmin(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_generic(cx, args, false)
}

fn zpopmax(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_generic(cx, args, true)
}

/// ZPOPMIN / ZPOPMAX key [count].
fn zpop_generic(cx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(errors::SYNTAX);
    }
    let count = match args.get(2) {
        // Redis's getPositiveLongFromObjectOrReply: one error for both failures.
        Some(a) => match parse_i64(a) {
            Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(errors::POSITIVE),
        },
        None => None,
    };
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(pos) = zset_pos(&mut k, key, false)? else {
        cx.out.array(0);
        return Ok(());
    };
    let popped = pop_entries(&mut k.shard, &k.op, pos, key, max, count.unwrap_or(1));
    drop(k);
    if count.is_some() {
        entries_header(cx.out, popped.len(), true);
        for (m, s) in &popped {
            entry(cx.out, m, *s, true);
        }
    } else {
        // Without a count: one flat (member, score) pair in both protocols.
        cx.out.array(popped.len() * 2);
        for (m, s) in &popped {
            cx.out.bulk(m);
            cx.out.double(*s);
        }
    }
    Ok(())
}

/// Writes `[key, [[member, score], ...]]` (ZMPOP and BZMPOP).
fn reply_mpop(out: &mut protocol::ReplyWriter, key: &[u8], popped: &[(Vec<u8>, f64)]) {
    out.array(2);
    out.bulk(key);
    out.array(popped.len());
    for (m, s) in popped {
        out.array(2);
        out.bulk(m);
        out.double(*s);
    }
}

/// Arguments of ZMPOP / BZMPOP from the numkeys at `numkeys_i`: (keys, max, count).
fn parse_mpop(args: &[Bytes], numkeys_i: usize) -> Result<(&[Bytes], bool, usize), CmdError> {
    let numkeys = match parse_i64(&args[numkeys_i]) {
        Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(NUMKEYS_POSITIVE),
    };
    let where_i = match numkeys_i
        .checked_add(numkeys)
        .and_then(|w| w.checked_add(1))
    {
        Some(w) if w < args.len() => w,
        _ => return Err(errors::SYNTAX),
    };
    let max = if is(&args[where_i], "min") {
        false
    } else if is(&args[where_i], "max") {
        true
    } else {
        return Err(errors::SYNTAX);
    };
    let mut count = None;
    let mut j = where_i + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            match parse_i64(&args[j + 1]) {
                Ok(n) if n >= 1 => count = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(COUNT_POSITIVE),
            }
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok((&args[numkeys_i + 1..where_i], max, count.unwrap_or(1)))
}

/// Pops from the first non-empty set among `keys`: Some((key index, entries)), None when
/// all are missing. WRONGTYPE when a key before it holds another type.
fn pop_first(
    cx: &mut Ctx<'_>,
    keys: &[Bytes],
    max: bool,
    count: usize,
) -> Result<Option<(usize, Entries)>, CmdError> {
    let (mut locked, placed) = cx.store.lock_keys(keys.iter().map(|k| &k[..]));
    let op = cx.store.op();
    for (i, (key, &(hash, sid))) in keys.iter().zip(&placed).enumerate() {
        let s = locked.shard(sid);
        let Some(pos) = s.lookup(&op, hash, key) else {
            continue;
        };
        match as_zset(s.value(pos)) {
            None => return Err(WRONGTYPE),
            Some(z) if z.is_empty() => continue,
            Some(_) => {}
        }
        let popped = pop_entries(s, &op, pos, key, max, count);
        // Propagated as Redis does: ZPOPMIN/ZPOPMAX key <count popped>.
        crate::propagate::rewrite(vec![
            Bytes::from_static(if max { b"ZPOPMAX" } else { b"ZPOPMIN" }),
            key.clone(),
            Bytes::from(popped.len().to_string()),
        ]);
        return Ok(Some((i, popped)));
    }
    Ok(None)
}

fn zmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(args, 1)?;
    match pop_first(cx, keys, max, count)? {
        Some((i, popped)) => reply_mpop(cx.out, &keys[i], &popped),
        None => cx.out.null_array(),
    }
    Ok(())
}

fn bzpopmin(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop_generic(cx, args, false)
}

fn bzpopmax(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop_generic(cx, args, true)
}

/// BZPOPMIN / BZPOPMAX key [key ...] timeout.
fn bzpop_generic(cx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    let deadline = parse_timeout(&args[args.len() - 1], cx.store.now_ms)?;
    let keys = &args[1..args.len() - 1];
    match pop_first(cx, keys, max, 1)? {
        Some((i, popped)) => {
            cx.out.array(3);
            cx.out.bulk(&keys[i]);
            for (m, s) in &popped {
                cx.out.bulk(m);
                cx.out.double(*s);
            }
        }
        None => cx.block(BlockRequest {
            keys: keys.to_vec(),
            deadline_ms: deadline,
            on_timeout: TimeoutReply::NullArray,
            retry_args: None,
        }),
    }
    Ok(())
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
fn bzmpop(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let deadline = parse_timeout(&args[1], cx.store.now_ms)?;
    let (keys, max, count) = parse_mpop(args, 2)?;
    match pop_first(cx, keys, max, count)? {
        Some((i, popped)) => reply_mpop(cx.out, &keys[i], &popped),
        None => cx.block(BlockRequest {
            keys: keys.to_vec(),
            deadline_ms: deadline,
            on_timeout: TimeoutReply::NullArray,
            retry_args: None,
        }),
    }
    Ok(())
}

// ----- ZRANDMEMBER --------------------------------------------------------------------------

fn zrandmember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() >= 3 {
        let l = parse_i64(&args[2])?;
        if l == i64::MIN {
            return Err(LONG_RANGE);
        }
        let withscores = args.len() == 4;
        if args.len() > 4 || (withscores && !is(&args[3], "withscores")) {
            return Err(errors::SYNTAX);
        }
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(OUT_OF_RANGE);
        }
        return zrandmember_count(cx, &args[1], l, withscores);
    }
    let mut k = cx.store.lock(&args[1]);
    match read_zset(&mut k, &args[1])? {
        Some(z) if !z.is_empty() => {
            let r = rand::thread_rng().gen_range(0..z.len());
            match z.get(r) {
                Some((m, _)) => cx.out.bulk(m),
                None => cx.out.null(),
            }
        }
        _ => cx.out.null(),
    }
    Ok(())
}

fn zrandmember_count(cx: &mut Ctx<'_>, key: &[u8], l: i64, withscores: bool) -> CmdResult {
    let mut k = cx.store.lock(key);
    let Some(z) = read_zset(&mut k, key)? else {
        cx.out.array(0);
        return Ok(());
    };
    let out = &mut *cx.out;
    let size = z.len();
    let mut rng = rand::thread_rng();
    if l == 0 || size == 0 {
        out.array(0);
        return Ok(());
    }
    if l < 0 {
        // Repetitions allowed.
        let count = l.unsigned_abs();
        if count > RANDMEMBER_MAX {
            return Err(OUT_OF_RANGE);
        }
        let count = count as usize;
        entries_header(out, count, withscores);
        for _ in 0..count {
            if let Some((m, s)) = z.get(rng.gen_range(0..size)) {
                entry(out, m, s, withscores);
            }
        }
        return Ok(());
    }
    let count = usize::try_from(l).unwrap_or(usize::MAX);
    if count >= size {
        entries_header(out, size, withscores);
        z.for_range(0, size, false, |m, s| entry(out, m, s, withscores));
        return Ok(());
    }
    // Distinct ranks, in random order.
    let mut ranks: Vec<usize> = if count * 3 > size {
        let mut all: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = rng.gen_range(i..size);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    } else {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut v = Vec::with_capacity(count);
        while v.len() < count {
            let r = rng.gen_range(0..size);
            if seen.insert(r) {
                v.push(r);
            }
        }
        v
    };
    entries_header(out, ranks.len(), withscores);
    for r in ranks.drain(..) {
        if let Some((m, s)) = z.get(r) {
            entry(out, m, s, withscores);
        }
    }
    Ok(())
}

// ----- ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD -----------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            // +inf + -inf: Redis keeps 0 rather than NaN.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// An input of a set operation: a sorted set, or a set whose members score 1.
enum Source<'a> {
    Missing,
    ZSet(&'a ZSet),
    Set(&'a keyspace::types::Set),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::ZSet(z) => z.len(),
            Source::Set(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::ZSet(z) => z.score(m),
            Source::Set(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Source::Missing => {}
            Source::ZSet(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Source::Set(s) => s.iter().for_each(|m| m.with_bytes(|b| f(b, 1.0))),
        }
    }
}

/// Redis's `zunionInterDiffGenericCommand`. `numkeys_i` is the index of numkeys; `dst` the
/// destination for the STORE forms; `card_only` for ZINTERCARD.
fn setop_generic(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    numkeys_i: usize,
    dst: Option<&[u8]>,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let name = args[0].to_ascii_lowercase();
    let setnum = parse_i64(&args[numkeys_i])?;
    if setnum < 1 {
        return Err(CmdError::err(format_args!(
            "at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&name)
        )));
    }
    let setnum = match usize::try_from(setnum) {
        Ok(n) if n < args.len() - numkeys_i => n,
        _ => return Err(errors::SYNTAX),
    };
    let keys = &args[numkeys_i + 1..numkeys_i + 1 + setnum];
    let limits = limits(cx);
    let mut all: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    if let Some(d) = dst {
        all.push(d);
    }
    let (mut locked, placed) = cx.store.lock_keys(all.iter().copied());
    let opx = cx.store.op();
    // Expire and count first (this may move keys in their shards), then read in place.
    for (key, &(hash, sid)) in keys.iter().zip(&placed) {
        let s = locked.shard(sid);
        if let Some(pos) = s.lookup_read(&opx, hash, key) {
            if !matches!(s.value(pos), Value::ZSet(_) | Value::Set(_)) {
                return Err(WRONGTYPE);
            }
        }
    }
    // Options.
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = numkeys_i + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(a, "weights") {
            for (w, arg) in weights.iter_mut().zip(&args[j + 1..j + 1 + setnum]) {
                *w = parse_double(arg, WEIGHT_NOT_FLOAT)?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(a, "aggregate") {
            let v = &args[j + 1];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(errors::SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "limit") {
            limit = match parse_i64(&args[j + 1]) {
                Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(LIMIT_NEGATIVE),
            };
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    let result = {
        let shards: Vec<(usize, &mut Shard)> = locked.iter_mut().collect();
        let shard_ref = |sid: usize| shards.iter().find(|(i, _)| *i == sid).map(|(_, s)| &**s);
        let sources: Vec<Source<'_>> = keys
            .iter()
            .zip(&placed)
            .map(|(key, &(hash, sid))| {
                let Some(s) = shard_ref(sid) else {
                    return Source::Missing;
                };
                match s.find(hash, key).map(|p| s.value(p)) {
                    Some(Value::ZSet(z)) => Source::ZSet(z),
                    Some(Value::Set(st)) => Source::Set(st),
                    _ => Source::Missing,
                }
            })
            .collect();
        if card_only {
            let n = inter_card(&sources, limit);
            cx.out.int(n as i64);
            return Ok(());
        }
        compute(&sources, &weights, agg, op)
    };
    match dst {
        Some(d) => {
            let &(hash, sid) = placed.last().unwrap_or(&(0, 0));
            let ev = match op {
                SetOp::Union => EV_ZUNIONSTORE,
                SetOp::Inter => EV_ZINTERSTORE,
                SetOp::Diff => EV_ZDIFFSTORE,
            };
            let n = store_result(locked.shard(sid), &opx, hash, d, result, ev, &limits);
            cx.out.int(n as i64);
        }
        None => {
            drop(locked);
            entries_header(cx.out, result.len(), withscores);
            for (m, s) in &result {
                entry(cx.out, m, *s, withscores);
            }
        }
    }
    Ok(())
}

/// Members of the intersection, stopping at `limit` (0: no limit).
fn inter_card(sources: &[Source<'_>], limit: usize) -> usize {
    let mut order: Vec<&Source<'_>> = sources.iter().collect();
    order.sort_by_key(|s| s.len());
    let Some((first, rest)) = order.split_first() else {
        return 0;
    };
    let mut n = 0;
    let mut done = false;
    first.for_each(|m, _| {
        if done {
            return;
        }
        if rest.iter().all(|s| s.score(m).is_some()) {
            n += 1;
            if limit > 0 && n >= limit {
                done = true;
            }
        }
    });
    n
}

/// The result of a set operation, sorted by (score, member).
fn compute(
    sources: &[Source<'_>],
    weights: &[f64],
    agg: Aggregate,
    op: SetOp,
) -> Vec<(Vec<u8>, f64)> {
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
            for (src, &w) in sources.iter().zip(weights) {
                src.for_each(|m, s| {
                    let v = weighted(s, w);
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, v, agg),
                        None => {
                            acc.insert(m.to_vec(), v);
                        }
                    }
                });
            }
            out.extend(acc);
        }
        SetOp::Inter => {
            let mut order: Vec<(&Source<'_>, f64)> =
                sources.iter().zip(weights.iter().copied()).collect();
            order.sort_by_key(|(s, _)| s.len());
            if let Some(((first, w0), rest)) = order.split_first() {
                first.for_each(|m, s| {
                    let mut score = weighted(s, *w0);
                    for (other, w) in rest {
                        match other.score(m) {
                            Some(os) => aggregate(&mut score, weighted(os, *w), agg),
                            None => return,
                        }
                    }
                    out.push((m.to_vec(), score));
                });
            }
        }
        SetOp::Diff => {
            if let Some((first, rest)) = sources.split_first() {
                first.for_each(|m, s| {
                    if rest.iter().all(|o| o.score(m).is_none()) {
                        out.push((m.to_vec(), s));
                    }
                });
            }
        }
    }
    out.sort_by(|a, b| keyspace::types::zset::cmp_entries(a.1, &a.0, b.1, &b.0));
    out
}

fn zunion(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(cx, args, 1, None, SetOp::Union, false)
}

fn zinter(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(cx, args, 1, None, SetOp::Inter, false)
}

fn zdiff(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(cx, args, 1, None, SetOp::Diff, false)
}

fn zunionstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(cx, args, 2, Some(&args[1]), SetOp::Union, false)
}

fn zinterstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(cx, args, 2, Some(&args[1]), SetOp::Inter, false)
}

fn zdiffstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(cx, args, 2, Some(&args[1]), SetOp::Diff, false)
}

fn zintercard(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(cx, args, 1, None, SetOp::Inter, true)
}

// ----- ZSCAN --------------------------------------------------------------------------------

/// ZSCAN key cursor [MATCH pattern] [COUNT count]. A packed set is returned whole (cursor
/// 0), as Redis does; a skiplist is walked by node position (`ZSet::scan`), about COUNT
/// nodes a call, so a score change between calls hides no member.
fn zscan(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = crate::args::parse_cursor(&args[2])?;
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let Some(z) = read_zset(&mut k, key)? else {
        cx.out.array(2);
        cx.out.bulk(b"0");
        cx.out.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let has_value = args.len() - i >= 2;
        if is(&args[i], "count") && has_value {
            let n = parse_i64(&args[i + 1])?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&args[i], "match") && has_value {
            let p = &args[i + 1][..];
            pattern = (p != b"*").then_some(p);
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    let mut found: Vec<(&[u8], f64)> = Vec::new();
    let next = z.scan(cursor, count, |m, s| {
        if pattern.is_none_or(|p| glob::matches(p, m, false)) {
            found.push((m, s));
        }
    });
    let out = &mut *cx.out;
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(found.len() * 2);
    let mut buf = [0u8; DOUBLE_TEXT_MAX];
    for (m, s) in found {
        out.bulk(m);
        out.bulk(format_double_reply(s, &mut buf));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_as_c() {
        assert_eq!(strtod(b"1.5"), Some((1.5, false)));
        assert_eq!(strtod(b" 2"), Some((2.0, false)));
        assert_eq!(strtod(b""), Some((0.0, false)));
        assert_eq!(strtod(b" "), None);
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b"0x10"), Some((16.0, false)));
        assert_eq!(strtod(b"0x1p3"), Some((8.0, false)));
        assert_eq!(strtod(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(strtod(b"1e400"), Some((f64::INFINITY, true)));
        assert_eq!(strtod(b"1e-400").map(|x| x.1), Some(true));
        assert_eq!(strtod(b"1e"), None);
        assert_eq!(strtod(b"1x"), None);
        assert!(parse_score(b" 1").is_err());
        assert!(parse_score(b"nan").is_err());
        assert_eq!(parse_score(b"+5"), Ok(5.0));
        assert_eq!(parse_score(b".5"), Ok(0.5));
    }

    #[test]
    fn timeouts_as_redis() {
        assert_eq!(parse_timeout(b"0", 100), Ok(None));
        assert_eq!(parse_timeout(b"1.5", 100), Ok(Some(1600)));
        assert_eq!(parse_timeout(b"0.0001", 100), Ok(Some(101)));
        assert_eq!(parse_timeout(b"-1", 100), Err(TIMEOUT_NEGATIVE));
        assert_eq!(parse_timeout(b"abc", 100), Err(TIMEOUT_NOT_FLOAT));
        assert_eq!(parse_timeout(b"1e300", 100), Err(TIMEOUT_RANGE));
    }
}
