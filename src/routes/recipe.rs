//! `GET`/`HEAD`/`POST /v1/recipe`: parse criteria, look the combination up in the
//! precompiled table, negotiate the coding, honour `If-None-Match`, send baked bytes.

use crate::error::ApiError;
use crate::http::{body, criteria, encoding, etag};
use crate::recipe::compile::Variant;
use crate::recipe::criteria::Criteria;
use crate::server::AppState;
use crate::table::{Coding, RecipeTable};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::io::Write;

/// `Cache-Control` of cacheable answers.
pub const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=600");
/// `Vary` of negotiated answers.
pub const VARY: HeaderValue = HeaderValue::from_static("Accept-Encoding");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// `message` of criteria errors.
pub const INVALID_CRITERIA: &str = "Invalid recipe criteria";

/// `GET /v1/recipe` (HEAD is derived by the router).
pub async fn get(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let criteria = criteria::from_query(uri.query())
        .map_err(|e| ApiError::invalid(INVALID_CRITERIA, e.to_string()))?;
    respond(&state.table, &criteria, &headers, false)
}

/// `POST /v1/recipe`: a `RecipeCriteria` document (JSON or YAML); the query is ignored.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body::read(&headers, body, state.limits.recipe_body, INVALID_CRITERIA).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let criteria = criteria::from_body(&bytes, content_type.as_deref())
        .map_err(|e| ApiError::invalid(INVALID_CRITERIA, e.to_string()))?;
    respond(&state.table, &criteria, &headers, true)
}

/// All `Accept-Encoding` lines joined, or `None` if there is none.
fn accept_encoding(headers: &HeaderMap) -> Option<String> {
    let mut lines = headers.get_all(header::ACCEPT_ENCODING).iter().peekable();
    lines.peek()?;
    Some(
        lines
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Splices `,"nodes":N` into an identity body at `at` (spec §7.2).
pub fn with_nodes(identity: &[u8], at: usize, nodes: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(identity.len() + 20);
    out.extend_from_slice(&identity[..at]);
    write!(out, ",\"nodes\":{nodes}").expect("write into memory");
    out.extend_from_slice(&identity[at..]);
    out
}

fn compress(coding: Coding, bytes: &[u8]) -> Vec<u8> {
    match coding {
        Coding::Identity => bytes.to_vec(),
        Coding::Gzip => {
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::new(6));
            enc.write_all(bytes).expect("gzip into memory");
            enc.finish().expect("gzip into memory")
        }
        Coding::Zstd => zstd::bulk::compress(bytes, 3).expect("zstd into memory"),
    }
}

/// The representation for criteria and coding: the baked bytes, or for `nodes > 0`
/// the spliced body (compressed now) under a tag derived from the baked variant's.
fn representation(
    table: &RecipeTable,
    criteria: &Criteria,
    coding: Coding,
) -> Result<(Bytes, HeaderValue), ApiError> {
    let entry = table
        .get(&criteria.key)
        .ok_or_else(|| ApiError::internal(format!("no compiled recipe for {}", criteria.key)))?;
    let variant: &Variant = RecipeTable::variant(entry, coding);
    if criteria.nodes == 0 {
        return Ok((table.bytes(variant), HeaderValue::from_static(variant.etag)));
    }
    let identity = table.bytes(&entry.identity);
    let spliced = with_nodes(&identity, entry.nodes_at as usize, criteria.nodes);
    let body = compress(coding, &spliced);
    let tag = format!(
        "{}-n{}\"",
        variant.etag.trim_end_matches('"'),
        criteria.nodes
    );
    let tag = HeaderValue::from_str(&tag).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((Bytes::from(body), tag))
}

/// Builds the answer for resolved criteria: 200 with the negotiated bytes, or 304
/// (GET/HEAD) / 412 (POST) when `If-None-Match` matches.
pub fn respond(
    table: &RecipeTable,
    criteria: &Criteria,
    headers: &HeaderMap,
    is_post: bool,
) -> Result<Response, ApiError> {
    let coding = encoding::negotiate(accept_encoding(headers).as_deref())
        .map_err(|()| ApiError::not_acceptable())?;
    let (bytes, tag) = representation(table, criteria, coding)?;
    let tag_text = tag.to_str().unwrap_or_default();
    if etag::none_match(
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .map(HeaderValue::as_bytes),
        tag_text,
    ) {
        if is_post {
            return Err(ApiError::precondition_failed());
        }
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        let h = res.headers_mut();
        h.insert(header::ETAG, tag);
        h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
        h.insert(header::VARY, VARY);
        return Ok(res);
    }
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, JSON);
    h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    h.insert(header::ETAG, tag);
    h.insert(header::VARY, VARY);
    if let Some(enc) = coding.header() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    Ok(res)
}
