//! Hydrated recipes: the document `/v1/query` selects from (http-api spec §11.4).
//!
//! A hydrated document is a resolved recipe with each component's values merged in
//! (bundle spec §3.3 steps 1–2, via [`component_values`]) and `components` keyed by
//! name. Everything in it except `criteria` depends only on the overlays the criteria
//! apply, so [`QueryIndex`] resolves and hydrates each distinct recipe once, up front,
//! and maps every criteria combination onto it. Per request, a [`Document`] pairs that
//! shared part with the request's own `criteria`; a selector walk and serialising the
//! selected value are all that is left to do. The whole document is kept serialised
//! in two halves around `criteria`, so even the largest answer is a splice.

use super::catalog::{API_VERSION, Catalog, ComponentRef};
use super::criteria::{Criteria, CriteriaKey};
use super::json;
use super::resolve::{self, RESULT_KIND, Resolved};
use super::select::{self, Root, SelectError};
use super::values::component_values;
use rayon::prelude::*;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Name of the per-request member.
const CRITERIA: &str = "criteria";

/// The members shared by every request that resolves to one recipe (all but
/// `criteria`), with the whole document pre-serialised around the `criteria` slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Hydrated {
    members: Map<String, Value>,
    /// `{…,"criteria":` — the members sorted before `criteria`.
    head: Vec<u8>,
    /// `,…}` — the members sorted after it.
    tail: Vec<u8>,
    /// SHA-256 of `head` and `tail`: identifies the shared content.
    digest: [u8; 32],
}

/// One component as it appears under `components`: identity fields, `dependencyRefs`
/// and the merged `values`, each optional member omitted when empty.
fn hydrate_component(catalog: &Catalog, component: &ComponentRef) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), component.name.clone().into());
    out.insert("type".into(), component.kind.clone().into());
    out.insert("source".into(), component.source.clone().into());
    for (key, value) in [
        ("namespace", &component.namespace),
        ("chart", &component.chart),
        ("version", &component.version),
        ("tag", &component.tag),
        ("path", &component.path),
    ] {
        if !value.is_empty() {
            out.insert(key.into(), value.clone().into());
        }
    }
    if !component.dependency_refs.is_empty() {
        out.insert("dependencyRefs".into(), component.dependency_refs.clone().into());
    }
    let values = component_values(catalog, component);
    if !values.is_empty() {
        out.insert("values".into(), Value::Object(values));
    }
    Value::Object(out)
}

/// The members in document order with `None` where `criteria` goes: keys are sorted
/// bytewise, as in every JSON map the reference writes.
fn slots(members: &Map<String, Value>) -> impl Iterator<Item = Option<(&str, &Value)>> {
    let before = members.iter().take_while(|(k, _)| k.as_str() < CRITERIA);
    let after = members.iter().skip_while(|(k, _)| k.as_str() < CRITERIA);
    before.map(Some).chain(std::iter::once(None)).chain(after.map(Some)).map(|s| s.map(|(k, v)| (k.as_str(), v)))
}

/// The members of a resolved recipe's hydrated document, all but `criteria`.
pub fn members(catalog: &Catalog, resolved: &Resolved, version: &str) -> Map<String, Value> {
    let mut members = Map::new();
    members.insert("kind".into(), RESULT_KIND.into());
    members.insert("apiVersion".into(), API_VERSION.into());
    let mut metadata = Map::new();
    metadata.insert("version".into(), version.into());
    metadata.insert("appliedOverlays".into(), resolved.applied_overlays.clone().into());
    metadata.insert("excludedOverlays".into(), Value::Null);
    metadata.insert("constraintWarnings".into(), Value::Null);
    members.insert("metadata".into(), Value::Object(metadata));
    if !resolved.constraints.is_empty() {
        let constraints = serde_json::to_value(&resolved.constraints).expect("constraints are plain data");
        members.insert("constraints".into(), constraints);
    }
    members.insert("deploymentOrder".into(), resolved.deployment_order.clone().into());
    let components =
        resolved.components.iter().map(|c| (c.name.clone(), hydrate_component(catalog, c))).collect::<Map<_, _>>();
    members.insert("components".into(), Value::Object(components));
    members
}

