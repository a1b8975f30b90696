//! Reading RDB: whole files (`rdbLoad`) and single values (`rdbLoadObject`, for RESTORE).
//! Every length is checked against the bytes left before anything is allocated, so a
//! corrupt or hostile file gets an error naming the offset, never a panic or a huge
//! allocation.

use std::borrow::Cow;
use std::fmt;

use keyspace::types::stream::{Consumer, Group, Nack, StreamId};
use keyspace::types::{Hash, Limits, List, Set, Stream, ZSet};
use keyspace::Value;

use super::{container, enc, module_op, op, stream_flag, ty};
use crate::crc64::crc64;
use crate::listpack::{self, Entry};
use crate::{lzf, ziplist};

/// A load failure: what was wrong and where (byte offset in the file or payload).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RdbError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.message, self.offset)
    }
}

impl std::error::Error for RdbError {}

type Result<T> = std::result::Result<T, RdbError>;

/// How to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Encoding thresholds for the values built.
    pub limits: Limits,
    /// `rdbchecksum`: verify the CRC64 trailer (a zero trailer is never checked).
    pub verify_checksum: bool,
    /// Keys whose expiry time is at or before this (ms) are skipped; 0 keeps all.
    pub now_ms: u64,
}

/// One key read from a file.
#[derive(Debug)]
pub struct Item {
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    pub expire_ms: Option<u64>,
    /// OBJECT IDLETIME recorded with the key (seconds), if any.
    pub idle: Option<u64>,
    /// OBJECT FREQ (the LFU counter) recorded with the key, if any.
    pub freq: Option<u8>,
    /// The offset in the file right after this key (loading progress).
    pub end: usize,
}

/// What a load found besides the keys.
#[derive(Debug, Default)]
pub struct Summary {
    pub version: u16,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub keys: u64,
    pub expired_skipped: u64,
    pub empty_skipped: u64,
    /// Function libraries in the file (not loaded: their code is only counted).
    pub functions_skipped: u64,
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Len {
    Len(u64),
    Enc(u8),
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T> {
        Err(RdbError {
            offset: self.pos,
            message: msg.into(),
        })
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.left() {
            return self.err(format!("unexpected end of data (wanted {n} bytes)"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len_or_enc(&mut self) -> Result<Len> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Len((b & 0x3f) as u64),
            1 => Len::Len((((b & 0x3f) as u64) << 8) | self.u8()? as u64),
            2 => match b {
                0x80 => Len::Len(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Len::Len(u64::from_be_bytes(self.array()?)),
                _ => return self.err(format!("unknown length encoding {b:#x}")),
            },
            _ => Len::Enc(b & 0x3f),
        })
    }

    fn len(&mut self) -> Result<u64> {
        match self.len_or_enc()? {
            Len::Len(n) => Ok(n),
            Len::Enc(_) => self.err("encoded string where a length was expected"),
        }
    }

    /// A count of elements, each needing at least `min_bytes` more bytes of input.
    fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.len()?;
        if n.saturating_mul(min_bytes as u64) > self.left() as u64 {
            self.pos = at;
            return self.err(format!("length {n} larger than the data left"));
        }
        Ok(n as usize)
    }

    pub(crate) fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.len_or_enc()? {
            Len::Len(n) => {
                if n > self.left() as u64 {
                    return self.err(format!("string length {n} larger than the data left"));
                }
                Ok(Cow::Borrowed(self.take(n as usize)?))
            }
            Len::Enc(enc::INT8) => Ok(Cow::Owned(int_bytes(self.u8()? as i8 as i64))),
            Len::Enc(enc::INT16) => Ok(Cow::Owned(int_bytes(
                i16::from_le_bytes(self.array()?) as i64
            ))),
            Len::Enc(enc::INT32) => Ok(Cow::Owned(int_bytes(
                i32::from_le_bytes(self.array()?) as i64
            ))),
            Len::Enc(enc::LZF) => {
                let clen = self.len()?;
                let len = self.len()?;
                if clen > self.left() as u64 {
                    return self.err("compressed length larger than the data left");
                }
                let at = self.pos;
                let data = self.take(clen as usize)?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                lzf::decompress(data, len)
                    .map(Cow::Owned)
                    .map_err(|e| RdbError {
                        offset: at,
                        message: format!("invalid LZF data: {e}"),
                    })
            }
            Len::Enc(e) => self.err(format!("unknown string encoding {e}")),
        }
    }

    fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// `rdbLoadDoubleValue`: a length byte then ASCII (253 NaN, 254 +inf, 255 -inf).
    fn ascii_double(&mut self) -> Result<f64> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let b = self.take(n as usize)?;
                match std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                {
                    Some(v) => Ok(v),
                    None => self.err("invalid double"),
                }
            }
        }
    }

    fn ms_time(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn raw_id(&mut self) -> Result<StreamId> {
        let b: [u8; 16] = self.array()?;
        Ok(id_from_key(&b))
    }
}

