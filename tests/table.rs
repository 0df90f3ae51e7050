//! The embedded table is exactly the engine's output for the embedded catalog: every
//! combination's identity body, its gzip and zstd variants, their ETags, and the
//! `nodes` splice offset.

use aicrd::recipe::catalog::Catalog;
use aicrd::recipe::compile::etag_for;
use aicrd::recipe::criteria::{Criteria, CriteriaKey};
use aicrd::recipe::resolve::resolve;
use aicrd::table::{RecipeTable, embedded_catalog_files};
use std::io::Read;

#[test]
fn embedded_table_matches_the_engine_for_every_combination() {
    let catalog = Catalog::from_files(embedded_catalog_files()).unwrap();
    let table = RecipeTable::embedded();
    assert_eq!(table.len(), CriteriaKey::COUNT);
    for key in CriteriaKey::all() {
        let entry = table.get(&key).unwrap_or_else(|| panic!("{key} missing"));
        let identity = table.bytes(&entry.identity);
        let expected = resolve(&catalog, &Criteria { key, nodes: 0 }).unwrap().to_json(&key, 0, &table.version);
        assert_eq!(identity, expected, "{key}");
        assert_eq!(entry.identity.etag, etag_for(&identity));
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(&table.bytes(&entry.gzip)[..]).read_to_end(&mut gunzipped).unwrap();
        assert_eq!(gunzipped, identity);
        assert_eq!(zstd::decode_all(&table.bytes(&entry.zstd)[..]).unwrap(), identity);
        assert_eq!(entry.gzip.etag, etag_for(&table.bytes(&entry.gzip)));
        assert_eq!(&identity[entry.nodes_at as usize..entry.nodes_at as usize + 1], b"}");
    }
}

#[test]
fn compilation_is_deterministic() {
    let catalog = Catalog::from_files(embedded_catalog_files()).unwrap();
    let a = aicrd::recipe::compile::compile(&catalog, "x").unwrap();
    let b = aicrd::recipe::compile::compile(&catalog, "x").unwrap();
    assert_eq!(a.blob, b.blob);
    assert_eq!(a.entries, b.entries);
}
