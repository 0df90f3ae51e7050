//! aicrd — NVIDIA AI Cluster Runtime recipes, served from a build-time table.
//!
//! Module map:
//! - [`recipe`] is the engine: criteria, catalog loading, resolution, Go-style JSON,
//!   and the table compiler. `build.rs` compiles it too, to bake the catalog in.
//!   `recipe::hydrate` holds `/v1/query`'s documents, hydrated once at start-up.
//! - [`table`] is the lookup table: canonical criteria key → precompressed bodies
//!   (a phf map into one embedded blob, or the same built at start-up).
//! - [`http`] is the edge: criteria input, `Accept-Encoding`, `If-None-Match`, request
//!   ids and error envelopes; [`error`] is the one error type at the boundary.
//! - [`bundle`] turns a recipe into a deployable bundle (values, manifests, scripts,
//!   zip) — the one dynamic renderer.
//! - [`review`] holds the catalog checks with manifest templates and `aicrd diff`.
//! - [`routes`] holds one module per endpoint; [`server`] the state, router and
//!   serve loop; [`cli`] the command line.

pub mod allowlist;
pub mod bundle;
pub mod cli;
pub mod error;
pub mod http;
pub mod metrics;
pub mod recipe;
pub mod review;
pub mod routes;
pub mod server;
pub mod table;

pub use server::{AppState, router, serve};

// Requests allocate many short-lived buffers (bundle rendering above all); mimalloc
// serves them from thread-local pages, far cheaper than glibc's malloc under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