fn id_from_key(b: &[u8; 16]) -> StreamId {
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..]);
    StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
}

fn int_bytes(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Loads a whole RDB file held in memory, calling `f` for every key.
pub fn load(
    buf: &[u8],
    opts: &LoadOptions,
    mut f: impl FnMut(Item) -> std::result::Result<(), String>,
) -> Result<Summary> {
    let mut r = Reader::new(buf);
    let magic = r.take(9)?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError {
            offset: 0,
            message: "wrong signature trying to load DB from file".into(),
        });
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|v| (1..=12).contains(v))
        .ok_or(RdbError {
            offset: 5,
            message: format!(
                "can't handle RDB format version {}",
                String::from_utf8_lossy(&magic[5..])
            ),
        })?;
    let mut sum = Summary {
        version,
        ..Summary::default()
    };
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    loop {
        let at = r.pos;
        let t = r.u8()?;
        match t {
            op::EXPIRETIME_MS => {
                expire = Some(r.ms_time()? as u64);
                continue;
            }
            op::EXPIRETIME => {
                expire = Some(u32::from_le_bytes(r.array()?) as u64 * 1000);
                continue;
            }
            op::IDLE => {
                idle = Some(r.len()?);
                continue;
            }
            op::FREQ => {
                freq = Some(r.u8()?);
                continue;
            }
            op::SELECTDB => {
                let n = r.len()?;
                db = usize::try_from(n).unwrap_or(usize::MAX);
                continue;
            }
            op::RESIZEDB => {
                r.len()?;
                r.len()?;
                continue;
            }
            op::SLOT_INFO => {
                r.len()?;
                r.len()?;
                r.len()?;
                continue;
            }
            op::AUX => {
                let k = r.string()?.into_owned();
                let v = r.string()?.into_owned();
                sum.aux.push((k, v));
                continue;
            }
            op::MODULE_AUX => {
                return Err(RdbError {
                    offset: at,
                    message: "module auxiliary data is not supported".into(),
                });
            }
            op::FUNCTION2 => {
                r.string()?;
                sum.functions_skipped += 1;
                continue;
            }
            op::FUNCTION_PRE_GA => {
                return Err(RdbError {
                    offset: at,
                    message: "pre-release function format is not supported".into(),
                });
            }
            op::EOF => {
                if version >= 5 {
                    let end = r.pos;
                    let stored = u64::from_le_bytes(r.array()?);
                    if opts.verify_checksum && stored != 0 {
                        let crc = crc64(0, &buf[..end]);
                        if crc != stored {
                            return Err(RdbError {
                                offset: end,
                                message: format!(
                                    "wrong RDB checksum (expected {stored:#018x}, got {crc:#018x})"
                                ),
                            });
                        }
                    }
                }
                return Ok(sum);
            }
            _ => {}
        }
        let key = r.string()?.into_owned();
        let value = match read_body(&mut r, t, &opts.limits, opts.now_ms) {
            Ok(v) => v,
            Err(e) if e.message == EMPTY => {
                sum.empty_skipped += 1;
                expire = None;
                idle = None;
                freq = None;
                continue;
            }
            Err(e) => return Err(e),
        };
        let exp = expire.take();
        let idle_now = idle.take();
        let freq_now = freq.take();
        if opts.now_ms != 0 && exp.is_some_and(|e| e <= opts.now_ms) {
            sum.expired_skipped += 1;
            continue;
        }
        f(Item {
            db,
            key,
            value,
            expire_ms: exp,
            idle: idle_now,
            freq: freq_now,
            end: r.pos,
        })
        .map_err(|m| RdbError {
            offset: at,
            message: m,
        })?;
        sum.keys += 1;
    }
}

/// Reads one value (type byte then body), as RESTORE does with a payload's body.
pub fn load_value(buf: &[u8], limits: &Limits) -> Result<Value> {
    let mut r = Reader::new(buf);
    let t = r.u8()?;
    read_body(&mut r, t, limits, 0)
}

