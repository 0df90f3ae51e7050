//! Reading criteria from requests: the GET query string and the POST
//! `RecipeCriteria` body (recipe-engine spec §2.2–§2.4, with our stances Q4/Q5/Q11/Q12).

use crate::recipe::criteria::{Criteria, RawCriteria};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// Expected `kind` of a POSTed criteria document.
pub const CRITERIA_KIND: &str = "RecipeCriteria";

/// Why criteria could not be read; `Display` is the `details.error` text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The query string has a malformed `%` escape.
    #[error("[INVALID_REQUEST] invalid query string: {0}")]
    Query(String),
    /// A criteria value is invalid (GET wording).
    #[error("{}", .0.query_text())]
    QueryValue(crate::recipe::criteria::CriteriaError),
    /// A criteria value is invalid (POST wording).
    #[error("{}", .0.body_text())]
    BodyValue(crate::recipe::criteria::CriteriaError),
    /// Zero-byte body.
    #[error("[INVALID_REQUEST] request body is empty")]
    EmptyBody,
    /// The body is not the JSON it should be.
    #[error("[INVALID_REQUEST] failed to parse JSON body: {0}")]
    Json(String),
    /// The body is not the YAML it should be.
    #[error("[INVALID_REQUEST] failed to parse YAML body: {0}")]
    Yaml(String),
    /// Unknown content type and not JSON either.
    #[error("[INVALID_REQUEST] unsupported content type {0:?} and failed to parse as JSON: {1}")]
    ContentType(String, String),
    /// `kind` present but wrong.
    #[error("[INVALID_REQUEST] invalid kind {0:?}, expected \"RecipeCriteria\"")]
    Kind(String),
    /// `apiVersion` present but wrong.
    #[error("[INVALID_REQUEST] invalid apiVersion {0:?}, expected \"aicr.nvidia.com/v1alpha1\"")]
    ApiVersion(String),
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space and
/// `%XX` a byte; a malformed escape is an error (our stance Q5).
pub fn form_decode(s: &str) -> Result<String, String> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    Some(b) => out.push(b),
                    None => {
                        let end = (i + 3).min(bytes.len());
                        return Err(format!(
                            "invalid URL escape {:?}",
                            String::from_utf8_lossy(&bytes[i..end])
                        ));
                    }
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Iterates the decoded `(name, value)` pairs of a query string.
pub fn query_pairs(query: &str) -> impl Iterator<Item = Result<(String, String), String>> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        Ok((form_decode(k)?, form_decode(v)?))
    })
}

/// Reads the raw criteria of a GET query string: names are case-sensitive, the first
/// occurrence wins, an empty value means absent, `gpu` stands in for an absent or
/// empty `accelerator`. Returns the raw strings plus every other pair (for callers
/// such as `/v1/query` that read more parameters).
pub fn raw_from_query(
    query: Option<&str>,
    mut other: impl FnMut(&str, String),
) -> Result<RawCriteria, InputError> {
    let mut raw = RawCriteria::default();
    let mut gpu: Option<String> = None;
    for pair in query_pairs(query.unwrap_or("")) {
        let (name, value) = pair.map_err(InputError::Query)?;
        let slot = match name.as_str() {
            "service" => &mut raw.service,
            "accelerator" => &mut raw.accelerator,
            "gpu" => &mut gpu,
            "intent" => &mut raw.intent,
            "os" => &mut raw.os,
            "platform" => &mut raw.platform,
            "nodes" => &mut raw.nodes,
            _ => {
                other(&name, value);
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    if raw.accelerator.as_deref().unwrap_or("").is_empty() {
        raw.accelerator = gpu;
    }
    Ok(raw)
}

/// Parses GET criteria.
pub fn from_query(query: Option<&str>) -> Result<Criteria, InputError> {
    raw_from_query(query, |_, _| {})?
        .parse()
        .map_err(InputError::QueryValue)
}

/// How a POST body is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` or no Content-Type.
    Json,
    /// `application/yaml`, `application/x-yaml`, `text/yaml`.
    Yaml,
    /// Anything else: tried as JSON, with a content-type error on failure.
    Other,
}

/// The `/v1/recipe` rule: media type lower-cased, trimmed, parameters dropped.
pub fn body_format(content_type: Option<&str>) -> BodyFormat {
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-yaml" | "application/yaml" | "text/yaml" => BodyFormat::Yaml,
        "" | "application/json" => BodyFormat::Json,
        _ => BodyFormat::Other,
    }
}

/// The decoded fields of a criteria document, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CriteriaDocument {
    /// `kind`, if given.
    pub kind: Option<String>,
    /// `apiVersion`, if given.
    pub api_version: Option<String>,
    /// `spec` fields.
    pub spec: SpecFields,
}

