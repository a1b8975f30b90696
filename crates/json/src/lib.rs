//! JSON documents for Cinnabar's built-in RedisJSON-compatible type.

/// A JSON document as stored under a key.
#[derive(Clone, Debug, Default)]
pub struct Document {}

impl Document {
    /// Heap bytes owned by the document (MEMORY USAGE, JSON.DEBUG MEMORY).
    pub fn heap_size(&self) -> usize {
        0
    }
}
