//! The operational surface through the router (http-api spec §2–§5, §10–§14 and our
//! stances in §17): `/`, `/health`, `/ready`, `/metrics`, 404/405, `X-Api-Version`,
//! rate limiting with a fake clock, metric names and bounded labels, allowlists,
//! body deadlines (408) and panic recovery.

mod common;

use aicrd::allowlist::Allowlists;
use aicrd::http::rate_limit::{Bucket, Limiter};
use aicrd::server::{AppState, Settings, build};
use axum::Router;
use axum::body::Body;
use axum::http::Method;
use axum::routing::get as route_get;
use common::*;
use governor::clock::FakeRelativeClock;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

async fn send_to(app: &Router, req: axum::http::Request<Body>) -> Reply {
    use http_body_util::BodyExt;
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
}

fn state_with(settings: Settings) -> AppState {
    AppState::embedded(settings).unwrap()
}

#[tokio::test]
async fn root_lists_the_api_routes() {
    let state = state();
    let reply = get(&state, "/", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-api-version"), Some("v1"));
    let v = reply.json();
    assert_eq!(v["service"], "aicrd");
    assert_eq!(v["version"], aicrd::table::VERSION);
    let mut routes: Vec<&str> = v["routes"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    routes.sort();
    assert_eq!(routes, ["/v1/bundle", "/v1/query", "/v1/recipe"]);
    let head = send(&state, request(Method::HEAD, "/", &[], Body::empty())).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let post = send(&state, request(Method::POST, "/", &[], Body::empty())).await;
    assert_envelope(&post, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let state = state();
    let health = get(&state, "/health", &[]).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "healthy");
    assert!(health.header("x-ratelimit-limit").is_none(), "system endpoints are not rate limited");
    let ready = get(&state, "/ready", &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
    state.set_ready(false);
    let not_ready = get(&state, "/ready", &[]).await;
    let v = assert_envelope(&not_ready, 503, "SERVICE_UNAVAILABLE");
    assert_eq!(v["details"]["reason"], "shutting down");
    assert_eq!(v["retryable"], true);
    let metrics = get(&state, "/metrics", &[]).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    for path in ["/health", "/ready", "/metrics"] {
        let head = send(&state, request(Method::HEAD, path, &[], Body::empty())).await;
        assert!(head.status == 200 || head.status == 503, "{path}");
        assert!(head.body.is_empty());
        let put = send(&state, request(Method::PUT, path, &[], Body::empty())).await;
        assert_envelope(&put, 405, "METHOD_NOT_ALLOWED");
        assert_eq!(put.header("allow"), Some("GET, HEAD"), "{path}");
    }
}

#[tokio::test]
async fn metric_names_buckets_and_bounded_labels() {
    let state = state();
    get(&state, "/v1/recipe?service=eks", &[]).await;
    get(&state, "/v1/recipe?service=bad", &[]).await;
    for path in ["/nope", "/v1/recipe/", "/x/y/z"] {
        get(&state, path, &[]).await;
    }
    get(&state, "/health", &[]).await;
    let text = String::from_utf8(get(&state, "/metrics", &[]).await.body.to_vec()).unwrap();
    for name in [
        "aicr_http_requests_total",
        "aicr_http_request_duration_seconds",
        "aicr_http_requests_in_flight",
        "aicr_rate_limit_rejects_total",
        "aicr_panic_recoveries_total",
    ] {
        assert!(text.contains(&format!("# TYPE {name}")), "{name} missing");
    }
    assert!(text.contains(r#"aicr_http_requests_total{method="GET",path="/v1/recipe",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"aicr_http_requests_total{method="GET",path="/v1/recipe",status="400"} 1"#));
    assert!(text.contains(r#"aicr_http_requests_total{method="GET",path="unmatched",status="404"} 3"#));
    assert!(text.contains(r#"le="0.005""#) && text.contains(r#"le="10""#));
    assert!(!text.contains("/nope") && !text.contains("path=\"/health\""));
    assert!(text.contains("aicr_http_requests_in_flight 0"));
}

fn limited(limit: u32, burst: u32) -> (AppState, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let bucket = Bucket::with_clock(limit, burst, clock.clone()).unwrap();
    let base = state();
    let state = AppState::with_limiter(
        aicrd::table::RecipeTable::embedded(),
        base.catalog.clone(),
        Settings::default(),
        Some(Arc::new(bucket) as Arc<dyn Limiter>),
    );
    (state, clock)
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let (state, clock) = limited(100, 3);
    for remaining in ["2", "1", "0"] {
        let reply = get(&state, "/v1/recipe", &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("100"));
        assert_eq!(reply.header("x-ratelimit-remaining"), Some(remaining));
        let reset: u64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(reset >= now && reset <= now + 2);
    }
    let refused = get(&state, "/v1/recipe", &[]).await;
    let v = assert_envelope(&refused, 429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(v["message"], "Rate limit exceeded");
    assert_eq!(v["retryable"], true);
    assert_eq!(v["details"], serde_json::json!({"burst": 3, "limit": 100}));
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(refused.header("x-ratelimit-limit"), Some("100"));
    assert!(refused.header("x-ratelimit-reset").is_some());
    // Errors cost a token too, and system endpoints none.
    assert_eq!(get(&state, "/health", &[]).await.status, 200);
    clock.advance(Duration::from_millis(10));
    assert_eq!(get(&state, "/v1/recipe?service=bad", &[]).await.status, 400);
    assert_eq!(get(&state, "/nope", &[]).await.status, 429);
    clock.advance(Duration::from_secs(1));
    assert_eq!(get(&state, "/v1/recipe", &[]).await.status, 200);
    let text = String::from_utf8(get(&state, "/metrics", &[]).await.body.to_vec()).unwrap();
    assert!(text.contains("aicr_rate_limit_rejects_total 2"), "{text}");
    assert!(text.contains(r#"status="429"} 1"#));
}

#[tokio::test]
async fn rate_limit_zero_means_off() {
    let state = state_with(Settings { rate_limit: 0, ..Settings::default() });
    for _ in 0..300 {
        let reply = get(&state, "/v1/recipe", &[]).await;
        assert_eq!(reply.status, 200);
        assert!(reply.header("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn allowlists_apply_after_normalisation() {
    let allowlists = Allowlists::parse(Some("h100, L40"), Some("eks,aks"), None, Some("al2")).unwrap();
    let state = state_with(Settings { allowlists, ..Settings::default() });
    for ok in
        ["/v1/recipe", "/v1/recipe?accelerator=H100&service=EKS", "/v1/recipe?gpu=l40&os=al2023", "/v1/recipe?os=any"]
    {
        assert_eq!(get(&state, ok, &[]).await.status, 200, "{ok}");
    }
    let cases = [
        ("/v1/recipe?accelerator=gb200&service=gke", "accelerator type not allowed", "gb200", vec!["h100", "l40"]),
        ("/v1/recipe?service=gke", "service type not allowed", "gke", vec!["eks", "aks"]),
        ("/v1/recipe?os=ubuntu", "OS type not allowed", "ubuntu", vec!["amazonlinux"]),
    ];
    for (uri, message, requested, allowed) in cases {
        let reply = get(&state, uri, &[]).await;
        let v = assert_envelope(&reply, 400, "INVALID_REQUEST");
        assert_eq!(v["message"], message);
        assert_eq!(v["details"], serde_json::json!({"allowed": allowed, "requested": requested}));
    }
    // POST bodies are normalised first; omitted fields are `any` and pass.
    let post = send(&state, request(Method::POST, "/v1/recipe", &[], r#"{"spec":{"accelerator":"H100"}}"#)).await;
    assert_eq!(post.status, 200);
    let post = send(&state, request(Method::POST, "/v1/recipe", &[], r#"{"spec":{"accelerator":"b200"}}"#)).await;
    assert_eq!(assert_envelope(&post, 400, "INVALID_REQUEST")["message"], "accelerator type not allowed");
    // /v1/query applies the same lists after the same normalisation.
    let query = get(&state, "/v1/query?accelerator=gb200&selector=criteria", &[]).await;
    assert_eq!(assert_envelope(&query, 400, "INVALID_REQUEST")["message"], "accelerator type not allowed");
    let query = send(
        &state,
        request(
            Method::POST,
            "/v1/query",
            &[("content-type", "application/json")],
            r#"{"criteria":{"accelerator":"H100"},"selector":"criteria.accelerator"}"#,
        ),
    )
    .await;
    assert_eq!(query.status, 200);
    assert_eq!(query.json(), "h100");
    // Syntax errors win over allowlist errors.
    let bad = get(&state, "/v1/recipe?accelerator=bogus", &[]).await;
    assert_eq!(bad.json()["message"], "Invalid recipe criteria");
}

#[tokio::test]
async fn a_body_that_never_finishes_is_408() {
    let mut settings = Settings::default();
    settings.timeouts.body = Duration::from_millis(50);
    let state = state_with(settings);
    let stream = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let req = request(Method::POST, "/v1/recipe", &[("content-type", "application/json")], Body::from_stream(stream));
    let reply = send(&state, req).await;
    let v = assert_envelope(&reply, 408, "TIMEOUT");
    assert_eq!(v["retryable"], true);
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let state = state();
    async fn boom() -> &'static str {
        panic!("test-only failure")
    }
    let extra = Router::new().route("/boom", route_get(boom));
    let app = build(state.clone(), extra);
    let reply = send_to(&app, request(Method::GET, "/boom", &[], Body::empty())).await;
    let v = assert_envelope(&reply, 500, "INTERNAL_ERROR");
    assert_eq!(v["message"], "Internal server error");
    assert_eq!(v["retryable"], true);
    assert!(v.get("details").is_none(), "panic text must not leak");
    assert!(reply.header("x-ratelimit-limit").is_some(), "headers set before the panic stay");
    let ok = send_to(&app, request(Method::GET, "/v1/recipe", &[], Body::empty())).await;
    assert_eq!(ok.status, 200);
    let text =
        String::from_utf8(send_to(&app, request(Method::GET, "/metrics", &[], Body::empty())).await.body.to_vec())
            .unwrap();
    assert!(text.contains("aicr_panic_recoveries_total 1"));
    assert!(text.contains(r#"path="unmatched",status="500"} 1"#));
}
