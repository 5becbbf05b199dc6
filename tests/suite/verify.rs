//! `deployctl verify`: the stack's pods and services with ready counts, the way in (the entry
//! point's addresses, or port-forwards bound to 127.0.0.1 and how to add one), and a chat
//! proven end to end through the API server's service proxy against a LiteLLM stand-in that
//! answers as LiteLLM does — each Bedrock refusal named with its fix, the master key in no
//! output. It reads only.

use crate::support;

use deployctl::stack::releases::ACCESS;
use serde_json::{Value, json};
use support::Sandbox;
use support::kube_server::FakeKube;
use support::litellm_standin::{LitellmStandin, Refusal};

const MASTER_KEY: &str = "sk-verify-master-key-0123456789";

fn service(ns: &str, name: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"selector": {"app": name}, "ports": [{"port": port}]}})
}

/// A pod as the kubelet reports it: Running and Ready (or not), or a finished Job's pod.
fn pod(ns: &str, name: &str, app: &str, ready: bool, succeeded: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
    "spec": {"containers": [{"name": "c", "image": "example/c:1"}]},
    "status": {
        "phase": if succeeded { "Succeeded" } else { "Running" },
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]
    }})
}

fn b64(s: &str) -> String {
    deployctl::platform::encoding::base64(s.as_bytes())
}

/// What the releases and the secret stores leave for verify to look at: LiteLLM's master key
/// Secret and config (the models of helm-values/litellm.yaml), OpenWebUI's workload with its
/// LiteLLM URL and its admin from a Secret.
fn deploy_apps(kube: &FakeKube) {
    let models: Vec<Value> = deployctl::steps::chat::configured_models(&support::repo_root())
        .unwrap()
        .iter()
        .map(|m| json!({"model_name": m, "litellm_params": {"model": format!("bedrock/{m}")}}))
        .collect();
    kube.insert(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "litellm-secrets", "namespace": "litellm"},
        "data": {"master-key": b64(MASTER_KEY)}}));
    kube.insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "litellm-config", "namespace": "litellm"},
        "data": {"config.yaml": serde_json::to_string(&json!({"model_list": models})).unwrap()}}));
    kube.insert(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "openwebui-secrets", "namespace": "open-webui"},
        "data": {"admin-password": b64("first-admin-password")}}));
    kube.insert(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "open-webui", "namespace": "open-webui"},
        "spec": {"selector": {"matchLabels": {"app": "open-webui"}}, "serviceName": "open-webui",
          "template": {"metadata": {"labels": {"app": "open-webui"}}, "spec": {"containers": [{
            "name": "open-webui", "image": "ghcr.io/open-webui/open-webui:0.11.0",
            "env": [
              {"name": "OPENAI_API_BASE_URLS", "value": "http://litellm.litellm.svc.cluster.local:4000/v1"},
              {"name": "WEBUI_ADMIN_EMAIL", "value": "admin@localhost"},
              {"name": "WEBUI_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "openwebui-secrets", "key": "admin-password"}}}
            ]}]}}}}));
}

