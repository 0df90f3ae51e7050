//! Build step: compile the recipe catalog into a perfect-hash table of precompressed
//! bodies (`OUT_DIR/recipe_table.rs` + `OUT_DIR/recipes.bin`). All logic lives in the
//! library's `recipe` module, compiled here through `#[path]`.

#[path = "src/recipe/mod.rs"]
#[allow(dead_code, unused_imports)]
mod recipe;

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo::rerun-if-env-changed=AICR_RECIPES_DIR");
    println!("cargo::rerun-if-env-changed=AICR_VERSION");
    println!("cargo::rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo::rerun-if-changed=src/recipe");
    // Watch the commit only where `.git` is a directory (not in worktrees, where it is
    // a file and would make every build rerun this script).
    if Path::new(".git/HEAD").is_file() {
        println!("cargo::rerun-if-changed=.git/HEAD");
        println!("cargo::rerun-if-changed=.git/refs/heads");
    }

    let version = std::env::var("AICR_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| git(&["describe", "--tags", "--exact-match", "--match", "v[0-9]*"]))
        .unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION"));
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = git(&["log", "-1", "--format=%cI"]).unwrap_or_else(|| "unknown".into());
    println!("cargo::rustc-env=AICRD_VERSION={version}");
    println!("cargo::rustc-env=AICRD_COMMIT={commit}");
    println!("cargo::rustc-env=AICRD_BUILD_DATE={date}");

    let dir = std::env::var_os("AICR_RECIPES_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("recipes"));
    println!("cargo::rerun-if-changed={}", dir.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let catalog = recipe::catalog::Catalog::load(Path::new(&dir))
        .unwrap_or_else(|e| panic!("recipe catalog {}: {e}", dir.display()));
    // Catalog checks (manifest templates are checked by `aicrd check` and the
    // `catalog_check` test: the template engine is not part of this module tree).
    let report = recipe::check::check(&catalog, None);
    for warning in &report.warnings {
        println!("cargo::warning=recipe catalog: {}", warning.error);
    }
    if !report.errors.is_empty() {
        let lines: Vec<String> = report.errors.iter().map(|f| format!("  {}", f.error)).collect();
        panic!("recipe catalog {} fails its checks:\n{}", dir.display(), lines.join("\n"));
    }
    let compiled = recipe::compile::compile(&catalog, &version)
        .unwrap_or_else(|e| panic!("recipe catalog {}: {e}", dir.display()));
    recipe::compile::write_table(&compiled, &out).expect("write the recipe table into OUT_DIR");
    recipe::compile::write_catalog_files(&dir, &out).expect("write the catalog file list into OUT_DIR");
    let summary = format!(
        "recipe table: {}; {} overlays, {} mixins, {} check warnings",
        compiled.stats,
        catalog.overlays.len(),
        catalog.mixins.len(),
        report.warnings.len()
    );
    std::fs::write(out.join("catalog-summary.txt"), format!("{summary}\n")).expect("write the summary into OUT_DIR");
    println!("cargo::warning={summary}");
}