/// `spec` of a criteria document; `nodes` kept as an integer of any size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecFields {
    /// Raw enum strings.
    pub raw: RawCriteria,
    /// `nodes`.
    pub nodes: Option<i64>,
}

/// Seed for a criteria document. `fold_case`: JSON member names match
/// case-insensitively (Go encoding/json); YAML keys are exact.
struct DocSeed<'a> {
    fold_case: bool,
    doc: &'a mut CriteriaDocument,
}

fn key_is(key: &str, name: &str, fold_case: bool) -> bool {
    if fold_case {
        key.eq_ignore_ascii_case(name)
    } else {
        key == name
    }
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a RecipeCriteria object")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key_is(&key, "kind", self.fold_case) {
                if let Some(v) = map.next_value::<Option<String>>()? {
                    self.doc.kind = Some(v);
                }
            } else if key_is(&key, "apiVersion", self.fold_case) {
                if let Some(v) = map.next_value::<Option<String>>()? {
                    self.doc.api_version = Some(v);
                }
            } else if key_is(&key, "spec", self.fold_case) {
                map.next_value_seed(SpecSeed {
                    fold_case: self.fold_case,
                    spec: &mut self.doc.spec,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Seed for `spec`: fields are merged into the target, so a repeated `spec` object
/// adds to the first (Go semantics); `null` leaves a field as it was.
struct SpecSeed<'a> {
    fold_case: bool,
    spec: &'a mut SpecFields,
}

impl<'de> DeserializeSeed<'de> for SpecSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for SpecSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a criteria spec object")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let raw = &mut self.spec.raw;
            let slot = if key_is(&key, "service", self.fold_case) {
                &mut raw.service
            } else if key_is(&key, "accelerator", self.fold_case) {
                &mut raw.accelerator
            } else if key_is(&key, "intent", self.fold_case) {
                &mut raw.intent
            } else if key_is(&key, "os", self.fold_case) {
                &mut raw.os
            } else if key_is(&key, "platform", self.fold_case) {
                &mut raw.platform
            } else if key_is(&key, "nodes", self.fold_case) {
                if let Some(Nodes(n)) = map.next_value::<Option<Nodes>>()? {
                    self.spec.nodes = Some(n);
                }
                continue;
            } else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if let Some(v) = map.next_value::<Option<String>>()? {
                *slot = Some(v);
            }
        }
        Ok(())
    }
}

/// `nodes` of a body: an integer, never a string or a fraction (whatever the syntax
/// allows: a quoted YAML `"5"` is a string).
struct Nodes(i64);