fn port_of(ports: &str) -> u16 {
    ports.split(':').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_what_is_not_deployed_or_not_ready_and_proves_a_chat_when_all_is() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    let litellm = LitellmStandin::start(&kube).await;

    // Nothing deployed: each access hint's Service is named, with the command to run.
    let run = sb.run(&["verify"]).await;
    run.assert_code(1);
    let all = run.all();
    for (what, ns, svc, _) in ACCESS {
        assert!(
            all.contains(&format!("{what} (svc/{svc} in {ns})")),
            "{all}"
        );
    }
    assert!(all.contains("run `deployctl all`"), "{all}");

    // Deployed, but one pod is not ready (a finished Job's pod does not count).
    for (_, ns, svc, ports) in ACCESS {
        kube.insert(service(ns, svc, port_of(ports)));
        kube.insert(pod(ns, &format!("{svc}-0"), svc, true, false));
    }
    kube.insert(pod(
        "open-webui",
        "open-webui-0",
        "open-webui",
        false,
        false,
    ));
    kube.insert(pod(
        "monitoring",
        "grafana-test",
        "grafana-test",
        false,
        true,
    ));
    deploy_apps(&kube);
    kube.clear_log();
    let run = sb.run(&["verify"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("1 pods not ready: open-webui/open-webui-0"),
        "{all}"
    );
    assert!(
        kube.writes().is_empty(),
        "verify wrote: {:?}",
        kube.writes()
    );

    // Every pod ready: the table, the way in (port-forwards on loopback, and how to add an
    // entry point), and a chat with each model through the service proxy.
    kube.insert(pod("open-webui", "open-webui-0", "open-webui", true, false));
    let run = sb.run(&["verify"]).await;
    run.assert_code(0);
    let all = run.all();
    assert!(all.contains("every pod ready, a chat works"), "{all}");
    assert!(all.contains("open-webui         pods 1/1 ready"), "{all}");
    for (_, ns, svc, ports) in ACCESS {
        assert!(
            all.contains(&format!(
                "kubectl port-forward -n {ns} svc/{svc} {ports} --address 127.0.0.1"
            )),
            "{all}"
        );
    }
    assert!(!all.contains("0.0.0.0"), "{all}");
    assert!(all.contains("no entry point is configured"), "{all}");
    assert!(
        all.contains("LiteLLM /health/readiness: {") && all.contains("\"status\":\"healthy\""),
        "{all}"
    );
    let models = deployctl::steps::chat::configured_models(&support::repo_root()).unwrap();
    assert!(
        all.contains(&format!("LiteLLM /v1/models lists {}", models.join(", "))),
        "{all}"
    );
    for m in &models {
        assert!(
            all.contains(&format!("chat with {m}: answered \"OK\" (16 tokens)")),
            "{all}"
        );
    }
    assert_eq!(litellm.chats(), models.len());
    assert!(
        all.contains("OpenWebUI /health: {\"status\":true}"),
        "{all}"
    );
    assert!(
        all.contains(
            "OpenWebUI's OpenAI base URL http://litellm.litellm.svc.cluster.local:4000/v1 answers"
        ),
        "{all}"
    );
    assert!(!all.contains(MASTER_KEY), "the master key was printed");
    // Every call carried the master key; none of it through Authorization.
    assert!(
        litellm
            .state
            .lock()
            .unwrap()
            .log
            .iter()
            .all(|(_, _, ok)| *ok)
    );
    assert!(
        kube.writes().is_empty(),
        "verify wrote: {:?}",
        kube.writes()
    );

    // --no-model-call: the models are listed, no completion is asked for.
    let before = litellm.chats();
    let run = sb.run(&["verify", "--no-model-call"]).await;
    run.assert_code(0);
    assert!(run.all().contains("model calls skipped (--no-model-call)"));
    assert_eq!(litellm.chats(), before);

    // Each way Bedrock refuses a model is named with its cause and its fix.
    let cases = [
        (
            Refusal::marketplace(),
            "no AWS Marketplace subscription",
            "deployctl bedrock enable",
        ),
        (
            Refusal::use_case_form(),
            "first-time-use form",
            "Submit use case details",
        ),
        (
            Refusal::invalid_model(),
            "does not know this model ID in this region",
            "this region offers",
        ),
        (Refusal::legacy(), "Legacy lifecycle", "ACTIVE model"),
        (Refusal::throttled(), "throttled", "quota"),
    ];
    let model = &models[0];
    for (refusal, cause, fix) in cases {
        litellm.refuse(model, refusal.clone());
        let run = sb.run(&["verify", "--output", "json"]).await;
        run.assert_code(1);
        let all = run.all();
        assert!(
            all.contains(&format!("chat with {model} failed")) && all.contains(cause),
            "{cause}: {all}"
        );
        assert!(all.contains(fix), "{fix}: {all}");
        // Bedrock's own words are shown.
        assert!(all.contains(&refusal.message[..30]), "{all}");
        assert!(!all.contains(MASTER_KEY), "the master key was printed");
    }
}

/// A CRD of a GitOps engine, as the engine installs it (../shared/crds).
fn engine_crd(file: &str) -> Value {
    let text =
        std::fs::read_to_string(support::repo_root().join("../shared/crds").join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_gitops_managed_cluster_verify_reports_what_the_engine_failed_to_reconcile() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    let _litellm = LitellmStandin::start(&kube).await;
    for (_, ns, svc, ports) in ACCESS {
        kube.insert(service(ns, svc, port_of(ports)));
        kube.insert(pod(ns, &format!("{svc}-0"), svc, true, false));
    }
    deploy_apps(&kube);
    sb.run(&["verify"]).await.assert_code(0);

    // Flux manages the stack (as `deployctl export --format flux` lays it out); its upgrade of
    // LiteLLM failed and was rolled back, so the pods are ready — on the old version.
    kube.insert(engine_crd("flux/helm.toolkit.fluxcd.io_helmreleases.yaml"));
    let failed = "Helm upgrade failed for release litellm/litellm with chart litellm-helm@1.99.0: context deadline exceeded";
    let helm_release = |ready: &str, reason: &str, message: &str| {
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "litellm", "namespace": "flux-system"},
               "spec": {"releaseName": "litellm", "targetNamespace": "litellm", "interval": "30m",
                        "chartRef": {"kind": "OCIRepository", "name": "litellm"}},
               "status": {"conditions": [{"type": "Ready", "status": ready, "reason": reason,
                                           "message": message, "lastTransitionTime": "2026-12-07T00:00:00Z"}]}})
    };
    kube.insert(helm_release("False", "UpgradeFailed", failed));
    // Someone else's HelmReleases are not ours to judge — also one called redis, elsewhere.
    kube.insert(json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "cert-manager", "namespace": "flux-system"},
        "spec": {"interval": "1h", "chart": {"spec": {"chart": "cert-manager", "sourceRef": {"kind": "HelmRepository", "name": "jetstack"}}}},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "not ours"}]}}));
    kube.insert(json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "redis", "namespace": "team-a"},
        "spec": {"releaseName": "redis", "targetNamespace": "team-a", "interval": "1h",
                 "chart": {"spec": {"chart": "redis", "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}}},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "team a's redis"}]}}));
    let run = sb.run(&["verify"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains(&format!(
            "Flux HelmRelease flux-system/litellm is not Ready (UpgradeFailed): {failed}"
        )),
        "{all}"
    );
    assert!(!all.contains("not ours"), "{all}");
    assert!(!all.contains("team a's redis"), "{all}");
    assert!(all.contains("flux get helmreleases -A"), "{all}");
    assert!(kube.writes().is_empty(), "verify wrote");

    // Argo CD too: an Application of the cluster's project that failed to sync.
    kube.insert(helm_release(
        "True",
        "UpgradeSucceeded",
        "Helm upgrade succeeded",
    ));
    kube.insert(engine_crd("argo-cd/application-crd.yaml"));
    let app = |sync: &str, health: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": format!("{}-redis", support::CLUSTER), "namespace": "argocd"},
               "spec": {"project": format!("{}-stack", support::CLUSTER),
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": "litellm"},
                        "sources": [{"repoURL": "https://dandydeveloper.github.io/charts", "chart": "redis-ha", "targetRevision": "4.39.0"}]},
               "status": {"sync": {"status": sync}, "health": {"status": health},
                          "operationState": {"phase": "Failed", "message": "one or more objects failed to apply, reason: admission webhook denied the request"}}})
    };
    kube.insert(app("OutOfSync", "Degraded"));
    let run = sb.run(&["verify"]).await;
    run.assert_code(1);
    assert!(
        run.all().contains(&format!(
            "Argo CD Application {}-redis is OutOfSync and Degraded: one or more objects failed to apply, reason: admission webhook denied the request",
            support::CLUSTER
        )),
        "{}",
        run.all()
    );
    assert!(
        !run.all().contains("HelmRelease flux-system/litellm"),
        "{}",
        run.all()
    );

    // Both reconciled: verify passes again.
    kube.insert(app("Synced", "Healthy"));
    let run = sb.run(&["verify"]).await;
    run.assert_code(0);
    assert!(
        run.all().contains("every pod ready, a chat works"),
        "{}",
        run.all()
    );

    // An identity that may not list Applications: a note, not a verdict.
    kube.fail_next("/apis/argoproj.io/v1alpha1/applications", 1, 403);
    let run = sb.run(&["verify"]).await;
    run.assert_code(0);
    assert!(
        run.all().contains(
            "Applications could not be read (403: this identity may not list applications.argoproj.io)"
        ),
        "{}",
        run.all()
    );
}
