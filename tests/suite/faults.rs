//! Faults and interrupts against the real helm: an interrupted upgrade is rolled back, a
//! release that a killed helm left pending is repaired, and interrupts before any change or
//! twice stop at once.

use crate::support;
use crate::support::scenario::Stack;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::Value;
use std::time::Duration;
use support::kube_server::FakeKube;
use support::{Run, Sandbox};

const JAEGER: [&str; 4] = ["run", "helm-repos", "namespaces", "jaeger"];

/// deployctl in a process group of its own (as a shell runs a job), output piped.
fn spawn(sb: &Sandbox, args: &[&str]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::from(sb.command(args));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    cmd.spawn().unwrap()
}

/// Send `signal` to the whole process group, as a terminal's Ctrl-C (or a CI runner's
/// cancel) does.
fn signal_group(pgid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} -{pgid}");
}

async fn finish(child: tokio::process::Child, within: Duration) -> Run {
    let out = tokio::time::timeout(within, child.wait_with_output())
        .await
        .expect("deployctl did not stop in time")
        .unwrap();
    Run::from(out)
}

async fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `helm history jaeger` through the real helm against the fake API server.
fn history(sb: &Sandbox) -> Vec<Value> {
    let out = sb
        .helm_command(&["history", "jaeger", "-n", "monitoring", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `history`, or nothing while the release does not exist yet.
fn history_if_any(sb: &Sandbox) -> Vec<Value> {
    let out = sb
        .helm_command(&["history", "jaeger", "-n", "monitoring", "-o", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// Make jaeger unhealthy on a slow cluster: its pod is gone and its replacement takes a
/// minute to become ready, so the next run upgrades it and helm waits.
async fn slow_and_unhealthy(kube: &FakeKube) {
    kube.set_controller_delay(Duration::from_secs(60));
    let pods: Api<Pod> = Api::namespaced(kube.client().await, "monitoring");
    let lp = ListParams::default().labels("app.kubernetes.io/name=jaeger");
    for p in pods.list(&lp).await.unwrap() {
        pods.delete(&p.metadata.name.unwrap(), &DeleteParams::default())
            .await
            .unwrap();
    }
}

fn upgrading(sb: &Sandbox) -> bool {
    sb.helm_calls()
        .iter()
        .filter(|c| c.first().map(String::as_str) == Some("upgrade"))
        .count()
        >= 2
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_to_the_group_during_a_slow_upgrade_rolls_the_release_back_and_exits_130() {
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = support::scenario::helm_cluster().await;
    sb.run(&JAEGER).await.assert_code(0);
    assert_eq!(history(&sb).len(), 1);
    slow_and_unhealthy(&kube).await;

    let child = spawn(&sb, &JAEGER);
    let pgid = child.id().unwrap();
    wait_for("helm upgrade", Duration::from_secs(60), || upgrading(&sb)).await;
    // helm is waiting for the pod; give it a moment to be inside the wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal_group(pgid, "INT");
    // The cluster recovers, so the rollback's own wait can finish.
    kube.set_controller_delay(Duration::from_millis(30));
    let run = finish(child, Duration::from_secs(120)).await;
    run.assert_code(130);
    assert!(run.all().contains("interrupted"), "{}", run.all());
    // The upgrade was rolled back, not stranded: the last revision is a deployed rollback.
    let h = history(&sb);
    let last = h.last().unwrap();
    assert_eq!(last["status"], "deployed", "{h:#?}");
    assert!(
        last["description"]
            .as_str()
            .unwrap_or("")
            .contains("Rollback"),
        "{h:#?}"
    );
    // The upgrade carried helm's roll-back-on-failure flag.
    let upgrade = sb
        .helm_calls()
        .into_iter()
        .rfind(|c| c[0] == "upgrade")
        .unwrap();
    assert!(
        upgrade.iter().any(|a| a == "--rollback-on-failure"),
        "{upgrade:?}"
    );
    // And the next run has nothing to repair.
    let run = sb.run(&JAEGER).await;
    run.assert_code(0);
    assert!(!run.all().contains("repaired"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_left_pending_by_a_killed_helm_is_repaired_by_the_next_run() {
    let Stack { kube, sb, charts } = support::scenario::helm_cluster().await;
    sb.run(&JAEGER).await.assert_code(0);
    slow_and_unhealthy(&kube).await;
    // A helm upgrade killed outright mid-wait (SIGKILL, a closed laptop) leaves the release
    // pending-upgrade: every later upgrade is refused.
    let chart = charts.path().join("jaeger");
    let mut helm = sb
        .helm_command(&[
            "upgrade",
            "jaeger",
            chart.to_str().unwrap(),
            "-n",
            "monitoring",
            "--reuse-values",
            "--wait",
            "--timeout",
            "5m",
        ])
        .spawn()
        .unwrap();
    wait_for("the pending release", Duration::from_secs(60), || {
        history(&sb)
            .last()
            .is_some_and(|r| r["status"] == "pending-upgrade")
    })
    .await;
    helm.kill().unwrap();
    let _ = helm.wait();
    kube.set_controller_delay(Duration::from_millis(30));
    // It was killed longer ago than the release's time limit: no helm can still be working
    // on it (a younger pending record is waited for: interrupt_resume.rs).
    support::charts::backdate_release(&kube, "monitoring", "jaeger", 3600);

    // `plan` reports it, naming the state.
    let plan = sb.run(&["plan", "jaeger"]).await;
    assert!(plan.all().contains("pending-upgrade"), "{}", plan.all());
    // The next run repairs it (rollback to the last deployed revision), then upgrades.
    let run = sb.run(&JAEGER).await;
    run.assert_code(0);
    assert!(
        run.all().contains("repaired: release was pending-upgrade"),
        "{}",
        run.all()
    );
    let h = history(&sb);
    assert_eq!(h.last().unwrap()["status"], "deployed", "{h:#?}");
    assert!(
        h.iter().any(|r| r["description"]
            .as_str()
            .unwrap_or("")
            .contains("Rollback to 1")),
        "{h:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_before_any_change_stops_at_once_and_a_second_one_does_too() {
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = support::scenario::helm_cluster().await;
    // Assess is slow: the namespace list answers after 20 s.
    kube.delay_next("/api/v1/namespaces", 50, Duration::from_secs(20));
    let child = spawn(&sb, &["namespaces"]);
    let pgid = child.id().unwrap();
    wait_for("assess", Duration::from_secs(30), || {
        kube.requests()
            .iter()
            .any(|r| r.path.contains("/api/v1/namespaces"))
    })
    .await;
    let started = std::time::Instant::now();
    signal_group(pgid, "TERM");
    let run = finish(child, Duration::from_secs(10)).await;
    run.assert_code(130);
    assert!(started.elapsed() < Duration::from_secs(5), "not at once");
    assert!(
        run.stderr.contains("stopped before changing anything"),
        "{}",
        run.stderr
    );
    assert!(kube.writes().is_empty());

    // While a step runs, the first interrupt waits for it; the second stops at once.
    kube.delay_next("PATCH /api/v1/namespaces/", 50, Duration::from_secs(30));
    let child = spawn(&sb, &["namespaces"]);
    let pgid = child.id().unwrap();
    wait_for("the namespaces apply", Duration::from_secs(60), || {
        kube.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("/api/v1/namespaces/"))
    })
    .await;
    signal_group(pgid, "INT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    signal_group(pgid, "INT");
    let run = finish(child, Duration::from_secs(10)).await;
    run.assert_code(130);
    assert!(started.elapsed() < Duration::from_secs(5), "not at once");
    assert!(run.stderr.contains("interrupted again"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_429_or_a_black_hole_ends_in_a_named_timeout_within_the_budget() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    kube.fail_next("PATCH /api/v1/namespaces/litellm", 10_000, 429);
    let started = std::time::Instant::now();
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(
        run.all().contains("gave up after") && run.all().contains("retry budget 30s"),
        "{}",
        run.all()
    );
    assert!(run.all().contains("TooManyRequests"), "{}", run.all());
    // It said what it was waiting for while it waited.
    assert!(run.stderr.contains("still trying"), "{}", run.stderr);

    // A black hole: the namespace reads never answer.
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    kube.delay_next("GET /api/v1/namespaces/", 10_000, Duration::from_secs(3600));
    let started = std::time::Instant::now();
    let run = sb.run(&["namespaces"]).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_ne!(run.code, 0);
    assert!(
        run.all()
            .contains("no answer from the Kubernetes API within"),
        "{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_never_deployed_release_stuck_in_pending_install_is_uninstalled_only_when_allowed() {
    let Stack { kube, sb, charts } = support::scenario::helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces"])
        .await
        .assert_code(0);
    // A first install killed outright mid-wait leaves pending-install.
    kube.set_controller_delay(Duration::from_secs(60));
    let chart = charts.path().join("jaeger");
    let mut helm = sb
        .helm_command(&[
            "install",
            "jaeger",
            chart.to_str().unwrap(),
            "-n",
            "monitoring",
            "--wait",
            "--timeout",
            "5m",
        ])
        .spawn()
        .unwrap();
    wait_for("the pending install", Duration::from_secs(60), || {
        history_if_any(&sb)
            .last()
            .is_some_and(|r| r["status"] == "pending-install")
    })
    .await;
    helm.kill().unwrap();
    let _ = helm.wait();
    kube.set_controller_delay(Duration::from_millis(30));
    support::charts::backdate_release(&kube, "monitoring", "jaeger", 3600);

    // Without a terminal and without the flag: refused, naming the flag; nothing changed.
    let run = sb.run(&["jaeger"]).await;
    run.assert_code(1);
    assert!(run.all().contains("pending-install"), "{}", run.all());
    assert!(
        run.all().contains("--repair-pending-installs"),
        "{}",
        run.all()
    );
    assert_eq!(history(&sb).last().unwrap()["status"], "pending-install");

    // With it: uninstalled, then installed.
    let run = sb.run(&["jaeger", "--repair-pending-installs"]).await;
    run.assert_code(0);
    assert!(
        run.all()
            .contains("never deployed, uninstalled it before installing again"),
        "{}",
        run.all()
    );
    let h = history(&sb);
    assert_eq!(h.last().unwrap()["status"], "deployed", "{h:#?}");
}
