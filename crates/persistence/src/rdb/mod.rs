//! The RDB format (Redis's `rdb.h`/`rdb.c`): constants, the value writer and the reader.
//!
//! A file is `REDIS` + four version digits, aux fields, then per database SELECTDB,
//! RESIZEDB and its keys (optional EXPIRETIME_MS, the type byte, the key, the value), then
//! EOF and the CRC64 of everything before it (0 when checksums are off). SELECTDB may come
//! any number of times: it only says which database the following keys go to, which is what
//! lets a background snapshot write shards in whatever order they are reached.
//!
//! Files are version 10 (what Redis 7.0 reads) unless a hash has fields with a TTL: those
//! need RDB 12's `HASH_METADATA` / `HASH_LISTPACK_EX` types, and the file is then marked 12.

pub mod read;
#[cfg(test)]
mod tests;
pub mod write;

pub use read::{load, load_value, Item, LoadOptions, RdbError, Summary};
pub use write::{
    set_version, write_file, write_header, write_record, write_select, write_value,
    write_volatile_hash, FileSummary, Record, SaveOptions, Version,
};

/// Value types.
pub mod ty {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    /// RDB 12 (Redis 7.4 release candidates): a hash with field TTLs, absolute times.
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    /// RDB 12 (Redis 7.4 release candidates): a listpack of field, value, TTL triplets.
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    /// RDB 12: the smallest field TTL, then (TTL relative to it + 1, or 0; field; value).
    pub const HASH_METADATA: u8 = 24;
    /// RDB 12: the smallest field TTL, then a listpack of (field, value, TTL or 0)
    /// triplets ordered by TTL, fields without one last.
    pub const HASH_LISTPACK_EX: u8 = 25;
}

/// Opcodes between keys.
pub mod op {
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Special string encodings (after a length byte of the form 11xxxxxx).
pub(crate) mod enc {
    pub const INT8: u8 = 0;
    pub const INT16: u8 = 1;
    pub const INT32: u8 = 2;
    pub const LZF: u8 = 3;
}

/// Module value opcodes (RDB_TYPE_MODULE_2).
pub(crate) mod module_op {
    pub const EOF: u64 = 0;
    pub const SINT: u64 = 1;
    pub const UINT: u64 = 2;
    pub const FLOAT: u64 = 3;
    pub const DOUBLE: u64 = 4;
    pub const STRING: u64 = 5;
}

/// Stream entry flags.
pub(crate) mod stream_flag {
    pub const DELETED: i64 = 1;
    pub const SAMEFIELDS: i64 = 2;
}

/// Quicklist node containers.
pub(crate) mod container {
    pub const PLAIN: u64 = 1;
    pub const PACKED: u64 = 2;
}

/// Redis's module type id: nine name characters of 6 bits each, then 10 bits of encoding
/// version (`moduleTypeEncodeId`).
pub fn module_type_id(name: &str, encver: u64) -> Option<u64> {
    const CSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if name.len() != 9 || encver > 1023 {
        return None;
    }
    let mut id = 0u64;
    for c in name.bytes() {
        id = (id << 6) | CSET.iter().position(|&x| x == c)? as u64;
    }
    Some((id << 10) | encver)
}

/// RedisJSON's module type name and the encoding version written (RedisJSON 2.x).
pub const JSON_MODULE_NAME: &str = "ReJSON-RL";
pub const JSON_ENCVER: u64 = 3;

/// Formats a sorted-set score as listpacks hold it: integers as integers, others in the
/// shortest form `strtod` reads back exactly.
pub(crate) fn score_text(s: f64) -> Vec<u8> {
    if s.is_infinite() {
        return if s > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    if s == s.trunc() && s.abs() < 1e17 {
        return itoa::Buffer::new().format(s as i64).as_bytes().to_vec();
    }
    let a = s.abs();
    if !(1e-5..1e17).contains(&a) {
        format!("{s:e}").into_bytes()
    } else {
        format!("{s}").into_bytes()
    }
}
