//! The helm stand-in acts on the fake cluster the way helm would.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::kube_server::FakeKube;
use support::{Run, Sandbox, fake_helm_bin};

async fn helm(sb: &Sandbox, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(fake_helm_bin());
    cmd.args(args)
        .env_clear()
        .env("HOME", &sb.home)
        .env("KUBECONFIG", &sb.kubeconfig)
        .env("FAKE_HELM_STATE", &sb.helm_state)
        .env("FAKE_HELM_LOG", &sb.helm_log);
    Run::from(cmd.output().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_install_creates_workloads_waits_and_reports_in_helms_json() {
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(100));
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "litellm"}}));
    let sb = Sandbox::new(&kube);
    let values = sb.path().join("values.yaml");
    std::fs::write(&values, "replicas: 3\n").unwrap();
    let run = helm(
        &sb,
        &[
            "upgrade",
            "--install",
            "redis",
            "dandydev/redis-ha",
            "-n",
            "litellm",
            "--version",
            "4.33.0",
            "-f",
            values.to_str().unwrap(),
            "--wait",
            "--timeout",
            "5m",
        ],
    )
    .await;
    run.assert_code(0);
    let sts = kube
        .get(
            "apps/v1",
            "StatefulSet",
            Some("litellm"),
            "redis-redis-ha-server",
        )
        .expect("statefulset created");
    assert_eq!(sts["status"]["readyReplicas"], 3);

    let status = helm(&sb, &["status", "redis", "-n", "litellm", "-o", "json"]).await;
    status.assert_code(0);
    let v: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["info"]["status"], "deployed");
    assert_eq!(v["version"], 1);
    // As the real helm: no chart object in status; the version is in get metadata.
    assert!(v.get("chart").is_none(), "{v}");
    let meta = helm(
        &sb,
        &["get", "metadata", "redis", "-n", "litellm", "-o", "json"],
    )
    .await;
    meta.assert_code(0);
    let m: Value = serde_json::from_str(&meta.stdout).unwrap();
    assert_eq!(m["version"], "4.33.0");
    assert_eq!(m["status"], "deployed");
    assert_eq!(m["revision"], 1);

    let list = helm(&sb, &["list", "-A", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(v[0]["chart"], "redis-ha-4.33.0");
    assert_eq!(v[0]["revision"], "1");

    // The log keeps argv and the values files' content.
    let entry = sb
        .helm_log_entries()
        .into_iter()
        .find(|e| e["argv"][0] == "upgrade")
        .unwrap();
    assert_eq!(entry["values"][0]["content"], "replicas: 3\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_told_to_fail_fails_like_helm_and_status_says_failed() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.set_helm_state(&json!({"repos": [], "releases": {}, "fail": ["redis"]}));
    let run = helm(
        &sb,
        &[
            "upgrade",
            "--install",
            "redis",
            "dandydev/redis-ha",
            "-n",
            "litellm",
        ],
    )
    .await;
    run.assert_code(1);
    assert!(run.stderr.contains("UPGRADE FAILED"), "{}", run.stderr);
    let status = helm(&sb, &["status", "redis", "-n", "litellm", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["info"]["status"], "failed");
    let missing = helm(&sb, &["status", "nope", "-n", "litellm", "-o", "json"]).await;
    missing.assert_code(1);
    assert!(missing.stderr.contains("release: not found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_times_out_when_nothing_becomes_ready() {
    let kube = FakeKube::start().await; // no controllers
    kube.insert(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}),
    );
    let sb = Sandbox::new(&kube);
    let run = helm(
        &sb,
        &[
            "upgrade",
            "--install",
            "jaeger",
            "jaegertracing/jaeger",
            "-n",
            "monitoring",
            "--wait",
            "--timeout",
            "1s",
        ],
    )
    .await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("context deadline exceeded"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Deployment/jaeger"), "{}", run.stderr);
}
