//! Catalog checks: what must hold before a catalog is compiled into a table.
//!
//! [`check`] runs in `build.rs` (the embedded catalog) and when `serve --recipes DIR`
//! or `aicrd check` loads a catalog, so a broken catalog fails the same way in both
//! places. Every finding names the catalog file and, where one is to blame, the field.
//!
//! Errors:
//! - a criteria combination does not resolve (unknown or cyclic dependencies in the
//!   merged recipe, mixin conflicts);
//! - a `dependencyRefs` entry names no registry component;
//! - a chart version is not pinned (empty for a chart, `latest`, or a range such as
//!   `^1.2`, `~1.2`, `1.x`, `*`, `>=1.0`);
//! - an overlay can never be selected: no combination applies it (shadowed);
//! - a manifest template uses a value key that the component's values do not have
//!   (only where the caller supplies a renderer; the template engine lives outside
//!   this module, which `build.rs` compiles on its own).
//!
//! Warnings: two candidate overlays match a combination with equal specificity, so
//! only their names decide which merges last.
//!
//! (Missing values and manifest files, unknown components and broken `spec.base` links
//! are load errors: `Catalog::load` refuses such a catalog before any check runs.)
//!
//! The v0.11.1 reference catalog passes every check without a finding, so the checks
//! are errors for every catalog; no opt-in is needed.

use super::catalog::{Catalog, CatalogError, ComponentRef};
use super::criteria::{Criteria, CriteriaKey};
use super::resolve::{candidates, resolve};
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Renders one manifest template for a component with its merged values; `Err` is
/// the template engine's message (which names the template, line and key).
pub type ManifestCheck<'a> = &'a (dyn Fn(&str, &[u8], &ComponentRef, &Map<String, Value>) -> Result<(), String> + Sync);

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A combination does not resolve.
    Resolve,
    /// A dependency names no registry component.
    UnknownDependency,
    /// A chart version is not pinned.
    Unpinned,
    /// An overlay is never applied.
    Shadowed,
    /// A manifest template does not render with the component's values.
    Template,
    /// Only overlay names decide the merge order.
    Tie,
}

impl Kind {
    /// Whether a finding of this kind fails the catalog (all but ties do).
    pub fn is_error(self) -> bool {
        self != Kind::Tie
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem.
    pub kind: Kind,
    /// File, field and message.
    pub error: CatalogError,
}

/// The outcome of [`check`].
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Findings that fail the catalog.
    pub errors: Vec<Finding>,
    /// Findings that do not.
    pub warnings: Vec<Finding>,
    /// Combinations resolved.
    pub combinations: usize,
    /// Distinct lists of applied overlays.
    pub distinct_recipes: usize,
}

