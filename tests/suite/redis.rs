//! `deployctl redis`: Redis HA (critical) in the stack — a failure stops its chain and not
//! the other branches, a broken release cannot be skipped, and a redis-password rotation is
//! followed through (refresh, restart Redis then LiteLLM), even by the next run after a kill.

use crate::support;

use std::time::Duration;
use support::moto::Moto;
use support::scenario::{REDIS_CHAIN, Stack, all_cmd, stack, upgrades};
use support::{Sandbox, key, pty};

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_redis_stops_its_chain_not_the_other_branches() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube: _kube,
        sb,
        charts,
    } = stack(moto).await;
    sb.fail_release("redis");
    let run = sb.run(&all_cmd(&charts)).await;
    run.assert_code(1);
    crate::screens::assert_screen("summary_redis_failed", run.summary());
    let all = run.all();
    let row = |step: &str| run.summary_row(step);
    assert!(row("redis").contains("FAILED"), "{all}");
    for step in ["litellm", "openwebui"] {
        assert!(row(step).contains("not run"), "{step}: {all}");
    }
    for step in ["monitoring", "jaeger", "gatekeeper"] {
        assert!(row(step).contains("ok"), "{step}: {all}");
    }
    assert!(all.contains("`deployctl redis`"), "next command: {all}");
    assert!(!upgrades(&sb).iter().any(|u| u["argv"][2] == "litellm"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_critical_release_cannot_be_skipped() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    sb.run(&REDIS_CHAIN).await.assert_code(0);
    // helm's own record of the release says `failed` (as a failed upgrade leaves it).
    let mark_failed = |_sb: &Sandbox| {
        support::charts::set_release_status(&kube, "litellm", "redis", "failed");
    };
    // Non-interactive with every skip switch on: repaired anyway.
    mark_failed(&sb);
    let before = upgrades(&sb).len();
    sb.set("AUTO_SKIP_HEALTHY", "true").set("SKIP_ALL", "true");
    let run = sb.run(&["redis"]).await;
    run.assert_code(0);
    assert_eq!(upgrades(&sb).len(), before + 1, "{}", run.all());
    sb.unset("AUTO_SKIP_HEALTHY").unset("SKIP_ALL");

    // Interactive: Skip is refused; quitting changes nothing.
    mark_failed(&sb);
    let before = upgrades(&sb).len();
    let code = pty(&sb, &["redis"], |p| {
        p.exp_string("helm release is failed").unwrap();
        p.exp_string("Choose [").unwrap();
        key(p, "s");
        p.exp_string("cannot skip").unwrap();
        key(p, "q");
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(upgrades(&sb).len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_redis_password_refreshes_and_restarts() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    let mut chain = REDIS_CHAIN.to_vec();
    chain.push("openwebui");
    sb.run(&chain).await.assert_code(0);
    let redis_url = |kube: &support::kube_server::FakeKube| {
        kube.get("v1", "Secret", Some("open-webui"), "openwebui-redis")
            .unwrap()["data"]["redis-url"]
            .as_str()
            .map(|b| String::from_utf8(deployctl::platform::encoding::decode(b).unwrap()).unwrap())
            .unwrap()
    };
    let url_before = redis_url(&kube);
    // The sync stamp has a one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = sb.run(&["secrets", "--rotate", "redis-password"]).await;
    run.assert_code(0);
    let all = run.all();
    // OpenWebUI's websockets and shared state use the same Redis: its URL is re-made from the
    // new password and its pods restarted on it.
    assert!(
        all.contains("re-synced ExternalSecret openwebui-redis"),
        "{all}"
    );
    assert!(all.contains("restarted Deployment open-webui"), "{all}");
    // (The fake External Secrets writes a value stamped with the sync time, not the secret's.)
    let url_now = redis_url(&kube);
    assert!(
        url_now != url_before && url_now.starts_with("redis://:"),
        "OpenWebUI's Redis URL was not re-made"
    );
    let ui = kube
        .get("apps/v1", "Deployment", Some("open-webui"), "open-webui")
        .unwrap();
    assert!(
        ui["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    assert!(
        all.contains("re-synced ExternalSecret redis-credentials"),
        "{all}"
    );
    assert!(
        all.contains("restarted StatefulSet redis-redis-ha-server"),
        "{all}"
    );
    assert!(all.contains("restarted Deployment litellm"), "{all}");
    let es = kube
        .get(
            "external-secrets.io/v1",
            "ExternalSecret",
            Some("litellm"),
            "redis-credentials",
        )
        .unwrap();
    assert!(es["metadata"]["annotations"]["force-sync"].is_string());
    for (kind, name) in [
        ("StatefulSet", "redis-redis-ha-server"),
        ("Deployment", "litellm"),
    ] {
        let w = kube.get("apps/v1", kind, Some("litellm"), name).unwrap();
        assert!(
            w["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
                .is_string(),
            "{kind} {name} not restarted"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_killed_during_its_follow_through_is_finished_by_the_next_run() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    sb.run(&REDIS_CHAIN).await.assert_code(0);
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    let password = || async {
        sm.get_secret_value()
            .secret_id("litellm/redis-password")
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap()
            .to_string()
    };
    let before = password().await;
    // A slow cluster: the restarted pods take a minute, so the follow-through is mid-wait
    // when deployctl is killed outright.
    kube.set_controller_delay(Duration::from_secs(60));
    let mut cmd =
        tokio::process::Command::from(sb.command(&["secrets", "--rotate", "redis-password"]));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let restarted = || {
        kube.get(
            "apps/v1",
            "StatefulSet",
            Some("litellm"),
            "redis-redis-ha-server",
        )
        .is_some_and(|s| {
            s["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
                .is_string()
        })
    };
    let started = std::time::Instant::now();
    while !restarted() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the follow-through never restarted Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().await.unwrap();
    assert_ne!(password().await, before, "the rotation happened in AWS");
    kube.set_controller_delay(Duration::from_millis(30));

    // Any later `deployctl secrets` finishes it first, saying so.
    let run = sb.run(&["secrets"]).await;
    run.assert_code(0);
    let all = run.all();
    assert!(
        all.contains("rotation an earlier run left pending"),
        "{all}"
    );
    assert!(
        all.contains("finished the pending redis-password rotation"),
        "{all}"
    );
    assert!(all.contains("restarted Deployment litellm"), "{all}");
    let litellm = kube
        .get("apps/v1", "Deployment", Some("litellm"), "litellm")
        .unwrap();
    assert!(
        litellm["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string(),
        "LiteLLM was never restarted"
    );
    // And then nothing is pending.
    let run = sb.run(&["secrets"]).await;
    run.assert_code(0);
    assert!(!run.all().contains("pending"), "{}", run.all());
}
