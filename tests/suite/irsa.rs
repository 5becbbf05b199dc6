//! `deployctl irsa` against moto's server.

use crate::support;

use serde_json::Value;
use support::Sandbox;
use support::moto::{ACCOUNT, Moto, seed_cluster};

fn decode(doc: &str) -> Value {
    serde_json::from_str(doc).unwrap_or_else(|_| {
        serde_json::from_str(&percent_encoding::percent_decode_str(doc).decode_utf8_lossy())
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_both_roles_with_trust_policies_and_tags() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let seeded = seed_cluster(&sdk, support::CLUSTER, true).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.run(&["irsa"]).await.assert_code(0);

    let iam = aws_sdk_iam::Client::new(&sdk);
    let host = seeded.issuer.trim_start_matches("https://");
    for (role, ns, sa) in [
        ("test-cluster-litellm-bedrock", "litellm", "litellm-sa"),
        (
            "test-cluster-external-secrets",
            "external-secrets",
            "external-secrets",
        ),
    ] {
        let r = iam
            .get_role()
            .role_name(role)
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        let trust = decode(r.assume_role_policy_document().unwrap());
        let st = &trust["Statement"][0];
        assert_eq!(
            st["Principal"]["Federated"],
            format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}")
        );
        assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            st["Condition"]["StringEquals"][format!("{host}:sub")],
            format!("system:serviceaccount:{ns}:{sa}")
        );
        assert_eq!(
            st["Condition"]["StringEquals"][format!("{host}:aud")],
            "sts.amazonaws.com"
        );
        let tags: Vec<(String, String)> = r
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        assert!(
            tags.contains(&("managed-by".into(), "deployctl".into())),
            "{tags:?}"
        );
    }
    let bedrock = iam
        .get_role_policy()
        .role_name("test-cluster-litellm-bedrock")
        .policy_name("litellm-bedrock")
        .send()
        .await
        .unwrap();
    let doc = decode(bedrock.policy_document());
    let text = doc.to_string();
    // The models of helm-values/litellm.yaml: each profile in the region, the model behind it
    // in any region but only through that profile.
    let profile = format!(
        "arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.anthropic.claude-sonnet-4-6"
    );
    let invoke = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "InvokeThroughInferenceProfiles")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        invoke["Resource"]
            .as_array()
            .unwrap()
            .contains(&profile.clone().into()),
        "{text}"
    );
    let behind = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "ModelsBehindTheProfiles")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        behind["Resource"]
            .as_array()
            .unwrap()
            .contains(&"arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-6".into()),
        "{text}"
    );
    assert_eq!(
        behind["Condition"]["StringLike"]["bedrock:InferenceProfileArn"],
        invoke["Resource"]
    );
    assert!(text.contains("bedrock:InvokeModelWithResponseStream"));
    let eso = iam
        .get_role_policy()
        .role_name("test-cluster-external-secrets")
        .policy_name("external-secrets-read")
        .send()
        .await
        .unwrap();
    let text = decode(eso.policy_document()).to_string();
    assert!(
        text.contains(&format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:litellm/*"
        )),
        "{text}"
    );
    // Exactly the prefix: no grant outside it (the original also granted `openwebui/*`
    // to every environment).
    let resources = &decode(eso.policy_document())["Statement"][0]["Resource"];
    assert_eq!(
        resources,
        &serde_json::json!([format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:litellm/*"
        )]),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reruns_follow_the_decision_table_and_drift_is_repaired() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.run(&["irsa"]).await.assert_code(0);

    let plan = sb.run(&["plan", "irsa"]).await;
    plan.assert_code(0);
    assert!(plan.stdout.contains("healthy"), "{}", plan.stdout);

    // Non-interactive re-run: idempotent apply.
    sb.run(&["irsa"]).await.assert_code(0);
    // Auto-skip: skipped.
    sb.set("AUTO_SKIP_HEALTHY", "true");
    let run = sb.run(&["irsa"]).await;
    run.assert_code(0);
    assert!(run.stdout.contains("skipped"), "{}", run.stdout);

    // Someone edits the inline policy: unhealthy, saying what differs, and repaired.
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.put_role_policy()
        .role_name("test-cluster-external-secrets")
        .policy_name("external-secrets-read")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let plan = sb.run(&["plan", "irsa"]).await;
    assert!(plan.stdout.contains("unhealthy"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("external-secrets-read"),
        "{}",
        plan.stdout
    );
    sb.run(&["irsa"]).await.assert_code(0);
    let doc = iam
        .get_role_policy()
        .role_name("test-cluster-external-secrets")
        .policy_name("external-secrets-read")
        .send()
        .await
        .unwrap();
    assert!(
        decode(doc.policy_document())
            .to_string()
            .contains("secretsmanager:GetSecretValue")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_oidc_provider_is_a_clear_error_and_nothing_is_created() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, false).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    let run = sb.run(&["irsa"]).await;
    run.assert_code(1);
    assert!(run.all().contains("IAM OIDC provider"), "{}", run.all());
    assert!(
        run.all().contains("associate-iam-oidc-provider"),
        "{}",
        run.all()
    );
    assert_no_stack_roles(&sdk).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_cluster_names_cluster_and_region() {
    let (moto, _guard) = Moto::lock().await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    let run = sb.run(&["irsa"]).await;
    run.assert_code(1);
    assert!(
        run.all()
            .contains("EKS cluster `test-cluster` does not exist in region `us-east-1`"),
        "{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_profile_fails_clearly_and_creates_nothing() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.unset("AWS_ACCESS_KEY_ID").unset("AWS_SECRET_ACCESS_KEY");
    sb.set("AWS_PROFILE", "nope");
    sb.set("DATABASE_URL", "postgresql://u:p@db:5432/x");
    // A profile that is defined nowhere is bad input (exit 2), named as such — not the
    // SDK's last resort (IMDS) failing.
    for cmd in ["irsa", "secrets"] {
        let run = sb.run(&[cmd]).await;
        run.assert_code(2);
        assert!(
            run.stderr.contains("AWS profile `nope` is not defined"),
            "{cmd}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("IMDS"), "{cmd}: {}", run.stderr);
        assert!(
            run.stderr.contains("aws configure list-profiles"),
            "{cmd}: {}",
            run.stderr
        );
    }
    assert_no_stack_roles(&sdk).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk)
        .list_secrets()
        .send()
        .await
        .unwrap();
    assert!(secrets.secret_list().is_empty());
}

/// Nothing was created: no role of the stack exists.
async fn assert_no_stack_roles(sdk: &aws_config::SdkConfig) {
    let roles = aws_sdk_iam::Client::new(sdk)
        .list_roles()
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = roles.roles().iter().map(|r| r.role_name()).collect();
    assert!(
        names.iter().all(|n| !n.contains("litellm")),
        "roles were created: {names:?}"
    );
}

async fn trust_of(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let r = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    decode(r.assume_role_policy_document().unwrap())
}

async fn tags_of(iam: &aws_sdk_iam::Client, role: &str) -> Vec<(String, String)> {
    let r = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    r.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Two clusters in one account: each gets its own roles, tagged with its name, and neither
/// run touches the other's.
#[tokio::test(flavor = "multi_thread")]
async fn two_clusters_in_one_account_keep_their_own_roles() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, "litellm-dev", true).await;
    // moto gives every cluster the same issuer: its OIDC provider exists already.
    seed_cluster(&sdk, "litellm-prod", false).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);

    sb.set("EKS_CLUSTER_NAME", "litellm-dev");
    sb.run(&["irsa"]).await.assert_code(0);
    let dev_trust = trust_of(&iam, "litellm-dev-external-secrets").await;

    sb.set("EKS_CLUSTER_NAME", "litellm-prod");
    let run = sb.run(&["irsa"]).await;
    run.assert_code(0);
    assert!(
        run.stdout.contains("role/litellm-prod-external-secrets")
            && run.stdout.contains("role/litellm-prod-litellm-bedrock"),
        "{}",
        run.stdout
    );
    for (cluster, role) in [
        ("litellm-dev", "litellm-dev-external-secrets"),
        ("litellm-dev", "litellm-dev-litellm-bedrock"),
        ("litellm-prod", "litellm-prod-external-secrets"),
        ("litellm-prod", "litellm-prod-litellm-bedrock"),
    ] {
        let tags = tags_of(&iam, role).await;
        assert!(
            tags.contains(&("deployctl-cluster".into(), cluster.into())),
            "{role}: {tags:?}"
        );
    }
    assert_eq!(
        trust_of(&iam, "litellm-dev-external-secrets").await,
        dev_trust,
        "the prod run rewrote the dev role"
    );
    let names: Vec<String> = iam
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with("-role") && n.contains("external-secrets")),
        "an account-global role name was created: {names:?}"
    );
}

/// A role of the wanted name that deployctl did not create for this cluster is refused by
/// name and tag, in the plan and in the run, and left exactly as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_not_tagged_for_this_cluster_is_never_rewritten() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let foreign = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("test-cluster-external-secrets")
        .assume_role_policy_document(foreign)
        .send()
        .await
        .unwrap();
    let before = trust_of(&iam, "test-cluster-external-secrets").await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);

    let plan = sb.run(&["plan", "irsa"]).await;
    plan.assert_code(1);
    assert!(
        plan.all().contains("`test-cluster-external-secrets`")
            && plan.all().contains("no deployctl-cluster tag"),
        "{}",
        plan.all()
    );
    let run = sb.run(&["irsa"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(all.contains("no deployctl-cluster tag"), "{all}");
    assert!(
        all.contains(
            "aws iam tag-role --role-name test-cluster-external-secrets --tags Key=deployctl-cluster,Value=test-cluster"
        ),
        "{all}"
    );
    assert_eq!(
        trust_of(&iam, "test-cluster-external-secrets").await,
        before
    );
    assert!(
        iam.get_role()
            .role_name("test-cluster-litellm-bedrock")
            .send()
            .await
            .is_err(),
        "a role was created although the step stopped"
    );

    // Tagged for another cluster: refused, naming it.
    iam.tag_role()
        .role_name("test-cluster-external-secrets")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("deployctl-cluster")
                .value("someone-else")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let run = sb.run(&["irsa"]).await;
    run.assert_code(1);
    assert!(
        run.all().contains("belongs to cluster `someone-else`"),
        "{}",
        run.all()
    );
    assert_eq!(
        trust_of(&iam, "test-cluster-external-secrets").await,
        before
    );
}
