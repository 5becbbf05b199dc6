//! The application stack end to end: `all` against the fake Kubernetes API (with its
//! External Secrets / Gatekeeper / workload controllers), the helm stand-in and moto.

use crate::support;

use serde_json::Value;
use std::time::Duration;
use support::moto::Moto;
use support::scenario::{Stack, all_cmd, no_secret_leak, releases, stack, upgrades};

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_all_completes_and_a_healthy_rerun_changes_nothing() {
    let (moto, _guard) = Moto::lock().await;
    let Stack { kube, sb, charts } = stack(moto).await;
    let run = sb.run(&all_cmd(&charts)).await;
    run.assert_code(0);
    no_secret_leak(&run, &sb);
    // Handed to Flux, every release renders as deployctl installed it (#27).
    let gitops = sb.path().join("gitops");
    sb.run(&["export", "--format", "flux", gitops.to_str().unwrap()])
        .await
        .assert_code(0);
    let simulated: &[&str] = if charts.degraded.is_empty() {
        &[]
    } else {
        &["kube-prometheus"]
    };
    let compared = crate::export::assert_export_renders_as_installed(&sb, &gitops, simulated);
    assert_eq!(
        compared.len() + simulated.len(),
        deployctl::stack::releases::Releases::load(&support::repo_root())
            .unwrap()
            .releases
            .len()
            - 1, // the load balancer controller: no entry point in access.yaml
        "{compared:?}"
    );
    // OpenWebUI's admin password lives in Secrets Manager (and the cluster Secret synced from
    // it), nowhere else: no output, no helm child, no file.
    let admin = aws_sdk_secretsmanager::Client::new(&moto.sdk().await)
        .get_secret_value()
        .secret_id("litellm/openwebui-admin")
        .send()
        .await
        .unwrap();
    support::scenario::nowhere(
        &run,
        &sb,
        admin.secret_string().unwrap(),
        "the OpenWebUI admin password",
    );

    // Every release, with its pinned version and both -f files (values, then a private
    // overlay that is gone afterwards).
    let ups = upgrades(&sb);
    // Without an entry point (no certificate configured), the load balancer controller is
    // not installed: its row says so, and how to add one.
    let only_with_entry =
        |name: &str| deployctl::stack::releases::named(name).is_some_and(|r| r.entry_point_only);
    for rel in releases().into_iter().filter(|r| only_with_entry(&r.name)) {
        assert!(
            !ups.iter().any(|u| u["argv"][2] == rel.name.as_str()),
            "{} was installed without an entry point",
            rel.name
        );
    }
    assert!(
        run.stdout.contains("skipped: no entry point is configured"),
        "{}",
        run.stdout
    );
    for rel in releases().into_iter().filter(|r| !only_with_entry(&r.name)) {
        let call = ups
            .iter()
            .find(|u| u["argv"][2] == rel.name.as_str())
            .unwrap_or_else(|| panic!("release {} was not installed: {ups:?}", rel.name));
        let argv: Vec<&str> = call["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // From the charts directory (checked against the pin), so no --version.
        assert!(
            std::path::Path::new(argv[3]).starts_with(charts.path()),
            "release {} not from the charts directory: {argv:?}",
            rel.name
        );
        assert!(!argv.contains(&"--version"), "{argv:?}");
        assert!(
            argv.contains(&"--wait") && argv.contains(&"--install"),
            "{argv:?}"
        );
        let files = call["values"].as_array().unwrap();
        assert_eq!(files.len(), 2, "{argv:?}");
        assert!(
            files[0]["path"]
                .as_str()
                .unwrap()
                .ends_with(&format!("helm-values/{}", rel.values)),
            "{files:?}"
        );
        assert_eq!(files[1]["mode"], "600", "overlay not private: {files:?}");
        assert_eq!(
            files[1]["dir_mode"], "700",
            "overlay dir not private: {files:?}"
        );
        assert!(
            !std::path::Path::new(files[1]["path"].as_str().unwrap()).exists(),
            "overlay left behind"
        );
        if rel.name == "external-secrets" {
            let overlay = files[1]["content"].as_str().unwrap();
            assert!(
                overlay.contains(&format!(
                    "arn:aws:iam::{}:role/test-cluster-external-secrets",
                    support::moto::ACCOUNT
                )),
                "{overlay}"
            );
        }
    }

    // The cluster: namespaces, the store, the ExternalSecrets (with the prefix), the
    // constraints, the dashboard, the Grafana admin Secret.
    for ns in support::NAMESPACES {
        assert!(
            kube.get("v1", "Namespace", None, ns).is_some(),
            "namespace {ns}"
        );
    }
    let store = kube
        .get(
            "external-secrets.io/v1",
            "ClusterSecretStore",
            None,
            "aws-secrets-manager",
        )
        .expect("store");
    assert_eq!(store["spec"]["provider"]["aws"]["region"], "us-east-1");
    for (ns, name) in [
        ("litellm", "litellm-secrets"),
        ("litellm", "redis-credentials"),
        ("open-webui", "openwebui-secrets"),
    ] {
        let es = kube
            .get("external-secrets.io/v1", "ExternalSecret", Some(ns), name)
            .unwrap_or_else(|| panic!("ExternalSecret {ns}/{name}"));
        for d in es["spec"]["data"].as_array().unwrap() {
            let k = d["remoteRef"]["key"].as_str().unwrap();
            assert!(k.starts_with("litellm/"), "{k}");
        }
        assert!(
            kube.get("v1", "Secret", Some(ns), name).is_some(),
            "synced Secret {name}"
        );
    }
    for (kind, name) in [
        ("K8sAllowedRepos", "allowed-image-repos"),
        ("K8sBlockLatestTag", "block-latest-tag"),
        ("K8sBlockNodePort", "block-nodeport-services"),
        ("K8sContainerLimits", "require-container-limits"),
        ("K8sPodSecurity", "pod-security-baseline"),
        ("K8sRequireProbes", "require-health-probes"),
        ("K8sRequiredLabels", "require-standard-labels"),
    ] {
        let c = kube
            .get("constraints.gatekeeper.sh/v1beta1", kind, None, name)
            .unwrap_or_else(|| panic!("constraint {kind}/{name}"));
        assert_eq!(c["spec"]["enforcementAction"], "deny");
    }
    let dash = kube
        .get("v1", "ConfigMap", Some("monitoring"), "litellm-dashboard")
        .expect("dashboard");
    assert_eq!(dash["metadata"]["labels"]["grafana_dashboard"], "1");
    assert!(
        kube.get(
            "v1",
            "Secret",
            Some("monitoring"),
            "grafana-admin-credentials"
        )
        .is_some()
    );
    assert!(run.all().contains("--address 127.0.0.1"), "access hints");
    // A chat works, through the service proxy to LiteLLM, with every configured model.
    assert!(
        run.all().contains("every pod ready, a chat works"),
        "{}",
        run.all()
    );
    // OpenWebUI had its admin before its release was ready: the Secret holding the admin's
    // password was synced before the release was installed.
    let log = kube.requests();
    // (The ExternalSecret was applied, and secret-stores waited for it to sync, before the
    // openwebui step could start.)
    let secret_synced = log.iter().position(|r| {
        r.method == "PATCH"
            && !r.query.contains("dryRun")
            && r.path
                .ends_with("/namespaces/open-webui/externalsecrets/openwebui-secrets")
    });
    let workload = log
        .iter()
        .position(|r| r.method != "GET" && r.path.contains("/namespaces/open-webui/deployments"));
    assert!(
        matches!((secret_synced, workload), (Some(s), Some(w)) if s < w),
        "the admin Secret was not there before OpenWebUI: {secret_synced:?} {workload:?}"
    );
    // OpenWebUI's database set-up hook ran before its Deployment changed, and went once it
    // had succeeded (nothing of it stays).
    let setup = log.iter().position(|r| {
        matches!(r.method.as_str(), "POST" | "PATCH")
            && r.path.contains("/apis/batch/v1/namespaces/open-webui/jobs")
    });
    assert!(
        matches!((setup, workload), (Some(s), Some(w)) if s < w),
        "the database set-up did not run before OpenWebUI: {setup:?} {workload:?}"
    );
    assert!(
        kube.get(
            "batch/v1",
            "Job",
            Some("open-webui"),
            "openwebui-database-setup"
        )
        .is_none(),
        "the succeeded set-up Job stayed"
    );
    let synced = kube
        .get("v1", "Secret", Some("open-webui"), "openwebui-secrets")
        .unwrap();
    assert!(synced["data"]["admin-password"].is_string(), "{synced}");
    assert!(
        run.all().contains("/health/liveliness answered"),
        "{}",
        run.all()
    );

    // A healthy re-run that skips healthy resources calls no helm upgrade and writes nothing.
    let before = upgrades(&sb).len();
    kube.clear_log();
    let rv = kube.resource_version();
    let mut again = sb.command(&all_cmd(&charts));
    again.env("AUTO_SKIP_HEALTHY", "true");
    let out = again.output().unwrap();
    let rerun = support::Run::from(out);
    rerun.assert_code(0);
    assert_eq!(upgrades(&sb).len(), before, "{}", rerun.all());
    assert!(kube.writes().is_empty(), "{:?}", kube.writes());
    assert_eq!(kube.resource_version(), rv);
    no_secret_leak(&rerun, &sb);

    // `plan` reads only: no API writes, no model call, helm only read commands.
    let calls_before = sb.helm_calls().len();
    kube.clear_log();
    let plan = sb.run(&["plan"]).await;
    plan.assert_code(0);
    assert!(plan.stdout.contains("litellm"), "{}", plan.stdout);
    assert!(kube.writes().is_empty(), "{:?}", kube.writes());
    assert!(
        kube.app_calls().is_empty(),
        "plan called an application: {:?}",
        kube.app_calls()
    );
    for call in &sb.helm_calls()[calls_before..] {
        assert!(
            (matches!(call[0].as_str(), "status" | "repo" | "version" | "list")
                || call[..2] == ["get".to_string(), "metadata".to_string()])
                && !call.contains(&"add".to_string()),
            "plan ran helm {call:?}"
        );
    }

    // Right after `all`, every release is healthy at its pin, as the real helm reports it:
    // nothing to do when healthy resources are skipped.
    let mut plan = sb.command(&["plan", "--output", "json"]);
    plan.env("AUTO_SKIP_HEALTHY", "true");
    let plan = support::Run::from(plan.output().unwrap());
    plan.assert_code(0);
    support::assert_events_valid(&plan.stdout, &["plan", "--output", "json"]);
    let events: Vec<Value> = plan
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| e["event"] == "plan")
        .collect();
    for step in [
        "external-secrets",
        "gatekeeper",
        "monitoring",
        "jaeger",
        "redis",
        "litellm",
        "openwebui",
    ] {
        let e = events
            .iter()
            .find(|e| e["step"] == step)
            .unwrap_or_else(|| panic!("no plan event for {step}: {}", plan.stdout));
        assert!(
            e["state"].as_str().unwrap().starts_with("healthy"),
            "{step}: {e}"
        );
        assert_eq!(e["action"], "skip", "{step}: {e}");
    }
}

