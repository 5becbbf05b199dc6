//! `deployctl litellm`: the gateway (critical). Without Redis it names the fix and changes
//! nothing; its values must reach Redis through HA's haproxy Service (caught on the real
//! chart's rendered objects); every Bedrock model it offers is allowed by its IAM policy.

use crate::support;

use support::charts::{charts_dir, project_with, render_project};
use support::moto::Moto;
use support::repo_root;
use support::scenario::{REDIS_CHAIN, refused_without, stack, upgrades};

#[tokio::test(flavor = "multi_thread")]
async fn litellm_on_the_headless_redis_service_is_caught() {
    let charts = charts_dir();
    let project = project_with("helm-values/litellm.yaml", |t| {
        t.replace(
            "REDIS_HOST: redis-redis-ha-haproxy.litellm",
            "REDIS_HOST: redis-redis-ha.litellm",
        )
    });
    let run = render_project(&charts, project.path()).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("selects the redis-ha server pods"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn litellm_without_redis_names_the_fix_and_changes_nothing() {
    let (moto, _guard) = Moto::lock().await;
    let (kube, sb, _charts) = stack(moto).await;
    // The chain up to the secret stores: everything redis needs.
    sb.run(&REDIS_CHAIN[..7]).await.assert_code(0);
    let before = upgrades(&sb).len();
    let run = refused_without(&kube, &sb, "litellm", "redis").await;
    assert!(run.stderr.contains("--with-deps"), "{}", run.stderr);
    assert_eq!(upgrades(&sb).len(), before);
}

#[test]
fn every_bedrock_model_litellm_offers_is_allowed_by_its_iam_policy() {
    // The policy deployctl writes: the file's statements plus those generated from the model list.
    let models = deployctl::bedrock::load(&repo_root()).unwrap();
    assert!(!models.is_empty());
    let statements =
        deployctl::bedrock::invoke_statements(&models, "aws", "us-east-1", "111122223333");
    let allowed = |arn: &str| {
        statements.iter().any(|s| {
            s["Resource"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| support::arn_glob(r.as_str().unwrap(), arn))
        })
    };
    for m in &models {
        let arn = match &m.geography {
            Some(_) => format!(
                "arn:aws:bedrock:us-east-1:111122223333:inference-profile/{}",
                m.id
            ),
            None => format!("arn:aws:bedrock:us-east-1::foundation-model/{}", m.id),
        };
        assert!(allowed(&arn), "{} not allowed by the bedrock policy", m.id);
        // The model behind a profile, in another destination region.
        let behind = format!("arn:aws:bedrock:us-west-2::foundation-model/{}", m.base);
        assert_eq!(allowed(&behind), m.geography.is_some(), "{behind}");
    }
    // Nothing else: another model is not allowed.
    assert!(!allowed(
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-1-20250805-v1:0"
    ));
}
