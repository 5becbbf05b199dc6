//! `deployctl namespaces` against the fake Kubernetes API server.

use crate::support;

use serde_json::json;
use support::kube_server::FakeKube;
use support::{NAMESPACES, Sandbox};

#[tokio::test(flavor = "multi_thread")]
async fn creates_the_five_labelled_namespaces_with_server_side_apply() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.run(&["namespaces"]).await.assert_code(0);
    for ns in NAMESPACES {
        let obj = kube
            .get("v1", "Namespace", None, ns)
            .unwrap_or_else(|| panic!("namespace {ns} missing"));
        assert_eq!(
            obj["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "litellm-stack"
        );
        assert_eq!(obj["metadata"]["labels"]["app.kubernetes.io/name"], *ns);
        assert_eq!(obj["metadata"]["managedFields"][0]["manager"], "deployctl");
        assert_eq!(obj["metadata"]["managedFields"][0]["operation"], "Apply");
    }
    let applies: Vec<_> = kube
        .writes()
        .into_iter()
        .filter(|r| r.content_type.starts_with("application/apply-patch"))
        .collect();
    assert_eq!(
        applies.len(),
        6,
        "one server-side apply per namespace, and the StorageClass"
    );
    // Volumes are encrypted by default: the default StorageClass says so.
    let sc = kube
        .get("storage.k8s.io/v1", "StorageClass", None, "gp3-encrypted")
        .expect("the default StorageClass");
    assert_eq!(sc["parameters"]["encrypted"], "true");
    assert_eq!(sc["provisioner"], "ebs.csi.aws.com");
    assert_eq!(
        sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert!(
        applies
            .iter()
            .all(|r| r.query.contains("fieldManager=deployctl"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_interactive_rerun_is_an_idempotent_apply() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.run(&["namespaces"]).await.assert_code(0);
    let rv = kube.resource_version();
    kube.clear_log();
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(0);
    assert!(run.stdout.contains("upgrade"), "{}", run.stdout);
    // It applied again (non-interactive runs re-apply) and nothing changed.
    assert_eq!(kube.writes().len(), 6);
    assert_eq!(
        kube.resource_version(),
        rv,
        "an identical apply changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_skip_healthy_changes_nothing() {
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.run(&["namespaces"]).await.assert_code(0);
    kube.clear_log();
    sb.set("AUTO_SKIP_HEALTHY", "true");
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(0);
    assert!(kube.writes().is_empty(), "writes: {:?}", kube.writes());
    assert!(run.stdout.contains("skipped"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_set_is_repaired() {
    let kube = FakeKube::start().await;
    kube.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "litellm"}}));
    let mut sb = Sandbox::new(&kube);
    sb.set("AUTO_SKIP_HEALTHY", "true");
    let plan = sb.run(&["plan", "namespaces"]).await;
    plan.assert_code(0);
    assert!(plan.stdout.contains("unhealthy"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("missing open-webui"),
        "{}",
        plan.stdout
    );
    // Unhealthy is repaired even with auto-skip.
    sb.run(&["namespaces"]).await.assert_code(0);
    for ns in NAMESPACES {
        let obj = kube.get("v1", "Namespace", None, ns).unwrap();
        assert_eq!(
            obj["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "litellm-stack"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_context_for_another_cluster_is_refused_before_any_change() {
    let kube = FakeKube::start().await;
    let staging = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.write_kubeconfig(&staging.kubeconfig(
        "staging-admin",
        "arn:aws:eks:us-east-1:123456789012:cluster/staging",
    ));
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("`staging-admin`"), "{}", run.stderr);
    assert!(run.stderr.contains(&staging.url()), "{}", run.stderr);
    assert!(
        run.stderr.contains(&kube.url()),
        "expected endpoint: {}",
        run.stderr
    );
    assert!(run.stderr.contains("--context"), "{}", run.stderr);
    assert!(kube.requests().is_empty(), "the cluster was contacted");
    assert!(
        staging.requests().is_empty(),
        "the other cluster was contacted"
    );
    assert!(kube.user_namespaces().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_same_named_cluster_in_another_account_or_region_is_refused() {
    let kube = FakeKube::start().await;
    let elsewhere = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    for arn in [
        "arn:aws:eks:eu-west-1:999999999999:cluster/test-cluster",
        "arn:aws:eks:us-east-1:999999999999:cluster/test-cluster",
        "arn:aws:eks:eu-west-1:123456789012:cluster/test-cluster",
    ] {
        sb.write_kubeconfig(&elsewhere.kubeconfig("prod", arn));
        let run = sb.run(&["namespaces"]).await;
        run.assert_code(2);
        assert!(
            run.stderr.contains("refusing to use kube context `prod`"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(support::CLUSTER_ARN), "{}", run.stderr);
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the other cluster was contacted"
    );
    assert!(kube.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_context_name_is_not_proof_even_at_the_right_address() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    // Named like the cluster, at the cluster's address, but neither its CA nor its ARN.
    sb.write_kubeconfig(&kube.kubeconfig("test-cluster", "test-cluster"));
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("neither the cluster's certificate authority nor its ARN"),
        "{}",
        run.stderr
    );
    assert!(kube.requests().is_empty());
    // The exact ARN at that address is.
    sb.write_kubeconfig(&kube.kubeconfig("test-cluster", support::CLUSTER_ARN));
    sb.run(&["namespaces"]).await.assert_code(0);
    assert_eq!(kube.user_namespaces().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_eks_answer_nothing_touches_the_cluster() {
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    // No such cluster in this account and region.
    sb.set("EKS_CLUSTER_NAME", "absent");
    sb.write_kubeconfig(
        &kube.kubeconfig("ctx", "arn:aws:eks:us-east-1:123456789012:cluster/absent"),
    );
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("EKS cluster `absent` does not exist"),
        "{}",
        run.stderr
    );
    // EKS unreachable (no credentials' worth of answer).
    sb.set("EKS_CLUSTER_NAME", support::CLUSTER);
    sb.set("AWS_ENDPOINT_URL_EKS", "http://127.0.0.1:9");
    sb.write_kubeconfig(&kube.kubeconfig("ctx", support::CLUSTER_ARN));
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("cannot prove which cluster the kube context is"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("aws eks describe-cluster --name test-cluster"),
        "{}",
        run.stderr
    );
    assert!(kube.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_context_flag_selects_another_context() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    // Two contexts; the current one points elsewhere.
    let url = kube.url();
    sb.write_kubeconfig(&format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n- name: other-cluster\n  cluster:\n    server: http://127.0.0.1:1\n- name: {arn}\n  cluster:\n    server: {url}\ncontexts:\n- name: other\n  context:\n    cluster: other-cluster\n    user: u\n- name: mine\n  context:\n    cluster: {arn}\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
        arn = support::CLUSTER_ARN
    ));
    sb.run(&["namespaces"]).await.assert_code(2);
    sb.run(&["namespaces", "--context", "mine"])
        .await
        .assert_code(0);
    assert_eq!(kube.user_namespaces().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_cluster_names_kubeconfig_and_context() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.write_kubeconfig(&format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: {arn}\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: dead\n  context:\n    cluster: {arn}\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
        arn = support::CLUSTER_ARN
    ));
    // EKS says the cluster is served there (and nothing answers).
    sb.eks
        .as_ref()
        .unwrap()
        .set_api_server("http://127.0.0.1:9");
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("cannot reach the Kubernetes API"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`dead`"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&sb.kubeconfig.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("help:"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_kubeconfig_says_how_to_create_one() {
    let sb = Sandbox::bare();
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("aws eks update-kubeconfig --name test-cluster"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_failure_fails_the_step_and_names_it() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    // Not transient (RBAC): no retry, the step fails at once.
    kube.fail_next("/api/v1/namespaces/monitoring", 100, 403);
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    assert!(run.all().contains("Forbidden"), "{}", run.all());
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);
    assert!(run.all().contains("namespaces"), "{}", run.all());
    assert!(
        run.stdout.contains("next:") && run.stdout.contains("deployctl namespaces"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_api_errors_are_retried() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    // Throttled twice (Retry-After: 1), a burst of 500s, a dropped connection: all retried.
    kube.fail_next("/api/v1/namespaces/monitoring", 2, 429);
    kube.fail_next("PATCH /api/v1/namespaces/litellm", 3, 500);
    kube.drop_next("PATCH /api/v1/namespaces/jaeger", 1);
    let started = std::time::Instant::now();
    sb.run(&["namespaces"]).await.assert_code(0);
    assert_eq!(kube.user_namespaces().len(), 5);
    // The server asked for a second's pause, twice.
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
}

/// The first call (`GET /version`) rides out a control plane that answers 503 for a few
/// seconds; one that answers 503 for good is named as an answer (not as an unreachable or
/// private endpoint), with the retries, within the retry budget.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_server_answering_503_is_retried_then_named_as_an_answer() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    kube.fail_next("GET /version", 4, 503);
    sb.run(&["namespaces"]).await.assert_code(0);
    assert_eq!(kube.user_namespaces().len(), 5, "the run went on");

    kube.fail_next("GET /version", 100_000, 503);
    let before = kube.resource_version();
    let started = std::time::Instant::now();
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    let said = run.all();
    for needle in [
        "the API server at",
        "answered 503",
        "ServiceUnavailable",
        "retried",
        "busy or being upgraded",
        "aws eks describe-cluster",
    ] {
        assert!(said.contains(needle), "{needle}: {said}");
    }
    for wrong in ["cannot reach", "inside the VPC", "endpoint is private"] {
        assert!(!said.contains(wrong), "{wrong}: {said}");
    }
    // Bounded by the retry budget (30s), with room for a slow machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(kube.resource_version(), before, "nothing was changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_only_reads() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    let run = sb
        .run(&["plan", "namespaces", "helm-repos", "validate"])
        .await;
    run.assert_code(0);
    assert!(
        run.stdout.contains("namespaces") && run.stdout.contains("create"),
        "{}",
        run.stdout
    );
    assert!(!kube.requests().is_empty());
    assert!(kube.writes().is_empty(), "plan wrote: {:?}", kube.writes());
    // helm was only asked to read.
    for call in sb.helm_calls() {
        assert!(
            call[..2] == ["repo", "list"] || call[0] == "version",
            "plan ran `helm {}`",
            call.join(" ")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_one_event_per_line() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    let run = sb.run(&["namespaces", "--output", "json"]).await;
    run.assert_code(0);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["steps"][0]["step"], "namespaces");
    assert_eq!(summary["steps"][0]["result"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubeconfig_and_profile_flags_win_over_their_variables_for_every_child() {
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    let real = sb.kubeconfig.clone();
    // The variable points nowhere; the flag at the real file.
    sb.set("KUBECONFIG", "/nonexistent/kubeconfig");
    sb.run(&["namespaces"]).await.assert_code(1);
    sb.run(&["namespaces", "--kubeconfig", real.to_str().unwrap()])
        .await
        .assert_code(0);
    assert_eq!(kube.user_namespaces().len(), 5);
    // helm gets the same file and profile.
    let run = sb
        .run(&[
            "helm-repos",
            "--kubeconfig",
            real.to_str().unwrap(),
            "--profile",
            "ci-deployer",
        ])
        .await;
    run.assert_code(0);
    let last = sb.helm_log_entries().pop().expect("helm ran");
    assert_eq!(last["env"]["KUBECONFIG"], real.to_str().unwrap());
    assert_eq!(last["env"]["AWS_PROFILE"], "ci-deployer");
}

/// A StorageClass of that name that does not encrypt is reported (its parameters cannot be
/// changed in place), so `plan` and the run do not call the volumes encrypted.
#[tokio::test(flavor = "multi_thread")]
async fn an_unencrypted_default_storage_class_is_unhealthy() {
    let kube = FakeKube::start().await;
    let sb = Sandbox::new(&kube);
    sb.run(&["namespaces"]).await.assert_code(0);
    let mut sc = kube
        .get("storage.k8s.io/v1", "StorageClass", None, "gp3-encrypted")
        .unwrap();
    sc["parameters"]["encrypted"] = json!("false");
    kube.insert(sc);
    let plan = sb.run(&["plan", "namespaces"]).await;
    assert!(
        plan.stdout
            .contains("StorageClass gp3-encrypted does not encrypt its volumes"),
        "{}",
        plan.stdout
    );
}
