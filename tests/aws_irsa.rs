//! `deployctl irsa` against moto's server.

mod support;

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
        ("litellm-bedrock-role", "litellm", "litellm-sa"),
        (
            "external-secrets-role",
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
        .role_name("litellm-bedrock-role")
        .policy_name("litellm-bedrock")
        .send()
        .await
        .unwrap();
    let doc = decode(bedrock.policy_document());
    let text = doc.to_string();
    assert!(
        text.contains(
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0"
        ),
        "{text}"
    );
    assert!(text.contains("bedrock:InvokeModelWithResponseStream"));
    let eso = iam
        .get_role_policy()
        .role_name("external-secrets-role")
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
    assert!(
        text.contains(&format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:openwebui/*"
        )),
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
        .role_name("external-secrets-role")
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
        .role_name("external-secrets-role")
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
