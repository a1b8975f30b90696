//! `Shape`: the key list of an object (each key a varint length then its UTF-8 bytes, in
//! insertion order), interned process-wide. Every object with the same keys in the same order
//! — every product of a catalog, every review of a product — shares one copy, as RedisJSON
//! shares its interned key strings. A shape is freed when its last object goes.
//!
//! Memory accounting charges each object its share: the shape's allocation and its slot in
//! the interner, divided by the number of objects that use it.

use std::alloc::{self, Layout};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// The allocation head; the key bytes follow it.
#[repr(C)]
struct Header {
    refs: AtomicUsize,
    /// Number of keys.
    len: u32,
    /// Length of the key bytes.
    bytes: u32,
}

const HEADER: usize = std::mem::size_of::<Header>();

/// What one interner entry costs beyond the shape: its pointer in the table and the table's
/// control byte and spare room, rounded up.
const TABLE_SLOT: usize = 16;

/// A counted reference to an interned key list. One pointer wide.
pub struct Shape(NonNull<Header>);

// SAFETY: the key bytes are immutable once interned and the count is atomic.
unsafe impl Send for Shape {}
// SAFETY: as above.
unsafe impl Sync for Shape {}

/// An interner entry: the shape's pointer, hashed and compared by its key bytes.
struct Entry(NonNull<Header>);

// SAFETY: entries are only read under the interner's lock; the bytes are immutable.
unsafe impl Send for Entry {}

impl Entry {
    fn bytes(&self) -> &[u8] {
        // SAFETY: an entry is removed before its shape is freed.
        unsafe { bytes_of(self.0) }
    }
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hashes exactly as the `[u8]` it borrows as.
        self.bytes().hash(state)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Entry {}

impl std::borrow::Borrow<[u8]> for Entry {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

static INTERNER: LazyLock<Mutex<HashSet<Entry>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

fn interner() -> MutexGuard<'static, HashSet<Entry>> {
    // The set is consistent at every await-free step; a panic elsewhere leaves it usable.
    INTERNER.lock().unwrap_or_else(|e| e.into_inner())
}

/// # Safety
/// `h` must point to a live shape.
unsafe fn bytes_of<'a>(h: NonNull<Header>) -> &'a [u8] {
    let n = h.as_ref().bytes as usize;
    std::slice::from_raw_parts(h.as_ptr().cast::<u8>().add(HEADER), n)
}

fn layout(bytes: usize) -> Layout {
    // Key lists are bounded by the input that built them, far below isize::MAX.
    Layout::from_size_align(HEADER + bytes, std::mem::align_of::<Header>())
        .unwrap_or_else(|_| Layout::new::<Header>())
}

impl Shape {
    /// The shared shape for `keys` (`len` keys in key-buffer form), created if new.
    pub fn intern(keys: &[u8], len: usize) -> Shape {
        let mut set = interner();
        if let Some(e) = set.get(keys) {
            // SAFETY: entries in the set are live; the count is > 0 while interned.
            unsafe { e.0.as_ref() }.refs.fetch_add(1, Ordering::Relaxed);
            return Shape(e.0);
        }
        let layout = layout(keys.len());
        // SAFETY: the layout is non-zero in size; the header is written at the aligned start
        // and the bytes after it, inside the allocation.
        let h = unsafe {
            let p = alloc::alloc(layout);
            let Some(p) = NonNull::new(p.cast::<Header>()) else {
                alloc::handle_alloc_error(layout)
            };
            p.as_ptr().write(Header {
                refs: AtomicUsize::new(1),
                len: len as u32,
                bytes: keys.len() as u32,
            });
            std::ptr::copy_nonoverlapping(
                keys.as_ptr(),
                p.as_ptr().cast::<u8>().add(HEADER),
                keys.len(),
            );
            p
        };
        set.insert(Entry(h));
        Shape(h)
    }

    fn header(&self) -> &Header {
        // SAFETY: a Shape holds a count, so the allocation is live.
        unsafe { self.0.as_ref() }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.header().len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key buffer.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: live while self holds its count.
        unsafe { bytes_of(self.0) }
    }

    /// This holder's share of the shape's memory (rounded up).
    pub fn heap_share(&self) -> usize {
        let refs = self.header().refs.load(Ordering::Relaxed).max(1);
        (crate::mem::size_class(HEADER + self.bytes().len()) + TABLE_SLOT).div_ceil(refs)
    }

    /// Whether a shape with exactly these key bytes is interned now (tests).
    pub fn is_interned(keys: &[u8]) -> bool {
        interner().contains(keys)
    }
}

impl Clone for Shape {
    fn clone(&self) -> Shape {
        self.header().refs.fetch_add(1, Ordering::Relaxed);
        Shape(self.0)
    }
}

impl Drop for Shape {
    fn drop(&mut self) {
        // Not the last holder: drop the count without the lock. Only the count's last step
        // (1 to 0) happens under the lock, so an `intern` never finds a dying shape.
        let refs = &self.header().refs;
        let mut cur = refs.load(Ordering::Relaxed);
        while cur > 1 {
            match refs.compare_exchange_weak(cur, cur - 1, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(c) => cur = c,
            }
        }
        let mut set = interner();
        if refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            let bytes = self.bytes().len();
            set.remove(self.bytes());
            drop(set);
            // SAFETY: the count reached zero and the entry is gone: nobody else can reach
            // the allocation, which `intern` made with this layout.
            unsafe { alloc::dealloc(self.0.as_ptr().cast::<u8>(), layout(bytes)) }
        }
    }
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shape({} keys)", self.len())
    }
}
