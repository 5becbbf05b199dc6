//! Every ConstraintTemplate's rego, evaluated with regorus against compliant and
//! non-compliant Pods and Deployments (the pod spec is read from `spec` for Pods and from
//! `spec.template.spec` for controllers), with the parameters of our constraints.

use crate::support;
use crate::support::scenario::Stack;

use deployctl::stack::manifest::{Document, load};
use serde_json::{Value, json};
use support::repo_root;

fn templates() -> Vec<Document> {
    load(&repo_root().join("manifests/opa/templates.yaml")).unwrap()
}

/// The parameters our constraint of `kind` passes (placeholders filled as a run would).
fn parameters(kind: &str) -> Value {
    let docs = load(&repo_root().join("manifests/opa/constraints.yaml")).unwrap();
    let c = docs
        .iter()
        .find(|d| d.kind() == kind)
        .unwrap_or_else(|| panic!("no constraint uses {kind}"));
    let mut vars = deployctl::platform::aws::policy::Vars::new();
    vars.insert("REGION", "us-east-1".into());
    let v = deployctl::platform::aws::policy::substitute(&c.value, &vars).unwrap();
    v["spec"]["parameters"].clone()
}

/// The violation messages of template `name` for `object`.
fn violations(name: &str, object: &Value) -> Vec<String> {
    let t = templates()
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no template {name}"));
    let kind = t.value["spec"]["crd"]["spec"]["names"]["kind"]
        .as_str()
        .unwrap()
        .to_string();
    let rego = t.value["spec"]["targets"][0]["rego"].as_str().unwrap();
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    let package = engine
        .add_policy(format!("{name}.rego"), rego.to_string())
        .unwrap_or_else(|e| panic!("{name}: rego does not parse: {e}"));
    let input = json!({"review": {"object": object}, "parameters": parameters(&kind)});
    engine.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
    let result = engine
        .eval_rule(format!("{package}.violation"))
        .unwrap_or_else(|e| panic!("{name}: evaluation failed: {e}"));
    let json: Value = serde_json::from_str(&result.to_json_str().unwrap()).unwrap();
    json.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| v["msg"].as_str().unwrap_or("").to_string())
        .collect()
}

fn good_container() -> Value {
    json!({
        "name": "litellm",
        "image": "ghcr.io/berriai/litellm-database:v1.80.8-stable",
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true,
                            "capabilities": {"drop": ["ALL"]}},
        "livenessProbe": {"httpGet": {"path": "/health/liveliness", "port": 4000}},
        "readinessProbe": {"httpGet": {"path": "/health/readiness", "port": 4000}},
    })
}

fn pod(c: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "litellm",
                        "labels": {"app.kubernetes.io/name": "litellm", "app.kubernetes.io/version": "1.80.8"}},
           "spec": {"containers": [c]}})
}

fn deployment(c: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "litellm", "namespace": "litellm",
                        "labels": {"app.kubernetes.io/name": "litellm", "app.kubernetes.io/version": "1.80.8"}},
           "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [c]}}}})
}

fn with(mut c: Value, pointer: &str, v: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut c
    } else {
        c.pointer_mut(parent).unwrap()
    };
    // Null means "absent", as the API server sends an unset field.
    if v.is_null() {
        target.as_object_mut().unwrap().remove(key);
    } else {
        target[key] = v;
    }
    c
}

const WORKLOAD_TEMPLATES: &[&str] = &[
    "k8sallowedrepos",
    "k8sblocklatesttag",
    "k8scontainerlimits",
    "k8spodsecurity",
    "k8srequireprobes",
];

#[test]
fn compliant_pods_and_deployments_pass_every_template() {
    for t in WORKLOAD_TEMPLATES.iter().chain(&["k8srequiredlabels"]) {
        for obj in [pod(good_container()), deployment(good_container())] {
            let v = violations(t, &obj);
            assert!(v.is_empty(), "{t} on a compliant {}: {v:?}", obj["kind"]);
        }
    }
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "litellm"},
                     "spec": {"type": "ClusterIP"}});
    assert!(violations("k8sblocknodeport", &svc).is_empty());
}

