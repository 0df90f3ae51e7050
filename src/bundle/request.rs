//! Bundle input: the query options (bundle spec §1.3, §9.1) and the posted
//! `RecipeResult` body (§1.4), each with the Go server's error texts.
//!
//! Errors are [`InputError`]s: a wrapper `message` plus an optional inner text, which
//! the HTTP layer maps to the 400 envelope (`message`, `details.error`).

use crate::recipe::catalog::{ComponentRef, Constraint, Validation, nullable};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A rejected input: `message` is the envelope message, `error` its `details.error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// Envelope message.
    pub message: String,
    /// Inner error text, when there is one.
    pub error: Option<String>,
}

impl InputError {
    fn new(message: &str, error: impl Into<String>) -> Self {
        InputError { message: message.into(), error: Some(error.into()) }
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(e) => write!(f, "{}: {e}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Deployer {
    /// Helm values, manifests and scripts (the default).
    #[default]
    Helm,
    /// One Argo CD Application per component plus an app-of-apps.
    ArgoCd,
    /// A Helm chart that creates the Argo CD Applications (spec §9.2).
    ArgoCdHelm,
}

impl Deployer {
    /// The parameter spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Deployer::Helm => "helm",
            Deployer::ArgoCd => "argocd",
            Deployer::ArgoCdHelm => "argocd-helm",
        }
    }

    /// Parses a `deployer` value: trimmed, case-insensitive, empty = helm.
    pub fn parse(raw: &str) -> Result<Deployer, InputError> {
        match raw.trim().to_lowercase().as_str() {
            "" | "helm" => Ok(Deployer::Helm),
            "argocd" => Ok(Deployer::ArgoCd),
            "argocd-helm" => Ok(Deployer::ArgoCdHelm),
            _ => Err(InputError::new(
                "Invalid deployer parameter",
                format!(
                    "[INVALID_REQUEST] invalid deployer type {}: must be one of [argocd argocd-helm helm]",
                    go_quote(raw)
                ),
            )),
        }
    }
}

/// A Kubernetes toleration; empty fields are left out of the values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Toleration {
    /// Taint key (may be empty: matches every key).
    pub key: String,
    /// `Equal` or `Exists`.
    pub operator: String,
    /// Taint value.
    pub value: String,
    /// Taint effect.
    pub effect: String,
}

impl Toleration {
    /// The default when no toleration is given: tolerate everything.
    pub fn exists() -> Toleration {
        Toleration { operator: "Exists".into(), ..Default::default() }
    }

    /// The toleration as a values map with only its non-empty fields.
    pub fn to_value(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (k, v) in
            [("key", &self.key), ("operator", &self.operator), ("value", &self.value), ("effect", &self.effect)]
        {
            if !v.is_empty() {
                map.insert(k.into(), Value::String(v.clone()));
            }
        }
        Value::Object(map)
    }
}

/// One `dynamic` declaration (spec §9.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dynamic {
    /// Component name or alias.
    pub key: String,
    /// Dot-path in the component's values.
    pub path: String,
    /// The parameter as sent, for messages.
    pub raw: String,
}

/// Everything the query string can say about a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Output format.
    pub deployer: Deployer,
    /// Git repository of an argocd bundle (`""` = placeholder).
    pub repo: String,
    /// `set` overrides: component key → dot-path → raw value (later wins).
    pub sets: BTreeMap<String, BTreeMap<String, String>>,
    /// `dynamic` declarations, in query order.
    pub dynamic: Vec<Dynamic>,
    /// System node selector, when given.
    pub system_selector: Option<BTreeMap<String, String>>,
    /// Accelerated node selector, when given.
    pub accelerated_selector: Option<BTreeMap<String, String>>,
    /// System tolerations (default: one `Exists`).
    pub system_tolerations: Vec<Toleration>,
    /// Accelerated tolerations (default: one `Exists`).
    pub accelerated_tolerations: Vec<Toleration>,
    /// Workload gate taint string (`key=value:effect` / `key:effect`).
    pub workload_gate: Option<String>,
    /// Workload selector, when given.
    pub workload_selector: Option<BTreeMap<String, String>>,
    /// Estimated GPU node count (0 = unset).
    pub nodes: u64,
    /// Components to bundle (`bundlers`), when given.
    pub bundlers: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            deployer: Deployer::Helm,
            repo: String::new(),
            sets: BTreeMap::new(),
            dynamic: Vec::new(),
            system_selector: None,
            accelerated_selector: None,
            system_tolerations: vec![Toleration::exists()],
            accelerated_tolerations: vec![Toleration::exists()],
            workload_gate: None,
            workload_selector: None,
            nodes: 0,
            bundlers: None,
        }
    }
}

/// Go's `%q` (`strconv.Quote`).
pub fn go_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c == '\u{feff}' => {
                if (c as u32) <= 0xffff {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses one `set` value: `key:path=value`.
pub fn parse_set(raw: &str) -> Result<(String, String, String), InputError> {
    let message = "Invalid set parameter";
    let shape =
        || InputError::new(message, format!("[INVALID_REQUEST] invalid format '{raw}': expected 'bundler:path=value'"));
    let (key, rest) = raw.split_once(':').ok_or_else(shape)?;
    let (path, value) = rest.split_once('=').ok_or_else(shape)?;
    if path.is_empty() || value.is_empty() {
        return Err(InputError::new(
            message,
            format!("[INVALID_REQUEST] invalid format '{raw}': path and value cannot be empty"),
        ));
    }
    Ok((key.to_string(), path.to_string(), value.to_string()))
}

/// Parses one `dynamic` value: `key:path`, no value part.
pub fn parse_dynamic(raw: &str) -> Result<Dynamic, InputError> {
    let message = "Invalid dynamic parameter";
    let Some((key, path)) = raw.split_once(':') else {
        return Err(InputError::new(
            message,
            format!("[INVALID_REQUEST] invalid format {}: expected 'component:path'", go_quote(raw)),
        ));
    };
    if path.contains('=') {
        return Err(InputError::new(
            message,
            format!("[INVALID_REQUEST] invalid format {}: dynamic declaration does not accept '=value'", go_quote(raw)),
        ));
    }
    if key.is_empty() || path.is_empty() {
        return Err(InputError::new(
            message,
            format!("[INVALID_REQUEST] invalid format {}: component and path cannot be empty", go_quote(raw)),
        ));
    }
    Ok(Dynamic { key: key.into(), path: path.into(), raw: raw.into() })
}

/// Parses one selector value `label=value` into `map` (later duplicates win).
pub fn parse_selector(raw: &str, message: &str, map: &mut BTreeMap<String, String>) -> Result<(), InputError> {
    let (k, v) = raw.split_once('=').ok_or_else(|| {
        InputError::new(message, format!("[INVALID_REQUEST] invalid format {}, expected key=value", go_quote(raw)))
    })?;
    map.insert(k.into(), v.into());
    Ok(())
}

fn check_effect(effect: &str, message: &str) -> Result<(), InputError> {
    if matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Ok(());
    }
    Err(InputError::new(
        message,
        format!(
            "[INVALID_REQUEST] invalid taint effect: [INVALID_REQUEST] invalid taint effect {}, expected NoSchedule, PreferNoSchedule, or NoExecute",
            go_quote(effect)
        ),
    ))
}

/// Splits `key[=value]:effect` (exactly one `:`) into key, value, effect.
fn split_taint<'s>(raw: &'s str, message: &str) -> Result<(&'s str, &'s str, &'s str), InputError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let [head, effect] = parts.as_slice() else {
        return Err(InputError::new(
            message,
            format!("[INVALID_REQUEST] invalid format {}, expected key=value:effect or key:effect", go_quote(raw)),
        ));
    };
    let (key, value) = head.split_once('=').unwrap_or((head, ""));
    Ok((key, value, effect))
}

/// Parses one toleration value: `key=value:effect` or `key:effect`.
pub fn parse_toleration(raw: &str, message: &str) -> Result<Toleration, InputError> {
    let (key, value, effect) = split_taint(raw, message)?;
    check_effect(effect, message)?;
    let operator = if value.is_empty() { "Exists" } else { "Equal" };
    Ok(Toleration { key: key.into(), operator: operator.into(), value: value.into(), effect: effect.into() })
}

/// Parses the `workload-gate` taint; returns its string form.
pub fn parse_workload_gate(raw: &str) -> Result<String, InputError> {
    let message = "Invalid workload-gate parameter";
    let (key, value, effect) = split_taint(raw, message)?;
    if key.is_empty() {
        return Err(InputError::new(
            message,
            format!("[INVALID_REQUEST] invalid format {}, key cannot be empty", go_quote(raw)),
        ));
    }
    check_effect(effect, message)?;
    Ok(if value.is_empty() { format!("{key}:{effect}") } else { format!("{key}={value}:{effect}") })
}

/// Parses `nodes` like Go's `strconv.Atoi`, refusing negatives.
pub fn parse_nodes(raw: &str) -> Result<u64, InputError> {
    let bad = || InputError { message: "nodes must be a non-negative integer".into(), error: None };
    let (negative, digits) = match raw.as_bytes().first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if negative && n != 0 {
        return Err(bad());
    }
    Ok(n as u64)
}

impl Options {
    /// Parses the raw query string in the spec's order; the first failure wins.
    pub fn from_query(query: Option<&str>) -> Result<Options, InputError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in crate::http::criteria::query_pairs(query.unwrap_or("")) {
            let (name, value) = pair.map_err(|e| {
                InputError::new("Invalid query string", format!("[INVALID_REQUEST] invalid query string: {e}"))
            })?;
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Options::from_pairs(&pairs)
    }

    /// Parses decoded `(name, value)` pairs in the spec's order.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Options, InputError> {
        fn values<'p>(pairs: &'p [(String, String)], name: &'p str) -> impl Iterator<Item = &'p str> {
            pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
        }
        let all = |name: &'static str| values(pairs, name);
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let mut o = Options::default();
        for raw in all("set") {
            let (key, path, value) = parse_set(raw)?;
            o.sets.entry(key).or_default().insert(path, value);
        }
        for raw in all("dynamic") {
            o.dynamic.push(parse_dynamic(raw)?);
        }
        let selector = |name: &'static str, message: &str| -> Result<Option<BTreeMap<String, String>>, InputError> {
            let mut map = BTreeMap::new();
            let mut any = false;
            for raw in all(name) {
                parse_selector(raw, message, &mut map)?;
                any = true;
            }
            Ok(any.then_some(map))
        };
        o.system_selector = selector("system-node-selector", "Invalid system-node-selector")?;
        o.accelerated_selector = selector("accelerated-node-selector", "Invalid accelerated-node-selector")?;
        let tolerations = |name: &'static str, message: &str| -> Result<Vec<Toleration>, InputError> {
            let list = all(name).map(|raw| parse_toleration(raw, message)).collect::<Result<Vec<_>, _>>()?;
            Ok(if list.is_empty() { vec![Toleration::exists()] } else { list })
        };
        o.system_tolerations = tolerations("system-node-toleration", "Invalid system-node-toleration")?;
        o.accelerated_tolerations = tolerations("accelerated-node-toleration", "Invalid accelerated-node-toleration")?;
        o.deployer = Deployer::parse(first("deployer").unwrap_or(""))?;
        o.repo = first("repo").unwrap_or("").to_string();
        o.workload_gate = match first("workload-gate") {
            None | Some("") => None,
            Some(raw) => Some(parse_workload_gate(raw)?),
        };
        o.workload_selector = selector("workload-selector", "Invalid workload-selector parameter")?;
        o.nodes = match first("nodes") {
            None | Some("") => 0,
            Some(raw) => parse_nodes(raw)?,
        };
        if let Some(raw) = first("bundlers") {
            let names: Vec<String> = raw.split(',').map(|s| s.trim().to_string()).collect();
            if names.iter().any(String::is_empty) {
                return Err(InputError::new(
                    "Invalid bundlers parameter",
                    format!("[INVALID_REQUEST] invalid bundlers {}: names cannot be empty", go_quote(raw)),
                ));
            }
            o.bundlers = Some(names);
        }
        if !o.dynamic.is_empty() && o.deployer == Deployer::ArgoCd {
            return Err(InputError::new(
                "Invalid dynamic parameter",
                "[INVALID_REQUEST] dynamic values are not supported by the argocd deployer (use helm or argocd-helm)",
            ));
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------------------
// The body

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A warning attached to a recipe by the resolver.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ConstraintWarning {
    /// Overlay that carried the constraint.
    #[serde(deserialize_with = "nullable")]
    pub overlay: String,
    /// Constraint name.
    #[serde(deserialize_with = "nullable")]
    pub constraint: String,
    /// Expected value.
    #[serde(deserialize_with = "nullable")]
    pub expected: String,
    /// Observed value, if known.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub actual: String,
    /// Why it was not applied.
    #[serde(deserialize_with = "nullable")]
    pub reason: String,
}

/// `metadata` of a posted recipe.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Metadata {
    /// Version of the server that produced the recipe.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Overlays applied.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub applied_overlays: Vec<String>,
    /// Overlays excluded.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub excluded_overlays: Vec<String>,
    /// Constraint warnings.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub constraint_warnings: Vec<ConstraintWarning>,
}

/// `criteria` of a posted recipe; strings are taken verbatim.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct BodyCriteria {
    /// Service.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// Accelerator.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub accelerator: String,
    /// Intent.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub intent: String,
    /// OS.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// Platform.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// Node count.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub nodes: i64,
}

/// The posted `RecipeResult`, in `recipe.yaml` field order (spec §4.9).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RecipeBody {
    /// `kind`.
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    /// `apiVersion`.
    #[serde(deserialize_with = "nullable")]
    pub api_version: String,
    /// `metadata`.
    #[serde(deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `criteria` (null when absent).
    pub criteria: Option<BodyCriteria>,
    /// `constraints`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// `componentRefs`.
    #[serde(deserialize_with = "nullable")]
    pub component_refs: Vec<ComponentRef>,
    /// `deploymentOrder`.
    #[serde(deserialize_with = "nullable")]
    pub deployment_order: Vec<String>,
    /// `validation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
}

