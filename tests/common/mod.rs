//! Shared helpers for router-level tests: build the app on the embedded catalog and
//! send one request through it without a socket.
#![allow(dead_code)]

use aicrd::server::{AppState, Settings};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A response, collected.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

pub fn state() -> AppState {
    AppState::embedded(Settings::default()).expect("embedded catalog loads")
}

pub async fn send(state: &AppState, req: Request<Body>) -> Reply {
    let res = aicrd::router(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
}

pub fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).unwrap()
}

pub async fn get(state: &AppState, uri: &str, headers: &[(&str, &str)]) -> Reply {
    send(state, request(Method::GET, uri, headers, Body::empty())).await
}

/// Asserts the error envelope shape and returns it.
pub fn assert_envelope(reply: &Reply, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(reply.status.as_u16(), status, "body: {:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in ["code", "message", "requestId", "timestamp", "retryable"] {
        assert!(keys.contains(&k), "missing {k} in {v}");
    }
    assert_eq!(v["code"], code);
    let id = v["requestId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(reply.header("x-request-id"), Some(id));
    let ts = v["timestamp"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(), "{ts}");
    assert!(ts.ends_with('Z'));
    // Field order is part of the envelope contract.
    let text = std::str::from_utf8(&reply.body).unwrap();
    let pos = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(pos("code") < pos("message") && pos("message") < pos("requestId") && pos("requestId") < pos("timestamp"));
    assert!(pos("timestamp") < pos("retryable"));
    v
}
