//! Bedrock before anything changes, against a stand-in of Bedrock's control plane (moto has
//! none): every configured model must be offered in the region and ACTIVE, every profile must
//! exist; a LEGACY or missing model stops the run before any change, naming the models the
//! region offers. A model the account has not subscribed to is a warning, and
//! `deployctl bedrock enable` (the operator's credentials) subscribes it.

use crate::support;

use support::moto::Moto;
use support::scenario::{Stack, stack};

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_or_missing_model_stops_before_any_change_naming_what_the_region_offers() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    let models = deployctl::stack::bedrock::load(&support::repo_root()).unwrap();
    let front = sb.bedrock.as_ref().unwrap();

    // Every model ACTIVE, every profile there: preflight passes quietly (plan changes nothing).
    let run = sb.run(&["plan", "irsa"]).await;
    run.assert_code(0);
    assert!(!run.all().contains("Bedrock"), "{}", run.all());
    let looked = front.log();
    for m in &models {
        assert!(
            looked.contains(&format!("GET /foundation-models/{}", m.base)),
            "{looked:?}"
        );
        assert!(
            looked.contains(&format!("GET /inference-profiles/{}", m.id)),
            "{looked:?}"
        );
    }

    // The first model turns LEGACY: a run stops before anything changes.
    front.set_lifecycle(&models[0].base, "LEGACY");
    kube.clear_log();
    let run = sb.run(&["run", "irsa", "secrets"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.contains(&format!("{} is LEGACY in us-east-1", models[0].base)),
        "{all}"
    );
    assert!(all.contains("nothing was changed"), "{all}");
    // What the region offers instead.
    assert!(
        all.contains("anthropic.claude-opus-4-6-v1 (ACTIVE)"),
        "{all}"
    );
    assert!(all.contains("us.anthropic.claude-opus-4-6-v1"), "{all}");
    let sdk = moto.sdk().await;
    let roles = aws_sdk_iam::Client::new(&sdk)
        .list_roles()
        .send()
        .await
        .unwrap();
    assert!(roles.roles().is_empty(), "irsa ran: {:?}", roles.roles());
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk)
        .list_secrets()
        .send()
        .await
        .unwrap();
    assert!(secrets.secret_list().is_empty(), "secrets ran");
    assert!(kube.writes().is_empty());
    // Taking the stack down is not about what it would serve: uninstall is not stopped.
    let run = sb
        .run(&["uninstall", "litellm", "--confirm-destroy", "test-cluster"])
        .await;
    run.assert_code(0);
    assert!(!run.all().contains("LEGACY"), "{}", run.all());

    // A model the region does not offer at all: the same, in JSON with the check named.
    front.set_lifecycle(&models[0].base, "ACTIVE");
    front.remove_model(&models[1].base);
    let run = sb.run(&["run", "irsa", "--output", "json"]).await;
    run.assert_code(1);
    assert!(
        run.all()
            .contains(&format!("{} is not offered in us-east-1", models[1].base)),
        "{}",
        run.all()
    );
    let summary: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["error"]["check"], "bedrock", "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_the_account_has_not_subscribed_to_is_a_warning_and_bedrock_enable_subscribes_it() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube: _kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    let models = deployctl::stack::bedrock::load(&support::repo_root()).unwrap();
    let front = sb.bedrock.as_ref().unwrap();
    front.set_agreed(&models[0].base, false);
    front.state.lock().unwrap().use_case_submitted = false;

    let run = sb.run(&["plan", "irsa"]).await;
    run.assert_code(0);
    assert!(
        run.stderr.contains(&format!(
            "{} is not enabled for this account yet (Marketplace agreement NOT_AVAILABLE)",
            models[0].base
        )) && run.stderr.contains("deployctl bedrock enable"),
        "{}",
        run.stderr
    );

    // enable: the agreement is made; the form cannot be, and is named (exit 1).
    let run = sb.run(&["bedrock", "enable"]).await;
    run.assert_code(1);
    let all = run.all();
    assert!(
        all.lines()
            .any(|l| l.contains(&models[0].base)
                && l.contains("subscribed (usable in a few minutes)")),
        "{all}"
    );
    assert!(all.contains("already enabled"), "{all}");
    assert!(
        all.contains("first-time-use form has not been submitted"),
        "{all}"
    );
    assert!(
        front
            .log()
            .contains(&"POST /create-foundation-model-agreement".to_string())
    );
    // Once the form is in, enable has nothing left to do.
    front.state.lock().unwrap().use_case_submitted = true;
    let run = sb.run(&["bedrock", "enable"]).await;
    run.assert_code(0);
    assert!(!run.all().contains("subscribed ("), "{}", run.all());
    let run = sb.run(&["plan", "irsa"]).await;
    assert!(
        !run.stderr.contains("not enabled for this account"),
        "{}",
        run.stderr
    );
}
