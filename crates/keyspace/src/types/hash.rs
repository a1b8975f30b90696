//! Hashes: field-value maps, packed while small, a hash table past the limits; optional per-field expiry (7.4 HEXPIRE).

/// A hash value.
#[derive(Clone, Debug, Default)]
pub struct Hash {}

impl Hash {
    /// Number of elements.
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        0
    }
}
