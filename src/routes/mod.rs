//! One module per endpoint.

pub mod bundle;
pub mod recipe;
