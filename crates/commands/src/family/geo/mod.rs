//! Geo commands on sorted sets with Redis's 52-bit geohash scores. Behaviour and error texts
//! follow Redis 7.4's `geo.c`: first the type API (argument parsing, number formats, the
//! search over the nine cells of `geohash.rs`), then the commands.

mod geohash;

use bytes::Bytes;
use keyspace::types::{Limits, ZSet};
use keyspace::{class, event, Event, Value};
use protocol::{Protocol, ReplyWriter};

use crate::args::{is, parse_i64};
use crate::command;
use crate::context::{Ctx, KeyLock};
use crate::errors::{self, CmdError, CmdResult, WRONGTYPE};
use crate::spec::{flag::*, CommandSpec, Keys};

use geohash::{Shape, ShapeKind};

const GEO: &[&str] = &["geo"];

pub static COMMANDS: &[CommandSpec] = &[
    command!("geoadd", -5, WRITE | DENYOOM, Keys::ONE, geoadd,
        acl: GEO, group: "geo", since: "3.2.0",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        summary: "Adds one or more members to a geospatial index. The key is created if it doesn't exist."),
    command!("geodist", -4, READONLY, Keys::ONE, geodist,
        acl: GEO, group: "geo", since: "3.2.0", complexity: "O(1)",
        summary: "Returns the distance between two members of a geospatial index."),
    command!("geohash", -2, READONLY, Keys::ONE, geohash_cmd,
        acl: GEO, group: "geo", since: "3.2.0", complexity: "O(1) for each member requested.",
        summary: "Returns members from a geospatial index as geohash strings."),
    command!("geopos", -2, READONLY, Keys::ONE, geopos,
        acl: GEO, group: "geo", since: "3.2.0", complexity: "O(1) for each member requested.",
        summary: "Returns the longitude and latitude of members from a geospatial index."),
    command!("georadius", -6, WRITE | DENYOOM | MOVABLE_KEYS, Keys::ONE, georadius,
        acl: GEO, group: "geo", since: "3.2.0", complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        summary: "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result."),
    command!("georadiusbymember", -5, WRITE | DENYOOM | MOVABLE_KEYS, Keys::ONE, georadiusbymember,
        acl: GEO, group: "geo", since: "3.2.0", complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        summary: "Queries a geospatial index for members within a distance from a member, optionally stores the result."),
    command!("georadius_ro", -6, READONLY, Keys::ONE, georadius_ro,
        acl: GEO, group: "geo", since: "3.2.10", complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        summary: "Returns members from a geospatial index that are within a distance from a coordinate."),
    command!("georadiusbymember_ro", -5, READONLY, Keys::ONE, georadiusbymember_ro,
        acl: GEO, group: "geo", since: "3.2.10", complexity: "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.",
        summary: "Returns members from a geospatial index that are within a distance from a member."),
    command!("geosearch", -7, READONLY, Keys::ONE, geosearch,
        acl: GEO, group: "geo", since: "6.2.0", complexity: "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape",
        summary: "Queries a geospatial index for members inside an area of a box or a circle."),
    command!("geosearchstore", -8, WRITE | DENYOOM, Keys { first: 1, last: 2, step: 1 }, geosearchstore,
        acl: GEO, group: "geo", since: "6.2.0", complexity: "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape",
        summary: "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result."),
];

// ----- events and errors --------------------------------------------------------------------

/// GEOADD runs ZADD in Redis, so it announces `zadd`.
const EV_ZADD: Event = Event {
    name: "zadd",
    class: class::ZSET,
};
const EV_GEORADIUSSTORE: Event = Event {
    name: "georadiusstore",
    class: class::ZSET,
};
const EV_GEOSEARCHSTORE: Event = Event {
    name: "geosearchstore",
    class: class::ZSET,
};

