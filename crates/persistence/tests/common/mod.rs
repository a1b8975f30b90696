//! Shared by the persistence tests: values in a normal form to compare key by key.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use keyspace::types::stream::StreamId;
use keyspace::Value;
use persistence::rdb::{self, Item, LoadOptions};

/// A value with its order-free parts sorted, for comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Norm {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Stream(Box<StreamNorm>),
    Json(String),
}

/// A group: name, last ID, entries read, PEL (id, consumer, count), consumer names.
pub type GroupNorm = (
    Vec<u8>,
    StreamId,
    i64,
    Vec<(StreamId, Vec<u8>, u64)>,
    Vec<Vec<u8>>,
);

#[derive(Clone, Debug, PartialEq)]
pub struct StreamNorm {
    pub entries: Vec<(StreamId, Vec<Vec<u8>>)>,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// name -> (last id, entries read, PEL (id, consumer, count), consumers)
    pub groups: Vec<GroupNorm>,
}

pub fn norm(v: &Value) -> Norm {
    match v {
        Value::Inline { .. } | Value::Heap(_) | Value::Int(_) => Norm::Str(v.to_vec().unwrap()),
        Value::List(l) => Norm::List(l.iter().map(<[u8]>::to_vec).collect()),
        Value::Set(s) => Norm::Set(s.iter().map(|m| m.to_vec()).collect()),
        Value::ZSet(z) => Norm::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s)).collect()),
        Value::Hash(h) => Norm::Hash(h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()),
        Value::Stream(s) => Norm::Stream(Box::new(StreamNorm {
            entries: s
                .range(StreamId::MIN, StreamId::MAX, false)
                .map(|(id, f)| (id, f.iter().map(<[u8]>::to_vec).collect()))
                .collect(),
            last_id: s.last_id,
            first_id: s.first_id,
            max_deleted_id: s.max_deleted_id,
            entries_added: s.entries_added,
            groups: s
                .groups
                .iter()
                .map(|(n, g)| {
                    (
                        n.to_vec(),
                        g.last_id,
                        g.entries_read,
                        g.pel
                            .iter()
                            .map(|(id, nack)| (*id, nack.consumer.to_vec(), nack.delivery_count))
                            .collect(),
                        g.consumers.keys().map(|k| k.to_vec()).collect(),
                    )
                })
                .collect(),
        })),
        Value::Json(d) => Norm::Json(json::ser::to_string(d.root.node())),
    }
}

/// Every key of an RDB image: (db, key) -> (value, expiry, encoding).
pub type Contents = BTreeMap<(usize, Vec<u8>), (Norm, Option<u64>, &'static str)>;

pub fn read_all(bytes: &[u8]) -> Contents {
    let opts = LoadOptions {
        verify_checksum: true,
        ..LoadOptions::default()
    };
    let mut out = Contents::new();
    rdb::load(bytes, &opts, |it: Item| {
        let enc = it.value.encoding();
        out.insert((it.db, it.key), (norm(&it.value), it.expire_ms, enc));
        Ok(())
    })
    .unwrap();
    out
}

pub fn golden(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read(p).unwrap()
}