/// Benchmark, not a test: how long a healthy re-run of `all` takes (assess everything
/// concurrently, skip, verify). Run with
/// `cargo test --features test-fakes --test suite stack::bench -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn bench_healthy_rerun_of_all() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube: _kube,
        sb,
        charts,
    } = stack(moto).await;
    let first = std::time::Instant::now();
    sb.run(&all_cmd(&charts)).await.assert_code(0);
    let fresh = first.elapsed();
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut cmd = sb.command(&all_cmd(&charts));
        cmd.env("AUTO_SKIP_HEALTHY", "true");
        let t = std::time::Instant::now();
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        times.push(t.elapsed());
        support::Run::from(out).assert_code(0);
    }
    times.sort();
    println!(
        "fresh all (fake cluster, real helm): {fresh:?}; healthy re-run: min {:?}, median {:?}, max {:?}",
        times[0], times[2], times[4]
    );
    println!("BENCH healthy_rerun median_ms={}", times[2].as_millis());
}

/// Install times of the releases on a real cluster, scaled down 100× (monitoring's 90 s →
/// 900 ms): the fake cluster is instant, so without them the scheduling would not show.
const RELEASE_MS: &str = "monitoring=900,gatekeeper=450,external-secrets=400,redis=600,litellm=600,openwebui=400,jaeger=300";

