//! Reading request bodies under a size cap (http-api spec Q9: over the cap → 413).

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

/// Reads the whole body, refusing more than `limit` bytes. A declared
/// `Content-Length` over the cap is refused before reading.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    message: &'static str,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::payload_too_large(limit);
            }
            source = err.source();
        }
        ApiError::invalid(
            message,
            format!("[INVALID_REQUEST] failed to read request body: {e}"),
        )
    })
}
