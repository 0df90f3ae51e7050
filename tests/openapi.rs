//! `docs/openapi.yaml` against the server: every route the router defines is in the
//! document and every documented path is routed; every documented method is served
//! and every other one answers 405; the document is served at `/openapi.yaml`; its
//! `$ref`s resolve and its criteria enums are values the embedded catalog accepts.
//!
//! The route list is read from the router's source (`src/server/mod.rs`), not kept
//! by hand a second time.

mod common;

use axum::body::Body;
use axum::http::Method;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DOCUMENT: &str = include_str!("../docs/openapi.yaml");
const ROUTER_SOURCE: &str = include_str!("../src/server/mod.rs");
const METHODS: [&str; 8] = ["get", "head", "post", "put", "delete", "patch", "options", "trace"];

fn document() -> Value {
    serde_saphyr::from_str(DOCUMENT).expect("docs/openapi.yaml is YAML")
}

/// Every path literal passed to `.route(` in the router's source.
fn router_paths() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut rest = ROUTER_SOURCE;
    while let Some(at) = rest.find(".route(") {
        rest = rest[at + ".route(".len()..].trim_start();
        let literal = rest.strip_prefix('"').expect(".route( is followed by a string literal in src/server/mod.rs");
        let end = literal.find('"').unwrap();
        paths.insert(literal[..end].to_string());
        rest = &literal[end..];
    }
    paths
}

/// Documented path → its methods (lower case).
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = document();
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item.as_object().unwrap().keys().filter(|k| METHODS.contains(&k.as_str())).cloned();
            (path.clone(), methods.collect())
        })
        .collect()
}

#[test]
fn every_router_route_is_documented_and_every_documented_path_is_routed() {
    let routed = router_paths();
    assert!(routed.len() >= 8 && routed.contains("/v1/recipe"), "route scan found {routed:?}");
    let documented: BTreeSet<String> = documented().into_keys().collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes missing from docs/openapi.yaml: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented paths the router does not have: {unrouted:?}");
    // The metrics route labels name the same routes.
    let labelled: BTreeSet<String> = aicrd::metrics::ROUTES.iter().map(|r| r.to_string()).collect();
    assert_eq!(labelled, routed, "metrics::ROUTES and the router disagree");
}

#[tokio::test]
async fn documented_methods_are_served_and_the_others_answer_405() {
    let state = state();
    for (path, methods) in documented() {
        assert!(!methods.is_empty(), "{path} documents no operation");
        for method in METHODS {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let reply = send(&state, request(m, &path, &[], Body::empty())).await;
            let status = reply.status.as_u16();
            if methods.contains(method) {
                assert!(status != 404 && status != 405, "{method} {path} is documented but answered {status}");
                let op = &document()["paths"][&path][method];
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.contains_key(&status.to_string()),
                    "{method} {path} answered {status}, which the document does not list"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented but answered {status}");
                assert!(reply.header("allow").is_some(), "405 without Allow on {path}");
            }
        }
    }
}

#[tokio::test]
async fn the_document_is_served_and_listed_by_root() {
    let state = state();
    let reply = get(&state, "/openapi.yaml", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/yaml"));
    assert_eq!(reply.header("x-api-version"), Some("v1"));
    assert!(reply.header("x-request-id").is_some());
    assert_eq!(reply.body, DOCUMENT.as_bytes());
    let served: Value = serde_saphyr::from_str(std::str::from_utf8(&reply.body).unwrap()).unwrap();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1."));
    let head = send(&state, request(Method::HEAD, "/openapi.yaml", &[], Body::empty())).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let root = get(&state, "/", &[]).await.json();
    assert_eq!(root["openapi"], "/openapi.yaml");
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|x| refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_operation_ids_are_unique() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50);
    for r in found {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    let mut ids = BTreeSet::new();
    for (path, methods) in documented() {
        for m in methods {
            let id = doc["paths"][&path][&m]["operationId"].as_str().unwrap_or_else(|| panic!("{m} {path}: no id"));
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
        }
    }
}

#[tokio::test]
async fn criteria_enums_are_values_the_embedded_catalog_accepts() {
    let doc = document();
    let state = state();
    for (schema, param) in [
        ("Service", "service"),
        ("Accelerator", "accelerator"),
        ("Intent", "intent"),
        ("Os", "os"),
        ("Platform", "platform"),
    ] {
        let values = doc["components"]["schemas"][schema]["enum"].as_array().unwrap();
        assert!(values.iter().any(|v| v == "any"), "{schema} lacks any");
        for v in values {
            let uri = format!("/v1/recipe?{param}={}", v.as_str().unwrap());
            let reply = get(&state, &uri, &[]).await;
            assert_eq!(reply.status, 200, "{uri}: {:?}", reply.body);
        }
    }
    // The error codes the document lists include those a client meets first.
    let codes = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"].as_array().unwrap();
    for code in ["INVALID_REQUEST", "NOT_FOUND", "METHOD_NOT_ALLOWED", "RATE_LIMIT_EXCEEDED", "INTERNAL_ERROR"] {
        assert!(codes.iter().any(|c| c == code), "{code}");
    }
}

/// The v0.11.1 contract's operations, parameters and request media types are all
/// in ours (we add HEAD operations, `/openapi.yaml` and a few parameters).
#[test]
fn the_reference_contract_is_a_subset() {
    let path = std::path::Path::new("../shared/reference/aicr-v0.11.1/openapi/server.yaml");
    let reference: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ours = document();
    let resolve = |doc: &Value, v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap().clone(),
            None => v.clone(),
        }
    };
    let mut operations = 0;
    for (p, item) in reference["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap().iter().filter(|(m, _)| METHODS.contains(&m.as_str())) {
            operations += 1;
            let mine = &ours["paths"][p][method];
            assert!(mine.is_object(), "{method} {p} is missing");
            assert_eq!(mine["operationId"], op["operationId"], "{method} {p}");
            let names = |doc: &Value, op: &Value| -> BTreeSet<(String, String)> {
                op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .map(|x| resolve(doc, x))
                            .map(|x| (x["in"].as_str().unwrap().to_string(), x["name"].as_str().unwrap().to_string()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let missing: Vec<_> = names(&reference, op).difference(&names(&ours, mine)).cloned().collect();
            assert!(missing.is_empty(), "{method} {p}: parameters {missing:?} missing");
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for media in content.keys() {
                    assert!(mine["requestBody"]["content"].get(media).is_some(), "{method} {p}: body {media} missing");
                }
            }
        }
    }
    assert_eq!(operations, 9);
}