const UNIT: CmdError = CmdError::new("ERR unsupported unit provided. please use M, KM, FT, MI");
const NEED_RADIUS: CmdError = CmdError::new("ERR need numeric radius");
const NEED_WIDTH: CmdError = CmdError::new("ERR need numeric width");
const NEED_HEIGHT: CmdError = CmdError::new("ERR need numeric height");
const RADIUS_NEGATIVE: CmdError = CmdError::new("ERR radius cannot be negative");
const BOX_NEGATIVE: CmdError = CmdError::new("ERR height or width cannot be negative");
const DECODE_MEMBER: CmdError = CmdError::new("ERR could not decode requested zset member");
const COUNT_POSITIVE: CmdError = CmdError::new("ERR COUNT must be > 0");
const ANY_NEEDS_COUNT: CmdError = CmdError::new("ERR the ANY argument requires COUNT argument");
const STORE_OPTIONS: CmdError = CmdError::new(
    "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
);
const SEARCHSTORE_OPTIONS: CmdError = CmdError::new(
    "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
);

// ----- argument parsing ---------------------------------------------------------------------

/// Redis's `getDoubleFromObject` (`string2d`): `strtod` over the whole text, no leading
/// space, no overflow or underflow to zero, no NaN. Hexadecimal floats are not accepted.
fn parse_double(arg: &[u8], err: CmdError) -> Result<f64, CmdError> {
    let Some(&first) = arg.first() else {
        return Err(err);
    };
    if first.is_ascii_whitespace() || first == 0x0b {
        return Err(err);
    }
    let Ok(s) = std::str::from_utf8(arg) else {
        return Err(err);
    };
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Ok(if first == b'-' {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if unsigned.eq_ignore_ascii_case("nan") || unsigned.starts_with(['+', '-']) {
        return Err(err);
    }
    let hex = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"));
    let parsed = match hex {
        Some(h) => parse_hex_float(h).map(|v| if first == b'-' { -v } else { v }),
        None => s.parse::<f64>().ok(),
    };
    let Some(v) = parsed else {
        return Err(err);
    };
    let mantissa = match hex {
        Some(h) => h.split(['p', 'P']).next().unwrap_or(""),
        None => unsigned.split(['e', 'E']).next().unwrap_or(""),
    };
    let underflow = v == 0.0 && mantissa.bytes().any(|b| b.is_ascii_hexdigit() && b != b'0');
    if v.is_infinite() || v.is_nan() || underflow {
        return Err(err);
    }
    Ok(v)
}

/// The value of `strtod`'s hexadecimal form after `0x`: hex digits with an optional point,
/// then an optional binary exponent `p[sign]digits`. Digits past the sixteenth significant
/// one are ignored.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (digits, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut mant: u64 = 0;
    let mut shift: i64 = 0;
    let (mut any, mut point, mut used) = (false, false, 0);
    for c in digits.chars() {
        if c == '.' && !point {
            point = true;
            continue;
        }
        let d = c.to_digit(16)?;
        any = true;
        if mant == 0 && d == 0 {
            if point {
                shift -= 4;
            }
            continue;
        }
        if used < 16 {
            mant = (mant << 4) | u64::from(d);
            used += 1;
            if point {
                shift -= 4;
            }
        } else if !point {
            shift += 4;
        }
    }
    if !any {
        return None;
    }
    if let Some(e) = exp {
        let body = e.strip_prefix(['+', '-']).unwrap_or(e);
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = body.parse().unwrap_or(i64::MAX / 2).min(100_000);
        shift += if e.starts_with('-') { -n } else { n };
    }
    let mut v = mant as f64;
    let mut k = shift.clamp(-5000, 5000);
    while k != 0 && v != 0.0 && v.is_finite() {
        let step = k.clamp(-1000, 1000);
        v *= 2f64.powi(step as i32);
        k -= step;
    }
    Some(v)
}

/// `extractLongLatOrReply`.
fn parse_lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], CmdError> {
    let x = parse_double(lon, errors::NOT_FLOAT)?;
    let y = parse_double(lat, errors::NOT_FLOAT)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(CmdError::err(format_args!(
            "invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok([x, y])
}

/// `extractUnitOrReply`: meters per unit.
fn parse_unit(arg: &[u8]) -> Result<f64, CmdError> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(UNIT)
    }
}

/// `extractDistanceOrReply`: (radius, meters per unit).
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = parse_double(radius, NEED_RADIUS)?;
    if r < 0.0 {
        return Err(RADIUS_NEGATIVE);
    }
    Ok((r, parse_unit(unit)?))
}

