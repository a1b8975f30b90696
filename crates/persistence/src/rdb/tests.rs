//! Golden tests of RDB 12's hash-field-TTL types, built byte by byte from Redis 7.4's
//! `rdb.c` (`rdbSaveObject` / `rdbLoadObject` for `RDB_TYPE_HASH_LISTPACK_EX` and
//! `RDB_TYPE_HASH_METADATA`), and of the version rewrite that keeps the checksum right.

use keyspace::types::Limits;
use keyspace::Value;

use super::write::put_len;
use super::*;
use crate::crc64::crc64;

const T1: u64 = 4_102_444_800_000;
const T2: u64 = T1 + 5_000;

/// A listpack string entry of fewer than 64 bytes: 0x80|len, the bytes, the backlen.
fn lp_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(0x80 | s.len() as u8);
    out.extend_from_slice(s);
    out.push(1 + s.len() as u8);
}

/// A listpack 64-bit integer entry (0xF4, 8 bytes little-endian, backlen 9), or the 7-bit
/// form for 0..=127.
fn lp_int(out: &mut Vec<u8>, v: u64) {
    if v < 128 {
        out.extend_from_slice(&[v as u8, 1]);
    } else {
        out.push(0xf4);
        out.extend_from_slice(&v.to_le_bytes());
        out.push(9);
    }
}

fn listpack(entries: impl FnOnce(&mut Vec<u8>), count: u16) -> Vec<u8> {
    let mut body = Vec::new();
    entries(&mut body);
    let total = 6 + body.len() + 1;
    let mut lp = (total as u32).to_le_bytes().to_vec();
    lp.extend_from_slice(&count.to_le_bytes());
    lp.extend_from_slice(&body);
    lp.push(0xff);
    lp
}

/// `REDIS0012`, SELECTDB 0, one record, EOF, a zero checksum (not verified).
fn file_of(record: &[u8]) -> Vec<u8> {
    let mut f = b"REDIS0012".to_vec();
    f.extend_from_slice(&[op::SELECTDB, 0]);
    f.extend_from_slice(record);
    f.push(op::EOF);
    f.extend_from_slice(&[0; 8]);
    f
}

fn load_one(file: &[u8], limits: Limits, now_ms: u64) -> Item {
    let opts = LoadOptions {
        limits,
        verify_checksum: true,
        now_ms,
    };
    let mut items = Vec::new();
    load(file, &opts, |i| {
        items.push(i);
        Ok(())
    })
    .expect("loads");
    assert_eq!(items.len(), 1);
    items.pop().expect("one")
}

fn hash(v: &Value) -> &keyspace::types::Hash {
    match v {
        Value::Hash(h) => h,
        other => panic!("not a hash: {other:?}"),
    }
}

/// Hash `h` = {a: x (T1), c: z (T2), b: y (no TTL)} as Redis 7.4 writes a small one:
/// type 25, the smallest TTL, then the listpack of triplets ordered by TTL.
fn listpack_ex_record() -> Vec<u8> {
    let lp = listpack(
        |b| {
            for (f, v, t) in [(b"a", b"x", T1), (b"c", b"z", T2), (b"b", b"y", 0)] {
                lp_str(b, f);
                lp_str(b, v);
                lp_int(b, t);
            }
        },
        9,
    );
    let mut r = vec![ty::HASH_LISTPACK_EX, 1, b'h'];
    r.extend_from_slice(&T1.to_le_bytes());
    r.push(lp.len() as u8);
    r.extend_from_slice(&lp);
    r
}

/// The same hash as a hash table: type 24, the smallest TTL, the count, then per field
/// (TTL - smallest + 1, or 0), field, value.
fn metadata_record() -> Vec<u8> {
    let mut r = vec![ty::HASH_METADATA, 1, b'h'];
    r.extend_from_slice(&T1.to_le_bytes());
    r.push(3);
    for (f, v, ttl) in [
        (b'a', b'x', 1u64),
        (b'b', b'y', 0),
        (b'c', b'z', T2 - T1 + 1),
    ] {
        put_len(&mut r, ttl);
        r.extend_from_slice(&[1, f, 1, v]);
    }
    r
}

fn opts() -> SaveOptions {
    SaveOptions {
        compress: false,
        ..SaveOptions::default()
    }
}

#[test]
fn listpack_ex_loads_and_is_written_back_byte_for_byte() {
    let item = load_one(&file_of(&listpack_ex_record()), Limits::default(), 1);
    let h = hash(&item.value);
    assert!(h.is_packed());
    assert_eq!(h.get(b"a"), Some(&b"x"[..]));
    assert_eq!(h.expire_at(b"a"), Some(T1));
    assert_eq!(h.expire_at(b"b"), None);
    assert_eq!(h.expire_at(b"c"), Some(T2));
    let mut out = Vec::new();
    let rec = write_record(&mut out, b"h", &item.value, None, 1, &opts());
    assert_eq!(rec, Record::WrittenV12);
    assert_eq!(out, listpack_ex_record());
}

#[test]
fn metadata_loads_and_is_written_back_byte_for_byte() {
    let table = Limits {
        hash_max_listpack_entries: 1,
        ..Limits::default()
    };
    let item = load_one(&file_of(&metadata_record()), table, 1);
    let h = hash(&item.value);
    assert!(!h.is_packed());
    assert_eq!(h.len(), 3);
    assert_eq!(h.expire_at(b"a"), Some(T1));
    assert_eq!(h.expire_at(b"b"), None);
    assert_eq!(h.expire_at(b"c"), Some(T2));
    let mut out = Vec::new();
    let rec = write_record(&mut out, b"h", &item.value, None, 1, &opts());
    assert_eq!(rec, Record::WrittenV12);
    assert_eq!(out, metadata_record());
}

#[test]
fn fields_due_at_load_or_save_time_are_left_out() {
    // Loading after T1: field a is gone.
    let item = load_one(&file_of(&listpack_ex_record()), Limits::default(), T1);
    let h = hash(&item.value);
    assert_eq!(h.len(), 2);
    assert!(!h.contains(b"a"));
    // Saving after T2: only b is left, without TTL, so the record is a plain listpack hash.
    let item = load_one(&file_of(&metadata_record()), Limits::default(), 1);
    let mut out = Vec::new();
    let rec = write_record(&mut out, b"h", &item.value, None, T2, &opts());
    assert_eq!(rec, Record::Written);
    assert_eq!(out[0], ty::HASH_LISTPACK);
    // Every field due: the key is not written at all.
    let mut out = Vec::new();
    let mut only_a = item.value.clone();
    if let Value::Hash(h) = &mut only_a {
        h.remove(b"b");
    }
    assert_eq!(
        write_record(&mut out, b"h", &only_a, None, T2, &opts()),
        Record::Skipped
    );
    assert!(out.is_empty());
}

#[test]
fn rewriting_the_version_keeps_the_checksum_valid() {
    let mut body = b"REDIS0010".to_vec();
    body.extend((0..200_000u32).map(|i| (i * 7 % 251) as u8));
    let crc = crc64(0, &body);
    let mut header = [0u8; 9];
    header.copy_from_slice(&body[..9]);
    let patched = set_version(&mut header, 12, crc, body.len() as u64);
    assert_eq!(&header, b"REDIS0012");
    body[..9].copy_from_slice(&header);
    assert_eq!(patched, crc64(0, &body));
    // Checksums off: the trailer stays 0.
    assert_eq!(set_version(&mut header, 12, 0, body.len() as u64), 0);
}
