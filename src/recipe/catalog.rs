//! The catalog: overlays, the component registry and the component files, loaded from
//! a directory in the AICR schema (recipe-engine spec §1).
//!
//! Loading walks the tree in lexical path order. Files under `components/` are kept as
//! raw bytes (bundles and `/v1/query` need them; recipes only echo their paths), files
//! under `checks/` are ignored, `registry.yaml` is the component registry, and every
//! other `.yaml` whose `kind` is empty or `RecipeMetadata` is a recipe document:
//! `overlays/base.yaml` is the base, the rest are overlays keyed by `metadata.name`.
//! Files directly under `mixins/` are `RecipeMixin` documents, decoded strictly.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Expected `kind` of recipe documents.
pub const RECIPE_KIND: &str = "RecipeMetadata";
/// `apiVersion` used by every AICR document.
pub const API_VERSION: &str = "aicr.nvidia.com/v1alpha1";

/// Reads a possibly-null YAML value as its type's default, as Go does for `~`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A requirement the target cluster must meet (`K8s.server.version >= 1.30`, …).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct Constraint {
    /// Fully qualified measurement path.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Expected value or comparison.
    #[serde(deserialize_with = "nullable")]
    pub value: String,
    /// Optional severity.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub severity: String,
    /// Optional remediation hint.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub remediation: String,
    /// Optional unit.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub unit: String,
}

/// A Kubernetes object a component is expected to create.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ExpectedResource {
    /// Object kind.
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    /// Object name.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Object namespace, if namespaced.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// One component of a recipe. Field order is the JSON output order (spec §1.2).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ComponentRef {
    /// Component name (registry key).
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Target namespace.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Helm chart name.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub chart: String,
    /// `Helm` or `Kustomize`.
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    /// Chart repository, OCI reference or Git source.
    #[serde(deserialize_with = "nullable")]
    pub source: String,
    /// Pinned chart version.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Kustomize tag.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Catalog-relative values file.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub values_file: String,
    /// Inline values merged over the values file.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Map::is_empty")]
    pub overrides: Map<String, Value>,
    /// Kustomize patches.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<String>,
    /// Components that must be deployed first.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub dependency_refs: Vec<String>,
    /// Catalog-relative manifests applied before the component's chart (later versions;
    /// additive, omitted when empty).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub pre_manifest_files: Vec<String>,
    /// Catalog-relative manifest templates deployed with the component.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub manifest_files: Vec<String>,
    /// Kustomize path.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Whether to clean up on uninstall.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_false")]
    pub cleanup: bool,
    /// Objects the component is expected to create.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub expected_resources: Vec<ExpectedResource>,
    /// Health-check assertions.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub health_check_asserts: String,
    /// Skip the component's health check (later versions; sticky once true).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_false")]
    pub health_check_skip: bool,
}

/// The keys a `ComponentRef` may have (strict mixin decoding).
const COMPONENT_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "chart",
    "type",
    "source",
    "version",
    "tag",
    "valuesFile",
    "overrides",
    "patches",
    "dependencyRefs",
    "preManifestFiles",
    "manifestFiles",
    "path",
    "cleanup",
    "expectedResources",
    "healthCheckAsserts",
    "healthCheckSkip",
];

/// Which nodes a validation phase runs on.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeSelection {
    /// Label selector.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Upper bound on nodes used.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub max_nodes: i64,
    /// Nodes never used.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub exclude_nodes: Vec<String>,
}

/// One validation phase.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Phase {
    /// Phase timeout (Go duration text).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub timeout: String,
    /// Constraints checked in this phase.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Named checks run in this phase.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Node selection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_selection: Option<NodeSelection>,
    /// Infrastructure hint.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub infrastructure: String,
}

/// Validation phases, in output order.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct Validation {
    /// Cluster readiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Phase>,
    /// After deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Phase>,
    /// Performance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance: Option<Phase>,
    /// Conformance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conformance: Option<Phase>,
}

