//! One module per endpoint.

pub mod query;
pub mod recipe;
pub mod system;
