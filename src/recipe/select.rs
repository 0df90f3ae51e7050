//! Selectors: dot-paths into a hydrated recipe (http-api spec §11.4).
//!
//! One leading `.` is dropped; what remains is split on every `.` and each segment is
//! an exact, case-sensitive map key. There is no escaping, no indexing and no
//! wildcard, so an empty segment (`a..b`, a trailing `.`) is a lookup of the key `""`.
//! An empty path selects the root. A walk fails when a key is missing (the error lists
//! the keys that were there) or when it has to descend into something that is not a
//! map (a string, number, boolean, `null` or list).

use serde_json::{Map, Value};
use std::fmt;

/// Something a selector starts from: a JSON map, or a document whose members are not
/// all stored in one map (the hydrated document keeps its per-request `criteria`
/// apart from the shared members).
pub trait Root {
    /// The member called `key`, if any.
    fn member(&self, key: &str) -> Option<&Value>;
    /// Every member name, sorted bytewise.
    fn keys(&self) -> Vec<&str>;
}

impl Root for Map<String, Value> {
    fn member(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        // serde_json's map is a BTreeMap: its keys already come sorted.
        self.keys().map(String::as_str).collect()
    }
}

/// The path of a selector: `selector` without one leading `.`.
pub fn path(selector: &str) -> &str {
    selector.strip_prefix('.').unwrap_or(selector)
}

/// Why a selector selects nothing. `Display` is the `details.error` text of the 404.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A map has no member `key`.
    #[error("[NOT_FOUND] selector {}: key {} not found, available keys: {}", go_quote(.path), go_quote(.key), .available.join(", "))]
    MissingKey {
        /// The selector without its leading dot.
        path: String,
        /// The segment that was looked up.
        key: String,
        /// The keys of the map where the walk stopped, sorted.
        available: Vec<String>,
    },
    /// `segment` would have to be looked up in a value that is not a map.
    #[error("[NOT_FOUND] selector {}: cannot descend into non-map value at {}", go_quote(.path), go_quote(.segment))]
    NotAMap {
        /// The selector without its leading dot.
        path: String,
        /// The segment that could not be applied.
        segment: String,
    },
}

/// Walks `selector` from `root`. `Ok(None)` means the root itself (empty path).
pub fn select<'a, R: Root + ?Sized>(root: &'a R, selector: &str) -> Result<Option<&'a Value>, SelectError> {
    let path = path(selector);
    if path.is_empty() {
        return Ok(None);
    }
    let missing = |key: &str, available: Vec<&str>| SelectError::MissingKey {
        path: path.to_owned(),
        key: key.to_owned(),
        available: available.into_iter().map(str::to_owned).collect(),
    };
    let mut segments = path.split('.');
    let first = segments.next().unwrap_or_default();
    let mut current = root.member(first).ok_or_else(|| missing(first, root.keys()))?;
    for segment in segments {
        current = match current {
            Value::Object(map) => map.get(segment).ok_or_else(|| missing(segment, Root::keys(map)))?,
            _ => {
                return Err(SelectError::NotAMap { path: path.to_owned(), segment: segment.to_owned() });
            }
        };
    }
    Ok(Some(current))
}

