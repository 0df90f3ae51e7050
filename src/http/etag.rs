//! Conditional requests and cacheable answers: `If-None-Match` against our strong
//! ETags (RFC 9110 §13.1.2, weak comparison per §8.8.3.2), and the 200/304/412 answer
//! that `/v1/recipe` and `/v1/query` share (http-api spec §13).

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `Cache-Control` of cacheable answers.
pub const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=600");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Answers a cacheable request whose representation has the strong tag `etag`. If
/// `If-None-Match` matches it: 304 for GET/HEAD (with `ETag`, `Cache-Control` and
/// `Vary`), 412 for POST, and `body` is never called. Otherwise 200 with the JSON
/// bytes and content coding `body` returns.
pub fn respond(
    headers: &HeaderMap,
    is_post: bool,
    etag: HeaderValue,
    vary: Option<HeaderValue>,
    body: impl FnOnce() -> (Bytes, Option<&'static str>),
) -> Result<Response, ApiError> {
    let tag = etag.to_str().unwrap_or_default();
    if none_match(headers.get_all(header::IF_NONE_MATCH).iter().map(HeaderValue::as_bytes), tag) {
        if is_post {
            return Err(ApiError::precondition_failed());
        }
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        let h = res.headers_mut();
        h.insert(header::ETAG, etag);
        h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
        if let Some(vary) = vary {
            h.insert(header::VARY, vary);
        }
        return Ok(res);
    }
    let (bytes, coding) = body();
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, JSON);
    h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    h.insert(header::ETAG, etag);
    if let Some(vary) = vary {
        h.insert(header::VARY, vary);
    }
    if let Some(coding) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    Ok(res)
}

/// Whether `If-None-Match` (all header lines, in order) matches `etag` (a quoted
/// strong tag such as `"abc"`). `*` matches any current representation. A header
/// that does not parse as a list of entity tags matches nothing.
pub fn none_match<'a>(headers: impl IntoIterator<Item = &'a [u8]>, etag: &str) -> bool {
    let ours = etag.as_bytes();
    headers.into_iter().any(|h| list_matches(h, ours))
}

fn list_matches(mut s: &[u8], ours: &[u8]) -> bool {
    loop {
        while let [b' ' | b'\t' | b',', rest @ ..] = s {
            s = rest;
        }
        if s.is_empty() {
            return false;
        }
        if let [b'*', rest @ ..] = s {
            let rest_trimmed = rest.iter().all(|b| matches!(b, b' ' | b'\t' | b','));
            return rest_trimmed;
        }
        if let [b'W', b'/', rest @ ..] = s {
            s = rest;
        }
        let [b'"', rest @ ..] = s else { return false };
        let Some(end) = rest.iter().position(|b| *b == b'"') else {
            return false;
        };
        let tag = &s[..end + 2];
        if tag == ours {
            return true;
        }
        s = &rest[end + 1..];
        match s.first() {
            None | Some(b' ' | b'\t' | b',') => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TAG: &str = "\"abc\"";

    #[test]
    fn matching_table() {
        let cases: &[(&str, bool)] = &[
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("\"x\",W/\"abc\"", true),
            ("*", true),
            (" * ", true),
            ("\"abd\"", false),
            ("abc", false),
            ("\"a,b\", \"abc\"", true),
            ("\"abc", false),
            ("", false),
            ("w/\"abc\"", false),
        ];
        for (header, expected) in cases {
            assert_eq!(none_match([header.as_bytes()], TAG), *expected, "{header:?}");
        }
        assert!(none_match(["\"x\"".as_bytes(), "\"abc\"".as_bytes()], TAG));
    }

    proptest! {
        #[test]
        fn never_panics(header in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = none_match([header.as_slice()], TAG);
        }

        #[test]
        fn our_tag_anywhere_in_a_list_matches(before in proptest::collection::vec("W?/?\"[a-z0-9]{0,8}\"", 0..4)) {
            let mut list = before.clone();
            list.push(TAG.to_string());
            let header = list.join(", ");
            let valid = before.iter().all(|t| t.starts_with('"') || t.starts_with("W/\""));
            if valid {
                prop_assert!(none_match([header.as_bytes()], TAG));
            }
        }
    }
}
