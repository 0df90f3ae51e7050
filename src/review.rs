//! Catalog review tools: the catalog checks with manifest templates rendered by the
//! bundle's template engine (`aicrd check`, `serve --recipes`), and `aicrd diff`, which
//! says per criteria combination what changed between two catalogs or two exports.

use crate::recipe::catalog::{Catalog, ComponentRef};
use crate::recipe::check::{self, Report};
use crate::recipe::criteria::{Criteria, CriteriaKey};
use crate::recipe::resolve::resolve;
use crate::recipe::values::component_values;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Renders one manifest the way a bundle does (bundle spec §4.4): `.Values.<name>`,
/// `.Release` and `.Chart`. Static manifests (no actions) always pass.
pub fn render_manifest(path: &str, bytes: &[u8], c: &ComponentRef, values: &Map<String, Value>) -> Result<(), String> {
    use crate::bundle::template::Template;
    let text = String::from_utf8_lossy(bytes);
    let template = Template::parse(path, &text).map_err(|e| e.to_string())?;
    if template.is_static() {
        return Ok(());
    }
    let data = crate::bundle::template_data(c, values.clone());
    template.render(&data, None).map(|_| ()).map_err(|e| e.to_string())
}

/// Runs every catalog check, manifest templates included.
pub fn check_catalog(catalog: &Catalog) -> Report {
    check::check(catalog, Some(&render_manifest))
}

/// One side of a diff: canonical key → recipe document, and whether the documents
/// carry merged component values (catalogs do; exports only have overrides).
struct Side {
    recipes: BTreeMap<String, Value>,
    values: BTreeMap<String, ComponentValues>,
}

/// Merged values of each component of one recipe, by component name.
type ComponentValues = BTreeMap<String, Map<String, Value>>;

fn load_side(dir: &Path) -> Result<Side, String> {
    if dir.join("registry.yaml").is_file() {
        let catalog = Catalog::load(dir).map_err(|e| format!("recipe catalog {}: {e}", dir.display()))?;
        let mut recipes = BTreeMap::new();
        let mut values = BTreeMap::new();
        for key in CriteriaKey::all() {
            let resolved = resolve(&catalog, &Criteria { key, nodes: 0 })
                .map_err(|e| format!("recipe catalog {}: {}: {e}", dir.display(), key.canonical()))?;
            let doc: Value = serde_json::from_slice(&resolved.to_json(&key, 0, ""))
                .map_err(|e| format!("{}: {e}", key.canonical()))?;
            let merged = resolved.components.iter().map(|c| (c.name.clone(), component_values(&catalog, c))).collect();
            recipes.insert(key.canonical(), doc);
            values.insert(key.canonical(), merged);
        }
        return Ok(Side { recipes, values });
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut recipes = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let (key, yaml) = if let Some(k) = name.strip_suffix(".json") {
            (k, false)
        } else if let Some(k) = name.strip_suffix(".yaml") {
            (k, true)
        } else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = if yaml {
            serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        };
        recipes.insert(key.to_string(), doc);
    }
    if recipes.is_empty() {
        return Err(format!("{}: neither a catalog (registry.yaml) nor an export (<key>.json|yaml)", dir.display()));
    }
    Ok(Side { recipes, values: BTreeMap::new() })
}

fn short(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if text.chars().count() > 80 { format!("{}…", text.chars().take(79).collect::<String>()) } else { text }
}

/// Differences between two values, one line per changed leaf, by dotted path.
fn value_changes(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                value_changes(&join(k), a.get(k), b.get(k), out);
            }
        }
        (Some(a), Some(b)) if a == b => {}
        (Some(a), Some(b)) => out.push(format!("{path}: {} -> {}", short(a), short(b))),
        (None, Some(b)) => out.push(format!("+{path}: {}", short(b))),
        (Some(a), None) => out.push(format!("-{path}: {}", short(a))),
        (None, None) => {}
    }
}

fn by_name(list: Option<&Value>) -> BTreeMap<String, &Value> {
    list.and_then(Value::as_array)
        .map(|items| {
            items.iter().map(|c| (c.get("name").and_then(Value::as_str).unwrap_or_default().to_string(), c)).collect()
        })
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|items| items.iter().map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string)).collect())
        .unwrap_or_default()
}

