//! `deployctl dashboards`: Grafana dashboards and the ServiceMonitors that feed them, after
//! `monitoring`. A ServiceMonitor on a port its Service lacks is caught on the real charts.

use crate::support;

use support::charts::{charts_dir, project_with, render_project};
use support::scenario::{Stack, helm_cluster, refused_without};

#[tokio::test(flavor = "multi_thread")]
async fn a_service_monitor_on_a_port_the_service_lacks_is_caught() {
    let charts = charts_dir();
    let project = project_with("manifests/monitoring/servicemonitors.yaml", |t| {
        t.replace("- port: http-exporter-port", "- port: exporter-port")
    });
    let run = render_project(&charts, project.path()).await;
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("ServiceMonitor/redis-exporter scrapes port `exporter-port`")
            && run.stderr.contains("http-exporter-port 9121"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_need_monitoring_then_land_where_grafana_finds_them() {
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces"])
        .await
        .assert_code(0);
    refused_without(&kube, &sb, "dashboards", "monitoring").await;

    sb.run(&["run", "monitoring", "dashboards"])
        .await
        .assert_code(0);
    let mut docs = Vec::new();
    for dir in ["manifests/dashboards", "manifests/monitoring"] {
        for f in std::fs::read_dir(support::repo_root().join(dir)).unwrap() {
            docs.extend(deployctl::stack::manifest::load(&f.unwrap().path()).unwrap());
        }
    }
    assert!(docs.iter().any(|d| d.kind() == "ServiceMonitor"));
    for d in &docs {
        let obj = kube
            .get(d.api_version(), d.kind(), d.namespace(), d.name())
            .unwrap_or_else(|| panic!("{} {} was not applied", d.kind(), d.name()));
        if d.kind() == "ConfigMap" {
            // The label Grafana's dashboard sidecar selects on.
            assert_eq!(obj["metadata"]["labels"]["grafana_dashboard"], "1", "{obj}");
        }
    }

    // A dashboard edited in the cluster is drift: present is not healthy. `plan` names the
    // object and the field (never its value), and an auto-skipping run puts it back.
    let run = sb.run(&["plan", "dashboards"]).await;
    run.assert_code(0);
    assert!(run.stdout.contains("dashboards  healthy"), "{}", run.stdout);
    let mut cm = kube
        .get("v1", "ConfigMap", Some("monitoring"), "litellm-dashboard")
        .expect("the dashboard ConfigMap");
    let key = cm["data"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let original = cm["data"][&key].clone();
    cm["data"][&key] = serde_json::json!("{\"title\": \"edited by hand\"}");
    // As `kubectl edit` writes it: an update by another field manager, which a server-side
    // apply that does not force would meet as a conflict.
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        kube.client().await,
        "monitoring",
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    let pp = kube::api::PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    api.patch(
        "litellm-dashboard",
        &pp,
        &kube::api::Patch::Merge(serde_json::json!({"data": {&key: cm["data"][&key]}})),
    )
    .await
    .unwrap();
    let run = sb.run(&["plan", "dashboards"]).await;
    run.assert_code(0);
    assert!(
        run.stdout.contains(&format!(
            "an apply would change ConfigMap litellm-dashboard (data.{key})"
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("edited by hand"), "{}", run.stdout);
    let mut sb = sb;
    sb.set("AUTO_SKIP_HEALTHY", "true");
    sb.run(&["dashboards"]).await.assert_code(0);
    let cm = kube
        .get("v1", "ConfigMap", Some("monitoring"), "litellm-dashboard")
        .unwrap();
    assert_eq!(cm["data"][&key], original, "the edit was not put back");
}
