//! Catalog checks, mixins and the opt-in merge rules, on small catalogs each test
//! writes into a temporary directory: one broken catalog per check, asserting that
//! the finding names the file and the field.

use aicrd::recipe::catalog::Catalog;
use aicrd::recipe::check::{Finding, Kind, Report};
use aicrd::recipe::criteria::{Criteria, CriteriaKey, RawCriteria};
use aicrd::recipe::resolve::{ResolveError, resolve};
use aicrd::review::check_catalog;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const REGISTRY: &str = r#"apiVersion: aicr.nvidia.com/v1alpha1
kind: ComponentRegistry
components:
  - name: alpha
    helm: {defaultRepository: "https://charts.example.test", defaultChart: alpha, defaultNamespace: alpha, defaultVersion: "1.0.0"}
  - name: beta
    helm: {defaultRepository: "https://charts.example.test", defaultChart: beta, defaultNamespace: beta, defaultVersion: "2.0.0"}
  - name: gamma
    helm: {defaultRepository: "https://charts.example.test", defaultChart: gamma, defaultNamespace: gamma, defaultVersion: "3.0.0"}
"#;

const BASE: &str = r#"kind: RecipeMetadata
apiVersion: aicr.nvidia.com/v1alpha1
metadata: {name: base}
spec:
  constraints:
    - {name: K8s.server.version, value: ">= 1.30"}
  componentRefs:
    - name: alpha
      valuesFile: components/alpha/values.yaml
      manifestFiles: [components/alpha/manifests/config.yaml]
"#;

const EKS: &str = r#"kind: RecipeMetadata
apiVersion: aicr.nvidia.com/v1alpha1
metadata: {name: eks}
spec:
  criteria: {service: eks}
  componentRefs:
    - name: beta
      dependencyRefs: [alpha]
"#;

