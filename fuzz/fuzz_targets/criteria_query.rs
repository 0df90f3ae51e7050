//! `/v1/recipe` and `/v1/query` query strings: form decoding, pair splitting, criteria
//! validation and the selector parameter. Any input must give `Ok` or an error, never
//! a panic.
#![no_main]

use aicrd::http::{criteria, query};
use aicrd::recipe::criteria::Vocabulary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let vocabulary = Vocabulary::all();
    let _ = criteria::form_decode(s);
    for pair in criteria::query_pairs(s) {
        let _ = pair;
    }
    if let Ok(c) = criteria::from_query(Some(s), &vocabulary) {
        // A parsed key always has a canonical name that parses back to itself.
        let canonical = c.key.canonical();
        assert!(!canonical.is_empty());
    }
    let _ = query::from_query(Some(s), &vocabulary);
});
