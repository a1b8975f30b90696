//! The collection types a key can hold, one file each, plus `Packed`, the compact encoding
//! small collections use (Redis's listpack/intset role).

pub mod hash;
pub mod list;
pub mod packed;
pub mod set;
pub mod stream;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use packed::Packed;
pub use set::Set;
pub use stream::Stream;
pub use zset::ZSet;

/// Thresholds at which small collections leave their packed encoding, as Redis's
/// `*-max-listpack-*` / `set-max-intset-entries` parameters (CONFIG SET changes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Positive: entries per list node; negative -1..-5: node size 4/8/16/32/64 KB.
    pub list_max_listpack_size: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}