impl<'de> de::Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Nodes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer node count")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Nodes, E> {
                Ok(Nodes(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Nodes, E> {
                i64::try_from(v)
                    .map(Nodes)
                    .map_err(|_| E::custom(format!("nodes value {v} is out of range")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Decodes JSON with Go's member-name folding; trailing data is an error.
pub fn decode_json(body: &[u8]) -> Result<CriteriaDocument, String> {
    let mut doc = CriteriaDocument::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    DocSeed {
        fold_case: true,
        doc: &mut doc,
    }
    .deserialize(&mut de)
    .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(doc)
}

/// Options for YAML from clients: YAML 1.2 booleans, default resource budget.
fn client_yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true, with_snippet: false }
}

/// Decodes YAML (exact keys, duplicate keys rejected). An empty document means
/// all-`any` (Q11).
pub fn decode_yaml(body: &[u8]) -> Result<CriteriaDocument, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let mut doc = CriteriaDocument::default();
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    }) {
        return Ok(doc);
    }
    serde_saphyr::with_deserializer_from_str_with_options(text, client_yaml_options(), |de| {
        DocSeed {
            fold_case: false,
            doc: &mut doc,
        }
        .deserialize(de)
    })
    .map_err(|e| e.to_string())?;
    Ok(doc)
}

impl CriteriaDocument {
    /// Checks `kind`/`apiVersion`, normalises the enums, validates `nodes`.
    pub fn into_criteria(self) -> Result<Criteria, InputError> {
        if let Some(kind) = self.kind.filter(|k| !k.is_empty() && k != CRITERIA_KIND) {
            return Err(InputError::Kind(kind));
        }
        if let Some(v) = self
            .api_version
            .filter(|v| !v.is_empty() && v != crate::recipe::catalog::API_VERSION)
        {
            return Err(InputError::ApiVersion(v));
        }
        let mut raw = self.spec.raw;
        raw.nodes = self.spec.nodes.map(|n| n.to_string());
        raw.parse().map_err(InputError::BodyValue)
    }
}

