//! One process-wide token bucket (http-api spec §5), via `governor` (GCRA): refill
//! `limit` per second, capacity `burst`. Every limited answer carries
//! `X-RateLimit-Limit`, `-Remaining` and `-Reset`; a refusal is 429
//! `RATE_LIMIT_EXCEEDED` with `Retry-After` and the same headers (our stance Q10).

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `X-RateLimit-Limit`
pub static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`
pub static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`
pub static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The outcome of taking one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Granted; tokens left afterwards.
    Allowed {
        /// Whole tokens left.
        remaining: u32,
    },
    /// Refused; earliest time a token is available.
    Refused {
        /// How long until one token is available.
        wait: Duration,
    },
}

/// Something that hands out tokens (a trait so tests can drive a fake clock).
pub trait Limiter: Send + Sync + std::fmt::Debug {
    /// Takes one token if there is one.
    fn check(&self) -> Decision;
    /// Refill rate per second.
    fn limit(&self) -> u32;
    /// Bucket capacity.
    fn burst(&self) -> u32;
}

/// A governor direct limiter on any clock.
pub struct Bucket<C: Clock = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>,
    clock: C,
    limit: u32,
    burst: u32,
}

impl<C: Clock> std::fmt::Debug for Bucket<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("limit", &self.limit).field("burst", &self.burst).finish()
    }
}

impl Bucket<DefaultClock> {
    /// A bucket on the real clock; `None` when `limit` is 0 (limiting off).
    pub fn new(limit: u32, burst: u32) -> Option<Self> {
        Self::with_clock(limit, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Bucket<C> {
    /// A bucket on `clock`; `None` when `limit` is 0.
    pub fn with_clock(limit: u32, burst: u32, clock: C) -> Option<Self> {
        let rate = NonZeroU32::new(limit)?;
        let burst_nz = NonZeroU32::new(burst.max(1)).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst_nz);
        let limiter =
            RateLimiter::direct_with_clock(quota, clock.clone()).with_middleware::<StateInformationMiddleware>();
        Some(Bucket { limiter, clock, limit, burst: burst_nz.get() })
    }
}

impl<C> Limiter for Bucket<C>
where
    C: Clock + Send + Sync,
    C::Instant: Send + Sync,
{
    fn check(&self) -> Decision {
        match self.limiter.check() {
            Ok(snapshot) => Decision::Allowed { remaining: snapshot.remaining_burst_capacity() },
            Err(not_until) => Decision::Refused { wait: not_until.wait_time_from(self.clock.now()) },
        }
    }
    fn limit(&self) -> u32 {
        self.limit
    }
    fn burst(&self) -> u32 {
        self.burst
    }
}

fn set_headers(headers: &mut HeaderMap, limit: u32, remaining: u32) {
    let reset = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) + 1;
    headers.insert(LIMIT.clone(), HeaderValue::from(limit));
    headers.insert(REMAINING.clone(), HeaderValue::from(remaining));
    headers.insert(RESET.clone(), HeaderValue::from(reset));
}

/// The limiter and what to count refusals in.
#[derive(Clone, Debug)]
pub struct RateLimitState {
    /// The bucket (`None`: limiting off).
    pub limiter: Option<Arc<dyn Limiter>>,
    /// Refusal counter.
    pub rejects: prometheus::IntCounter,
}

/// Middleware: take a token or answer 429.
pub async fn layer(State(state): State<RateLimitState>, req: Request, next: Next) -> Response {
    let Some(limiter) = state.limiter.as_deref() else { return next.run(req).await };
    match limiter.check() {
        Decision::Allowed { remaining } => {
            let mut res = next.run(req).await;
            set_headers(res.headers_mut(), limiter.limit(), remaining);
            res
        }
        Decision::Refused { wait } => {
            state.rejects.inc();
            let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut res = ApiError::rate_limited(limiter.limit(), limiter.burst())
                .header(axum::http::header::RETRY_AFTER, HeaderValue::from(retry_after))
                .into_response();
            set_headers(res.headers_mut(), limiter.limit(), 0);
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn bucket_drains_then_refills_with_the_clock() {
        let clock = FakeRelativeClock::default();
        let bucket = Bucket::with_clock(100, 200, clock.clone()).unwrap();
        assert_eq!(bucket.check(), Decision::Allowed { remaining: 199 });
        for _ in 0..199 {
            assert!(matches!(bucket.check(), Decision::Allowed { .. }));
        }
        let Decision::Refused { wait } = bucket.check() else { panic!("bucket should be empty") };
        assert_eq!(wait, Duration::from_millis(10));
        clock.advance(Duration::from_millis(10));
        assert_eq!(bucket.check(), Decision::Allowed { remaining: 0 });
        clock.advance(Duration::from_secs(1));
        assert_eq!(bucket.check(), Decision::Allowed { remaining: 99 });
    }

    #[test]
    fn zero_turns_limiting_off() {
        assert!(Bucket::new(0, 200).is_none());
    }
}