const MANIFEST: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: {{ .Release.Namespace }}\ndata:\n  tag: {{ index .Values \"alpha\" \"image\" \"tag\" }}\n";

/// A catalog directory: the small valid catalog above with `changes` applied (a file
/// with empty text is removed).
fn catalog_dir(changes: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "aicrd-catalog-check-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = vec![
        ("registry.yaml", REGISTRY),
        ("overlays/base.yaml", BASE),
        ("overlays/eks.yaml", EKS),
        ("components/alpha/values.yaml", "image:\n  tag: v1\nlimits:\n  cpu: 1\n  memory: 1Gi\n"),
        ("components/alpha/manifests/config.yaml", MANIFEST),
    ];
    for (path, text) in changes {
        files.retain(|(p, _)| p != path);
        if !text.is_empty() {
            files.push((path, text));
        }
    }
    for (path, text) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

fn load(changes: &[(&str, &str)]) -> Catalog {
    Catalog::load(&catalog_dir(changes)).expect("fixture catalog loads")
}

fn load_error(changes: &[(&str, &str)]) -> String {
    Catalog::load(&catalog_dir(changes)).expect_err("fixture catalog must not load").to_string()
}

fn key(service: &str, os: &str) -> CriteriaKey {
    let raw = RawCriteria { service: Some(service.into()), os: Some(os.into()), ..RawCriteria::default() };
    raw.parse().unwrap().key
}

fn one(findings: &[Finding], kind: Kind) -> &Finding {
    let matching: Vec<&Finding> = findings.iter().filter(|f| f.kind == kind).collect();
    assert_eq!(matching.len(), 1, "expected one {kind:?} finding in {findings:#?}");
    matching[0]
}

#[test]
fn the_fixture_catalog_is_clean() {
    let report = check_catalog(&load(&[]));
    assert!(report.errors.is_empty() && report.warnings.is_empty(), "{report:#?}");
    assert_eq!(report.combinations, CriteriaKey::COUNT);
    assert_eq!(report.distinct_recipes, 2);
}

#[test]
fn the_reference_catalog_passes_without_findings() {
    let catalog = Catalog::load(Path::new("../shared/reference/aicr-v0.11.1/recipes")).unwrap();
    let report = check_catalog(&catalog);
    assert!(report.errors.is_empty() && report.warnings.is_empty(), "{report:#?}");
    assert_eq!(report.distinct_recipes, 37);
}

#[test]
fn the_embedded_catalog_passes_every_check_including_templates() {
    let catalog = Catalog::from_files(aicrd::table::embedded_catalog_files()).unwrap();
    let report: Report = check_catalog(&catalog);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn a_combination_that_does_not_resolve_names_the_overlay() {
    // gamma is in the registry but in no recipe that beta is part of.
    let eks = EKS.replace("dependencyRefs: [alpha]", "dependencyRefs: [alpha, gamma]");
    let report = check_catalog(&load(&[("overlays/eks.yaml", &eks)]));
    let f = one(&report.errors, Kind::Resolve);
    assert_eq!(f.error.file, "overlays/eks.yaml");
    assert_eq!(f.error.field.as_deref(), Some("spec.componentRefs[name=beta].dependencyRefs"));
    assert!(f.error.message.contains(r#"component "beta" references unknown dependency "gamma""#), "{f:?}");
    assert!(f.error.message.contains("combination eks.any.any.any.any"), "{f:?}");
}

#[test]
fn an_unknown_dependency_names_file_and_field() {
    let eks = EKS.replace("dependencyRefs: [alpha]", "dependencyRefs: [alpha, delta]");
    let report = check_catalog(&load(&[("overlays/eks.yaml", &eks)]));
    let f = one(&report.errors, Kind::UnknownDependency);
    assert_eq!(f.error.file, "overlays/eks.yaml");
    assert_eq!(f.error.field.as_deref(), Some("spec.componentRefs[0].dependencyRefs[1]"));
    assert!(f.error.message.contains("\"delta\", which is not in registry.yaml"));
}

#[test]
fn a_dependency_cycle_names_file_and_field() {
    let eks = format!(
        "{}    - name: gamma\n      dependencyRefs: [beta]\n",
        EKS.replace("dependencyRefs: [alpha]", "dependencyRefs: [gamma]")
    );
    let report = check_catalog(&load(&[("overlays/eks.yaml", &eks)]));
    let f = one(&report.errors, Kind::Resolve);
    assert_eq!(f.error.file, "overlays/eks.yaml");
    assert_eq!(f.error.field.as_deref(), Some("spec.componentRefs[name=beta].dependencyRefs"));
    assert!(f.error.message.contains("circular dependency detected: [beta gamma beta]"), "{f:?}");
}

#[test]
fn missing_values_and_manifest_files_are_load_errors() {
    let e = load_error(&[("components/alpha/values.yaml", "")]);
    assert!(e.starts_with("overlays/base.yaml: spec.componentRefs[0].valuesFile: "), "{e}");
    let e = load_error(&[("components/alpha/manifests/config.yaml", "")]);
    assert!(e.starts_with("overlays/base.yaml: spec.componentRefs[0].manifestFiles[0]: "), "{e}");
}

#[test]
fn an_undefined_template_key_names_the_manifest() {
    let manifest = MANIFEST.replace("\"tag\"", "\"digest\"");
    let report = check_catalog(&load(&[("components/alpha/manifests/config.yaml", &manifest)]));
    let f = one(&report.errors, Kind::Template);
    assert_eq!(f.error.file, "components/alpha/manifests/config.yaml");
    assert!(f.error.message.contains("digest"), "{f:?}");
    assert!(f.error.message.contains(":7:"), "the line is named: {f:?}");
}

#[test]
fn unpinned_versions_name_file_and_field() {
    let eks = EKS.replace("dependencyRefs: [alpha]", "version: \"^2.0.0\"\n      dependencyRefs: [alpha]");
    let report = check_catalog(&load(&[("overlays/eks.yaml", &eks)]));
    let f = one(&report.errors, Kind::Unpinned);
    assert_eq!(f.error.file, "overlays/eks.yaml");
    assert_eq!(f.error.field.as_deref(), Some("spec.componentRefs[0].version"));
    assert!(f.error.message.contains(r#"chart version "^2.0.0" is not pinned"#), "{f:?}");

    // A chart with no version at all, in the registry or the recipe.
    let registry = REGISTRY.replace(", defaultVersion: \"3.0.0\"", "");
    let base = format!("{BASE}    - name: gamma\n");
    let report = check_catalog(&load(&[("registry.yaml", &registry), ("overlays/base.yaml", &base)]));
    let f = one(&report.errors, Kind::Unpinned);
    assert_eq!(f.error.file, "overlays/base.yaml");
    assert_eq!(f.error.field.as_deref(), Some("spec.componentRefs[1].version"));
    assert!(f.error.message.contains("gamma: chart version is not pinned (empty)"), "{f:?}");

    let registry = REGISTRY.replace("defaultVersion: \"2.0.0\"", "defaultVersion: latest");
    let report = check_catalog(&load(&[("registry.yaml", &registry)]));
    let f = one(&report.errors, Kind::Unpinned);
    assert_eq!(
        (f.error.file.as_str(), f.error.field.as_deref()),
        ("registry.yaml", Some("components[1].helm.defaultVersion"))
    );
}

#[test]
fn a_shadowed_overlay_names_its_criteria() {
    // Overlay criteria are compared verbatim: `EKS` never matches a normalised query.
    let typo = EKS.replace("name: eks", "name: eks-typo").replace("service: eks", "service: EKS");
    let report = check_catalog(&load(&[("overlays/eks-typo.yaml", &typo)]));
    let f = one(&report.errors, Kind::Shadowed);
    assert_eq!((f.error.file.as_str(), f.error.field.as_deref()), ("overlays/eks-typo.yaml", Some("spec.criteria")));

    // An overlay without criteria that nothing inherits from is never applied either.
    let orphan = "kind: RecipeMetadata\napiVersion: aicr.nvidia.com/v1alpha1\nmetadata: {name: orphan}\nspec:\n  componentRefs:\n    - name: gamma\n";
    let report = check_catalog(&load(&[("overlays/orphan.yaml", orphan)]));
    let f = one(&report.errors, Kind::Shadowed);
    assert_eq!(f.error.file, "overlays/orphan.yaml");
    assert!(f.error.message.contains("no overlay inherits from it"), "{f:?}");
}

#[test]
fn equal_specificity_ties_are_warnings_naming_both_overlays() {
    let ubuntu = "kind: RecipeMetadata\napiVersion: aicr.nvidia.com/v1alpha1\nmetadata: {name: ubuntu}\nspec:\n  criteria: {os: ubuntu}\n  componentRefs:\n    - name: gamma\n";
    let report = check_catalog(&load(&[("overlays/ubuntu.yaml", ubuntu)]));
    assert!(report.errors.is_empty(), "{report:#?}");
    let f = one(&report.warnings, Kind::Tie);
    assert_eq!(f.error.file, "overlays/ubuntu.yaml");
    assert!(f.error.message.contains(r#"overlays "eks" and "ubuntu" both match with specificity 1"#), "{f:?}");
    assert!(f.error.message.contains("combination eks.any.any.ubuntu.any and 62 more"), "{f:?}");
}

// ---- mixins -------------------------------------------------------------------

const MIXIN_OS: &str = r#"kind: RecipeMixin
apiVersion: aicr.nvidia.com/v1alpha1
metadata: {name: os-ubuntu}
spec:
  constraints:
    - {name: OS.release.ID, value: ubuntu}
  componentRefs:
    - name: gamma
      dependencyRefs: [alpha]
"#;

const MIXIN_NS: &str = r#"kind: RecipeMixin
apiVersion: aicr.nvidia.com/v1alpha1
metadata: {name: alpha-extra}
spec:
  componentRefs:
    - name: alpha
      namespace: alpha-system
      manifestFiles: [components/alpha/manifests/extra.yaml]
"#;

fn with_mixins(eks_mixins: &str, child_mixins: &str) -> Vec<(&'static str, String)> {
    let eks = format!("{EKS}  mixins: [{eks_mixins}]\n");
    let child = format!(
        "kind: RecipeMetadata\napiVersion: aicr.nvidia.com/v1alpha1\nmetadata: {{name: eks-ubuntu}}\nspec:\n  base: eks\n  criteria: {{service: eks, os: ubuntu}}\n  mixins: [{child_mixins}]\n"
    );
    vec![
        ("overlays/eks.yaml", eks),
        ("overlays/eks-ubuntu.yaml", child),
        ("mixins/os-ubuntu.yaml", MIXIN_OS.to_string()),
        ("mixins/alpha-extra.yaml", MIXIN_NS.to_string()),
        ("components/alpha/manifests/extra.yaml", "kind: ConfigMap\n".to_string()),
    ]
}

fn borrow<'a>(files: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    files.iter().map(|(p, t)| (*p, t.as_str())).collect()
}

#[test]
fn mixins_accumulate_along_the_chain_and_merge_after_it() {
    let files = with_mixins("alpha-extra", "os-ubuntu, alpha-extra");
    let catalog = load(&borrow(&files));
    let resolved = resolve(&catalog, &Criteria { key: key("eks", "ubuntu"), nodes: 0 }).unwrap();
    assert_eq!(resolved.applied_overlays, ["base", "eks", "eks-ubuntu"]);
    let names: Vec<&str> = resolved.constraints.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["K8s.server.version", "OS.release.ID"]);
    let alpha = &resolved.components[0];
    assert_eq!(alpha.namespace, "alpha-system");
    assert_eq!(
        alpha.manifest_files,
        ["components/alpha/manifests/config.yaml", "components/alpha/manifests/extra.yaml"]
    );
    assert_eq!(resolved.components[2].name, "gamma");
    assert_eq!(resolved.deployment_order, ["alpha", "beta", "gamma"]);
    let body = String::from_utf8(resolved.to_json(&key("eks", "ubuntu"), 0, "dev")).unwrap();
    assert!(!body.contains("mixins"), "the mixins list is not part of the recipe: {body}");

    // Without the child, only eks's mixin applies.
    let resolved = resolve(&catalog, &Criteria { key: key("eks", "rhel"), nodes: 0 }).unwrap();
    assert_eq!(resolved.constraints.len(), 1);
    assert_eq!(resolved.components.len(), 2);
    assert!(check_catalog(&catalog).errors.is_empty());
}

#[test]
fn a_missing_mixin_is_a_load_error_with_the_spec_text() {
    let files = with_mixins("alpha-extra", "os-debian");
    let e = load_error(&borrow(&files));
    assert_eq!(e, r#"overlays/eks-ubuntu.yaml: spec.mixins[0]: mixin "os-debian" not found in recipes/mixins/"#);
}

#[test]
fn a_mixin_constraint_that_exists_already_conflicts() {
    let mut files = with_mixins("", "os-ubuntu");
    let clash = MIXIN_OS.replace("OS.release.ID, value: ubuntu", "K8s.server.version, value: \">= 1.31\"");
    files.push(("mixins/os-ubuntu.yaml", clash));
    let catalog = load(&borrow(&files));
    let e = resolve(&catalog, &Criteria { key: key("eks", "ubuntu"), nodes: 0 }).unwrap_err();
    assert!(matches!(e, ResolveError::MixinConstraintConflict { .. }));
    assert_eq!(
        e.to_string(),
        r#"mixin "os-ubuntu" constraint "K8s.server.version" conflicts with inheritance chain or another mixin"#
    );
    let report = check_catalog(&catalog);
    let f = one(&report.errors, Kind::Resolve);
    assert_eq!(
        (f.error.file.as_str(), f.error.field.as_deref()),
        ("mixins/os-ubuntu.yaml", Some("spec.constraints[name=K8s.server.version]"))
    );
}

#[test]
fn a_mixin_may_not_redefine_an_existing_component() {
    let mut files = with_mixins("alpha-extra", "");
    files.push(("mixins/alpha-extra.yaml", MIXIN_NS.replace("namespace: alpha-system", "version: \"9.9.9\"")));
    let catalog = load(&borrow(&files));
    let e = resolve(&catalog, &Criteria { key: key("eks", "any"), nodes: 0 }).unwrap_err();
    assert!(e.to_string().starts_with(r#"mixin "alpha-extra" componentRef "alpha" conflicts with inheritance chain or another mixin: it sets version"#), "{e}");
    let report = check_catalog(&catalog);
    let f = one(&report.errors, Kind::Resolve);
    assert_eq!(
        (f.error.file.as_str(), f.error.field.as_deref()),
        ("mixins/alpha-extra.yaml", Some("spec.componentRefs[name=alpha].version"))
    );
}

#[test]
fn mixins_are_decoded_strictly() {
    let mut files = with_mixins("", "");
    files.push(("mixins/os-ubuntu.yaml", MIXIN_OS.replace("      dependencyRefs", "      dependsOn")));
    let e = load_error(&borrow(&files));
    assert!(e.starts_with("mixins/os-ubuntu.yaml: spec.componentRefs[0].dependsOn: unknown field"), "{e}");

    files.push(("mixins/os-ubuntu.yaml", MIXIN_OS.replace("spec:\n", "spec:\n  criteria: {os: ubuntu}\n")));
    let e = load_error(&borrow(&files));
    assert!(e.starts_with("mixins/os-ubuntu.yaml: spec.criteria: unknown field"), "{e}");

    files.push(("mixins/os-ubuntu.yaml", MIXIN_OS.replace("kind: RecipeMixin", "kind: RecipeMetadata")));
    let e = load_error(&borrow(&files));
    assert!(e.starts_with("mixins/os-ubuntu.yaml: kind: files under mixins/ must be kind RecipeMixin"), "{e}");

    files.push(("mixins/os-ubuntu.yaml", MIXIN_OS.to_string()));
    files.push(("mixins/os-ubuntu-copy.yaml", MIXIN_OS.to_string()));
    let e = load_error(&borrow(&files));
    assert_eq!(
        e,
        r#"mixins/os-ubuntu.yaml: metadata.name: duplicate mixin name "os-ubuntu" (already defined in mixins/os-ubuntu-copy.yaml)"#
    );
}

// ---- opt-in merge rules -------------------------------------------------------

const DEEP: &str = r#"kind: RecipeMetadata
apiVersion: aicr.nvidia.com/v1alpha1
metadata: {name: eks-ubuntu}
spec:
  base: eks
  criteria: {service: eks, os: ubuntu}
  componentRefs:
    - name: beta
      dependencyRefs: [gamma, alpha]
      overrides:
        limits: {memory: 2Gi}
    - name: gamma
"#;

fn merged(registry: &str) -> (Vec<String>, serde_json::Value) {
    let eks =
        EKS.replace("dependencyRefs: [alpha]", "dependencyRefs: [alpha]\n      overrides:\n        limits: {cpu: 2}");
    let catalog = load(&[("overlays/eks.yaml", &eks), ("overlays/eks-ubuntu.yaml", DEEP), ("registry.yaml", registry)]);
    let resolved = resolve(&catalog, &Criteria { key: key("eks", "ubuntu"), nodes: 0 }).unwrap();
    let beta = resolved.components.iter().find(|c| c.name == "beta").unwrap();
    (beta.dependency_refs.clone(), serde_json::Value::Object(beta.overrides.clone()))
}

#[test]
fn merge_rules_default_to_v0_11_1() {
    let (deps, overrides) = merged(REGISTRY);
    assert_eq!(deps, ["gamma", "alpha"]);
    assert_eq!(overrides, serde_json::json!({"limits": {"memory": "2Gi"}}));
}

#[test]
fn a_catalog_can_opt_into_additive_dependencies_and_deep_merged_overrides() {
    let registry = format!("{REGISTRY}engine:\n  dependencyRefs: additive\n  overrides: deep-merge\n");
    let (deps, overrides) = merged(&registry);
    assert_eq!(deps, ["alpha", "gamma"]);
    assert_eq!(overrides, serde_json::json!({"limits": {"cpu": 2, "memory": "2Gi"}}));
}

#[test]
fn an_unknown_engine_option_is_a_load_error() {
    let registry = format!("{REGISTRY}engine:\n  overrides: deepest\n");
    let e = load_error(&[("registry.yaml", &registry)]);
    assert!(e.starts_with("registry.yaml: ") && e.contains("deepest"), "{e}");
}

// ---- aicrd diff ---------------------------------------------------------------

fn diff_pair() -> (PathBuf, PathBuf) {
    let eks_from = format!("{EKS}  validation:\n    conformance:\n      checks: [a, b]\n");
    let from = catalog_dir(&[("overlays/eks.yaml", &eks_from)]);
    let eks_to = format!(
        "{}    - name: gamma\n  validation:\n    conformance:\n      checks: [a, c]\n",
        EKS.replace("dependencyRefs: [alpha]", "version: \"2.1.0\"\n      dependencyRefs: [alpha, gamma]")
    );
    let to = catalog_dir(&[
        ("overlays/eks.yaml", &eks_to),
        ("overlays/base.yaml", &BASE.replace(">= 1.30", ">= 1.31")),
        ("components/alpha/values.yaml", "image:\n  tag: v2\nlimits:\n  cpu: 1\n  memory: 1Gi\n"),
    ]);
    (from, to)
}

fn aicrd(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aicrd")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn diff_of_two_catalogs_lists_changes_per_combination() {
    let (from, to) = diff_pair();
    assert_eq!(aicrd::review::diff_dirs(&from, &from).unwrap(), "");
    let text = aicrd::review::diff_dirs(&from, &to).unwrap();
    let groups: Vec<&str> = text.split("@@ ").skip(1).collect();
    assert_eq!(groups.len(), 2, "{text}");
    // Combinations come in canonical-key order: the aks ones (no eks overlay) first.
    let others = groups[0];
    assert!(others.starts_with("2268 combinations\n@ aks.a100.any.amazonlinux.any\n"), "{others}");
    assert!(others.ends_with(
        "  ~ alpha: values image.tag: \"v1\" -> \"v2\"\n  ~ constraint K8s.server.version: value: \">= 1.30\" -> \">= 1.31\"\n"
    ), "{others}");
    let eks = groups[1];
    assert!(eks.starts_with("378 combinations\n@ eks."), "{eks}");
    let changes: Vec<&str> = eks.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        changes,
        [
            "  + component gamma@3.0.0",
            "  ~ alpha: values image.tag: \"v1\" -> \"v2\"",
            "  ~ beta: version 2.0.0 -> 2.1.0",
            "  ~ beta: dependencyRefs: +gamma",
            "  ~ constraint K8s.server.version: value: \">= 1.30\" -> \">= 1.31\"",
            "  ~ validation conformance: checks: +c -b",
        ]
    );
    assert!(text.ends_with("2646 of 2646 combinations differ (2 distinct change sets)\n"), "{text}");
}

#[test]
fn diff_of_two_exports_and_exit_codes() {
    let (from, to) = diff_pair();
    let out =
        |dir: &Path, tag: &str| dir.with_file_name(format!("{}-{tag}", dir.file_name().unwrap().to_string_lossy()));
    let (a, b) = (out(&from, "export"), out(&to, "export"));
    for (catalog, dir, format) in [(&from, &a, "yaml"), (&to, &b, "json")] {
        let (code, _) = aicrd(&[
            "export".as_ref(),
            "--recipes".as_ref(),
            catalog.as_os_str(),
            "--out".as_ref(),
            dir.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(code, 0);
    }
    let (code, text) = aicrd(&["diff".as_ref(), "--from".as_ref(), a.as_os_str(), "--to".as_ref(), a.as_os_str()]);
    assert_eq!((code, text.as_str()), (0, ""));
    let (code, text) = aicrd(&["diff".as_ref(), "--from".as_ref(), a.as_os_str(), "--to".as_ref(), b.as_os_str()]);
    assert_eq!(code, 1, "{text}");
    // Exports carry no values files: the alpha values change is invisible, the rest shows.
    assert!(text.contains("\n  ~ beta: version 2.0.0 -> 2.1.0\n"), "{text}");
    assert!(!text.contains("image.tag"), "{text}");
    assert!(text.ends_with("2646 of 2646 combinations differ (2 distinct change sets)\n"), "{text}");
    // A catalog against its own export: the same recipes.
    let (code, text) = aicrd(&["diff".as_ref(), "--from".as_ref(), from.as_os_str(), "--to".as_ref(), a.as_os_str()]);
    assert_eq!((code, text.as_str()), (0, ""));
    let (code, _) =
        aicrd(&["diff".as_ref(), "--from".as_ref(), from.as_os_str(), "--to".as_ref(), "/nonexistent".as_ref()]);
    assert_eq!(code, 2);
}

#[test]
fn aicrd_check_and_serve_refuse_a_broken_catalog_alike() {
    let good = catalog_dir(&[]);
    let (code, text) = aicrd(&["check".as_ref(), "--recipes".as_ref(), good.as_os_str()]);
    assert_eq!((code, text.as_str()), (0, "catalog ok: 2646 combinations, 2 distinct recipes, 0 warnings\n"));

    let eks = EKS.replace("dependencyRefs: [alpha]", "dependencyRefs: [alpha, delta]");
    let broken = catalog_dir(&[("overlays/eks.yaml", &eks)]);
    let expected =
        "overlays/eks.yaml: spec.componentRefs[0].dependencyRefs[1]: component \"beta\" depends on \"delta\"";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aicrd"))
        .args(["check".as_ref(), "--recipes".as_ref(), broken.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{out:?}");

    // serve fails before it binds; a server that started anyway is stopped, and fails the test.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aicrd"))
        .args(["serve".as_ref(), "--recipes".as_ref(), broken.as_os_str(), "--bind".as_ref(), "127.0.0.1".as_ref()])
        .args(["--port", "0", "--log-format", "text"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    for _ in 0..600 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "serve must refuse the catalog");
    assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{out:?}");
}
