//! Header parsers: Accept-Encoding negotiation, If-None-Match lists, X-Request-Id.
#![no_main]

use aicrd::http::{encoding, etag, request_id};
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = encoding::negotiate(Some(s));
    }
    // If-None-Match: the input as one header line, and split into several lines.
    let tag = "\"0123456789abcdef\"";
    let one = etag::none_match([data], tag);
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let _ = etag::none_match(lines.iter().copied(), tag);
    if data == tag.as_bytes() || data == b"*" {
        assert!(one, "an exact tag or * always matches");
    }
    if let Ok(v) = HeaderValue::from_bytes(data) {
        let id = request_id::choose(Some(&v));
        assert!(id.to_str().is_ok(), "request ids are ASCII");
    }
});
