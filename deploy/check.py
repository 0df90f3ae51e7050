#!/usr/bin/env python3
"""Offline checks of everything under deploy/ (run by .ci/run).

1. Every manifest listed by deploy/kubernetes/kustomization.yaml (and nothing else
   in that folder) validates against the Kubernetes OpenAPI schemas bundled with
   the `kubernetes-validate` package, strictly (unknown fields are errors), for the
   oldest and newest Kubernetes versions we claim. The Prometheus Operator kinds
   (ServiceMonitor, PrometheusRule) have no schema there: they are checked against
   the small local schemas below, which cover the fields these manifests use.
   The kustomization as applied (`kubectl kustomize`, when kubectl is installed;
   otherwise the ConfigMap its generator makes) is validated the same way.
2. Cross-object facts: probes on /health and /ready, 3 replicas, a grace period
   longer than the shutdown delay plus drain timeout, selectors that match the pod
   labels, the HPA scaling the Deployment on CPU and aicr_http_requests_in_flight.
3. The Grafana dashboard parses, and every PromQL expression in it and in the alert
   rules names only metrics that src/metrics.rs registers (plus Prometheus's own
   `up`), only their labels (plus target labels Prometheus adds), and only `path`
   values that are real routes.
4. `nginx -t` on deploy/nginx/nginx.conf, when nginx is installed. With
   `--aicrd URL`, nginx is also started in front of that server and the cache is
   exercised: MISS then HIT, a 304 for a matching If-None-Match, one cached object
   per content coding.
5. The Dockerfile's shape (multi-stage, musl, non-root, port, entrypoint, version
   argument) and that its context filter keeps what the build reads.

Exit status 0 when everything holds; the last line is `N passed, N failed`.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBE = os.path.join(ROOT, "deploy", "kubernetes")
NGINX_CONF = os.path.join(ROOT, "deploy", "nginx", "nginx.conf")
METRICS_RS = os.path.join(ROOT, "src", "metrics.rs")
K8S_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
        failed += 1
        print(f"FAIL {name}: {e}")
    else:
        passed += 1
        print(f"ok   {name}")


# --------------------------------------------------------------------------
# Manifests

STRING = {"type": "string"}
LABELS = {"type": "object", "additionalProperties": STRING}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": STRING, "namespace": STRING, "labels": LABELS, "annotations": LABELS},
    "additionalProperties": False,
}
SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": LABELS},
    "additionalProperties": False,
}
# Minimal schemas for the monitoring.coreos.com/v1 kinds used here (the fields and
# types follow the Prometheus Operator API; only the subset these manifests use).
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": STRING,
            "kind": STRING,
            "metadata": METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "selector": SELECTOR,
                    "namespaceSelector": {
                        "type": "object",
                        "properties": {"matchNames": {"type": "array", "items": STRING}, "any": {"type": "boolean"}},
                        "additionalProperties": False,
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "port": STRING,
                                "path": {"type": "string", "pattern": "^/"},
                                "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                "scheme": {"enum": ["http", "https"]},
                            },
                        },
                    },
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": STRING,
            "kind": STRING,
            "metadata": METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": STRING,
                                "interval": STRING,
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                        "additionalProperties": False,
                                        "properties": {
                                            "alert": STRING,
                                            "record": STRING,
                                            "expr": STRING,
                                            "for": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)$"},
                                            "labels": LABELS,
                                            "annotations": LABELS,
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


def load_kustomization():
    with open(os.path.join(KUBE, "kustomization.yaml")) as f:
        return yaml.safe_load(f)


def resources():
    """(file, document) for every manifest the kustomization lists."""
    out = []
    for name in load_kustomization()["resources"]:
        with open(os.path.join(KUBE, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    out.append((name, doc))
    return out


def by_kind(kind):
    found = [doc for _, doc in resources() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def check_listing():
    k = load_kustomization()
    listed = set(k["resources"])
    generated = {f for g in k.get("configMapGenerator", []) for f in g.get("files", [])}
    present = {f for f in os.listdir(KUBE) if f != "kustomization.yaml"}
    assert listed | generated == present, f"listed {sorted(listed | generated)} but the folder has {sorted(present)}"


def check_schemas():
    for name, doc in resources():
        validate_doc(name, doc)


def validate_doc(name, doc):
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CRD_SCHEMAS:
        jsonschema.validate(doc, CRD_SCHEMAS[key])
        return
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            raise AssertionError(f"{name} ({doc['kind']}) against {version}: {e.message} at {list(e.path)}")
        except kubernetes_validate.SchemaNotFoundError as e:
            raise AssertionError(f"{name}: no schema for {key} in Kubernetes {version} ({e})")


def check_rendered():
    """The kustomization as applied: rendered by kubectl when installed; otherwise its
    generated ConfigMaps are built here (the other objects are checked file by file)."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", KUBE], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        docs = [d for d in yaml.safe_load_all(out.stdout) if d]
        assert len(docs) == len(resources()) + len(load_kustomization().get("configMapGenerator", [])), len(docs)
        for doc in docs:
            assert doc["metadata"].get("namespace", "aicrd") == "aicrd" or doc["kind"] == "Namespace"
            validate_doc("kubectl kustomize", doc)
        return
    k = load_kustomization()
    for gen in k.get("configMapGenerator", []):
        data = {}
        for f in gen["files"]:
            with open(os.path.join(KUBE, f)) as fh:
                data[os.path.basename(f)] = fh.read()
        labels = gen.get("options", {}).get("labels", {})
        doc = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": gen["name"], "namespace": k["namespace"], "labels": labels},
            "data": data,
        }
        validate_doc("configMapGenerator", doc)


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_deployment():
    d = by_kind("Deployment")
    spec = d["spec"]
    assert spec["replicas"] == 3, "3 replicas"
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()), "selector matches pods"
    (c,) = pod["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    env = env_of(c)
    drain = int(env.get("SHUTDOWN_TIMEOUT_SECONDS", "30")) + int(env.get("AICR_SHUTDOWN_DELAY_SECONDS", "0"))
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > drain, f"terminationGracePeriodSeconds {grace} must exceed delay + drain {drain}"
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["requests"]["cpu"], "a CPU request (the HPA's utilisation is relative to it)"
    assert pod.get("topologySpreadConstraints"), "topology spread"
    port = c["ports"][0]
    assert port["containerPort"] == int(env.get("PORT", "8080"))


def check_wiring():
    pod_labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]

    def matches(selector):
        return all(pod_labels.get(k) == v for k, v in selector.items())

    svc = by_kind("Service")
    assert matches(svc["spec"]["selector"]), "Service selects the pods"
    svc_port = svc["spec"]["ports"][0]
    assert svc_port["targetPort"] == "http"
    assert matches(by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]), "PDB selects the pods"
    assert matches(by_kind("NetworkPolicy")["spec"]["podSelector"]["matchLabels"]), "NetworkPolicy selects the pods"
    sm = by_kind("ServiceMonitor")
    assert all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics" and sm["spec"]["endpoints"][0]["port"] == svc_port["name"]
    hpa = by_kind("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", by_kind("Deployment")["metadata"]["name"])
    kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    assert kinds["Pods"]["pods"]["metric"]["name"] == "aicr_http_requests_in_flight"
    assert kinds["Pods"]["pods"]["metric"]["name"] in exported()[0]
    ing = by_kind("Ingress")
    assert ing["spec"]["tls"], "Ingress terminates TLS"
    hosts = {h for t in ing["spec"]["tls"] for h in t["hosts"]}
    assert all(r["host"] in hosts for r in ing["spec"]["rules"]), "every Ingress host has a certificate"


