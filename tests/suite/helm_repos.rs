//! `deployctl helm-repos` with the helm stand-in.

use crate::support;

use support::kube_server::FakeKube;
use support::{REPOS, Sandbox};

fn repo_pairs(sb: &Sandbox) -> Vec<(String, String)> {
    sb.helm_repos()
}

#[tokio::test(flavor = "multi_thread")]
async fn adds_the_seven_repositories_then_updates_them() {
    let sb = Sandbox::bare();
    let run = sb.run(&["helm-repos"]).await;
    run.assert_code(0);
    let have = repo_pairs(&sb);
    for (name, url) in REPOS {
        assert!(
            have.contains(&(name.to_string(), url.to_string())),
            "{name} missing: {have:?}"
        );
    }
    let calls = sb.helm_calls();
    let adds = calls.iter().filter(|c| c[..2] == ["repo", "add"]).count();
    assert_eq!(adds, 7);
    let last = calls.last().unwrap();
    assert_eq!(
        last[..2],
        ["repo", "update"],
        "repo update comes last: {calls:?}"
    );
    assert_eq!(last.len(), 2 + REPOS.len(), "updates exactly our repos");
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_repos_needs_no_cluster() {
    // No kubeconfig at all: helm-repos is local helm configuration.
    let sb = Sandbox::bare();
    sb.run(&["helm-repos"]).await.assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_url_is_corrected_and_other_repos_are_left_alone() {
    let sb = Sandbox::bare();
    let mut repos: Vec<(&str, &str)> = REPOS.to_vec();
    repos[4] = ("dandydev", "https://example.invalid/charts");
    repos.push(("mine", "https://charts.example.org"));
    sb.set_helm_repos(&repos);
    let plan = sb.run(&["plan", "helm-repos"]).await;
    plan.assert_code(0);
    assert!(
        plan.stdout
            .contains("dandydev points at https://example.invalid/charts"),
        "{}",
        plan.stdout
    );
    sb.run(&["helm-repos"]).await.assert_code(0);
    let have = repo_pairs(&sb);
    assert!(have.contains(&(
        "dandydev".into(),
        "https://dandydeveloper.github.io/charts".into()
    )));
    assert!(have.contains(&("mine".into(), "https://charts.example.org".into())));
    let forced: Vec<_> = sb
        .helm_calls()
        .into_iter()
        .filter(|c| c.contains(&"--force-update".to_string()))
        .collect();
    assert_eq!(forced.len(), 1, "{forced:?}");
    assert_eq!(forced[0][2], "dandydev");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_repos_with_auto_skip_run_no_helm_change() {
    let mut sb = Sandbox::bare();
    sb.set_helm_repos(REPOS);
    sb.set("AUTO_SKIP_HEALTHY", "1");
    sb.run(&["helm-repos"]).await.assert_code(0);
    assert!(
        sb.helm_calls()
            .iter()
            .all(|c| c[0] == "version" || c[..2] == ["repo", "list"]),
        "{:?}",
        sb.helm_calls()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_helm_is_a_clear_error_before_anything_runs() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.without_helm();
    let run = sb.run(&["run", "namespaces", "helm-repos"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("`helm` was not found on PATH"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("install helm"), "{}", run.stderr);
    assert!(
        kube.writes().is_empty(),
        "namespaces were changed although preflight failed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_helm_names_the_command_and_its_stderr() {
    let sb = Sandbox::bare();
    // A helm whose `repo update` fails the way it does for an unreachable repository.
    let _ = std::fs::remove_file(sb.bin.join("helm"));
    std::fs::write(
        sb.bin.join("helm"),
        format!(
            "#!/bin/sh\nif [ \"$1 $2\" = \"repo update\" ]; then echo 'Error: looks like \"https://charts.external-secrets.io\" is not a valid chart repository' >&2; exit 1; fi\nexec {} \"$@\"\n",
            support::fake_helm_bin().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.bin.join("helm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = sb.run(&["helm-repos"]).await;
    run.assert_code(1);
    assert!(run.stdout.contains("helm repo update"), "{}", run.stdout);
    assert!(
        run.stdout.contains("not a valid chart repository"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("deployctl helm-repos"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_never_inherits_the_database_url_or_a_cluster_override() {
    let mut sb = Sandbox::bare();
    // Any of these would send helm elsewhere than the context deployctl checked, or hand it
    // a secret it does not need.
    sb.set("HELM_KUBEAPISERVER", "https://elsewhere.example:6443")
        .set("HELM_KUBETOKEN", "not-for-helm")
        .set("HELM_KUBECONTEXT", "other-cluster")
        .set("DATABASE_URL", "postgresql://u:s3cr3t@db:5432/x");
    sb.run(&["helm-repos"]).await.assert_code(0);
    let entries = sb.helm_log_entries();
    assert!(!entries.is_empty());
    for e in entries {
        let env = e["env"].as_object().unwrap();
        for k in [
            "HELM_KUBEAPISERVER",
            "HELM_KUBETOKEN",
            "HELM_KUBECONTEXT",
            "DATABASE_URL",
        ] {
            assert!(!env.contains_key(k), "helm {:?} inherited {k}", e["argv"]);
        }
    }
}
