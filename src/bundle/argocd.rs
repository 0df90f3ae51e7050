//! The Argo CD deployers.
//!
//! - `argocd` (bundle spec §5): one `Application` per component with its sync wave,
//!   `values.yaml` files read through a second (`ref: values`) source, and an
//!   `app-of-apps.yaml` pointing at the Git repository that will hold the bundle.
//! - `argocd-helm` (spec §9.2): the bundle is itself a Helm chart whose templates
//!   create the Applications; static values travel in `static/`, install-time
//!   (`dynamic`) values in the chart's root `values.yaml`, manifests under
//!   `<component>/manifests/` for path-based sources.

use super::yaml::{self, Node};
use super::{Bundle, Component, Plan, checksums, recipe_yaml, values_file};
use serde_json::Value;
use std::fmt::Write;

/// Placeholder the Go server leaves for the values repository when no `repo` is given.
pub const REPO_PLACEHOLDER: &str = "'{{ .RepoURL }}'";
/// `repoURL` of `app-of-apps.yaml` when no `repo` is given.
pub const DEFAULT_REPO: &str = "https://github.com/YOUR-ORG/YOUR-REPO.git";

fn metadata(s: &mut String, c: &Component) {
    let _ = write!(
        s,
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {}\n  namespace: argocd\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{}\"\nspec:\n  project: default\n",
        c.spec.name, c.wave
    );
}

fn destination(s: &mut String, namespace: &str) {
    let _ = write!(
        s,
        "  destination:\n    server: https://kubernetes.default.svc\n    namespace: {namespace}\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n    syncOptions:\n      - CreateNamespace=true\n"
    );
}

/// `<component>/application.yaml` (spec §5.2; fields inserted verbatim). With a
/// `repo`, the values source points at it (our stance §7.4).
pub fn application(c: &Component, repo: &str) -> String {
    let mut s = String::with_capacity(1024);
    metadata(&mut s, c);
    if c.is_kustomize() {
        let _ = write!(
            s,
            "  source:\n    repoURL: {}\n    targetRevision: {}\n    path: {}\n",
            c.spec.source, c.spec.tag, c.spec.path
        );
    } else {
        let values_repo = if repo.is_empty() { REPO_PLACEHOLDER } else { repo };
        let _ = write!(
            s,
            "  sources:\n    - repoURL: {}\n      chart: {}\n      targetRevision: {}\n      helm:\n        valueFiles:\n          - $values/{}/values.yaml\n    - repoURL: {values_repo}\n      targetRevision: main\n      ref: values\n",
            c.spec.source,
            c.chart_name(),
            c.bare_version(),
            c.spec.name
        );
    }
    destination(&mut s, &c.spec.namespace);
    s
}

/// `app-of-apps.yaml` (spec §5.3).
pub fn app_of_apps(repo: &str) -> String {
    let repo = if repo.is_empty() { DEFAULT_REPO } else { repo };
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: nvidia-stack\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: {repo}\n    targetRevision: main\n    path: .\n    directory:\n      recurse: true\n      include: '*/application.yaml'\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: argocd\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n"
    )
}

fn component_table(s: &mut String, plan: &Plan) {
    s.push_str("| Wave | Component | Kind | Version | Namespace |\n|---|---|---|---|---|\n");
    for c in &plan.components {
        let (kind, version) =
            if c.is_kustomize() { ("Kustomize", c.spec.tag.as_str()) } else { ("Helm", c.bare_version()) };
        let _ = writeln!(s, "| {} | {} | {kind} | {version} | {} |", c.wave, c.spec.name, c.spec.namespace);
    }
}

fn readme(plan: &Plan, repo: &str, version: &str) -> String {
    let mut s = String::from("# AI Cluster Runtime bundle for Argo CD\n\n");
    let _ = writeln!(s, "Recipe Version: {}", plan.recipe.metadata.version);
    let _ = writeln!(s, "Bundler Version: {version}\n");
    s.push_str(
        "Each component directory holds an Argo CD `Application` (`application.yaml`) and,\n\
         for Helm components, the chart values (`values.yaml`). Sync waves follow the\n\
         deployment order, so Argo CD installs the components one wave at a time.\n\n## Components\n\n",
    );
    component_table(&mut s, plan);
    let target = if repo.is_empty() { DEFAULT_REPO } else { repo };
    let _ = write!(s, "\n## Deploying\n\n1. Commit this directory to the root of a Git repository ({target}).\n");
    if repo.is_empty() {
        s.push_str(
            "   Then replace `'{{ .RepoURL }}'` in every `application.yaml` and the `repoURL`\n   of `app-of-apps.yaml` with that repository's URL.\n",
        );
    }
    s.push_str(
        "2. Create the parent application, which picks up every `*/application.yaml`:\n\n```bash\nkubectl apply -n argocd -f app-of-apps.yaml\n```\n\n\
         3. Watch the rollout with `argocd app list` or in the Argo CD UI.\n\n\
         `checksums.txt` lists the SHA-256 of every file (`sha256sum -c checksums.txt`).\n",
    );
    s
}

