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
/// lock, so the file is one point in time). Returns the number of keys written.
pub fn write_file<W: Write>(out: W, dbs: &Dbs, now_ms: u64, opts: &SaveOptions) -> io::Result<u64> {
    let mut w = CrcWriter {
        inner: out,
        crc: 0,
        checksum: opts.checksum,
    };
    let mut buf = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(format!("REDIS{:04}", opts.version.number()).as_bytes());
    let mut o = Out {
        buf: &mut buf,
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
    let mut keys = 0u64;
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
        let mut o = Out {
            buf: &mut buf,
            compress: opts.compress,
            version: opts.version,
        };
        o.byte(op::SELECTDB);
        o.len(db as u64);
        o.byte(op::RESIZEDB);
        o.len(size);
        o.len(volatile);
        for i in 0..d.shard_count() {
            let s = d.lock(i);
            for pos in 0..s.len() {
                if s.expired_at(pos, now_ms) {
                    continue;
                }
                if let Some(at) = s.expire_at(pos) {
                    buf.push(op::EXPIRETIME_MS);
                    buf.extend_from_slice(&at.to_le_bytes());
                }
                let value = s.value(pos);
                let t = type_of(value, opts.version);
                buf.push(t);
                Out {
                    buf: &mut buf,
                    compress: opts.compress,
                    version: opts.version,
                }
                .string(s.key(pos));
                write_body(&mut buf, value, t, opts.compress, opts.version);
                keys += 1;
                if buf.len() >= 1 << 16 {
                    w.put(&buf)?;
                    buf.clear();
                }
            }
        }
    }
    buf.push(op::EOF);
    w.put(&buf)?;
    let crc = if opts.checksum { w.crc } else { 0 };
    w.inner.write_all(&crc.to_le_bytes())?;
    w.inner.flush()?;
    Ok(keys)
}
