//! `deployctl external-secrets`: the operator (critical) with its IRSA role, and its companion
//! `secret-stores`; an ExternalSecret that never syncs fails with its own condition message.

use crate::support;

use support::moto::{ACCOUNT, Moto};
use support::scenario::{Stack, stack};

#[tokio::test(flavor = "multi_thread")]
async fn an_external_secret_that_never_syncs_fails_with_its_condition() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = stack(moto).await;
    sb.run(&["run", "irsa", "secrets", "helm-repos", "namespaces"])
        .await
        .assert_code(0);
    kube.fail_external_secret(
        "litellm-secrets",
        "could not get secret data from provider: key litellm/database-url: ResourceNotFoundException",
    );
    sb.set("DEPLOYCTL_SYNC_TIMEOUT", "2");
    let run = sb.run(&["external-secrets"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains("ExternalSecret litellm/litellm-secrets"),
        "{all}"
    );
    assert!(all.contains("ResourceNotFoundException"), "{all}");
    assert!(all.contains("timed out after 2s"), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_runs_as_the_irsa_role_of_this_account_and_its_stores_sync() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    sb.run(&["run", "irsa", "secrets", "helm-repos", "namespaces"])
        .await
        .assert_code(0);
    // The command alone brings its companion, `secret-stores`.
    let run = sb.run(&["external-secrets"]).await;
    run.assert_code(0);
    // The role irsa made for the operator's service account, in this account...
    let def = deployctl::stack::roles::ROLES
        .iter()
        .find(|r| r.namespace == "external-secrets")
        .expect("a role for the operator");
    let role = def.name(support::CLUSTER);
    let iam = aws_sdk_iam::Client::new(&moto.sdk().await);
    iam.get_role().role_name(&role).send().await.unwrap();
    // ...is the one the real chart's ServiceAccount carries.
    let sa = kube
        .get(
            "v1",
            "ServiceAccount",
            Some("external-secrets"),
            def.service_account,
        )
        .unwrap_or_else(|| panic!("no ServiceAccount {}: {}", def.service_account, run.all()));
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
        "{sa}"
    );
    // Its companion ran with it: the store and every ExternalSecret are there and synced.
    let store = kube
        .get(
            "external-secrets.io/v1",
            "ClusterSecretStore",
            None,
            deployctl::steps::secret_stores::STORE_NAME,
        )
        .expect("the ClusterSecretStore");
    assert_eq!(store["spec"]["provider"]["aws"]["region"], "us-east-1");
    let synced = kube.list("external-secrets.io/v1", "ExternalSecret");
    // LiteLLM's, Redis's, OpenWebUI's, its Redis URL and its database set-up.
    assert_eq!(synced.len(), 5, "{synced:?}");
    for es in &synced {
        assert!(
            es["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True"),
            "{es}"
        );
    }
}