/// Builds the `argocd` bundle.
pub fn bundle(plan: &Plan, repo: &str, version: &str) -> Bundle {
    let mut b = Bundle::default();
    let mut listed = Vec::new();
    for c in &plan.components {
        let dir = &c.spec.name;
        b.add(format!("{dir}/application.yaml"), application(c, repo), false);
        listed.push(format!("{dir}/application.yaml"));
        if !c.is_kustomize() {
            b.add(format!("{dir}/values.yaml"), values_file(&c.values), false);
            listed.push(format!("{dir}/values.yaml"));
        }
    }
    b.add("app-of-apps.yaml", app_of_apps(repo), false);
    b.add("README.md", readme(plan, repo, version), false);
    listed.extend(["app-of-apps.yaml".to_string(), "README.md".to_string()]);
    let sums = checksums(&b, &listed);
    b.add("checksums.txt", sums, false);
    b
}

// ---------------------------------------------------------------------------
// argocd-helm

/// Name of the generated chart.
pub const CHART_NAME: &str = "aicr-bundle";

/// A SemVer-looking chart version from the recipe version (`v` dropped); `0.1.0`
/// when there is none or it is not `MAJOR.MINOR.PATCH…`.
pub fn chart_version(recipe_version: &str) -> String {
    let v = recipe_version.strip_prefix('v').unwrap_or(recipe_version);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        v.to_string()
    } else {
        "0.1.0".into()
    }
}

/// Text spliced into a template: a YAML scalar with any `{{` neutralised.
fn tpl_scalar(s: &str) -> String {
    yaml::scalar(s).replace("{{", "{{ \"{{\" }}")
}

/// The bundle-repository source lines of a path-based Application source.
fn bundle_path_source(indent: &str, first: &str, name: &str) -> String {
    format!(
        "{first}repoURL: {{{{ required \"set repoURL: {name} is deployed from the bundle's repository\" .Values.repoURL | quote }}}}\n\
         {indent}targetRevision: {{{{ .Values.targetRevision | default \"main\" | quote }}}}\n\
         {indent}path: {{{{ .Values.path | default \".\" }}}}/{name}/manifests\n"
    )
}

/// `templates/<component>.yaml` of the argocd-helm chart.
pub fn chart_application(c: &Component) -> String {
    let name = &c.spec.name;
    let mut s = String::with_capacity(1536);
    let has_manifests = !c.manifests.is_empty();
    let chart_source = !c.is_kustomize() && (c.has_chart() || !has_manifests);
    if chart_source {
        let _ = writeln!(s, "{{{{- $static := .Files.Get \"static/{name}.yaml\" | fromYaml }}}}");
        let _ = writeln!(s, "{{{{- $overrides := index .Values {} | default dict }}}}", super::request::go_quote(name));
    }
    let _ = write!(
        s,
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {}\n  namespace: argocd\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{}\"\nspec:\n  project: default\n",
        tpl_scalar(name),
        c.wave
    );
    if c.is_kustomize() {
        let _ = write!(
            s,
            "  source:\n    repoURL: {}\n    targetRevision: {}\n    path: {}\n",
            tpl_scalar(&c.spec.source),
            tpl_scalar(&c.spec.tag),
            tpl_scalar(&c.spec.path)
        );
    } else if chart_source {
        let _ = write!(
            s,
            "  sources:\n    - repoURL: {}\n      chart: {}\n      targetRevision: {}\n      helm:\n        releaseName: {}\n        values: |\n          {{{{- mergeOverwrite $static $overrides | toYaml | nindent 10 }}}}\n",
            tpl_scalar(&c.spec.source),
            tpl_scalar(c.chart_name()),
            tpl_scalar(c.bare_version()),
            tpl_scalar(name)
        );
        if has_manifests {
            s.push_str(&bundle_path_source("      ", "    - ", name));
        }
    } else {
        s.push_str("  source:\n");
        s.push_str(&bundle_path_source("    ", "    ", name));
    }
    let _ = write!(
        s,
        "  destination:\n    server: https://kubernetes.default.svc\n    namespace: {}\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n    syncOptions:\n      - CreateNamespace=true\n",
        tpl_scalar(&c.spec.namespace)
    );
    s
}

/// `templates/aicr-stack.yaml`: the parent Application, rendered once `repoURL` is
/// set; it hands the install-time values on so Argo CD renders the chart the same way.
pub const STACK_TEMPLATE: &str = r#"{{- if .Values.repoURL }}
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ .Values.appName | default "aicr-stack" }}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {{ .Values.repoURL | quote }}
    targetRevision: {{ .Values.targetRevision | default "main" | quote }}
    path: {{ .Values.path | default "." | quote }}
    helm:
      valuesObject:
        {{- toYaml .Values | nindent 8 }}
  destination:
    server: https://kubernetes.default.svc
    namespace: argocd
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
{{- end }}
"#;

