//! Application state, the router with its middleware stack, and the serve loop.
//!
//! Wrapped routes (`/`, `/openapi.yaml`, `/v1/*`, unknown paths) go through, outermost first:
//! metrics → `X-Api-Version` → request id (+ error envelopes) → rate limit → panic
//! recovery → logging → per-route deadline → handler (http-api spec §3.1, except that
//! panic recovery sits inside the limiter, whose headers thus stay on a recovered 500).
//! `/health`, `/ready` and `/metrics` only get the request-id layer: they are not
//! rate limited or counted, as in the Go server.

mod io;
mod serve;

pub use io::TimedIo;
pub use serve::{ServeError, serve};

use crate::allowlist::Allowlists;
use crate::error::ApiError;
use crate::http::rate_limit::{self, Bucket, Limiter, RateLimitState};
use crate::http::request_id::{self, RequestId};
use crate::metrics::Metrics;
use crate::recipe::catalog::Catalog;
use crate::recipe::hydrate::QueryIndex;
use crate::routes;
use crate::table::RecipeTable;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{Next, from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

/// Request body caps (our stance Q9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `/v1/recipe` and `/v1/query` bodies.
    pub recipe_body: usize,
    /// `/v1/bundle` bodies.
    pub bundle_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { recipe_body: 1 << 20, bundle_body: 16 << 20 }
    }
}

/// Time limits (http-api spec §1, §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A request head must arrive within this.
    pub header: Duration,
    /// A request body must arrive within this (else 408).
    pub body: Duration,
    /// Deadline for `/v1/recipe`, `/v1/query` handlers (else 504).
    pub handler: Duration,
    /// Deadline for `/v1/bundle` handlers.
    pub bundle: Duration,
    /// Idle keep-alive connections are closed after this.
    pub idle: Duration,
    /// Upper bound for draining on shutdown.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(5),
            body: Duration::from_secs(10),
            handler: Duration::from_secs(30),
            bundle: Duration::from_secs(60),
            idle: Duration::from_secs(120),
            shutdown: Duration::from_secs(30),
        }
    }
}

/// Everything configurable about the server (see `cli` for flags and variables).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Body caps.
    pub limits: Limits,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Largest request head (request line + headers), else 431.
    pub max_header_bytes: usize,
    /// Token refill per second; 0 turns rate limiting off.
    pub rate_limit: u32,
    /// Bucket capacity.
    pub rate_limit_burst: u32,
    /// Criteria allowlists.
    pub allowlists: Allowlists,
    /// Seconds `/ready` reports 503 while still accepting, after a shutdown signal.
    pub shutdown_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            max_header_bytes: 64 * 1024,
            rate_limit: 100,
            rate_limit_burst: 200,
            allowlists: Allowlists::default(),
            shutdown_delay: Duration::ZERO,
        }
    }
}

/// Everything handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The precompiled recipes.
    pub table: RecipeTable,
    /// The catalog the table was compiled from.
    pub catalog: Catalog,
    /// Every combination's hydrated recipe, for `/v1/query`.
    pub queries: QueryIndex,
    /// Criteria values the catalog accepts beyond v0.11.1's.
    pub vocabulary: crate::recipe::criteria::Vocabulary,
    /// Body caps.
    pub limits: Limits,
    /// Criteria allowlists.
    pub allowlists: Allowlists,
    /// Settings the server was built with.
    pub settings: Settings,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The rate limiter (`None`: off).
    pub limiter: Option<Arc<dyn Limiter>>,
    ready: AtomicBool,
}

