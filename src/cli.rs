//! The command line: `serve` (default), `recipe`, `query`, `export`.
//!
//! Configuration is parsed once here (flags with environment fallbacks) and passed
//! down; nothing deeper reads the environment.

use crate::allowlist::Allowlists;
use crate::recipe::catalog::Catalog;
use crate::recipe::criteria::{CriteriaError, RawCriteria};
use crate::recipe::hydrate::{Document, Hydrated};
use crate::recipe::resolve::resolve;
use crate::server::{AppState, Limits, Settings, Timeouts};
use crate::table::{BUILD_DATE, COMMIT, RecipeTable, VERSION};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const LONG_VERSION: &str =
    concat!(env!("AICRD_VERSION"), " (commit ", env!("AICRD_COMMIT"), ", built ", env!("AICRD_BUILD_DATE"), ")");

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
    /// Print one value of the hydrated recipe for one set of criteria.
    Query(QueryArgs),
    /// Write every combination's recipe to a directory.
    Export(ExportArgs),
    /// Generate a deployment bundle from a recipe file.
    Bundle(crate::bundle::cli::BundleArgs),
    /// Run the catalog checks (the build-time ones plus manifest templates).
    Check(CatalogArgs),
    /// Show per combination what changed between two catalogs or two exports
    /// (exit 0: no differences, 1: differences, 2: trouble).
    Diff(DiffArgs),
}

#[derive(Debug, Clone, Args)]
struct DiffArgs {
    /// Old catalog directory (with registry.yaml) or `aicrd export` directory.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// New catalog directory or export directory.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
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
    /// Requests per second the shared token bucket refills; 0 turns rate limiting off.
    #[arg(long, env = "AICR_RATE_LIMIT", default_value_t = 100)]
    rate_limit: u32,
    /// Token bucket capacity (burst).
    #[arg(long, env = "AICR_RATE_LIMIT_BURST", default_value_t = 200)]
    rate_limit_burst: u32,
    /// Largest accepted body for /v1/recipe and /v1/query, in bytes (else 413).
    #[arg(long, env = "AICR_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Largest accepted body for /v1/bundle, in bytes (else 413).
    #[arg(long, env = "AICR_MAX_BUNDLE_BODY_BYTES", default_value_t = 16 << 20)]
    max_bundle_body_bytes: usize,
    /// Largest request head (request line and headers), in bytes (else 431).
    #[arg(long, env = "AICR_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Seconds a client has to send a request head.
    #[arg(long, env = "AICR_HEADER_TIMEOUT_SECONDS", default_value_t = 5)]
    header_timeout_seconds: u64,
    /// Seconds a client has to send a request body (else 408).
    #[arg(long, env = "AICR_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    read_timeout_seconds: u64,
    /// Deadline in seconds for /v1/recipe and /v1/query handlers (else 504).
    #[arg(long, env = "AICR_WRITE_TIMEOUT_SECONDS", default_value_t = 30)]
    write_timeout_seconds: u64,
    /// Deadline in seconds for /v1/bundle handlers (else 504).
    #[arg(long, env = "AICR_BUNDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    bundle_timeout_seconds: u64,
    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, env = "AICR_IDLE_TIMEOUT_SECONDS", default_value_t = 120)]
    idle_timeout_seconds: u64,
    /// Seconds to drain in-flight requests after SIGTERM/SIGINT (exit 1 if exceeded).
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30)]
    shutdown_timeout_seconds: u64,
    /// Seconds /ready reports 503 while still accepting after a shutdown signal
    /// (lets load balancers drop the pod first).
    #[arg(long, env = "AICR_SHUTDOWN_DELAY_SECONDS", default_value_t = 0)]
    shutdown_delay_seconds: u64,
    /// Allowed accelerators, comma-separated (empty: all).
    #[arg(long, env = "AICR_ALLOWED_ACCELERATORS")]
    allowed_accelerators: Option<String>,
    /// Allowed services, comma-separated (empty: all).
    #[arg(long, env = "AICR_ALLOWED_SERVICES")]
    allowed_services: Option<String>,
    /// Allowed intents, comma-separated (empty: all).
    #[arg(long, env = "AICR_ALLOWED_INTENTS")]
    allowed_intents: Option<String>,
    /// Allowed operating systems, comma-separated (empty: all).
    #[arg(long, env = "AICR_ALLOWED_OS")]
    allowed_os: Option<String>,
    #[command(flatten)]
    log: LogArgs,
}

