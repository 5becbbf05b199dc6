//! `deployctl litellm`: the gateway (critical). Without Redis it names the fix and changes
//! nothing; its values must reach Redis through HA's haproxy Service (caught on the real
//! chart's rendered objects); every Bedrock model it offers is allowed by its IAM policy.

use crate::support;

use support::charts::{charts_dir, project_with, render_project};
use support::moto::Moto;
use support::repo_root;
use support::scenario::{REDIS_CHAIN, Stack, refused_without, stack, upgrades};

#[tokio::test(flavor = "multi_thread")]
async fn litellm_on_the_headless_redis_service_is_caught() {
    let charts = charts_dir();
    let project = project_with("helm-values/litellm.yaml", |t| {
        t.replace(
            "REDIS_HOST: redis-redis-ha-haproxy.litellm",
            "REDIS_HOST: redis-redis-ha.litellm",
        )
    });
    let run = render_project(&charts, project.path()).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("selects the redis-ha server pods"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn litellm_without_redis_names_the_fix_and_changes_nothing() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    // The chain up to the secret stores: everything redis needs.
    sb.run(&REDIS_CHAIN[..7]).await.assert_code(0);
    let before = upgrades(&sb).len();
    let run = refused_without(&kube, &sb, "litellm", "redis").await;
    assert!(run.stderr.contains("--with-deps"), "{}", run.stderr);
    assert_eq!(upgrades(&sb).len(), before);
}

#[test]
fn every_bedrock_model_litellm_offers_is_allowed_by_its_iam_policy() {
    // The policy deployctl writes: the file's statements plus those generated from the model list.
    let models = deployctl::stack::bedrock::load(&repo_root()).unwrap();
    assert!(!models.is_empty());
    let statements =
        deployctl::stack::bedrock::invoke_statements(&models, "aws", "us-east-1", "111122223333");
    let allowed = |arn: &str| {
        statements.iter().any(|s| {
            s["Resource"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| support::arn_glob(r.as_str().unwrap(), arn))
        })
    };
    for m in &models {
        let arn = match &m.geography {
            Some(_) => format!(
                "arn:aws:bedrock:us-east-1:111122223333:inference-profile/{}",
                m.id
            ),
            None => format!("arn:aws:bedrock:us-east-1::foundation-model/{}", m.id),
        };
        assert!(allowed(&arn), "{} not allowed by the bedrock policy", m.id);
        // The model behind a profile, in another destination region.
        let behind = format!("arn:aws:bedrock:us-west-2::foundation-model/{}", m.base);
        assert_eq!(allowed(&behind), m.geography.is_some(), "{behind}");
    }
    // Nothing else: another model is not allowed.
    assert!(!allowed(
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-1-20250805-v1:0"
    ));
}

/// As the real helm renders our values: the schema migrations run once, as a pre-install and
/// pre-upgrade hook Job that gets DATABASE_URL from litellm-secrets and runs as litellm-sa
/// (which deployctl applies before the release: the chart does not make it), with our security
/// context and resources; the proxy pods never migrate. And who asks reaches LiteLLM: OpenWebUI
/// forwards the user headers, LiteLLM attributes spend to the e-mail one.
#[tokio::test(flavor = "multi_thread")]
async fn migrations_run_once_as_a_hook_and_spend_is_attributed_to_the_user() {
    let charts = charts_dir();
    let run = render_project(&charts, &repo_root()).await;
    run.assert_code(0);
    let objects = support::charts::parse_rendered(&run.stdout);
    let find = |release: &str, kind: &str| {
        objects
            .iter()
            .filter(|o| o.release == release && o.value["kind"] == kind)
            .map(|o| o.value.clone())
            .collect::<Vec<_>>()
    };
    let jobs = find("litellm", "Job");
    assert_eq!(jobs.len(), 1, "one migration Job");
    let job = &jobs[0];
    assert_eq!(
        job["metadata"]["annotations"]["helm.sh/hook"],
        "pre-install,pre-upgrade"
    );
    assert!(job["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_null());
    let spec = &job["spec"]["template"]["spec"];
    assert_eq!(spec["serviceAccountName"], "litellm-sa");
    assert_ne!(spec["restartPolicy"], "Always");
    let c = &spec["containers"][0];
    assert_eq!(c["securityContext"]["runAsUser"], 65534);
    assert!(c["resources"]["limits"]["memory"].is_string());
    let env = c["env"].as_array().unwrap();
    assert!(
        env.iter().any(|e| e["name"] == "DATABASE_URL"
            && e["valueFrom"]["secretKeyRef"]["name"] == "litellm-secrets"),
        "the Job gets DATABASE_URL from litellm-secrets: {env:?}"
    );
    let last = env
        .iter()
        .rev()
        .find(|e| e["name"] == "DISABLE_SCHEMA_UPDATE")
        .unwrap();
    assert_eq!(
        last["value"], "false",
        "the Job migrates (its value comes last)"
    );
    // The proxy pods do not.
    let deploy = &find("litellm", "Deployment")[0];
    let penv = deploy["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    assert!(
        penv.iter()
            .any(|e| e["name"] == "DISABLE_SCHEMA_UPDATE" && e["value"] == "true"),
        "{penv:?}"
    );
    assert!(
        find("litellm", "ServiceAccount").is_empty(),
        "the chart must not make litellm-sa: deployctl applies it before the hook"
    );
    // Spend per user: OpenWebUI forwards who asks; LiteLLM maps the e-mail header to the
    // request's end user, and labels spend with it on /metrics (which Prometheus may read).
    let owui = find("open-webui", "Deployment")
        .first()
        .cloned()
        .expect("OpenWebUI's Deployment");
    let oenv = owui["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    assert!(
        oenv.iter()
            .any(|e| e["name"] == "ENABLE_FORWARD_USER_INFO_HEADERS" && e["value"] == "true")
    );
    let cm = find("litellm", "ConfigMap")
        .into_iter()
        .find(|c| c["data"]["config.yaml"].is_string())
        .unwrap();
    let config: serde_json::Value =
        serde_saphyr::from_str(cm["data"]["config.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(
        config["general_settings"]["user_header_mappings"][0],
        serde_json::json!({"header_name": "X-OpenWebUI-User-Email", "litellm_user_role": "customer"})
    );
    assert_eq!(
        config["litellm_settings"]["enable_end_user_cost_tracking_prometheus_only"],
        true
    );
    assert_eq!(
        config["litellm_settings"]["require_auth_for_metrics_endpoint"],
        false
    );
}

/// A migration that fails fails the release, and helm takes it back: on a first install
/// nothing of LiteLLM is left serving; on an upgrade the previous revision keeps serving,
/// unchanged — never a proxy half-started on a schema it cannot use.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_migration_fails_the_release_and_is_rolled_back() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    let chain_without_litellm = &REDIS_CHAIN[..REDIS_CHAIN.len() - 1];
    sb.run(chain_without_litellm).await.assert_code(0);

    kube.fail_jobs(
        "litellm-migrations",
        "P3009: migrate found failed migrations",
    );
    let run = sb.run(&["litellm"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("litellm") && all.contains("litellm-migrations"),
        "the failure does not name the migration Job: {all}"
    );
    assert!(
        kube.get("apps/v1", "Deployment", Some("litellm"), "litellm")
            .is_none(),
        "a proxy was left after the failed install"
    );

    // Installed once the migration works; then an upgrade whose migration fails.
    kube.clear_job_failures();
    sb.run(&["litellm"]).await.assert_code(0);
    let before = kube
        .get("apps/v1", "Deployment", Some("litellm"), "litellm")
        .unwrap();
    let project = project_with("helm-values/litellm.yaml", |t| {
        t.replacen("replicaCount: 2", "replicaCount: 3", 1)
    });
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    kube.fail_jobs(
        "litellm-migrations",
        "P3009: migrate found failed migrations",
    );
    let run = sb.run(&["litellm"]).await;
    run.assert_code(1);
    let after = kube
        .get("apps/v1", "Deployment", Some("litellm"), "litellm")
        .expect("the previous revision keeps serving");
    assert_eq!(after["spec"]["replicas"], before["spec"]["replicas"]);
    assert_eq!(before["spec"]["replicas"], 2);
}