/// `extractBoxOrReply`: (width, height, meters per unit).
fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = parse_double(width, NEED_WIDTH)?;
    let h = parse_double(height, NEED_HEIGHT)?;
    if h < 0.0 || w < 0.0 {
        return Err(BOX_NEGATIVE);
    }
    Ok((w, h, parse_unit(unit)?))
}

// ----- number formats -----------------------------------------------------------------------

/// `addReplyDoubleDistance` (Redis 7.4's `fixedpoint_d2string` with 4 digits): the value
/// times 10^4 rounded half to even (`llrint`), printed with four decimals.
fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let scaled = d * 10000.0;
    // llrint gives LLONG_MIN for NaN and values out of range.
    let sv = if scaled.is_nan() || !(-9.223372036854775e18..9.223372036854775e18).contains(&scaled)
    {
        i64::MIN
    } else {
        scaled.round_ties_even() as i64
    };
    let v = sv.unsigned_abs();
    let sign = if sv < 0 { "-" } else { "" };
    format!("{sign}{}.{:04}", v / 10000, v % 10000)
}

/// `ld2string` in human mode on a double: `%.17Lf` with trailing zeros (and a bare dot)
/// removed, `-0` shown as `0`. Coordinates are sent this way.
fn human_text(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let keep = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(keep);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// `addReplyHumanLongDouble`: RESP3 a double, RESP2 a bulk string, both of `human_text`.
fn reply_coord(out: &mut ReplyWriter, v: f64) {
    let text = human_text(v);
    if out.proto == Protocol::Resp3 {
        out.buf.reserve(text.len() + 3);
        out.buf.extend_from_slice(b",");
        out.buf.extend_from_slice(text.as_bytes());
        out.buf.extend_from_slice(b"\r\n");
    } else {
        out.bulk(text.as_bytes());
    }
}

// ----- lookups ------------------------------------------------------------------------------

fn as_zset(v: &Value) -> Option<&ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// The sorted set of `key` for a read (WRONGTYPE for other types).
fn read_zset<'k>(k: &'k mut KeyLock<'_>, key: &[u8]) -> Result<Option<&'k ZSet>, CmdError> {
    match k.find_read(key) {
        Some(p) => as_zset(k.shard.value(p)).map(Some).ok_or(WRONGTYPE),
        None => Ok(None),
    }
}

/// `longLatFromMember`.
fn member_xy(z: &ZSet, member: &[u8]) -> Option<[f64; 2]> {
    z.score(member).and_then(geohash::decode_score)
}

// ----- GEOADD -------------------------------------------------------------------------------

fn geoadd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "nx") {
            nx = true;
        } else if is(&args[i], "xx") {
            xx = true;
        } else if is(&args[i], "ch") {
            ch = true;
        } else {
            break;
        }
        i += 1;
    }
    if !(args.len() - i).is_multiple_of(3) || (xx && nx) {
        return Err(errors::SYNTAX);
    }
    let triples = &args[i..];
    let mut scores = Vec::with_capacity(triples.len() / 3);
    for t in triples.chunks_exact(3) {
        let [x, y] = parse_lon_lat(&t[0], &t[1])?;
        let score = geohash::score_of(x, y).ok_or(errors::NOT_FLOAT)?;
        scores.push(score as f64);
    }
    if scores.is_empty() {
        // ZADD with no score-member pair.
        return Err(errors::SYNTAX);
    }
    let limits: Limits = *cx.server.config.limits.read();
    let key = &args[1];
    let mut k = cx.store.lock(key);
    let pos = match k.find(key) {
        Some(p) if as_zset(k.shard.value(p)).is_none() => return Err(WRONGTYPE),
        Some(p) => p,
        None if xx => {
            cx.out.int(0);
            return Ok(());
        }
        None => {
            let longest = triples.chunks_exact(3).map(|t| t[2].len()).max();
            let z = ZSet::with_hint(scores.len(), longest.unwrap_or(0), &limits);
            let hash = k.hash;
            k.shard.insert(&k.op, hash, key, Value::ZSet(Box::new(z)))
        }
    };
    let Value::ZSet(z) = k.shard.value_mut(pos) else {
        return Err(WRONGTYPE);
    };
    let (mut added, mut updated) = (0i64, 0i64);
    for (t, &score) in triples.chunks_exact(3).zip(&scores) {
        let member = &t[2];
        match z.score(member) {
            Some(_) if nx => {}
            Some(cur) => {
                if cur != score {
                    z.insert(member, score, &limits);
                    updated += 1;
                }
            }
            None if xx => {}
            None => {
                z.insert_new(member, score, &limits);
                added += 1;
            }
        }
    }
    if added + updated > 0 {
        k.op.emit(key, EV_ZADD);
    }
    cx.out.int(if ch { added + updated } else { added });
    Ok(())
}

