//! The selector walk of `/v1/query` over a real hydrated recipe, and over arbitrary
//! JSON documents: input is `SELECTOR` or `SELECTOR\nJSON`.
#![no_main]

use aicrd::recipe::select;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::sync::OnceLock;

fn recipe() -> &'static Map<String, Value> {
    static RECIPE: OnceLock<Map<String, Value>> = OnceLock::new();
    RECIPE.get_or_init(|| {
        let text = include_str!("../seeds/selector/hydrated.json");
        serde_json::from_str(text.split_once('\n').expect("selector line").1).expect("hydrated recipe JSON")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (selector, doc) = match s.split_once('\n') {
        Some((sel, json)) => match serde_json::from_str::<Map<String, Value>>(json) {
            Ok(map) => (sel, Some(map)),
            Err(_) => (sel, None),
        },
        None => (s, None),
    };
    let root = doc.as_ref().unwrap_or_else(|| recipe());
    match select::select(root, selector) {
        Ok(_) => {}
        // The error text is what clients see; building it must not panic either.
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = select::go_quote(selector).to_string();
});
