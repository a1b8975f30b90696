//! RDB loader: any bytes either load or are refused with an error — never a panic or an
//! allocation the input does not justify. Also feeds the bytes to RESTORE's value decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persistence::rdb::{self, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions {
        verify_checksum: false,
        ..LoadOptions::default()
    };
    let _ = rdb::load(data, &opts, |_| Ok(()));
    // Also with a valid header, so the fuzzer reaches the value decoders quickly.
    let mut file = b"REDIS0011".to_vec();
    file.extend_from_slice(data);
    let _ = rdb::load(&file, &opts, |_| Ok(()));
    let _ = rdb::load_value(data, &keyspace::types::Limits::default());
});
