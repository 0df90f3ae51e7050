//! `/v1/query` costs: a full GET through the router, the selector walk alone (with and
//! without serialising the result), and the Go server's way as a baseline: resolve,
//! hydrate and walk on every request.

use aicrd::recipe::catalog::Catalog;
use aicrd::recipe::criteria::{Accelerator, Criteria, CriteriaKey, Intent, Os, Platform, Service};
use aicrd::recipe::hydrate::{self, criteria_value};
use aicrd::recipe::resolve::resolve;
use aicrd::recipe::{json, select};
use aicrd::server::{AppState, Settings};
use aicrd::table::{RecipeTable, embedded_catalog_files};
use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use std::hint::black_box;
use tower::ServiceExt;

const CRITERIA: Criteria = Criteria {
    key: CriteriaKey {
        service: Service::Eks,
        accelerator: Accelerator::H100,
        intent: Intent::Training,
        os: Os::Ubuntu,
        platform: Platform::Kubeflow,
    },
    nodes: 0,
};
const QUERY: &str = "service=eks&accelerator=h100&intent=training&os=ubuntu&platform=kubeflow";
/// (bench name, selector): one leaf value, one component's values, the whole document.
const SELECTORS: [(&str, &str); 3] = [
    ("leaf", "components.gpu-operator.values.driver.version"),
    ("values", "components.gpu-operator.values"),
    ("whole", ""),
];

/// What a server that rebuilds per request does: resolve, hydrate, walk, serialise.
fn rebuild(catalog: &Catalog, criteria: &Criteria, selector: &str) -> Vec<u8> {
    let resolved = resolve(catalog, criteria).expect("resolves");
    let mut document = hydrate::members(catalog, &resolved, "dev");
    document.insert("criteria".into(), criteria_value(criteria));
    match select::select(&document, selector).expect("selects") {
        Some(value) => json::to_document(value),
        None => json::to_document(&document),
    }
}

fn query(c: &mut Criterion) {
    let catalog = Catalog::from_files(embedded_catalog_files()).expect("embedded catalog");
    let state =
        AppState::new(RecipeTable::embedded(), catalog.clone(), Settings { rate_limit: 0, ..Settings::default() });
    let router = aicrd::router(state.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    let mut group = c.benchmark_group("query");
    for (name, selector) in SELECTORS {
        let uri = format!("/v1/query?{QUERY}&selector={selector}");
        group.bench_function(format!("router_get/{name}"), |b| {
            b.to_async(&runtime).iter(|| async {
                let request = Request::get(uri.as_str()).body(Body::empty()).expect("request");
                let response = router.clone().oneshot(request).await.expect("infallible");
                assert_eq!(response.status(), 200);
                axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body")
            })
        });
        group.bench_function(format!("walk/{name}"), |b| {
            b.iter(|| {
                let document = state.queries.document(black_box(&CRITERIA)).expect("indexed");
                document.select(black_box(selector)).expect("selects").is_some()
            })
        });
        group.bench_function(format!("walk_serialise/{name}"), |b| {
            b.iter(|| {
                let document = state.queries.document(black_box(&CRITERIA)).expect("indexed");
                document.to_json(document.select(black_box(selector)).expect("selects"))
            })
        });
        group.bench_function(format!("rebuild_per_request/{name}"), |b| {
            b.iter(|| rebuild(&catalog, black_box(&CRITERIA), black_box(selector)))
        });
    }
    group.finish();

    c.bench_function("query/index_build", |b| {
        b.iter(|| hydrate::QueryIndex::build(black_box(&catalog), "dev").stats.recipes)
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = query
}
criterion_main!(benches);
