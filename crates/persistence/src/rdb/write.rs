//! Writing RDB: values in Redis's encodings (`rdbSaveObject`) and whole files.

use std::io::{self, Write};

use keyspace::types::stream::StreamId;
use keyspace::types::{Hash, List, Set, Stream, ZSet};
use keyspace::{Dbs, Value};

use super::{container, enc, module_op, op, stream_flag, ty};
use crate::crc64::crc64;
use crate::listpack::Builder;
use crate::{lzf, ziplist};

/// The RDB format version written. Redis 7.0 reads up to 10, 7.2 up to 11, 7.4 up to 12.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// What Redis 7.0 writes: sets in listpack form are written as plain sets, streams
    /// without consumers' active time (`STREAM_LISTPACKS_2`).
    V10,
    /// What Redis 7.2 writes: `SET_LISTPACK` and `STREAM_LISTPACKS_3`.
    V11,
}

impl Version {
    pub fn number(self) -> u16 {
        match self {
            Version::V10 => 10,
            Version::V11 => 11,
        }
    }
}

/// How to write a file.
#[derive(Clone, Debug)]
pub struct SaveOptions {
    pub version: Version,
    /// `rdbcompression`: LZF for strings longer than 20 bytes when it saves space.
    pub compress: bool,
    /// `rdbchecksum`: the CRC64 trailer (0 when off).
    pub checksum: bool,
    /// The `redis-ver` aux field.
    pub redis_ver: String,
    /// The `used-mem` aux field.
    pub used_mem: u64,
    /// The `aof-base` aux field (1 in an AOF's RDB preamble).
    pub aof_base: bool,
    /// The `ctime` aux field (Unix seconds).
    pub ctime: u64,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            version: Version::V10,
            compress: true,
            checksum: true,
            redis_ver: "7.4.0".into(),
            used_mem: 0,
            aof_base: false,
            ctime: 0,
        }
    }
}

/// Bytes out, with options.
pub(crate) struct Out<'a> {
    pub buf: &'a mut Vec<u8>,
    pub compress: bool,
    pub version: Version,
}

pub(crate) fn put_len(buf: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        buf.push(len as u8);
    } else if len < 1 << 14 {
        buf.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u32::MAX as u64 {
        buf.push(0x80);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        buf.push(0x81);
        buf.extend_from_slice(&len.to_be_bytes());
    }
}

