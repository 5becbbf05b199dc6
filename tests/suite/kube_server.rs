//! The fake Kubernetes API server behaves like the real one where deployctl relies on it:
//! kube-rs talks to it unchanged (discovery, watch, apply, errors).

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use std::time::Duration;
use support::kube_server::FakeKube;

async fn client(kube: &FakeKube) -> kube::Client {
    kube.client().await
}

fn api_code(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_kubernetes_status_objects() {
    let kube = FakeKube::start().await;
    let c = client(&kube).await;
    let ns: Api<Namespace> = Api::all(c.clone());
    assert_eq!(
        api_code(ns.get("nope").await.unwrap_err()),
        (404, "NotFound".into())
    );
    let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    ns.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(
        api_code(ns.create(&PostParams::default(), &obj).await.unwrap_err()),
        (409, "AlreadyExists".into())
    );
    // A stale resourceVersion on update is a Conflict.
    let mut stale = ns.get("a").await.unwrap();
    stale.metadata.resource_version = Some("1".into());
    assert_eq!(
        api_code(
            ns.replace("a", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    // No name: Invalid.
    let cm: Api<ConfigMap> = Api::namespaced(c.clone(), "a");
    let nameless: ConfigMap = serde_json::from_value(json!({"metadata": {}})).unwrap();
    assert_eq!(
        api_code(
            cm.create(&PostParams::default(), &nameless)
                .await
                .unwrap_err()
        )
        .0,
        422
    );
    // Namespaced objects need their namespace.
    let cm: Api<ConfigMap> = Api::namespaced(c, "missing");
    let named: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert_eq!(
        api_code(cm.create(&PostParams::default(), &named).await.unwrap_err()).0,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crds_applied_to_it_are_discovered_and_served() {
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(50));
    let c = client(&kube).await;
    let mut crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true}]}
    });
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(c.clone());
    // As a real API server: a CRD version without a schema is refused.
    let refused = crds
        .patch(
            "widgets.example.io",
            &PatchParams::apply("t"),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(refused).0, 422);
    crd["spec"]["versions"][0]["schema"] = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    crds.patch(
        "widgets.example.io",
        &PatchParams::apply("t"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(crds, "widgets.example.io", conditions::is_crd_established()),
    )
    .await
    .expect("CRD established in time")
    .unwrap();
    let gvk = GroupVersionKind::gvk("example.io", "v1", "Widget");
    let (ar, _caps) = kube::discovery::pinned_kind(&c, &gvk).await.unwrap();
    let ns: Api<Namespace> = Api::all(c.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "w"}})).unwrap(),
    )
    .await
    .unwrap();
    let widgets: Api<DynamicObject> = Api::namespaced_with(c, "w", &ar);
    let w = json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "one"}, "spec": {"size": 3}});
    widgets
        .patch("one", &PatchParams::apply("t"), &Patch::Apply(&w))
        .await
        .unwrap();
    assert_eq!(widgets.get("one").await.unwrap().data["spec"]["size"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn controllers_make_workloads_ready_and_watches_see_it() {
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(200));
    let c = client(&kube).await;
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}));
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "app");
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "app"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}
    });
    deploys
        .patch("web", &PatchParams::apply("t"), &Patch::Apply(&d))
        .await
        .unwrap();
    assert!(
        deploys.get("web").await.unwrap().status.is_none(),
        "ready before the delay"
    );
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(
            deploys.clone(),
            "web",
            conditions::is_deployment_completed(),
        ),
    )
    .await
    .expect("deployment rolled out in time")
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(c, "app");
    let ready = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(ready.items.len(), 2);
    assert!(
        ready
            .items
            .iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
    );
    assert!(
        pods.list(&ListParams::default().labels("app=other"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_can_be_injected_and_delays_added() {
    let kube = FakeKube::start().await;
    let c = client(&kube).await;
    let ns: Api<Namespace> = Api::all(c);
    kube.fail_next("/api/v1/namespaces", 2, 500);
    assert_eq!(
        api_code(ns.list(&ListParams::default()).await.unwrap_err()).0,
        500
    );
    assert_eq!(
        api_code(ns.list(&ListParams::default()).await.unwrap_err()).0,
        500
    );
    ns.list(&ListParams::default()).await.unwrap();
    kube.delay_next("/api/v1/namespaces", 1, Duration::from_millis(300));
    let started = std::time::Instant::now();
    ns.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identical_apply_changes_nothing_and_merge_patch_merges() {
    let kube = FakeKube::start().await;
    let c = client(&kube).await;
    let ns: Api<Namespace> = Api::all(c);
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"x": "1"}}});
    ns.patch("a", &PatchParams::apply("t"), &Patch::Apply(&obj))
        .await
        .unwrap();
    let rv = kube.resource_version();
    ns.patch("a", &PatchParams::apply("t"), &Patch::Apply(&obj))
        .await
        .unwrap();
    assert_eq!(kube.resource_version(), rv);
    ns.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"y": "2"}}})),
    )
    .await
    .unwrap();
    let labels = ns.get("a").await.unwrap().metadata.labels.unwrap();
    assert_eq!((labels["x"].as_str(), labels["y"].as_str()), ("1", "2"));
    ns.delete("a", &Default::default()).await.unwrap();
    assert!(ns.get_opt("a").await.unwrap().is_none());
}

