//! `HeapStr`: a long JSON string in one heap allocation behind a thin pointer, so a `Value`
//! stays 16 bytes (strings up to [`INLINE_CAP`] bytes live inside the `Value` itself).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Longest string stored inline.
pub const INLINE_CAP: usize = 14;

/// A string in one allocation: its length (a `usize`) followed by its bytes. One pointer wide.
pub struct HeapStr(NonNull<u8>);

// SAFETY: HeapStr owns its allocation exclusively and never mutates it after creation.
unsafe impl Send for HeapStr {}
// SAFETY: as above; shared access is read-only.
unsafe impl Sync for HeapStr {}

impl HeapStr {
    pub const HEADER: usize = std::mem::size_of::<usize>();

    fn layout(len: usize) -> Layout {
        // A string longer than isize::MAX cannot exist, so this cannot fail for a real `&str`.
        Layout::from_size_align(Self::HEADER + len, std::mem::align_of::<usize>())
            .unwrap_or_else(|_| Layout::new::<usize>())
    }

    pub fn new(s: &str) -> HeapStr {
        let layout = Self::layout(s.len());
        // SAFETY: the layout has a non-zero size (at least the header). The header is written
        // at the aligned start; the bytes follow it, inside the allocation.
        unsafe {
            let p = alloc::alloc(layout);
            let Some(p) = NonNull::new(p) else {
                alloc::handle_alloc_error(layout)
            };
            p.as_ptr().cast::<usize>().write(s.len());
            std::ptr::copy_nonoverlapping(s.as_ptr(), p.as_ptr().add(Self::HEADER), s.len());
            HeapStr(p)
        }
    }

    fn len(&self) -> usize {
        // SAFETY: the header was written by `new` and the allocation lives as long as self.
        unsafe { self.0.as_ptr().cast::<usize>().read() }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: `new` copied `len` bytes of a valid `&str` after the header.
        unsafe {
            let bytes = std::slice::from_raw_parts(self.0.as_ptr().add(Self::HEADER), self.len());
            std::str::from_utf8_unchecked(bytes)
        }
    }
}

impl std::fmt::Debug for HeapStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Drop for HeapStr {
    fn drop(&mut self) {
        // SAFETY: allocated by `new` with this very layout.
        unsafe { alloc::dealloc(self.0.as_ptr(), Self::layout(self.len())) }
    }
}

impl Clone for HeapStr {
    fn clone(&self) -> HeapStr {
        HeapStr::new(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_strings_round_trip() {
        for s in ["", "a", "fifteen bytes!!", &"é".repeat(40)] {
            let h = HeapStr::new(s);
            assert_eq!(h.as_str(), s);
            assert_eq!(h.clone().as_str(), s);
        }
        assert_eq!(std::mem::size_of::<HeapStr>(), 8);
    }
}
