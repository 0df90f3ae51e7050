//! The embedded product catalog (`recipes/`): representative answers pinned through
//! the HTTP router — one case per service, accelerator, OS and platform — and the
//! shape rules the catalog keeps: every combination resolves, every overlay is the
//! most specific match somewhere, and where two overlays tie on specificity the
//! answer does not depend on which goes first.

mod common;

use aicrd::recipe::catalog::{Catalog, Overlay};
use aicrd::recipe::criteria::{Criteria, CriteriaKey};
use aicrd::recipe::resolve::{matches, overlay_order, resolve};
use aicrd::table::embedded_catalog_files;
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

fn app() -> &'static aicrd::AppState {
    static STATE: OnceLock<aicrd::AppState> = OnceLock::new();
    STATE.get_or_init(state)
}

fn catalog() -> Catalog {
    Catalog::from_files(embedded_catalog_files()).expect("embedded catalog loads")
}

/// `GET /v1/recipe?<query>` as JSON.
async fn recipe(query: &str) -> Value {
    let reply = get(app(), &format!("/v1/recipe?{query}"), &[]).await;
    assert_eq!(reply.status, 200, "{query}: {:?}", reply.body);
    reply.json()
}

/// One selected value of the hydrated `/v1/query` document.
async fn value(query: &str, selector: &str) -> Value {
    let reply = get(app(), &format!("/v1/query?{query}&selector={selector}"), &[]).await;
    assert_eq!(reply.status, 200, "{query} {selector}: {:?}", reply.body);
    reply.json()
}

fn overlays(r: &Value) -> Vec<&str> {
    r["metadata"]["appliedOverlays"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

fn component<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["componentRefs"].as_array().unwrap().iter().find(|c| c["name"] == name)
}

fn names(r: &Value) -> BTreeSet<&str> {
    r["componentRefs"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
}

fn constraint<'a>(r: &'a Value, name: &str) -> Option<&'a str> {
    r["constraints"].as_array().unwrap().iter().find(|c| c["name"] == name).map(|c| c["value"].as_str().unwrap())
}