const EMPTY: &str = "empty key";

/// Reads a value of type `t`. Hash fields whose TTL is at or before `now_ms` are dropped
/// (0 keeps all).
fn read_body(r: &mut Reader<'_>, t: u8, limits: &Limits, now_ms: u64) -> Result<Value> {
    let at = r.pos;
    let bad = |m: &str| RdbError {
        offset: at,
        message: m.to_string(),
    };
    let wrap = |m: &'static str| RdbError {
        offset: at,
        message: m.to_string(),
    };
    let v = match t {
        ty::STRING => Value::string_from_vec(r.string()?.into_owned()),
        ty::LIST => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?.into_owned());
            }
            list_of(items, limits)?
        }
        ty::SET => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?.into_owned());
            }
            set_of(items, limits).map_err(&bad)?
        }
        ty::ZSET | ty::ZSET_2 => {
            let n = r.count(2)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?.into_owned();
                let s = if t == ty::ZSET_2 {
                    r.binary_double()?
                } else {
                    r.ascii_double()?
                };
                if s.is_nan() {
                    return Err(bad("sorted set score is NaN"));
                }
                items.push((m, s));
            }
            zset_of(items, limits).map_err(&bad)?
        }
        ty::HASH => {
            let n = r.count(2)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let f = r.string()?.into_owned();
                let v = r.string()?.into_owned();
                items.push((f, v));
            }
            hash_of(items, limits).map_err(&bad)?
        }
        ty::MODULE_2 => read_module(r)?,
        ty::HASH_ZIPMAP => {
            let blob = r.string()?;
            let pairs = ziplist::decode_zipmap(&blob).map_err(wrap)?;
            hash_of(
                pairs
                    .into_iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect(),
                limits,
            )
            .map_err(&bad)?
        }
        ty::LIST_ZIPLIST => {
            let blob = r.string()?;
            let e = ziplist::decode(&blob).map_err(wrap)?;
            list_of(e.into_iter().map(Entry::to_vec).collect(), limits)?
        }
        ty::SET_INTSET => {
            let blob = r.string()?;
            let ints = ziplist::decode_intset(&blob).map_err(wrap)?;
            set_of(ints.into_iter().map(int_bytes).collect(), limits).map_err(&bad)?
        }
        ty::SET_LISTPACK => {
            let blob = r.string()?;
            let e = listpack::decode(&blob).map_err(wrap)?;
            set_of(e.into_iter().map(Entry::to_vec).collect(), limits).map_err(&bad)?
        }
        ty::ZSET_ZIPLIST | ty::ZSET_LISTPACK => {
            let blob = r.string()?;
            let e = if t == ty::ZSET_ZIPLIST {
                ziplist::decode(&blob)
            } else {
                listpack::decode(&blob)
            }
            .map_err(wrap)?;
            if e.len() % 2 != 0 {
                return Err(bad("sorted set with an odd number of entries"));
            }
            let mut items = Vec::with_capacity(e.len() / 2);
            for p in e.chunks_exact(2) {
                let s = match p[1] {
                    Entry::Int(i) => i as f64,
                    Entry::Str(s) => {
                        parse_score(s).ok_or_else(|| bad("invalid sorted set score"))?
                    }
                };
                items.push((p[0].to_vec(), s));
            }
            zset_of(items, limits).map_err(&bad)?
        }
        ty::HASH_ZIPLIST | ty::HASH_LISTPACK => {
            let blob = r.string()?;
            let e = if t == ty::HASH_ZIPLIST {
                ziplist::decode(&blob)
            } else {
                listpack::decode(&blob)
            }
            .map_err(wrap)?;
            if e.len() % 2 != 0 {
                return Err(bad("hash with an odd number of entries"));
            }
            let items = e
                .chunks_exact(2)
                .map(|p| (p[0].to_vec(), p[1].to_vec()))
                .collect();
            hash_of(items, limits).map_err(&bad)?
        }
        ty::LIST_QUICKLIST | ty::LIST_QUICKLIST_2 => {
            let n = r.count(1)?;
            let mut items = Vec::new();
            for _ in 0..n {
                let c = if t == ty::LIST_QUICKLIST_2 {
                    r.len()?
                } else {
                    container::PACKED
                };
                let node_at = r.pos;
                let blob = r.string()?;
                let wrap_at = |m: &'static str| RdbError {
                    offset: node_at,
                    message: m.to_string(),
                };
                match c {
                    container::PLAIN => items.push(blob.into_owned()),
                    container::PACKED => {
                        let e = if t == ty::LIST_QUICKLIST {
                            ziplist::decode(&blob)
                        } else {
                            listpack::decode(&blob)
                        }
                        .map_err(wrap_at)?;
                        items.extend(e.into_iter().map(Entry::to_vec));
                    }
                    _ => return Err(wrap_at("unknown quicklist node container")),
                }
            }
            list_of(items, limits)?
        }
        ty::STREAM_LISTPACKS | ty::STREAM_LISTPACKS_2 | ty::STREAM_LISTPACKS_3 => {
            read_stream(r, t)?
        }
        ty::HASH_METADATA | ty::HASH_METADATA_PRE_GA => {
            let min = if t == ty::HASH_METADATA {
                r.ms_time()? as u64
            } else {
                0
            };
            let n = r.count(3)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let ttl = r.len()?;
                let at = match (t, ttl) {
                    (_, 0) => 0,
                    (ty::HASH_METADATA, ttl) => (ttl - 1)
                        .checked_add(min)
                        .ok_or_else(|| bad("invalid hash field TTL"))?,
                    (_, ttl) => ttl,
                };
                let f = r.string()?.into_owned();
                let v = r.string()?.into_owned();
                items.push((f, v, at));
            }
            hash_with_ttls(items, limits, now_ms).map_err(&bad)?
        }
        ty::HASH_LISTPACK_EX | ty::HASH_LISTPACK_EX_PRE_GA => {
            if t == ty::HASH_LISTPACK_EX {
                r.ms_time()?;
            }
            let blob = r.string()?;
            let e = listpack::decode(&blob).map_err(wrap)?;
            if e.len() % 3 != 0 {
                return Err(bad("hash listpack with TTLs not made of triplets"));
            }
            let mut items = Vec::with_capacity(e.len() / 3);
            for p in e.chunks_exact(3) {
                let at = p[2]
                    .as_int()
                    .filter(|&v| v >= 0)
                    .ok_or_else(|| bad("invalid hash field TTL"))?;
                items.push((p[0].to_vec(), p[1].to_vec(), at as u64));
            }
            hash_with_ttls(items, limits, now_ms).map_err(&bad)?
        }
        ty::MODULE_PRE_GA => return Err(bad("pre-release module value format is not supported")),
        _ => return Err(bad(&format!("unknown RDB value type {t}"))),
    };
    Ok(v)
}