impl Validation {
    /// Replaces, phase by phase, every phase `newer` defines (spec §4.3).
    pub fn merge_from(&mut self, newer: &Validation) {
        for (mine, theirs) in [
            (&mut self.readiness, &newer.readiness),
            (&mut self.deployment, &newer.deployment),
            (&mut self.performance, &newer.performance),
            (&mut self.conformance, &newer.conformance),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// Criteria on the overlay side: compared verbatim, `""` and `any` are wildcards.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OverlayCriteria {
    /// Service.
    #[serde(deserialize_with = "nullable")]
    pub service: String,
    /// Accelerator.
    #[serde(deserialize_with = "nullable")]
    pub accelerator: String,
    /// Intent.
    #[serde(deserialize_with = "nullable")]
    pub intent: String,
    /// OS.
    #[serde(deserialize_with = "nullable")]
    pub os: String,
    /// Platform.
    #[serde(deserialize_with = "nullable")]
    pub platform: String,
    /// Node count; 0 = any.
    #[serde(deserialize_with = "nullable")]
    pub nodes: i64,
}

impl OverlayCriteria {
    /// The five string fields with their names.
    pub fn fields(&self) -> [(&'static str, &str); 5] {
        [
            ("service", &self.service),
            ("accelerator", &self.accelerator),
            ("intent", &self.intent),
            ("os", &self.os),
            ("platform", &self.platform),
        ]
    }
}

/// The `spec` of a recipe document.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RecipeSpec {
    /// Parent overlay; `""` or `base` means the base.
    #[serde(deserialize_with = "nullable")]
    pub base: String,
    /// When this overlay applies; overlays without criteria never match directly.
    pub criteria: Option<OverlayCriteria>,
    /// Constraints, replaced by name.
    #[serde(deserialize_with = "nullable")]
    pub constraints: Vec<Constraint>,
    /// Components, merged by name.
    #[serde(deserialize_with = "nullable")]
    pub component_refs: Vec<ComponentRef>,
    /// Validation phases.
    pub validation: Option<Validation>,
    /// Mixins to compose after the chains (later versions); accumulated along chains.
    #[serde(deserialize_with = "nullable")]
    pub mixins: Vec<String>,
}

/// `kind` of mixin documents (`mixins/*.yaml`).
pub const MIXIN_KIND: &str = "RecipeMixin";

/// A reusable fragment (`mixins/<file>.yaml`, kind `RecipeMixin`): constraints and
/// components that overlays pull in by name through `spec.mixins`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixin {
    /// `metadata.name`.
    pub name: String,
    /// Catalog-relative path of its file.
    pub file: String,
    /// Constraints it adds (a name already present is a conflict).
    pub constraints: Vec<Constraint>,
    /// Components it adds or extends.
    pub component_refs: Vec<ComponentRef>,
}

/// Rejects keys of `map` (at `path`) that are not in `allowed`.
fn only_keys(file: &str, path: &str, value: &Value, allowed: &[&str]) -> Result<(), CatalogError> {
    let Value::Object(map) = value else {
        if value.is_null() {
            return Ok(());
        }
        let field = if path.is_empty() { None } else { Some(path.to_string()) };
        return Err(CatalogError::new(file, field, "must be a mapping"));
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            return Err(CatalogError::new(
                file,
                Some(field),
                format!("unknown field {key:?} in a {MIXIN_KIND} (allowed: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn list_items(value: Option<&Value>) -> &[Value] {
    match value {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

/// Decodes a mixin strictly: every key must be known, the kind and apiVersion exact.
pub fn parse_mixin(file: &str, text: &str) -> Result<Mixin, CatalogError> {
    let doc: Value =
        parse_yaml::<Option<Value>>(text).map_err(|e| CatalogError::new(file, None, e))?.unwrap_or(Value::Null);
    only_keys(file, "", &doc, &["kind", "apiVersion", "metadata", "spec"])?;
    let text_at = |key: &str| doc.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = text_at("kind");
    if kind != MIXIN_KIND {
        return Err(CatalogError::new(
            file,
            Some("kind".into()),
            format!("files under mixins/ must be kind {MIXIN_KIND}, found {kind:?}"),
        ));
    }
    let api = text_at("apiVersion");
    if api != API_VERSION {
        return Err(CatalogError::new(
            file,
            Some("apiVersion".into()),
            format!("expected {API_VERSION:?}, found {api:?}"),
        ));
    }
    let metadata = doc.get("metadata").cloned().unwrap_or(Value::Null);
    only_keys(file, "metadata", &metadata, &["name"])?;
    let name = metadata.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(CatalogError::new(file, Some("metadata.name".into()), "mixin has no name"));
    }
    let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    only_keys(file, "spec", &spec, &["constraints", "componentRefs"])?;
    for (i, c) in list_items(spec.get("constraints")).iter().enumerate() {
        only_keys(file, &format!("spec.constraints[{i}]"), c, &["name", "value", "severity", "remediation", "unit"])?;
    }
    for (i, c) in list_items(spec.get("componentRefs")).iter().enumerate() {
        let path = format!("spec.componentRefs[{i}]");
        only_keys(file, &path, c, COMPONENT_FIELDS)?;
        for (j, r) in list_items(c.get("expectedResources")).iter().enumerate() {
            only_keys(file, &format!("{path}.expectedResources[{j}]"), r, &["kind", "name", "namespace"])?;
        }
    }
    let decode = |key: &str| -> Result<Value, CatalogError> { Ok(spec.get(key).cloned().unwrap_or(Value::Null)) };
    let constraints: Option<Vec<Constraint>> = serde_json::from_value(decode("constraints")?)
        .map_err(|e| CatalogError::new(file, Some("spec.constraints".into()), e.to_string()))?;
    let component_refs: Option<Vec<ComponentRef>> = serde_json::from_value(decode("componentRefs")?)
        .map_err(|e| CatalogError::new(file, Some("spec.componentRefs".into()), e.to_string()))?;
    Ok(Mixin {
        name,
        file: file.to_string(),
        constraints: constraints.unwrap_or_default(),
        component_refs: component_refs.unwrap_or_default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KindProbe {
    #[serde(deserialize_with = "nullable")]
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RecipeDocument {
    #[serde(deserialize_with = "nullable")]
    metadata: DocumentMetadata,
    #[serde(deserialize_with = "nullable")]
    spec: RecipeSpec,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DocumentMetadata {
    #[serde(deserialize_with = "nullable")]
    name: String,
}

/// A named recipe document and the file it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlay {
    /// `metadata.name`.
    pub name: String,
    /// Catalog-relative path of its file.
    pub file: String,
    /// Its content.
    pub spec: RecipeSpec,
}

/// Helm defaults of a registry entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HelmDefaults {
    /// Chart repository.
    #[serde(deserialize_with = "nullable")]
    pub default_repository: String,
    /// Chart, possibly `repo/chart`.
    #[serde(deserialize_with = "nullable")]
    pub default_chart: String,
    /// Chart version.
    #[serde(deserialize_with = "nullable")]
    pub default_version: String,
    /// Namespace.
    #[serde(deserialize_with = "nullable")]
    pub default_namespace: String,
}

/// Kustomize defaults of a registry entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KustomizeDefaults {
    /// Git repository or OCI reference.
    #[serde(deserialize_with = "nullable")]
    pub default_source: String,
    /// Path inside the source.
    #[serde(deserialize_with = "nullable")]
    pub default_path: String,
    /// Tag, branch or commit.
    #[serde(deserialize_with = "nullable")]
    pub default_tag: String,
}

/// Where node selectors and tolerations go in a component's values.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SchedulingPaths {
    /// Dot-paths receiving the node selector map.
    #[serde(deserialize_with = "nullable")]
    pub node_selector_paths: Vec<String>,
    /// Dot-paths receiving the toleration list.
    #[serde(deserialize_with = "nullable")]
    pub toleration_paths: Vec<String>,
    /// Dot-paths receiving the workload-gate taint string (`key=value:effect`).
    #[serde(deserialize_with = "nullable")]
    pub taint_str_paths: Vec<String>,
}

/// Node scheduling injection points for system and accelerated nodes.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NodeScheduling {
    /// System (CPU) node paths.
    #[serde(deserialize_with = "nullable")]
    pub system: SchedulingPaths,
    /// Accelerated (GPU) node paths.
    #[serde(deserialize_with = "nullable")]
    pub accelerated: SchedulingPaths,
    /// Dot-paths receiving the estimated GPU node count.
    #[serde(rename = "nodeCountPaths", deserialize_with = "nullable")]
    pub node_count_paths: Vec<String>,
}

/// Workload pod scheduling injection points.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WorkloadPaths {
    /// Dot-paths receiving the workload label selector.
    #[serde(deserialize_with = "nullable")]
    pub workload_selector_paths: Vec<String>,
}

/// Pod scheduling injection points.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PodScheduling {
    /// Workload pods.
    #[serde(deserialize_with = "nullable")]
    pub workload: WorkloadPaths,
}

/// One registry entry. Fields the engine does not use are kept as raw values.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RegistryComponent {
    /// Component name.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// Human-readable name.
    #[serde(deserialize_with = "nullable")]
    pub display_name: String,
    /// Alternative names accepted by `--set`.
    #[serde(deserialize_with = "nullable")]
    pub value_override_keys: Vec<String>,
    /// Helm defaults.
    #[serde(deserialize_with = "nullable")]
    pub helm: HelmDefaults,
    /// Kustomize defaults.
    #[serde(deserialize_with = "nullable")]
    pub kustomize: KustomizeDefaults,
    /// Node scheduling injection paths.
    #[serde(deserialize_with = "nullable")]
    pub node_scheduling: NodeScheduling,
    /// Pod scheduling injection paths.
    #[serde(deserialize_with = "nullable")]
    pub pod_scheduling: PodScheduling,
}

/// Criteria values a catalog declares beyond those its overlays use (registry
/// `criteria:`), e.g. `os: [talos]` for a catalog whose base recipe serves Talos.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DeclaredCriteria {
    /// Services.
    #[serde(deserialize_with = "nullable")]
    pub service: Vec<String>,
    /// Accelerators.
    #[serde(deserialize_with = "nullable")]
    pub accelerator: Vec<String>,
    /// Operating systems.
    #[serde(deserialize_with = "nullable")]
    pub os: Vec<String>,
}

/// How a newer `dependencyRefs` list combines with the current one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum DependencyRefsMerge {
    /// v0.11.1: a non-empty newer list replaces the current one.
    #[default]
    #[serde(rename = "replace")]
    Replace,
    /// Later versions: entries are appended, de-duplicated, order preserved.
    #[serde(rename = "additive")]
    Additive,
}

/// How newer `overrides` combine with the current ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum OverridesMerge {
    /// v0.11.1: each top-level key replaces the current one whole.
    #[default]
    #[serde(rename = "shallow")]
    Shallow,
    /// Later versions: nested maps merge recursively.
    #[serde(rename = "deep-merge")]
    DeepMerge,
}