/// Quotes `s` the way Go's `%q` does for the characters selectors carry: `"` and `\`
/// escaped, C escapes for control characters, other non-printable code points as
/// `\uXXXX`; printable text (non-ASCII included) verbatim.
pub fn go_quote(s: &str) -> impl fmt::Display + '_ {
    struct Quoted<'a>(&'a str);
    impl fmt::Display for Quoted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("\"")?;
            for c in self.0.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    '\u{7}' => f.write_str("\\a")?,
                    '\u{8}' => f.write_str("\\b")?,
                    '\u{b}' => f.write_str("\\v")?,
                    '\u{c}' => f.write_str("\\f")?,
                    c if (c as u32) < 0x20 || c == '\u{7f}' => write!(f, "\\x{:02x}", c as u32)?,
                    c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                        write!(f, "\\u{:04x}", c as u32)?
                    }
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")
        }
    }
    Quoted(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc() -> Map<String, Value> {
        json!({
            "kind": "RecipeResult",
            "n": 5,
            "flag": true,
            "nothing": null,
            "empty": {},
            "list": [{"a": 1}],
            "a": {"b": {"c": "deep"}, "with-dash": 1, "we ird/[*] key": 2, "": "empty key"},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn text(selector: &str) -> String {
        select(&doc(), selector).unwrap_err().to_string()
    }

    #[test]
    fn empty_and_dot_select_the_root() {
        assert_eq!(select(&doc(), ""), Ok(None));
        assert_eq!(select(&doc(), "."), Ok(None));
    }

    #[test]
    fn paths_are_exact_keys() {
        let d = doc();
        assert_eq!(select(&d, "a.b.c").unwrap(), Some(&json!("deep")));
        assert_eq!(select(&d, ".a.b.c").unwrap(), Some(&json!("deep")));
        assert_eq!(select(&d, "a.with-dash").unwrap(), Some(&json!(1)));
        assert_eq!(select(&d, "a.we ird/[*] key").unwrap(), Some(&json!(2)));
        assert_eq!(select(&d, "nothing").unwrap(), Some(&Value::Null));
        assert_eq!(select(&d, "empty").unwrap(), Some(&json!({})));
        assert_eq!(select(&d, "list").unwrap(), Some(&json!([{"a": 1}])));
        // Only one leading dot is dropped; the empty key is a key like any other.
        assert_eq!(select(&d, "a.").unwrap(), Some(&json!("empty key")));
    }

    #[test]
    fn missing_keys_list_what_is_there() {
        assert_eq!(
            text("Kind"),
            "[NOT_FOUND] selector \"Kind\": key \"Kind\" not found, available keys: a, empty, flag, kind, list, n, nothing"
        );
        assert_eq!(text("a.b.x"), "[NOT_FOUND] selector \"a.b.x\": key \"x\" not found, available keys: c");
        assert_eq!(text("empty.x"), "[NOT_FOUND] selector \"empty.x\": key \"x\" not found, available keys: ");
    }

    #[test]
    fn empty_segments_are_empty_keys() {
        assert!(text("..").starts_with("[NOT_FOUND] selector \".\": key \"\" not found, available keys: a, "));
        assert!(text("...").starts_with("[NOT_FOUND] selector \"..\": key \"\" not found"));
        assert!(text("..kind").starts_with("[NOT_FOUND] selector \".kind\": key \"\" not found"));
        assert!(text("a.b..c").starts_with("[NOT_FOUND] selector \"a.b..c\": key \"\" not found, available keys: c"));
        assert_eq!(text("a.b.c."), "[NOT_FOUND] selector \"a.b.c.\": cannot descend into non-map value at \"\"");
    }

    #[test]
    fn scalars_lists_and_nulls_cannot_be_entered() {
        for (selector, segment) in [
            ("kind.x", "x"),
            ("n.x", "x"),
            ("flag.x", "x"),
            ("nothing.x", "x"),
            ("list.0", "0"),
            ("list.a", "a"),
            ("kind.", ""),
        ] {
            assert_eq!(
                text(selector),
                format!(
                    "[NOT_FOUND] selector {}: cannot descend into non-map value at \"{segment}\"",
                    go_quote(selector)
                )
            );
        }
    }

    #[test]
    fn quoting_follows_go() {
        assert_eq!(go_quote("a\"b\\c").to_string(), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{1}\n\t\u{7f}").to_string(), r#""\x01\n\t\x7f""#);
        assert_eq!(go_quote("é\u{85}\u{2028}").to_string(), "\"é\\u0085\\u2028\"");
    }

    proptest! {
        #[test]
        fn walking_never_panics(selector in "[.a-z\\-\"\u{0}-\u{20}é]{0,24}") {
            let d = doc();
            match select(&d, &selector) {
                Ok(None) => prop_assert!(path(&selector).is_empty()),
                Ok(Some(_)) => {}
                Err(e) => prop_assert!(e.to_string().starts_with("[NOT_FOUND] selector ")),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(selector in any::<String>()) {
            let _ = select(&doc(), &selector).map_err(|e| e.to_string());
        }
    }
}
