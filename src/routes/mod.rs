//! One module per endpoint.

pub mod bundle;
pub mod query;
pub mod recipe;
pub mod system;