fn conformance(r: &Value) -> Vec<&str> {
    r["validation"]["conformance"]["checks"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

fn position(r: &Value, name: &str) -> usize {
    r["deploymentOrder"].as_array().unwrap().iter().position(|v| v == name).unwrap_or_else(|| panic!("{name}"))
}

// --- services -----------------------------------------------------------------------

#[tokio::test]
async fn eks_brings_ebs_storage_and_efa() {
    let q = "service=eks&accelerator=h100&intent=training&os=ubuntu";
    let r = recipe(q).await;
    assert_eq!(overlays(&r), ["base", "eks", "eks-training", "h100-eks-training", "h100-eks-ubuntu-training"]);
    let efa = component(&r, "aws-efa").unwrap();
    assert_eq!(efa["chart"], "aws-efa-k8s-device-plugin");
    assert_eq!(efa["source"], "https://aws.github.io/eks-charts");
    assert_eq!(efa["version"], "v0.5.3");
    assert_eq!(efa["namespace"], "kube-system");
    assert_eq!(component(&r, "aws-ebs-csi-driver").unwrap()["version"], "2.55.0");
    // Prometheus keeps its data on an EBS volume, so the CSI driver goes first.
    assert!(position(&r, "aws-ebs-csi-driver") < position(&r, "kube-prometheus-stack"));
    assert_eq!(
        value(q, "components.kube-prometheus-stack.values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName").await,
        "gp2"
    );
    assert_eq!(constraint(&r, "K8s.server.version"), Some(">= 1.32.4"));
}

#[tokio::test]
async fn gke_a3_mega_training_gets_tcpxo() {
    let q = "service=gke&accelerator=h100&intent=training&os=cos";
    let r = recipe(q).await;
    let tcpxo = component(&r, "gke-nccl-tcpxo").expect("tcpxo on A3 Mega training");
    assert_eq!(tcpxo["namespace"], "kube-system");
    assert_eq!(tcpxo["dependencyRefs"], json!(["gpu-operator"]));
    assert_eq!(
        tcpxo["manifestFiles"],
        json!([
            "components/gke-nccl-tcpxo/manifests/nccl-tcpxo-installer.yaml",
            "components/gke-nccl-tcpxo/manifests/nri-device-injector.yaml"
        ])
    );
    assert!(position(&r, "gpu-operator") < position(&r, "gke-nccl-tcpxo"));
    // TCPXO is a multi-node training fabric: inference on the same hardware has none.
    let inference = recipe("service=gke&accelerator=h100&intent=inference&os=cos").await;
    assert!(component(&inference, "gke-nccl-tcpxo").is_none());
    assert!(component(&r, "aws-efa").is_none() && component(&r, "network-operator").is_none());
}

#[tokio::test]
async fn aks_brings_infiniband_and_keeps_the_node_toolkit() {
    let q = "service=aks&accelerator=h100&intent=inference&os=ubuntu&platform=dynamo";
    let r = recipe(q).await;
    assert_eq!(
        overlays(&r),
        [
            "base",
            "aks",
            "aks-inference",
            "h100-aks-inference",
            "h100-aks-ubuntu-inference",
            "h100-aks-ubuntu-inference-dynamo"
        ]
    );
    let net = component(&r, "network-operator").unwrap();
    assert_eq!((net["version"].as_str(), net["namespace"].as_str()), (Some("25.1.0"), Some("nvidia-network-operator")));
    assert_eq!(value(q, "components.gpu-operator.values.toolkit.enabled").await, false);
    assert_eq!(value(q, "components.gpu-operator.values.mig.strategy").await, "mixed");
    assert_eq!(
        value(q, "components.kube-prometheus-stack.values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName").await,
        "managed-csi"
    );
}

#[tokio::test]
async fn oke_uses_the_image_driver_and_rdma_for_training() {
    let q = "service=oke&accelerator=h100&intent=training";
    let r = recipe(q).await;
    assert_eq!(overlays(&r), ["base", "oke", "oke-training"]);
    assert_eq!(component(&r, "network-operator").unwrap()["version"], "25.1.0");
    assert_eq!(value(q, "components.gpu-operator.values.driver.enabled").await, false);
    assert_eq!(value(q, "components.nvidia-dra-driver-gpu.values.nvidiaDriverRoot").await, "/");
    let inference = recipe("service=oke&intent=inference").await;
    assert!(component(&inference, "kgateway").is_some() && component(&inference, "network-operator").is_none());
}

#[tokio::test]
async fn kind_is_gpu_agnostic() {
    let q = "service=kind&accelerator=rtx-pro-6000&intent=inference&platform=dynamo";
    let r = recipe(q).await;
    assert_eq!(overlays(&r), ["base", "kind", "kind-inference", "kind-inference-dynamo"]);
    // Same stack for another GPU model.
    let h100 = recipe("service=kind&accelerator=h100&intent=inference&platform=dynamo").await;
    assert_eq!(h100["componentRefs"], r["componentRefs"]);
    assert_eq!(value(q, "components.gpu-operator.values.driver.enabled").await, false);
    assert_eq!(value(q, "components.gpu-operator.values.toolkit.enabled").await, false);
    assert!(!conformance(&r).contains(&"cluster-autoscaling"));
    let training = recipe("service=kind&intent=training&platform=kubeflow").await;
    assert_eq!(overlays(&training), ["base", "kind", "kind-training", "kind-training-kubeflow"]);
    assert!(component(&training, "kubeflow-trainer").is_some());
}

#[tokio::test]
async fn lke_serves_inference_on_linode_block_storage() {
    let q = "service=lke&intent=inference";
    let r = recipe(q).await;
    assert_eq!(overlays(&r), ["base", "lke", "lke-inference"]);
    assert!(names(&r).is_superset(&BTreeSet::from(["kgateway", "kgateway-crds"])));
    assert_eq!(
        value(q, "components.kube-prometheus-stack.values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName").await,
        "linode-block-storage-retain"
    );
}

// --- accelerators ---------------------------------------------------------------------

#[tokio::test]
async fn h100_training_on_eks_has_gdrcopy_and_a_bandwidth_floor() {
    let q = "service=eks&accelerator=h100&intent=training";
    let r = recipe(q).await;
    assert_eq!(value(q, "components.gpu-operator.values.gdrcopy.enabled").await, true);
    let perf = &r["validation"]["performance"];
    assert_eq!(perf["checks"], json!(["nccl-all-reduce-bw"]));
    assert_eq!(perf["constraints"][0]["value"], ">= 300");
}

#[tokio::test]
async fn gb200_turns_on_compute_domains_and_others_do_not() {
    for intent in ["training", "inference"] {
        let q = format!("service=eks&accelerator=gb200&intent={intent}&os=ubuntu");
        assert_eq!(value(&q, "components.nvidia-dra-driver-gpu.values.resources.computeDomains.enabled").await, true);
        assert_eq!(value(&q, "components.nvidia-dra-driver-gpu.values.resources.gpus.enabled").await, true);
    }
    for accelerator in ["h100", "b200", "a100"] {
        let q = format!("service=eks&accelerator={accelerator}&intent=training");
        assert_eq!(
            value(&q, "components.nvidia-dra-driver-gpu.values.resources.computeDomains.enabled").await,
            false,
            "{accelerator}"
        );
    }
}

#[tokio::test]
async fn b200_on_eks_has_its_own_layer() {
    let q = "service=eks&accelerator=b200&intent=training";
    let r = recipe(q).await;
    assert_eq!(overlays(&r), ["base", "eks", "eks-training", "b200-eks-training"]);
    assert_eq!(value(q, "components.gpu-operator.values.gdrcopy.enabled").await, true);
    assert_eq!(value(q, "components.gpu-operator.values.driver.useOpenKernelModules").await, true);
}

#[tokio::test]
async fn a100_inference_uses_mixed_mig() {
    let q = "service=eks&accelerator=a100&intent=inference";
    assert_eq!(overlays(&recipe(q).await), ["base", "eks", "eks-inference", "a100-eks-inference"]);
    assert_eq!(value(q, "components.gpu-operator.values.mig.strategy").await, "mixed");
    let aks = "service=aks&accelerator=a100&intent=inference";
    assert_eq!(value(aks, "components.gpu-operator.values.mig.strategy").await, "mixed");
}

#[tokio::test]
async fn l40_and_rtx_pro_6000_get_the_generic_service_stack() {
    let l40 = recipe("service=eks&accelerator=l40&intent=inference").await;
    assert_eq!(overlays(&l40), ["base", "eks", "eks-inference"]);
    assert!(component(&l40, "kgateway").is_some());
    let rtx = recipe("service=eks&accelerator=rtx-pro-6000&intent=inference").await;
    assert_eq!(rtx["componentRefs"], l40["componentRefs"]);
}

// --- operating systems ------------------------------------------------------------------

#[tokio::test]
async fn ubuntu_pins_release_and_kernel() {
    let r = recipe("service=eks&accelerator=gb200&intent=training&os=ubuntu").await;
    assert_eq!(constraint(&r, "OS.release.ID"), Some("ubuntu"));
    assert_eq!(constraint(&r, "OS.release.VERSION_ID"), Some("24.04"));
    assert_eq!(constraint(&r, "OS.sysctl./proc/sys/kernel/osrelease"), Some(">= 6.8"));
}

#[tokio::test]
async fn amazon_linux_uses_the_ami_driver() {
    let q = "service=eks&accelerator=h100&intent=training&os=al2023";
    let r = recipe(q).await;
    assert_eq!(r["criteria"]["os"], "amazonlinux");
    assert_eq!(overlays(&r).last(), Some(&"h100-eks-amazonlinux-training"));
    assert_eq!(constraint(&r, "OS.release.ID"), Some("amzn"));
    assert_eq!(constraint(&r, "OS.release.VERSION_ID"), Some("2023"));
    assert_eq!(value(q, "components.gpu-operator.values.driver.enabled").await, false);
    assert_eq!(value(q, "components.gpu-operator.values.toolkit.enabled").await, false);
    assert_eq!(value(q, "components.gpu-operator.values.gdrcopy.enabled").await, false);
    assert_eq!(value(q, "components.nvidia-dra-driver-gpu.values.nvidiaDriverRoot").await, "/");
    // The Ubuntu host tuning of the H100 layer is off, and nothing waits for it.
    assert_eq!(component(&r, "skyhook-customizations").unwrap()["overrides"]["enabled"], false);
    assert_eq!(
        component(&r, "gpu-operator").unwrap()["dependencyRefs"],
        json!(["cert-manager", "kube-prometheus-stack"])
    );
    // The accelerator layer still applies underneath.
    assert_eq!(value(q, "components.gpu-operator.values.cdi.enabled").await, true);
    // Ubuntu nodes on the same service get the operator's driver.
    let ubuntu = "service=eks&accelerator=h100&intent=training&os=ubuntu";
    assert_eq!(value(ubuntu, "components.gpu-operator.values.driver.enabled").await, true);
    assert_eq!(value(ubuntu, "components.nvidia-dra-driver-gpu.values.nvidiaDriverRoot").await, "/run/nvidia/driver");
}

#[tokio::test]
async fn cos_uses_the_gke_installed_driver() {
    let q = "service=gke&os=cos";
    let r = recipe(q).await;
    assert_eq!(constraint(&r, "OS.release.ID"), Some("cos"));
    assert_eq!(value(q, "components.gpu-operator.values.driver.enabled").await, false);
    assert_eq!(
        value(q, "components.gpu-operator.values.hostPaths.driverInstallDir").await,
        "/home/kubernetes/bin/nvidia"
    );
    assert_eq!(value(q, "components.gpu-operator.values.toolkit.installDir").await, "/home/kubernetes/bin/nvidia");
    assert_eq!(
        value(q, "components.nvidia-dra-driver-gpu.values.nvidiaDriverRoot").await,
        "/home/kubernetes/bin/nvidia"
    );
    assert!(
        component(&r, "gpu-operator").unwrap()["manifestFiles"]
            .as_array()
            .unwrap()
            .contains(&json!("components/gpu-operator/manifests/gke-resource-quota.yaml"))
    );
}

#[tokio::test]
async fn gke_ubuntu_shares_the_gke_driver_setup_without_cos_tuning() {
    let q = "service=gke&accelerator=h100&intent=inference&os=ubuntu";
    let r = recipe(q).await;
    assert_eq!(overlays(&r), ["base", "gke-ubuntu", "gke-ubuntu-inference"]);
    assert_eq!(constraint(&r, "OS.release.ID"), Some("ubuntu"));
    assert_eq!(value(q, "components.gpu-operator.values.driver.enabled").await, false);
    assert_eq!(value(q, "components.gpu-operator.values.toolkit.installDir").await, "/home/kubernetes/bin/nvidia");
    assert_eq!(
        value(q, "components.nvidia-dra-driver-gpu.values.nvidiaDriverRoot").await,
        "/home/kubernetes/bin/nvidia"
    );
    assert!(component(&r, "kgateway").is_some());
    // COS keeps its writable-/etc workaround for Skyhook; Ubuntu needs none.
    let cos = "service=gke&accelerator=h100&intent=inference&os=cos";
    assert_eq!(
        value(cos, "components.skyhook-operator.values.controllerManager.manager.env.copyDirRoot").await,
        "/etc/skyhook"
    );
    assert!(component(&r, "skyhook-operator").unwrap().get("overrides").is_none());
}

#[tokio::test]
async fn talos_uses_system_extensions() {
    let q = "os=talos&accelerator=h100&intent=training";
    let r = recipe(q).await;
    assert_eq!(overlays(&r), ["base", "talos"]);
    assert_eq!(constraint(&r, "OS.release.ID"), Some("talos"));
    assert_eq!(value(q, "components.gpu-operator.values.driver.enabled").await, false);
    assert_eq!(value(q, "components.gpu-operator.values.toolkit.enabled").await, false);
    assert_eq!(value(q, "components.nvidia-dra-driver-gpu.values.nvidiaDriverRoot").await, "/");
    // The same holds under a service chain: the os layer and the service layer meet.
    let kind = "service=kind&os=talos&intent=inference";
    assert_eq!(overlays(&recipe(kind).await), ["base", "talos", "kind", "kind-inference"]);
    assert_eq!(value(kind, "components.gpu-operator.values.driver.enabled").await, false);
}

#[tokio::test]
async fn rhel_keeps_the_operator_driver_of_its_service() {
    let r = recipe("service=eks&accelerator=h100&intent=training&os=rhel").await;
    assert_eq!(overlays(&r).last(), Some(&"h100-eks-training"));
    assert_eq!(constraint(&r, "OS.release.ID"), None);
    let q = "service=eks&accelerator=h100&intent=training&os=rhel";
    assert_eq!(value(q, "components.gpu-operator.values.driver.enabled").await, true);
}

// --- platforms ------------------------------------------------------------------------

#[tokio::test]
async fn kubeflow_adds_the_trainer() {
    let r = recipe("service=eks&accelerator=gb200&intent=training&os=amazonlinux&platform=kubeflow").await;
    assert_eq!(overlays(&r).last(), Some(&"gb200-eks-amazonlinux-training-kubeflow"));
    let trainer = component(&r, "kubeflow-trainer").unwrap();
    assert_eq!(trainer["source"], "oci://ghcr.io/kubeflow/charts");
    assert_eq!(trainer["version"], "2.1.0");
    assert_eq!(trainer["namespace"], "kubeflow");
    assert!(position(&r, "gpu-operator") < position(&r, "kubeflow-trainer"));
}

#[tokio::test]
async fn dynamo_adds_the_platform_on_top_of_the_gateway() {
    let r = recipe("service=eks&accelerator=b200&intent=inference&os=amazonlinux&platform=dynamo").await;
    assert_eq!(overlays(&r).last(), Some(&"b200-eks-amazonlinux-inference-dynamo"));
    for name in ["dynamo-crds", "dynamo-platform", "kgateway", "kgateway-crds", "kai-scheduler"] {
        assert!(component(&r, name).is_some(), "{name}");
    }
    assert_eq!(component(&r, "dynamo-platform").unwrap()["version"], "0.9.0");
    assert!(position(&r, "dynamo-crds") < position(&r, "dynamo-platform"));
    assert!(position(&r, "kai-scheduler") < position(&r, "dynamo-platform"));
    assert_eq!(constraint(&r, "K8s.server.version"), Some(">= 1.34"));
}

// --- shape of the catalog -------------------------------------------------------------

fn query(key: CriteriaKey) -> Criteria {
    Criteria { key, nodes: 0 }
}

/// Overlays that match `key` and are not an ancestor of another match.
fn leaves(catalog: &Catalog, key: CriteriaKey) -> Vec<&Overlay> {
    let q = query(key);
    let matched: Vec<&Overlay> =
        catalog.overlays.values().filter(|o| o.spec.criteria.as_ref().is_some_and(|c| matches(c, &q))).collect();
    let ancestors: BTreeSet<&str> = matched
        .iter()
        .flat_map(|o| {
            let chain = catalog.chain(&o.name).unwrap();
            chain[..chain.len() - 1].iter().map(|a| a.name.as_str()).collect::<Vec<_>>()
        })
        .collect();
    matched.into_iter().filter(|o| !ancestors.contains(o.name.as_str())).collect()
}

fn specificity(o: &Overlay) -> usize {
    o.spec.criteria.as_ref().unwrap().fields().iter().filter(|(_, v)| !v.is_empty() && *v != "any").count()
}

/// Everything an overlay sets, keyed `area:item:field` (override keys at the top
/// level, because overrides merge shallowly along a chain), with the value it sets.
fn touched(o: &Overlay) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for c in &o.spec.constraints {
        out.insert(format!("constraint:{}", c.name), serde_json::to_value(c).unwrap());
    }
    for c in &o.spec.component_refs {
        let v = serde_json::to_value(c).unwrap();
        for (field, x) in v.as_object().unwrap() {
            match field.as_str() {
                "name" => {}
                "overrides" => {
                    for (k, y) in x.as_object().unwrap() {
                        out.insert(format!("component:{}:overrides.{k}", c.name), y.clone());
                    }
                }
                _ if x == &json!("") => {}
                _ => {
                    out.insert(format!("component:{}:{field}", c.name), x.clone());
                }
            }
        }
    }
    if let Some(v) = &o.spec.validation {
        for (phase, x) in serde_json::to_value(v).unwrap().as_object().unwrap() {
            out.insert(format!("validation:{phase}"), x.clone());
        }
        // Whichever validation block comes first starts the merged one.
        out.insert("validation:start".into(), json!(o.name));
    }
    out
}

#[test]
fn every_combination_resolves() {
    let catalog = catalog();
    let mut distinct = BTreeSet::new();
    for key in CriteriaKey::all() {
        let r = resolve(&catalog, &query(key)).unwrap_or_else(|e| panic!("{key}: {e}"));
        for c in &r.components {
            assert!(!c.namespace.is_empty(), "{key}: {} has no namespace", c.name);
            if !c.chart.is_empty() {
                let v = c.version.trim_start_matches('v');
                assert!(
                    !v.is_empty() && v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u32>().is_ok()),
                    "{key}: {} version {:?} is not an exact release",
                    c.name,
                    c.version
                );
            }
        }
        distinct.insert(r.to_json(&CriteriaKey::default(), 0, "x"));
    }
    // Fewer distinct recipes than combinations, but far more than the 37 of v0.11.1.
    assert!(distinct.len() > 60, "{} distinct recipes", distinct.len());
}

