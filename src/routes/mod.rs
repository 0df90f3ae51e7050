//! One module per endpoint.

pub mod recipe;
