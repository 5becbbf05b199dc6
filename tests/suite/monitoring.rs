//! `deployctl monitoring`: kube-prometheus-stack with the Grafana admin Secret deployctl makes;
//! a missing Secret makes the release unhealthy and a run repairs it.

use crate::support;
use crate::support::scenario::Stack;

use kube::api::{Api, DeleteParams};

#[tokio::test(flavor = "multi_thread")]
async fn monitoring_without_its_grafana_admin_secret_is_unhealthy_and_repaired() {
    use k8s_openapi::api::core::v1::Secret;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = support::scenario::helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces", "monitoring"])
        .await
        .assert_code(0);
    let secrets: Api<Secret> = Api::namespaced(kube.client().await, "monitoring");
    let name = deployctl::steps::release::GRAFANA_ADMIN_SECRET;
    secrets
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    let plan = sb.run(&["plan", "monitoring", "-v"]).await;
    let all = plan.all();
    assert!(
        all.contains("grafana-admin-credentials is missing"),
        "{all}"
    );
    // A run puts it back.
    sb.run(&["monitoring"]).await.assert_code(0);
    assert!(secrets.get_opt(name).await.unwrap().is_some());
    let plan = sb.run(&["plan", "monitoring"]).await;
    assert!(!plan.all().contains("repair"), "{}", plan.all());
}
