//! Reading `/v1/query` requests (http-api spec §11.4): the GET criteria parameters
//! plus `selector`, and the POST body `{"criteria": {…}, "selector": "…"}`, which is
//! JSON when the Content-Type mentions `json` and YAML otherwise.
//!
//! Our stances: omitted body criteria mean `any` (Q14) and a negative `nodes` is a 400
//! (Q13), exactly as on `/v1/recipe`.

use super::criteria::{self, InputError, SpecFields, SpecSeed, key_is};
use crate::error::ApiError;
use crate::recipe::criteria::{Criteria, CriteriaError, Vocabulary};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// `message` of invalid GET criteria.
pub const INVALID_QUERY: &str = "Invalid query criteria";
/// `message` of a POST body that cannot be read or decoded.
pub const INVALID_BODY: &str = "Invalid query request body";
/// `message` of invalid criteria inside a POST body.
pub const INVALID_BODY_CRITERIA: &str = "Invalid criteria in request body";
/// `message` of a POST body without criteria.
pub const EMPTY_CRITERIA: &str = "Query criteria cannot be empty";

/// A parsed query: normalised criteria and the selector as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryRequest {
    /// The criteria.
    pub criteria: Criteria,
    /// The selector, as sent (`""` if absent).
    pub selector: String,
}

/// Parses a GET query string: the `/v1/recipe` criteria rules, plus the first
/// `selector` parameter.
pub fn from_query(query: Option<&str>, vocabulary: &Vocabulary) -> Result<QueryRequest, ApiError> {
    let mut selector: Option<String> = None;
    let raw = criteria::raw_from_query(query, |name, value| {
        if name == "selector" && selector.is_none() {
            selector = Some(value);
        }
    })
    .map_err(|e| ApiError::invalid(INVALID_QUERY, e.to_string()))?;
    let criteria = raw
        .parse_with(vocabulary)
        .map_err(|e| ApiError::invalid(INVALID_QUERY, InputError::QueryValue(e).to_string()))?;
    Ok(QueryRequest { criteria, selector: selector.unwrap_or_default() })
}

/// The members of a POST body; `criteria` is `None` when absent or `null`.
#[derive(Debug, Default)]
struct Body {
    criteria: Option<SpecFields>,
    selector: Option<String>,
}

/// Seed for the body object. Member names fold case in JSON (Go), not in YAML;
/// unknown members are ignored.
struct BodySeed<'a> {
    fold_case: bool,
    body: &'a mut Body,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a query object with criteria and selector")
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
            if key_is(&key, "criteria", self.fold_case) {
                map.next_value_seed(CriteriaSeed { fold_case: self.fold_case, slot: &mut self.body.criteria })?;
            } else if key_is(&key, "selector", self.fold_case) {
                if let Some(selector) = map.next_value::<Option<String>>()? {
                    self.body.selector = Some(selector);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Seed for `criteria`: `null` clears it, an object fills it (merging into an earlier
/// one, as Go does with a repeated member).
struct CriteriaSeed<'a> {
    fold_case: bool,
    slot: &'a mut Option<SpecFields>,
}

impl<'de> DeserializeSeed<'de> for CriteriaSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for CriteriaSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a criteria object")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        *self.slot = None;
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.visit_none()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let spec = self.slot.get_or_insert_with(SpecFields::default);
        SpecSeed { fold_case: self.fold_case, spec }.deserialize(d)
    }
}

/// `details.error` for invalid body criteria: `[INVALID_REQUEST] invalid <field>: <inner>`
/// for enum values, the bare text for `nodes`.
fn body_criteria_text(e: &CriteriaError) -> String {
    match e {
        CriteriaError::InvalidValue { field, .. } => {
            format!("[INVALID_REQUEST] invalid {}: {e}", field.as_str())
        }
        _ => e.to_string(),
    }
}

/// Whether a POST body is JSON: its Content-Type contains `json` (ASCII case-insensitive);
/// anything else, a missing header included, is YAML.
pub fn body_is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
}

