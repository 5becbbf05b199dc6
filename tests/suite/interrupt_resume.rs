//! Ctrl-C during a run, and `--resume` afterwards.

use crate::support;

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
async fn ctrl_c_starts_nothing_new_asks_running_children_to_stop_and_exits_130() {
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
    // helm runs in its own process group: deployctl forwarded the interrupt to it, so the
    // running step ended as interrupted; the next one never started.
    assert!(
        run.all().contains("helm-repos: failed: interrupted"),
        "{}",
        run.all()
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

    // --resume: helm-repos did not finish, so it runs again, and namespaces after it.
    sb.set("FAKE_HELM_DELAY_MS", "0");
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
    assert_eq!(sb.helm_state()["repos"].as_array().unwrap().len(), 6);
    assert_eq!(kube.user_namespaces().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_step_without_children_finishes_and_resume_skips_it() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    // The namespaces apply is slow: the interrupt lands while it runs.
    kube.delay_next("PATCH /api/v1/namespaces/", 5, Duration::from_millis(400));
    let mut cmd = tokio::process::Command::from(sb.command(&["run", "namespaces"]));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    wait_for("the namespaces apply", || {
        kube.requests().iter().any(|r| r.method == "PATCH")
    })
    .await;
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let run = Run::from(out);
    run.assert_code(130);
    assert_eq!(kube.user_namespaces().len(), 5, "the running step finished");
    assert!(
        run.stdout.contains("namespaces: create") || run.stdout.contains("namespaces"),
        "{}",
        run.stdout
    );

    // --resume skips namespaces (done and healthy in the interrupted run).
    let writes = kube.writes().len();
    let run = sb.run(&["run", "namespaces", "--resume"]).await;
    run.assert_code(0);
    assert!(
        run.all().contains("succeeded in the interrupted run"),
        "{}",
        run.all()
    );
    assert_eq!(kube.writes().len(), writes, "namespaces were applied again");
}