/// Logging settings.
#[derive(Debug, Clone, Default, Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "AICR_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// Log level or filter (`debug`, `info`, `warn`, `error`, or a tracing filter);
    /// falls back to RUST_LOG, then LOG_LEVEL, then `info`.
    #[arg(long, env = "AICR_LOG_LEVEL")]
    pub log_level: Option<String>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

impl ServeArgs {
    fn settings(&self) -> Result<Settings, String> {
        let allowlists = Allowlists::parse(
            self.allowed_accelerators.as_deref(),
            self.allowed_services.as_deref(),
            self.allowed_intents.as_deref(),
            self.allowed_os.as_deref(),
        )?;
        let secs = Duration::from_secs;
        Ok(Settings {
            limits: Limits { recipe_body: self.max_body_bytes, bundle_body: self.max_bundle_body_bytes },
            timeouts: Timeouts {
                header: secs(self.header_timeout_seconds.max(1)),
                body: secs(self.read_timeout_seconds.max(1)),
                handler: secs(self.write_timeout_seconds.max(1)),
                bundle: secs(self.bundle_timeout_seconds.max(1)),
                idle: secs(self.idle_timeout_seconds.max(1)),
                shutdown: secs(self.shutdown_timeout_seconds.max(1)),
            },
            max_header_bytes: self.max_header_bytes.max(1024),
            rate_limit: self.rate_limit,
            rate_limit_burst: self.rate_limit_burst,
            allowlists,
            shutdown_delay: secs(self.shutdown_delay_seconds),
        })
    }
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
struct QueryArgs {
    /// Catalog, criteria and output format, as for `recipe`.
    #[command(flatten)]
    recipe: RecipeArgs,
    /// Dot-path into the hydrated recipe (e.g. `components.gpu-operator.values.driver.version`);
    /// empty for the whole document.
    #[arg(long, default_value = "")]
    selector: String,
}

impl RecipeArgs {
    /// The criteria flags, unvalidated.
    fn raw_criteria(&self) -> RawCriteria {
        RawCriteria {
            service: self.service.clone(),
            accelerator: self.accelerator.clone(),
            intent: self.intent.clone(),
            os: self.os.clone(),
            platform: self.platform.clone(),
            nodes: self.nodes.clone(),
        }
    }
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
        Some(dir) => Catalog::load(dir).map_err(|e| format!("recipe catalog {}: {e}", dir.display())),
        None => {
            Catalog::from_files(crate::table::embedded_catalog_files()).map_err(|e| format!("embedded catalog: {e}"))
        }
    }
}

/// Catalog and table: the baked table for the embedded catalog, or a table compiled now.
pub fn load_table(args: &CatalogArgs) -> Result<(Catalog, RecipeTable), String> {
    let catalog = load_catalog(args)?;
    let table = match &args.recipes {
        Some(dir) => {
            check_catalog(&catalog).map_err(|e| format!("recipe catalog {}: {e}", dir.display()))?;
            let (table, stats) = RecipeTable::compile(&catalog, VERSION)
                .map_err(|e| format!("recipe catalog {}: {e}", dir.display()))?;
            tracing::info!(
                dir = %dir.display(),
                %stats,
                overlays = catalog.overlays.len(),
                mixins = catalog.mixins.len(),
                "compiled recipe catalog"
            );
            table
        }
        None => RecipeTable::embedded(),
    };
    Ok((catalog, table))
}

/// Runs the catalog checks: warnings are logged, errors (one per line) are returned.
pub fn check_catalog(catalog: &Catalog) -> Result<crate::recipe::check::Report, String> {
    let report = crate::review::check_catalog(catalog);
    for warning in &report.warnings {
        tracing::warn!(file = %warning.error.file, "catalog check: {}", warning.error);
    }
    report.into_result().map_err(|errors| format!("catalog checks failed:\n{errors}"))
}

/// Files of an export: `(relative path, bytes)`, recipes by canonical key plus `index.tsv`
/// (key, applied overlays, component versions).
pub fn export_files(catalog: &Catalog, version: &str, format: Format) -> Result<Vec<(String, Vec<u8>)>, String> {
    use crate::recipe::criteria::{Criteria, CriteriaKey};
    let mut files = Vec::with_capacity(CriteriaKey::COUNT + 1);
    let mut index = String::from("# key\tapplied overlays\tcomponents\n");
    for key in CriteriaKey::all() {
        let resolved = resolve(catalog, &Criteria { key, nodes: 0 }).map_err(|e| format!("{key}: {e}"))?;
        let name = key.canonical();
        let versions: Vec<String> = resolved
            .components
            .iter()
            .map(|c| if c.version.is_empty() { c.name.clone() } else { format!("{}@{}", c.name, c.version) })
            .collect();
        index.push_str(&format!("{name}\t{}\t{}\n", resolved.applied_overlays.join(","), versions.join(",")));
        let (ext, bytes) = match format {
            Format::Json => ("json", resolved.to_json(&key, 0, version)),
            Format::Yaml => ("yaml", resolved.to_yaml(&key, 0, version).into_bytes()),
        };
        files.push((format!("{name}.{ext}"), bytes));
    }
    files.push(("index.tsv".into(), index.into_bytes()));
    Ok(files)
}