/// Engine behaviour a catalog opts into (registry `engine:`). Every default is the
/// v0.11.1 behaviour, so a catalog without the block resolves as the reference does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EngineOptions {
    /// `replace` (default) or `additive`.
    #[serde(deserialize_with = "nullable")]
    pub dependency_refs: DependencyRefsMerge,
    /// `shallow` (default) or `deep-merge`.
    #[serde(deserialize_with = "nullable")]
    pub overrides: OverridesMerge,
}

/// The component registry (`registry.yaml`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Registry {
    /// Engine behaviour the catalog opts into.
    #[serde(deserialize_with = "nullable")]
    pub engine: EngineOptions,
    /// Entries, in file order.
    #[serde(deserialize_with = "nullable")]
    pub components: Vec<RegistryComponent>,
    /// Criteria values the catalog declares.
    #[serde(deserialize_with = "nullable")]
    pub criteria: DeclaredCriteria,
}

impl Registry {
    /// Looks an entry up by name.
    pub fn get(&self, name: &str) -> Option<&RegistryComponent> {
        self.components.iter().find(|c| c.name == name)
    }
}

/// A catalog problem, naming the file and field that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogError {
    /// Catalog-relative file (or the directory for whole-catalog problems).
    pub file: String,
    /// Field path inside the file, if one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl CatalogError {
    /// Creates an error about `file`.
    pub fn new(file: impl Into<String>, field: Option<String>, message: impl Into<String>) -> Self {
        CatalogError { file: file.into(), field, message: message.into() }
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.file, field, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for CatalogError {}

/// A loaded catalog.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// The base recipe (`overlays/base.yaml`).
    pub base: Overlay,
    /// Overlays by name.
    pub overlays: BTreeMap<String, Overlay>,
    /// Mixins by name (`mixins/*.yaml`).
    pub mixins: BTreeMap<String, Mixin>,
    /// Component registry.
    pub registry: Registry,
    /// Raw bytes of every file under `components/`, by catalog-relative path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Parsed values files, filled on first use (see `values::parse_values`).
    pub values_cache: std::sync::OnceLock<BTreeMap<String, Option<Map<String, Value>>>>,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay { name: "base".into(), file: String::new(), spec: RecipeSpec::default() }
    }
}

