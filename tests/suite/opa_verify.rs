//! `deployctl opa-verify`: the templates and constraints with their audit status. It reads
//! only, and a missing constraint is named with the command that restores it.

use crate::support;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject};
use support::repo_root;
use support::scenario::{Stack, helm_cluster};

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_constraint_is_named_with_the_command_that_restores_it() {
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = helm_cluster().await;
    sb.run(&[
        "run",
        "helm-repos",
        "namespaces",
        "gatekeeper",
        "opa-policies",
    ])
    .await
    .assert_code(0);
    let load = |f: &str| deployctl::stack::manifest::load(&repo_root().join(f)).unwrap();
    let (templates, constraints) = (
        load("manifests/opa/templates.yaml"),
        load("manifests/opa/constraints.yaml"),
    );
    let run = sb.run(&["opa-verify"]).await;
    run.assert_code(0);
    assert!(
        run.all().contains(&format!(
            "{} templates, {} constraints",
            templates.len(),
            constraints.len()
        )),
        "{}",
        run.all()
    );

    // One constraint deleted behind deployctl's back.
    let gone = constraints
        .iter()
        .find(|c| c.kind() == "K8sBlockNodePort")
        .expect("the NodePort constraint");
    let resource = ApiResource {
        group: "constraints.gatekeeper.sh".into(),
        version: "v1beta1".into(),
        api_version: "constraints.gatekeeper.sh/v1beta1".into(),
        kind: gone.kind().into(),
        plural: gone.kind().to_lowercase(),
    };
    let api: Api<DynamicObject> = Api::all_with(kube.client().await, &resource);
    api.delete(gone.name(), &DeleteParams::default())
        .await
        .unwrap();
    kube.clear_log();
    let run = sb.run(&["opa-verify"]).await;
    run.assert_code(1);
    assert!(
        run.all().contains(&format!(
            "missing constraint {}: run `deployctl opa-policies`",
            gone.name()
        )),
        "{}",
        run.all()
    );
    assert!(
        kube.writes().is_empty(),
        "opa-verify wrote: {:?}",
        kube.writes()
    );

    // The command it names puts it back.
    sb.run(&["opa-policies"]).await.assert_code(0);
    assert!(api.get_opt(gone.name()).await.unwrap().is_some());
    sb.run(&["opa-verify"]).await.assert_code(0);
}
