//! The table compiler: resolves every criteria combination in parallel and produces,
//! for each, the identity JSON body plus gzip and zstd variants, each with a strong
//! ETag over exactly its bytes. Identical bodies are stored once in a single blob.
//!
//! The same code runs in `build.rs` (embedded catalog) and at start-up for
//! `serve --recipes DIR`, so both serve byte-identical answers for one catalog.

use super::catalog::{Catalog, CatalogError};
use super::criteria::{Criteria, CriteriaKey};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// zstd level used for baked bodies (fixed: the output must be deterministic).
pub const ZSTD_LEVEL: i32 = 19;
/// gzip level used for baked bodies.
pub const GZIP_LEVEL: u32 = 9;

/// One encoded body: a range of the blob and its quoted strong ETag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant<S = &'static str> {
    /// Offset into the blob.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
    /// Quoted strong entity tag, e.g. `"3f…"`.
    pub etag: S,
}

/// Everything served for one combination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<S = &'static str> {
    /// Uncompressed JSON.
    pub identity: Variant<S>,
    /// gzip of the identity bytes.
    pub gzip: Variant<S>,
    /// zstd of the identity bytes.
    pub zstd: Variant<S>,
    /// Offset inside the identity body where `,"nodes":N` goes (the `}` closing `criteria`).
    pub nodes_at: u32,
}

/// Figures about one compilation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Criteria combinations compiled.
    pub combinations: usize,
    /// Distinct recipes (distinct lists of applied overlays).
    pub distinct_recipes: usize,
    /// Distinct identity bodies stored.
    pub distinct_bodies: usize,
    /// Total identity bytes stored.
    pub identity_bytes: usize,
    /// Total gzip bytes stored.
    pub gzip_bytes: usize,
    /// Total zstd bytes stored.
    pub zstd_bytes: usize,
    /// Wall time of the compilation.
    pub elapsed: Duration,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} combinations, {} distinct recipes, {} distinct bodies; identity {} B, gzip {} B, zstd {} B; {:.2?}",
            self.combinations,
            self.distinct_recipes,
            self.distinct_bodies,
            self.identity_bytes,
            self.gzip_bytes,
            self.zstd_bytes,
            self.elapsed
        )
    }
}

/// The compiled table: one blob and one entry per canonical criteria key, sorted by key.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    /// All bodies back to back.
    pub blob: Vec<u8>,
    /// `(canonical key, entry)`, sorted by key.
    pub entries: Vec<(String, Entry<String>)>,
    /// Figures.
    pub stats: Stats,
}

/// A compilation failure: the combination and the catalog problem behind it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The catalog did not load.
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    /// One combination failed to resolve.
    #[error("criteria {key}: {message}")]
    Resolve {
        /// Canonical key of the failing combination.
        key: String,
        /// What went wrong, naming the overlay file where known.
        message: String,
    },
}

/// Quoted strong ETag over `bytes`: the first 128 bits of their SHA-256, in hex.
pub fn etag_for(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, ZSTD_LEVEL).expect("zstd into memory")
}

/// Where `,"nodes":N` is spliced into an identity body: the `}` that closes `criteria`.
pub fn nodes_offset(body: &[u8]) -> Option<usize> {
    let marker = b"\"criteria\":{";
    let start = body.windows(marker.len()).position(|w| w == marker)? + marker.len();
    body[start..].iter().position(|b| *b == b'}').map(|p| start + p)
}

struct Rendered {
    key: String,
    applied: Vec<String>,
    identity: Vec<u8>,
    gzip: Vec<u8>,
    zstd: Vec<u8>,
    nodes_at: usize,
}

/// Renders the identity body of one combination (no compression).
pub fn render(catalog: &Catalog, key: &CriteriaKey, version: &str) -> Result<(Vec<String>, Vec<u8>), CompileError> {
    let criteria = Criteria { key: *key, nodes: 0 };
    let resolved = super::resolve::resolve(catalog, &criteria).map_err(|e| {
        let message = match e.location() {
            Some((file, field)) => format!("{file}: {field}: {e}"),
            None => e.to_string(),
        };
        CompileError::Resolve { key: key.canonical(), message }
    })?;
    let body = resolved.to_json(key, 0, version);
    Ok((resolved.applied_overlays, body))
}