/// Poll `get` until `done`, returning every distinct status seen on the way.
async fn statuses<F, Fut>(
    mut get: F,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let started = std::time::Instant::now();
    loop {
        let obj = get().await;
        if seen.last() != Some(&obj) {
            seen.push(obj.clone());
        }
        if done(&obj) {
            return seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no rollout within 10s: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollouts_are_gradual_and_judged_as_kubectl_judges_them() {
    use deployctl::platform::kubeapi::wait::{deployment_ready, statefulset_ready};
    use k8s_openapi::api::apps::v1::StatefulSet;
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(60));
    let c = client(&kube).await;
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}));
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "app");
    let spec = |image: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "app"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}
        })
    };
    let ready = |d: &Deployment| deployment_ready("web", Some(d)).is_ready();
    deploys
        .patch("web", &PatchParams::apply("t"), &Patch::Apply(&spec("i:1")))
        .await
        .unwrap();
    let first = statuses(
        || async { serde_json::to_value(deploys.get("web").await.unwrap()).unwrap() },
        |d| ready(&serde_json::from_value(d.clone()).unwrap()),
    )
    .await;
    // Created one pod at a time: a state with one of two replicas existed and was not ready.
    assert!(
        first.iter().any(|d| d["status"]["replicas"] == 1),
        "{first:#?}"
    );
    // A new template: the old pods run on while new ones surge in.
    deploys
        .patch("web", &PatchParams::apply("t"), &Patch::Apply(&spec("i:2")))
        .await
        .unwrap();
    let seen = statuses(
        || async { serde_json::to_value(deploys.get("web").await.unwrap()).unwrap() },
        |d| ready(&serde_json::from_value(d.clone()).unwrap()),
    )
    .await;
    let surge: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|d| d["status"]["updatedReplicas"] == 2 && d["status"]["replicas"] == 3)
        .collect();
    assert!(
        !surge.is_empty(),
        "no state with both updated and an old replica: {seen:#?}"
    );
    for d in &surge {
        // Every replica updated and all ready, yet an old one still serves: not rolled out.
        let d: Deployment = serde_json::from_value((*d).clone()).unwrap();
        assert!(!ready(&d), "judged rolled out with an old replica: {d:?}");
    }
    let pods: Api<Pod> = Api::namespaced(c.clone(), "app");
    let now = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(now.items.len(), 2, "old pods remain after the rollout");
    assert!(
        now.items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("i:2"))
    );

    // A StatefulSet replaces pods from the highest ordinal down, revision by revision.
    let sets: Api<StatefulSet> = Api::namespaced(c.clone(), "app");
    let sts = |image: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "app"},
            "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}
        })
    };
    let sready = |s: &serde_json::Value| {
        statefulset_ready("db", Some(&serde_json::from_value(s.clone()).unwrap())).is_ready()
    };
    sets.patch("db", &PatchParams::apply("t"), &Patch::Apply(&sts("d:1")))
        .await
        .unwrap();
    statuses(
        || async { serde_json::to_value(sets.get("db").await.unwrap()).unwrap() },
        sready,
    )
    .await;
    sets.patch("db", &PatchParams::apply("t"), &Patch::Apply(&sts("d:2")))
        .await
        .unwrap();
    let seen = statuses(
        || async { serde_json::to_value(sets.get("db").await.unwrap()).unwrap() },
        sready,
    )
    .await;
    let mixed: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|s| {
            s["status"]["readyReplicas"] == 3
                && s["status"]["currentRevision"] != s["status"]["updateRevision"]
        })
        .collect();
    assert!(
        !mixed.is_empty(),
        "no all-ready state on two revisions: {seen:#?}"
    );
    assert!(
        mixed.iter().all(|s| !sready(s)),
        "judged rolled out on two revisions"
    );
    let db0 = pods.get("db-0").await.unwrap();
    assert_eq!(
        db0.spec.unwrap().containers[0].image.as_deref(),
        Some("d:2")
    );
}