/// Parses a POST body.
pub fn from_body(bytes: &[u8], content_type: Option<&str>, vocabulary: &Vocabulary) -> Result<QueryRequest, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid(INVALID_BODY, "[INVALID_REQUEST] request body cannot be empty"));
    }
    let mut body = Body::default();
    let decoded = if body_is_json(content_type) {
        criteria::json_seed(bytes, BodySeed { fold_case: true, body: &mut body })
            .map_err(|e| format!("[INVALID_REQUEST] failed to parse JSON body: {e}"))
    } else {
        criteria::yaml_seed(bytes, BodySeed { fold_case: false, body: &mut body })
            .map_err(|e| format!("[INVALID_REQUEST] failed to parse YAML body: {e}"))
    };
    decoded.map_err(|e| ApiError::invalid(INVALID_BODY, e))?;
    let spec = body.criteria.ok_or_else(|| ApiError::invalid_bare(EMPTY_CRITERIA))?;
    let mut raw = spec.raw;
    raw.nodes = spec.nodes.map(|n| n.to_string());
    let criteria =
        raw.parse_with(vocabulary).map_err(|e| ApiError::invalid(INVALID_BODY_CRITERIA, body_criteria_text(&e)))?;
    Ok(QueryRequest { criteria, selector: body.selector.unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::criteria::{Accelerator, Os, Service};

    fn error(e: ApiError) -> (u16, String, Option<String>) {
        (e.status.as_u16(), e.message.into_owned(), e.details.get("error").and_then(|v| v.as_str()).map(str::to_owned))
    }

    #[test]
    fn get_reads_the_first_selector() {
        let q = from_query(Some("service=EKS&selector=kind&selector=nope&gpu=h100"), &Vocabulary::all()).unwrap();
        assert_eq!(q.selector, "kind");
        assert_eq!((q.criteria.key.service, q.criteria.key.accelerator), (Service::Eks, Accelerator::H100));
        assert_eq!(from_query(None, &Vocabulary::all()).unwrap(), QueryRequest::default());
        assert_eq!(
            from_query(Some("selector=components%2Egpu-operator"), &Vocabulary::all()).unwrap().selector,
            "components.gpu-operator"
        );
        assert_eq!(from_query(Some("selector=+kind"), &Vocabulary::all()).unwrap().selector, " kind");
    }

    #[test]
    fn get_criteria_errors() {
        assert_eq!(
            error(from_query(Some("service=foo&selector=%zz"), &Vocabulary::all()).unwrap_err()),
            (
                400,
                INVALID_QUERY.into(),
                Some("[INVALID_REQUEST] invalid query string: invalid URL escape \"%zz\"".into())
            )
        );
        assert_eq!(
            error(from_query(Some("service=foo&accelerator=v100&selector=nope"), &Vocabulary::all()).unwrap_err()),
            (
                400,
                INVALID_QUERY.into(),
                Some("[INVALID_REQUEST] invalid service parameter: [INVALID_REQUEST] invalid service type: foo".into())
            )
        );
        assert_eq!(
            error(from_query(Some("nodes=-1"), &Vocabulary::all()).unwrap_err()).2.unwrap(),
            "[INVALID_REQUEST] invalid nodes count: -1 (must be >= 0)"
        );
    }

    #[test]
    fn json_and_yaml_bodies() {
        let json_body = br#"{"Criteria":{"SERVICE":"eks","os":"AL2","gpu":"b200","nodes":8},"selector":"criteria","format":"yaml"}"#;
        let q = from_body(json_body, Some("application/vnd.aicr+json; charset=utf-8"), &Vocabulary::all()).unwrap();
        assert_eq!((q.criteria.key.service, q.criteria.key.os, q.criteria.nodes), (Service::Eks, Os::Amazonlinux, 8));
        assert_eq!(q.criteria.key.accelerator, Accelerator::Any);
        assert_eq!(q.selector, "criteria");

        let yaml_body = b"---\n# c\nselector: .kind\ncriteria: {service: gke, accelerator: 'H100'}\n";
        for ct in [None, Some("text/plain"), Some("application/x-yaml")] {
            let q = from_body(yaml_body, ct, &Vocabulary::all()).unwrap();
            assert_eq!((q.criteria.key.service, q.criteria.key.accelerator), (Service::Gke, Accelerator::H100));
            assert_eq!(q.selector, ".kind");
        }
        // JSON text is YAML too; omitted fields are `any` (Q14).
        let q = from_body(br#"{"criteria":{"service":"oke"}}"#, Some("text/yaml"), &Vocabulary::all()).unwrap();
        assert_eq!(q.criteria.key.service, Service::Oke);
        assert_eq!(q.selector, "");
        let q = from_body(b"criteria: {}\n", None, &Vocabulary::all()).unwrap();
        assert_eq!(q.criteria, Criteria::default());
        // YAML keys are exact.
        assert_eq!(
            error(from_body(b"Criteria: {service: eks}\n", None, &Vocabulary::all()).unwrap_err()).1,
            EMPTY_CRITERIA
        );
    }

    #[test]
    fn body_errors() {
        let cases: &[(&[u8], Option<&str>, &str)] = &[
            (b"", Some("application/json"), INVALID_BODY),
            (b"", None, INVALID_BODY),
            (b"{\"criteria\":", Some("application/json"), INVALID_BODY),
            (b"criteria:\n  service: eks\n", Some("application/json"), INVALID_BODY),
            (br#"{"criteria":{"service":"eks"},"selector":5}"#, Some("application/json"), INVALID_BODY),
            (br#"{"criteria":{"nodes":"8"}}"#, Some("application/json"), INVALID_BODY),
            (br#"{"criteria":{"nodes":1.5}}"#, Some("application/json"), INVALID_BODY),
            (b"[]", Some("application/json"), INVALID_BODY),
            (br#"{"criteria":{"service":"eks"}} {}"#, Some("application/json"), INVALID_BODY),
            (b"criteria:\n\tservice: eks\n", None, INVALID_BODY),
            (b"criteria: eks\n", None, INVALID_BODY),
            (br#"{"selector":"kind"}"#, Some("application/json"), EMPTY_CRITERIA),
            (b"{}", Some("application/json"), EMPTY_CRITERIA),
            (b"null", Some("application/json"), EMPTY_CRITERIA),
            (br#"{"criteria":null,"selector":"kind"}"#, Some("application/json"), EMPTY_CRITERIA),
            (br#"{"kind":"RecipeCriteria","spec":{"service":"eks"}}"#, Some("application/json"), EMPTY_CRITERIA),
            (b"# nothing but a comment\n", Some("application/yaml"), EMPTY_CRITERIA),
            (b"criteria: null\nselector: kind\n", None, EMPTY_CRITERIA),
            (b"criteria:\nselector: kind\n", None, EMPTY_CRITERIA),
            (br#"{"criteria":{"accelerator":"v100"}}"#, Some("application/json"), INVALID_BODY_CRITERIA),
            (br#"{"criteria":{"nodes":-1}}"#, Some("application/json"), INVALID_BODY_CRITERIA),
            (b"criteria: {nodes: 2147483648}\n", None, INVALID_BODY_CRITERIA),
        ];
        for (body, ct, message) in cases {
            let e = from_body(body, *ct, &Vocabulary::all()).unwrap_err();
            assert_eq!((e.status.as_u16(), e.message.as_ref()), (400, *message), "{}", String::from_utf8_lossy(body));
            assert_eq!(
                e.details.contains_key("error"),
                *message != EMPTY_CRITERIA,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let texts =
            |body: &[u8]| error(from_body(body, Some("application/json"), &Vocabulary::all()).unwrap_err()).2.unwrap();
        assert_eq!(
            texts(br#"{"criteria":{"accelerator":"v100"}}"#),
            "[INVALID_REQUEST] invalid accelerator: [INVALID_REQUEST] invalid accelerator type: v100"
        );
        assert_eq!(texts(br#"{"criteria":{"nodes":-1}}"#), "[INVALID_REQUEST] invalid nodes count: -1 (must be >= 0)");
        assert_eq!(texts(b""), "[INVALID_REQUEST] request body cannot be empty");
        assert!(texts(b"[]").starts_with("[INVALID_REQUEST] failed to parse JSON body: "));
    }
}
