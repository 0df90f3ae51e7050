//! Resolution: criteria → matching overlays → merged recipe → deployment order
//! (recipe-engine spec §3–§5). A pure function of (catalog, criteria); nothing here
//! mutates the catalog, so answers never depend on earlier requests (spec §9).

use super::catalog::{
    Catalog, ComponentRef, Constraint, DependencyRefsMerge, EngineOptions, Overlay, OverlayCriteria, OverridesMerge,
    Validation,
};
use super::criteria::{Criteria, CriteriaKey};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// `kind` of a resolved recipe.
pub const RESULT_KIND: &str = "RecipeResult";

/// A merged recipe for one criteria combination, before it is serialised.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Names of the applied overlays, `base` first.
    pub applied_overlays: Vec<String>,
    /// Constraints sorted by name.
    pub constraints: Vec<Constraint>,
    /// Components sorted by name, registry defaults filled in.
    pub components: Vec<ComponentRef>,
    /// Topological order, smallest ready name first.
    pub deployment_order: Vec<String>,
    /// Merged validation phases, if any overlay has some.
    pub validation: Option<Validation>,
}

/// Why a combination cannot be resolved (a catalog defect, never client input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A `dependencyRefs` entry names a component that is not in the recipe.
    #[error("[INVALID_REQUEST] component {component:?} references unknown dependency {dependency:?}")]
    UnknownDependency {
        /// The component with the bad reference.
        component: String,
        /// The missing dependency.
        dependency: String,
        /// Overlay file that last set the component's dependencyRefs.
        file: String,
    },
    /// The dependency graph has a cycle.
    #[error(
        "[INVALID_REQUEST] dependency validation failed: [INVALID_REQUEST] circular dependency detected: [{}]",
        .cycle.join(" ")
    )]
    Cycle {
        /// The cycle, first name repeated at the end.
        cycle: Vec<String>,
        /// Overlay or mixin file that last set the first component's dependencyRefs.
        file: String,
    },
    /// An overlay names a mixin the catalog does not have.
    #[error("[NOT_FOUND] mixin {mixin:?} not found in recipes/mixins/")]
    MissingMixin {
        /// The mixin name.
        mixin: String,
        /// Overlay file that lists it.
        file: String,
    },
    /// A mixin constraint whose name is already set.
    #[error("mixin {mixin:?} constraint {constraint:?} conflicts with inheritance chain or another mixin")]
    MixinConstraintConflict {
        /// The mixin.
        mixin: String,
        /// The constraint name.
        constraint: String,
        /// The mixin's file.
        file: String,
    },
    /// A mixin component that redefines identity or sourcing of an existing component.
    #[error(
        "mixin {mixin:?} componentRef {component:?} conflicts with inheritance chain or another mixin: it sets {field}, \
         but a mixin may only add namespace, manifestFiles or preManifestFiles to an existing component"
    )]
    MixinComponentConflict {
        /// The mixin.
        mixin: String,
        /// The component name.
        component: String,
        /// The first field it sets that it may not.
        field: &'static str,
        /// The mixin's file.
        file: String,
    },
    /// A broken `spec.base` link.
    #[error("failed to resolve inheritance chain: {0}")]
    Chain(String),
}

impl ResolveError {
    /// The catalog file and field to blame, where one is known.
    pub fn location(&self) -> Option<(&str, String)> {
        match self {
            ResolveError::UnknownDependency { file, component, .. } => {
                Some((file, format!("spec.componentRefs[name={component}].dependencyRefs")))
            }
            ResolveError::Cycle { file, cycle } => Some((
                file,
                format!("spec.componentRefs[name={}].dependencyRefs", cycle.first().map_or("", String::as_str)),
            )),
            ResolveError::MissingMixin { file, .. } => Some((file, "spec.mixins".into())),
            ResolveError::MixinConstraintConflict { file, constraint, .. } => {
                Some((file, format!("spec.constraints[name={constraint}]")))
            }
            ResolveError::MixinComponentConflict { file, component, field, .. } => {
                Some((file, format!("spec.componentRefs[name={component}].{field}")))
            }
            ResolveError::Chain(_) => None,
        }
    }
}

