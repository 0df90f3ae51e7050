//! `/v1/query` through the router on the embedded catalog: GET and POST (JSON and
//! YAML) agree, 200s are cacheable with a strong ETag, conditional requests get 304
//! (GET/HEAD) or 412 (POST), and failures are envelopes with the right status.

use aicrd::recipe::catalog::Catalog;
use aicrd::server::{AppState, Settings};
use aicrd::table::{RecipeTable, embedded_catalog_files};
use axum::Router;
use axum::body::{Body, Bytes};
use http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use std::sync::OnceLock;
use tower::ServiceExt;

const QUERY: &str = "service=eks&accelerator=h100&intent=training&os=ubuntu&platform=kubeflow";
const CRITERIA_JSON: &str =
    r#"{"service":"eks","accelerator":"h100","intent":"training","os":"ubuntu","platform":"kubeflow"}"#;
const CRITERIA_YAML: &str =
    "criteria:\n  service: eks\n  accelerator: h100\n  intent: training\n  os: ubuntu\n  platform: kubeflow\n";

fn router() -> Router {
    static STATE: OnceLock<AppState> = OnceLock::new();
    let state = STATE.get_or_init(|| {
        let catalog = Catalog::from_files(embedded_catalog_files()).expect("embedded catalog");
        AppState::new(RecipeTable::embedded(), catalog, Settings { rate_limit: 0, ..Settings::default() })
    });
    aicrd::router(state.clone())
}

async fn send(request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = router().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, axum::body::to_bytes(body, usize::MAX).await.expect("body"))
}

async fn get(query: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::get(format!("/v1/query?{query}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request.body(Body::empty()).unwrap()).await
}

async fn post(content_type: Option<&str>, body: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::post("/v1/query");
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request.body(Body::from(body.to_string())).unwrap()).await
}

fn json_of(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).expect("JSON body")
}