const BODY: &str = "Invalid request body";

/// Go's quoting of one offending character in syntax errors.
fn quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Maps a serde_json syntax error to Go's `encoding/json` text.
fn syntax_text(bytes: &[u8], e: &serde_json::Error) -> String {
    if e.classify() == serde_json::error::Category::Eof {
        return "unexpected EOF".into();
    }
    let full = e.to_string();
    let what = full.split(" at line ").next().unwrap_or(&full);
    // serde_json reports the 1-based line and column of the offending character.
    let line_start = bytes.split(|b| *b == b'\n').take(e.line().saturating_sub(1)).map(|l| l.len() + 1).sum::<usize>();
    let at = line_start + e.column().saturating_sub(1);
    let c = std::str::from_utf8(&bytes[at.min(bytes.len())..])
        .ok()
        .and_then(|s| s.chars().next())
        .or_else(|| bytes.get(at).map(|b| char::from(*b)))
        .unwrap_or(' ');
    let context = match what {
        "expected value" => "looking for beginning of value",
        "key must be a string" => "looking for beginning of object key string",
        "expected `:`" => "after object key",
        "expected `,` or `}`" => "after object key:value pair",
        "expected `,` or `]`" => "after array element",
        "trailing characters" => "after top-level value",
        "invalid number" => "in numeric literal",
        "invalid escape" => "in string escape code",
        "expected ident" => "in literal",
        "control character (\\u0000-\\u001F) found while parsing a string" => "in string literal",
        "trailing comma" => {
            return format!(
                "invalid character {} {}",
                quote_char(c),
                if c == '}' { "looking for beginning of object key string" } else { "looking for beginning of value" }
            );
        }
        "recursion limit exceeded" => return "exceeded max depth".into(),
        other => return other.to_string(),
    };
    format!("invalid character {} {context}", quote_char(c))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Expected shapes of the fields the bundler reads, with Go's type names.
#[derive(Clone, Copy)]
enum Shape {
    Str,
    Int,
    Bool,
    Map,
    Strings,
    Struct(&'static str, &'static [(&'static str, Shape)]),
    List(&'static str, &'static Shape),
    /// An object whose member names fold like a struct's but whose types are left to
    /// the typed decoder (`validation`).
    Loose(&'static [(&'static str, Shape)]),
    Any,
}

const CONSTRAINT: Shape = Shape::Struct(
    "recipe.Constraint",
    &[
        ("name", Shape::Str),
        ("value", Shape::Str),
        ("severity", Shape::Str),
        ("remediation", Shape::Str),
        ("unit", Shape::Str),
    ],
);
const WARNING: Shape = Shape::Struct(
    "recipe.ConstraintWarning",
    &[
        ("overlay", Shape::Str),
        ("constraint", Shape::Str),
        ("expected", Shape::Str),
        ("actual", Shape::Str),
        ("reason", Shape::Str),
    ],
);
const RESOURCE: Shape =
    Shape::Struct("recipe.ExpectedResource", &[("kind", Shape::Str), ("name", Shape::Str), ("namespace", Shape::Str)]);
const COMPONENT: Shape = Shape::Struct(
    "recipe.ComponentRef",
    &[
        ("name", Shape::Str),
        ("namespace", Shape::Str),
        ("chart", Shape::Str),
        ("type", Shape::Str),
        ("source", Shape::Str),
        ("version", Shape::Str),
        ("tag", Shape::Str),
        ("valuesFile", Shape::Str),
        ("overrides", Shape::Map),
        ("patches", Shape::Strings),
        ("dependencyRefs", Shape::Strings),
        ("manifestFiles", Shape::Strings),
        ("path", Shape::Str),
        ("cleanup", Shape::Bool),
        ("expectedResources", Shape::List("[]recipe.ExpectedResource", &RESOURCE)),
        ("healthCheckAsserts", Shape::Str),
    ],
);
const RECIPE: &[(&str, Shape)] = &[
    ("kind", Shape::Str),
    ("apiVersion", Shape::Str),
    (
        "metadata",
        Shape::Struct(
            "recipe.RecipeMetadata",
            &[
                ("version", Shape::Str),
                ("appliedOverlays", Shape::Strings),
                ("excludedOverlays", Shape::Strings),
                ("constraintWarnings", Shape::List("[]recipe.ConstraintWarning", &WARNING)),
            ],
        ),
    ),
    (
        "criteria",
        Shape::Struct(
            "recipe.Criteria",
            &[
                ("service", Shape::Str),
                ("accelerator", Shape::Str),
                ("intent", Shape::Str),
                ("os", Shape::Str),
                ("platform", Shape::Str),
                ("nodes", Shape::Int),
            ],
        ),
    ),
    ("constraints", Shape::List("[]recipe.Constraint", &CONSTRAINT)),
    ("componentRefs", Shape::List("[]recipe.ComponentRef", &COMPONENT)),
    ("deploymentOrder", Shape::Strings),
    ("validation", Shape::Loose(VALIDATION)),
];
const NODE_SELECTION: Shape =
    Shape::Loose(&[("selector", Shape::Map), ("maxNodes", Shape::Int), ("excludeNodes", Shape::Strings)]);
const PHASE: Shape = Shape::Loose(&[
    ("timeout", Shape::Str),
    ("constraints", Shape::List("[]recipe.Constraint", &CONSTRAINT)),
    ("checks", Shape::Strings),
    ("nodeSelection", NODE_SELECTION),
    ("infrastructure", Shape::Str),
]);
const VALIDATION: &[(&str, Shape)] =
    &[("readiness", PHASE), ("deployment", PHASE), ("performance", PHASE), ("conformance", PHASE)];
const RECIPE_RESULT: Shape = Shape::Struct("recipe.RecipeResult", RECIPE);

/// The body's JSON tree with member names as Go's decoder matches them: within an
/// object the bundler reads as a struct, a member takes the field of the same name or,
/// failing that, the field whose name equals it ASCII case-insensitively, and is kept
/// under the field's own spelling; members of no field are dropped. A member seen twice
/// merges into the earlier object when both are objects of a struct or map, and
/// replaces it otherwise (last wins). Types are not checked here: a value of the wrong
/// type is kept as it is for [`check_shape`] to report.
struct FoldedBody(Value);

impl<'de> Deserialize<'de> for FoldedBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Folded(RECIPE_RESULT).deserialize(d).map(FoldedBody)
    }
}

