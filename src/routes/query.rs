//! `GET`/`HEAD`/`POST /v1/query`: parse criteria and selector, look the combination's
//! hydrated recipe up in the index built at start-up, walk the selector, send the
//! selected value (http-api spec §11.4). The walk and serialising its result are the
//! only per-request work; the whole document is a splice of pre-serialised bytes.

use crate::error::ApiError;
use crate::http::query::{self, QueryRequest};
use crate::http::{body, etag};
use crate::recipe::select::SelectError;
use crate::server::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;

/// `message` of a selector that selects nothing.
pub const NOT_FOUND: &str = "Selector path not found";

/// `GET /v1/query` (HEAD is derived by the router).
pub async fn get(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    let request = query::from_query(uri.query(), &state.vocabulary)?;
    answer(&state, &request, &headers, false)
}

/// `POST /v1/query`: `{criteria, selector}` as JSON or YAML; the query string is ignored.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let bytes =
        body::read(&headers, body, state.limits.recipe_body, state.settings.timeouts.body, query::INVALID_BODY).await?;
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let request = query::from_body(&bytes, content_type.as_deref(), &state.vocabulary)?;
    answer(&state, &request, &headers, true)
}

fn not_found(error: SelectError, selector: &str) -> ApiError {
    ApiError::not_found(NOT_FOUND).detail("error", error.to_string()).detail("selector", selector)
}

/// The answer to parsed, normalised criteria and a selector.
fn answer(state: &AppState, request: &QueryRequest, headers: &HeaderMap, is_post: bool) -> Result<Response, ApiError> {
    // The criteria are normalised here (omitted = `any`): allowlists apply now.
    state.allowlists.check(&request.criteria.key)?;
    let document = state
        .queries
        .document(&request.criteria)
        .map_err(|e| ApiError { message: "Failed to build recipe".into(), ..ApiError::internal(e) })?;
    let selected = document.select(&request.selector).map_err(|e| not_found(e, &request.selector))?;
    let tag =
        HeaderValue::from_str(&document.etag(&request.selector)).map_err(|e| ApiError::internal(e.to_string()))?;
    etag::respond(headers, is_post, tag, None, || (Bytes::from(document.to_json(selected)), None))
}
