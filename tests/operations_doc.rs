//! `docs/operations.md` lists every server setting: each flag of `src/cli.rs` that has
//! an environment variable appears in the configuration table with that variable.

const CLI_SOURCE: &str = include_str!("../src/cli.rs");
const OPERATIONS: &str = include_str!("../docs/operations.md");

/// `(--flag, VARIABLE)` for every `#[arg(long, env = "…")]` field in the CLI source.
fn settings() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = CLI_SOURCE.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if !(line.starts_with("#[arg(long") && line.contains("env = \"")) {
            continue;
        }
        let env = line.split("env = \"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
        let field = lines
            .by_ref()
            .map(str::trim)
            .find(|l| !l.starts_with("#[") && !l.starts_with("///"))
            .and_then(|l| l.trim_start_matches("pub ").split(':').next())
            .unwrap()
            .trim()
            .to_string();
        out.push((format!("--{}", field.replace('_', "-")), env));
    }
    out
}

#[test]
fn every_setting_is_in_the_configuration_table() {
    let settings = settings();
    assert!(settings.len() >= 20, "found only {settings:?}");
    assert!(settings.contains(&("--port".to_string(), "PORT".to_string())));
    for (flag, env) in settings {
        let row = OPERATIONS
            .lines()
            .find(|l| l.starts_with('|') && l.contains(&format!("`{flag}")))
            .unwrap_or_else(|| panic!("docs/operations.md has no row for {flag}"));
        assert!(row.contains(&format!("`{env}`")), "the row for {flag} does not name {env}: {row}");
    }
}
