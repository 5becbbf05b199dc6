//! `deployctl secret-stores`: the ClusterSecretStore and the ExternalSecrets, after the
//! operator. A store changed to read another region is found unhealthy by `plan` and put back
//! by a run; without the operator, the step names the fix and changes nothing.

use crate::support;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::json;
use support::moto::Moto;
use support::scenario::{REDIS_CHAIN, Stack, refused_without, stack};

#[tokio::test(flavor = "multi_thread")]
async fn a_store_reading_another_region_is_repaired_and_without_the_operator_nothing_changes() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;

    // Without the operator: named, with the command, and nothing written.
    sb.run(&["run", "irsa", "secrets", "helm-repos", "namespaces"])
        .await
        .assert_code(0);
    refused_without(&kube, &sb, "secret-stores", "external-secrets").await;

    // Everything up to the stores, then the store is pointed at another region.
    sb.run(&REDIS_CHAIN[..7]).await.assert_code(0);
    let name = deployctl::steps::secret_stores::STORE_NAME;
    let resource = ApiResource {
        group: "external-secrets.io".into(),
        version: "v1".into(),
        api_version: "external-secrets.io/v1".into(),
        kind: "ClusterSecretStore".into(),
        plural: "clustersecretstores".into(),
    };
    let stores: Api<DynamicObject> = Api::all_with(kube.client().await, &resource);
    stores
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"provider": {"aws": {"region": "eu-west-3"}}}})),
        )
        .await
        .unwrap();
    let plan = sb.run(&["plan", "secret-stores", "-v"]).await;
    assert!(
        plan.all()
            .contains("the store reads region \"eu-west-3\", this run deploys to us-east-1"),
        "{}",
        plan.all()
    );

    // A run puts the region back, and `plan` finds it healthy.
    sb.run(&["secret-stores"]).await.assert_code(0);
    let store = kube
        .get("external-secrets.io/v1", "ClusterSecretStore", None, name)
        .unwrap();
    assert_eq!(store["spec"]["provider"]["aws"]["region"], "us-east-1");
    let plan = sb.run(&["plan", "secret-stores"]).await;
    assert!(!plan.all().contains("repair"), "{}", plan.all());
}
