//! The HTTP edge: criteria and query input, content negotiation, conditional requests, and the
//! request-id layer that also renders error envelopes.

pub mod body;
pub mod criteria;
pub mod encoding;
pub mod etag;
pub mod query;
pub mod rate_limit;
pub mod request_id;