/// Custom resources are held to their CRD's schema as a real API server holds them: with
/// Flux's real HelmRelease CRD (helm-controller v1.6.3, ../shared/crds), unknown fields are
/// refused under `fieldValidation=Strict` and pruned without it, wrong types and the CRD's
/// CEL rules give 422 with the CRD's own message, and defaults are filled in.
#[tokio::test(flavor = "multi_thread")]
async fn custom_resources_are_validated_by_their_crd_schema_and_cel_rules() {
    let kube = FakeKube::start().await;
    kube.install_crds(&[
        support::repo_root().join("../shared/crds/flux/helm.toolkit.fluxcd.io_helmreleases.yaml")
    ]);
    kube.insert(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}),
    );
    let good = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "redis", "namespace": "flux-system"},
        "spec": {"interval": "10m",
                 "chart": {"spec": {"chart": "redis", "version": "1.0.0",
                                    "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}},
                 "upgrade": {"strategy": {"name": "RemediateOnFailure"}}}
    });
    let stored = kube
        .apply_strict(&good)
        .await
        .expect("a valid HelmRelease is accepted");
    // The schema's default, filled in by the server.
    assert_eq!(
        stored["spec"]["chart"]["spec"]["reconcileStrategy"],
        "ChartVersion"
    );

    // An unknown field: refused under Strict, naming it.
    let mut unknown = good.clone();
    unknown["spec"]["chart"]["spec"]["versoin"] = json!("1.0.1");
    let (code, message) = kube.apply_strict(&unknown).await.unwrap_err();
    assert_eq!(code, 400, "{message}");
    assert!(
        message.contains("unknown field \"spec.chart.spec.versoin\""),
        "{message}"
    );
    // …and pruned without it (the real server's default for a client that does not ask).
    let c = client(&kube).await;
    let gvk = GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease");
    let (ar, _) = kube::discovery::pinned_kind(&c, &gvk).await.unwrap();
    let hr: Api<DynamicObject> = Api::namespaced_with(c, "flux-system", &ar);
    let pruned = hr
        .patch("redis", &PatchParams::apply("t"), &Patch::Apply(&unknown))
        .await
        .unwrap();
    assert!(
        pruned.data["spec"]["chart"]["spec"]
            .get("versoin")
            .is_none()
    );

    // A wrong type.
    let mut wrong = good.clone();
    wrong["spec"]["interval"] = json!(600);
    let (code, message) = kube.apply_strict(&wrong).await.unwrap_err();
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("spec.interval: Invalid value: \"integer\""),
        "{message}"
    );

    // The CRD's CEL rules, with the CRD's message.
    let mut both = good.clone();
    both["spec"]["chartRef"] = json!({"kind": "OCIRepository", "name": "litellm"});
    let (code, message) = kube.apply_strict(&both).await.unwrap_err();
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("either chart or chartRef must be set"),
        "{message}"
    );
    let mut retry = good.clone();
    retry["spec"]["upgrade"]["strategy"]["retryInterval"] = json!("5m");
    let (code, message) = kube.apply_strict(&retry).await.unwrap_err();
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains(".retryInterval can only be set when .name is 'RetryOnFailure'"),
        "{message}"
    );
    // A required field missing, and an enum value it does not know.
    // (A new object: the fake's apply merges into an existing one.)
    let mut missing = good.clone();
    missing["metadata"]["name"] = json!("other");
    missing["spec"]["chart"]["spec"]["sourceRef"] = json!({"kind": "GitHubRepository"});
    let (code, message) = kube.apply_strict(&missing).await.unwrap_err();
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("spec.chart.spec.sourceRef.name: Required value"),
        "{message}"
    );
    assert!(
        message.contains("Unsupported value: \"GitHubRepository\""),
        "{message}"
    );
}