/// Parses catalog YAML (Go yaml.v3-like typing: `yes`/`on` stay strings).
pub(crate) fn parse_yaml<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| e.to_string())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CatalogError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CatalogError::new(dir.display().to_string(), None, format!("cannot read directory: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| CatalogError::new(dir.display().to_string(), None, e.to_string()))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| CatalogError::new(path.display().to_string(), None, e.to_string()))?;
        if kind.is_dir() {
            collect_files(&path, out)?;
        } else if kind.is_file() || kind.is_symlink() {
            out.push(path);
        }
    }
    Ok(())
}

impl Catalog {
    /// The later criteria values this catalog accepts: those its overlays select on
    /// and those its registry declares. Others stay invalid, as in v0.11.1.
    pub fn vocabulary(&self) -> super::criteria::Vocabulary {
        use super::criteria::{Field, LATER_VALUES};
        let mut enabled = Vec::new();
        for (field, value) in LATER_VALUES {
            let declared = match field {
                Field::Service => &self.registry.criteria.service,
                Field::Accelerator => &self.registry.criteria.accelerator,
                _ => &self.registry.criteria.os,
            };
            let used = self
                .overlays
                .values()
                .filter_map(|o| o.spec.criteria.as_ref())
                .any(|c| c.fields().iter().any(|(name, v)| *name == field.as_str() && *v == value));
            if used || declared.iter().any(|d| d == value) {
                enabled.push((field, value));
            }
        }
        super::criteria::Vocabulary { enabled }
    }

