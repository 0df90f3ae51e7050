//! Prometheus metrics with the Go server's names and buckets (http-api spec §14), in
//! an owned registry. Labels are bounded: `path` is the route template or
//! `unmatched` (our stance Q17) and `method` is a standard method or `OTHER`, so no
//! client can create unbounded series.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Buckets of `aicr_http_request_duration_seconds` (the Go client's defaults).
pub const DURATION_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Label for requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Routes that get their own `path` label.
pub const ROUTES: [&str; 8] =
    ["/", "/v1/recipe", "/v1/query", "/v1/bundle", "/health", "/ready", "/metrics", "/openapi.yaml"];

/// The server's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// `aicr_http_requests_total{method,path,status}`
    pub requests: IntCounterVec,
    /// `aicr_http_request_duration_seconds{method,path}`
    pub duration: HistogramVec,
    /// `aicr_http_requests_in_flight`
    pub in_flight: IntGauge,
    /// `aicr_rate_limit_rejects_total`
    pub rate_limit_rejects: IntCounter,
    /// `aicr_panic_recoveries_total`
    pub panic_recoveries: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("aicr_http_requests_total", "HTTP requests served, by method, route and status."),
            &["method", "path", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "aicr_http_request_duration_seconds",
                "Time to serve HTTP requests, by method and route.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["method", "path"],
        )
        .expect("valid metric");
        let in_flight =
            IntGauge::new("aicr_http_requests_in_flight", "HTTP requests being served now.").expect("valid metric");
        let rate_limit_rejects =
            IntCounter::new("aicr_rate_limit_rejects_total", "Requests refused by the rate limiter.")
                .expect("valid metric");
        let panic_recoveries =
            IntCounter::new("aicr_panic_recoveries_total", "Handler panics turned into 500 answers.")
                .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(rate_limit_rejects.clone()),
            Box::new(panic_recoveries.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics { registry, requests, duration, in_flight, rate_limit_rejects, panic_recoveries }
    }

    /// The `path` label for a request path.
    pub fn route_label(path: &str) -> &'static str {
        ROUTES.iter().find(|r| **r == path).copied().unwrap_or(UNMATCHED)
    }

    /// The `method` label: standard methods verbatim, anything else `OTHER`.
    pub fn method_label(method: &axum::http::Method) -> &'static str {
        use axum::http::Method;
        match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::PATCH => "PATCH",
            Method::OPTIONS => "OPTIONS",
            Method::CONNECT => "CONNECT",
            Method::TRACE => "TRACE",
            _ => "OTHER",
        }
    }

    /// Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding into memory");
        String::from_utf8(out).unwrap_or_default()
    }
}