fn field_matches(overlay: &str, query: &str) -> bool {
    overlay.is_empty() || overlay == "any" || overlay == query
}

/// Whether an overlay's criteria select this query (spec §3.1; asymmetric: a
/// specific overlay value never matches a query of `any`).
pub fn matches(criteria: &OverlayCriteria, query: &Criteria) -> bool {
    let parts = query.key.parts();
    let nodes_ok = criteria.nodes == 0 || criteria.nodes == i64::from(query.nodes);
    nodes_ok && criteria.fields().iter().zip(parts).all(|((_, o), q)| field_matches(o, q))
}

/// Specificity: how many criteria fields name a concrete value.
fn specificity(criteria: &OverlayCriteria) -> usize {
    let strings = criteria.fields().iter().filter(|(_, v)| !v.is_empty() && *v != "any").count();
    strings + usize::from(criteria.nodes != 0)
}

/// The candidate overlays for `query`: every matched overlay that is not an ancestor
/// of another matched one, with its specificity and chain (root first), sorted by
/// (specificity, name).
pub fn candidates<'c>(catalog: &'c Catalog, query: &Criteria) -> Result<Vec<Candidate<'c>>, ResolveError> {
    let matched: Vec<&Overlay> =
        catalog.overlays.values().filter(|o| o.spec.criteria.as_ref().is_some_and(|c| matches(c, query))).collect();
    let mut chains = Vec::with_capacity(matched.len());
    for overlay in &matched {
        let chain = catalog.chain(&overlay.name).map_err(|e| ResolveError::Chain(e.to_string()))?;
        chains.push(chain);
    }
    let ancestors: BTreeSet<&str> =
        chains.iter().flat_map(|chain| chain[..chain.len() - 1].iter().map(|o| o.name.as_str())).collect();
    let mut leaves: Vec<Candidate<'c>> = matched
        .iter()
        .zip(chains)
        .filter(|(o, _)| !ancestors.contains(o.name.as_str()))
        .map(|(o, chain)| Candidate {
            specificity: specificity(o.spec.criteria.as_ref().expect("matched")),
            overlay: o,
            chain,
        })
        .collect();
    leaves.sort_by(|a, b| (a.specificity, &a.overlay.name).cmp(&(b.specificity, &b.overlay.name)));
    Ok(leaves)
}

/// A maximal matched overlay (see [`candidates`]).
#[derive(Clone, Debug)]
pub struct Candidate<'c> {
    /// How many criteria fields it names.
    pub specificity: usize,
    /// The overlay.
    pub overlay: &'c Overlay,
    /// Its inheritance chain, root first, the overlay last.
    pub chain: Vec<&'c Overlay>,
}

/// The overlays to apply for `query`, in application order, `base` excluded.
///
/// Matched overlays that are ancestors of another matched overlay are dropped (their
/// content arrives through the descendant's chain); the rest are ordered by
/// (specificity, name) and each one's chain is applied root first, skipping overlays
/// already applied. For the linear chains of the v0.11.1 catalog this is exactly the
/// Go server's order; where Go would tie randomly we are deterministic.
pub fn overlay_order<'c>(catalog: &'c Catalog, query: &Criteria) -> Result<Vec<&'c Overlay>, ResolveError> {
    let mut order: Vec<&Overlay> = Vec::new();
    for candidate in candidates(catalog, query)? {
        for overlay in candidate.chain {
            if !order.iter().any(|o| o.name == overlay.name) {
                order.push(overlay);
            }
        }
    }
    Ok(order)
}

fn merge_constraints(current: &mut Vec<Constraint>, newer: &[Constraint]) {
    for c in newer {
        match current.iter_mut().find(|x| x.name == c.name) {
            Some(slot) => *slot = c.clone(),
            None => current.push(c.clone()),
        }
    }
    current.sort_by(|a, b| a.name.cmp(&b.name));
}

fn replace_if_set(mine: &mut String, theirs: &str) {
    if !theirs.is_empty() {
        theirs.clone_into(mine);
    }
}

