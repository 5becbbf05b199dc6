//! `infrastructure`, `infrastructure-plan`, `infrastructure-destroy` and `complete` against
//! the terraform stand-in: the call sequence and the gates.

use crate::support;

use serde_json::Value;
use support::moto::{Moto, seed_cluster};
use support::{Sandbox, Sees, Types, dialog, key, pty};

const BACKEND: &str =
    "bucket = \"state\"\nkey = \"litellm/terraform.tfstate\"\nregion = \"us-east-1\"\n";

/// A sandbox with the terraform stand-in, a project copy with backend.hcl and tfvars.
fn project() -> (Sandbox, std::path::PathBuf) {
    let mut sb = Sandbox::bare();
    sb.with_fake_terraform();
    let tf = sb.terraform_project(BACKEND);
    std::fs::copy(
        tf.join("terraform.tfvars.example"),
        tf.join("terraform.tfvars"),
    )
    .unwrap();
    (sb, tf)
}

fn subcommands(sb: &Sandbox) -> Vec<String> {
    sb.tf_calls().iter().map(|c| c[0].clone()).collect()
}

fn arg_with<'a>(call: &'a [String], prefix: &str) -> Option<&'a str> {
    call.iter().find_map(|a| a.strip_prefix(prefix))
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_runs_init_validate_plan_then_applies_that_plan_file() {
    let (sb, tf) = project();
    let run = sb.run(&["infrastructure", "--auto-approve"]).await;
    run.assert_code(0);
    assert_eq!(
        subcommands(&sb),
        [
            "version", "init", "validate", "plan", "show", "apply", "output"
        ]
    );
    let calls = sb.tf_calls();
    let plan = &calls[3];
    let plan_file = arg_with(plan, "-out=").expect("plan -out");
    assert_eq!(
        calls[5].last().map(String::as_str),
        Some(plan_file),
        "apply applies exactly the plan file"
    );
    assert!(plan.contains(&"-input=false".to_string()));
    assert!(calls[1].contains(&"-input=false".to_string()));
    assert!(calls[5].contains(&"-input=false".to_string()));
    assert_eq!(
        arg_with(&calls[1], "-backend-config="),
        Some(tf.join("backend.hcl").to_str().unwrap())
    );
    assert_eq!(
        arg_with(plan, "-var-file="),
        Some(
            tf.join("terraform.tfvars")
                .canonicalize()
                .unwrap()
                .to_str()
                .unwrap()
        )
    );
    // The plan lived in a private temp dir that is gone afterwards.
    let dir = std::path::Path::new(plan_file).parent().unwrap();
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("deployctl-tf-")
    );
    assert!(
        !dir.exists(),
        "plan directory left behind: {}",
        dir.display()
    );
    for entry in sb.tf_log_entries() {
        assert_eq!(entry["tf_in_automation"], "1", "{entry}");
        assert_eq!(entry["cwd"], Value::from(tf.to_str().unwrap()), "{entry}");
    }
    // The plan was shown and the outputs read.
    let all = run.all();
    assert!(
        all.contains("will be created"),
        "plan output streamed: {all}"
    );
    assert!(all.contains("3 to add"), "{all}");
    assert!(
        all.contains("deployctl kubeconfig --cluster test-cluster"),
        "{all}"
    );

    // Initialised now: a second run does not init again.
    let again = sb.run(&["infrastructure", "--auto-approve"]).await;
    again.assert_code(0);
    assert_eq!(subcommands(&sb).iter().filter(|s| *s == "init").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_interactive_apply_needs_auto_approve() {
    let (sb, _) = project();
    let run = sb.run(&["infrastructure"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
    assert!(run.stderr.contains("infrastructure-plan"), "{}", run.stderr);
    assert!(!subcommands(&sb).contains(&"apply".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_apply_asks_and_no_applies_nothing() {
    let (sb, _) = project();
    let code = pty(&sb, &["infrastructure"], |p| {
        p.exp_string("3 to add").unwrap();
        p.exp_string("Apply this plan? [y/N]: ").unwrap();
        key(p, "n\r");
        p.exp_string("Nothing applied").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(!subcommands(&sb).contains(&"apply".to_string()));

    let code = pty(&sb, &["infrastructure"], |p| {
        p.exp_string("Apply this plan? [y/N]: ").unwrap();
        key(p, "y\r");
        p.exp_string("Apply complete").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(subcommands(&sb).iter().filter(|s| *s == "apply").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn y_n_takes_one_key_and_ctrl_c_or_ctrl_d_there_quits_cleanly() {
    // Ctrl-C and Ctrl-D at the question: quit before any change, exit 0, nothing applied.
    for control in ['c', 'd'] {
        let (sb, _) = project();
        let code = pty(&sb, &["infrastructure"], move |p| {
            p.exp_string("Apply this plan? [y/N]: ").unwrap();
            p.send_control(control).unwrap();
            p.exp_string("Quit: nothing has been changed.").unwrap();
            p.exp_eof().unwrap();
        })
        .await;
        assert_eq!(code, 0, "Ctrl-{control}");
        assert!(!subcommands(&sb).contains(&"apply".to_string()));
    }
    // One key, no Enter: an unknown key asks again, `y` applies at once.
    let (sb, _) = project();
    let code = pty(&sb, &["infrastructure"], |p| {
        p.exp_string("Apply this plan? [y/N]: ").unwrap();
        key(p, "x");
        p.exp_string("Press y or n (Enter = no)").unwrap();
        key(p, "y");
        p.exp_string("Apply complete").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(subcommands(&sb).iter().filter(|s| *s == "apply").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_failure_stops_with_the_command_and_stderr_tail() {
    let (mut sb, _) = project();
    sb.set("FAKE_TF_FAIL", "plan");
    let run = sb.run(&["infrastructure", "--auto-approve"]).await;
    run.assert_code(1);
    assert!(run.stderr.contains("terraform plan"), "{}", run.stderr);
    // terraform's error is shown once (streamed), not repeated in deployctl's error.
    assert_eq!(
        run.all().matches("AccessDenied").count(),
        1,
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("infrastructure-plan"),
        "next command: {}",
        run.stderr
    );
    assert!(!subcommands(&sb).contains(&"apply".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_the_plan_and_applies_nothing() {
    let (sb, _) = project();
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(0);
    assert_eq!(
        subcommands(&sb),
        ["version", "init", "validate", "plan", "show"]
    );
    assert!(run.all().contains("Nothing was applied"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_tfvars_file_is_named_and_nothing_runs() {
    let (sb, tf) = project();
    std::fs::remove_file(tf.join("terraform.tfvars")).unwrap();
    let run = sb.run(&["infrastructure", "--auto-approve"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("terraform.tfvars does not exist"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("environments/dev.tfvars"),
        "{}",
        run.stderr
    );
    // Only the read-only version check ran (the preflight reports everything at once).
    assert!(
        sb.tf_calls().iter().all(|c| c[0] == "version"),
        "{:?}",
        sb.tf_calls()
    );

    // --var-file picks another file.
    let run = sb
        .run(&[
            "infrastructure-plan",
            "--var-file",
            tf.join("environments/dev.tfvars").to_str().unwrap(),
        ])
        .await;
    run.assert_code(0);
    let plan = sb.tf_calls().into_iter().find(|c| c[0] == "plan").unwrap();
    assert!(
        arg_with(&plan, "-var-file=")
            .unwrap()
            .ends_with("environments/dev.tfvars")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_missing_tfvars_is_copied_from_the_example_and_edited() {
    let (mut sb, tf) = project();
    std::fs::remove_file(tf.join("terraform.tfvars")).unwrap();
    // The "editor" appends a marker, proving it ran on the copied file.
    let editor = sb.path().join("editor.sh");
    let env_seen = sb.path().join("editor-env");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nenv > '{}'\necho '# edited' >> \"$1\"\n",
            env_seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.set("EDITOR", editor.to_str().unwrap());
    sb.set(
        "DATABASE_URL",
        "postgresql://u:editor-never-sees@db.example:5432/x",
    );
    let code = pty(&sb, &["infrastructure-plan"], |p| {
        p.exp_string("terraform.tfvars does not exist").unwrap();
        p.exp_string("[y/N]: ").unwrap();
        key(p, "y\r");
        p.exp_string("Nothing was applied").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(tf.join("terraform.tfvars")).unwrap();
    assert!(
        text.contains("cluster_name") && text.ends_with("# edited\n"),
        "{text}"
    );
    // The editor gets neither the database URL nor AWS credentials.
    let env = std::fs::read_to_string(&env_seen).unwrap();
    assert!(env.contains("HOME="), "{env}");
    for secret in ["DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"] {
        assert!(!env.contains(secret), "{secret} reached the editor");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_example_backend_is_refused() {
    let (sb, tf) = project();
    std::fs::remove_file(tf.join("backend.hcl")).unwrap();
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("backend.hcl does not exist"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("backend.hcl.example"), "{}", run.stderr);
    std::fs::copy(tf.join("backend.hcl.example"), tf.join("backend.hcl")).unwrap();
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("example bucket"), "{}", run.stderr);
    assert!(!subcommands(&sb).contains(&"init".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn too_old_or_missing_terraform_is_named() {
    let (mut sb, _) = project();
    sb.set("FAKE_TF_VERSION", "1.5.7");
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("terraform 1.5.7 is too old"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(sb.bin.join("terraform")).unwrap();
    let sb2 = sb;
    let mut cmd = sb2.command(&["infrastructure-plan"]);
    // No terraform anywhere on PATH.
    cmd.env("PATH", sb2.bin.to_str().unwrap());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`terraform` was not found on PATH"),
        "{stderr}"
    );
}

/// A stack that exists: apply once.
async fn applied() -> (Sandbox, std::path::PathBuf) {
    let (sb, tf) = project();
    sb.run(&["infrastructure", "--auto-approve"])
        .await
        .assert_code(0);
    std::fs::write(&sb.tf_log, "").unwrap();
    (sb, tf)
}

fn applied_destroy(sb: &Sandbox) -> bool {
    let calls = sb.tf_calls();
    calls
        .iter()
        .filter(|c| c[0] == "plan" && c.contains(&"-destroy".to_string()))
        .filter_map(|plan| arg_with(plan, "-out="))
        .any(|file| {
            calls
                .iter()
                .any(|c| c[0] == "apply" && c.last().map(String::as_str) == Some(file))
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn non_interactive_destroy_needs_the_matching_cluster_name() {
    let (sb, _) = applied().await;
    let run = sb.run(&["infrastructure-destroy"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("--confirm-destroy"), "{}", run.stderr);
    assert!(
        sb.tf_calls().is_empty(),
        "nothing may run: {:?}",
        sb.tf_calls()
    );

    let run = sb
        .run(&[
            "infrastructure-destroy",
            "--confirm-destroy",
            "prod-cluster",
        ])
        .await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("does not match the cluster `test-cluster`"),
        "{}",
        run.stderr
    );
    assert!(!applied_destroy(&sb));
    assert!(!subcommands(&sb).contains(&"apply".to_string()));

    let run = sb
        .run(&[
            "infrastructure-destroy",
            "--confirm-destroy",
            "test-cluster",
        ])
        .await;
    run.assert_code(0);
    assert!(applied_destroy(&sb), "{:?}", sb.tf_calls());
    assert!(
        run.all()
            .contains("final snapshot `litellm-prod-final-20261127093000`"),
        "{}",
        run.all()
    );
    // The snapshot's key outlives the destroy: Terraform forgot it, re-planned without it, and
    // the summary says how to remove both when the snapshot is no longer needed.
    let key = "arn:aws:kms:us-east-1:123456789012:key/5e1f-secrets";
    let all = run.all();
    assert!(all.contains("the destroy KEEPS that key"), "{all}");
    assert!(
        all.contains(&format!("Kept KMS key {key}"))
            && all.contains("aws rds delete-db-snapshot --db-snapshot-identifier litellm-prod-final-20261127093000")
            && all.contains(&format!("aws kms schedule-key-deletion --key-id {key}")),
        "{all}"
    );
    let calls = sb.tf_calls();
    let rm = calls
        .iter()
        .position(|c| c[..2] == ["state", "rm"])
        .expect("state rm");
    assert_eq!(calls[rm][2], "module.secrets.aws_kms_key.secrets");
    let plans_after: Vec<_> = calls[rm..].iter().filter(|c| c[0] == "plan").collect();
    assert_eq!(
        plans_after.len(),
        1,
        "the destroy is planned again: {calls:?}"
    );
    assert!(!calls.iter().any(|c| c[0] == "import"), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_destroy_gives_the_snapshot_key_back_to_terraform() {
    let (mut sb, _) = applied().await;
    sb.set("FAKE_TF_FAIL", "apply");
    let run = sb
        .run(&[
            "infrastructure-destroy",
            "--confirm-destroy",
            "test-cluster",
        ])
        .await;
    run.assert_code(1);
    assert!(!run.all().contains("Kept KMS key"), "{}", run.all());
    let calls = sb.tf_calls();
    let import = calls
        .iter()
        .find(|c| c[0] == "import")
        .unwrap_or_else(|| panic!("the key is imported back: {calls:?}"));
    assert_eq!(
        import[import.len() - 2..],
        ["module.secrets.aws_kms_key.secrets", "5e1f-secrets"]
    );
    // The next destroy plans the key again (and keeps it again).
    sb.unset("FAKE_TF_FAIL");
    let run = sb
        .run(&[
            "infrastructure-destroy",
            "--confirm-destroy",
            "test-cluster",
        ])
        .await;
    run.assert_code(0);
    assert!(run.all().contains("Kept KMS key"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_destroy_lists_what_goes_and_a_wrong_name_destroys_nothing() {
    let (sb, _) = applied().await;
    let code = dialog(
        &sb,
        &["infrastructure-destroy"],
        &[
            Sees("EKS cluster, node groups and every workload"),
            Sees("Database (RDS)"),
            Sees("Network (VPC"),
            Sees("Type `test-cluster` to confirm: "),
            Types("test-clustr\r"),
            Sees("the name typed is not the cluster's (`test-cluster`); nothing was destroyed"),
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(!applied_destroy(&sb));

    // Right name, then "no" at y/N.
    let confirmed = |answer| {
        [
            Sees("Type `test-cluster` to confirm: "),
            Types("test-cluster\r"),
            Sees("[y/N]: "),
            Types(answer),
        ]
    };
    let mut turns = confirmed("\r").to_vec();
    turns.push(Sees("Nothing destroyed"));
    assert_eq!(dialog(&sb, &["infrastructure-destroy"], &turns).await, 0);
    assert!(!applied_destroy(&sb));

    let mut turns = confirmed("y\r").to_vec();
    turns.push(Sees("Destroyed test-cluster"));
    assert_eq!(dialog(&sb, &["infrastructure-destroy"], &turns).await, 0);
    assert!(applied_destroy(&sb));
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_stops_before_a_deletion_protected_database() {
    let (mut sb, _) = applied().await;
    sb.set(
        "FAKE_TF_DESTROY_PLAN",
        r#"[{"address": "module.rds.aws_db_instance.this", "type": "aws_db_instance",
             "change": {"actions": ["delete"], "before": {"identifier": "litellm-prod",
             "deletion_protection": true}}}]"#,
    );
    let run = sb
        .run(&[
            "infrastructure-destroy",
            "--confirm-destroy",
            "test-cluster",
        ])
        .await;
    run.assert_code(1);
    assert!(run.stderr.contains("deletion protection"), "{}", run.stderr);
    assert!(
        run.stderr.contains("rds_deletion_protection = false"),
        "{}",
        run.stderr
    );
    assert!(!applied_destroy(&sb));
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_applies_then_writes_the_kubeconfig_for_the_new_cluster() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, "tf-made", true).await;
    let (mut sb, _) = project();
    sb.with_moto(moto);
    // The settings say another cluster; Terraform's outputs win.
    sb.set("EKS_CLUSTER_NAME", "something-else");
    let s = |v: &str| serde_json::json!({"value": v, "type": "string"});
    let outputs = serde_json::json!({
        "aws_region": s("us-east-1"), "aws_account_id": s(support::moto::ACCOUNT),
        "eks_cluster_name": s("tf-made"),
    });
    sb.set("FAKE_TF_OUTPUTS", &outputs.to_string());
    let run = sb.run(&["complete", "--auto-approve"]).await;
    assert!(
        subcommands(&sb).contains(&"apply".to_string()),
        "{}",
        run.all()
    );
    let kc = kube::config::Kubeconfig::read_from(&sb.kubeconfig).expect("kubeconfig written");
    let arn = format!(
        "arn:aws:eks:us-east-1:{}:cluster/tf-made",
        support::moto::ACCOUNT
    );
    assert_eq!(
        kc.current_context.as_deref(),
        Some(arn.as_str()),
        "{}",
        run.all()
    );

    // Declining the infrastructure plan stops `complete` before anything else.
    let (mut sb, _) = project();
    sb.with_moto(moto);
    let code = pty(&sb, &["complete"], |p| {
        p.exp_string("Apply this plan? [y/N]: ").unwrap();
        key(p, "n\r");
        p.exp_string("Nothing applied").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(
        !sb.kubeconfig.exists(),
        "kubeconfig written after a declined plan"
    );
}

/// Run `args` with a plan far slower than the test and send deployctl (only deployctl:
/// terraform runs in its own process group) `signal` once the plan runs: terraform must be
/// told, not waited out.
async fn interrupt_a_slow_plan(sb: &mut Sandbox, args: &[&str], signal: &str) -> support::Run {
    sb.set("FAKE_TF_DELAY_MS", "60000");
    let child = sb
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !sb.tf_calls().iter().any(|c| c[0] == "plan") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "plan never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await
    .expect("deployctl waited out the slow plan: the interrupt did not reach terraform")
    .unwrap();
    support::Run::from(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_the_plan_is_passed_to_terraform_and_applies_nothing() {
    let (mut sb, _) = project();
    let run = interrupt_a_slow_plan(&mut sb, &["infrastructure", "--auto-approve"], "INT").await;
    run.assert_code(130);
    assert!(
        run.all()
            .contains("waiting for terraform plan to stop cleanly"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("interrupted during terraform plan"),
        "{}",
        run.stderr
    );
    // terraform got the interrupt and shut down its own way; nothing was applied.
    assert!(
        run.all().contains("Gracefully shutting down"),
        "{}",
        run.all()
    );
    assert!(!subcommands(&sb).contains(&"apply".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_during_completes_terraform_starts_neither_kubeconfig_nor_the_stack() {
    let (moto, _guard) = Moto::lock().await;
    let (mut sb, _) = project();
    sb.with_moto(moto);
    // SIGTERM, as a CI runner cancelling the job sends it.
    let run = interrupt_a_slow_plan(&mut sb, &["complete", "--auto-approve"], "TERM").await;
    run.assert_code(130);
    assert!(
        run.all().contains("Gracefully shutting down"),
        "{}",
        run.all()
    );
    assert!(!subcommands(&sb).contains(&"apply".to_string()));
    assert!(
        !sb.kubeconfig.exists(),
        "kubeconfig written after the interrupt"
    );
    assert!(
        !run.all().contains("Plan:"),
        "the stack was started: {}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_reports_every_missing_thing_at_once_before_offering_the_editor() {
    // No terraform, no tfvars, no backend, no helm, no reachable AWS: one report naming all
    // five, in a terminal too — and no offer to copy and edit the tfvars first.
    let (sb, tf) = project();
    std::fs::remove_file(sb.bin.join("terraform")).unwrap();
    std::fs::remove_file(sb.bin.join("helm")).unwrap();
    std::fs::remove_file(tf.join("terraform.tfvars")).unwrap();
    std::fs::remove_file(tf.join("backend.hcl")).unwrap();
    let code = pty(&sb, &["complete"], |p| {
        let out = p.exp_eof().unwrap();
        assert!(
            out.contains("5 problems before anything could start"),
            "{out}"
        );
        for want in [
            "`terraform` was not found on PATH",
            "terraform.tfvars does not exist",
            "backend.hcl does not exist",
            "helm",
            "AWS STS",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(!out.contains("Copy "), "offered the editor first:\n{out}");
    })
    .await;
    assert_eq!(code, 1);
    assert!(
        !tf.join("terraform.tfvars").exists(),
        "a tfvars file was created"
    );

    // The JSON summary names every failing check.
    let run = sb.run(&["complete", "--output", "json"]).await;
    run.assert_code(1);
    let last: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["error"]["check"], "terraform, tfvars, backend, helm, aws",
        "{last}"
    );
}

/// The tfvars' Kubernetes version against the EKS calendar (terraform/eks-versions.json)
/// before anything is planned: past extended support is refused (exit 2, terraform never
/// called beyond `version`), extended support warns and plans. (A destroy is never refused:
/// the next test.)
#[tokio::test(flavor = "multi_thread")]
async fn a_kubernetes_version_out_of_eks_support_is_refused_before_the_plan() {
    let (mut sb, tf) = project();
    sb.set("DEPLOYCTL_TODAY", "2026-11-27");
    let tfvars = tf.join("terraform.tfvars");
    let example = std::fs::read_to_string(&tfvars).unwrap();
    assert!(
        example.contains("kubernetes_version = \"1.35\""),
        "{example}"
    );

    std::fs::write(
        &tfvars,
        example.replace(
            "kubernetes_version = \"1.35\"",
            "kubernetes_version = \"1.31\"",
        ),
    )
    .unwrap();
    for cmd in [
        &["infrastructure-plan"][..],
        &["infrastructure", "--auto-approve"],
    ] {
        let run = sb.run(cmd).await;
        run.assert_code(2);
        let err = run.all();
        assert!(
            err.contains("kubernetes_version 1.31")
                && err.contains("left EKS extended support on 2026-11-26"),
            "{err}"
        );
        // The newest version in standard support that day (1.36, from the calendar file).
        assert!(err.contains("kubernetes_version = \"1.36\""), "{err}");
        assert!(
            !subcommands(&sb).iter().any(|c| c == "plan" || c == "apply"),
            "{:?}",
            subcommands(&sb)
        );
    }

    std::fs::write(
        &tfvars,
        example.replace(
            "kubernetes_version = \"1.35\"",
            "kubernetes_version = \"1.33\"",
        ),
    )
    .unwrap();
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("left EKS standard support on 2026-07-29")
            && run.stderr.contains("ends 2027-07-29"),
        "{}",
        run.stderr
    );

    // No kubernetes_version line: variables.tf's default is checked (and is current).
    std::fs::write(
        &tfvars,
        example.replace("kubernetes_version = \"1.35\"", ""),
    )
    .unwrap();
    sb.run(&["infrastructure-plan"]).await.assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_of_an_unsupported_version_can_still_be_destroyed() {
    let (mut sb, tf) = applied().await;
    sb.set("DEPLOYCTL_TODAY", "2026-11-27");
    let tfvars = tf.join("terraform.tfvars");
    let text = std::fs::read_to_string(&tfvars).unwrap();
    std::fs::write(
        &tfvars,
        text.replace(
            "kubernetes_version = \"1.35\"",
            "kubernetes_version = \"1.31\"",
        ),
    )
    .unwrap();
    let run = sb
        .run(&[
            "infrastructure-destroy",
            "--confirm-destroy",
            "test-cluster",
        ])
        .await;
    run.assert_code(0);
    assert!(applied_destroy(&sb), "{:?}", sb.tf_calls());
}

/// One prefix: a SECRETS_PREFIX that differs from the variables file's `secrets_prefix` is
/// refused before anything is planned; the same prefix, or none given, plans.
#[tokio::test(flavor = "multi_thread")]
async fn a_secrets_prefix_that_differs_from_terraforms_is_refused_before_the_plan() {
    let (mut sb, tf) = project();
    sb.set("SECRETS_PREFIX", "acme");
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(2);
    let err = run.all();
    assert!(
        err.contains("SECRETS_PREFIX is `acme` but secrets_prefix is `litellm`"),
        "{err}"
    );
    assert!(!subcommands(&sb).contains(&"plan".to_string()));

    let dev = tf.join("environments/dev.tfvars");
    let run = sb
        .run(&["infrastructure-plan", "--var-file", dev.to_str().unwrap()])
        .await;
    run.assert_code(2);
    assert!(
        run.all().contains("secrets_prefix is `litellm-dev`"),
        "{}",
        run.all()
    );

    sb.set("SECRETS_PREFIX", "litellm-dev");
    sb.run(&["infrastructure-plan", "--var-file", dev.to_str().unwrap()])
        .await
        .assert_code(0);
    sb.unset("SECRETS_PREFIX");
    sb.run(&["infrastructure-plan", "--var-file", dev.to_str().unwrap()])
        .await
        .assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_with_a_private_endpoint_and_no_bastion_is_refused_before_the_plan() {
    let (moto, _guard) = Moto::lock().await;
    let (mut sb, tf) = project();
    sb.with_moto(moto);
    let vars = tf.join("terraform.tfvars");
    let text = std::fs::read_to_string(&vars).unwrap();
    assert!(text.contains("create_bastion = true"));
    std::fs::write(
        &vars,
        text.replace("create_bastion = true", "create_bastion = false"),
    )
    .unwrap();
    let run = sb.run(&["complete", "--auto-approve"]).await;
    run.assert_code(2);
    let all = run.all();
    for needle in [
        "makes the API endpoint private and creates no bastion",
        "create_bastion = true",
        "public_access_cidrs",
        "API_ACCESS=direct",
    ] {
        assert!(all.contains(needle), "{needle}: {all}");
    }
    assert!(!subcommands(&sb).contains(&"plan".to_string()));
    // From inside the VPC the operator says so, and the run goes on to the plan.
    sb.set("API_ACCESS", "direct");
    let run = sb.run(&["complete", "--auto-approve"]).await;
    assert!(
        subcommands(&sb).contains(&"plan".to_string()),
        "{}",
        run.all()
    );
}

/// When EKS answers, its own calendar (DescribeClusterVersions) judges kubernetes_version —
/// a version EKS no longer supports is refused even while the file still lists it — and
/// where the file disagrees with EKS (other dates, a version it lacks) the operator is told.
#[tokio::test(flavor = "multi_thread")]
async fn eks_s_own_calendar_judges_the_version_and_a_stale_file_is_named() {
    let (mut sb, tf) = project();
    sb.set("DEPLOYCTL_TODAY", "2026-11-27");
    let eks = support::eks_front::EksFront::start("http://127.0.0.1:9", "https://unused");
    sb.set("AWS_ENDPOINT_URL_EKS", &eks.url);
    // EKS moved 1.35's end of support (the file says 2027-03-27) and offers 1.36 (as the
    // file has it) and 1.37 (which the file lacks).
    eks.set_calendar(&[
        ("1.34", "STANDARD_SUPPORT", "2026-12-02", "2027-12-02"),
        ("1.35", "UNSUPPORTED", "2026-10-01", "2026-11-01"),
        ("1.36", "STANDARD_SUPPORT", "2027-08-02", "2028-08-02"),
        ("1.37", "STANDARD_SUPPORT", "2027-12-01", "2028-12-01"),
    ]);
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(2);
    let all = run.all();
    assert!(
        all.contains("kubernetes_version 1.35")
            && all.contains("left EKS extended support on 2026-11-01")
            && all.contains("calendar: EKS's calendar (DescribeClusterVersions)"),
        "{all}"
    );
    assert!(all.contains("kubernetes_version = \"1.37\""), "{all}");
    assert!(
        all.contains("terraform/eks-versions.json gives 1.35 2027-03-27 / 2028-03-27, EKS 2026-10-01 / 2026-11-01")
            && all.contains("terraform/eks-versions.json lacks 1.37")
            && !all.contains("terraform/eks-versions.json lacks 1.36"),
        "{all}"
    );
    assert!(
        !subcommands(&sb).iter().any(|c| c == "plan"),
        "{:?}",
        subcommands(&sb)
    );

    // EKS agreeing with the file: planned, nothing said about the calendar.
    eks.set_calendar(&[
        ("1.34", "STANDARD_SUPPORT", "2026-12-02", "2027-12-02"),
        ("1.35", "STANDARD_SUPPORT", "2027-03-27", "2028-03-27"),
    ]);
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(0);
    assert!(!run.all().contains("eks-versions.json"), "{}", run.all());
    let _ = tf;
}