/// The critical path of the step graph under the measured step durations: the shortest
/// possible wall time of a run that starts each step the moment its needs are done (the
/// engine's rules: graph needs, the validate gate, runs-last steps after all others).
fn critical_path(durations: &std::collections::HashMap<String, Duration>) -> Duration {
    use deployctl::graph::{StepId, all_steps};
    let selected: Vec<StepId> = all_steps()
        .into_iter()
        .filter(|s| durations.contains_key(s.name()))
        .collect();
    let mut finish: std::collections::HashMap<StepId, Duration> = Default::default();
    // all_steps() is in graph order: every step after its needs.
    for id in &selected {
        let needs = deployctl::engine::waits_for(*id, &selected, &selected);
        let start = needs.iter().map(|n| finish[n]).max().unwrap_or_default();
        finish.insert(*id, start + durations[id.name()]);
    }
    finish.values().copied().max().unwrap_or_default()
}

/// Benchmark, not a test (scripts/bench.sh runs it): a fresh `all` with realistic release
/// times against the critical path of the graph under the same step durations.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn bench_fresh_all_against_its_critical_path() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube: _kube,
        mut sb,
        charts,
    } = stack(moto).await;
    sb.set("FAKE_HELM_RELEASE_MS", RELEASE_MS);
    let mut args = all_cmd(&charts);
    args.extend(["--output", "json"]);
    // The process alone is timed (`Sandbox::run` would add the events' schema check).
    let cmd = sb.command(&args);
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = cmd;
        cmd.stdin(std::process::Stdio::null()).output().unwrap()
    })
    .await
    .unwrap();
    let wall = started.elapsed();
    let run = support::Run::from(out);
    support::assert_events_valid(&run.stdout, &args);
    run.assert_code(0);
    let summary: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let durations: std::collections::HashMap<String, Duration> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                Duration::from_millis(s["duration_ms"].as_u64().unwrap()),
            )
        })
        .collect();
    let path = critical_path(&durations);
    println!(
        "BENCH fresh_all wall_ms={} critical_path_ms={} ratio={:.3}",
        wall.as_millis(),
        path.as_millis(),
        wall.as_secs_f64() / path.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_charts_directory_that_does_not_match_the_pins_stops_before_anything_changes() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    let charts = support::charts::charts_dir();
    let chart_yaml = charts.path().join("redis-ha/Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).unwrap();
    std::fs::write(
        &chart_yaml,
        text.replace("version: 4.39.0", "version: 4.35.5"),
    )
    .unwrap();
    std::fs::remove_dir_all(charts.path().join("jaeger")).unwrap();
    sb.set("DEPLOYCTL_CHARTS_DIR", charts.path().to_str().unwrap());
    let run = sb.run(&all_cmd(&charts)).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("is version 4.35.5") && all.contains("pins redis-ha 4.39.0"),
        "{all}"
    );
    assert!(all.contains("no chart for release jaeger"), "{all}");
    assert!(all.contains("deployctl charts pull"), "{all}");
    assert!(upgrades(&sb).is_empty(), "a release was installed");
    assert!(
        kube.writes().is_empty(),
        "the cluster was changed: {:?}",
        kube.writes()
    );
}
