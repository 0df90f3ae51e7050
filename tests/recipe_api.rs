//! `/v1/recipe` through the router: criteria parsing and its error texts
//! (recipe-engine spec §2.2–§2.4), POST JSON/YAML, HEAD, 405, ETag and conditional
//! requests (RFC 9110 §13.1.2), content-coding negotiation, `nodes` echo (§7.2),
//! body caps (http-api Q9) and unknown paths (Q1).

mod common;

use aicrd::recipe::criteria::{Criteria, CriteriaKey};
use aicrd::recipe::resolve::resolve;
use axum::body::Body;
use axum::http::Method;
use common::*;
use std::io::Read;

fn expected_body(state: &aicrd::AppState, key: CriteriaKey, nodes: u32) -> Vec<u8> {
    resolve(&state.catalog, &Criteria { key, nodes }).unwrap().to_json(&key, nodes, &state.table.version)
}

fn eks_h100_training() -> CriteriaKey {
    aicrd::http::criteria::from_query(
        Some("service=eks&accelerator=h100&intent=training&os=ubuntu"),
        &aicrd::recipe::criteria::Vocabulary::all(),
    )
    .unwrap()
    .key
}

#[tokio::test]
async fn get_serves_the_resolved_recipe_with_cache_headers() {
    let state = state();
    let reply = get(&state, "/v1/recipe?service=EKS&gpu=h100&intent=+training+&os=ubuntu", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("public, max-age=600"));
    assert_eq!(reply.header("vary"), Some("Accept-Encoding"));
    assert_eq!(reply.header("content-encoding"), None);
    let etag = reply.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    assert_eq!(reply.body, expected_body(&state, eks_h100_training(), 0));
    assert!(reply.body.ends_with(b"}\n"));
    assert_eq!(reply.json()["criteria"]["service"], "eks");
}

#[tokio::test]
async fn every_criteria_error_has_the_spec_text() {
    let state = state();
    let cases = [
        ("service=foo", "[INVALID_REQUEST] invalid service parameter: [INVALID_REQUEST] invalid service type: foo"),
        (
            "gpu=v100",
            "[INVALID_REQUEST] invalid accelerator parameter: [INVALID_REQUEST] invalid accelerator type: v100",
        ),
        (
            "accelerator=x&gpu=h100",
            "[INVALID_REQUEST] invalid accelerator parameter: [INVALID_REQUEST] invalid accelerator type: x",
        ),
        (
            "intent=serving",
            "[INVALID_REQUEST] invalid intent parameter: [INVALID_REQUEST] invalid intent type: serving",
        ),
        ("os=debian", "[INVALID_REQUEST] invalid os parameter: [INVALID_REQUEST] invalid os type: debian"),
        ("platform=ray", "[INVALID_REQUEST] invalid platform parameter: [INVALID_REQUEST] invalid platform type: ray"),
        ("nodes=abc", "[INVALID_REQUEST] invalid nodes value: abc"),
        ("nodes=8x", "[INVALID_REQUEST] invalid nodes value: 8x"),
        ("nodes=1.5", "[INVALID_REQUEST] invalid nodes value: 1.5"),
        ("nodes=2147483648", "[INVALID_REQUEST] invalid nodes value: 2147483648"),
        ("nodes=-1", "[INVALID_REQUEST] invalid nodes count: -1 (must be >= 0)"),
        ("os=ubuntu;x", "[INVALID_REQUEST] invalid os parameter: [INVALID_REQUEST] invalid os type: ubuntu;x"),
        ("service=%3Cb%3E", "[INVALID_REQUEST] invalid service parameter: [INVALID_REQUEST] invalid service type: <b>"),
        // First invalid field in the fixed order wins.
        (
            "nodes=-1&platform=x&service=y",
            "[INVALID_REQUEST] invalid service parameter: [INVALID_REQUEST] invalid service type: y",
        ),
    ];
    for (query, text) in cases {
        let reply = get(&state, &format!("/v1/recipe?{query}"), &[]).await;
        let v = assert_envelope(&reply, 400, "INVALID_REQUEST");
        assert_eq!(v["message"], "Invalid recipe criteria", "{query}");
        assert_eq!(v["details"]["error"], text, "{query}");
        assert_eq!(v["retryable"], false);
        assert_eq!(reply.header("cache-control"), None);
    }
    // `<` is escaped the Go way in the envelope bytes.
    let reply = get(&state, "/v1/recipe?service=%3Cb%3E", &[]).await;
    assert!(std::str::from_utf8(&reply.body).unwrap().contains("\\u003cb\\u003e"));
    // A malformed escape is a 400, not a silently dropped pair (stance Q5).
    let reply = get(&state, "/v1/recipe?service=%zz", &[]).await;
    let v = assert_envelope(&reply, 400, "INVALID_REQUEST");
    assert!(v["details"]["error"].as_str().unwrap().contains("%zz"));
}

