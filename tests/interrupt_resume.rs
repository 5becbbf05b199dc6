//! Ctrl-C during a run, and `--resume` afterwards.

mod support;

use std::time::Duration;
use support::kube_server::FakeKube;
use support::{Run, Sandbox};

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_starts_nothing_new_lets_the_running_step_finish_and_exits_130() {
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.set("FAKE_HELM_DELAY_MS", "1500");
    let mut cmd = tokio::process::Command::from(sb.command(&[
        "run",
        "helm-repos",
        "namespaces",
        "--concurrency",
        "1",
    ]));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    // helm-repos runs first (one at a time); interrupt it while `helm repo update` runs.
    wait_for("helm repo update", || {
        sb.helm_calls().iter().any(|c| c[..2] == ["repo", "update"])
    })
    .await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let run = Run::from(out);
    run.assert_code(130);
    assert!(run.all().contains("interrupted"), "{}", run.all());
    // The running step finished; the next one never started.
    assert!(
        run.stdout.contains("helm-repos") && run.stdout.contains("ok:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("not run: interrupted"),
        "{}",
        run.stdout
    );
    assert!(
        kube.writes().is_empty(),
        "namespaces were applied after Ctrl-C"
    );
    assert_eq!(sb.helm_state()["repos"].as_array().unwrap().len(), 6);

    // --resume skips helm-repos (done and healthy) and runs namespaces.
    sb.set("FAKE_HELM_DELAY_MS", "0");
    let before = sb.helm_calls().len();
    let run = sb
        .run(&[
            "run",
            "helm-repos",
            "namespaces",
            "--concurrency",
            "1",
            "--resume",
        ])
        .await;
    run.assert_code(0);
    assert!(run.stdout.contains("--resume"), "{}", run.stdout);
    assert_eq!(kube.user_namespaces().len(), 5);
    let after: Vec<_> = sb.helm_calls()[before..].to_vec();
    assert!(
        after
            .iter()
            .all(|c| c[..2] != ["repo", "update"] && c[..2] != ["repo", "add"]),
        "helm-repos ran again: {after:?}"
    );

    // Nothing left to resume: a warning, then a normal run.
    let run = sb
        .run(&["run", "helm-repos", "namespaces", "--resume"])
        .await;
    run.assert_code(0);
    assert!(
        run.stderr.contains("finished successfully"),
        "{}",
        run.stderr
    );
}
