//! `POST /v1/query` bodies (criteria plus selector), JSON and YAML.
#![no_main]

use aicrd::http::query;
use aicrd::recipe::criteria::Vocabulary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let vocabulary = Vocabulary::all();
    let (ct, body) = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => (Some("application/json"), rest),
        Some((_, rest)) => (Some("text/yaml"), rest),
        None => (None, data),
    };
    let _ = query::from_body(body, ct, &vocabulary);
});