/// Sorted-set scores in listpacks: what `strtod` reads ("inf", "-inf", decimals).
fn parse_score(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    let v: f64 = match t {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => t.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

fn empty() -> RdbError {
    RdbError {
        offset: 0,
        message: EMPTY.into(),
    }
}

fn list_of(items: Vec<Vec<u8>>, limits: &Limits) -> Result<Value> {
    if items.is_empty() {
        return Err(empty());
    }
    Ok(Value::List(Box::new(List::from_items(
        &items,
        limits.list_max_listpack_size,
    ))))
}

fn set_of(items: Vec<Vec<u8>>, limits: &Limits) -> std::result::Result<Value, &'static str> {
    let Some(first) = items.first() else {
        return Err(EMPTY);
    };
    let mut s = Set::with_first(first, items.len(), limits);
    for m in &items {
        if !s.add(m, limits) {
            return Err("duplicate set members detected");
        }
    }
    Ok(Value::Set(Box::new(s)))
}

fn zset_of(
    items: Vec<(Vec<u8>, f64)>,
    limits: &Limits,
) -> std::result::Result<Value, &'static str> {
    if items.is_empty() {
        return Err(EMPTY);
    }
    let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(items.len(), longest, limits);
    for (m, s) in &items {
        if z.insert(m, *s, limits).is_some() {
            return Err("duplicate sorted set members detected");
        }
    }
    Ok(Value::ZSet(Box::new(z)))
}

fn hash_of(
    items: Vec<(Vec<u8>, Vec<u8>)>,
    limits: &Limits,
) -> std::result::Result<Value, &'static str> {
    if items.is_empty() {
        return Err(EMPTY);
    }
    let h = Hash::from_pairs(
        items.iter().map(|(f, v)| (f.as_slice(), v.as_slice())),
        limits,
    );
    if h.len() != items.len() {
        return Err("duplicate hash fields detected");
    }
    Ok(Value::Hash(Box::new(h)))
}

