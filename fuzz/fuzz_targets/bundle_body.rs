//! `POST /v1/bundle` bodies: a whole RecipeResult decoded, then planned against the
//! embedded catalog (the step that interprets component references and values).
#![no_main]

use aicrd::bundle::request::{self, Options};
use aicrd::bundle::{self, Cancel};
use aicrd::recipe::catalog::Catalog;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::from_files(aicrd::table::embedded_catalog_files()).expect("embedded catalog"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(recipe) = request::decode_body(data) else { return };
    let _ = bundle::recipe_yaml(&recipe);
    if recipe.component_refs.is_empty() {
        return;
    }
    let _ = bundle::plan(catalog(), &recipe, &Options::default(), &Cancel::new(None));
});