/// `rdbEncodeInteger`: the integer forms of a string, for values that fit 32 bits.
fn put_int_encoded(buf: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        buf.extend_from_slice(&[0xc0 | enc::INT8, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        buf.push(0xc0 | enc::INT16);
        buf.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        buf.push(0xc0 | enc::INT32);
        buf.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

impl Out<'_> {
    fn len(&mut self, len: u64) {
        put_len(self.buf, len);
    }

    fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// `rdbSaveRawString`: integer form for short canonical integers, LZF when enabled and
    /// it saves space, else verbatim.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(v) = keyspace::parse_canonical_i64(s) {
                if put_int_encoded(self.buf, v) {
                    return;
                }
            }
        }
        if self.compress && s.len() > 20 {
            if let Some(c) = lzf::compress(s, s.len() - 4) {
                self.byte(0xc0 | enc::LZF);
                self.len(c.len() as u64);
                self.len(s.len() as u64);
                self.buf.extend_from_slice(&c);
                return;
            }
        }
        self.len(s.len() as u64);
        self.buf.extend_from_slice(s);
    }

    /// `rdbSaveLongLongAsStringObject`.
    fn int_string(&mut self, v: i64) {
        if !put_int_encoded(self.buf, v) {
            let mut b = itoa::Buffer::new();
            let s = b.format(v);
            self.len(s.len() as u64);
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    fn id(&mut self, id: StreamId) {
        self.buf.extend_from_slice(&id.ms.to_be_bytes());
        self.buf.extend_from_slice(&id.seq.to_be_bytes());
    }

    fn ms_time(&mut self, t: i64) {
        self.buf.extend_from_slice(&t.to_le_bytes());
    }
}

/// The type byte of `v` as it will be written.
pub fn type_of(v: &Value, version: Version) -> u8 {
    match v {
        Value::Inline { .. } | Value::Heap(_) | Value::Int(_) => ty::STRING,
        Value::List(_) => ty::LIST_QUICKLIST_2,
        Value::Set(s) if s.is_intset() => ty::SET_INTSET,
        Value::Set(s) if !s.is_table() && version == Version::V11 => ty::SET_LISTPACK,
        Value::Set(_) => ty::SET,
        Value::ZSet(z) if z.encoding() == "listpack" => ty::ZSET_LISTPACK,
        Value::ZSet(_) => ty::ZSET_2,
        Value::Hash(h) if h.is_packed() => ty::HASH_LISTPACK,
        Value::Hash(_) => ty::HASH,
        Value::Stream(_) if version == Version::V11 => ty::STREAM_LISTPACKS_3,
        Value::Stream(_) => ty::STREAM_LISTPACKS_2,
        Value::Json(_) => ty::MODULE_2,
    }
}

/// Appends the type byte and the encoded value (`rdbSaveObjectType` + `rdbSaveObject`).
pub fn write_value(buf: &mut Vec<u8>, v: &Value, compress: bool, version: Version) {
    let t = type_of(v, version);
    buf.push(t);
    write_body(buf, v, t, compress, version);
}

/// Appends the encoded value of type `t` (`rdbSaveObject`).
fn write_body(buf: &mut Vec<u8>, v: &Value, t: u8, compress: bool, version: Version) {
    let mut o = Out {
        buf,
        compress,
        version,
    };
    match v {
        Value::Int(i) => o.int_string(*i),
        Value::Inline { .. } | Value::Heap(_) => {
            let mut b = itoa::Buffer::new();
            o.string(v.as_bytes(&mut b).unwrap_or_default());
        }
        Value::List(l) => write_list(&mut o, l),
        Value::Set(s) => write_set(&mut o, s, t),
        Value::ZSet(z) => write_zset(&mut o, z, t),
        Value::Hash(h) => write_hash(&mut o, h, t),
        Value::Stream(s) => write_stream(&mut o, s),
        Value::Json(d) => {
            // RedisJSON's record: the module id, then the document as one JSON string.
            let id = super::module_type_id(super::JSON_MODULE_NAME, super::JSON_ENCVER)
                .unwrap_or_default();
            o.len(id);
            o.len(module_op::STRING);
            o.string(json::ser::to_string(d.root.node()).as_bytes());
            o.len(module_op::EOF);
        }
    }
}

/// Listpack nodes of at most 8 KB (Redis's `SIZE_SAFETY_LIMIT`), or `fill` entries.
const NODE_BYTES: usize = 8192;

fn write_list(o: &mut Out<'_>, l: &List) {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut b = Builder::new();
    for item in l.iter() {
        if !b.is_empty() && b.byte_len() + item.len() + 11 > NODE_BYTES {
            nodes.push(std::mem::take(&mut b).finish());
        }
        b.push(item);
    }
    if !b.is_empty() {
        nodes.push(b.finish());
    }
    o.len(nodes.len() as u64);
    for n in nodes {
        o.len(container::PACKED);
        o.string(&n);
    }
}

fn write_set(o: &mut Out<'_>, s: &Set, t: u8) {
    match t {
        ty::SET_INTSET => {
            let mut v: Vec<i64> = s.iter().filter_map(|m| m.as_int()).collect();
            v.sort_unstable();
            o.string(&ziplist::intset_encode(&v));
        }
        ty::SET_LISTPACK => {
            let mut b = Builder::new();
            for m in s.iter() {
                m.with_bytes(|x| b.push(x));
            }
            o.string(&b.finish());
        }
        _ => {
            o.len(s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|x| o.string(x));
            }
        }
    }
}

