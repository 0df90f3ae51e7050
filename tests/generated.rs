//! `generated/` is the committed export of the embedded catalog's whole matrix (YAML,
//! one file per combination, plus `index.tsv`). This test fails when it is stale, so
//! a recipe change always shows up as a reviewable diff. Refresh with
//! `UPDATE_GENERATED=1 cargo test --test generated`.

use aicrd::cli::{Format, export_files, write_tree};
use aicrd::recipe::catalog::Catalog;
use aicrd::table::{VERSION, embedded_catalog_files};
use std::collections::BTreeMap;
use std::path::Path;

const DIR: &str = "generated";

fn on_disk() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(DIR) {
        for entry in entries.flatten() {
            if entry.path().is_file() {
                files.insert(entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

#[test]
fn generated_snapshot_is_fresh() {
    let catalog = Catalog::from_files(embedded_catalog_files()).unwrap();
    let expected: BTreeMap<String, Vec<u8>> =
        export_files(&catalog, VERSION, Format::Yaml).unwrap().into_iter().collect();
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        let _ = std::fs::remove_dir_all(DIR);
        let files: Vec<(String, Vec<u8>)> = expected.into_iter().collect();
        write_tree(Path::new(DIR), &files).unwrap();
        return;
    }
    let actual = on_disk();
    let stale: Vec<&String> = expected.keys().filter(|k| actual.get(*k) != expected.get(*k)).collect();
    let extra: Vec<&String> = actual.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "generated/ is stale ({} changed or missing, {} extra, e.g. {:?}); refresh it with\n    UPDATE_GENERATED=1 cargo test --test generated\nand commit the diff",
        stale.len(),
        extra.len(),
        stale.iter().chain(extra.iter()).take(3).collect::<Vec<_>>()
    );
}
