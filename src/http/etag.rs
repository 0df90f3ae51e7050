//! Conditional requests: `If-None-Match` against our strong ETags (RFC 9110 §13.1.2,
//! weak comparison per §8.8.3.2).

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
            assert_eq!(
                none_match([header.as_bytes()], TAG),
                *expected,
                "{header:?}"
            );
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
