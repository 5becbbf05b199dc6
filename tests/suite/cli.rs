//! The command line as a user meets it: help, unknown commands, bad settings, list.
//! (`validate` has its own file.)

use crate::support;

use support::Sandbox;

const SEED_COMMANDS: &[&str] = &[
    "infrastructure",
    "infra",
    "infrastructure-plan",
    "infra-plan",
    "infrastructure-verify",
    "infra-verify",
    "infrastructure-destroy",
    "complete",
    "full",
    "all",
    "list",
    "components",
    "ls",
    "validate",
    "irsa",
    "secrets",
    "helm-repos",
    "namespaces",
    "external-secrets",
    "monitoring",
    "dashboards",
    "jaeger",
    "redis",
    "litellm",
    "openwebui",
    "gatekeeper",
    "opa-policies",
    "opa-verify",
    "verify",
    "bastion",
];

#[tokio::test(flavor = "multi_thread")]
async fn help_lists_every_seed_command_and_alias() {
    let sb = Sandbox::bare();
    let run = sb.run(&["--help"]).await;
    run.assert_code(0);
    for cmd in SEED_COMMANDS {
        assert!(run.stdout.contains(cmd), "--help does not list {cmd}");
    }
    let run = sb.run(&["bastion", "--help"]).await;
    run.assert_code(0);
    for cmd in ["create", "connect", "cleanup", "delete"] {
        assert!(
            run.stdout.contains(cmd),
            "bastion --help does not list {cmd}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_command_prints_usage_and_exits_2() {
    let run = Sandbox::bare().run(&[]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("Usage: deployctl"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_command_exits_2_with_a_suggestion() {
    let run = Sandbox::bare().run(&["namespacs"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("unrecognized subcommand 'namespacs'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("namespaces"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_boolean_names_the_variable_and_changes_nothing() {
    let mut sb = Sandbox::bare();
    sb.set("INTERACTIVE_MODE", "maybe");
    let run = sb.run(&["all"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("INTERACTIVE_MODE"), "{}", run.stderr);
    assert!(run.stderr.contains("`maybe`"), "{}", run.stderr);
    assert!(sb.helm_calls().is_empty());
    let mut sb = Sandbox::bare();
    sb.set("AUTO_SKIP_HEALTHY", "sometimes");
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("AUTO_SKIP_HEALTHY"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_flag_value_exits_2() {
    let sb = Sandbox::bare();
    sb.run(&["namespaces", "--concurrency", "0"])
        .await
        .assert_code(2);
    sb.run(&["namespaces", "--output", "yaml"])
        .await
        .assert_code(2);
    let run = sb.run(&["plan", "redis", "nope"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("unknown step `nope`"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_commands_without_a_kubeconfig_stop_before_any_change() {
    let sb = Sandbox::bare();
    for args in [vec!["all"], vec!["redis", "--with-deps"]] {
        let run = sb.run(&args).await;
        assert_ne!(run.code, 0, "{args:?}");
        assert!(
            run.stderr.contains("kubeconfig"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.all().contains("Summary"), "{args:?} reported a run");
    }
    assert!(!sb.helm_calls().iter().any(|c| c[0] == "upgrade"));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_every_component_with_its_needs() {
    let run = Sandbox::bare().run(&["list"]).await;
    run.assert_code(0);
    for (component, needs) in [
        ("external-secrets !", "irsa, namespaces, helm-repos"),
        ("secret-stores", "external-secrets, secrets"),
        ("redis !", "secret-stores"),
        ("litellm !", "redis, secret-stores, irsa"),
        ("openwebui", "litellm, secret-stores, irsa"),
        ("dashboards", "monitoring"),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| {
                let mut words = l.split_whitespace().skip(1);
                words.next() == component.split(' ').next()
            })
            .unwrap_or_else(|| panic!("{component} not listed:\n{}", run.stdout));
        assert!(line.contains(component), "{component}: {line}");
        assert!(line.trim_end().ends_with(needs), "{component}: {line}");
    }
    for section in [
        "Infrastructure modules",
        "Application components",
        "Deployment modes",
        "Verification",
    ] {
        assert!(run.stdout.contains(section), "{section} missing");
    }
    // The aliases print the same.
    assert_eq!(Sandbox::bare().run(&["ls"]).await.stdout, run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_without_the_project_files_is_a_usage_error() {
    let mut sb = Sandbox::bare();
    let empty = sb.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    sb.set("DEPLOYCTL_DIR", empty.to_str().unwrap());
    let run = sb.run(&["validate"]).await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("no helm-values/ and manifests/"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eks_token_prints_an_exec_credential_with_a_presigned_sts_url() {
    let sb = Sandbox::bare();
    let run = sb
        .run(&["eks-token", "--cluster", "prod", "--region", "eu-west-1"])
        .await;
    run.assert_code(0);
    let cred: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    assert_eq!(cred["kind"], "ExecCredential");
    assert_eq!(cred["apiVersion"], "client.authentication.k8s.io/v1beta1");
    let token = cred["status"]["token"].as_str().unwrap();
    let encoded = token.strip_prefix("k8s-aws-v1.").expect("EKS token prefix");
    let url = String::from_utf8(deployctl::platform::encoding::decode(encoded).unwrap()).unwrap();
    assert!(
        url.starts_with("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=900"), "{url}");
    assert!(
        url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
        "{url}"
    );
    let expiry: jiff::Timestamp = cred["status"]["expirationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let left = expiry.duration_since(jiff::Timestamp::now());
    assert!(
        left > jiff::SignedDuration::ZERO && left <= jiff::SignedDuration::from_secs(900),
        "{left:?}"
    );
}

/// kubectl calls `eks-token` for any cluster: an entry-point setting it does not read (a bad
/// ENTRY_SCHEME in the shell) does not break it, while the commands that read it refuse.
/// The token's STS host is the region's partition's (China: amazonaws.com.cn).
#[tokio::test(flavor = "multi_thread")]
async fn eks_token_ignores_the_entry_point_and_signs_for_the_regions_partition() {
    let mut sb = Sandbox::bare();
    sb.set("ENTRY_SCHEME", "sideways");
    let run = sb
        .run(&["eks-token", "--cluster", "prod", "--region", "cn-north-1"])
        .await;
    run.assert_code(0);
    let cred: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    let token = cred["status"]["token"].as_str().unwrap();
    let encoded = token.strip_prefix("k8s-aws-v1.").expect("EKS token prefix");
    let url = String::from_utf8(deployctl::platform::encoding::decode(encoded).unwrap()).unwrap();
    assert!(
        url.starts_with("https://sts.cn-north-1.amazonaws.com.cn/?Action=GetCallerIdentity"),
        "{url}"
    );
    let run = sb.run(&["plan", "validate"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("ENTRY_SCHEME"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_load_in_bash_and_the_manual_renders() {
    let mut sb = Sandbox::bare();
    // A bad variable does not get in the way of either.
    sb.set("INTERACTIVE_MODE", "maybe");
    let script = sb.dir.path().join("deployctl.bash");
    let run = sb.run(&["completions", "bash"]).await;
    run.assert_code(0);
    std::fs::write(&script, &run.stdout).unwrap();
    // bash loads it and completes the subcommands.
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "source '{}' && complete -p deployctl && COMP_WORDS=(deployctl compl) COMP_CWORD=1 && _deployctl deployctl compl deployctl && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            ),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("-F _deployctl deployctl"), "{text}");
    assert!(text.lines().any(|l| l == "completions"), "{text}");
    assert!(text.lines().any(|l| l == "complete"), "{text}");
    for shell in ["zsh", "fish", "powershell"] {
        let run = sb.run(&["completions", shell]).await;
        run.assert_code(0);
        assert!(run.stdout.contains("deployctl"), "{shell}");
    }
    let man = sb.run(&["man"]).await;
    man.assert_code(0);
    assert!(man.stdout.contains(".TH deployctl 1"), "{}", man.stdout);
    assert!(
        man.stdout
            .replace("\\-", "-")
            .contains("deployctl-infrastructure-destroy"),
        "the commands are listed"
    );
    // A near miss is an error with suggestions, never `complete` (which builds everything).
    let run = sb.run(&["completion"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("completions"), "{}", run.stderr);
}

/// The JSON lines of stdout; every line must be JSON.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_always_ends_in_one_summary_even_on_errors() {
    let mut sb = Sandbox::bare();
    // A usage error (before parsing finished), a bad variable, a preflight failure (no
    // kubeconfig), and commands without steps.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, i32);
    let cases: Vec<Case> = vec![
        (vec!["namespaces", "--output", "json", "--bogus"], vec![], 2),
        (
            vec!["namespaces", "--output", "json"],
            vec![("INTERACTIVE_MODE", "maybe")],
            2,
        ),
        (vec!["namespaces", "--output", "json"], vec![], 1),
        (vec!["list", "--output", "json"], vec![], 0),
        (vec!["plan", "helm-repos", "--output", "json"], vec![], 0),
        (vec!["validate", "--output", "json"], vec![], 0),
        // Commands that are not step runs, failing before or at their first outside call.
        (vec!["kubeconfig", "--output", "json"], vec![], 1),
        (vec!["bastion", "cleanup", "--output", "json"], vec![], 2),
        (
            vec![
                "bastion",
                "cleanup",
                "--confirm-destroy",
                "test-cluster",
                "--output",
                "json",
            ],
            vec![],
            1,
        ),
        (vec!["infrastructure-verify", "--output", "json"], vec![], 1),
        // No tfvars, no backend, no terraform on this PATH (and for `complete` no AWS): the
        // preflight reports them together; a missing tool makes it exit 1.
        (
            vec!["complete", "--output", "json"],
            vec![("TFVARS_FILE", "/nonexistent/terraform.tfvars")],
            1,
        ),
        (
            vec!["infrastructure-plan", "--output", "json"],
            vec![("TFVARS_FILE", "/nonexistent/terraform.tfvars")],
            1,
        ),
    ];
    for (args, env, code) in cases {
        for (k, v) in &env {
            sb.set(k, v);
        }
        let run = sb.run(&args).await;
        for (k, _) in &env {
            sb.unset(k);
        }
        run.assert_code(code);
        let events = json_lines(&run.stdout);
        let summaries: Vec<&serde_json::Value> =
            events.iter().filter(|e| e["event"] == "summary").collect();
        assert_eq!(summaries.len(), 1, "{args:?}: {}", run.stdout);
        let last = events.last().unwrap();
        assert_eq!(
            last["event"], "summary",
            "{args:?}: the summary is not last"
        );
        assert_eq!(last["exit_code"], code, "{args:?}");
        if code != 0 {
            let message = last["error"]["message"].as_str().unwrap_or("");
            assert!(!message.is_empty(), "{args:?}: no error message: {last}");
            let check = last["error"]["check"].as_str().unwrap_or("");
            assert!(
                !check.is_empty(),
                "{args:?}: no failing check named: {last}"
            );
        } else {
            assert!(last.get("error").is_none(), "{args:?}: {last}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_names_the_failing_preflight_check() {
    // No helm on PATH: the preflight fails, and the summary says which check.
    let sb = Sandbox::bare();
    std::fs::remove_file(sb.bin.join("helm")).unwrap();
    let run = sb.run(&["helm-repos", "--output", "json"]).await;
    run.assert_code(1);
    let last = json_lines(&run.stdout).pop().unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(last["error"]["check"], "helm", "{last}");
    assert!(
        last["error"]["message"].as_str().unwrap().contains("helm"),
        "{last}"
    );
    // A bad variable: the check is the settings.
    let mut sb = Sandbox::bare();
    sb.set("INTERACTIVE_MODE", "maybe");
    let run = sb.run(&["namespaces", "--output", "json"]).await;
    run.assert_code(2);
    let last = json_lines(&run.stdout).pop().unwrap();
    assert_eq!(last["error"]["check"], "settings", "{last}");
}