/// Compiles every combination of the full matrix.
pub fn compile(catalog: &Catalog, version: &str) -> Result<Compiled, CompileError> {
    let started = Instant::now();
    let keys: Vec<CriteriaKey> = CriteriaKey::all().collect();
    let mut rendered: Vec<Rendered> = keys
        .par_iter()
        .map(|key| {
            let (applied, identity) = render(catalog, key, version)?;
            let nodes_at = nodes_offset(&identity).ok_or_else(|| CompileError::Resolve {
                key: key.canonical(),
                message: "rendered body has no criteria object".into(),
            })?;
            Ok(Rendered {
                key: key.canonical(),
                applied,
                gzip: gzip(&identity),
                zstd: zstd(&identity),
                identity,
                nodes_at,
            })
        })
        .collect::<Result<_, CompileError>>()?;
    rendered.sort_by(|a, b| a.key.cmp(&b.key));

    let mut compiled = Compiled::default();
    let mut stored: HashMap<Vec<u8>, Variant<String>> = HashMap::new();
    let mut recipes = std::collections::BTreeSet::new();
    let mut store = |blob: &mut Vec<u8>, bytes: Vec<u8>, stats: &mut Stats, which: u8| -> Variant<String> {
        if let Some(v) = stored.get(&bytes) {
            return v.clone();
        }
        let v = Variant { start: blob.len() as u32, len: bytes.len() as u32, etag: etag_for(&bytes) };
        blob.extend_from_slice(&bytes);
        match which {
            0 => {
                stats.identity_bytes += bytes.len();
                stats.distinct_bodies += 1;
            }
            1 => stats.gzip_bytes += bytes.len(),
            _ => stats.zstd_bytes += bytes.len(),
        }
        stored.insert(bytes, v.clone());
        v
    };
    for r in rendered {
        recipes.insert(r.applied);
        let identity = store(&mut compiled.blob, r.identity, &mut compiled.stats, 0);
        let gzip = store(&mut compiled.blob, r.gzip, &mut compiled.stats, 1);
        let zstd = store(&mut compiled.blob, r.zstd, &mut compiled.stats, 2);
        compiled.entries.push((r.key, Entry { identity, gzip, zstd, nodes_at: r.nodes_at as u32 }));
    }
    compiled.stats.combinations = compiled.entries.len();
    compiled.stats.distinct_recipes = recipes.len();
    compiled.stats.elapsed = started.elapsed();
    Ok(compiled)
}

/// Writes `recipes.bin` (the blob) and `recipe_table.rs` (a phf map from canonical
/// key to [`Entry`]) into `out_dir`. The generated file expects `Entry` and `Variant`
/// in scope and defines `BLOB` and `ENTRIES`.
pub fn write_table(compiled: &Compiled, out_dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(out_dir.join("recipes.bin"), &compiled.blob)?;
    let variant = |v: &Variant<String>| format!("Variant {{ start: {}, len: {}, etag: {:?} }}", v.start, v.len, v.etag);
    let mut map = phf_codegen::Map::new();
    for (key, e) in &compiled.entries {
        map.entry(
            key.as_str(),
            format!(
                "Entry {{ identity: {}, gzip: {}, zstd: {}, nodes_at: {} }}",
                variant(&e.identity),
                variant(&e.gzip),
                variant(&e.zstd),
                e.nodes_at
            ),
        );
    }
    let s = &compiled.stats;
    let code = format!(
        "// @generated by build.rs from the recipe catalog; do not edit.\n\
         /// Every baked body, back to back.\n\
         pub static BLOB: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/recipes.bin\"));\n\
         /// Canonical criteria key -> baked variants.\n\
         pub static ENTRIES: phf::Map<&'static str, Entry> = {};\n\
         /// Figures of the build-time compilation: (combinations, distinct recipes, distinct bodies, identity, gzip, zstd bytes).\n\
         pub const STATS: [usize; 6] = [{}, {}, {}, {}, {}, {}];\n",
        map.build(),
        s.combinations,
        s.distinct_recipes,
        s.distinct_bodies,
        s.identity_bytes,
        s.gzip_bytes,
        s.zstd_bytes
    );
    std::fs::write(out_dir.join("recipe_table.rs"), code)
}

/// Writes `catalog_files.rs`: `FILES`, every file of the catalog directory as
/// `(relative path, include_bytes!(absolute path))`, sorted, so the binary carries the
/// catalog it was built from (bundles and queries need the component files).
pub fn write_catalog_files(dir: &std::path::Path, out_dir: &std::path::Path) -> std::io::Result<()> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut Vec<(String, std::path::PathBuf)>,
    ) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if let Some(rel) = path.strip_prefix(root).ok().and_then(|r| r.to_str()) {
                out.push((rel.replace('\\', "/"), path.canonicalize()?));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut code = String::from(
        "// @generated by build.rs; do not edit.\n/// The catalog directory the table was compiled from.\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in files {
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", abs.display().to_string()));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("catalog_files.rs"), code)
}