fn write_zset(o: &mut Out<'_>, z: &ZSet, t: u8) {
    if t == ty::ZSET_LISTPACK {
        let mut b = Builder::new();
        for (m, s) in z.iter() {
            b.push(m);
            b.push(&super::score_text(s));
        }
        o.string(&b.finish());
    } else {
        // Highest first, as Redis writes them (so loading appends at the head).
        let items: Vec<(&[u8], f64)> = z.iter().collect();
        o.len(items.len() as u64);
        for (m, s) in items.into_iter().rev() {
            o.string(m);
            o.buf.extend_from_slice(&s.to_le_bytes());
        }
    }
}

/// The live fields of a hash with field TTLs at `now_ms`: (field, value, expiry or 0).
fn live_fields(h: &Hash, now_ms: u64) -> Vec<(&[u8], &[u8], u64)> {
    h.iter()
        .filter_map(|(f, v)| match h.expire_at(f) {
            Some(at) if at <= now_ms => None,
            at => Some((f, v, at.unwrap_or(0))),
        })
        .collect()
}

/// A field, its value and its expiry time (0: none).
type LiveField<'a> = (&'a [u8], &'a [u8], u64);

/// A hash with field TTLs: its live fields at `now_ms` and the type they are written with
/// (a field-TTL type only while some live field still has a TTL).
fn volatile_hash_parts(h: &Hash, now_ms: u64) -> (u8, Vec<LiveField<'_>>) {
    let fields = live_fields(h, now_ms);
    let with_ttl = fields.iter().any(|f| f.2 != 0);
    let t = match (with_ttl, h.is_packed()) {
        (true, true) => ty::HASH_LISTPACK_EX,
        (true, false) => ty::HASH_METADATA,
        (false, true) => ty::HASH_LISTPACK,
        (false, false) => ty::HASH,
    };
    (t, fields)
}

/// Writes the body of a hash of type `t` from [`volatile_hash_parts`]; true when `t` is
/// one of RDB 12's field-TTL types.
fn write_volatile_hash_body(o: &mut Out<'_>, t: u8, fields: &mut [LiveField<'_>]) -> bool {
    match t {
        ty::HASH_LISTPACK_EX | ty::HASH_METADATA => {
            write_hash_ttl(o, fields, t);
            return true;
        }
        ty::HASH_LISTPACK => {
            let mut b = Builder::new();
            for (f, v, _) in fields.iter() {
                b.push(f);
                b.push(v);
            }
            o.string(&b.finish());
        }
        _ => {
            o.len(fields.len() as u64);
            for (f, v, _) in fields.iter() {
                o.string(f);
                o.string(v);
            }
        }
    }
    false
}

/// Appends a hash that has field TTLs (type byte, then body) as RDB 12 holds it, without
/// the fields expired at `now_ms`: `Some(true)` when written with a field-TTL type (the
/// payload must then say version 12), `Some(false)` when no live field has a TTL any more
/// (written with the plain hash types), `None` (nothing written) for any other value.
pub fn write_volatile_hash(
    buf: &mut Vec<u8>,
    v: &Value,
    compress: bool,
    now_ms: u64,
) -> Option<bool> {
    let Value::Hash(h) = v else {
        return None;
    };
    if h.volatile_len() == 0 {
        return None;
    }
    let (t, mut fields) = volatile_hash_parts(h, now_ms);
    let mut o = Out {
        buf,
        compress,
        version: Version::V10,
    };
    o.byte(t);
    Some(write_volatile_hash_body(&mut o, t, &mut fields))
}