impl Hydrated {
    /// Hydrates a resolved recipe.
    pub fn new(catalog: &Catalog, resolved: &Resolved, version: &str) -> Hydrated {
        let members = members(catalog, resolved, version);
        let (mut head, mut tail) = (Vec::new(), Vec::new());
        head.push(b'{');
        let mut in_tail = false;
        for (i, slot) in slots(&members).enumerate() {
            let out = if in_tail { &mut tail } else { &mut head };
            if i > 0 {
                out.push(b',');
            }
            let (key, value) = match slot {
                Some(member) => member,
                None => {
                    json::write(out, CRITERIA);
                    out.push(b':');
                    in_tail = true;
                    continue;
                }
            };
            json::write(out, key);
            out.push(b':');
            json::write(out, value);
        }
        tail.push(b'}');
        let digest = Sha256::new().chain_update(&head).chain_update(&tail).finalize().into();
        Hydrated { members, head, tail, digest }
    }

    /// Bytes of the pre-serialised whole document (without `criteria`).
    pub fn serialised_len(&self) -> usize {
        self.head.len() + self.tail.len()
    }
}

/// The `criteria` member: canonical values, `nodes` always present.
pub fn criteria_value(criteria: &Criteria) -> Value {
    let key = &criteria.key;
    let mut out = Map::new();
    for (name, value) in [
        ("service", key.service.as_str()),
        ("accelerator", key.accelerator.as_str()),
        ("intent", key.intent.as_str()),
        ("os", key.os.as_str()),
        ("platform", key.platform.as_str()),
    ] {
        out.insert(name.into(), value.into());
    }
    out.insert("nodes".into(), criteria.nodes.into());
    Value::Object(out)
}

/// The hydrated document of one request: a shared recipe plus this request's criteria.
#[derive(Clone, Debug)]
pub struct Document<'h> {
    recipe: &'h Hydrated,
    key: CriteriaKey,
    nodes: u32,
    criteria: Value,
}

impl Root for Document<'_> {
    fn member(&self, key: &str) -> Option<&Value> {
        if key == CRITERIA { Some(&self.criteria) } else { self.recipe.members.get(key) }
    }

    fn keys(&self) -> Vec<&str> {
        slots(&self.recipe.members).map(|s| s.map_or(CRITERIA, |(k, _)| k)).collect()
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.recipe.members.len() + 1))?;
        for slot in slots(&self.recipe.members) {
            match slot {
                Some((key, value)) => map.serialize_entry(key, value)?,
                None => map.serialize_entry(CRITERIA, &self.criteria)?,
            }
        }
        map.end()
    }
}

impl<'h> Document<'h> {
    /// The document of `recipe` for `criteria`.
    pub fn new(recipe: &'h Hydrated, criteria: &Criteria) -> Document<'h> {
        Document { recipe, key: criteria.key, nodes: criteria.nodes, criteria: criteria_value(criteria) }
    }

    /// Walks `selector`; `Ok(None)` is the whole document.
    pub fn select(&self, selector: &str) -> Result<Option<&Value>, SelectError> {
        select::select(self, selector)
    }

    /// The JSON answer for a selection: Go's encoding, one trailing newline. The whole
    /// document is spliced from its pre-serialised halves.
    pub fn to_json(&self, selected: Option<&Value>) -> Vec<u8> {
        match selected {
            Some(value) => json::to_document(value),
            None => {
                let mut out = Vec::with_capacity(self.recipe.serialised_len() + 128);
                out.extend_from_slice(&self.recipe.head);
                json::write(&mut out, &self.criteria);
                out.extend_from_slice(&self.recipe.tail);
                out.push(b'\n');
                out
            }
        }
    }

    /// The same selection as YAML.
    pub fn to_yaml(&self, selected: Option<&Value>) -> String {
        let options = serde_saphyr::ser_options! { compact_list_indent: false };
        let text = match selected {
            Some(value) => serde_saphyr::to_string_with_options(value, options),
            None => serde_saphyr::to_string_with_options(self, options),
        };
        text.expect("YAML serialisation into memory")
    }

    /// Quoted strong entity tag of the answer to `selector`. The answer's bytes are a
    /// function of the shared content, the criteria and the selector's path, so the tag
    /// hashes those instead of the (possibly large) body.
    pub fn etag(&self, selector: &str) -> String {
        let mut key = String::with_capacity(48);
        self.key.write_canonical(&mut key);
        let digest = Sha256::new()
            .chain_update(self.recipe.digest)
            .chain_update(self.nodes.to_le_bytes())
            .chain_update(key.as_bytes())
            .chain_update([0])
            .chain_update(select::path(selector).as_bytes())
            .finalize();
        format!("\"{}\"", hex::encode(&digest[..16]))
    }
}

/// Figures about building a [`QueryIndex`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Criteria combinations indexed.
    pub combinations: usize,
    /// Distinct recipes hydrated.
    pub recipes: usize,
    /// Combinations that failed to resolve.
    pub failures: usize,
    /// Total pre-serialised bytes.
    pub bytes: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl std::fmt::Display for IndexStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} combinations, {} distinct hydrated recipes ({} B serialised), {} failures; {:.2?}",
            self.combinations, self.recipes, self.bytes, self.failures, self.elapsed
        )
    }
}

