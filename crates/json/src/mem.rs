//! Memory accounting: the size jemalloc (Cinnabar's allocator) really hands out for a
//! request, so MEMORY USAGE and JSON.DEBUG MEMORY count what a document costs.

/// The jemalloc size class that serves a request of `n` bytes: 8, then multiples of 16 up
/// to 128, then four classes per doubling (160, 192, 224, 256, 320, ...). 0 for nothing.
pub fn size_class(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            // n lies in (base, 2 * base]; classes are base + k * base / 4.
            let base = n
                .checked_next_power_of_two()
                .map_or(1 << (usize::BITS - 1), |p| p / 2);
            let step = base / 4;
            base.saturating_add((n - base).div_ceil(step) * step)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn jemalloc_size_classes() {
        let cases = [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (128, 128),
            (129, 160),
            (160, 160),
            (161, 192),
            (256, 256),
            (257, 320),
            (513, 640),
            (1025, 1280),
            (4097, 5120),
        ];
        for (n, c) in cases {
            assert_eq!(size_class(n), c, "{n}");
        }
    }
}