// ----- GEOPOS, GEOHASH, GEODIST -------------------------------------------------------------

fn geopos(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let z = read_zset(&mut k, &args[1])?;
    cx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| member_xy(z, m)) {
            Some([x, y]) => {
                cx.out.array(2);
                reply_coord(cx.out, x);
                reply_coord(cx.out, y);
            }
            None => cx.out.null_array(),
        }
    }
    Ok(())
}

fn geohash_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut k = cx.store.lock(&args[1]);
    let z = read_zset(&mut k, &args[1])?;
    cx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z
            .and_then(|z| member_xy(z, m))
            .and_then(geohash::standard_geohash)
        {
            Some(text) => cx.out.bulk(&text),
            None => cx.out.null(),
        }
    }
    Ok(())
}

fn geodist(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let to_meter = match args.len() {
        5 => parse_unit(&args[4])?,
        n if n > 5 => return Err(errors::SYNTAX),
        _ => 1.0,
    };
    let mut k = cx.store.lock(&args[1]);
    let Some(z) = read_zset(&mut k, &args[1])? else {
        cx.out.null();
        return Ok(());
    };
    match (member_xy(z, &args[2]), member_xy(z, &args[3])) {
        (Some(a), Some(b)) => {
            let d = geohash::distance(a[0], a[1], b[0], b[1]) / to_meter;
            cx.out.bulk(distance_text(d).as_bytes());
        }
        _ => cx.out.null(),
    }
    Ok(())
}

// ----- GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH, GEOSEARCHSTORE ------------------------------

/// Which command `georadius_generic` runs (Redis's RADIUS_COORDS, RADIUS_MEMBER, GEOSEARCH,
/// GEOSEARCH|GEOSEARCHSTORE).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Radius,
    RadiusMember,
    Search,
    SearchStore,
}