#[tokio::test]
async fn post_json_and_yaml_give_the_get_bytes() {
    let state = state();
    let get_reply = get(&state, "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu&nodes=4", &[]).await;
    let json = r#"{"kind":"RecipeCriteria","apiVersion":"aicr.nvidia.com/v1alpha1","spec":{"service":"eks","accelerator":"h100","intent":"training","os":"ubuntu","nodes":4}}"#;
    let yaml = "kind: RecipeCriteria\napiVersion: aicr.nvidia.com/v1alpha1\nmetadata:\n  name: x\nspec:\n  service: eks\n  accelerator: H100\n  intent: training\n  os: ubuntu\n  nodes: 4\n";
    for (body, ct) in [(json, "application/json"), (yaml, "application/x-yaml"), (yaml, "text/yaml; charset=utf-8")] {
        let reply = send(&state, request(Method::POST, "/v1/recipe?service=gke", &[("content-type", ct)], body)).await;
        assert_eq!(reply.status, 200, "{ct}: {:?}", reply.body);
        assert_eq!(reply.body, get_reply.body, "{ct}");
        assert_eq!(reply.header("etag"), get_reply.header("etag"));
    }
    let reply = send(&state, request(Method::POST, "/v1/recipe", &[], "null")).await;
    assert_eq!(reply.body, expected_body(&state, CriteriaKey::default(), 0));
}

#[tokio::test]
async fn post_errors() {
    let state = state();
    let cases: &[(&str, &str, &str)] = &[
        ("", "application/json", "[INVALID_REQUEST] request body is empty"),
        ("{\"spec\":", "application/json", "[INVALID_REQUEST] failed to parse JSON body: "),
        ("{} trailing", "", "[INVALID_REQUEST] failed to parse JSON body: "),
        ("spec: {}\nspec: {}\n", "application/yaml", "[INVALID_REQUEST] failed to parse YAML body: "),
        (
            "kind: x",
            "text/plain",
            "[INVALID_REQUEST] unsupported content type \"text/plain\" and failed to parse as JSON: ",
        ),
        (
            "{\"kind\":\"Recipe\"}",
            "application/json",
            "[INVALID_REQUEST] invalid kind \"Recipe\", expected \"RecipeCriteria\"",
        ),
        (
            "{\"apiVersion\":\"v2\"}",
            "application/json",
            "[INVALID_REQUEST] invalid apiVersion \"v2\", expected \"aicr.nvidia.com/v1alpha1\"",
        ),
        (
            "{\"spec\":{\"os\":\"win\"}}",
            "application/json",
            "[INVALID_REQUEST] invalid os in criteria spec: [INVALID_REQUEST] invalid os type: win",
        ),
        ("{\"spec\":{\"nodes\":-2}}", "application/json", "[INVALID_REQUEST] invalid nodes count: -2 (must be >= 0)"),
        ("{\"spec\":{\"nodes\":2.5}}", "application/json", "[INVALID_REQUEST] failed to parse JSON body: "),
    ];
    for (body, ct, prefix) in cases {
        let headers: Vec<(&str, &str)> = if ct.is_empty() { vec![] } else { vec![("content-type", *ct)] };
        let reply = send(&state, request(Method::POST, "/v1/recipe", &headers, *body)).await;
        let v = assert_envelope(&reply, 400, "INVALID_REQUEST");
        let text = v["details"]["error"].as_str().unwrap();
        assert!(text.starts_with(prefix), "{body:?}: {text}");
    }
}

#[tokio::test]
async fn head_is_get_without_a_body_and_other_methods_are_405() {
    let state = state();
    let get_reply = get(&state, "/v1/recipe?service=kind", &[]).await;
    let head = send(&state, request(Method::HEAD, "/v1/recipe?service=kind", &[], Body::empty())).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), get_reply.header("etag"));
    assert_eq!(head.header("cache-control"), Some("public, max-age=600"));
    for method in [Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS] {
        let reply = send(&state, request(method.clone(), "/v1/recipe", &[], Body::empty())).await;
        let v = assert_envelope(&reply, 405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header("allow"), Some("GET, HEAD, POST"));
        assert_eq!(v["message"], "Method not allowed");
        assert_eq!(v["details"]["method"], method.as_str());
        assert_eq!(v["details"]["allowed"], serde_json::json!(["GET", "HEAD", "POST"]));
    }
}

#[tokio::test]
async fn conditional_get() {
    let state = state();
    let uri = "/v1/recipe?service=aks&intent=training";
    let first = get(&state, uri, &[]).await;
    let tag = first.header("etag").unwrap().to_string();
    let weak = format!("W/{tag}");
    let list = format!("\"nope\", {tag}");
    for inm in [tag.as_str(), weak.as_str(), list.as_str(), "*"] {
        let reply = get(&state, uri, &[("if-none-match", inm)]).await;
        assert_eq!(reply.status, 304, "{inm}");
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("etag"), Some(tag.as_str()));
        assert_eq!(reply.header("cache-control"), Some("public, max-age=600"));
        assert_eq!(reply.header("vary"), Some("Accept-Encoding"));
    }
    let reply = get(&state, uri, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, first.body);
    // Another criteria combination has another tag.
    let other = get(&state, "/v1/recipe?service=aks&intent=inference", &[]).await;
    assert_ne!(other.header("etag"), first.header("etag"));
    // POST cannot answer 304: a matching precondition fails with 412.
    let post = send(
        &state,
        request(
            Method::POST,
            "/v1/recipe",
            &[("if-none-match", &tag)],
            r#"{"spec":{"service":"aks","intent":"training"}}"#,
        ),
    )
    .await;
    assert_envelope(&post, 412, "PRECONDITION_FAILED");
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
            out
        }
        "zstd" => zstd::decode_all(body).unwrap(),
        other => panic!("unexpected coding {other}"),
    }
}

