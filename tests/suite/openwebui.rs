//! `deployctl openwebui`: the frontend talks to LiteLLM only — values that would fall back to
//! api.openai.com are caught on the pod the real chart renders.

use crate::support;

use support::charts::{charts_dir, project_with, render_project};

#[tokio::test(flavor = "multi_thread")]
async fn openwebui_without_litellm_as_its_base_url_is_caught_on_the_rendered_pod() {
    let charts = charts_dir();
    let project = project_with("helm-values/openwebui.yaml", |t| {
        let start = t.find("openaiBaseApiUrls:").unwrap();
        let end = start + t[start..].find("\nopenaiApiKey").unwrap();
        format!("{}{}", &t[..start], &t[end + 1..])
    });
    let run = render_project(&charts, project.path()).await;
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("release open-webui StatefulSet/open-webui")
            && run.stderr.contains("api.openai.com"),
        "{}",
        run.stderr
    );
}