/// A Job's pod runs to completion: no probes asked of it (LiteLLM's migration hook). A
/// serving pod (restartPolicy Always, the default) and a Deployment still need them.
#[test]
fn pods_that_run_to_completion_need_no_probes() {
    let bare = {
        let mut c = good_container();
        let m = c.as_object_mut().unwrap();
        m.remove("livenessProbe");
        m.remove("readinessProbe");
        c
    };
    for policy in ["OnFailure", "Never"] {
        let mut p = pod(bare.clone());
        p["spec"]["restartPolicy"] = json!(policy);
        assert!(violations("k8srequireprobes", &p).is_empty(), "{policy}");
    }
    let serving = pod(bare.clone());
    assert_eq!(violations("k8srequireprobes", &serving).len(), 2);
    let mut always = pod(bare.clone());
    always["spec"]["restartPolicy"] = json!("Always");
    assert_eq!(violations("k8srequireprobes", &always).len(), 2);
    let mut d = deployment(bare);
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
    assert_eq!(violations("k8srequireprobes", &d).len(), 2);
}

#[test]
fn non_compliant_containers_are_caught_in_pods_and_in_deployment_templates() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "k8sallowedrepos",
            with(good_container(), "/image", json!("evil.example/x:1.0")),
            "not from an allowed repository",
        ),
        // Short names normalise to docker.io/library: nginx is not allowed...
        (
            "k8sallowedrepos",
            with(good_container(), "/image", json!("nginx:1.27")),
            "not from an allowed repository",
        ),
        // ...and a repo matches as a whole path segment.
        (
            "k8sallowedrepos",
            with(
                good_container(),
                "/image",
                json!("docker.io/library/redis-evil:1"),
            ),
            "not from an allowed repository",
        ),
        (
            "k8sblocklatesttag",
            with(
                good_container(),
                "/image",
                json!("ghcr.io/berriai/litellm:latest"),
            ),
            ":latest",
        ),
        (
            "k8sblocklatesttag",
            with(good_container(), "/image", json!("ghcr.io/berriai/litellm")),
            "has no tag",
        ),
        (
            "k8scontainerlimits",
            with(good_container(), "/resources/limits", json!({"cpu": "1"})),
            "limits.memory",
        ),
        (
            "k8spodsecurity",
            with(good_container(), "/securityContext/privileged", json!(true)),
            "privileged",
        ),
        (
            "k8spodsecurity",
            with(
                good_container(),
                "/securityContext/allowPrivilegeEscalation",
                json!(true),
            ),
            "allowPrivilegeEscalation",
        ),
        (
            "k8spodsecurity",
            with(
                good_container(),
                "/securityContext/runAsNonRoot",
                json!(false),
            ),
            "may run as root",
        ),
        (
            "k8spodsecurity",
            with(
                good_container(),
                "/securityContext/capabilities",
                json!({"drop": ["NET_RAW"]}),
            ),
            "drop ALL",
        ),
        (
            "k8spodsecurity",
            with(
                good_container(),
                "/securityContext/capabilities/add",
                json!(["SYS_ADMIN"]),
            ),
            "SYS_ADMIN",
        ),
        (
            "k8srequireprobes",
            with(good_container(), "/readinessProbe", Value::Null),
            "readinessProbe",
        ),
    ];
    for (template, container, expect) in cases {
        for obj in [pod(container.clone()), deployment(container.clone())] {
            let v = violations(template, &obj);
            assert!(
                v.iter().any(|m| m.contains(expect)),
                "{template} missed `{expect}` on a {}: {v:?}",
                obj["kind"]
            );
        }
    }
}