/// Seed for one value of the given shape.
struct Folded(Shape);

fn struct_fields(shape: Shape) -> Option<&'static [(&'static str, Shape)]> {
    match shape {
        Shape::Struct(_, fields) | Shape::Loose(fields) => Some(fields),
        _ => None,
    }
}

/// The field `key` names: exact spelling first, then ASCII case-insensitively.
fn field_for(fields: &'static [(&'static str, Shape)], key: &str) -> Option<(&'static str, Shape)> {
    fields
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| fields.iter().find(|(name, _)| name.eq_ignore_ascii_case(key)))
        .copied()
}

/// Stores `value` as member `name` (of shape `shape`) of `map`, merging repeats as Go does.
fn put(map: &mut Map<String, Value>, name: &str, shape: Shape, value: Value) {
    if let (Some(Value::Object(old)), Value::Object(new)) = (map.get_mut(name), &value) {
        if let Some(fields) = struct_fields(shape) {
            let Value::Object(new) = value else { unreachable!() };
            for (key, v) in new {
                let sub = field_for(fields, &key).map_or(Shape::Any, |(_, s)| s);
                put(old, &key, sub, v);
            }
            return;
        }
        if matches!(shape, Shape::Map) {
            old.extend(new.clone());
            return;
        }
    }
    map.insert(name.to_owned(), value);
}

