//! `/v1/query` against the reference v0.11.1 catalog: every request of the golden
//! corpus (`shared/conformance/queries`), replayed through the router in-process and
//! compared with the normalisation the corpus README describes.
//!
//! The reference catalog neither uses nor declares the later criteria values (`lke`,
//! `rtx-pro-6000`, `talos`), so they are rejected as v0.11.1 rejects them.

use aicrd::recipe::catalog::Catalog;
use aicrd::server::{AppState, Settings};
use aicrd::table::RecipeTable;
use axum::body::Body;
use http::Request;
use serde_json::Value;
use std::path::Path;
use tower::ServiceExt;

const CORPUS: &str = "../shared/conformance/queries";

/// One line of `index.tsv`.
struct Case<'a> {
    method: &'a str,
    query: &'a str,
    content_type: &'a str,
    payload: &'a str,
    selector: &'a str,
    status: &'a str,
    body: &'a str,
}

fn parse(line: &str) -> Case<'_> {
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(cols.len(), 8, "{line}");
    Case {
        method: cols[0],
        query: cols[1],
        content_type: cols[2],
        payload: cols[3],
        selector: cols[4],
        status: cols[5],
        body: cols[6],
    }
}

/// A JSON string literal of the index, or `""` for `-`.
fn literal(column: &str) -> String {
    if column == "-" { String::new() } else { serde_json::from_str(column).expect("JSON string literal") }
}

/// Removes what the corpus leaves out of 2xx answers (the build's version string) and
/// blanks the volatile members of error envelopes.
fn normalise(mut value: Value, status: u16, selector: &str) -> Value {
    if status == 200 {
        let members = match selector.strip_prefix('.').unwrap_or(selector) {
            "" => value["metadata"].as_object_mut(),
            "metadata" => value.as_object_mut(),
            _ => None,
        };
        if let Some(members) = members {
            members.remove("version");
        }
        return value;
    }
    for key in ["requestId", "timestamp"] {
        assert!(value.get(key).is_some(), "error envelope without {key}: {value}");
        value[key] = "<volatile>".into();
    }
    // Decoder texts are Go's own wording: only their presence is compared.
    if value["message"] == "Invalid query request body" {
        assert!(value["details"]["error"].is_string(), "{value}");
        value["details"]["error"] = "<decoder>".into();
    }
    value
}

#[tokio::test]
async fn the_golden_corpus_passes() {
    let catalog = Catalog::load(Path::new("../shared/reference/aicr-v0.11.1/recipes")).expect("reference catalog");
    // `/v1/query` does not use the recipe table; the embedded one saves compiling.
    let router = aicrd::router(AppState::new(
        RecipeTable::embedded(),
        catalog,
        Settings { rate_limit: 0, ..Settings::default() },
    ));
    let index = std::fs::read_to_string(format!("{CORPUS}/index.tsv")).expect("corpus index");
    let mut checked = 0;
    for line in index.lines().filter(|l| !l.starts_with('#')) {
        let case = parse(line);
        let uri = if case.query.is_empty() { "/v1/query".to_string() } else { format!("/v1/query?{}", case.query) };
        let mut request = Request::builder().method(case.method).uri(uri);
        if case.content_type != "-" {
            request = request.header("content-type", case.content_type);
        }
        let request = request.body(Body::from(literal(case.payload))).expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        let got: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(status.to_string(), case.status, "{line}\n{got}");
        if case.body != "-" {
            let path = format!("{CORPUS}/bodies/{}.json", case.body);
            let expected: Value =
                serde_json::from_str(&std::fs::read_to_string(path).expect("body file")).expect("JSON");
            let selector = literal(case.selector);
            assert_eq!(normalise(got, status, &selector), normalise(expected, status, &selector), "{line}");
        }
        checked += 1;
    }
    assert_eq!(checked, 378);
}