/// Merges a newer definition of a component into the current one (spec §4.2), with
/// the v0.11.1 rules.
pub fn merge_component(current: &mut ComponentRef, newer: &ComponentRef) {
    merge_component_with(current, newer, EngineOptions::default());
}

/// Merges a newer definition of a component into the current one, with the rules the
/// catalog opts into for `overrides` and `dependencyRefs` (spec §4.2, §10).
pub fn merge_component_with(current: &mut ComponentRef, newer: &ComponentRef, options: EngineOptions) {
    replace_if_set(&mut current.namespace, &newer.namespace);
    replace_if_set(&mut current.chart, &newer.chart);
    replace_if_set(&mut current.kind, &newer.kind);
    replace_if_set(&mut current.source, &newer.source);
    replace_if_set(&mut current.version, &newer.version);
    replace_if_set(&mut current.tag, &newer.tag);
    replace_if_set(&mut current.values_file, &newer.values_file);
    replace_if_set(&mut current.path, &newer.path);
    replace_if_set(&mut current.health_check_asserts, &newer.health_check_asserts);
    match options.overrides {
        // Top-level keys replace whole; nested maps are not merged.
        OverridesMerge::Shallow => {
            for (key, value) in &newer.overrides {
                current.overrides.insert(key.clone(), value.clone());
            }
        }
        OverridesMerge::DeepMerge => super::values::deep_merge(&mut current.overrides, &newer.overrides),
    }
    if !newer.patches.is_empty() {
        current.patches.clone_from(&newer.patches);
    }
    match options.dependency_refs {
        DependencyRefsMerge::Replace => {
            if !newer.dependency_refs.is_empty() {
                current.dependency_refs.clone_from(&newer.dependency_refs);
            }
        }
        DependencyRefsMerge::Additive => {
            for dep in &newer.dependency_refs {
                if !current.dependency_refs.contains(dep) {
                    current.dependency_refs.push(dep.clone());
                }
            }
        }
    }
    let before: BTreeSet<String> = current.manifest_files.iter().cloned().collect();
    current.manifest_files.extend(newer.manifest_files.iter().filter(|m| !before.contains(*m)).cloned());
    for m in &newer.pre_manifest_files {
        if !current.pre_manifest_files.contains(m) {
            current.pre_manifest_files.push(m.clone());
        }
    }
    current.cleanup |= newer.cleanup;
    current.health_check_skip |= newer.health_check_skip;
    if !newer.expected_resources.is_empty() {
        current.expected_resources.clone_from(&newer.expected_resources);
    }
}

/// Fills empty fields from the registry defaults (spec §4.5).
fn apply_registry_defaults(catalog: &Catalog, component: &mut ComponentRef) {
    let Some(entry) = catalog.registry.get(&component.name) else {
        return;
    };
    if component.kind.is_empty() {
        component.kind = if entry.kustomize.default_source.is_empty() { "Helm" } else { "Kustomize" }.into();
    }
    let fill = |slot: &mut String, default: &str| {
        if slot.is_empty() {
            default.clone_into(slot);
        }
    };
    match component.kind.as_str() {
        "Helm" => {
            fill(&mut component.source, &entry.helm.default_repository);
            fill(&mut component.version, &entry.helm.default_version);
            fill(&mut component.namespace, &entry.helm.default_namespace);
            let chart = entry.helm.default_chart.rsplit('/').next().unwrap_or_default();
            fill(&mut component.chart, chart);
        }
        "Kustomize" => {
            fill(&mut component.source, &entry.kustomize.default_source);
            fill(&mut component.tag, &entry.kustomize.default_tag);
            fill(&mut component.path, &entry.kustomize.default_path);
        }
        _ => {}
    }
}

