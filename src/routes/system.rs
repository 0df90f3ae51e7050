//! `/` (service, version, routes), `/health`, `/ready`, `/metrics` and `/openapi.yaml`.

use crate::error::{ApiError, timestamp};
use crate::server::AppState;
use crate::table::{BUILD_DATE, COMMIT, VERSION};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The API routes `/` lists.
pub const API_ROUTES: [&str; 3] = ["/v1/recipe", "/v1/query", "/v1/bundle"];

fn json<T: Serialize>(value: &T) -> Response {
    let mut res = crate::recipe::json::to_document(value).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Root {
    routes: [&'static str; 3],
    service: &'static str,
    version: &'static str,
    commit: &'static str,
    build_date: &'static str,
    openapi: &'static str,
}

/// `GET /`: service name, build identity and the API routes.
pub async fn root() -> Response {
    json(&Root {
        routes: API_ROUTES,
        service: "aicrd",
        version: VERSION,
        commit: COMMIT,
        build_date: BUILD_DATE,
        openapi: OPENAPI_PATH,
    })
}

/// Where the API's OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.yaml";

/// The OpenAPI 3.1 document describing every route (`docs/openapi.yaml`).
pub const OPENAPI: &str = include_str!("../../docs/openapi.yaml");

/// `GET /openapi.yaml`: the API contract, as YAML.
pub async fn openapi() -> Response {
    let mut res = OPENAPI.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    h.insert(header::CACHE_CONTROL, crate::http::etag::CACHE_CONTROL);
    res
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
    timestamp: String,
}

/// `GET /health`: 200 while the process serves.
pub async fn health() -> Response {
    json(&Status { status: "healthy", timestamp: timestamp() })
}

/// `GET /ready`: 200 while serving, 503 envelope while starting or draining.
pub async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    if state.is_ready() {
        Ok(json(&Status { status: "ready", timestamp: timestamp() }))
    } else {
        Err(ApiError::unavailable("shutting down"))
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut res = state.metrics.render().into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    res
}
