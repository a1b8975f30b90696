//! Fuzz target: the request decoder never panics, and splitting the input changes nothing.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use protocol::{ProtocolError, RequestDecoder, RequestLimits};

/// Decodes every command in `data`, fed in two pieces split at `cut`.
fn decode(
    data: &[u8],
    cut: usize,
    limits: &RequestLimits,
) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in [&data[..cut], &data[cut..]] {
        buf.extend_from_slice(piece);
        while let Some(cmd) = dec.decode(&mut buf, limits)? {
            out.push(cmd);
        }
    }
    Ok(out)
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, data)) = input.split_first() else {
        return;
    };
    let cut = usize::from(cut) * data.len() / 256;
    let small = RequestLimits {
        max_bulk_len: 64,
        max_inline_len: 32,
        authenticated: false,
    };
    for limits in [RequestLimits::default(), small] {
        let whole = decode(data, data.len(), &limits);
        let split = decode(data, cut, &limits);
        // The "too big" limits apply to bytes pending without a terminator, so (as in Redis)
        // they depend on where reads end: only a split that did not hit them must agree.
        let hit_limit = matches!(
            split,
            Err(ProtocolError::TooBigInlineRequest
                | ProtocolError::TooBigMbulkCountString
                | ProtocolError::TooBigBulkCountString)
        );
        if let (Ok(whole), false) = (whole, hit_limit) {
            assert_eq!(split, Ok(whole));
        }
    }
});