/// A hash with field TTLs (`rdbSaveObject` for `OBJ_ENCODING_LISTPACK_EX` and a hash table
/// with expiry metadata): the smallest TTL first, then the fields.
fn write_hash_ttl(o: &mut Out<'_>, fields: &mut [(&[u8], &[u8], u64)], t: u8) {
    let min = fields
        .iter()
        .map(|f| f.2)
        .filter(|&at| at != 0)
        .min()
        .unwrap_or(0);
    o.ms_time(min as i64);
    if t == ty::HASH_LISTPACK_EX {
        // Ordered by TTL, fields without one last, as Redis keeps them.
        fields.sort_by_key(|f| if f.2 == 0 { u64::MAX } else { f.2 });
        let mut b = Builder::new();
        for (f, v, at) in fields.iter() {
            b.push(f);
            b.push(v);
            b.push_int(*at as i64);
        }
        o.string(&b.finish());
    } else {
        o.len(fields.len() as u64);
        for (f, v, at) in fields.iter() {
            o.len(if *at == 0 { 0 } else { at - min + 1 });
            o.string(f);
            o.string(v);
        }
    }
}

fn write_hash(o: &mut Out<'_>, h: &Hash, t: u8) {
    if t == ty::HASH_LISTPACK {
        let mut b = Builder::new();
        for (f, v) in h.iter() {
            b.push(f);
            b.push(v);
        }
        o.string(&b.finish());
    } else {
        o.len(h.len() as u64);
        for (f, v) in h.iter() {
            o.string(f);
            o.string(v);
        }
    }
}

/// A stream node being filled: its key (first ID), master fields and entries.
type OpenNode<'a> = (StreamId, Vec<Vec<u8>>, Vec<(StreamId, Vec<&'a [u8]>)>);

/// Stream macro nodes: at most 100 entries (`stream-node-max-entries`) and about 4 KB
/// (`stream-node-max-bytes`) each.
fn write_stream(o: &mut Out<'_>, s: &Stream) {
    struct NodeOut {
        key: StreamId,
        lp: Vec<u8>,
    }
    let mut nodes: Vec<NodeOut> = Vec::new();
    let mut cur: Option<OpenNode<'_>> = None;
    let mut cur_bytes = 0usize;
    let flush = |cur: &mut Option<OpenNode<'_>>, nodes: &mut Vec<NodeOut>| {
        if let Some((key, master, entries)) = cur.take() {
            let mut b = Builder::new();
            b.push_int(entries.len() as i64);
            b.push_int(0);
            b.push_int(master.len() as i64);
            for f in &master {
                b.push(f);
            }
            b.push_int(0);
            for (id, items) in &entries {
                let fields: Vec<&[u8]> = items.iter().step_by(2).copied().collect();
                let same = fields.len() == master.len()
                    && fields.iter().zip(&master).all(|(a, b)| *a == b.as_slice());
                b.push_int(if same { stream_flag::SAMEFIELDS } else { 0 });
                b.push_int(id.ms.wrapping_sub(key.ms) as i64);
                b.push_int(id.seq.wrapping_sub(key.seq) as i64);
                let n = fields.len();
                if same {
                    for v in items.iter().skip(1).step_by(2) {
                        b.push(v);
                    }
                    b.push_int(n as i64 + 3);
                } else {
                    b.push_int(n as i64);
                    for x in items {
                        b.push(x);
                    }
                    b.push_int(2 * n as i64 + 4);
                }
            }
            nodes.push(NodeOut {
                key,
                lp: b.finish(),
            });
        }
    };
    for (id, fields) in s.range(StreamId::MIN, StreamId::MAX, false) {
        let items: Vec<&[u8]> = fields.iter().collect();
        let size: usize = items.iter().map(|i| i.len() + 2).sum::<usize>() + 6;
        let full = match &cur {
            Some((_, _, e)) => e.len() >= 100 || cur_bytes + size > 4096,
            None => false,
        };
        if full {
            flush(&mut cur, &mut nodes);
        }
        match &mut cur {
            Some((_, _, e)) => {
                e.push((id, items));
                cur_bytes += size;
            }
            None => {
                let master = items.iter().step_by(2).map(|f| f.to_vec()).collect();
                cur = Some((id, master, vec![(id, items)]));
                cur_bytes = size;
            }
        }
    }
    flush(&mut cur, &mut nodes);

    o.len(nodes.len() as u64);
    for n in &nodes {
        let mut key = Vec::with_capacity(16);
        key.extend_from_slice(&n.key.ms.to_be_bytes());
        key.extend_from_slice(&n.key.seq.to_be_bytes());
        o.string(&key);
        o.string(&n.lp);
    }
    o.len(s.len() as u64);
    o.len(s.last_id.ms);
    o.len(s.last_id.seq);
    o.len(s.first_id.ms);
    o.len(s.first_id.seq);
    o.len(s.max_deleted_id.ms);
    o.len(s.max_deleted_id.seq);
    o.len(s.entries_added);
    o.len(s.groups.len() as u64);
    for (name, g) in &s.groups {
        o.string(name);
        o.len(g.last_id.ms);
        o.len(g.last_id.seq);
        o.len(g.entries_read as u64);
        o.len(g.pel.len() as u64);
        for (id, nack) in &g.pel {
            o.id(*id);
            o.ms_time(nack.delivery_time);
            o.len(nack.delivery_count);
        }
        o.len(g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            o.string(cname);
            o.ms_time(c.seen_time);
            if o.version == Version::V11 {
                o.ms_time(c.active_time);
            }
            o.len(c.pel.len() as u64);
            for id in &c.pel {
                o.id(*id);
            }
        }
    }
}

