//! Application state, the router and the serve loop.

use crate::error::ApiError;
use crate::http::request_id;
use crate::recipe::catalog::Catalog;
use crate::routes;
use crate::table::RecipeTable;
use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::from_fn;
use axum::routing::{MethodRouter, get, post};
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Request body caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `/v1/recipe` and `/v1/query` bodies.
    pub recipe_body: usize,
    /// `/v1/bundle` bodies.
    pub bundle_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            recipe_body: 1 << 20,
            bundle_body: 16 << 20,
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
    /// Body caps.
    pub limits: Limits,
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
    /// State serving a table compiled from `catalog`.
    pub fn new(table: RecipeTable, catalog: Catalog, limits: Limits) -> Self {
        AppState(Arc::new(Shared {
            table,
            catalog,
            limits,
        }))
    }
}

/// A method router that answers other methods with the 405 envelope.
fn methods(
    router: MethodRouter<AppState>,
    allow: &'static str,
    list_allowed: bool,
) -> MethodRouter<AppState> {
    router.fallback(move |method: Method| async move {
        ApiError::method_not_allowed(method.as_str(), allow, list_allowed)
    })
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found("Resource not found").detail("path", req.uri().path())
}

/// The application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/recipe",
            methods(
                get(routes::recipe::get).post(routes::recipe::post),
                "GET, HEAD, POST",
                true,
            ),
        )
        .route(
            "/v1/bundle",
            methods(post(routes::bundle::post), "POST", false),
        )
        .fallback(not_found)
        // Outermost: the request-id layer, which also renders error envelopes.
        .layer(from_fn(request_id::layer))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
