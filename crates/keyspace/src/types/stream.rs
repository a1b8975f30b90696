//! Streams: entries by ID, consumer groups, pending entries lists.

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {}

impl Stream {
    /// Number of elements.
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoding OBJECT ENCODING reports, with Redis's names.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Heap bytes owned by the value (MEMORY USAGE, eviction).
    pub fn heap_size(&self) -> usize {
        0
    }
}