/// What [`write_record`] did with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Expired at the snapshot time (or a hash whose fields all expired): nothing written.
    Skipped,
    Written,
    /// Written with RDB 12's hash-field-TTL types: the file must say version 12.
    WrittenV12,
}

/// Appends one key's record (`rdbSaveKeyValuePair`): EXPIRETIME_MS when it has a TTL, the
/// type, the key, the value. Keys expired at `now_ms` are skipped, and so are hash fields;
/// a hash with live field TTLs is written as `HASH_LISTPACK_EX` (packed) or
/// `HASH_METADATA`.
pub fn write_record(
    buf: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_at: Option<u64>,
    now_ms: u64,
    opts: &SaveOptions,
) -> Record {
    if expire_at.is_some_and(|at| at <= now_ms) {
        return Record::Skipped;
    }
    let mut o = Out {
        buf: &mut *buf,
        compress: opts.compress,
        version: opts.version,
    };
    if let Value::Hash(h) = value {
        if h.volatile_len() > 0 {
            let (t, mut fields) = volatile_hash_parts(h, now_ms);
            if fields.is_empty() {
                return Record::Skipped;
            }
            if let Some(at) = expire_at {
                o.byte(op::EXPIRETIME_MS);
                o.ms_time(at as i64);
            }
            o.byte(t);
            o.string(key);
            return if write_volatile_hash_body(&mut o, t, &mut fields) {
                Record::WrittenV12
            } else {
                Record::Written
            };
        }
    }
    if let Some(at) = expire_at {
        o.byte(op::EXPIRETIME_MS);
        o.ms_time(at as i64);
    }
    let t = type_of(value, opts.version);
    o.byte(t);
    o.string(key);
    write_body(buf, value, t, opts.compress, opts.version);
    Record::Written
}

/// Appends the file header: `REDIS` and the version, then the aux fields.
pub fn write_header(buf: &mut Vec<u8>, opts: &SaveOptions) {
    buf.extend_from_slice(format!("REDIS{:04}", opts.version.number()).as_bytes());
    let mut o = Out {
        buf,
        compress: opts.compress,
        version: opts.version,
    };
    let aux = |o: &mut Out<'_>, k: &str, v: &[u8]| {
        o.byte(op::AUX);
        o.string(k.as_bytes());
        o.string(v);
    };
    aux(&mut o, "redis-ver", opts.redis_ver.as_bytes());
    aux(&mut o, "redis-bits", b"64");
    aux(&mut o, "ctime", opts.ctime.to_string().as_bytes());
    aux(&mut o, "used-mem", opts.used_mem.to_string().as_bytes());
    aux(&mut o, "aof-base", if opts.aof_base { b"1" } else { b"0" });
}

