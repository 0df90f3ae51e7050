//! `POST /v1/bundle`: query options, then the recipe body, then generation off the
//! async threads under a deadline; the answer is the bundle as a zip (bundle spec
//! §1–§2). A client that goes away cancels the generation.

use crate::bundle::request::{self, BodyCriteria, InputError, Options};
use crate::bundle::{self, BundleError, Cancel, CancelOnDrop, archive};
use crate::error::ApiError;
use crate::http::body;
use crate::server::AppState;
use crate::table::VERSION;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use std::time::{Duration, Instant};

/// How long one bundle may take (the Go server's context deadline).
pub const DEADLINE: Duration = Duration::from_secs(60);

fn input_error(e: InputError) -> ApiError {
    match e.error {
        Some(inner) => ApiError::invalid(e.message, inner),
        None => ApiError::invalid_bare(e.message),
    }
}

fn bundle_error(e: BundleError) -> ApiError {
    match e {
        BundleError::Invalid { message, error } => input_error(InputError { message, error }),
        BundleError::Internal { message, error } => {
            let mut err = ApiError::internal(error);
            err.message = message.into();
            err
        }
        BundleError::Cancelled => ApiError::internal("bundle generation cancelled"),
        BundleError::TimedOut => {
            let mut err = ApiError::internal(format!("bundle generation exceeded {}", archive::go_duration(DEADLINE)));
            err.status = StatusCode::GATEWAY_TIMEOUT;
            err.code = "TIMEOUT";
            err.message = "Bundle generation timed out".into();
            err
        }
    }
}

/// The allowlist check of the body's `criteria` (spec §1.5, our stance Q15): the
/// values are normalised like request criteria first; absent criteria skip the check.
pub fn check_allowlists(state: &AppState, criteria: Option<&BodyCriteria>) -> Result<(), ApiError> {
    let Some(c) = criteria.filter(|_| state.allowlists.is_active()) else { return Ok(()) };
    let raw = crate::recipe::criteria::RawCriteria {
        service: Some(c.service.clone()),
        accelerator: Some(c.accelerator.clone()),
        intent: Some(c.intent.clone()),
        os: Some(c.os.clone()),
        platform: Some(c.platform.clone()),
        nodes: None,
    };
    let parsed =
        raw.parse_with(&state.vocabulary).map_err(|e| ApiError::invalid("Invalid recipe criteria", e.body_text()))?;
    state.allowlists.check(&parsed.key)
}

/// `POST /v1/bundle`.
pub async fn post(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let options = Options::from_query(uri.query()).map_err(input_error)?;
    let bytes =
        body::read(&headers, body, state.limits.bundle_body, state.settings.timeouts.body, "Invalid request body")
            .await?;
    let recipe = request::decode_body(&bytes).map_err(input_error)?;
    if recipe.component_refs.is_empty() {
        return Err(ApiError::invalid_bare("Recipe must contain at least one component reference"));
    }
    check_allowlists(&state, recipe.criteria.as_ref())?;

    let cancel = Cancel::new(Some(started + DEADLINE));
    // Dropping this handler's future (client gone) sets the flag the worker polls.
    let _guard = CancelOnDrop(Some(cancel.clone()));
    let worker_state = state.clone();
    let work = move || -> Result<(usize, usize, Vec<u8>), BundleError> {
        let bundle = bundle::generate(&worker_state.catalog, &recipe, &options, VERSION, &cancel)?;
        let zip = archive::zip(&bundle).map_err(|e| BundleError::Internal {
            message: "failed to write bundle archive".into(),
            error: e.to_string(),
        })?;
        Ok((bundle.files.len(), bundle.size(), zip))
    };
    // Rendering is CPU-bound and parallel inside (components, zip members): it runs on
    // rayon's pool, whose worker then takes part in that inner work itself. A panic
    // is caught here, as rayon would otherwise abort the process.
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = tx.send(outcome);
    });
    let outcome = tokio::time::timeout(DEADLINE.saturating_sub(started.elapsed()), rx).await;
    let (files, size, zip) = match outcome {
        Err(_) => return Err(bundle_error(BundleError::TimedOut)),
        Ok(Err(_)) | Ok(Ok(Err(_))) => {
            return Err(ApiError::internal("bundle generation failed: the worker panicked"));
        }
        Ok(Ok(Ok(result))) => result.map_err(bundle_error)?,
    };
    let mut res = Response::new(Body::from(zip));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"bundles.zip\""));
    h.insert("x-bundle-files", HeaderValue::from(files));
    h.insert("x-bundle-size", HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_bytes(archive::go_duration(started.elapsed()).as_bytes()) {
        h.insert("x-bundle-duration", v);
    }
    Ok(res)
}
