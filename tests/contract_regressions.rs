//! Regressions found by the schemathesis contract run (.ci/run): inputs the OpenAPI
//! document allows that once made the server answer outside its contract.

mod common;

use axum::body::Body;
use axum::http::Method;
use common::*;

/// A posted recipe whose `manifestFiles` names a file the catalog does not have is
/// the client's mistake: 400 `INVALID_REQUEST`, not a retryable 500.
#[tokio::test]
async fn a_manifest_file_missing_from_the_catalog_is_a_client_error() {
    let state = state();
    let body = r#"{"kind":"RecipeResult","apiVersion":"aicr.nvidia.com/v1alpha1",
        "componentRefs":[{"name":"dDK3Lmt","manifestFiles":["no/such/manifest.yaml"]}]}"#;
    let reply = send(&state, request(Method::POST, "/v1/bundle", &[("content-type", "application/json")], body)).await;
    let e = assert_envelope(&reply, 400, "INVALID_REQUEST");
    assert_eq!(e["retryable"], false);
    assert_eq!(e["message"], "failed to collect component manifests");
    assert!(e["details"]["error"].as_str().unwrap().contains("no/such/manifest.yaml"), "{e}");
    // Without the bad manifest the same recipe renders.
    let ok = r#"{"kind":"RecipeResult","apiVersion":"aicr.nvidia.com/v1alpha1","componentRefs":[{"name":"dDK3Lmt"}]}"#;
    let reply = send(&state, request(Method::POST, "/v1/bundle", &[], Body::from(ok))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/zip"));
}
