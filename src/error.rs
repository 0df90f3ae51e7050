//! The one error type at the HTTP boundary and its JSON envelope:
//! `{"code","message","details"?,"requestId","timestamp","retryable"}` (http-api spec §10).
//!
//! Handlers return `ApiError`; `into_response` sets status and headers and parks the
//! error in the response extensions. The request-id middleware, which knows the id,
//! renders every envelope in [`render`] — the only place the body is written.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// An API error: status, machine code, human message, optional details.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`INVALID_REQUEST`, …).
    pub code: &'static str,
    /// Fixed human text per situation.
    pub message: Cow<'static, str>,
    /// Extra context; omitted from the body when empty.
    pub details: Map<String, Value>,
    /// Whether retrying the same request may succeed.
    pub retryable: bool,
    /// Headers to add (`Allow`, `Retry-After`, …).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        retryable: bool,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            retryable,
            headers: Vec::new(),
        }
    }

    /// Adds a `details` member.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 400 `INVALID_REQUEST` with `details.error`.
    pub fn invalid(message: impl Into<Cow<'static, str>>, error: impl Into<String>) -> Self {
        Self::invalid_bare(message).detail("error", error.into())
    }

    /// 400 `INVALID_REQUEST` without details.
    pub fn invalid_bare(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message, false)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message, false)
    }

    /// 405 with `Allow` and `details.method` (and `details.allowed` when given).
    pub fn method_not_allowed(method: &str, allow: &'static str, list_allowed: bool) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Method not allowed",
            false,
        )
        .detail("method", method)
        .header(header::ALLOW, HeaderValue::from_static(allow));
        if list_allowed {
            let allowed: Vec<Value> = allow.split(", ").map(|m| Value::from(m)).collect();
            e = e.detail("allowed", allowed);
        }
        e
    }

    /// 406: no acceptable content coding.
    pub fn not_acceptable() -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            "No acceptable content encoding",
            false,
        )
        .detail("available", vec!["zstd", "gzip", "identity"])
    }

    /// 412: `If-None-Match` matched on a method that cannot answer 304.
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
            "Precondition failed",
            false,
        )
    }

    /// 413 (http-api spec Q9).
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_REQUEST",
            "Request body exceeds maximum allowed size",
            false,
        )
        .detail("limit_bytes", limit)
    }

    /// 408 for a body that did not arrive in time (http-api spec Q8).
    pub fn request_timeout(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "TIMEOUT",
            "Request body was not received in time",
            true,
        )
        .detail("error", error.into())
    }

    /// 500 `INTERNAL_ERROR`.
    pub fn internal(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal server error",
            true,
        )
        .detail("error", error.into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        for (name, value) in &self.headers {
            res.headers_mut().append(name.clone(), value.clone());
        }
        res.extensions_mut().insert(self);
        res
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Map::is_empty")]
    details: &'a Map<String, Value>,
    request_id: &'a str,
    timestamp: String,
    retryable: bool,
}

/// RFC 3339 UTC timestamp with nanoseconds, trailing zeros trimmed.
pub fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Writes the envelope body for `error` into `res` (called by the request-id layer).
pub fn render(error: &ApiError, request_id: &str, res: &mut Response) {
    let envelope = Envelope {
        code: error.code,
        message: &error.message,
        details: &error.details,
        request_id,
        timestamp: timestamp(),
        retryable: error.retryable,
    };
    let body = crate::recipe::json::to_document(&envelope);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut().remove(header::CONTENT_LENGTH);
    *res.body_mut() = axum::body::Body::from(body);
}
