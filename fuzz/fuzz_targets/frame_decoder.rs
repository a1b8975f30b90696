//! Fuzz target: the frame parser never panics, and what it parses re-encodes and re-parses.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::parse_frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = parse_frame(data) {
        assert!(used <= data.len());
        let mut once = BytesMut::new();
        frame.encode(&mut once);
        let Ok(Some((again, _))) = parse_frame(&once) else {
            panic!("re-encoded frame does not parse");
        };
        let mut twice = BytesMut::new();
        again.encode(&mut twice);
        assert_eq!(once, twice);
    }
});
