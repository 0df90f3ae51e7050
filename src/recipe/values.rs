//! Component values: the values file(s) of a component with its inline overrides
//! deep-merged on top (bundle spec §3.3 steps 1–2). `/v1/query` hydration and
//! `/v1/bundle` both start from this.

use super::catalog::{Catalog, ComponentRef};
use serde_json::{Map, Value};

/// Deep merge: for each key of `overlay`, maps merge recursively, anything else
/// (lists included, `null` included) replaces.
pub fn deep_merge(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(Value::Object(mine)), Value::Object(theirs)) => deep_merge(mine, theirs),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A values file, parsed once per catalog: every `components/**.yaml` outside
/// `manifests/` is parsed on first use and kept. `None` if it is missing or not a
/// YAML mapping; an empty file is an empty map.
pub fn parse_values(catalog: &Catalog, path: &str) -> Option<Map<String, Value>> {
    let cache = catalog.values_cache.get_or_init(|| {
        catalog
            .files
            .keys()
            .filter(|p| p.ends_with(".yaml") && !p.contains("/manifests/"))
            .map(|p| (p.clone(), parse_file(catalog, p)))
            .collect()
    });
    match cache.get(path) {
        Some(parsed) => parsed.clone(),
        None => parse_file(catalog, path),
    }
}

fn parse_file(catalog: &Catalog, path: &str) -> Option<Map<String, Value>> {
    let bytes = catalog.files.get(path)?;
    let text = std::str::from_utf8(bytes).ok()?;
    if text.trim().is_empty() {
        return Some(Map::new());
    }
    match super::catalog::parse_yaml::<Option<Value>>(text).ok()? {
        Some(Value::Object(map)) => Some(map),
        None | Some(Value::Null) => Some(Map::new()),
        Some(_) => None,
    }
}

/// The merged values of one component: `components/<name>/values.yaml`, the
/// component's `valuesFile` (if different) deep-merged over it, then its inline
/// `overrides`. If a file that should be read cannot be, the values are `{}` and the
/// overrides are dropped as well (Go behaviour, spec §3.3).
pub fn component_values(catalog: &Catalog, component: &ComponentRef) -> Map<String, Value> {
    if component.values_file.is_empty() {
        let mut values = Map::new();
        deep_merge(&mut values, &component.overrides);
        return values;
    }
    let default_path = format!("components/{}/values.yaml", component.name);
    let files = if component.values_file == default_path {
        parse_values(catalog, &default_path)
    } else {
        let base = if catalog.files.contains_key(&default_path) {
            parse_values(catalog, &default_path)
        } else {
            Some(Map::new())
        };
        base.zip(parse_values(catalog, &component.values_file)).map(|(mut base, variant)| {
            deep_merge(&mut base, &variant);
            base
        })
    };
    match files {
        Some(mut values) => {
            deep_merge(&mut values, &component.overrides);
            values
        }
        None => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_merge_replaces_lists_and_keeps_nulls() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"}).as_object().unwrap().clone();
        let overlay = json!({"a": {"c": [3], "e": null}, "d": {"f": true}}).as_object().unwrap().clone();
        deep_merge(&mut base, &overlay);
        assert_eq!(Value::Object(base), json!({"a": {"b": 1, "c": [3], "e": null}, "d": {"f": true}}));
    }

    #[test]
    fn values_file_variant_merges_over_the_default_file() {
        let files = vec![
            ("overlays/base.yaml".to_string(), b"kind: RecipeMetadata\nmetadata: {name: base}\n".to_vec()),
            ("registry.yaml".to_string(), b"components: [{name: c}]\n".to_vec()),
            ("components/c/values.yaml".to_string(), b"a: {b: 1, c: 2}\nlist: [1, 2]\n".to_vec()),
            ("components/c/values-x.yaml".to_string(), b"a: {c: 3}\nlist: [9]\n".to_vec()),
        ];
        let catalog = Catalog::from_files(files).unwrap();
        let mut component =
            ComponentRef { name: "c".into(), values_file: "components/c/values-x.yaml".into(), ..Default::default() };
        component.overrides = json!({"a": {"d": 4}}).as_object().unwrap().clone();
        assert_eq!(
            Value::Object(component_values(&catalog, &component)),
            json!({"a": {"b": 1, "c": 3, "d": 4}, "list": [9]})
        );
        component.values_file = "components/c/missing.yaml".into();
        assert_eq!(component_values(&catalog, &component), Map::new());
    }
}
