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
            .contains("release open-webui Deployment/open-webui")
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
        .find(|o| o.release == "open-webui" && o.value["kind"] == "Deployment")
        .expect("the OpenWebUI Deployment")
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
    let access = deployctl::config::access::load(project, "us-east-1", &|_: &str| None).unwrap();
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
                "overlay (src/stack/releases/table.rs, openwebui_overlay): {name} is not a variable OpenWebUI 0.11.0 reads"
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

/// The container env of a rendered workload, by name.
fn env_of(workload: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    workload["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

/// OpenWebUI as a service: two replicas on different nodes, no volume of its own (chats and
/// users in PostgreSQL, uploads in S3, websockets and shared state in Redis), a disruption
/// budget, and every Secret it reads made by an ExternalSecret that exists.
#[tokio::test(flavor = "multi_thread")]
async fn openwebui_renders_as_a_service_of_replicas_on_postgres_redis_and_s3() {
    use serde_json::json;
    let charts = charts_dir();
    let run = render_project(&charts, &support::repo_root()).await;
    run.assert_code(0);
    let objects = support::charts::parse_rendered(&run.stdout);
    let of = |release: &str, kind: &str| -> Vec<serde_json::Value> {
        objects
            .iter()
            .filter(|o| o.release == release && o.value["kind"] == kind)
            .map(|o| o.value.clone())
            .collect()
    };
    assert!(of("open-webui", "StatefulSet").is_empty());
    assert!(of("open-webui", "PersistentVolumeClaim").is_empty());
    let ui = of("open-webui", "Deployment")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "open-webui")
        .expect("OpenWebUI's Deployment");
    assert_eq!(ui["spec"]["replicas"], 2);
    let pod = &ui["spec"]["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|v| v.get("persistentVolumeClaim").is_none()),
        "{}",
        pod["volumes"]
    );
    // Replicas spread over nodes.
    let anti = &pod["affinity"]["podAntiAffinity"];
    let term =
        anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"].clone();
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname", "{anti}");
    let pod_labels = ui["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap()
        .clone();
    for (k, v) in term["labelSelector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            pod_labels.get(k),
            Some(v),
            "anti-affinity must select these pods"
        );
    }
    // The disruption budget keeps one serving and selects these pods.
    let pdb = of("open-webui", "PodDisruptionBudget")
        .into_iter()
        .next()
        .expect("a PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            pod_labels.get(k),
            Some(v),
            "the budget must select these pods"
        );
    }

    let env = env_of(&ui);
    let secret = |name: &str| env[name]["valueFrom"]["secretKeyRef"].clone();
    assert_eq!(
        secret("DATABASE_URL"),
        json!({"name": "openwebui-secrets", "key": "database-url"})
    );
    for n in ["REDIS_URL", "WEBSOCKET_REDIS_URL"] {
        assert_eq!(
            secret(n),
            json!({"name": "openwebui-redis", "key": "redis-url"}),
            "{n}"
        );
    }
    let value = |name: &str| env.get(name).map(|e| e["value"].clone());
    assert_eq!(value("WEBSOCKET_MANAGER"), Some(json!("redis")));
    // (The chart writes "True"; env.py compares lower-cased.)
    assert_eq!(
        value("ENABLE_WEBSOCKET_SUPPORT").and_then(|v| v.as_str().map(str::to_lowercase)),
        Some("true".into())
    );
    assert_eq!(value("VECTOR_DB"), Some(json!("pgvector")));
    assert_eq!(value("STORAGE_PROVIDER"), Some(json!("s3")));
    // The bucket Terraform makes for this cluster (the same name, modules/uploads), reached
    // with the pod's IRSA role, in the stack's region.
    let bucket = deployctl::stack::roles::uploads_bucket(
        deployctl::stack::render::SAMPLE_ACCOUNT,
        support::moto::REGION,
        support::CLUSTER,
    );
    assert_eq!(value("S3_BUCKET_NAME"), Some(json!(bucket)));
    assert_eq!(value("S3_REGION_NAME"), Some(json!(support::moto::REGION)));
    let sa_name = pod["serviceAccountName"].as_str().unwrap();
    let sa = of("open-webui", "ServiceAccount")
        .into_iter()
        .find(|s| s["metadata"]["name"] == sa_name)
        .expect("the pods' ServiceAccount");
    let role = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        .as_str()
        .unwrap();
    assert!(role.ends_with("-openwebui-uploads"), "{role}");

    // Redis: the URL the ExternalSecret templates points at the Redis release's HAProxy.
    let stack =
        std::fs::read_to_string(support::repo_root().join("manifests/external-secrets.yaml"))
            .unwrap();
    let docs = deployctl::stack::manifest::parse_documents(
        std::path::Path::new("external-secrets.yaml"),
        &stack,
    )
    .unwrap();
    let redis_es = docs
        .iter()
        .find(|d| d.value["metadata"]["name"] == "openwebui-redis")
        .expect("the ExternalSecret that makes openwebui-redis");
    assert_eq!(redis_es.value["metadata"]["namespace"], "open-webui");
    let url = redis_es.value["spec"]["target"]["template"]["data"]["redis-url"]
        .as_str()
        .unwrap();
    let host = url.split('@').nth(1).unwrap();
    let (svc, port) = host.split_once(':').unwrap();
    let (svc_name, svc_ns) = {
        let mut p = svc.split('.');
        (p.next().unwrap(), p.next().unwrap())
    };
    let haproxy = of("redis", "Service")
        .into_iter()
        .find(|s| s["metadata"]["name"] == svc_name)
        .unwrap_or_else(|| panic!("no Service {svc_name} in the redis release"));
    assert_eq!(svc_ns, "litellm");
    let port: u64 = port.split('/').next().unwrap().parse().unwrap();
    assert!(
        haproxy["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == port),
        "{}",
        haproxy["spec"]["ports"]
    );
}

/// An OpenWebUI installed before PostgreSQL keeps its users and chats in SQLite on the claim
/// `open-webui` (kept by `uninstall`): the upgrade that would start it on an empty database
/// is refused until the operator says the data was moved, and the claim is kept either way.
#[tokio::test(flavor = "multi_thread")]
async fn openwebui_is_not_moved_to_postgresql_while_its_sqlite_data_is_unmigrated() {
    use serde_json::json;
    use support::moto::Moto;
    use support::scenario::{REDIS_CHAIN, Stack, stack};
    let upgraded = |sb: &support::Sandbox, name: &str| {
        sb.helm_calls()
            .iter()
            .any(|c| c[0] == "upgrade" && c.get(2).is_some_and(|n| n == name))
    };
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    kube.insert(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "open-webui", "namespace": "open-webui",
                     "labels": {"app.kubernetes.io/instance": "open-webui"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}}
    }));
    let mut args = REDIS_CHAIN.to_vec();
    args.push("openwebui");
    let run = sb.run(&args).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("PVC open-webui/open-webui (5Gi) holds OpenWebUI's data from an install before PostgreSQL"),
        "{all}"
    );
    assert!(
        all.contains("OPENWEBUI_SQLITE_MIGRATED=true deployctl openwebui")
            && all.contains("from SQLite to PostgreSQL"),
        "{all}"
    );
    assert!(!upgraded(&sb, "open-webui"), "helm ran for open-webui");
    // The other steps completed.
    assert!(upgraded(&sb, "litellm"), "{all}");
    // plan says the same, without changing anything.
    kube.clear_log();
    let plan = sb.run(&["plan", "openwebui"]).await;
    assert!(
        plan.all()
            .contains("PVC open-webui/open-webui (5Gi) holds OpenWebUI's data"),
        "{}",
        plan.all()
    );
    assert!(kube.writes().is_empty(), "{:?}", kube.writes());

    // Moved (README's steps): the release is installed, the claim stays.
    sb.set("OPENWEBUI_SQLITE_MIGRATED", "true");
    let run = sb.run(&["openwebui"]).await;
    run.assert_code(0);
    assert!(upgraded(&sb, "open-webui"), "{}", run.all());
    assert!(
        kube.get(
            "v1",
            "PersistentVolumeClaim",
            Some("open-webui"),
            "open-webui"
        )
        .is_some(),
        "the claim was deleted"
    );
    assert!(
        kube.get("apps/v1", "Deployment", Some("open-webui"), "open-webui")
            .is_some()
    );
}
