//! `aicrd bundle`: the bundle endpoint for people without a server. Reads a recipe
//! (JSON as `GET /v1/recipe` returns it, or the same as YAML), takes the endpoint's
//! query options as flags, and writes a directory tree or a `.zip`.

use super::request::{self, Options, RecipeBody};
use super::{Cancel, archive};
use crate::cli::{CatalogArgs, load_catalog};
use clap::Args;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Flags of `aicrd bundle` (same meaning as the endpoint's query parameters).
#[derive(Debug, Clone, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    catalog: CatalogArgs,
    /// Recipe file (JSON or YAML RecipeResult), `-` for standard input.
    #[arg(long, value_name = "FILE")]
    recipe: PathBuf,
    /// Output directory, or a file name ending in `.zip`.
    #[arg(long, value_name = "DIR|FILE.zip")]
    out: PathBuf,
    /// helm, argocd or argocd-helm.
    #[arg(long, default_value = "helm")]
    deployer: String,
    /// Git repository of an argocd bundle.
    #[arg(long)]
    repo: Option<String>,
    /// Value override `component:dot.path=value` (repeatable).
    #[arg(long, value_name = "KEY:PATH=VALUE")]
    set: Vec<String>,
    /// Install-time value `component:dot.path` (repeatable; helm, argocd-helm).
    #[arg(long, value_name = "KEY:PATH")]
    dynamic: Vec<String>,
    /// Node selector `label=value` for system components (repeatable).
    #[arg(long)]
    system_node_selector: Vec<String>,
    /// Node selector `label=value` for GPU components (repeatable).
    #[arg(long)]
    accelerated_node_selector: Vec<String>,
    /// Toleration `key[=value]:effect` for system components (repeatable).
    #[arg(long)]
    system_node_toleration: Vec<String>,
    /// Toleration `key[=value]:effect` for GPU components (repeatable).
    #[arg(long)]
    accelerated_node_toleration: Vec<String>,
    /// Taint `key[=value]:effect` that gates workloads until nodes are ready.
    #[arg(long)]
    workload_gate: Option<String>,
    /// Label selector `label=value` of workload pods (repeatable).
    #[arg(long)]
    workload_selector: Vec<String>,
    /// Estimated number of GPU nodes.
    #[arg(long)]
    nodes: Option<String>,
    /// Only these components (comma list).
    #[arg(long)]
    bundlers: Option<String>,
}

impl BundleArgs {
    /// The flags as the endpoint's `(name, value)` query pairs.
    fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut push =
            |name: &str, values: &[String]| pairs.extend(values.iter().map(|v| (name.to_string(), v.clone())));
        push("set", &self.set);
        push("dynamic", &self.dynamic);
        push("system-node-selector", &self.system_node_selector);
        push("accelerated-node-selector", &self.accelerated_node_selector);
        push("system-node-toleration", &self.system_node_toleration);
        push("accelerated-node-toleration", &self.accelerated_node_toleration);
        push("deployer", std::slice::from_ref(&self.deployer));
        push("repo", self.repo.as_slice());
        push("workload-gate", self.workload_gate.as_slice());
        push("workload-selector", &self.workload_selector);
        push("nodes", self.nodes.as_slice());
        push("bundlers", self.bundlers.as_slice());
        pairs
    }
}

fn read_recipe(path: &Path) -> Result<RecipeBody, String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("stdin: {e}"))?;
    } else {
        bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let looks_json =
        bytes.iter().find(|b| !b.is_ascii_whitespace()).is_none_or(|b| matches!(b, b'{' | b'[' | b'"' | b'n'));
    if looks_json {
        return request::decode_body(&bytes).map_err(|e| format!("{}: {e}", path.display()));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    let value: serde_json::Value =
        crate::recipe::catalog::parse_yaml(text).map_err(|e| format!("{}: {e}", path.display()))?;
    let json = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    request::decode_body(&json).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs `aicrd bundle`.
pub fn run(args: BundleArgs) -> Result<(), String> {
    let catalog = load_catalog(&args.catalog)?;
    let options = Options::from_pairs(&args.pairs()).map_err(|e| e.to_string())?;
    let recipe = read_recipe(&args.recipe)?;
    let bundle = super::generate(&catalog, &recipe, &options, crate::table::VERSION, &Cancel::default())
        .map_err(|e| e.to_string())?;
    if args.out.extension().is_some_and(|e| e == "zip") {
        let zip = archive::zip(&bundle).map_err(|e| e.to_string())?;
        std::fs::write(&args.out, zip).map_err(|e| format!("{}: {e}", args.out.display()))?;
    } else {
        for f in &bundle.files {
            let path = args.out.join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&path, &f.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = if f.executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    eprintln!("wrote {} files ({} bytes) to {}", bundle.files.len(), bundle.size(), args.out.display());
    Ok(())
}
