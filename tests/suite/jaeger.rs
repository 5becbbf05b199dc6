//! `deployctl jaeger`: tracing. The Service LiteLLM sends its spans to (and Grafana reads) is
//! one the real jaeger chart renders; pointing at one it does not is caught.

use crate::support;

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
