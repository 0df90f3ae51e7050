//! Request ids (http-api spec §4): a client `X-Request-Id` that parses as a UUID (any
//! form the `uuid` crate accepts: hyphenated, simple, braced, URN) is kept verbatim;
//! anything else is replaced by a fresh lower-case v4. The id goes back in the
//! response header and into every error envelope, which this layer renders.

use crate::error::{self, ApiError};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id chosen for a request, available to handlers as an extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

/// Picks the id for a request from its first `X-Request-Id` header.
pub fn choose(header: Option<&HeaderValue>) -> HeaderValue {
    if let Some(value) = header
        && let Some(text) = value.to_str().ok().map(str::trim).filter(|s| Uuid::try_parse(s).is_ok())
    {
        if text.len() == value.len() {
            return value.clone();
        }
        if let Ok(v) = HeaderValue::from_str(text) {
            return v;
        }
    }
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// Middleware: assigns the id, renders any [`ApiError`] envelope, echoes the header.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = RequestId(choose(req.headers().get(&X_REQUEST_ID)));
    req.extensions_mut().insert(id.clone());
    let mut res = next.run(req).await;
    if let Some(err) = res.extensions_mut().remove::<ApiError>() {
        error::render(&err, id.as_str(), &mut res);
    }
    res.headers_mut().insert(X_REQUEST_ID.clone(), id.0);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_forms_are_echoed_and_the_rest_replaced() {
        for ok in [
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "6f9619ff8b86d011b42d00c04fc964ff",
            "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
            "urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff",
            "00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(choose(Some(&HeaderValue::from_static(ok))), ok);
            assert_eq!(choose(Some(&HeaderValue::from_str(&format!(" {ok} ")).unwrap())), ok);
        }
        for bad in ["", "abc", "6f9619ff-8b86-d011-b42d-00c04fc964fz"] {
            let id = choose(Some(&HeaderValue::from_static(bad)));
            let id = id.to_str().unwrap();
            assert_ne!(id, bad);
            assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 4);
            assert_eq!(id, id.to_lowercase());
        }
    }
}