#[test]
fn allowed_short_names_and_pod_level_settings() {
    // redis:8 is docker.io/library/redis:8, which is allowed.
    let redis = with(good_container(), "/image", json!("redis:8.4.0-alpine"));
    assert!(violations("k8sallowedrepos", &deployment(redis)).is_empty());
    // runAsNonRoot may come from the pod's securityContext.
    let c = with(
        good_container(),
        "/securityContext/runAsNonRoot",
        Value::Null,
    );
    let mut d = deployment(c);
    d["spec"]["template"]["spec"]["securityContext"] = json!({"runAsNonRoot": true});
    assert!(
        violations("k8spodsecurity", &d).is_empty(),
        "{:?}",
        violations("k8spodsecurity", &d)
    );
    // Host namespaces are caught at the pod level.
    let mut p = pod(good_container());
    p["spec"]["hostNetwork"] = json!(true);
    assert!(
        violations("k8spodsecurity", &p)
            .iter()
            .any(|m| m.contains("hostNetwork"))
    );
    // Init containers are checked for images too.
    let mut d = deployment(good_container());
    d["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox"}]);
    assert!(
        violations("k8sblocklatesttag", &d)
            .iter()
            .any(|m| m.contains("init"))
    );
}

#[test]
fn nodeport_services_and_missing_labels() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                     "spec": {"type": "NodePort"}});
    assert!(
        violations("k8sblocknodeport", &svc)
            .iter()
            .any(|m| m.contains("NodePort"))
    );
    let mut d = deployment(good_container());
    d["metadata"]["labels"] = json!({"app.kubernetes.io/name": "litellm"});
    let v = violations("k8srequiredlabels", &d);
    assert!(
        v.iter().any(|m| m.contains("app.kubernetes.io/version")),
        "{v:?}"
    );
}

