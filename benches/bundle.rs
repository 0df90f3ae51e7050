//! Bundle rendering for a large recipe (eks / h100 / training / ubuntu, reference
//! v0.11.1 catalog): generation plus zip per deployer, and one helm request end to
//! end through the router.

use aicrd::bundle::request::{Options, decode_body};
use aicrd::bundle::{Cancel, archive, generate};
use aicrd::recipe::catalog::Catalog;
use aicrd::server::{AppState, Settings};
use aicrd::table::RecipeTable;
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use tower::ServiceExt;

const RECIPE: &str = "../shared/conformance/bundles/helm-eks-h100-training-ubuntu/recipe.json";

fn bench(c: &mut Criterion) {
    let catalog = Catalog::load(Path::new("../shared/reference/aicr-v0.11.1/recipes")).expect("reference catalog");
    let bytes = std::fs::read(RECIPE).expect("corpus recipe");
    let recipe = decode_body(&bytes).expect("recipe decodes");
    let mut group = c.benchmark_group("bundle");
    for deployer in ["helm", "argocd", "argocd-helm"] {
        let options = Options::from_query(Some(&format!("deployer={deployer}"))).unwrap();
        group.bench_function(deployer, |b| {
            b.iter(|| {
                let bundle = generate(&catalog, black_box(&recipe), &options, "bench", &Cancel::default()).unwrap();
                black_box(archive::zip(&bundle).unwrap())
            })
        });
    }
    group.finish();

    let router = aicrd::router(AppState::new(
        RecipeTable::embedded(),
        catalog,
        Settings { rate_limit: 0, ..Settings::default() },
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    c.bench_function("bundle_request/helm", |b| {
        b.to_async(&runtime).iter(|| {
            let router = router.clone();
            let body = bytes.clone();
            async move {
                let req = Request::builder().method("POST").uri("/v1/bundle").body(Body::from(body)).unwrap();
                let res = router.oneshot(req).await.unwrap();
                black_box(axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap())
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
