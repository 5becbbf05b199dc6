//! The real prompt, driven through a pseudo-terminal.

use crate::support;

use support::kube_server::FakeKube;
use support::{REPOS, Sandbox, key, pty};

/// A cluster whose namespaces already exist and are healthy.
async fn healthy_cluster() -> (FakeKube, Sandbox) {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.run(&["namespaces"]).await.assert_code(0);
    sb.set_helm_repos(REPOS);
    kube.clear_log();
    (kube, sb)
}

const PROMPT: &str = "Choose [S/p/v/a/q]: ";

#[tokio::test(flavor = "multi_thread")]
async fn enter_skips_a_healthy_resource() {
    let (kube, sb) = healthy_cluster().await;
    let rv = kube.resource_version();
    let code = pty(&sb, &["namespaces"], |p| {
        p.exp_string("already exist").unwrap();
        p.exp_string("[S] Skip").unwrap();
        p.exp_string("[Q] Quit").unwrap();
        p.exp_string(PROMPT).unwrap();
        key(p, "\r");
        p.exp_string("skipped").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(kube.writes().is_empty());
    assert_eq!(kube.resource_version(), rv);
}

#[tokio::test(flavor = "multi_thread")]
async fn p_proceeds() {
    let (kube, sb) = healthy_cluster().await;
    let code = pty(&sb, &["namespaces"], |p| {
        p.exp_string(PROMPT).unwrap();
        key(p, "p");
        p.exp_string("upgraded").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        kube.writes().len(),
        6,
        "the namespaces and the StorageClass were applied again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn v_shows_details_then_asks_again_and_s_skips() {
    let (kube, sb) = healthy_cluster().await;
    let code = pty(&sb, &["namespaces"], |p| {
        p.exp_string(PROMPT).unwrap();
        key(p, "v");
        p.exp_string("gatekeeper-system").unwrap();
        p.exp_string("Active").unwrap();
        p.exp_string(PROMPT).unwrap();
        key(p, "s");
        p.exp_string("skipped").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(kube.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skips_every_remaining_healthy_resource() {
    let (kube, sb) = healthy_cluster().await;
    let code = pty(&sb, &["run", "helm-repos", "namespaces"], |p| {
        p.exp_string("helm repositories already exist").unwrap();
        p.exp_string(PROMPT).unwrap();
        key(p, "a");
        // No second question: namespaces is skipped too.
        let rest = p.exp_eof().unwrap();
        assert!(!rest.contains(PROMPT), "asked again:\n{rest}");
        assert!(
            rest.contains("namespaces") && rest.contains("skipped"),
            "{rest}"
        );
    })
    .await;
    assert_eq!(code, 0);
    assert!(kube.writes().is_empty());
    assert!(
        sb.helm_calls()
            .iter()
            .all(|c| c[0] == "version" || c[..2] == ["repo", "list"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn q_quits_with_exit_0_and_changes_nothing() {
    let (kube, sb) = healthy_cluster().await;
    let rv = kube.resource_version();
    // Both steps would ask; quitting at the first one changes neither.
    let code = pty(&sb, &["run", "helm-repos", "namespaces"], |p| {
        p.exp_string(PROMPT).unwrap();
        key(p, "q");
        p.exp_string("nothing has been changed").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(kube.writes().is_empty());
    assert_eq!(kube.resource_version(), rv);
    assert!(
        sb.helm_calls()
            .iter()
            .all(|c| c[..2] != ["repo", "add"] && c[..2] != ["repo", "update"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_key_asks_again() {
    let (kube, sb) = healthy_cluster().await;
    let code = pty(&sb, &["namespaces"], |p| {
        p.exp_string(PROMPT).unwrap();
        key(p, "x");
        p.exp_string("Press S, P, V, A or Q").unwrap();
        key(p, "s");
        p.exp_string("skipped").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(kube.writes().is_empty());
}

/// Ctrl-`control` at the prompt quits: exit 0, nothing changed.
async fn control_key_quits(control: char) {
    let (kube, sb) = healthy_cluster().await;
    let code = pty(&sb, &["namespaces"], move |p| {
        p.exp_string(PROMPT).unwrap();
        p.send_control(control).unwrap();
        p.exp_string("nothing has been changed").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(kube.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn end_of_input_quits() {
    control_key_quits('d').await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_the_prompt_quits() {
    control_key_quits('c').await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_resource_is_created_without_a_question() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    let code = pty(&sb, &["namespaces"], |p| {
        let out = p.exp_eof().unwrap();
        assert!(
            !out.contains("Choose ["),
            "asked about a missing resource:\n{out}"
        );
        assert!(out.contains("created"), "{out}");
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(kube.user_namespaces().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_resource_defaults_to_proceed() {
    let kube = FakeKube::start().await;
    kube.insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "litellm"}}));
    let sb = Sandbox::new(&kube);
    let code = pty(&sb, &["namespaces"], |p| {
        p.exp_string("unhealthy").unwrap();
        p.exp_string("Choose [s/P/v/a/q]: ").unwrap();
        key(p, "\r");
        p.exp_string("repaired").unwrap();
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(kube.user_namespaces().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn ci_true_never_prompts_even_in_a_terminal() {
    let (kube, mut sb) = healthy_cluster().await;
    sb.set("CI", "true");
    let code = pty(&sb, &["namespaces"], |p| {
        let out = p.exp_eof().unwrap();
        assert!(!out.contains("Choose ["), "prompted in CI:\n{out}");
    })
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        kube.writes().len(),
        6,
        "non-interactive re-applies (5 namespaces, 1 StorageClass)"
    );
}