/// Redis's largest field expiry time (`EB_EXPIRE_TIME_MAX`, 2^48 - 1 ms).
const FIELD_EXPIRE_MAX: u64 = (1 << 48) - 1;

/// A hash of (field, value, expiry time or 0) triplets, fields due at `now_ms` left out
/// (none when 0).
fn hash_with_ttls(
    items: Vec<(Vec<u8>, Vec<u8>, u64)>,
    limits: &Limits,
    now_ms: u64,
) -> std::result::Result<Value, &'static str> {
    if items.iter().any(|i| i.2 > FIELD_EXPIRE_MAX) {
        return Err("invalid hash field TTL");
    }
    let total = items.len();
    let live: Vec<_> = items
        .into_iter()
        .filter(|i| i.2 == 0 || now_ms == 0 || i.2 > now_ms)
        .collect();
    if total > 0 && live.is_empty() {
        return Err(EMPTY);
    }
    let Value::Hash(mut h) = hash_of(
        live.iter()
            .map(|(f, v, _)| (f.clone(), v.clone()))
            .collect(),
        limits,
    )?
    else {
        return Err("hash expected");
    };
    for (f, _, at) in &live {
        if *at != 0 {
            h.set_expire(f, *at);
        }
    }
    Ok(Value::Hash(h))
}

fn read_module(r: &mut Reader<'_>) -> Result<Value> {
    let at = r.pos;
    let id = r.len()?;
    let json_id = super::module_type_id(super::JSON_MODULE_NAME, 0).unwrap_or_default();
    if id >> 10 != json_id >> 10 {
        return Err(RdbError {
            offset: at,
            message: format!(
                "the RDB file contains module data of an unknown module type (id {id:#x})"
            ),
        });
    }
    let encver = id & 1023;
    if !(2..=3).contains(&encver) {
        return Err(RdbError {
            offset: at,
            message: format!("ReJSON-RL encoding version {encver} is not supported"),
        });
    }
    let mut doc = None;
    loop {
        let op_at = r.pos;
        match r.len()? {
            module_op::EOF => break,
            module_op::STRING if doc.is_none() => {
                let text = r.string()?;
                let parsed = std::str::from_utf8(&text)
                    .ok()
                    .and_then(|s| json::Document::parse(s).ok());
                match parsed {
                    Some(d) => doc = Some(d),
                    None => {
                        return Err(RdbError {
                            offset: op_at,
                            message: "invalid JSON document in module value".into(),
                        })
                    }
                }
            }
            module_op::SINT | module_op::UINT => {
                r.len()?;
            }
            module_op::FLOAT => {
                r.take(4)?;
            }
            module_op::DOUBLE => {
                r.take(8)?;
            }
            module_op::STRING => {
                r.string()?;
            }
            other => {
                return Err(RdbError {
                    offset: op_at,
                    message: format!("unknown module opcode {other}"),
                })
            }
        }
    }
    match doc {
        Some(d) => Ok(Value::Json(Box::new(d))),
        None => Err(RdbError {
            offset: at,
            message: "module value without a JSON document".into(),
        }),
    }
}

