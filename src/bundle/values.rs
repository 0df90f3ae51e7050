//! The values of one bundled component (bundle spec §3.3–§3.5, §9.1): the catalog
//! files and inline overrides ([`crate::recipe::values::component_values`]), then
//! `set` overrides, then node-scheduling injection, then the `dynamic` split.

use super::request::{Dynamic, Options};
use crate::recipe::catalog::{Catalog, ComponentRef, Registry};
use crate::recipe::values::component_values;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The `set` override map that applies to `name`: its exact name first, else the
/// first registry alias (in registry order) that has one. Maps are never combined.
pub fn override_map<'o>(
    registry: &Registry,
    sets: &'o BTreeMap<String, BTreeMap<String, String>>,
    name: &str,
) -> Option<&'o BTreeMap<String, String>> {
    if let Some(map) = sets.get(name) {
        return Some(map);
    }
    registry.get(name)?.value_override_keys.iter().find_map(|k| sets.get(k))
}

/// Whether `key` addresses component `name` (exact name or registry alias).
pub fn key_matches(registry: &Registry, key: &str, name: &str) -> bool {
    key == name || registry.get(name).is_some_and(|c| c.value_override_keys.iter().any(|k| k == key))
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go `strconv.ParseFloat(s, 64)`: decimal (underscores between digits allowed),
/// hexadecimal with a `p` exponent, `inf`/`infinity`/`nan` in any case.
pub fn go_parse_float(s: &str) -> Option<f64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let sign = if negative { -1.0 } else { 1.0 };
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return (body.len() == s.len()).then_some(f64::NAN);
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        let hex = underscores_ok(hex)?;
        let (mantissa, exp) = hex.split_once('p')?;
        let exp: i32 = exp.parse().ok()?;
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut v = 0f64;
        for c in int.chars().chain(frac.chars()) {
            v = v * 16.0 + f64::from(c.to_digit(16)?);
        }
        return Some(sign * v * 2f64.powi(exp - 4 * frac.len() as i32));
    }
    let plain = underscores_ok(body)?;
    if plain.is_empty() || !plain.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    plain.parse::<f64>().ok().map(|v| sign * v)
}

/// Removes `_` digit separators if every one sits between two digits.
fn underscores_ok(s: &str) -> Option<String> {
    if !s.contains('_') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'_' && !(i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_hexdigit() && b[i + 1].is_ascii_hexdigit()) {
            return None;
        }
    }
    Some(s.replace('_', ""))
}

/// Types a `set` value (spec §3.4): `true`/`false`, then a base-10 int64, then a
/// float, else the string unchanged.
pub fn typed_value(raw: &str) -> Value {
    match raw {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = raw.strip_prefix('+').unwrap_or(raw).parse::<i64>()
    {
        return Value::from(i);
    }
    match go_parse_float(raw).and_then(serde_json::Number::from_f64) {
        Some(n) => Value::Number(n),
        None => match go_parse_float(raw) {
            // JSON numbers cannot hold the specials: a marker the YAML writer knows.
            Some(f) => Value::String(super::yaml::special_float_marker(f).into()),
            None => Value::String(raw.to_string()),
        },
    }
}

/// Assigns `value` at dot-`path`, creating maps; if an intermediate value exists
/// but is not a map, nothing happens (`set` semantics). Returns whether it applied.
pub fn set_if_traversable(values: &mut Map<String, Value>, path: &str, value: Value) -> bool {
    let mut parts = path.split('.').peekable();
    let mut cur = values;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), value);
            return true;
        }
        let next = cur.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        match next {
            Value::Object(m) => cur = m,
            _ => return false,
        }
    }
    false
}

/// Assigns `value` at dot-`path`, replacing any non-map on the way (injection).
pub fn set_forced(values: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = values;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), value);
            return;
        }
        let next = cur.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(m) = next else { unreachable!("just made a map") };
        cur = m;
    }
}

/// Removes and returns the value at dot-`path`, if every step is a map.
pub fn take_path(values: &mut Map<String, Value>, path: &str) -> Option<Value> {
    let (parents, last) = match path.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, path),
    };
    let mut cur = values;
    if let Some(parents) = parents {
        for part in parents.split('.') {
            cur = cur.get_mut(part)?.as_object_mut()?;
        }
    }
    cur.remove(last)
}