# --------------------------------------------------------------------------
# Metrics in alerts and dashboards

# Labels Prometheus attaches to every scraped series (ServiceMonitor target labels).
TARGET_LABELS = {"job", "instance", "pod", "namespace", "service", "endpoint", "container"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "inf", "nan",
}


def exported():
    """Metric names, their label names and the route label values, from src/metrics.rs."""
    text = open(METRICS_RS).read()
    names = set(re.findall(r'"(aicr_[a-z_]+)"', text))
    assert len(names) == 5, f"expected the five aicr_ metrics in src/metrics.rs, found {sorted(names)}"
    labels = set()
    for group in re.findall(r"&\[([^\]]*)\]", text):
        labels |= set(re.findall(r'"([a-z_]+)"', group))
    routes_src = re.search(r"ROUTES: \[&str; \d+\] =\s*\[([^\]]*)\]", text)
    routes = set(re.findall(r'"([^"]+)"', routes_src.group(1))) | {"unmatched"}
    histograms = set(re.findall(r'HistogramOpts::new\(\s*"(aicr_[a-z_]+)"', text))
    series = set(names)
    for h in histograms:
        series |= {h + "_bucket", h + "_sum", h + "_count"}
    return series, labels | {"le"}, routes


def promql_identifiers(expr):
    """(metric names, label names, path label values) used by a PromQL expression."""
    metrics, labels, paths = set(), set(), set()
    # Label matchers: {name op "value", ...}
    for body in re.findall(r"\{([^}]*)\}", expr):
        for name, op, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"', body):
            labels.add(name)
            if name == "path":
                paths |= set(value.split("|")) if op in ("=~", "!~") else {value}
    # Grouping clauses: by (a, b)
    for body in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        labels |= {x.strip() for x in body.split(",") if x.strip()}
    stripped = re.sub(r"\{[^}]*\}", " ", expr)
    stripped = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r'"[^"]*"', " ", stripped)
    stripped = re.sub(r"\$[a-zA-Z_]+", " ", stripped)
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", stripped):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        metrics.add(word)
    return metrics, labels, paths