/// Appends SELECTDB `db` and, with sizes, the RESIZEDB hint.
pub fn write_select(buf: &mut Vec<u8>, db: usize, sizes: Option<(u64, u64)>) {
    buf.push(op::SELECTDB);
    put_len(buf, db as u64);
    if let Some((keys, volatile)) = sizes {
        buf.push(op::RESIZEDB);
        put_len(buf, keys);
        put_len(buf, volatile);
    }
}

/// Rewrites the version of a finished file from 10 to `version` in place and returns the
/// checksum the changed file has (the CRC64 is linear: the old checksum xor the checksum of
/// the difference). `crc` is the old checksum (0 when checksums are off, which stays 0);
/// `len` is the length of the checksummed part (the whole file less the 8-byte trailer).
pub fn set_version(header: &mut [u8; 9], version: u16, crc: u64, len: u64) -> u64 {
    let mut diff = [0u8; 9];
    let new = format!("REDIS{version:04}");
    for (i, b) in new.bytes().enumerate() {
        diff[i] = header[i] ^ b;
        header[i] = b;
    }
    if crc == 0 {
        return 0;
    }
    let mut d = crc64(0, &diff);
    let zeros = [0u8; 1 << 16];
    let mut left = len.saturating_sub(9);
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        d = crc64(d, &zeros[..n]);
        left -= n as u64;
    }
    crc ^ d
}

/// A writer that keeps the CRC64 of what went through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: u64,
    checksum: bool,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64(self.crc, b);
        }
        self.inner.write_all(b)
    }
}

/// Writes a whole RDB file of `dbs` (every shard locked in turn; the caller holds the world
/// lock, so the file is one point in time). Returns the number of keys written and whether
/// a hash with field TTLs was (the file then needs version 12: see [`set_version`]), with
/// the checksum written.
pub fn write_file<W: Write>(
    out: W,
    dbs: &Dbs,
    now_ms: u64,
    opts: &SaveOptions,
) -> io::Result<FileSummary> {
    let mut w = CrcWriter {
        inner: out,
        crc: 0,
        checksum: opts.checksum,
    };
    let mut buf = Vec::with_capacity(1 << 16);
    write_header(&mut buf, opts);
    let mut sum = FileSummary::default();
    for db in 0..dbs.len() {
        let d = dbs.db(db);
        let (mut size, mut volatile) = (0u64, 0u64);
        for i in 0..d.shard_count() {
            let s = d.lock(i);
            size += s.len() as u64;
            volatile += s.volatile_len() as u64;
        }
        if size == 0 {
            continue;
        }
        write_select(&mut buf, db, Some((size, volatile)));
        for i in 0..d.shard_count() {
            let s = d.lock(i);
            for pos in 0..s.len() {
                match write_record(
                    &mut buf,
                    s.key(pos),
                    s.value(pos),
                    s.expire_at(pos),
                    now_ms,
                    opts,
                ) {
                    Record::Skipped => continue,
                    Record::Written => {}
                    Record::WrittenV12 => sum.field_ttls = true,
                }
                sum.keys += 1;
                if buf.len() >= 1 << 16 {
                    w.put(&buf)?;
                    sum.bytes += buf.len() as u64;
                    buf.clear();
                }
            }
        }
    }
    buf.push(op::EOF);
    w.put(&buf)?;
    sum.bytes += buf.len() as u64;
    sum.crc = if opts.checksum { w.crc } else { 0 };
    w.inner.write_all(&sum.crc.to_le_bytes())?;
    sum.bytes += 8;
    w.inner.flush()?;
    Ok(sum)
}

/// What writing a file produced.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileSummary {
    pub keys: u64,
    /// Bytes written, the trailer included.
    pub bytes: u64,
    /// The checksum in the trailer (0 when off).
    pub crc: u64,
    /// A hash with field TTLs was written: the file needs version 12.
    pub field_ttls: bool,
}