/// Checks references and cycles (spec §4.6).
fn validate_dependencies(
    components: &BTreeMap<String, ComponentRef>,
    origin: &BTreeMap<String, String>,
) -> Result<(), ResolveError> {
    for (name, c) in components {
        for dep in &c.dependency_refs {
            if !components.contains_key(dep) {
                return Err(ResolveError::UnknownDependency {
                    component: name.clone(),
                    dependency: dep.clone(),
                    file: origin.get(name).cloned().unwrap_or_default(),
                });
            }
        }
    }
    // Depth-first search; `stack` holds the current path.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        name: &'a str,
        components: &'a BTreeMap<String, ComponentRef>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Result<(), ResolveError> {
        match marks.get(name).copied().unwrap_or(Mark::New) {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let start = stack.iter().position(|n| *n == name).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Err(ResolveError::Cycle { cycle, file: String::new() });
            }
            Mark::New => {}
        }
        marks.insert(name, Mark::Active);
        stack.push(name);
        for dep in &components[name].dependency_refs {
            visit(dep, components, marks, stack)?;
        }
        stack.pop();
        marks.insert(name, Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for name in components.keys() {
        visit(name, components, &mut marks, &mut Vec::new()).map_err(|e| match e {
            ResolveError::Cycle { cycle, .. } => {
                let file = cycle.first().and_then(|c| origin.get(c)).cloned().unwrap_or_default();
                ResolveError::Cycle { cycle, file }
            }
            other => other,
        })?;
    }
    Ok(())
}

/// Kahn's algorithm, always taking the smallest ready name (spec §5).
pub fn deployment_order(components: &[ComponentRef]) -> Vec<String> {
    let mut indegree: BTreeMap<&str, usize> =
        components.iter().map(|c| (c.name.as_str(), c.dependency_refs.len())).collect();
    let mut ready: BinaryHeap<Reverse<&str>> =
        indegree.iter().filter(|(_, d)| **d == 0).map(|(n, _)| Reverse(*n)).collect();
    let mut order = Vec::with_capacity(components.len());
    while let Some(Reverse(name)) = ready.pop() {
        order.push(name.to_string());
        for c in components {
            for dep in &c.dependency_refs {
                if dep == name {
                    let d = indegree.get_mut(c.name.as_str()).expect("known component");
                    *d -= 1;
                    if *d == 0 {
                        ready.push(Reverse(c.name.as_str()));
                    }
                }
            }
        }
    }
    order
}

/// What a mixin may set on a component the chains already have, besides its name.
fn mixin_forbidden_field(c: &ComponentRef) -> Option<&'static str> {
    let texts = [
        ("chart", &c.chart),
        ("type", &c.kind),
        ("source", &c.source),
        ("version", &c.version),
        ("tag", &c.tag),
        ("valuesFile", &c.values_file),
        ("path", &c.path),
        ("healthCheckAsserts", &c.health_check_asserts),
    ];
    if let Some((field, _)) = texts.iter().find(|(_, v)| !v.is_empty()) {
        return Some(field);
    }
    let lists = [
        ("overrides", c.overrides.is_empty()),
        ("patches", c.patches.is_empty()),
        ("dependencyRefs", c.dependency_refs.is_empty()),
        ("expectedResources", c.expected_resources.is_empty()),
        ("cleanup", !c.cleanup),
        ("healthCheckSkip", !c.health_check_skip),
    ];
    lists.iter().find(|(_, empty)| !empty).map(|(field, _)| *field)
}

/// Merges one recipe fragment's components, remembering which file last set each
/// component's dependencies.
fn merge_components(
    components: &mut BTreeMap<String, ComponentRef>,
    origin: &mut BTreeMap<String, String>,
    refs: &[ComponentRef],
    file: &str,
    options: EngineOptions,
) {
    for c in refs {
        if !c.dependency_refs.is_empty() || !components.contains_key(&c.name) {
            origin.insert(c.name.clone(), file.to_string());
        }
        match components.get_mut(&c.name) {
            Some(current) => merge_component_with(current, c, options),
            None => {
                components.insert(c.name.clone(), c.clone());
            }
        }
    }
}

