//! `deployctl jaeger`: tracing. The Service LiteLLM sends its spans to (and Grafana reads) is
//! one the real jaeger chart renders; pointing at one it does not is caught.

use crate::support;
use crate::support::scenario::Stack;

use support::charts::{charts_dir, project_with, render_project};

#[tokio::test(flavor = "multi_thread")]
async fn a_grafana_datasource_on_a_service_jaeger_no_longer_has_is_caught() {
    let charts = charts_dir();
    let project = project_with("helm-values/litellm.yaml", |t| {
        t.replace(
            "http://jaeger.monitoring.svc.cluster.local:4317",
            "http://jaeger-collector.monitoring.svc.cluster.local:4317",
        )
    });
    let run = render_project(&charts, project.path()).await;
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("env OTEL_ENDPOINT refers to Service monitoring/jaeger-collector"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_values_file_is_drift_that_plan_names_and_an_auto_skipping_run_applies() {
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = support::scenario::helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces", "jaeger"])
        .await
        .assert_code(0);
    let run = sb.run(&["plan", "jaeger"]).await;
    run.assert_code(0);
    assert!(
        run.stdout.contains("healthy (deployed, chart 4.11.1")
            && run.stdout.contains("values as configured"),
        "{}",
        run.stdout
    );

    // The operator edits the values file: what is installed is no longer what a run installs.
    let project = project_with("helm-values/jaeger.yaml", |t| {
        t.replacen("cpu: 100m", "cpu: 300m", 1)
    });
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    let run = sb.run(&["plan", "jaeger"]).await;
    run.assert_code(0);
    assert!(
        run.stdout
            .contains(r#"values changed: jaeger.resources.requests.cpu ("100m" → "300m")"#),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("repair"), "{}", run.stdout);

    // AUTO_SKIP_HEALTHY skips what is healthy, and this is not: the change is applied.
    sb.set("AUTO_SKIP_HEALTHY", "true");
    let upgrades = |sb: &support::Sandbox| {
        sb.helm_calls()
            .iter()
            .filter(|c| c[0] == "upgrade" && c.get(2).is_some_and(|n| n == "jaeger"))
            .count()
    };
    let before = upgrades(&sb);
    sb.run(&["jaeger"]).await.assert_code(0);
    assert_eq!(upgrades(&sb), before + 1);
    let deploy = kube
        .get("apps/v1", "Deployment", Some("monitoring"), "jaeger")
        .unwrap();
    let cpu = &deploy["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"];
    assert_eq!(cpu, "300m");
    // Applied: healthy again, and skipped.
    let run = sb.run(&["jaeger"]).await;
    run.assert_code(0);
    assert_eq!(upgrades(&sb), before + 1, "{}", run.all());
}