#[test]
fn every_overlay_is_the_most_specific_match_somewhere() {
    let catalog = catalog();
    let mut selected = BTreeSet::new();
    for key in CriteriaKey::all() {
        if let Some(last) = overlay_order(&catalog, &query(key)).unwrap().last() {
            selected.insert(last.name.clone());
        }
    }
    let never: Vec<&String> = catalog.overlays.keys().filter(|n| !selected.contains(*n)).collect();
    assert!(never.is_empty(), "shadowed overlays: {never:?}");
}

#[test]
fn equal_specificity_never_decides_an_answer() {
    let catalog = catalog();
    let mut ties: BTreeMap<(String, String), usize> = BTreeMap::new();
    for key in CriteriaKey::all() {
        let leaves = leaves(&catalog, key);
        for (i, a) in leaves.iter().enumerate() {
            for b in &leaves[i + 1..] {
                if specificity(a) != specificity(b) {
                    continue;
                }
                // The parts of the two chains that are not shared must not set the
                // same thing to different values: then either order gives the same
                // recipe.
                let chain = |o: &Overlay| catalog.chain(&o.name).unwrap().into_iter().map(|x| x.name.clone()).collect();
                let (ca, cb): (BTreeSet<String>, BTreeSet<String>) = (chain(a), chain(b));
                let set = |names: BTreeSet<&String>| -> BTreeMap<String, Value> {
                    names.into_iter().flat_map(|n| touched(&catalog.overlays[n])).collect()
                };
                let (ta, tb) = (set(ca.difference(&cb).collect()), set(cb.difference(&ca).collect()));
                let overlap: Vec<&String> =
                    ta.iter().filter(|(k, v)| tb.get(*k).is_some_and(|w| w != *v)).map(|(k, _)| k).collect();
                assert!(overlap.is_empty(), "{key}: {} and {} tie and both set {overlap:?}", a.name, b.name);
                *ties.entry((a.name.clone(), b.name.clone())).or_default() += 1;
            }
        }
    }
    // The only cross-cutting overlay is `talos` (os only); every tie involves it.
    for (a, b) in ties.keys() {
        assert!(a == "talos" || b == "talos", "unexpected tie {a} / {b}");
    }
}