impl<'de> DeserializeSeed<'de> for Folded {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0 {
            Shape::Struct(..) | Shape::Loose(_) | Shape::List(..) => d.deserialize_any(self),
            _ => Value::deserialize(d),
        }
    }
}

impl<'de> Visitor<'de> for Folded {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let item = match self.0 {
            Shape::List(_, item) => *item,
            _ => Shape::Any,
        };
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Folded(item))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let fields = struct_fields(self.0).unwrap_or(&[]);
        let mut out = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            match field_for(fields, &key) {
                Some((name, shape)) => {
                    let v = access.next_value_seed(Folded(shape))?;
                    put(&mut out, name, shape, v);
                }
                None => {
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Checks `v` against `shape`; `path` is the JSON path so far, `field` whether its
/// last step is a struct field (Go words the two cases differently).
fn check_shape(v: &Value, shape: Shape, path: &str, field: bool) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    let (ok, go_type) = match shape {
        Shape::Str => (v.is_string(), "string"),
        Shape::Int => (v.as_i64().is_some(), "int"),
        Shape::Bool => (v.is_boolean(), "bool"),
        Shape::Map => (v.is_object(), "map[string]interface {}"),
        Shape::Strings => (v.is_array(), "[]string"),
        Shape::Struct(name, _) => (v.is_object(), name),
        Shape::List(name, _) => (v.is_array(), name),
        Shape::Loose(_) | Shape::Any => return Ok(()),
    };
    if !ok {
        let what = match v {
            Value::Number(n) if matches!(shape, Shape::Int) => format!("number {n}"),
            v => json_type(v).to_string(),
        };
        let into = if field { "Go struct field " } else { "" };
        return Err(format!("json: cannot unmarshal {what} into {into}RecipeResult.{path} of type {go_type}"));
    }
    match (shape, v) {
        (Shape::Struct(_, fields), Value::Object(map)) => {
            for (name, sub) in fields {
                if let Some(x) = map.get(*name) {
                    check_shape(x, *sub, &format!("{path}.{name}"), true)?;
                }
            }
        }
        (Shape::List(_, item), Value::Array(items)) => {
            for (i, x) in items.iter().enumerate() {
                check_shape(x, *item, &format!("{path}.{i}"), false)?;
            }
        }
        (Shape::Strings, Value::Array(items)) => {
            for (i, x) in items.iter().enumerate() {
                check_shape(x, Shape::Str, &format!("{path}.{i}"), false)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Decodes the body: one JSON value (whitespace may follow, nothing else: our stance
/// Q19), `null` = empty recipe, Go's error texts in `details.error`.
pub fn decode_body(bytes: &[u8]) -> Result<RecipeBody, InputError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::new(BODY, "EOF"));
    }
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<FoldedBody>();
    let value = match stream.next() {
        Some(Ok(FoldedBody(v))) => v,
        Some(Err(e)) => return Err(InputError::new(BODY, syntax_text(bytes, &e))),
        None => return Err(InputError::new(BODY, "EOF")),
    };
    let end = stream.byte_offset();
    if let Some(pos) = bytes[end..].iter().position(|b| !b.is_ascii_whitespace()) {
        let c = std::str::from_utf8(&bytes[end + pos..])
            .ok()
            .and_then(|s| s.chars().next())
            .unwrap_or(char::from(bytes[end + pos]));
        return Err(InputError::new(BODY, format!("invalid character {} after top-level value", quote_char(c))));
    }
    match &value {
        Value::Null => return Ok(RecipeBody::default()),
        Value::Object(map) => {
            for (name, shape) in RECIPE {
                if let Some(v) = map.get(*name) {
                    check_shape(v, *shape, name, true).map_err(|e| InputError::new(BODY, e))?;
                }
            }
        }
        other => {
            return Err(InputError::new(
                BODY,
                format!("json: cannot unmarshal {} into Go value of type recipe.RecipeResult", json_type(other)),
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| InputError::new(BODY, format!("json: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Result<Options, InputError> {
        Options::from_query(Some(q))
    }

    fn inner(r: Result<Options, InputError>) -> (String, Option<String>) {
        let e = r.unwrap_err();
        (e.message, e.error)
    }

    #[test]
    fn set_syntax_and_errors() {
        assert_eq!(parse_set("a:b:c=1").unwrap(), ("a".into(), "b:c".into(), "1".into()));
        assert_eq!(parse_set(":x=k=v").unwrap(), ("".into(), "x".into(), "k=v".into()));
        assert_eq!(
            inner(pairs("set=missing-colon")),
            (
                "Invalid set parameter".into(),
                Some("[INVALID_REQUEST] invalid format 'missing-colon': expected 'bundler:path=value'".into())
            )
        );
        assert_eq!(
            inner(pairs("set=a:=1")).1.unwrap(),
            "[INVALID_REQUEST] invalid format 'a:=1': path and value cannot be empty"
        );
        assert!(pairs("set=a:b").is_err());
        let o = pairs("set=a:x=1&set=a:x=2&set=b:y=3").unwrap();
        assert_eq!(o.sets["a"]["x"], "2");
        assert_eq!(o.sets["b"]["y"], "3");
    }

    #[test]
    fn selectors_and_tolerations() {
        let o = pairs("system-node-selector=a=b&system-node-selector=a=c&system-node-selector==x&accelerated-node-toleration=k=v=w:NoExecute&accelerated-node-toleration=:NoSchedule").unwrap();
        assert_eq!(o.system_selector.unwrap(), BTreeMap::from([("".into(), "x".into()), ("a".into(), "c".into())]));
        assert_eq!(o.accelerated_selector, None);
        assert_eq!(o.system_tolerations, vec![Toleration::exists()]);
        assert_eq!(
            o.accelerated_tolerations,
            vec![
                Toleration {
                    key: "k".into(),
                    operator: "Equal".into(),
                    value: "v=w".into(),
                    effect: "NoExecute".into()
                },
                Toleration { key: "".into(), operator: "Exists".into(), value: "".into(), effect: "NoSchedule".into() },
            ]
        );
        assert_eq!(
            inner(pairs("accelerated-node-selector=novalue")),
            (
                "Invalid accelerated-node-selector".into(),
                Some("[INVALID_REQUEST] invalid format \"novalue\", expected key=value".into())
            )
        );
        assert_eq!(inner(pairs("workload-selector=")).0, "Invalid workload-selector parameter");
        assert_eq!(
            inner(pairs("system-node-toleration=a:b:c")).1.unwrap(),
            "[INVALID_REQUEST] invalid format \"a:b:c\", expected key=value:effect or key:effect"
        );
        assert_eq!(
            inner(pairs("accelerated-node-toleration=nvidia.com/gpu=present:Sometimes")).1.unwrap(),
            "[INVALID_REQUEST] invalid taint effect: [INVALID_REQUEST] invalid taint effect \"Sometimes\", expected NoSchedule, PreferNoSchedule, or NoExecute"
        );
        assert_eq!(inner(pairs("system-node-toleration=k:noschedule")).0, "Invalid system-node-toleration");
        assert_eq!(Toleration::exists().to_value(), serde_json::json!({"operator": "Exists"}));
    }

    #[test]
    fn deployer_gate_nodes_bundlers() {
        assert_eq!(pairs("deployer=%20ArgoCD%20").unwrap().deployer, Deployer::ArgoCd);
        assert_eq!(pairs("deployer=").unwrap().deployer, Deployer::Helm);
        assert_eq!(pairs("deployer=argocd-helm&deployer=x").unwrap().deployer, Deployer::ArgoCdHelm);
        assert_eq!(
            inner(pairs("deployer=Foo")).1.unwrap(),
            "[INVALID_REQUEST] invalid deployer type \"Foo\": must be one of [argocd argocd-helm helm]"
        );
        assert_eq!(pairs("workload-gate=k=v:NoSchedule").unwrap().workload_gate.unwrap(), "k=v:NoSchedule");
        assert_eq!(pairs("workload-gate=k:NoExecute").unwrap().workload_gate.unwrap(), "k:NoExecute");
        assert_eq!(pairs("workload-gate=").unwrap().workload_gate, None);
        assert_eq!(
            inner(pairs("workload-gate=:NoSchedule")).1.unwrap(),
            "[INVALID_REQUEST] invalid format \":NoSchedule\", key cannot be empty"
        );
        assert_eq!(inner(pairs("workload-gate=k:Bad")).0, "Invalid workload-gate parameter");
        for (q, n) in [
            ("nodes=%2B5", 5),
            ("nodes=0", 0),
            ("nodes=", 0),
            ("nodes=-0", 0),
            ("nodes=007", 7),
            ("nodes=3&nodes=x", 3),
        ] {
            assert_eq!(pairs(q).unwrap().nodes, n, "{q}");
        }
        for q in ["nodes=-1", "nodes=1.5", "nodes=8abc", "nodes=+5", "nodes=0x10", "nodes=99999999999999999999"] {
            assert_eq!(inner(pairs(q)), ("nodes must be a non-negative integer".into(), None), "{q}");
        }
        assert_eq!(pairs("bundlers=a,%20b").unwrap().bundlers.unwrap(), vec!["a", "b"]);
        assert_eq!(inner(pairs("bundlers=")).0, "Invalid bundlers parameter");
        assert_eq!(inner(pairs("repo=%zz")).0, "Invalid query string");
    }

    #[test]
    fn dynamic_declarations() {
        let o = pairs("dynamic=gpuoperator:driver.version&deployer=argocd-helm").unwrap();
        assert_eq!(o.dynamic[0].key, "gpuoperator");
        assert_eq!(o.dynamic[0].path, "driver.version");
        assert_eq!(
            inner(pairs("dynamic=a:b=1")),
            (
                "Invalid dynamic parameter".into(),
                Some("[INVALID_REQUEST] invalid format \"a:b=1\": dynamic declaration does not accept '=value'".into())
            )
        );
        assert!(pairs("dynamic=nocolon").is_err());
        assert!(pairs("dynamic=:x").is_err());
        assert_eq!(inner(pairs("dynamic=a:b&deployer=argocd")).0, "Invalid dynamic parameter");
    }

    #[test]
    fn validation_order_is_the_documented_one() {
        assert_eq!(inner(pairs("nodes=-1&deployer=foo&set=missing-colon")).0, "Invalid set parameter");
        assert_eq!(inner(pairs("nodes=-1&deployer=foo")).0, "Invalid deployer parameter");
        assert_eq!(inner(pairs("workload-gate=x&system-node-selector=y")).0, "Invalid system-node-selector");
        assert_eq!(inner(pairs("nodes=x&workload-selector=y")).0, "Invalid workload-selector parameter");
    }

    #[test]
    fn body_errors_use_go_texts() {
        let err = |b: &str| decode_body(b.as_bytes()).unwrap_err().error.unwrap();
        assert_eq!(err(""), "EOF");
        assert_eq!(err("  \n"), "EOF");
        assert_eq!(err("{\"componentRefs\":"), "unexpected EOF");
        assert_eq!(err("{\"componentRefs\": [ }"), "invalid character '}' looking for beginning of value");
        assert_eq!(err("not json"), "invalid character 'o' in literal");
        assert_eq!(err("{x}"), "invalid character 'x' looking for beginning of object key string");
        assert_eq!(err("{\"a\" 1}"), "invalid character '1' after object key");
        assert_eq!(err("{}{"), "invalid character '{' after top-level value");
        assert_eq!(err("\"s\""), "json: cannot unmarshal string into Go value of type recipe.RecipeResult");
        assert_eq!(err("[1]"), "json: cannot unmarshal array into Go value of type recipe.RecipeResult");
        assert_eq!(
            err("{\"componentRefs\": {}}"),
            "json: cannot unmarshal object into Go struct field RecipeResult.componentRefs of type []recipe.ComponentRef"
        );
        assert_eq!(
            err("{\"componentRefs\": [{\"name\": 1}]}"),
            "json: cannot unmarshal number into Go struct field RecipeResult.componentRefs.0.name of type string"
        );
        assert_eq!(
            err("{\"componentRefs\": [1]}"),
            "json: cannot unmarshal number into RecipeResult.componentRefs.0 of type recipe.ComponentRef"
        );
        assert_eq!(
            err("{\"criteria\": {\"nodes\": 1.5}}"),
            "json: cannot unmarshal number 1.5 into Go struct field RecipeResult.criteria.nodes of type int"
        );
        assert_eq!(
            err("{\"metadata\": {\"excludedOverlays\": [{}]}}"),
            "json: cannot unmarshal object into RecipeResult.metadata.excludedOverlays.0 of type string"
        );
        assert_eq!(decode_body(b"null").unwrap(), RecipeBody::default());
        let body = decode_body(b"{\"componentRefs\":[{\"name\":\"a\",\"unknown\":1,\"overrides\":null}], \"x\": 2}\n")
            .unwrap();
        assert_eq!(body.component_refs[0].name, "a");
    }

    #[test]
    fn body_member_names_fold_case_like_go() {
        let body = decode_body(
            br#"{"KIND":"RecipeResult","ComponentRefs":[{"NAME":"gpu-operator","Version":"v1","OVERRIDES":{"Keep":1}}],
                "deploymentorder":["gpu-operator"],"Criteria":{"Service":"eks","NODES":3},
                "Validation":{"Readiness":{"Checks":["a"]}}}"#,
        )
        .unwrap();
        assert_eq!(body.kind, "RecipeResult");
        assert_eq!(body.component_refs[0].name, "gpu-operator");
        assert_eq!(body.component_refs[0].version, "v1");
        // Map keys inside `overrides` are data, not field names: kept as sent.
        assert_eq!(body.component_refs[0].overrides.get("Keep"), Some(&serde_json::json!(1)));
        assert_eq!(body.deployment_order, ["gpu-operator"]);
        let criteria = body.criteria.unwrap();
        assert_eq!((criteria.service.as_str(), criteria.nodes), ("eks", 3));
        assert_eq!(body.validation.unwrap().readiness.unwrap().checks, ["a"]);
    }

    #[test]
    fn repeated_body_members_follow_document_order() {
        // The later of two spellings of one field wins, whichever spelling it is.
        assert_eq!(decode_body(br#"{"kind":"a","KIND":"b"}"#).unwrap().kind, "b");
        assert_eq!(decode_body(br#"{"KIND":"b","kind":"a"}"#).unwrap().kind, "a");
        // A repeated object merges into the first; a repeated list replaces it.
        let body = decode_body(
            br#"{"metadata":{"version":"v1"},"Metadata":{"appliedOverlays":["base"]},
                "deploymentOrder":["a","b"],"deploymentOrder":["c"]}"#,
        )
        .unwrap();
        assert_eq!(body.metadata.version, "v1");
        assert_eq!(body.metadata.applied_overlays, ["base"]);
        assert_eq!(body.deployment_order, ["c"]);
        // Type errors name the field by its own spelling.
        assert_eq!(
            decode_body(br#"{"Kind": 5}"#).unwrap_err().error.unwrap(),
            "json: cannot unmarshal number into Go struct field RecipeResult.kind of type string"
        );
    }
}