fn read_stream(r: &mut Reader<'_>, t: u8) -> Result<Value> {
    let mut s = Stream::default();
    let nodes = r.count(2)?;
    let mut last_seen: Option<StreamId> = None;
    for _ in 0..nodes {
        let key_at = r.pos;
        let key = r.string()?;
        let key: [u8; 16] = key.as_ref().try_into().map_err(|_| RdbError {
            offset: key_at,
            message: "stream node key is not 16 bytes".into(),
        })?;
        let master = id_from_key(&key);
        let lp_at = r.pos;
        let blob = r.string()?;
        let e = listpack::decode(&blob).map_err(|m| RdbError {
            offset: lp_at,
            message: m.to_string(),
        })?;
        let bad = |m: &str| RdbError {
            offset: lp_at,
            message: format!("invalid stream node: {m}"),
        };
        if e.is_empty() {
            return Err(bad("empty listpack inside stream"));
        }
        let mut it = e.into_iter();
        let int = |it: &mut std::vec::IntoIter<Entry<'_>>| -> Result<i64> {
            it.next()
                .and_then(Entry::as_int)
                .ok_or_else(|| bad("integer expected"))
        };
        let live = int(&mut it)?;
        let deleted = int(&mut it)?;
        let nmaster = int(&mut it)?;
        if nmaster < 0 || live < 0 || deleted < 0 || nmaster as usize > blob.len() {
            return Err(bad("bad master entry"));
        }
        let mut fields: Vec<Vec<u8>> = Vec::with_capacity(nmaster as usize);
        for _ in 0..nmaster {
            fields.push(
                it.next()
                    .ok_or_else(|| bad("truncated master entry"))?
                    .to_vec(),
            );
        }
        if int(&mut it)? != 0 {
            return Err(bad("master entry without its terminator"));
        }
        let total = (live + deleted) as usize;
        for _ in 0..total {
            let flags = int(&mut it)?;
            let ms = int(&mut it)? as u64;
            let seq = int(&mut it)? as u64;
            let id = StreamId::new(master.ms.wrapping_add(ms), master.seq.wrapping_add(seq));
            let mut items: Vec<Vec<u8>> = Vec::new();
            if flags & stream_flag::SAMEFIELDS != 0 {
                for f in &fields {
                    items.push(f.clone());
                    items.push(it.next().ok_or_else(|| bad("truncated entry"))?.to_vec());
                }
            } else {
                let n = int(&mut it)?;
                if n < 0 || n as usize > blob.len() {
                    return Err(bad("bad field count"));
                }
                for _ in 0..n * 2 {
                    items.push(it.next().ok_or_else(|| bad("truncated entry"))?.to_vec());
                }
            }
            int(&mut it)?; // lp-count
            if flags & stream_flag::DELETED != 0 {
                continue;
            }
            if last_seen.is_some_and(|l| id <= l) || id.is_zero() {
                return Err(bad("stream IDs out of order"));
            }
            last_seen = Some(id);
            s.append(id, &items);
        }
        if it.next().is_some() {
            return Err(bad("extra entries at the end of a node"));
        }
    }
    let length = r.len()?;
    if length != s.len() as u64 {
        return r.err(format!(
            "stream length {length} does not match its {} entries",
            s.len()
        ));
    }
    s.last_id = StreamId::new(r.len()?, r.len()?);
    if last_seen.is_some_and(|l| l > s.last_id) {
        return r.err("stream entry above the stream's last ID");
    }
    if t >= ty::STREAM_LISTPACKS_2 {
        s.first_id = StreamId::new(r.len()?, r.len()?);
        s.max_deleted_id = StreamId::new(r.len()?, r.len()?);
        s.entries_added = r.len()?;
    } else {
        s.first_id = s.first_entry().map(|(id, _)| id).unwrap_or(StreamId::MIN);
        s.entries_added = s.len() as u64;
    }
    let groups = r.count(3)?;
    for _ in 0..groups {
        let name = r.string()?.into_owned();
        let last_id = StreamId::new(r.len()?, r.len()?);
        let entries_read = if t >= ty::STREAM_LISTPACKS_2 {
            r.len()? as i64
        } else {
            keyspace::types::stream::INVALID_ENTRIES_READ
        };
        let mut g = Group::new(last_id, entries_read);
        let pel = r.count(16 + 8 + 1)?;
        for _ in 0..pel {
            let id = r.raw_id()?;
            let delivery_time = r.ms_time()?;
            let delivery_count = r.len()?;
            g.pel.insert(
                id,
                Nack {
                    delivery_time,
                    delivery_count,
                    consumer: Box::default(),
                },
            );
        }
        let mut assigned = std::collections::BTreeSet::new();
        let consumers = r.count(1 + 8 + 1)?;
        for _ in 0..consumers {
            let cname: Box<[u8]> = r.string()?.into_owned().into_boxed_slice();
            let seen_time = r.ms_time()?;
            let active_time = if t >= ty::STREAM_LISTPACKS_3 {
                r.ms_time()?
            } else {
                seen_time
            };
            let mut c = Consumer {
                seen_time,
                active_time,
                ..Consumer::default()
            };
            let n = r.count(16)?;
            for _ in 0..n {
                let id = r.raw_id()?;
                match g.pel.get_mut(&id) {
                    Some(nack) if assigned.insert(id) => nack.consumer = cname.clone(),
                    _ => return r.err("consumer pending entry missing from the group's PEL"),
                }
                c.pel.insert(id);
            }
            g.consumers.insert(cname, c);
        }
        if assigned.len() != g.pel.len() {
            return r.err("group pending entry without a consumer");
        }
        if s.groups.insert(name.into_boxed_slice(), g).is_some() {
            return r.err("duplicated consumer group name");
        }
    }
    Ok(Value::Stream(Box::new(s)))
}