/// Sets up logging to stderr.
pub fn init_tracing(args: &LogArgs) {
    use tracing_subscriber::EnvFilter;
    let directive = args
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .or_else(|| std::env::var("LOG_LEVEL").ok())
        .map(|l| if l.eq_ignore_ascii_case("warning") { "warn".to_string() } else { l.to_ascii_lowercase() })
        .unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
    let settings = args.settings()?;
    let (catalog, table) = load_table(&args.catalog)?;
    let a = &settings.allowlists;
    tracing::info!(
        rate_limit = settings.rate_limit,
        burst = settings.rate_limit_burst,
        allowed_accelerators = a.accelerators.len(),
        allowed_services = a.services.len(),
        allowed_intents = a.intents.len(),
        allowed_os = a.os.len(),
        "configuration"
    );
    tracing::debug!(allowlists = ?a, "allowlist values");
    let state = AppState::new(table, catalog, settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot bind {addr}: {e}"))?;
        tracing::info!(%addr, version = VERSION, commit = COMMIT, built = BUILD_DATE, "aicrd listening");
        crate::server::serve(listener, state, shutdown_signal()).await.map_err(|e| e.to_string())
    })
}

fn print_recipe(args: RecipeArgs) -> Result<(), String> {
    let catalog = load_catalog(&args.catalog)?;
    let criteria = args.raw_criteria().parse_with(&catalog.vocabulary()).map_err(|e: CriteriaError| e.to_string())?;
    let resolved = resolve(&catalog, &criteria).map_err(|e| e.to_string())?;
    let out = match args.format {
        Format::Json => String::from_utf8_lossy(&resolved.to_json(&criteria.key, criteria.nodes, VERSION)).into_owned(),
        Format::Yaml => resolved.to_yaml(&criteria.key, criteria.nodes, VERSION),
    };
    print!("{out}");
    Ok(())
}

/// Resolves and hydrates the one recipe asked for and prints the selected value.
fn print_query(args: QueryArgs) -> Result<(), String> {
    let catalog = load_catalog(&args.recipe.catalog)?;
    let criteria =
        args.recipe.raw_criteria().parse_with(&catalog.vocabulary()).map_err(|e: CriteriaError| e.to_string())?;
    let resolved = resolve(&catalog, &criteria).map_err(|e| e.to_string())?;
    let hydrated = Hydrated::new(&catalog, &resolved, VERSION);
    let document = Document::new(&hydrated, &criteria);
    let selected = document.select(&args.selector).map_err(|e| e.to_string())?;
    match args.recipe.format {
        Format::Json => print!("{}", String::from_utf8_lossy(&document.to_json(selected))),
        Format::Yaml => print!("{}", document.to_yaml(selected)),
    }
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
    match &cli.command {
        Some(Command::Serve(args)) => init_tracing(&args.log),
        None => init_tracing(&cli.serve.log),
        _ => init_tracing(&LogArgs { log_level: Some("warn".into()), ..LogArgs::default() }),
    }
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Recipe(args)) => print_recipe(args),
        Some(Command::Query(args)) => print_query(args),
        Some(Command::Export(args)) => export(args),
        Some(Command::Bundle(args)) => crate::bundle::cli::run(args),
        Some(Command::Check(args)) => load_catalog(&args).and_then(|catalog| {
            let report = crate::review::check_catalog(&catalog);
            for warning in &report.warnings {
                println!("warning: {}", warning.error);
            }
            let (combinations, recipes, warnings) =
                (report.combinations, report.distinct_recipes, report.warnings.len());
            report.into_result().map_err(|errors| format!("catalog checks failed:\n{errors}"))?;
            println!("catalog ok: {combinations} combinations, {recipes} distinct recipes, {warnings} warnings");
            Ok(())
        }),
        Some(Command::Diff(args)) => match crate::review::diff_dirs(&args.from, &args.to) {
            Ok(text) => {
                print!("{text}");
                return if text.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) };
            }
            Err(message) => {
                eprintln!("aicrd: {message}");
                return ExitCode::from(2);
            }
        },
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
