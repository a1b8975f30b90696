//! Fuzzes the JSONPath parser and evaluator: any path text, legacy or `$`, against a small
//! fixed document; nothing may panic or recurse without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

const DOC: &str = r#"{"a":[1,2.5,"x",{"b":null,"c":[true,{"d":"e"}]}],"f":{"g":1,"h":[[1],[2]]}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = json::parse(DOC) else { return };
    let (fixed, _legacy) = json::path::normalize(text);
    if let Ok(p) = json::path::parse(&fixed) {
        let found = json::path::select(&doc, &p, true);
        let _ = p.is_static();
        for m in found.iter().take(64) {
            let _ = json::ser::to_string(m.node);
        }
    }
});