fn list_change(what: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
    let (a, b) = (strings(old), strings(new));
    if a == b {
        return;
    }
    let added: Vec<String> = b.iter().filter(|x| !a.contains(x)).map(|x| format!("+{x}")).collect();
    let removed: Vec<String> = a.iter().filter(|x| !b.contains(x)).map(|x| format!("-{x}")).collect();
    let parts: Vec<String> = added.into_iter().chain(removed).collect();
    if parts.is_empty() {
        out.push(format!("{what}: reordered {} -> {}", a.join(","), b.join(",")));
    } else {
        out.push(format!("{what}: {}", parts.join(" ")));
    }
}

/// Component fields compared one by one (lists and maps get their own treatment).
const SCALAR_FIELDS: &[&str] = &[
    "namespace",
    "chart",
    "type",
    "source",
    "tag",
    "valuesFile",
    "path",
    "cleanup",
    "healthCheckAsserts",
    "healthCheckSkip",
];

fn component_label(c: &Value) -> String {
    let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
    match c.get("version").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => format!("{name}@{v}"),
        _ => name.to_string(),
    }
}

/// The changes of one combination, in a stable order.
fn recipe_changes(old: &Value, new: &Value, values: Option<(&ComponentValues, &ComponentValues)>) -> Vec<String> {
    let mut out = Vec::new();
    let overlays = |d: &Value| strings(d.pointer("/metadata/appliedOverlays")).join(",");
    if overlays(old) != overlays(new) {
        out.push(format!("overlays: {} -> {}", overlays(old), overlays(new)));
    }
    let (ca, cb) = (by_name(old.get("componentRefs")), by_name(new.get("componentRefs")));
    for (name, c) in &cb {
        if !ca.contains_key(name) {
            out.push(format!("+ component {}", component_label(c)));
        }
    }
    for (name, c) in &ca {
        if !cb.contains_key(name) {
            out.push(format!("- component {}", component_label(c)));
        }
    }
    for (name, a) in &ca {
        let Some(b) = cb.get(name) else { continue };
        let mut changes = Vec::new();
        let (va, vb) = (a.get("version"), b.get("version"));
        if va != vb {
            let show = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("(none)").to_string();
            changes.push(format!("version {} -> {}", show(va), show(vb)));
        }
        for field in SCALAR_FIELDS {
            let (x, y) = (a.get(*field), b.get(*field));
            if x != y {
                let show = |v: Option<&Value>| v.map_or_else(|| "(none)".to_string(), short);
                changes.push(format!("{field} {} -> {}", show(x), show(y)));
            }
        }
        for field in ["dependencyRefs", "preManifestFiles", "manifestFiles", "patches"] {
            list_change(field, a.get(field), b.get(field), &mut changes);
        }
        if a.get("expectedResources") != b.get("expectedResources") {
            changes.push("expectedResources changed".to_string());
        }
        let mut paths = Vec::new();
        match values {
            Some((old_values, new_values)) => {
                let empty = Map::new();
                let x = Value::Object(old_values.get(name).unwrap_or(&empty).clone());
                let y = Value::Object(new_values.get(name).unwrap_or(&empty).clone());
                value_changes("", Some(&x), Some(&y), &mut paths);
                changes.extend(paths.into_iter().map(|p| format!("values {p}")));
            }
            None => {
                let empty = Value::Object(Map::new());
                let x = a.get("overrides").unwrap_or(&empty);
                let y = b.get("overrides").unwrap_or(&empty);
                value_changes("", Some(x), Some(y), &mut paths);
                changes.extend(paths.into_iter().map(|p| format!("overrides {p}")));
            }
        }
        out.extend(changes.into_iter().map(|c| format!("~ {name}: {c}")));
    }
    let (ka, kb) = (by_name(old.get("constraints")), by_name(new.get("constraints")));
    let names: BTreeSet<&String> = ka.keys().chain(kb.keys()).collect();
    for name in names {
        match (ka.get(name), kb.get(name)) {
            (None, Some(c)) => {
                out.push(format!("+ constraint {name} {}", short(c.get("value").unwrap_or(&Value::Null))))
            }
            (Some(_), None) => out.push(format!("- constraint {name}")),
            (Some(a), Some(b)) if a != b => {
                let mut paths = Vec::new();
                value_changes("", Some(a), Some(b), &mut paths);
                out.push(format!("~ constraint {name}: {}", paths.join("; ")));
            }
            _ => {}
        }
    }
    if strings(old.get("deploymentOrder")) != strings(new.get("deploymentOrder")) && ca.len() == cb.len() {
        out.push(format!(
            "deploymentOrder: {} -> {}",
            strings(old.get("deploymentOrder")).join(","),
            strings(new.get("deploymentOrder")).join(",")
        ));
    }
    let empty = Value::Object(Map::new());
    let (wa, wb) = (old.get("validation").unwrap_or(&empty), new.get("validation").unwrap_or(&empty));
    for phase in ["readiness", "deployment", "performance", "conformance"] {
        let (pa, pb) = (wa.get(phase), wb.get(phase));
        match (pa, pb) {
            (None, None) => {}
            (None, Some(_)) => {
                out.push(format!("+ validation {phase} ({} checks)", strings(pb.and_then(|p| p.get("checks"))).len()))
            }
            (Some(_), None) => out.push(format!("- validation {phase}")),
            (Some(a), Some(b)) if a != b => {
                let mut changes = Vec::new();
                list_change("checks", a.get("checks"), b.get("checks"), &mut changes);
                let (ka, kb) = (by_name(a.get("constraints")), by_name(b.get("constraints")));
                if ka != kb {
                    let mut paths = Vec::new();
                    let names: BTreeSet<&String> = ka.keys().chain(kb.keys()).collect();
                    for n in names {
                        value_changes(n, ka.get(n).copied(), kb.get(n).copied(), &mut paths);
                    }
                    changes.push(format!("constraints {}", paths.join("; ")));
                }
                for field in ["timeout", "nodeSelection", "infrastructure"] {
                    if a.get(field) != b.get(field) {
                        changes.push(format!("{field} changed"));
                    }
                }
                out.extend(changes.into_iter().map(|c| format!("~ validation {phase}: {c}")));
            }
            _ => {}
        }
    }
    out
}