    /// Loads and checks the catalog at `root`.
    pub fn load(root: &Path) -> Result<Catalog, CatalogError> {
        let mut paths = Vec::new();
        collect_files(root, &mut paths)?;
        let mut files: Vec<(String, PathBuf)> = paths
            .into_iter()
            .filter_map(|p| {
                let rel = p.strip_prefix(root).ok()?.to_str()?.replace('\\', "/");
                Some((rel, p))
            })
            .collect();
        files.sort();
        let mut texts = Vec::with_capacity(files.len());
        for (rel, path) in files {
            let bytes =
                std::fs::read(&path).map_err(|e| CatalogError::new(rel.clone(), None, format!("cannot read: {e}")))?;
            texts.push((rel, bytes));
        }
        Catalog::from_files(texts)
    }

    /// Builds a catalog from `(relative path, bytes)` pairs (any order).
    pub fn from_files(mut files: Vec<(String, Vec<u8>)>) -> Result<Catalog, CatalogError> {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut catalog = Catalog::default();
        let mut base: Option<Overlay> = None;
        let mut registry: Option<Registry> = None;
        for (rel, bytes) in files {
            if rel.contains("checks/") {
                continue;
            }
            if rel.contains("components/") {
                catalog.files.insert(rel, bytes);
                continue;
            }
            if !rel.ends_with(".yaml") {
                continue;
            }
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            let text =
                std::str::from_utf8(&bytes).map_err(|_| CatalogError::new(rel.clone(), None, "not valid UTF-8"))?;
            if rel.strip_prefix("mixins/").is_some_and(|r| !r.contains('/')) {
                let mixin = parse_mixin(&rel, text)?;
                if let Some(first) = catalog.mixins.get(&mixin.name) {
                    return Err(CatalogError::new(
                        rel,
                        Some("metadata.name".into()),
                        format!("duplicate mixin name {:?} (already defined in {})", mixin.name, first.file),
                    ));
                }
                catalog.mixins.insert(mixin.name.clone(), mixin);
                continue;
            }
            if name == "registry.yaml" || name == "data-v1.yaml" {
                if rel == "registry.yaml" {
                    registry = Some(parse_yaml(text).map_err(|e| CatalogError::new(rel.clone(), None, e))?);
                }
                continue;
            }
            let probe: KindProbe = parse_yaml(text).map_err(|e| CatalogError::new(rel.clone(), None, e))?;
            if !probe.kind.is_empty() && probe.kind != RECIPE_KIND {
                continue;
            }
            let doc: RecipeDocument = parse_yaml(text).map_err(|e| CatalogError::new(rel.clone(), None, e))?;
            let overlay = Overlay { name: doc.metadata.name, file: rel.clone(), spec: doc.spec };
            if name == "base.yaml" && rel.contains("overlays/") {
                base = Some(Overlay { name: "base".into(), ..overlay });
            } else {
                if overlay.name.is_empty() {
                    return Err(CatalogError::new(rel, Some("metadata.name".into()), "overlay has no name"));
                }
                catalog.overlays.insert(overlay.name.clone(), overlay);
            }
        }
        catalog.base =
            base.ok_or_else(|| CatalogError::new("overlays/base.yaml", None, "the catalog has no base recipe"))?;
        catalog.registry = registry
            .ok_or_else(|| CatalogError::new("registry.yaml", None, "the catalog has no component registry"))?;
        catalog.check()?;
        Ok(catalog)
    }

