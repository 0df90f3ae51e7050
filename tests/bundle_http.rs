//! `POST /v1/bundle` framing: method, query/body errors and their order, the zip
//! response and its headers, body cap, trailing bytes.

use aicrd::recipe::catalog::Catalog;
use aicrd::server::{AppState, Limits, Settings};
use aicrd::table::RecipeTable;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;
use tower::ServiceExt;

fn state(limits: Limits) -> AppState {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    let catalog = CATALOG.get_or_init(|| Catalog::load(Path::new("../shared/reference/aicr-v0.11.1/recipes")).unwrap());
    AppState::new(RecipeTable::embedded(), catalog.clone(), Settings { limits, rate_limit: 0, ..Settings::default() })
}

fn recipe() -> Vec<u8> {
    std::fs::read("../shared/conformance/bundles/helm-eks-h100-training-ubuntu/recipe.json").unwrap()
}

async fn send(
    method: &str,
    query: &str,
    body: Vec<u8>,
    limits: Limits,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let uri = if query.is_empty() { "/v1/bundle".to_string() } else { format!("/v1/bundle?{query}") };
    let req = Request::builder().method(method).uri(uri).body(Body::from(body)).unwrap();
    let res = aicrd::router(state(limits)).oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    (parts.status, parts.headers, bytes)
}

fn error_body(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn only_post_is_allowed() {
    for method in ["GET", "PUT", "DELETE", "HEAD"] {
        let (status, headers, _) = send(method, "", Vec::new(), Limits::default()).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers["allow"], "POST");
    }
}

#[tokio::test]
async fn helm_bundle_response() {
    let (status, headers, zip) = send("POST", "", recipe(), Limits::default()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/zip");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"bundles.zip\"");
    let duration = headers["x-bundle-duration"].as_bytes();
    let duration = std::str::from_utf8(duration).unwrap();
    assert!(duration.ends_with('s') && duration.chars().next().unwrap().is_ascii_digit(), "{duration}");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut files = 0;
    let mut size = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mode = entry.unix_mode().unwrap();
        if entry.is_dir() {
            assert_eq!(mode & 0o777, 0o755);
            continue;
        }
        files += 1;
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        size += content.len();
        let name = entry.name().unwrap().to_string();
        assert_eq!(mode & 0o777, if name.ends_with(".sh") { 0o755 } else { 0o600 }, "{name}");
    }
    assert_eq!(headers["x-bundle-files"], files.to_string().as_str());
    assert_eq!(headers["x-bundle-size"], size.to_string().as_str());
}

#[tokio::test]
async fn identical_requests_give_identical_zips() {
    let q = "deployer=argocd&repo=https://git.example.com/x.git";
    let (_, _, one) = send("POST", q, recipe(), Limits::default()).await;
    let (_, _, two) = send("POST", q, recipe(), Limits::default()).await;
    assert_eq!(one, two);
}

#[tokio::test]
async fn query_errors_come_before_the_body() {
    let (status, _, body) =
        send("POST", "nodes=-1&deployer=foo&set=missing-colon", b"not json".to_vec(), Limits::default()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let e = error_body(&body);
    assert_eq!(e["code"], "INVALID_REQUEST");
    assert_eq!(e["message"], "Invalid set parameter");
    assert_eq!(e["retryable"], false);
    let (_, _, body) = send("POST", "nodes=abc", b"not json".to_vec(), Limits::default()).await;
    let e = error_body(&body);
    assert_eq!(e["message"], "nodes must be a non-negative integer");
    assert!(e.get("details").is_none());
}

#[tokio::test]
async fn body_errors() {
    let cases: [(&[u8], &str, Option<&str>); 5] = [
        (b"", "Invalid request body", Some("EOF")),
        (
            b"{\"componentRefs\": [ }",
            "Invalid request body",
            Some("invalid character '}' looking for beginning of value"),
        ),
        (b"{\"componentRefs\":[]}", "Recipe must contain at least one component reference", None),
        (b"null", "Recipe must contain at least one component reference", None),
        (
            b"{\"componentRefs\":[{\"name\":\"a\"}]}{",
            "Invalid request body",
            Some("invalid character '{' after top-level value"),
        ),
    ];
    for (body, message, error) in cases {
        let (status, _, out) = send("POST", "", body.to_vec(), Limits::default()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let e = error_body(&out);
        assert_eq!(e["message"], message);
        assert_eq!(e["details"]["error"].as_str(), error);
    }
}

#[tokio::test]
async fn unsafe_names_are_client_errors() {
    let (status, _, out) =
        send("POST", "", b"{\"componentRefs\":[{\"name\":\"../escape\"}]}".to_vec(), Limits::default()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let e = error_body(&out);
    assert_eq!(e["code"], "INVALID_REQUEST");
    assert_eq!(e["retryable"], false);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let limits = Limits { bundle_body: 64, ..Limits::default() };
    let (status, _, out) = send("POST", "", recipe(), limits).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_body(&out)["details"]["limit_bytes"], 64);
}
