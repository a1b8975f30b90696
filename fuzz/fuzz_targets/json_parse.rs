//! Fuzzes the JSON parser and serializer: no input may panic or overflow the stack, and
//! whatever parses must serialize to text that parses back to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = json::parse(text) {
        let out = json::ser::to_string(v.node());
        let again = json::parse(&out).map(|w| json::ser::to_string(w.node()));
        assert_eq!(again.as_deref(), Ok(out.as_str()));
    }
});
