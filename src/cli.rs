//! The command line: `serve` (default), `recipe`, `export`, `bundle`.
//!
//! Configuration is parsed once here (flags with environment fallbacks) and passed
//! down; nothing deeper reads the environment.

use crate::recipe::catalog::Catalog;
use crate::recipe::criteria::{CriteriaError, RawCriteria};
use crate::recipe::resolve::resolve;
use crate::server::{AppState, Limits};
use crate::table::{BUILD_DATE, COMMIT, RecipeTable, VERSION};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const LONG_VERSION: &str = concat!(
    env!("AICRD_VERSION"),
    " (commit ",
    env!("AICRD_COMMIT"),
    ", built ",
    env!("AICRD_BUILD_DATE"),
    ")"
);

/// aicrd: NVIDIA AI Cluster Runtime recipes from a precompiled table.
#[derive(Debug, Parser)]
#[command(name = "aicrd", version = VERSION, long_version = LONG_VERSION, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, `aicrd` serves with these settings.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Print the recipe for one set of criteria.
    Recipe(RecipeArgs),
    /// Write every combination's recipe to a directory.
    Export(ExportArgs),
    /// Generate a deployment bundle from a recipe file.
    Bundle(crate::bundle::cli::BundleArgs),
}

/// Which catalog to use.
#[derive(Debug, Clone, Default, Args)]
pub struct CatalogArgs {
    /// Serve this catalog directory (compiled at start-up) instead of the embedded one.
    #[arg(long, env = "AICR_RECIPES_DIR", value_name = "DIR")]
    pub recipes: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    #[command(flatten)]
    catalog: CatalogArgs,
    /// TCP port.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind (all interfaces by default, as the Go server).
    #[arg(long, env = "AICR_BIND_ADDRESS", default_value = "0.0.0.0")]
    bind: IpAddr,
}

/// Output format of `recipe` and `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// The API's JSON bytes.
    #[default]
    Json,
    /// The same document as YAML.
    Yaml,
}

#[derive(Debug, Clone, Args)]
struct RecipeArgs {
    #[command(flatten)]
    catalog: CatalogArgs,
    /// Service (eks, gke, aks, oke, kind, lke, any).
    #[arg(long)]
    service: Option<String>,
    /// Accelerator (h100, gb200, b200, a100, l40, rtx-pro-6000, any).
    #[arg(long, visible_alias = "gpu")]
    accelerator: Option<String>,
    /// Intent (training, inference, any).
    #[arg(long)]
    intent: Option<String>,
    /// OS (ubuntu, rhel, cos, amazonlinux, talos, any).
    #[arg(long)]
    os: Option<String>,
    /// Platform (kubeflow, dynamo, any).
    #[arg(long)]
    platform: Option<String>,
    /// Node count (0 = unspecified).
    #[arg(long)]
    nodes: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Debug, Clone, Args)]
struct ExportArgs {
    #[command(flatten)]
    catalog: CatalogArgs,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Embedded catalog, or the directory given.
pub fn load_catalog(args: &CatalogArgs) -> Result<Catalog, String> {
    match &args.recipes {
        Some(dir) => {
            Catalog::load(dir).map_err(|e| format!("recipe catalog {}: {e}", dir.display()))
        }
        None => Catalog::from_files(crate::table::embedded_catalog_files())
            .map_err(|e| format!("embedded catalog: {e}")),
    }
}

/// Catalog and table: the baked table for the embedded catalog, or a table compiled now.
pub fn load_table(args: &CatalogArgs) -> Result<(Catalog, RecipeTable), String> {
    let catalog = load_catalog(args)?;
    let table = match &args.recipes {
        Some(dir) => {
            let (table, stats) = RecipeTable::compile(&catalog, VERSION)
                .map_err(|e| format!("recipe catalog {}: {e}", dir.display()))?;
            tracing::info!(dir = %dir.display(), %stats, "compiled recipe catalog");
            table
        }
        None => RecipeTable::embedded(),
    };
    Ok((catalog, table))
}

/// Files of an export: `(relative path, bytes)`, recipes by canonical key plus `index.tsv`
/// (key, applied overlays, component versions).
pub fn export_files(
    catalog: &Catalog,
    version: &str,
    format: Format,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    use crate::recipe::criteria::{Criteria, CriteriaKey};
    let mut files = Vec::with_capacity(CriteriaKey::COUNT + 1);
    let mut index = String::from("# key\tapplied overlays\tcomponents\n");
    for key in CriteriaKey::all() {
        let resolved =
            resolve(catalog, &Criteria { key, nodes: 0 }).map_err(|e| format!("{key}: {e}"))?;
        let name = key.canonical();
        let versions: Vec<String> = resolved
            .components
            .iter()
            .map(|c| {
                if c.version.is_empty() {
                    c.name.clone()
                } else {
                    format!("{}@{}", c.name, c.version)
                }
            })
            .collect();
        index.push_str(&format!(
            "{name}\t{}\t{}\n",
            resolved.applied_overlays.join(","),
            versions.join(",")
        ));
        let (ext, bytes) = match format {
            Format::Json => ("json", resolved.to_json(&key, 0, version)),
            Format::Yaml => ("yaml", resolved.to_yaml(&key, 0, version).into_bytes()),
        };
        files.push((format!("{name}.{ext}"), bytes));
    }
    files.push(("index.tsv".into(), index.into_bytes()));
    Ok(files)
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AICR_LOG_LEVEL")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received; draining");
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let (catalog, table) = load_table(&args.catalog)?;
    let state = AppState::new(table, catalog, Limits::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot bind {addr}: {e}"))?;
        tracing::info!(%addr, version = VERSION, commit = COMMIT, built = BUILD_DATE, "aicrd listening");
        crate::server::serve(listener, state, shutdown_signal()).await.map_err(|e| format!("server error: {e}"))
    })
}

fn print_recipe(args: RecipeArgs) -> Result<(), String> {
    let catalog = load_catalog(&args.catalog)?;
    let raw = RawCriteria {
        service: args.service,
        accelerator: args.accelerator,
        intent: args.intent,
        os: args.os,
        platform: args.platform,
        nodes: args.nodes,
    };
    let criteria = raw.parse().map_err(|e: CriteriaError| e.to_string())?;
    let resolved = resolve(&catalog, &criteria).map_err(|e| e.to_string())?;
    let out = match args.format {
        Format::Json => {
            String::from_utf8_lossy(&resolved.to_json(&criteria.key, criteria.nodes, VERSION))
                .into_owned()
        }
        Format::Yaml => resolved.to_yaml(&criteria.key, criteria.nodes, VERSION),
    };
    print!("{out}");
    Ok(())
}

fn export(args: ExportArgs) -> Result<(), String> {
    let catalog = load_catalog(&args.catalog)?;
    let files = export_files(&catalog, VERSION, args.format)?;
    write_tree(&args.out, &files)?;
    eprintln!("wrote {} files to {}", files.len(), args.out.display());
    Ok(())
}

/// Writes `(relative path, bytes)` pairs under `dir`, creating directories.
pub fn write_tree(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Recipe(args)) => print_recipe(args),
        Some(Command::Export(args)) => export(args),
        Some(Command::Bundle(args)) => crate::bundle::cli::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("aicrd: {message}");
            ExitCode::FAILURE
        }
    }
}
