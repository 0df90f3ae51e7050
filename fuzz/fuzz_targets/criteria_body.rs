//! `POST /v1/recipe` bodies (RecipeCriteria documents) as JSON and as YAML.
#![no_main]

use aicrd::http::criteria;
use aicrd::recipe::criteria::Vocabulary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let vocabulary = Vocabulary::all();
    // The first byte picks the Content-Type, so one corpus covers both decoders.
    let (ct, body) = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => (Some("application/json"), rest),
        Some((_, rest)) => (Some("application/x-yaml"), rest),
        None => (None, data),
    };
    let _ = criteria::from_body(body, ct, &vocabulary);
    let _ = criteria::decode_json(body);
    let _ = criteria::decode_yaml(body);
});