/// Does constraint `c` apply to `object` in `namespace` (its match kinds and namespaces)?
fn applies(c: &Value, object: &Value, namespace: &str) -> bool {
    let m = &c["spec"]["match"];
    let api = object["apiVersion"].as_str().unwrap_or("");
    let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    let kind_ok = m["kinds"].as_array().is_some_and(|ks| {
        ks.iter().any(|k| {
            k["apiGroups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == group)
                && k["kinds"].as_array().unwrap().iter().any(|x| x == kind)
        })
    });
    let ns_ok = match m["namespaces"].as_array() {
        Some(nss) => nss.iter().any(|n| n == namespace),
        None => !m["excludedNamespaces"]
            .as_array()
            .is_some_and(|ex| ex.iter().any(|n| n == namespace)),
    };
    kind_ok && ns_ok
}

/// The charts as the real helm renders them with our values: (namespace, object), helm test
/// hooks left out (`helm upgrade` never creates them).
async fn rendered_objects() -> Vec<(String, Value)> {
    let charts = support::charts::charts_dir();
    let sb = support::Sandbox::bare();
    sb.with_real_helm();
    let run = sb
        .run(&[
            "charts",
            "render",
            "--charts-dir",
            charts.path().to_str().unwrap(),
        ])
        .await;
    let releases = deployctl::stack::releases::Releases::load(&repo_root()).unwrap();
    support::charts::parse_rendered(&run.stdout)
        .into_iter()
        .filter(|o| {
            !o.value["metadata"]["annotations"]["helm.sh/hook"]
                .as_str()
                .is_some_and(|h| h.contains("test"))
        })
        .map(|o| {
            let release_ns = &releases
                .releases
                .iter()
                .find(|r| r.name == o.release)
                .unwrap()
                .namespace;
            let ns = o.value["metadata"]["namespace"]
                .as_str()
                .unwrap_or(release_ns)
                .to_string();
            (ns, o.value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stacks_own_pods_pass_every_constraint_where_it_applies() {
    let mut objects = rendered_objects().await;
    // The Pods the controllers make from each template are judged too: admission sees them
    // (a Job's pod — a helm hook's — included).
    let pods: Vec<(String, Value)> = objects
        .iter()
        .filter(|(_, o)| {
            matches!(
                o["kind"].as_str(),
                Some("Deployment" | "StatefulSet" | "DaemonSet" | "Job")
            )
        })
        .map(|(ns, o)| {
            let t = &o["spec"]["template"];
            (
                ns.clone(),
                serde_json::json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {
                        "name": format!("{}-pod", o["metadata"]["name"].as_str().unwrap_or("")),
                        "labels": t["metadata"]["labels"].clone(),
                    },
                    "spec": t["spec"].clone(),
                }),
            )
        })
        .collect();
    assert!(
        pods.iter()
            .any(|(ns, p)| ns == "litellm" && p["spec"]["restartPolicy"] == "OnFailure"),
        "LiteLLM's migration Job's pod was not among them"
    );
    objects.extend(pods);
    let constraints = load(&repo_root().join("manifests/opa/constraints.yaml")).unwrap();
    let templates = templates();
    let mut checked = 0;
    let mut failures = Vec::new();
    for c in &constraints {
        assert_eq!(
            c.value["spec"]["enforcementAction"],
            "deny",
            "{} is not enforced",
            c.name()
        );
        let kind = c.kind();
        let template = templates
            .iter()
            .find(|t| t.value["spec"]["crd"]["spec"]["names"]["kind"] == kind)
            .unwrap()
            .name()
            .to_string();
        for (ns, o) in &objects {
            if !applies(&c.value, o, ns) {
                continue;
            }
            checked += 1;
            for v in violations(&template, o) {
                failures.push(format!(
                    "{} {}/{} in {ns}: {v}",
                    c.name(),
                    o["kind"].as_str().unwrap_or("?"),
                    o["metadata"]["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
    // Every application namespace was in scope and had objects to judge.
    for ns in ["litellm", "open-webui", "external-secrets"] {
        let workloads = objects
            .iter()
            .filter(|(n, o)| n == ns && (o["kind"] == "Deployment" || o["kind"] == "StatefulSet"))
            .count();
        assert!(workloads > 0, "no workloads rendered in {ns}");
    }
    assert!(
        checked > 50,
        "only {checked} object/constraint pairs judged"
    );
}

#[test]
fn the_application_namespaces_are_in_every_constraints_scope() {
    for c in load(&repo_root().join("manifests/opa/constraints.yaml")).unwrap() {
        let nss = c.value["spec"]["match"]["namespaces"].as_array().unwrap();
        for ns in ["litellm", "open-webui"] {
            assert!(
                nss.iter().any(|n| n == ns),
                "{} does not cover {ns}",
                c.name()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn opa_policies_without_gatekeeper_names_the_fix_and_changes_nothing() {
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = support::scenario::helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces"])
        .await
        .assert_code(0);
    support::scenario::refused_without(&kube, &sb, "opa-policies", "gatekeeper").await;
}

/// The load balancer controller runs in kube-system, which the constraints leave out (and
/// Gatekeeper exempts): its pods pass every constraint all the same, as if they were in scope.
#[tokio::test(flavor = "multi_thread")]
async fn the_load_balancer_controllers_pods_would_pass_every_constraint_in_scope_too() {
    let objects: Vec<Value> = rendered_objects()
        .await
        .into_iter()
        .filter(|(ns, o)| {
            ns == "kube-system"
                && o["metadata"]["labels"]["app.kubernetes.io/name"]
                    == "aws-load-balancer-controller"
        })
        .map(|(_, o)| o)
        .collect();
    assert!(
        objects.iter().any(|o| o["kind"] == "Deployment"),
        "the controller's Deployment was not rendered"
    );
    let constraints = load(&repo_root().join("manifests/opa/constraints.yaml")).unwrap();
    let templates = templates();
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &constraints {
        let template = templates
            .iter()
            .find(|t| t.value["spec"]["crd"]["spec"]["names"]["kind"] == c.kind())
            .unwrap()
            .name()
            .to_string();
        for o in &objects {
            // Judged as if the controller ran in an application namespace.
            if !applies(&c.value, o, "litellm") {
                continue;
            }
            checked += 1;
            for v in violations(&template, o) {
                failures.push(format!("{} {}: {v}", c.name(), o["kind"]));
            }
        }
    }
    assert!(checked >= 5, "only {checked} pairs judged");
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
}