def check_expressions(exprs, where):
    series, labels, routes = exported()
    assert exprs, f"no expressions in {where}"
    for expr in exprs:
        m, l, p = promql_identifiers(expr)
        unknown = m - series - {"up"}
        assert not unknown, f"{where}: {sorted(unknown)} not exported by aicrd in: {expr}"
        assert m, f"{where}: names no metric: {expr}"
        bad_labels = l - labels - TARGET_LABELS
        assert not bad_labels, f"{where}: unknown labels {sorted(bad_labels)} in: {expr}"
        bad_paths = p - routes
        assert not bad_paths, f"{where}: path values {sorted(bad_paths)} are not routes in: {expr}"


def check_alerts():
    rules = [r for g in by_kind("PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    check_expressions([r["expr"] for r in rules], "prometheusrule.yaml")
    used = set()
    for r in rules:
        used |= promql_identifiers(r["expr"])[0]
    base = {s.removesuffix("_bucket") for s in used}
    for name in exported()[0]:
        if not name.endswith(("_sum", "_count", "_bucket")) and name != "aicr_http_request_duration_seconds":
            assert name in base, f"no alert uses {name}"


def check_dashboard():
    with open(os.path.join(KUBE, "grafana-dashboard.json")) as f:
        dash = json.load(f)
    assert dash["uid"] and dash["title"]
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    check_expressions(exprs, "grafana-dashboard.json")
    used = set()
    for e in exprs:
        used |= promql_identifiers(e)[0]
    for name in ("aicr_http_requests_total", "aicr_http_requests_in_flight", "aicr_rate_limit_rejects_total",
                 "aicr_panic_recoveries_total", "aicr_http_request_duration_seconds_bucket"):
        assert name in used, f"the dashboard shows no {name}"


def self_test_promql():
    m, l, p = promql_identifiers(
        'sum by (le) (rate(foo_total{job="x", path=~"/a|/b"}[5m])) / on(pod) bar > 0 and up'
    )
    assert m == {"foo_total", "bar", "up"}, m
    assert l == {"le", "job", "path", "pod"}, l
    assert p == {"/a", "/b"}, p


# --------------------------------------------------------------------------
# Dockerfile (no engine here: a structural check of what the image must be)


def check_dockerfile():
    text = open(os.path.join(ROOT, "deploy", "Dockerfile")).read()
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages = [l for l in lines if l.upper().startswith("FROM ")]
    assert len(stages) >= 2, "multi-stage build"
    final = lines[lines.index(stages[-1]):]
    user = [l.split()[1] for l in final if l.upper().startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("0", "root"), "the final stage runs as a non-root user"
    assert "EXPOSE 8080" in final
    entry = [l for l in final if l.upper().startswith("ENTRYPOINT ")]
    assert entry and json.loads(entry[-1].split(None, 1)[1])[0].endswith("/aicrd"), "ENTRYPOINT is aicrd"
    assert any(l.startswith("ARG AICR_VERSION") for l in lines), "version build argument"
    assert any("AICR_VERSION=${AICR_VERSION}" in l for l in lines), "the build argument reaches build.rs"
    assert "--locked" in text and "musl" in text, "locked, static (musl) build"
    # The build context filter must keep everything the build reads.
    with open(os.path.join(ROOT, "deploy", "Dockerfile.dockerignore")) as f:
        ignored = [l.strip().rstrip("/") for l in f if l.strip() and not l.startswith("#")]
    needed = ["Cargo.toml", "Cargo.lock", "build.rs", "src", "recipes", "benches", ".git"]
    for path in needed:
        assert path not in ignored, f"{path} is needed by the build but ignored"
    for path in needed[:-1]:
        assert os.path.exists(os.path.join(ROOT, path)), f"{path} missing"


# --------------------------------------------------------------------------
# nginx


def nginx_config(workdir, listen=None, upstream=None):
    """The example config with writable paths under workdir (and other ports)."""
    text = open(NGINX_CONF).read().replace("/tmp/aicrd-nginx", workdir)
    text = text.replace("pid /tmp/aicrd-nginx.pid;", f"pid {workdir}/nginx.pid;")
    if listen:
        text = re.sub(r"listen \d+;", f"listen 127.0.0.1:{listen};", text)
    if upstream:
        text = re.sub(r"server 127\.0\.0\.1:8080;", f"server {upstream};", text)
    path = os.path.join(workdir, "nginx.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def check_nginx_syntax():
    with tempfile.TemporaryDirectory() as d:
        conf = nginx_config(d)
        out = subprocess.run(["nginx", "-t", "-c", conf], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fetch(url, headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def check_nginx_cache(aicrd):
    upstream = aicrd.split("://", 1)[1].rstrip("/")
    with tempfile.TemporaryDirectory() as d:
        # nginx started as root runs its workers as an unprivileged user: they must be
        # able to reach the cache under the (0700) temporary directory.
        os.chmod(d, 0o755)
        port = free_port()
        conf = nginx_config(d, listen=port, upstream=upstream)
        proc = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"], stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            url = base + "/v1/recipe?service=eks&accelerator=h100&intent=training"
            gz = {"Accept-Encoding": "gzip"}
            s1, h1, b1 = fetch(url, gz)
            s2, h2, b2 = fetch(url, gz)
            assert (s1, s2) == (200, 200), (s1, s2)
            assert h1.get("X-Cache-Status") == "MISS" and h2.get("X-Cache-Status") == "HIT", (h1, h2)
            assert h1["ETag"] == h2["ETag"] and b1 == b2 and h2.get("Content-Encoding") == "gzip"
            # Another coding is another cached object, with its own tag.
            s3, h3, _ = fetch(url, {"Accept-Encoding": "zstd;q=0, gzip;q=0"})
            assert s3 == 200 and h3.get("X-Cache-Status") == "MISS" and "Content-Encoding" not in h3, h3
            assert h3["ETag"] != h1["ETag"]
            # A client holding the current tag gets a 304 from the cache.
            s4, h4, b4 = fetch(url, {**gz, "If-None-Match": h1["ETag"]})
            assert s4 == 304 and b4 == b"", (s4, h4)
            # Query answers are cached too; errors are not.
            q = base + "/v1/query?service=eks&selector=criteria.service"
            assert fetch(q, {})[1].get("X-Cache-Status") == "MISS"
            assert fetch(q, {})[1].get("X-Cache-Status") == "HIT"
            bad = base + "/v1/recipe?service=nope"
            assert fetch(bad, {})[0] == 400 and fetch(bad, {})[1].get("X-Cache-Status") == "MISS"
            assert fetch(base + "/metrics", {})[0] == 404, "metrics are not exposed"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aicrd", help="base URL of a running aicrd to put nginx in front of")
    args = parser.parse_args()

    check("kustomization lists every manifest", check_listing)
    check(f"manifests validate (Kubernetes {', '.join(K8S_VERSIONS)}; CRDs: local schemas)", check_schemas)
    check("kustomization renders to valid objects (kubectl kustomize, or generated ConfigMaps)", check_rendered)
    check("deployment: replicas, probes, grace period, security", check_deployment)
    check("service, PDB, NetworkPolicy, ServiceMonitor, HPA, Ingress wiring", check_wiring)
    check("PromQL scanner self-test", self_test_promql)
    check("alert rules use only exported metrics, labels and routes", check_alerts)
    check("grafana dashboard parses and uses only exported metrics", check_dashboard)
    check("Dockerfile: multi-stage, static, non-root, EXPOSE 8080, ENTRYPOINT aicrd, version arg", check_dockerfile)
    if shutil.which("nginx"):
        check("nginx -t deploy/nginx/nginx.conf", check_nginx_syntax)
        if args.aicrd:
            check("nginx caches /v1/recipe and /v1/query by URL + coding, 304 on ETag", lambda: check_nginx_cache(args.aicrd))
    else:
        print("skip nginx checks: nginx is not installed")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