/// The diff text between the catalogs or exports in `from` and `to`, empty when they
/// resolve alike. Combinations with the same changes are listed together.
pub fn diff_dirs(from: &Path, to: &Path) -> Result<String, String> {
    let (a, b) = (load_side(from)?, load_side(to)?);
    let compare_values = !a.values.is_empty() && !b.values.is_empty();
    let keys: BTreeSet<&String> = a.recipes.keys().chain(b.recipes.keys()).collect();
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut index: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for key in keys {
        let changes = match (a.recipes.get(key), b.recipes.get(key)) {
            (Some(x), Some(y)) => {
                let values = if compare_values {
                    match (a.values.get(key), b.values.get(key)) {
                        (Some(p), Some(q)) => Some((p, q)),
                        _ => None,
                    }
                } else {
                    None
                };
                recipe_changes(x, y, values)
            }
            (None, Some(_)) => vec!["+ combination".to_string()],
            (Some(_), None) => vec!["- combination".to_string()],
            (None, None) => Vec::new(),
        };
        if changes.is_empty() {
            continue;
        }
        match index.get(&changes) {
            Some(&i) => groups[i].0.push(key.clone()),
            None => {
                index.insert(changes.clone(), groups.len());
                groups.push((vec![key.clone()], changes));
            }
        }
    }
    let mut text = String::new();
    let total: usize = groups.iter().map(|g| g.0.len()).sum();
    for (keys, changes) in &groups {
        text.push_str(&format!("@@ {} combination{}\n", keys.len(), if keys.len() == 1 { "" } else { "s" }));
        for key in keys {
            text.push_str(&format!("@ {key}\n"));
        }
        for change in changes {
            text.push_str(&format!("  {change}\n"));
        }
    }
    if total > 0 {
        let all = a.recipes.len().max(b.recipes.len());
        text.push_str(&format!("{total} of {all} combinations differ ({} distinct change sets)\n", groups.len()));
    }
    Ok(text)
}
