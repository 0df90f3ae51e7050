//! Criterion benches for the recipe hot path: the table lookup alone, a full
//! `GET /v1/recipe` through the router (no socket), a 304 revalidation, and for
//! scale the work a per-request resolver (the Go server's design) would do.

use aicrd::recipe::criteria::{Criteria, CriteriaKey};
use aicrd::recipe::resolve::resolve;
use aicrd::server::{AppState, Settings};
use aicrd::table::RecipeTable;
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tower::ServiceExt;

const QUERY: &str = "service=eks&accelerator=h100&intent=training&os=ubuntu&platform=kubeflow";

fn lookup(c: &mut Criterion) {
    let table = RecipeTable::embedded();
    let key = aicrd::http::criteria::from_query(Some(QUERY), &aicrd::recipe::criteria::Vocabulary::all()).unwrap().key;
    c.bench_function("table/lookup", |b| {
        b.iter(|| {
            let entry = table.get(black_box(&key)).unwrap();
            black_box(table.bytes(&entry.identity))
        })
    });
    c.bench_function("criteria/parse_query", |b| {
        b.iter(|| {
            aicrd::http::criteria::from_query(black_box(Some(QUERY)), &aicrd::recipe::criteria::Vocabulary::all())
        })
    });
    let state = AppState::embedded(Settings { rate_limit: 0, ..Settings::default() }).unwrap();
    c.bench_function("baseline/resolve_and_serialise_per_request", |b| {
        b.iter(|| {
            let criteria = Criteria { key: black_box(key), nodes: 0 };
            let resolved = resolve(&state.catalog, &criteria).unwrap();
            black_box(resolved.to_json(&key, 0, "dev"))
        })
    });
    let _ = CriteriaKey::COUNT;
}

fn router(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let state = AppState::embedded(Settings { rate_limit: 0, ..Settings::default() }).unwrap();
    let app = aicrd::router(state);
    let uri = format!("/v1/recipe?{QUERY}");
    c.bench_function("router/get_recipe", |b| {
        b.to_async(&rt).iter(|| {
            let app = app.clone();
            let req = Request::get(&uri).header("accept-encoding", "gzip, zstd").body(Body::empty()).unwrap();
            async move { black_box(app.oneshot(req).await.unwrap()) }
        })
    });
    let etag = rt.block_on(async {
        let req = Request::get(&uri).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap().headers()["etag"].clone()
    });
    c.bench_function("router/get_recipe_304", |b| {
        b.to_async(&rt).iter(|| {
            let app = app.clone();
            let req = Request::get(&uri).header("if-none-match", etag.clone()).body(Body::empty()).unwrap();
            async move { black_box(app.oneshot(req).await.unwrap()) }
        })
    });
}

criterion_group!(benches, lookup, router);
criterion_main!(benches);