impl Variant {
    fn is_search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    /// Where the options begin.
    fn base_args(self) -> usize {
        match self {
            Variant::Radius => 6,
            Variant::RadiusMember => 5,
            Variant::Search => 2,
            Variant::SearchStore => 3,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found by a search.
struct Point {
    member: Vec<u8>,
    xy: [f64; 2],
    /// Meters from the centre.
    dist: f64,
    score: f64,
}

/// What a parsed and executed search gives back.
struct Outcome {
    /// None when the source key does not exist.
    points: Option<Vec<Point>>,
    returned: usize,
    conversion: f64,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    /// The argument index of the STORE/STOREDIST key (GEORADIUS family).
    store_at: Option<usize>,
    storedist: bool,
}

/// The argument index of the key GEORADIUS / GEORADIUSBYMEMBER would store to, read with
/// the option grammar only (so that both keys can be locked before the real parse).
fn prescan_store(args: &[Bytes], base: usize) -> Option<usize> {
    let mut store = None;
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let a = &args[base + i];
        if ["withdist", "withhash", "withcoord", "any", "asc", "desc"]
            .iter()
            .any(|o| is(a, o))
        {
        } else if is(a, "count") && i + 1 < remaining {
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && i + 1 < remaining {
            store = Some(base + i + 1);
            i += 1;
        } else {
            break;
        }
        i += 1;
    }
    store
}

/// Redis's `georadiusGeneric` up to the reply: parses in Redis's order (so the same error
/// wins), then collects, sorts and cuts the points.
fn run_search(
    args: &[Bytes],
    variant: Variant,
    nostore: bool,
    z: Option<&ZSet>,
) -> Result<Outcome, CmdError> {
    let base = variant.base_args();
    let mut shape = Shape {
        xy: [0.0, 0.0],
        conversion: 0.0,
        kind: ShapeKind::Circle { radius: 0.0 },
    };
    match (variant, z) {
        (Variant::Radius, _) => {
            shape.xy = parse_lon_lat(&args[2], &args[3])?;
            let (radius, conversion) = parse_radius(&args[4], &args[5])?;
            shape.kind = ShapeKind::Circle { radius };
            shape.conversion = conversion;
        }
        (Variant::RadiusMember, Some(z)) => {
            shape.xy = member_xy(z, &args[2]).ok_or(DECODE_MEMBER)?;
            let (radius, conversion) = parse_radius(&args[3], &args[4])?;
            shape.kind = ShapeKind::Circle { radius };
            shape.conversion = conversion;
        }
        // No source key: the options are still parsed, to pick the reply.
        _ => {}
    }

    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut store_at = None;
    let mut storedist = false;
    let georadius_store = !nostore && !variant.is_search();
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let at = base + i;
        let a = &args[at];
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && i + 1 < remaining {
            count = parse_i64(&args[at + 1])?;
            if count <= 0 {
                return Err(COUNT_POSITIVE);
            }
            i += 1;
        } else if is(a, "store") && i + 1 < remaining && georadius_store {
            store_at = Some(at + 1);
            storedist = false;
            i += 1;
        } else if is(a, "storedist") && i + 1 < remaining && georadius_store {
            store_at = Some(at + 1);
            storedist = true;
            i += 1;
        } else if is(a, "storedist") && variant == Variant::SearchStore {
            storedist = true;
        } else if is(a, "frommember") && i + 1 < remaining && variant.is_search() && !fromloc {
            if let Some(z) = z {
                shape.xy = member_xy(z, &args[at + 1]).ok_or(DECODE_MEMBER)?;
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && i + 2 < remaining && variant.is_search() && !frommember {
            shape.xy = parse_lon_lat(&args[at + 1], &args[at + 2])?;
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && i + 2 < remaining && variant.is_search() && !bybox {
            let (radius, conversion) = parse_radius(&args[at + 1], &args[at + 2])?;
            shape.kind = ShapeKind::Circle { radius };
            shape.conversion = conversion;
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && i + 3 < remaining && variant.is_search() && !byradius {
            let (width, height, conversion) =
                parse_box(&args[at + 1], &args[at + 2], &args[at + 3])?;
            shape.kind = ShapeKind::Rect { width, height };
            shape.conversion = conversion;
            bybox = true;
            i += 3;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }

    let storing = store_at.is_some() || variant == Variant::SearchStore;
    if storing && (withdist || withhash || withcoord) {
        return Err(if variant == Variant::SearchStore {
            SEARCHSTORE_OPTIONS
        } else {
            STORE_OPTIONS
        });
    }
    let name = String::from_utf8_lossy(&args[0]);
    if variant.is_search() && !(frommember || fromloc) {
        return Err(CmdError::err(format_args!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if variant.is_search() && !(byradius || bybox) {
        return Err(CmdError::err(format_args!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(ANY_NEEDS_COUNT);
    }

    let mut outcome = Outcome {
        points: None,
        returned: 0,
        conversion: shape.conversion,
        withdist,
        withhash,
        withcoord,
        store_at,
        storedist,
    };
    let Some(z) = z else {
        return Ok(outcome);
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut points = collect(z, &shape, limit);
    match sort {
        Sort::Asc => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    outcome.returned = if count == 0 {
        points.len()
    } else {
        points.len().min(count as usize)
    };
    outcome.points = Some(points);
    Ok(outcome)
}

/// `membersOfAllNeighbors`: the points of the shape found in its nine cells' score ranges,
/// cell by cell in Redis's order, stopping at `limit` points when it is not 0 (ANY).
fn collect(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = shape.cells();
    let mut out = Vec::new();
    let full = |out: &Vec<Point>| limit != 0 && out.len() >= limit;
    let mut last_processed = 0;
    for (i, &cell) in cells.iter().enumerate() {
        if !geohash::is_live(cell) {
            continue;
        }
        // Large radii can make adjacent neighbours the same cell.
        if last_processed != 0 && cell == cells[last_processed] {
            continue;
        }
        if full(&out) {
            break;
        }
        let (min, max) = geohash::score_range(cell);
        let lo = z.partition_point(|s, _| s < min);
        for (m, s) in z.iter_from(lo) {
            if s >= max {
                break;
            }
            if let Some(xy) = geohash::decode_score(s) {
                if let Some(dist) = shape.contains(xy[0], xy[1]) {
                    out.push(Point {
                        member: m.to_vec(),
                        xy,
                        dist,
                        score: s,
                    });
                }
            }
            if full(&out) {
                break;
            }
        }
        last_processed = i;
    }
    out
}

fn georadius_generic(
    cx: &mut Ctx<'_>,
    args: &[Bytes],
    variant: Variant,
    nostore: bool,
) -> CmdResult {
    let src_at = if variant == Variant::SearchStore {
        2
    } else {
        1
    };
    let dst_at = match variant {
        Variant::SearchStore => Some(1),
        Variant::Radius | Variant::RadiusMember if !nostore => {
            prescan_store(args, variant.base_args())
        }
        _ => None,
    };
    let src: &[u8] = &args[src_at];
    let dst: Option<&[u8]> = dst_at.map(|i| &args[i][..]);
    let limits: Limits = *cx.server.config.limits.read();
    let (mut locked, placed) = cx.store.lock_keys(std::iter::once(src).chain(dst));
    let op = cx.store.op();

    let outcome = {
        let shard = locked.shard(placed[0].1);
        let z = match shard.lookup_read(&op, placed[0].0, src) {
            Some(p) => Some(as_zset(shard.value(p)).ok_or(WRONGTYPE)?),
            None => None,
        };
        run_search(args, variant, nostore, z)?
    };

    let store = match variant {
        Variant::SearchStore => Some(EV_GEOSEARCHSTORE),
        _ if outcome.store_at.is_some() => Some(EV_GEORADIUSSTORE),
        _ => None,
    };
    let Some(ev) = store else {
        write_points(cx.out, &outcome);
        return Ok(());
    };
    // The key the parse chose is the one locked (the prescan follows the same grammar).
    let (Some(dst), Some(&(dst_hash, dst_shard))) = (dst, placed.get(1)) else {
        return Err(errors::SYNTAX);
    };
    if variant != Variant::SearchStore && outcome.store_at != dst_at {
        return Err(errors::SYNTAX);
    }
    let conversion = outcome.conversion;
    let entries: Vec<(Vec<u8>, f64)> = outcome
        .points
        .unwrap_or_default()
        .into_iter()
        .take(outcome.returned)
        .map(|p| {
            let score = if outcome.storedist {
                p.dist / conversion
            } else {
                p.score
            };
            (p.member, score)
        })
        .collect();
    let n = entries.len();
    let shard = locked.shard(dst_shard);
    if entries.is_empty() {
        if let Some(p) = shard.lookup(&op, dst_hash, dst) {
            shard.remove(p);
            op.emit(dst, event::DEL);
        }
    } else {
        let longest = entries.iter().map(|e| e.0.len()).max().unwrap_or(0);
        let mut z = ZSet::with_hint(n, longest, &limits);
        for (m, s) in &entries {
            z.insert(m, *s, &limits);
        }
        shard.upsert(&op, dst_hash, dst, Value::ZSet(Box::new(z)), false);
        op.emit(dst, ev);
    }
    cx.out.int(n as i64);
    Ok(())
}

/// The reply of a search without STORE: members, each with the options asked for.
fn write_points(out: &mut ReplyWriter, o: &Outcome) {
    let Some(points) = &o.points else {
        out.array(0);
        return;
    };
    let options = usize::from(o.withdist) + usize::from(o.withhash) + usize::from(o.withcoord);
    out.array(o.returned);
    for p in points.iter().take(o.returned) {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&p.member);
        if o.withdist {
            out.bulk(distance_text(p.dist / o.conversion).as_bytes());
        }
        if o.withhash {
            out.int(p.score as i64);
        }
        if o.withcoord {
            out.array(2);
            reply_coord(out, p.xy[0]);
            reply_coord(out, p.xy[1]);
        }
    }
}

fn georadius(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    georadius_generic(cx, args, Variant::Radius, false)
}

fn georadiusbymember(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    georadius_generic(cx, args, Variant::RadiusMember, false)
}

fn georadius_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    georadius_generic(cx, args, Variant::Radius, true)
}

fn georadiusbymember_ro(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    georadius_generic(cx, args, Variant::RadiusMember, true)
}

fn geosearch(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    georadius_generic(cx, args, Variant::Search, true)
}

fn geosearchstore(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    georadius_generic(cx, args, Variant::SearchStore, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_as_string2d() {
        let e = errors::NOT_FLOAT;
        assert_eq!(parse_double(b"1.5", e.clone()), Ok(1.5));
        assert_eq!(parse_double(b"-inf", e.clone()), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"+2e3", e.clone()), Ok(2000.0));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"abc",
            b"--1",
            b"1e",
        ] {
            assert!(parse_double(bad, e.clone()).is_err(), "{bad:?}");
        }
        assert_eq!(parse_double(b"0e-400", e.clone()), Ok(0.0));
        assert_eq!(parse_double(b"0x10", e.clone()), Ok(16.0));
        assert_eq!(parse_double(b"-0x1.8p1", e.clone()), Ok(-3.0));
        assert_eq!(parse_double(b"0x.8", e.clone()), Ok(0.5));
        for bad in [&b"0x"[..], b"0x1p", b"0x1g", b"0x1p99999", b"0x1p-99999"] {
            assert!(parse_double(bad, e.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn number_formats_as_redis() {
        assert_eq!(distance_text(166274.15156960033 / 1000.0), "166.2742");
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(0.00005), "0.0000");
        assert_eq!(distance_text(1.23456), "1.2346");
        assert_eq!(human_text(13.361389338970184), "13.36138933897018433");
        assert_eq!(human_text(38.1155563954963), "38.11555639549629859");
        assert_eq!(human_text(-0.0), "0");
        assert_eq!(human_text(180.0), "180");
    }

    #[test]
    fn store_key_prescan_follows_the_grammar() {
        let args: Vec<Bytes> = [
            "georadius",
            "k",
            "1",
            "2",
            "3",
            "km",
            "count",
            "store",
            "store",
            "d",
        ]
        .iter()
        .map(|s| Bytes::from(s.to_string()))
        .collect();
        assert_eq!(prescan_store(&args, 6), Some(9));
        let args: Vec<Bytes> = ["georadius", "k", "1", "2", "3", "km", "bogus", "store", "d"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert_eq!(prescan_store(&args, 6), None);
    }
}