    /// Structural checks that do not depend on criteria: every `spec.base` names a
    /// known overlay without a cycle, every referenced file exists, every component
    /// is in the registry.
    fn check(&self) -> Result<(), CatalogError> {
        for overlay in std::iter::once(&self.base).chain(self.overlays.values()) {
            if overlay.name != "base" {
                self.chain(&overlay.name)?;
            }
            for (i, mixin) in overlay.spec.mixins.iter().enumerate() {
                if !self.mixins.contains_key(mixin) {
                    return Err(CatalogError::new(
                        &overlay.file,
                        Some(format!("spec.mixins[{i}]")),
                        format!("mixin {mixin:?} not found in recipes/mixins/"),
                    ));
                }
            }
            self.check_components(&overlay.file, &overlay.spec.component_refs)?;
        }
        for mixin in self.mixins.values() {
            self.check_components(&mixin.file, &mixin.component_refs)?;
        }
        Ok(())
    }

    /// Every component is named and in the registry, every file it names exists.
    fn check_components(&self, file: &str, components: &[ComponentRef]) -> Result<(), CatalogError> {
        for (i, component) in components.iter().enumerate() {
            let field = |f: &str| Some(format!("spec.componentRefs[{i}].{f}"));
            if component.name.is_empty() {
                return Err(CatalogError::new(file, field("name"), "component has no name"));
            }
            if self.registry.get(&component.name).is_none() {
                return Err(CatalogError::new(
                    file,
                    field("name"),
                    format!("component {:?} is not in registry.yaml", component.name),
                ));
            }
            if !component.values_file.is_empty() && !self.files.contains_key(&component.values_file) {
                return Err(CatalogError::new(
                    file,
                    field("valuesFile"),
                    format!("values file {:?} does not exist", component.values_file),
                ));
            }
            for (key, list) in
                [("preManifestFiles", &component.pre_manifest_files), ("manifestFiles", &component.manifest_files)]
            {
                for (j, manifest) in list.iter().enumerate() {
                    if !self.files.contains_key(manifest) {
                        return Err(CatalogError::new(
                            file,
                            field(&format!("{key}[{j}]")),
                            format!("manifest file {manifest:?} does not exist"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The inheritance chain of overlay `name`, root first (the base excluded).
    pub fn chain(&self, name: &str) -> Result<Vec<&Overlay>, CatalogError> {
        let mut chain: Vec<&Overlay> = Vec::new();
        let mut current = self
            .overlays
            .get(name)
            .ok_or_else(|| CatalogError::new("overlays", None, format!("unknown overlay {name:?}")))?;
        loop {
            if chain.iter().any(|o| o.name == current.name) {
                let mut names: Vec<&str> = chain.iter().map(|o| o.name.as_str()).collect();
                names.push(&current.name);
                return Err(CatalogError::new(
                    &current.file,
                    Some("spec.base".into()),
                    format!("inheritance cycle: {}", names.join(" -> ")),
                ));
            }
            chain.push(current);
            let parent = current.spec.base.as_str();
            if parent.is_empty() || parent == "base" {
                break;
            }
            current = self.overlays.get(parent).ok_or_else(|| {
                CatalogError::new(&current.file, Some("spec.base".into()), format!("unknown base overlay {parent:?}"))
            })?;
        }
        chain.reverse();
        Ok(chain)
    }
}
