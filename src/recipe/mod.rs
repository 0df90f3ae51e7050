//! The recipe engine: criteria, catalog loading, resolution, component values, hydrated
//! documents and selectors (`/v1/query`), and the table compiler.
//!
//! This module tree depends only on serde, serde_json, serde-saphyr, rayon, the
//! compressors and sha2, because `build.rs` compiles it too (via `#[path]`) to bake
//! the embedded catalog into the binary.

pub mod catalog;
pub mod check;
pub mod compile;
pub mod criteria;
pub mod hydrate;
pub mod json;
pub mod resolve;
pub mod select;
pub mod values;
