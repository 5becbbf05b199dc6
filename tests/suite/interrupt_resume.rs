//! Ctrl-C during a run, and `--resume` afterwards.

use crate::support;
use crate::support::scenario::Stack;

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
        run.all()
            .contains("helm-repos: interrupted: `helm repo update"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("not run: interrupted"),
        "{}",
        run.stdout
    );
    // One notice, what it waits for, and the command that finishes the run.
    assert_eq!(
        run.all()
            .matches("interrupted (SIGINT): starting nothing new")
            .count(),
        1,
        "{}",
        run.all()
    );
    assert!(
        run.stdout
            .contains("next: `deployctl run helm-repos namespaces --resume`"),
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
    assert_eq!(sb.helm_repos().len(), 7);
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

/// A cluster with jaeger installed by the real helm, and a project whose jaeger values
/// changed (so a run upgrades it and the Deployment rolls out), with controllers slow enough
/// that helm is still waiting for the rollout when the interrupt comes.
async fn jaeger_upgrade_under_way() -> (
    support::kube_server::FakeKube,
    Sandbox,
    support::charts::ChartsDir,
    tempfile::TempDir,
) {
    let Stack {
        kube,
        mut sb,
        charts,
    } = support::scenario::helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces", "jaeger"])
        .await
        .assert_code(0);
    let project = support::charts::project_with("helm-values/jaeger.yaml", |t| {
        t.replacen("cpu: 100m", "cpu: 150m", 1)
    });
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    // New pods become ready only after a minute: helm's --wait is under way for that long.
    kube.set_controller_delay(Duration::from_secs(60));
    (kube, sb, charts, project)
}

fn jaeger_generation(kube: &support::kube_server::FakeKube) -> i64 {
    kube.get("apps/v1", "Deployment", Some("monitoring"), "jaeger")
        .and_then(|d| d["metadata"]["generation"].as_i64())
        .unwrap_or(0)
}

/// `helm history jaeger` as the real helm reads it: (revision, status, description).
fn jaeger_history(sb: &Sandbox) -> Vec<(i64, String, String)> {
    let out = sb
        .helm_command(&["history", "jaeger", "-n", "monitoring", "-o", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap_or(0),
                r["status"].as_str().unwrap_or("").to_string(),
                r["description"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Spawn `deployctl jaeger` with stdout and stderr on `out` (and stdin closed), then wait
/// until helm's upgrade has changed the Deployment.
async fn start_upgrade(
    kube: &support::kube_server::FakeKube,
    sb: &Sandbox,
    out: std::process::Stdio,
    err: std::process::Stdio,
    pre_exec: Option<fn() -> std::io::Result<()>>,
) -> tokio::process::Child {
    let before = jaeger_generation(kube);
    let mut cmd = sb.command(&["jaeger"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    if let Some(f) = pre_exec {
        use std::os::unix::process::CommandExt;
        unsafe { cmd.pre_exec(f) };
    }
    let child = tokio::process::Command::from(cmd).spawn().unwrap();
    support::wait_until("helm's upgrade to change the Deployment", 60, || {
        jaeger_generation(kube) > before
    })
    .await;
    child
}

async fn exit_code(child: tokio::process::Child, secs: u64) -> i32 {
    let status = tokio::time::timeout(Duration::from_secs(secs), child.wait_with_output())
        .await
        .expect("deployctl ended")
        .unwrap()
        .status;
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The interrupted upgrade was rolled back by helm, nothing of the sandbox runs any more, and
/// the journal records jaeger as interrupted for `--resume`.
fn assert_rolled_back_and_clean(sb: &Sandbox) {
    let history = jaeger_history(sb);
    let last = history.last().expect("a release history");
    assert_eq!(last.1, "deployed", "{history:?}");
    assert!(
        last.2.contains("Rollback to"),
        "helm was not told to stop (no rollback): {history:?}"
    );
    assert_eq!(
        history.iter().filter(|r| r.1 == "deployed").count(),
        1,
        "{history:?}"
    );
    assert!(
        sb.live_children().is_empty(),
        "processes left running: {:?}",
        sb.live_children()
    );
    let journal = sb.journal().expect("a resume journal");
    assert_eq!(journal["steps"]["jaeger"], "interrupted", "{journal}");
    assert_eq!(journal["exit_code"], 130, "{journal}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_with_the_output_piped_to_a_reader_that_is_gone_rolls_back_and_exits_130() {
    let (kube, sb, _charts, _project) = jaeger_upgrade_under_way().await;
    // `deployctl jaeger 2>&1 | tee log`, and Ctrl-C ends tee as well: both outputs on one pipe
    // whose reader is gone by the time deployctl writes its notice.
    let (reader, writer) = std::io::pipe().unwrap();
    let child = start_upgrade(
        &kube,
        &sb,
        writer.try_clone().unwrap().into(),
        writer.into(),
        None,
    )
    .await;
    drop(reader);
    support::signal(child.id().unwrap(), libc::SIGINT);
    kube.set_controller_delay(Duration::from_millis(30));
    let code = exit_code(child, 120).await;
    assert_eq!(
        code, 130,
        "not an orderly interrupt (134 = the abort of a panic)"
    );
    assert_rolled_back_and_clean(&sb);
}

/// In the child, before exec: a session of its own whose controlling terminal is its stdout
/// (a pseudo-terminal), as a shell in a terminal window runs it.
fn own_terminal_session() -> std::io::Result<()> {
    unsafe {
        if libc::setsid() < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::ioctl(1, libc::TIOCSCTTY, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_terminal_hangs_up_the_run_which_rolls_back_and_exits_130() {
    let (kube, sb, _charts, _project) = jaeger_upgrade_under_way().await;
    let (mut master, mut slave) = (0, 0);
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // Not inherited by what other tests spawn meanwhile: a copy of the master in another
    // process would keep the terminal open.
    for fd in [master, slave] {
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    use std::os::fd::FromRawFd;
    let master = unsafe { std::fs::File::from_raw_fd(master) };
    let slave = unsafe { std::fs::File::from_raw_fd(slave) };
    // The terminal's output is drained while the run goes on, as a terminal window would
    // (polled, so the drain stops before the window closes: no other copy of it stays open).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        use std::os::fd::AsRawFd;
        let fd = master.as_raw_fd();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                if unsafe { libc::poll(&mut p, 1, 100) } > 0 {
                    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n as usize]);
                }
            }
            String::from_utf8_lossy(&seen).into_owned()
        })
    };
    let errlog = sb.path().join("stderr.log");
    let child = start_upgrade(
        &kube,
        &sb,
        slave.try_clone().unwrap().into(),
        slave.into(),
        Some(own_terminal_session),
    )
    .await;
    // The window closes: the kernel hangs up the session (SIGHUP) and its writes fail (EIO).
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = drain.join().unwrap();
    drop(master);
    kube.set_controller_delay(Duration::from_millis(30));
    let code = exit_code(child, 120).await;
    assert_eq!(
        code,
        130,
        "not an orderly interrupt (134 = the abort of a panic); the terminal showed:\n{seen}\nstderr: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    assert_rolled_back_and_clean(&sb);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_interrupt_ends_helm_too_and_the_next_run_does_not_wait_for_it() {
    let (kube, sb, _charts, _project) = jaeger_upgrade_under_way().await;
    let child = start_upgrade(
        &kube,
        &sb,
        std::process::Stdio::piped(),
        std::process::Stdio::piped(),
        None,
    )
    .await;
    let pid = child.id().unwrap();
    support::signal(pid, libc::SIGINT);
    tokio::time::sleep(Duration::from_millis(300)).await;
    support::signal(pid, libc::SIGINT);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("deployctl ended after the second interrupt")
        .unwrap();
    let run = Run::from(out);
    run.assert_code(130);
    // deployctl waited for its children: none is left behind.
    assert!(
        sb.live_children().is_empty(),
        "helm left running after deployctl exited: {:?}",
        sb.live_children()
    );
    // One notice each, the summary and the resume hint, even after a second interrupt.
    let all = run.all();
    assert_eq!(
        all.matches("interrupted (SIGINT): starting nothing new")
            .count(),
        1,
        "{all}"
    );
    assert_eq!(
        all.matches("interrupted again (SIGINT)").count(),
        1,
        "{all}"
    );
    assert!(all.contains("Summary:"), "{all}");
    assert!(
        run.stdout.contains("next: `deployctl jaeger --resume`"),
        "{}",
        run.stdout
    );
    let journal = sb
        .journal()
        .expect("a resume journal after a second interrupt");
    assert_eq!(journal["steps"]["jaeger"], "interrupted", "{journal}");

    // Run again at once: whatever helm left (a pending record), it is repaired without
    // waiting for an operation that no helm is running, and the upgrade lands.
    kube.set_controller_delay(Duration::from_millis(30));
    let run = sb.run(&["jaeger", "--resume"]).await;
    run.assert_code(0);
    assert!(
        !run.all()
            .contains("another helm may still be working on it"),
        "{}",
        run.all()
    );
    let history = jaeger_history(&sb);
    assert_eq!(
        history.iter().filter(|r| r.1 == "deployed").count(),
        1,
        "{history:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_an_interrupted_install_left_without_a_record_are_named_and_taken_over() {
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = support::scenario::helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces"])
        .await
        .assert_code(0);
    // What helm's cancelled install leaves when its clean-up raced it: an object it labelled
    // as the release's, and no release record.
    kube.insert(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "jaeger", "namespace": "monitoring",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "jaeger",
                "meta.helm.sh/release-namespace": "monitoring"
            }
        },
        "spec": {"ports": [{"name": "http-query", "port": 16686}]}
    }));
    let run = sb.run(&["plan", "jaeger"]).await;
    run.assert_code(0);
    assert!(
        run.stdout.contains(
            "no helm release record, but 1 object(s) of release jaeger remain from an interrupted install (Service/jaeger)"
        ),
        "{}",
        run.stdout
    );
    // The install takes it over (helm adopts what carries its ownership metadata).
    sb.run(&["jaeger"]).await.assert_code(0);
    let run = sb.run(&["plan", "jaeger"]).await;
    assert!(run.stdout.contains("healthy (deployed"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_operation_that_may_be_live_is_waited_for_not_raced() {
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = support::scenario::helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces", "jaeger"])
        .await
        .assert_code(0);
    // Another helm's upgrade started a moment ago and is still running.
    support::charts::set_release_status(&kube, "monitoring", "jaeger", "pending-upgrade");
    let mut cmd = tokio::process::Command::from(sb.command(&["jaeger"]));
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // deployctl has not rolled it back meanwhile: it waits.
    assert!(
        !sb.helm_calls().iter().any(|c| c[0] == "rollback"),
        "a live operation was raced: {:?}",
        sb.helm_calls()
    );
    // The other helm finishes.
    support::charts::set_release_status(&kube, "monitoring", "jaeger", "deployed");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let run = Run::from(out);
    run.assert_code(0);
    let all = run.all();
    assert!(
        all.contains("release jaeger is pending-upgrade since")
            && all.contains("another helm may still be working on it; waiting for it, at most"),
        "{all}"
    );
    assert!(
        all.contains("waited for another helm operation on jaeger to end (it ended deployed)"),
        "{all}"
    );
    assert!(!sb.helm_calls().iter().any(|c| c[0] == "rollback"));
}
