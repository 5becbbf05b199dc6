//! `deployctl gatekeeper`: OPA Gatekeeper from the real chart. Its controller and audit run,
//! the ConstraintTemplate CRD is served, and a healthy re-run calls no helm upgrade and
//! writes nothing.

use crate::support;

use support::scenario::{Stack, helm_cluster, upgrades};

#[tokio::test(flavor = "multi_thread")]
async fn gatekeeper_installs_from_the_real_chart_and_a_healthy_rerun_changes_nothing() {
    let Stack {
        kube,
        mut sb,
        charts,
    } = helm_cluster().await;
    let run = sb
        .run(&["run", "helm-repos", "namespaces", "gatekeeper"])
        .await;
    run.assert_code(0);
    let ups = upgrades(&sb);
    let call = ups
        .iter()
        .find(|u| u["argv"][2] == "gatekeeper")
        .unwrap_or_else(|| panic!("no helm upgrade of gatekeeper: {}", run.all()));
    assert_eq!(call["argv"][0], "upgrade");
    assert!(
        std::path::Path::new(call["argv"][3].as_str().unwrap()).starts_with(charts.path()),
        "not from the charts directory: {call}"
    );
    for name in ["gatekeeper-controller-manager", "gatekeeper-audit"] {
        let d = kube
            .get("apps/v1", "Deployment", Some("gatekeeper-system"), name)
            .unwrap_or_else(|| panic!("the chart's Deployment {name} is missing"));
        assert!(
            d["status"]["readyReplicas"].as_i64().unwrap_or(0) >= 1,
            "{name} not ready: {}",
            d["status"]
        );
    }
    assert!(
        kube.get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "constrainttemplates.templates.gatekeeper.sh"
        )
        .is_some(),
        "the ConstraintTemplate CRD is not there"
    );

    // Healthy: skipped when told to skip healthy resources; no upgrade, no write.
    kube.clear_log();
    let before = ups.len();
    sb.set("AUTO_SKIP_HEALTHY", "true");
    let rerun = sb.run(&["gatekeeper"]).await;
    rerun.assert_code(0);
    assert_eq!(upgrades(&sb).len(), before, "{}", rerun.all());
    assert!(kube.writes().is_empty(), "{:?}", kube.writes());
}