/// Every criteria combination's hydrated recipe, each distinct recipe stored once.
#[derive(Default)]
pub struct QueryIndex {
    /// Distinct recipes, or why one could not be built (a catalog defect).
    recipes: Vec<Result<Hydrated, String>>,
    /// (key, effective node count) → index into `recipes`.
    slots: HashMap<(CriteriaKey, u32), usize>,
    /// Node counts that some overlay's criteria name; any other count selects what 0 does.
    node_counts: BTreeSet<u32>,
    /// Figures of the build.
    pub stats: IndexStats,
}

impl std::fmt::Debug for QueryIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryIndex").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl QueryIndex {
    /// Resolves every combination, groups them by the overlays they apply (which is all
    /// resolution depends on) and hydrates one recipe per group.
    pub fn build(catalog: &Catalog, version: &str) -> QueryIndex {
        let started = Instant::now();
        let node_counts: BTreeSet<u32> = catalog
            .overlays
            .values()
            .filter_map(|o| o.spec.criteria.as_ref())
            .filter_map(|c| u32::try_from(c.nodes).ok().filter(|n| *n > 0 && *n <= super::criteria::MAX_NODES))
            .collect();
        let combos: Vec<Criteria> = CriteriaKey::all()
            .flat_map(|key| {
                std::iter::once(0).chain(node_counts.iter().copied()).map(move |nodes| Criteria { key, nodes })
            })
            .collect();
        let orders: Vec<Result<Vec<String>, String>> = combos
            .par_iter()
            .map(|c| {
                resolve::overlay_order(catalog, c)
                    .map(|order| order.iter().map(|o| o.name.clone()).collect())
                    .map_err(|e| e.to_string())
            })
            .collect();

        let mut groups: HashMap<&Result<Vec<String>, String>, usize> = HashMap::new();
        let mut representatives: Vec<Criteria> = Vec::new();
        let mut slots = HashMap::with_capacity(combos.len());
        for (criteria, order) in combos.iter().zip(&orders) {
            let slot = *groups.entry(order).or_insert_with(|| {
                representatives.push(*criteria);
                representatives.len() - 1
            });
            slots.insert((criteria.key, criteria.nodes), slot);
        }
        let recipes: Vec<Result<Hydrated, String>> = representatives
            .par_iter()
            .map(|c| {
                resolve::resolve(catalog, c).map(|r| Hydrated::new(catalog, &r, version)).map_err(|e| e.to_string())
            })
            .collect();

        let failures = slots.values().filter(|s| recipes[**s].is_err()).count();
        let bytes = recipes.iter().flatten().map(Hydrated::serialised_len).sum();
        let stats = IndexStats {
            combinations: slots.len(),
            recipes: recipes.iter().filter(|r| r.is_ok()).count(),
            failures,
            bytes,
            elapsed: started.elapsed(),
        };
        QueryIndex { recipes, slots, node_counts, stats }
    }

    /// The hydrated document for `criteria`, or the resolution failure of its recipe.
    pub fn document(&self, criteria: &Criteria) -> Result<Document<'_>, &str> {
        let nodes = if self.node_counts.contains(&criteria.nodes) { criteria.nodes } else { 0 };
        let slot = self.slots.get(&(criteria.key, nodes)).ok_or("criteria combination is not indexed")?;
        match &self.recipes[*slot] {
            Ok(recipe) => Ok(Document::new(recipe, criteria)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::criteria::{Accelerator, Service};
    use serde_json::json;

    fn catalog() -> Catalog {
        let files = vec![
            (
                "overlays/base.yaml".to_string(),
                b"kind: RecipeMetadata\nmetadata: {name: base}\nspec:\n  componentRefs:\n    - {name: b, valuesFile: components/b/values.yaml, overrides: {x: {y: 2}}}\n    - {name: a, dependencyRefs: [b]}\n".to_vec(),
            ),
            (
                "overlays/eks.yaml".to_string(),
                b"kind: RecipeMetadata\nmetadata: {name: eks}\nspec:\n  criteria: {service: eks}\n  constraints: [{name: K8s.server.version, value: '>= 1.30'}]\n  componentRefs:\n    - {name: b, overrides: {tag: '<&>'}}\n".to_vec(),
            ),
            (
                "registry.yaml".to_string(),
                b"components:\n  - {name: a}\n  - {name: b, helm: {defaultRepository: 'https://x', defaultChart: r/b, defaultVersion: v1, defaultNamespace: ns}}\n".to_vec(),
            ),
            ("components/b/values.yaml".to_string(), b"x: {y: 1, z: [1, 2.5]}\nempty: {}\n".to_vec()),
        ];
        Catalog::from_files(files).unwrap()
    }

    fn eks(nodes: u32) -> Criteria {
        Criteria { key: CriteriaKey { service: Service::Eks, ..Default::default() }, nodes }
    }

    #[test]
    fn documents_have_the_query_shape() {
        let index = QueryIndex::build(&catalog(), "v9");
        let doc = index.document(&eks(8)).unwrap();
        let whole: Value = serde_json::from_slice(&doc.to_json(None)).unwrap();
        assert_eq!(
            whole,
            json!({
                "kind": "RecipeResult",
                "apiVersion": "aicr.nvidia.com/v1alpha1",
                "metadata": {"version": "v9", "appliedOverlays": ["base", "eks"], "excludedOverlays": null, "constraintWarnings": null},
                "criteria": {"service": "eks", "accelerator": "any", "intent": "any", "os": "any", "platform": "any", "nodes": 8},
                "constraints": [{"name": "K8s.server.version", "value": ">= 1.30"}],
                "deploymentOrder": ["b", "a"],
                "components": {
                    "a": {"name": "a", "type": "Helm", "source": "", "dependencyRefs": ["b"]},
                    "b": {"name": "b", "type": "Helm", "source": "https://x", "namespace": "ns", "chart": "b", "version": "v1",
                          "values": {"x": {"y": 2, "z": [1, 2.5]}, "empty": {}, "tag": "<&>"}},
                },
            })
        );
        // The spliced bytes are exactly what serialising the document gives.
        assert_eq!(doc.to_json(None), json::to_document(&doc));
        assert!(String::from_utf8(doc.to_json(None)).unwrap().contains("\"tag\":\"\\u003c\\u0026\\u003e\""));
        // Without constraints the member is left out.
        let any = index.document(&Criteria::default()).unwrap();
        let missing = any.select("constraints").unwrap_err().to_string();
        assert!(
            missing.ends_with("available keys: apiVersion, components, criteria, deploymentOrder, kind, metadata"),
            "{missing}"
        );
    }

    #[test]
    fn combinations_share_recipes_and_keep_their_criteria() {
        let index = QueryIndex::build(&catalog(), "v9");
        assert_eq!(index.stats.combinations, CriteriaKey::COUNT);
        assert_eq!(index.stats.recipes, 2);
        let h100 = Criteria { key: CriteriaKey { accelerator: Accelerator::H100, ..eks(0).key }, nodes: 0 };
        let a = index.document(&eks(0)).unwrap();
        let b = index.document(&h100).unwrap();
        assert_eq!(a.select("components").unwrap(), b.select("components").unwrap());
        assert_eq!(a.select("criteria.accelerator").unwrap(), Some(&json!("any")));
        assert_eq!(b.select("criteria.accelerator").unwrap(), Some(&json!("h100")));
        assert_eq!(a.select(".criteria.nodes").unwrap(), Some(&json!(0)));
        assert_ne!(a.etag(""), b.etag(""));
        assert_eq!(a.etag(""), a.etag("."));
        assert_ne!(a.etag("kind"), a.etag(""));
        assert_ne!(a.etag(""), index.document(&eks(3)).unwrap().etag(""));
    }

    #[test]
    fn selections_render_as_json_and_yaml() {
        let index = QueryIndex::build(&catalog(), "v9");
        let doc = index.document(&eks(0)).unwrap();
        let sel = doc.select("components.b.values.x").unwrap();
        assert_eq!(doc.to_json(sel), b"{\"y\":2,\"z\":[1,2.5]}\n");
        // `y` is quoted: YAML 1.1 readers take a bare `y` for a boolean.
        assert_eq!(doc.to_yaml(sel), "\"y\": 2\nz:\n  - 1\n  - 2.5\n");
        assert_eq!(doc.to_json(doc.select("components.b.version").unwrap()), b"\"v1\"\n");
        assert_eq!(doc.to_json(doc.select("metadata.excludedOverlays").unwrap()), b"null\n");
        let yaml = doc.to_yaml(None);
        assert!(yaml.starts_with("apiVersion: aicr.nvidia.com/v1alpha1\n"), "{yaml}");
        assert!(yaml.contains("criteria:\n  accelerator: any\n"), "{yaml}");
        assert_eq!(
            doc.select("components.a.values").unwrap_err().to_string(),
            "[NOT_FOUND] selector \"components.a.values\": key \"values\" not found, available keys: dependencyRefs, name, source, type"
        );
    }
}
