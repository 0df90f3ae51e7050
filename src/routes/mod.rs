//! One module per endpoint.

pub mod recipe;
pub mod system;
