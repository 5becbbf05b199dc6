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

/// An access.yaml with an entry point and single sign-on, every key set.
fn with_sso(text: String) -> String {
    let _ = text;
    "entry_point:\n  certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n  openwebui_host: chat.example.com\n  api_host: llm-api.example.com\nopenwebui:\n  admin_email: ops@example.com\n  password_login: false\n  oidc:\n    provider_url: https://login.example.com/realms/acme\n    client_id: openwebui\n    allowed_domains: example.com\n    roles_claim: roles\n    allowed_roles: user,admin\n    admin_roles: admin\n    groups_claim: groups\n".into()
}

/// The env of the rendered OpenWebUI workload, by name.
fn openwebui_env(stdout: &str) -> Vec<serde_json::Value> {
    support::charts::parse_rendered(stdout)
        .into_iter()
        .find(|o| o.release == "open-webui" && o.value["kind"] == "StatefulSet")
        .expect("the OpenWebUI StatefulSet")
        .value["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn single_sign_on_renders_with_the_client_secret_from_a_secret_and_passes_the_checks() {
    let charts = charts_dir();
    let project = project_with("access.yaml", with_sso);
    let run = render_project(&charts, project.path()).await;
    // The wiring checks pass: the Secret the client secret comes from is one an ExternalSecret
    // makes (manifests/openwebui-oidc.yaml, applied with single sign-on).
    run.assert_code(0);
    let env = openwebui_env(&run.stdout);
    let value = |n: &str| {
        env.iter()
            .find(|e| e["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {env:?}"))
            .clone()
    };
    assert_eq!(value("WEBUI_ADMIN_EMAIL")["value"], "ops@example.com");
    assert_eq!(
        value("WEBUI_ADMIN_PASSWORD")["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "openwebui-secrets", "key": "admin-password"})
    );
    assert_eq!(value("ENABLE_SIGNUP")["value"], "false");
    assert_eq!(value("WEBUI_URL")["value"], "https://chat.example.com");
    assert_eq!(value("OAUTH_CLIENT_ID")["value"], "openwebui");
    assert_eq!(
        value("OPENID_PROVIDER_URL")["value"],
        "https://login.example.com/realms/acme/.well-known/openid-configuration"
    );
    assert_eq!(
        value("OPENID_REDIRECT_URI")["value"],
        "https://chat.example.com/oauth/oidc/callback"
    );
    assert_eq!(value("OAUTH_ALLOWED_DOMAINS")["value"], "example.com");
    assert_eq!(value("ENABLE_OAUTH_ROLE_MANAGEMENT")["value"], "true");
    assert_eq!(value("ENABLE_PASSWORD_AUTH")["value"], "false");
    assert_eq!(
        value("OAUTH_CLIENT_SECRET")["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "openwebui-oidc", "key": "client-secret"})
    );
    // No secret value in the release: the client secret is only a reference.
    assert!(!run.stdout.contains("client-secret-value"));
}

#[tokio::test(flavor = "multi_thread")]
async fn half_a_sign_on_configuration_is_refused_before_anything_runs() {
    let charts = charts_dir();
    let mut sb = support::Sandbox::bare();
    sb.with_real_helm();
    sb.set("OIDC_CLIENT_ID", "openwebui");
    let run = sb
        .run(&["validate", "--charts-dir", charts.path().to_str().unwrap()])
        .await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("single sign-on is half configured: a client id but no provider URL"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("OIDC_PROVIDER_URL"), "{}", run.stderr);
}

/// The names OpenWebUI 0.11.0's configuration reads (tests/support/openwebui_env_names.py
/// over its config.py and env.py).
fn openwebui_reads() -> std::collections::BTreeSet<String> {
    let src = support::openwebui_source();
    let out = std::process::Command::new("python3")
        .arg(support::repo_root().join("tests/support/openwebui_env_names.py"))
        .arg(src.join("config.py"))
        .arg(src.join("env.py"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        names.len() > 500 && names.contains("WEBUI_SECRET_KEY"),
        "{}",
        names.len()
    );
    names
}

/// Every variable `project` sets for OpenWebUI that it does not read: "file:line: NAME …"
/// (the values file's `extraEnvVars`), or "overlay: NAME …" (deployctl's run values).
fn unknown_variables(
    project: &std::path::Path,
    reads: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    use deployctl::steps::release::{OverlayInputs, overlay};
    let values_path = project.join("helm-values/openwebui.yaml");
    let text = std::fs::read_to_string(&values_path).unwrap();
    let values: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let mut out = Vec::new();
    for e in values["extraEnvVars"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap();
        if !reads.contains(name) {
            let line = text
                .lines()
                .position(|l| l.trim() == format!("- name: {name}"))
                .map_or(0, |i| i + 1);
            out.push(format!(
                "helm-values/openwebui.yaml:{line}: {name} is not a variable OpenWebUI 0.11.0 reads"
            ));
        }
    }
    // The overlay with every option on (entry point, single sign-on with roles and groups).
    let access = deployctl::access::load(project, "us-east-1", &|_: &str| None).unwrap();
    let inputs = OverlayInputs {
        partition: "aws".into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
        cluster: "prod-eks".into(),
        vpc_id: "vpc-1".into(),
        access,
    };
    let o = overlay("open-webui", &inputs).unwrap();
    for e in o["commonEnvVars"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap();
        if !reads.contains(name) {
            out.push(format!(
                "overlay (src/release_table.rs, openwebui_overlay): {name} is not a variable OpenWebUI 0.11.0 reads"
            ));
        }
    }
    out
}

/// Every variable our values and deployctl's overlay set for OpenWebUI is one OpenWebUI's own
/// configuration reads (a misspelt one would be ignored without a word); a misspelt name is
/// caught with the file and line of our values.
#[test]
fn every_variable_we_set_for_openwebui_is_one_it_reads() {
    let reads = openwebui_reads();
    let project = project_with("access.yaml", with_sso);
    let unknown = unknown_variables(project.path(), &reads);
    assert!(unknown.is_empty(), "{unknown:#?}");

    let broken = project_with("helm-values/openwebui.yaml", |t| {
        t.replace(
            "- name: ENABLE_FORWARD_USER_INFO_HEADERS",
            "- name: ENABLE_FORWARD_USER_INFO_HEADER",
        )
    });
    let unknown = unknown_variables(broken.path(), &reads);
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    let line = std::fs::read_to_string(broken.path().join("helm-values/openwebui.yaml"))
        .unwrap()
        .lines()
        .position(|l| l.contains("ENABLE_FORWARD_USER_INFO_HEADER"))
        .unwrap()
        + 1;
    assert_eq!(
        unknown[0],
        format!(
            "helm-values/openwebui.yaml:{line}: ENABLE_FORWARD_USER_INFO_HEADER is not a variable OpenWebUI 0.11.0 reads"
        )
    );
}