#[tokio::test]
async fn whole_document_and_selected_values_agree() {
    let (status, headers, body) = get(&format!("{QUERY}&selector="), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=600");
    assert!(headers.get(header::VARY).is_none());
    assert!(body.ends_with(b"}\n"));
    let whole = json_of(&body);
    assert_eq!(whole["kind"], "RecipeResult");
    assert_eq!(
        whole["criteria"],
        json!({"service": "eks", "accelerator": "h100", "intent": "training", "os": "ubuntu", "platform": "kubeflow", "nodes": 0})
    );
    assert!(whole.get("componentRefs").is_none() && whole.get("validation").is_none());
    let order = whole["deploymentOrder"].as_array().unwrap();
    assert_eq!(order.len(), whole["components"].as_object().unwrap().len());

    for selector in [".", "", "%2E"] {
        let (_, _, same) = get(&format!("{QUERY}&selector={selector}"), &[]).await;
        assert_eq!(same, body, "selector {selector:?}");
    }
    let (_, _, same) = get(QUERY, &[]).await;
    assert_eq!(same, body);

    let (status, _, version) =
        get(&format!("{QUERY}&selector=components.gpu-operator.values.driver.version"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&version), whole["components"]["gpu-operator"]["values"]["driver"]["version"]);
    assert!(version.starts_with(b"\"") && version.ends_with(b"\"\n"));
    let (_, _, nodes) = get(&format!("{QUERY}&nodes=8&selector=.criteria.nodes"), &[]).await;
    assert_eq!(&nodes[..], b"8\n");
}

#[tokio::test]
async fn get_and_post_bodies_match_in_json_and_yaml() {
    let selector = "components.gpu-operator.values.driver";
    let (_, get_headers, get_body) = get(&format!("{QUERY}&selector={selector}"), &[]).await;
    let json_body = format!(r#"{{"criteria":{CRITERIA_JSON},"selector":"{selector}"}}"#);
    let yaml_body = format!("{CRITERIA_YAML}selector: {selector}\n");
    for (content_type, body) in [
        (Some("application/json"), json_body.as_str()),
        (Some("application/vnd.aicr+json; charset=utf-8"), json_body.as_str()),
        (Some("application/x-yaml"), yaml_body.as_str()),
        (Some("text/plain"), yaml_body.as_str()),
        (None, yaml_body.as_str()),
        (Some("application/yaml"), json_body.as_str()),
    ] {
        let (status, headers, bytes) = post(content_type, body, &[]).await;
        assert_eq!(status, StatusCode::OK, "{content_type:?}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(bytes, get_body, "{content_type:?}");
        assert_eq!(headers[header::ETAG], get_headers[header::ETAG], "{content_type:?}");
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=600");
    }
}

#[tokio::test]
async fn conditional_requests() {
    let query = format!("{QUERY}&selector=deploymentOrder");
    let (_, headers, _) = get(&query, &[]).await;
    let tag = headers[header::ETAG].to_str().unwrap().to_string();
    assert!(tag.starts_with('"') && tag.ends_with('"') && !tag.starts_with("W/"));

    for inm in [tag.as_str(), &format!("W/{tag}"), &format!("\"other\", {tag}"), "*"] {
        let (status, headers, body) = get(&query, &[("if-none-match", inm)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{inm}");
        assert_eq!(headers[header::ETAG], tag.as_str());
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=600");
        assert!(body.is_empty());
    }
    let (status, _, _) = get(&query, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(status, StatusCode::OK);
    // Another selector, other criteria: another representation, another tag.
    let (_, other, _) = get(&format!("{QUERY}&selector=kind"), &[]).await;
    assert_ne!(other[header::ETAG], tag.as_str());
    let (_, other, _) = get(&format!("{QUERY}&nodes=4&selector=deploymentOrder"), &[]).await;
    assert_ne!(other[header::ETAG], tag.as_str());
    // A selector that misses is a 404 whatever If-None-Match says.
    let (status, _, _) = get(&format!("{QUERY}&selector=nope"), &[("if-none-match", "*")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let head = Request::builder().method(Method::HEAD).uri(format!("/v1/query?{query}")).body(Body::empty()).unwrap();
    let (status, headers, body) = send(head).await;
    assert_eq!((status, body.is_empty()), (StatusCode::OK, true));
    assert_eq!(headers[header::ETAG], tag.as_str());

    let body = format!(r#"{{"criteria":{CRITERIA_JSON},"selector":"deploymentOrder"}}"#);
    let (status, _, bytes) = post(Some("application/json"), &body, &[("if-none-match", &tag)]).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(json_of(&bytes)["code"], "PRECONDITION_FAILED");
}

#[tokio::test]
async fn selector_misses_are_404_envelopes() {
    let (status, headers, body) =
        get(&format!("{QUERY}&selector=components.gpu-operator.values.driver.version.x"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.get(header::CACHE_CONTROL).is_none() && headers.get(header::ETAG).is_none());
    let envelope = json_of(&body);
    assert_eq!(envelope["code"], "NOT_FOUND");
    assert_eq!(envelope["message"], "Selector path not found");
    assert_eq!(envelope["retryable"], false);
    assert_eq!(envelope["requestId"], headers["x-request-id"].to_str().unwrap());
    assert_eq!(
        envelope["details"],
        json!({
            "selector": "components.gpu-operator.values.driver.version.x",
            "error": "[NOT_FOUND] selector \"components.gpu-operator.values.driver.version.x\": cannot descend into non-map value at \"x\"",
        })
    );

    let (_, _, body) = get(&format!("{QUERY}&selector=.metadata..x"), &[]).await;
    assert_eq!(
        json_of(&body)["details"],
        json!({
            "selector": ".metadata..x",
            "error": "[NOT_FOUND] selector \"metadata..x\": key \"\" not found, available keys: appliedOverlays, constraintWarnings, excludedOverlays, version",
        })
    );
}

#[tokio::test]
async fn bad_input_is_a_400_envelope() {
    let expect_400 = |(status, _, body): (StatusCode, HeaderMap, Bytes), message: &str| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        let envelope = json_of(&body);
        assert_eq!((envelope["code"].as_str(), envelope["message"].as_str()), (Some("INVALID_REQUEST"), Some(message)));
        envelope
    };
    let envelope = expect_400(get("service=foo&selector=nope", &[]).await, "Invalid query criteria");
    assert_eq!(
        envelope["details"]["error"],
        "[INVALID_REQUEST] invalid service parameter: [INVALID_REQUEST] invalid service type: foo"
    );
    expect_400(post(Some("application/json"), "", &[]).await, "Invalid query request body");
    expect_400(post(Some("application/json"), "{\"criteria\":", &[]).await, "Invalid query request body");
    let envelope = expect_400(
        post(Some("application/json"), r#"{"criteria":{"nodes":-1}}"#, &[]).await,
        "Invalid criteria in request body",
    );
    assert_eq!(envelope["details"]["error"], "[INVALID_REQUEST] invalid nodes count: -1 (must be >= 0)");
    let envelope = expect_400(post(None, "selector: kind\n", &[]).await, "Query criteria cannot be empty");
    assert!(envelope.get("details").is_none());

    let too_big = format!("{CRITERIA_YAML}selector: {}\n", "x".repeat(1 << 20));
    assert_eq!(post(None, &too_big, &[]).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    let put = Request::builder().method(Method::PUT).uri("/v1/query").body(Body::empty()).unwrap();
    let (status, headers, body) = send(put).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET, HEAD, POST");
    assert_eq!(json_of(&body)["details"]["allowed"], json!(["GET", "HEAD", "POST"]));
}