#[tokio::test]
async fn each_coding_decodes_to_the_identity_bytes_under_its_own_tag() {
    let state = state();
    for query in ["service=eks&accelerator=gb200&intent=inference", "service=gke&os=cos&nodes=12"] {
        let uri = format!("/v1/recipe?{query}");
        let identity = get(&state, &uri, &[("accept-encoding", "identity")]).await;
        assert_eq!(identity.header("content-encoding"), None);
        let mut tags = vec![identity.header("etag").unwrap().to_string()];
        for coding in ["gzip", "zstd"] {
            let reply = get(&state, &uri, &[("accept-encoding", coding)]).await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.header("content-encoding"), Some(coding));
            assert_eq!(reply.header("vary"), Some("Accept-Encoding"));
            assert_eq!(decode(coding, &reply.body), identity.body, "{coding} {query}");
            let tag = reply.header("etag").unwrap().to_string();
            assert!(!tags.contains(&tag));
            // A tag only revalidates its own representation.
            let again = get(&state, &uri, &[("accept-encoding", coding), ("if-none-match", &tag)]).await;
            assert_eq!(again.status, 304);
            let cross = get(&state, &uri, &[("accept-encoding", "identity"), ("if-none-match", &tag)]).await;
            assert_eq!(cross.status, 200);
            tags.push(tag);
        }
    }
    let best = get(&state, "/v1/recipe", &[("accept-encoding", "gzip;q=0.5, zstd;q=0.8, identity;q=0.1")]).await;
    assert_eq!(best.header("content-encoding"), Some("zstd"));
    let refused = get(&state, "/v1/recipe", &[("accept-encoding", "identity;q=0, *;q=0")]).await;
    assert_envelope(&refused, 406, "NOT_ACCEPTABLE");
    let fallback = get(&state, "/v1/recipe", &[("accept-encoding", "br;q=1, gzip;q=0")]).await;
    assert_eq!(fallback.status, 200);
    assert_eq!(fallback.header("content-encoding"), None);
}

#[tokio::test]
async fn nodes_changes_only_the_echo() {
    let state = state();
    let key = eks_h100_training();
    let plain = get(&state, "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu", &[]).await;
    let reply = get(&state, "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu&nodes=%2B7", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, expected_body(&state, key, 7));
    let with = String::from_utf8(reply.body.to_vec()).unwrap();
    let without = String::from_utf8(plain.body.to_vec()).unwrap();
    assert_eq!(with.replacen(",\"nodes\":7", "", 1), without);
    assert!(with.contains("\"platform\":\"any\",\"nodes\":7}"));
    assert_ne!(reply.header("etag"), plain.header("etag"));
    let zeros = get(&state, "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu&nodes=0", &[]).await;
    assert_eq!(zeros.body, plain.body);
    assert_eq!(zeros.header("etag"), plain.header("etag"));
    let gz = get(
        &state,
        "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu&nodes=7",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(decode("gzip", &gz.body), reply.body);
    assert_ne!(gz.header("etag"), reply.header("etag"));
    let again = get(&state, "/v1/recipe?service=eks&accelerator=h100&intent=training&os=ubuntu&nodes=7", &[]).await;
    assert_eq!(again.header("etag"), reply.header("etag"), "tags are stable");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let state = state();
    let big = vec![b' '; (1 << 20) + 1];
    let reply = send(&state, request(Method::POST, "/v1/recipe", &[], big)).await;
    let v = assert_envelope(&reply, 413, "INVALID_REQUEST");
    assert_eq!(v["message"], "Request body exceeds maximum allowed size");
    assert_eq!(v["details"]["limit_bytes"], 1 << 20);
}

#[tokio::test]
async fn unknown_paths_are_404_and_request_ids_are_echoed() {
    let state = state();
    for path in ["/v1/recipe/", "/V1/RECIPE", "/v1/recipes", "/nope"] {
        let reply = get(&state, path, &[]).await;
        assert_envelope(&reply, 404, "NOT_FOUND");
    }
    let id = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    let reply = get(&state, "/v1/recipe?service=bad", &[("x-request-id", id)]).await;
    assert_eq!(reply.header("x-request-id"), Some(id));
    assert_eq!(reply.json()["requestId"], id);
    let reply = get(&state, "/v1/recipe", &[("x-request-id", "not-a-uuid")]).await;
    assert_ne!(reply.header("x-request-id"), Some("not-a-uuid"));
}
