//! `deployctl kubeconfig` merges a context for the EKS cluster, keeping everything else.

use crate::support;

use support::Sandbox;
use support::moto::{Moto, seed_cluster};

const EXISTING: &str = "apiVersion: v1
kind: Config
current-context: kind-dev
preferences: {}
clusters:
- name: kind-dev
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: kind-dev
  context:
    cluster: kind-dev
    user: kind-dev
users:
- name: kind-dev
  user:
    token: dev-token
";

#[tokio::test(flavor = "multi_thread")]
async fn merges_an_exec_context_and_keeps_the_unrelated_one() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.write_kubeconfig(EXISTING);
    for _ in 0..2 {
        let run = sb.run(&["kubeconfig"]).await;
        run.assert_code(0);
        assert!(run.stdout.contains("is current"), "{}", run.stdout);
    }
    let kc = kube::config::Kubeconfig::read_from(&sb.kubeconfig).expect("kube-rs reads the result");
    let arn = format!(
        "arn:aws:eks:us-east-1:{}:cluster/{}",
        support::moto::ACCOUNT,
        support::CLUSTER
    );
    assert_eq!(kc.current_context.as_deref(), Some(arn.as_str()));
    let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["kind-dev", arn.as_str()],
        "no duplicates, the other context kept"
    );
    let dev_user = kc.auth_infos.iter().find(|u| u.name == "kind-dev").unwrap();
    assert!(
        dev_user.auth_info.as_ref().unwrap().token.is_some(),
        "the other user lost its token"
    );
    let ours = kc.auth_infos.iter().find(|u| u.name == arn).unwrap();
    let exec = ours.auth_info.as_ref().unwrap().exec.as_ref().unwrap();
    // Not on PATH: the absolute path of this (build-directory) binary, with a warning.
    assert_eq!(
        exec.command.as_deref(),
        Some(
            support::deployctl_bin()
                .canonicalize()
                .unwrap()
                .to_str()
                .unwrap()
        )
    );
    let run = sb.run(&["kubeconfig"]).await;
    assert!(
        run.stderr.contains("cargo install --locked --path ."),
        "{}",
        run.stderr
    );
    // On PATH as this very binary: the kubeconfig names `deployctl`, and says nothing.
    std::os::unix::fs::symlink(support::deployctl_bin(), sb.bin.join("deployctl")).unwrap();
    let run = sb.run(&["kubeconfig"]).await;
    run.assert_code(0);
    assert!(!run.stderr.contains("cargo clean"), "{}", run.stderr);
    let kc2 = kube::config::Kubeconfig::read_from(&sb.kubeconfig).unwrap();
    let ours2 = kc2.auth_infos.iter().find(|u| u.name == arn).unwrap();
    assert_eq!(
        ours2
            .auth_info
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap()
            .command
            .as_deref(),
        Some("deployctl")
    );
    assert_eq!(
        exec.args.clone().unwrap(),
        [
            "eks-token",
            "--cluster",
            support::CLUSTER,
            "--region",
            "us-east-1"
        ]
    );
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == arn)
        .unwrap()
        .cluster
        .as_ref()
        .unwrap();
    assert!(cluster.server.as_deref().unwrap().starts_with("https://"));
    assert!(cluster.certificate_authority_data.is_some());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sb.kubeconfig)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}
