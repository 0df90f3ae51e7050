//! `POST /v1/bundle` query options: `set`, `dynamic`, node selectors, tolerations,
//! workload gates, node counts, and the whole query string.
#![no_main]

use aicrd::bundle::request::{self, Options};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = Options::from_query(Some(s));
    // Each parser on the raw text as one value.
    let _ = request::parse_set(s);
    let _ = request::parse_dynamic(s);
    let mut map = BTreeMap::new();
    let _ = request::parse_selector(s, "Invalid node selector", &mut map);
    if let Ok(t) = request::parse_toleration(s, "Invalid toleration") {
        let _ = t.to_value();
    }
    let _ = request::parse_workload_gate(s);
    let _ = request::parse_nodes(s);
    let _ = request::go_quote(s);
});