/// Resolves the recipe for `query`.
pub fn resolve(catalog: &Catalog, query: &Criteria) -> Result<Resolved, ResolveError> {
    let order = overlay_order(catalog, query)?;
    let options = catalog.registry.engine;
    let mut applied = vec!["base".to_string()];
    let mut constraints = Vec::new();
    let mut components: BTreeMap<String, ComponentRef> = BTreeMap::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    let mut validation: Option<Validation> = None;
    // Mixins named along the applied chains, first-seen order, with the listing file.
    let mut mixins: Vec<(&str, &str)> = Vec::new();

    for overlay in std::iter::once(&catalog.base).chain(order.iter().copied()) {
        if overlay.name != "base" {
            applied.push(overlay.name.clone());
        }
        merge_constraints(&mut constraints, &overlay.spec.constraints);
        merge_components(&mut components, &mut origin, &overlay.spec.component_refs, &overlay.file, options);
        if let Some(v) = &overlay.spec.validation {
            match &mut validation {
                Some(current) => current.merge_from(v),
                None => validation = Some(v.clone()),
            }
        }
        for name in &overlay.spec.mixins {
            if !mixins.iter().any(|(m, _)| m == name) {
                mixins.push((name, &overlay.file));
            }
        }
    }

    // Mixins compose after every chain, in list order, with the normal merge rules;
    // they may add but not redefine.
    for (name, listed_in) in mixins {
        let mixin = catalog
            .mixins
            .get(name)
            .ok_or_else(|| ResolveError::MissingMixin { mixin: name.to_string(), file: listed_in.to_string() })?;
        for c in &mixin.constraints {
            if constraints.iter().any(|x| x.name == c.name) {
                return Err(ResolveError::MixinConstraintConflict {
                    mixin: name.to_string(),
                    constraint: c.name.clone(),
                    file: mixin.file.clone(),
                });
            }
        }
        merge_constraints(&mut constraints, &mixin.constraints);
        for c in &mixin.component_refs {
            if components.contains_key(&c.name)
                && let Some(field) = mixin_forbidden_field(c)
            {
                return Err(ResolveError::MixinComponentConflict {
                    mixin: name.to_string(),
                    component: c.name.clone(),
                    field,
                    file: mixin.file.clone(),
                });
            }
        }
        merge_components(&mut components, &mut origin, &mixin.component_refs, &mixin.file, options);
    }

    validate_dependencies(&components, &origin)?;
    let mut components: Vec<ComponentRef> = components.into_values().collect();
    let deployment_order = deployment_order(&components);
    for c in &mut components {
        apply_registry_defaults(catalog, c);
    }
    Ok(Resolved { applied_overlays: applied, constraints, components, deployment_order, validation })
}

/// The `criteria` object of a recipe.
#[derive(Serialize)]
struct CriteriaEcho {
    service: &'static str,
    accelerator: &'static str,
    intent: &'static str,
    os: &'static str,
    platform: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    nodes: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultMetadata<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    applied_overlays: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecipeResult<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: ResultMetadata<'a>,
    criteria: CriteriaEcho,
    #[serde(skip_serializing_if = "<[Constraint]>::is_empty")]
    constraints: &'a [Constraint],
    component_refs: &'a [ComponentRef],
    deployment_order: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<&'a Validation>,
}

impl Resolved {
    fn document<'a>(&'a self, key: &CriteriaKey, nodes: u32, version: &'a str) -> RecipeResult<'a> {
        RecipeResult {
            kind: RESULT_KIND,
            api_version: super::catalog::API_VERSION,
            metadata: ResultMetadata { version, applied_overlays: &self.applied_overlays },
            criteria: CriteriaEcho {
                service: key.service.as_str(),
                accelerator: key.accelerator.as_str(),
                intent: key.intent.as_str(),
                os: key.os.as_str(),
                platform: key.platform.as_str(),
                nodes,
            },
            constraints: &self.constraints,
            component_refs: &self.components,
            deployment_order: &self.deployment_order,
            validation: self.validation.as_ref(),
        }
    }

    /// The `RecipeResult` body, byte for byte as the Go server writes it (spec §6).
    pub fn to_json(&self, key: &CriteriaKey, nodes: u32, version: &str) -> Vec<u8> {
        super::json::to_document(&self.document(key, nodes, version))
    }

    /// The same document as YAML (keys in the JSON order, lists indented).
    pub fn to_yaml(&self, key: &CriteriaKey, nodes: u32, version: &str) -> String {
        let options = serde_saphyr::ser_options! { compact_list_indent: false };
        serde_saphyr::to_string_with_options(&self.document(key, nodes, version), options)
            .expect("YAML serialisation into memory")
    }
}