/// Cheaply clonable handle on [`Shared`].
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State serving the catalog and table embedded at build time.
    pub fn embedded(settings: Settings) -> Result<Self, crate::recipe::catalog::CatalogError> {
        let catalog = Catalog::from_files(crate::table::embedded_catalog_files())?;
        Ok(Self::new(RecipeTable::embedded(), catalog, settings))
    }

    /// State serving `table`, compiled from `catalog`.
    pub fn new(table: RecipeTable, catalog: Catalog, settings: Settings) -> Self {
        let limiter =
            Bucket::new(settings.rate_limit, settings.rate_limit_burst).map(|b| Arc::new(b) as Arc<dyn Limiter>);
        Self::with_limiter(table, catalog, settings, limiter)
    }

    /// State with a given limiter (tests drive a fake clock through it).
    pub fn with_limiter(
        table: RecipeTable,
        catalog: Catalog,
        settings: Settings,
        limiter: Option<Arc<dyn Limiter>>,
    ) -> Self {
        // Hydrate every recipe for `/v1/query` now, so no request ever does.
        let queries = QueryIndex::build(&catalog, &table.version);
        tracing::info!(stats = %queries.stats, "hydrated recipes for /v1/query");
        AppState(Arc::new(Shared {
            table,
            vocabulary: catalog.vocabulary(),
            catalog,
            queries,
            limits: settings.limits,
            allowlists: settings.allowlists.clone(),
            settings,
            metrics: Metrics::new(),
            limiter,
            ready: AtomicBool::new(true),
        }))
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Flips readiness (set false on shutdown).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// A method router that answers other methods with the 405 envelope.
fn methods(router: MethodRouter<AppState>, allow: &'static str, list_allowed: bool) -> MethodRouter<AppState> {
    router.fallback(
        move |method: Method| async move { ApiError::method_not_allowed(method.as_str(), allow, list_allowed) },
    )
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found("Resource not found").detail("path", req.uri().path())
}

/// Outermost layer: in-flight gauge, request counter and duration histogram.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let metrics = &state.metrics;
    let method = Metrics::method_label(req.method());
    let route = Metrics::route_label(req.uri().path());
    let started = Instant::now();
    metrics.in_flight.inc();
    struct Guard<'a>(&'a prometheus::IntGauge);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    let _guard = Guard(&metrics.in_flight);
    let res = next.run(req).await;
    metrics.duration.with_label_values(&[method, route]).observe(started.elapsed().as_secs_f64());
    metrics.requests.with_label_values(&[method, route, res.status().as_str()]).inc();
    res
}

/// `X-Api-Version: v1` on every wrapped answer (http-api spec §3.3).
async fn api_version(mut res: Response) -> Response {
    static NAME: HeaderName = HeaderName::from_static("x-api-version");
    res.headers_mut().insert(NAME.clone(), HeaderValue::from_static("v1"));
    res
}

/// Logs each request: debug for ordinary answers, error for 5xx.
async fn log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = Metrics::method_label(req.method());
    let route = Metrics::route_label(req.uri().path());
    let id = req.extensions().get::<RequestId>().cloned();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    if status >= 500 {
        tracing::error!(
            request_id = id.as_ref().map_or("", RequestId::as_str),
            method,
            route,
            status,
            duration_ms,
            "request failed"
        );
    } else {
        tracing::debug!(
            request_id = id.as_ref().map_or("", RequestId::as_str),
            method,
            route,
            status,
            duration_ms,
            "request completed"
        );
    }
    res
}

/// Per-route handler deadline: 504 `TIMEOUT` when exceeded.
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::gateway_timeout(limit).into_response(),
    }
}

/// The application router.
pub fn router(state: AppState) -> Router {
    build(state, Router::new())
}

/// The router plus `extra` wrapped routes (tests add routes that misbehave).
pub fn build(state: AppState, extra: Router<AppState>) -> Router {
    let t = state.settings.timeouts;
    let with_deadline = |r: MethodRouter<AppState>, d: Duration| r.layer(from_fn_with_state(d, deadline));
    let panics = state.metrics.panic_recoveries.clone();
    let rate = RateLimitState { limiter: state.limiter.clone(), rejects: state.metrics.rate_limit_rejects.clone() };
    let api = Router::new()
        .route("/", methods(get(routes::system::root), "GET, HEAD", false))
        .route("/openapi.yaml", methods(get(routes::system::openapi), "GET, HEAD", false))
        .route(
            "/v1/recipe",
            with_deadline(
                methods(get(routes::recipe::get).post(routes::recipe::post), "GET, HEAD, POST", true),
                t.handler,
            ),
        )
        .route("/v1/bundle", with_deadline(methods(post(routes::bundle::post), "POST", false), t.bundle))
        .route(
            "/v1/query",
            with_deadline(
                methods(get(routes::query::get).post(routes::query::post), "GET, HEAD, POST", true),
                t.handler,
            ),
        )
        .merge(extra)
        .fallback(not_found)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(state.clone(), track))
                .layer(map_response(api_version))
                .layer(from_fn(request_id::layer))
                .layer(from_fn_with_state(rate, rate_limit::layer))
                .layer(CatchPanicLayer::custom(move |_: Box<dyn std::any::Any + Send>| {
                    panics.inc();
                    tracing::error!("handler panicked; answered 500");
                    ApiError::internal_bare().into_response()
                }))
                .layer(from_fn(log)),
        );
    let system = Router::new()
        .route("/health", methods(get(routes::system::health), "GET, HEAD", false))
        .route("/ready", methods(get(routes::system::ready), "GET, HEAD", false))
        .route("/metrics", methods(get(routes::system::metrics), "GET, HEAD", false))
        .layer(from_fn(request_id::layer));
    system.merge(api).with_state(state)
}