/// Parses a POST `/v1/recipe` body.
pub fn from_body(body: &[u8], content_type: Option<&str>) -> Result<Criteria, InputError> {
    if body.is_empty() {
        return Err(InputError::EmptyBody);
    }
    let doc = match body_format(content_type) {
        BodyFormat::Json => decode_json(body).map_err(InputError::Json)?,
        BodyFormat::Yaml => decode_yaml(body).map_err(InputError::Yaml)?,
        BodyFormat::Other => decode_json(body)
            .map_err(|e| InputError::ContentType(content_type.unwrap_or_default().to_owned(), e))?,
    };
    doc.into_criteria()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::criteria::{Accelerator, Intent, Service};
    use proptest::prelude::*;

    #[test]
    fn query_rules() {
        let c = from_query(Some("service=eks&service=gke&gpu=h100")).unwrap();
        assert_eq!(
            (c.key.service, c.key.accelerator),
            (Service::Eks, Accelerator::H100)
        );
        let c = from_query(Some("service=&service=eks&accelerator=%20&gpu=h100")).unwrap();
        assert_eq!(
            (c.key.service, c.key.accelerator),
            (Service::Any, Accelerator::Any)
        );
        let c = from_query(Some("SERVICE=eks&intent=+Training+&nodes=%2B8")).unwrap();
        assert_eq!(
            (c.key.service, c.key.intent, c.nodes),
            (Service::Any, Intent::Training, 8)
        );
        assert_eq!(
            from_query(Some("os=ubuntu;x")).unwrap_err().to_string(),
            "[INVALID_REQUEST] invalid os parameter: [INVALID_REQUEST] invalid os type: ubuntu;x"
        );
        assert!(matches!(
            from_query(Some("service=%zz")),
            Err(InputError::Query(_))
        ));
        assert_eq!(
            from_query(Some("accelerator=bad&gpu=h100"))
                .unwrap_err()
                .to_string(),
            "[INVALID_REQUEST] invalid accelerator parameter: [INVALID_REQUEST] invalid accelerator type: bad"
        );
    }

    #[test]
    fn json_bodies_follow_go_semantics() {
        let c = from_body(br#"{"Spec":{"SERVICE":"eks"}}"#, None).unwrap();
        assert_eq!(c.key.service, Service::Eks);
        let c = from_body(
            br#"{"spec":{"service":"eks"},"spec":{"intent":"training"}}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            (c.key.service, c.key.intent),
            (Service::Eks, Intent::Training)
        );
        assert_eq!(from_body(b"null", None).unwrap(), Criteria::default());
        assert_eq!(
            from_body(br#"{"spec":null}"#, None).unwrap(),
            Criteria::default()
        );
        assert!(matches!(from_body(b"{} x", None), Err(InputError::Json(_))));
        assert!(matches!(from_body(b"  ", None), Err(InputError::Json(_))));
        assert!(matches!(
            from_body(br#"{"spec":{"nodes":2.5}}"#, None),
            Err(InputError::Json(_))
        ));
        assert!(matches!(
            from_body(br#"{"spec":{"nodes":"5"}}"#, None),
            Err(InputError::Json(_))
        ));
        assert!(matches!(from_body(b"[]", None), Err(InputError::Json(_))));
        assert_eq!(from_body(b"", None), Err(InputError::EmptyBody));
        assert_eq!(
            from_body(br#"{"kind":"Other"}"#, None)
                .unwrap_err()
                .to_string(),
            "[INVALID_REQUEST] invalid kind \"Other\", expected \"RecipeCriteria\""
        );
        assert_eq!(
            from_body(br#"{"spec":{"nodes":-3}}"#, None)
                .unwrap_err()
                .to_string(),
            "[INVALID_REQUEST] invalid nodes count: -3 (must be >= 0)"
        );
        assert!(matches!(
            from_body(b"service: eks", Some("text/plain")),
            Err(InputError::ContentType(..))
        ));
        assert_eq!(
            from_body(
                br#"{"spec":{"gpu":"h100","service":"bad"}}"#,
                Some("application/json; charset=utf-8")
            )
            .unwrap_err()
            .to_string(),
            "[INVALID_REQUEST] invalid service in criteria spec: [INVALID_REQUEST] invalid service type: bad"
        );
    }

    #[test]
    fn yaml_bodies() {
        let yaml = Some("application/x-yaml");
        let c = from_body(
            b"kind: RecipeCriteria\nspec:\n  service: EKS\n  nodes: 4\n",
            yaml,
        )
        .unwrap();
        assert_eq!((c.key.service, c.nodes), (Service::Eks, 4));
        let c = from_body(b"spec:\n  Service: eks\n", yaml).unwrap();
        assert_eq!(c.key.service, Service::Any);
        assert_eq!(from_body(b"---\n", yaml).unwrap(), Criteria::default());
        assert_eq!(
            from_body(b"# nothing\n", yaml).unwrap(),
            Criteria::default()
        );
        assert_eq!(from_body(b"spec: ~\n", yaml).unwrap(), Criteria::default());
        assert!(matches!(
            from_body(b"spec: {}\nspec: {}\n", yaml),
            Err(InputError::Yaml(_))
        ));
        assert!(matches!(
            from_body(b"spec:\n  nodes: \"5\"\n", yaml),
            Err(InputError::Yaml(_))
        ));
        assert!(matches!(
            from_body(b"- a\n", yaml),
            Err(InputError::Yaml(_))
        ));
        assert!(matches!(
            from_body(b"spec:\n  service: 123\n", yaml),
            Err(InputError::BodyValue(_)) | Err(InputError::Yaml(_))
        ));
    }

    proptest! {
        #[test]
        fn query_parser_never_panics(q in ".{0,120}") {
            let _ = from_query(Some(&q));
        }

        #[test]
        fn body_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..160), ct in prop::sample::select(vec!["application/json", "application/yaml", "text/plain"])) {
            let _ = from_body(&body, Some(ct));
        }

        #[test]
        fn json_bodies_never_panic(body in r#"\{("spec"|"kind"|"SPEC"|"x"): ?(\{("service"|"nodes"|"os"): ?("eks"|-?[0-9]{1,12}|null|\[\]|"[a-z]{0,5}")\}|null|"RecipeCriteria")\}"#) {
            let _ = from_body(body.as_bytes(), None);
        }
    }
}