impl Report {
    /// `Err` with every error, one per line, if there is any.
    pub fn into_result(self) -> Result<Report, String> {
        if self.errors.is_empty() {
            Ok(self)
        } else {
            Err(self.errors.iter().map(|f| f.error.to_string()).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// Whether `version` pins one release: not empty, not `latest`, not a range.
pub fn is_pinned(version: &str) -> bool {
    let v = version.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("latest") || v.eq_ignore_ascii_case("stable") {
        return false;
    }
    if v.contains(['^', '~', '*', '>', '<', '=', '|', ' ', ',']) {
        return false;
    }
    // `1.x`, `1.2.X`: a wildcard segment.
    let core = v.strip_prefix('v').unwrap_or(v);
    !core.split(['.', '-', '+']).any(|seg| seg.eq_ignore_ascii_case("x"))
}

fn unpinned_message(version: &str) -> String {
    if version.is_empty() {
        "chart version is not pinned (empty)".to_string()
    } else {
        format!("chart version {version:?} is not pinned (use one exact release)")
    }
}

/// Every file that lists components, with its components.
fn component_sources(catalog: &Catalog) -> Vec<(&str, &[ComponentRef])> {
    let overlays = std::iter::once(&catalog.base).chain(catalog.overlays.values());
    overlays
        .map(|o| (o.file.as_str(), o.spec.component_refs.as_slice()))
        .chain(catalog.mixins.values().map(|m| (m.file.as_str(), m.component_refs.as_slice())))
        .collect()
}

/// Checks that need no resolution: dependency names and explicit versions.
fn static_findings(catalog: &Catalog, out: &mut Vec<Finding>) {
    for (file, components) in component_sources(catalog) {
        for (i, c) in components.iter().enumerate() {
            for (j, dep) in c.dependency_refs.iter().enumerate() {
                if catalog.registry.get(dep).is_none() {
                    out.push(Finding {
                        kind: Kind::UnknownDependency,
                        error: CatalogError::new(
                            file,
                            Some(format!("spec.componentRefs[{i}].dependencyRefs[{j}]")),
                            format!("component {:?} depends on {dep:?}, which is not in registry.yaml", c.name),
                        ),
                    });
                }
            }
            if !c.version.is_empty() && !is_pinned(&c.version) {
                out.push(Finding {
                    kind: Kind::Unpinned,
                    error: CatalogError::new(
                        file,
                        Some(format!("spec.componentRefs[{i}].version")),
                        format!("{}: {}", c.name, unpinned_message(&c.version)),
                    ),
                });
            }
        }
    }
    for (i, entry) in catalog.registry.components.iter().enumerate() {
        let v = &entry.helm.default_version;
        if !v.is_empty() && !is_pinned(v) {
            out.push(Finding {
                kind: Kind::Unpinned,
                error: CatalogError::new(
                    "registry.yaml",
                    Some(format!("components[{i}].helm.defaultVersion")),
                    format!("{}: {}", entry.name, unpinned_message(v)),
                ),
            });
        }
    }
}

/// The file (and index) that last lists `component` among the applied overlays and mixins.
fn last_listing<'c>(catalog: &'c Catalog, applied: &[String], component: &str) -> Option<(&'c str, usize)> {
    let overlays =
        applied.iter().filter_map(|name| if name == "base" { Some(&catalog.base) } else { catalog.overlays.get(name) });
    let mut found = None;
    for o in overlays {
        if let Some(i) = o.spec.component_refs.iter().position(|c| c.name == component) {
            found = Some((o.file.as_str(), i));
        }
        for m in o.spec.mixins.iter().filter_map(|m| catalog.mixins.get(m)) {
            if let Some(i) = m.component_refs.iter().position(|c| c.name == component) {
                found = Some((m.file.as_str(), i));
            }
        }
    }
    found
}

/// What makes two findings the same: kind, file, field and message.
type FindingId = (Kind, String, Option<String>, String);

/// Per-combination outcome, gathered in parallel.
struct Outcome {
    key: CriteriaKey,
    applied: Option<Vec<String>>,
    findings: Vec<Finding>,
    components: Vec<ComponentRef>,
}

fn check_combination(catalog: &Catalog, key: CriteriaKey) -> Outcome {
    let criteria = Criteria { key, nodes: 0 };
    let mut findings = Vec::new();
    if let Ok(leaves) = candidates(catalog, &criteria) {
        for pair in leaves.windows(2) {
            if pair[0].specificity == pair[1].specificity {
                findings.push(Finding {
                    kind: Kind::Tie,
                    error: CatalogError::new(
                        &pair[1].overlay.file,
                        Some("spec.criteria".into()),
                        format!(
                            "overlays {:?} and {:?} both match with specificity {}; only their names decide that {:?} merges last",
                            pair[0].overlay.name, pair[1].overlay.name, pair[0].specificity, pair[1].overlay.name
                        ),
                    ),
                });
            }
        }
    }
    match resolve(catalog, &criteria) {
        Ok(resolved) => {
            for c in &resolved.components {
                if c.kind == "Helm" && !c.chart.is_empty() && c.version.is_empty() {
                    let (file, field) = match last_listing(catalog, &resolved.applied_overlays, &c.name) {
                        Some((file, i)) => (file.to_string(), format!("spec.componentRefs[{i}].version")),
                        None => {
                            ("registry.yaml".to_string(), format!("components[name={}].helm.defaultVersion", c.name))
                        }
                    };
                    findings.push(Finding {
                        kind: Kind::Unpinned,
                        error: CatalogError::new(file, Some(field), format!("{}: {}", c.name, unpinned_message(""))),
                    });
                }
            }
            Outcome { key, applied: Some(resolved.applied_overlays), findings, components: resolved.components }
        }
        Err(e) => {
            let (file, field) = match e.location() {
                Some((file, field)) => (file.to_string(), Some(field)),
                None => ("overlays".to_string(), None),
            };
            findings.push(Finding { kind: Kind::Resolve, error: CatalogError::new(file, field, e.to_string()) });
            Outcome { key, applied: None, findings, components: Vec::new() }
        }
    }
}

/// Runs every check over every combination of the full matrix. `manifests`, if given,
/// renders each manifest of each distinct resolved component.
pub fn check(catalog: &Catalog, manifests: Option<ManifestCheck<'_>>) -> Report {
    let keys: Vec<CriteriaKey> = CriteriaKey::all().collect();
    let outcomes: Vec<Outcome> = keys.par_iter().map(|k| check_combination(catalog, *k)).collect();

    let mut findings = Vec::new();
    static_findings(catalog, &mut findings);
    // The same finding from many combinations is reported once, with a count and the
    // first combination (in matrix order) that shows it.
    let mut seen: BTreeMap<FindingId, (usize, CriteriaKey)> = BTreeMap::new();
    let mut order = Vec::new();
    let mut applied_sets = BTreeSet::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut distinct_components: BTreeMap<String, &ComponentRef> = BTreeMap::new();
    for outcome in &outcomes {
        if let Some(applied) = &outcome.applied {
            used.extend(applied.iter().map(String::as_str));
            applied_sets.insert(applied.clone());
        }
        for c in &outcome.components {
            if !c.manifest_files.is_empty() || !c.pre_manifest_files.is_empty() {
                let id = serde_json::to_string(c).unwrap_or_default();
                distinct_components.entry(id).or_insert(c);
            }
        }
        for f in &outcome.findings {
            let id = (f.kind, f.error.file.clone(), f.error.field.clone(), f.error.message.clone());
            match seen.get_mut(&id) {
                Some((count, _)) => *count += 1,
                None => {
                    seen.insert(id.clone(), (1, outcome.key));
                    order.push((id, f.clone()));
                }
            }
        }
    }
    for (id, mut f) in order {
        let (count, first) = seen[&id];
        let more = if count > 1 { format!(" and {} more", count - 1) } else { String::new() };
        f.error.message = format!("{} (combination {}{more})", f.error.message, first.canonical());
        findings.push(f);
    }

    for overlay in catalog.overlays.values() {
        if !used.contains(overlay.name.as_str()) {
            let why = if overlay.spec.criteria.is_some() {
                "no criteria combination applies this overlay: more specific overlays or values outside the accepted criteria shadow it"
            } else {
                "the overlay has no criteria and no overlay inherits from it, so nothing selects it"
            };
            findings.push(Finding {
                kind: Kind::Shadowed,
                error: CatalogError::new(&overlay.file, Some("spec.criteria".into()), why),
            });
        }
    }

    if let Some(render) = manifests {
        let mut reported = BTreeSet::new();
        for c in distinct_components.values() {
            let values = super::values::component_values(catalog, c);
            for path in c.pre_manifest_files.iter().chain(&c.manifest_files) {
                let Some(bytes) = catalog.files.get(path) else { continue };
                if let Err(message) = render(path, bytes, c, &values)
                    && reported.insert((path.clone(), message.clone()))
                {
                    findings.push(Finding {
                        kind: Kind::Template,
                        error: CatalogError::new(
                            path,
                            None,
                            format!("does not render with the values of component {:?}: {message}", c.name),
                        ),
                    });
                }
            }
        }
    }

    let (errors, warnings) = findings.into_iter().partition(|f| f.kind.is_error());
    Report { errors, warnings, combinations: outcomes.len(), distinct_recipes: applied_sets.len() }
}

#[cfg(test)]
mod tests {
    use super::is_pinned;

    #[test]
    fn pinned_versions() {
        for v in ["v1.17.2", "82.8.0", "25.12.0", "1.0.0-rc.1", "v0.5.3+build"] {
            assert!(is_pinned(v), "{v}");
        }
        for v in ["", "latest", "LATEST", "^1.2.0", "~1.2", "1.x", "1.2.X", "*", ">=1.0", "1.0 - 2.0", "<2", "1.0||2.0"]
        {
            assert!(!is_pinned(v), "{v:?}");
        }
    }
}