fn selector_value(map: &BTreeMap<String, String>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// The final values of `component` for these options (before any `dynamic` split).
pub fn final_values(catalog: &Catalog, component: &ComponentRef, options: &Options) -> Map<String, Value> {
    if !component.values_file.is_empty() && !catalog.files.contains_key(&component.values_file) {
        tracing::warn!(component = %component.name, values_file = %component.values_file, "values file not in the catalog: the component gets empty values");
    }
    let mut values = component_values(catalog, component);
    if let Some(sets) = override_map(&catalog.registry, &options.sets, &component.name) {
        for (path, raw) in sets {
            if path == "enabled" {
                continue;
            }
            if !set_if_traversable(&mut values, path, typed_value(raw)) {
                tracing::debug!(component = %component.name, %path, "set override skipped: path crosses a non-map value");
            }
        }
    }
    let Some(entry) = catalog.registry.get(&component.name) else {
        return values;
    };
    let ns = &entry.node_scheduling;
    let tolerations = |list: &[super::request::Toleration]| Value::Array(list.iter().map(|t| t.to_value()).collect());
    if let Some(sel) = &options.system_selector {
        for p in &ns.system.node_selector_paths {
            set_forced(&mut values, p, selector_value(sel));
        }
    }
    for p in &ns.system.toleration_paths {
        set_forced(&mut values, p, tolerations(&options.system_tolerations));
    }
    if let Some(sel) = &options.accelerated_selector {
        for p in &ns.accelerated.node_selector_paths {
            set_forced(&mut values, p, selector_value(sel));
        }
    }
    for p in &ns.accelerated.toleration_paths {
        set_forced(&mut values, p, tolerations(&options.accelerated_tolerations));
    }
    if let Some(sel) = &options.workload_selector {
        for p in &entry.pod_scheduling.workload.workload_selector_paths {
            set_forced(&mut values, p, selector_value(sel));
        }
    }
    if let Some(gate) = &options.workload_gate {
        for p in ns.accelerated.taint_str_paths.iter().chain(&ns.system.taint_str_paths) {
            set_forced(&mut values, p, Value::String(gate.clone()));
        }
    }
    if options.nodes > 0 {
        for p in &ns.node_count_paths {
            set_forced(&mut values, p, Value::from(options.nodes));
        }
    }
    values
}

/// The `dynamic` declarations that address component `name`.
pub fn dynamic_paths<'o>(registry: &Registry, dynamic: &'o [Dynamic], name: &str) -> Vec<&'o Dynamic> {
    dynamic.iter().filter(|d| key_matches(registry, &d.key, name)).collect()
}

/// Moves every dynamic path out of `values` into a separate map (a missing path
/// gets `""`). Returns the install-time values.
pub fn split_dynamic(values: &mut Map<String, Value>, paths: &[&Dynamic]) -> Map<String, Value> {
    let mut cluster = Map::new();
    for d in paths {
        let v = take_path(values, &d.path).unwrap_or_else(|| Value::String(String::new()));
        set_forced(&mut cluster, &d.path, v);
    }
    cluster
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_values_are_typed_like_go() {
        let cases: Vec<(&str, Value)> = vec![
            ("true", json!(true)),
            ("false", json!(false)),
            ("True", json!("True")),
            ("yes", json!("yes")),
            ("01", json!(1)),
            ("+5", json!(5)),
            ("-5", json!(-5)),
            ("1.50", json!(1.5)),
            ("1e3", json!(1000.0)),
            ("0x1p4", json!(16.0)),
            ("1_000", json!(1000.0)),
            ("99999999999999999999", json!(1e20)),
            ("0x10", json!("0x10")),
            ("1.2.3", json!("1.2.3")),
            ("2024-01-01", json!("2024-01-01")),
            ("null", json!("null")),
            ("~", json!("~")),
            (" padded ", json!(" padded ")),
            ("\"q\"", json!("\"q\"")),
            ("inf", json!(super::super::yaml::SPECIAL_FLOATS[0].0)),
            ("-Infinity", json!(super::super::yaml::SPECIAL_FLOATS[1].0)),
            ("NaN", json!(super::super::yaml::SPECIAL_FLOATS[2].0)),
            ("_1", json!("_1")),
        ];
        for (raw, want) in cases {
            assert_eq!(typed_value(raw), want, "{raw}");
        }
        assert!(typed_value("1e3").is_f64());
        assert!(typed_value("7").is_i64());
    }

    #[test]
    fn set_skips_non_map_intermediates_injection_replaces_them() {
        let mut v = json!({"env": [1], "a": {"b": 1}}).as_object().unwrap().clone();
        assert!(!set_if_traversable(&mut v, "env.0.name", json!("x")));
        assert!(set_if_traversable(&mut v, "a.b", json!({"c": 1})));
        assert!(set_if_traversable(&mut v, "n.m", json!(2)));
        set_forced(&mut v, "env.x", json!(3));
        assert_eq!(Value::Object(v), json!({"env": {"x": 3}, "a": {"b": {"c": 1}}, "n": {"m": 2}}));
    }

    #[test]
    fn dynamic_split_moves_or_creates() {
        let mut v = json!({"driver": {"version": "1", "x": 1}}).as_object().unwrap().clone();
        let d1 = Dynamic { key: "c".into(), path: "driver.version".into(), raw: String::new() };
        let d2 = Dynamic { key: "c".into(), path: "new.path".into(), raw: String::new() };
        let cluster = split_dynamic(&mut v, &[&d1, &d2]);
        assert_eq!(Value::Object(v), json!({"driver": {"x": 1}}));
        assert_eq!(Value::Object(cluster), json!({"driver": {"version": "1"}, "new": {"path": ""}}));
    }
}