fn chart_yaml(plan: &Plan) -> String {
    let v = &plan.recipe.metadata.version;
    let mut entries = vec![
        ("apiVersion".to_string(), Node::Str("v2".into())),
        ("name".to_string(), Node::Str(CHART_NAME.into())),
        ("description".to_string(), Node::Str("Argo CD applications for an AI Cluster Runtime recipe".into())),
        ("type".to_string(), Node::Str("application".into())),
        ("version".to_string(), Node::Str(chart_version(v))),
    ];
    if !v.is_empty() {
        entries.push(("appVersion".to_string(), Node::Str(v.clone())));
    }
    yaml::to_string(&Node::Map(entries))
}

fn chart_values(plan: &Plan) -> String {
    let mut s = String::from(
        "# Install-time values of this chart.\n\
         # repoURL, targetRevision (default main), path (default .) and appName (default\n\
         # aicr-stack) locate the bundle for Argo CD; every component value can be\n\
         # overridden as <component>.<path>, e.g. --set gpu-operator.driver.version=X.\n---\n",
    );
    let mut root = serde_json::Map::new();
    for c in &plan.components {
        if let Some(cluster) = &c.cluster_values {
            root.insert(c.spec.name.clone(), Value::Object(cluster.clone()));
        }
    }
    if !root.is_empty() {
        s.push_str(&yaml::to_string(&Node::from_map(&root)));
    }
    s
}

fn chart_readme(plan: &Plan, version: &str) -> String {
    let mut s = String::from("# AI Cluster Runtime bundle as a Helm chart for Argo CD\n\n");
    let _ = writeln!(s, "Recipe Version: {}", plan.recipe.metadata.version);
    let _ = writeln!(s, "Bundler Version: {version}\n");
    s.push_str(
        "This directory is a Helm chart. Installing it creates one Argo CD `Application`\n\
         per component (in sync waves following the deployment order) and, once `repoURL`\n\
         is set, a parent application that keeps them in sync with the repository.\n\n## Components\n\n",
    );
    component_table(&mut s, plan);
    s.push_str(
        "\n## Installing\n\n```bash\nhelm install aicr-stack . -n argocd \\\n  --set repoURL=https://git.example.com/org/bundle.git\n```\n\n\
         `repoURL` (with `targetRevision` and `path`) tells Argo CD where this chart lives;\n\
         components with manifests are deployed from their `<component>/manifests/`\n\
         directory there, so they need it. Chart values live in `static/<component>.yaml`;\n\
         anything can be overridden at install time with `--set <component>.<path>=VALUE`.\n\
         `values.yaml` lists the values that were declared install-time (`dynamic`).\n\
         Note: like Helm's own `mergeOverwrite`, an override with an empty value (false, 0,\n\
         \"\") does not replace a non-empty static value.\n\n\
         `checksums.txt` lists the SHA-256 of every file (`sha256sum -c checksums.txt`).\n",
    );
    s
}

/// Builds the `argocd-helm` bundle.
pub fn chart_bundle(plan: &Plan, version: &str) -> Bundle {
    let mut b = Bundle::default();
    let mut listed = Vec::new();
    let mut add = |b: &mut Bundle, path: String, bytes: Vec<u8>| {
        b.add(path.clone(), bytes, false);
        listed.push(path);
    };
    add(&mut b, "Chart.yaml".into(), chart_yaml(plan).into_bytes());
    add(&mut b, "values.yaml".into(), chart_values(plan).into_bytes());
    for c in &plan.components {
        let name = &c.spec.name;
        if !c.is_kustomize() && (c.has_chart() || c.manifests.is_empty()) {
            let text = yaml::to_string(&Node::from_map(&c.values));
            add(&mut b, format!("static/{name}.yaml"), text.into_bytes());
        }
        add(&mut b, format!("templates/{name}.yaml"), chart_application(c).into_bytes());
        for (file, bytes) in &c.manifests {
            add(&mut b, format!("{name}/manifests/{file}"), bytes.clone());
        }
    }
    add(&mut b, "templates/aicr-stack.yaml".into(), STACK_TEMPLATE.as_bytes().to_vec());
    add(&mut b, "recipe.yaml".into(), recipe_yaml(&plan.recipe).into_bytes());
    add(&mut b, "README.md".into(), chart_readme(plan, version).into_bytes());
    let sums = checksums(&b, &listed);
    b.add("checksums.txt", sums, false);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_versions_are_semver() {
        assert_eq!(chart_version("v1.2.3"), "1.2.3");
        assert_eq!(chart_version("1.2.3-rc.1"), "1.2.3-rc.1");
        assert_eq!(chart_version("dev"), "0.1.0");
        assert_eq!(chart_version(""), "0.1.0");
        assert_eq!(chart_version("v9.9"), "0.1.0");
    }
}
