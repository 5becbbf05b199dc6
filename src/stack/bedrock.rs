//! The Bedrock models LiteLLM calls, and what calling them needs in IAM — from one list, the
//! `bedrock/…` models of `helm-values/litellm.yaml`, so the model list and the policy never
//! drift apart.
//!
//! Newer models (Claude 4.x among them) are not callable on demand by their model ID in most
//! regions: they are called through a cross-Region inference profile, whose ID is the model
//! ID with a geography in front (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `us-gov.`, or `global.`)
//! and which can only be called from a source Region of that geography. IAM must allow the
//! profile in the source Region *and* the foundation model in every destination Region the
//! profile routes to; the second grant is limited to requests made through our profiles with
//! the `bedrock:InferenceProfileArn` condition (source: Amazon Bedrock user guide,
//! "Supported Regions and models for inference profiles" and "Geographic cross-Region
//! inference", read 2026-11-27).

use crate::error::UserError;
use anyhow::Result;
use serde_json::{Value, json};
use std::path::Path;

/// A model as LiteLLM names it (`bedrock/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// What LiteLLM calls: a model ID or an inference profile ID.
    pub id: String,
    /// The inference profile's geography, when `id` is a profile.
    pub geography: Option<String>,
    /// The foundation model behind it.
    pub base: String,
}

const GEOGRAPHIES: &[&str] = &["us-gov", "global", "apac", "us", "eu", "jp", "au", "ca"];

pub fn parse(id: &str) -> Model {
    for g in GEOGRAPHIES {
        if let Some(base) = id.strip_prefix(&format!("{g}.")) {
            return Model {
                id: id.to_string(),
                geography: Some(g.to_string()),
                base: base.to_string(),
            };
        }
    }
    Model {
        id: id.to_string(),
        geography: None,
        base: id.to_string(),
    }
}

/// Whether a profile of `geography` can be called from `region`.
pub fn callable_from(geography: &str, region: &str) -> bool {
    match geography {
        "global" => !region.starts_with("cn-") && !region.starts_with("us-gov-"),
        "us-gov" => region.starts_with("us-gov-"),
        "us" => region.starts_with("us-") && !region.starts_with("us-gov-"),
        "eu" => region.starts_with("eu-"),
        "apac" => region.starts_with("ap-"),
        "jp" => matches!(region, "ap-northeast-1" | "ap-northeast-3"),
        "au" => matches!(region, "ap-southeast-2" | "ap-southeast-4"),
        "ca" => region.starts_with("ca-"),
        _ => false,
    }
}

/// The profile prefix for models called from `region`, for messages.
pub fn geography_for(region: &str) -> &'static str {
    ["us-gov", "us", "eu", "apac", "ca"]
        .into_iter()
        .find(|g| callable_from(g, region))
        .unwrap_or("global")
}

/// The `bedrock/…` models of a LiteLLM values document (`proxy_config.model_list`).
pub fn models_of(values: &Value) -> Vec<Model> {
    values["proxy_config"]["model_list"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| m["litellm_params"]["model"].as_str())
                .filter_map(|m| m.strip_prefix("bedrock/"))
                .map(parse)
                .collect()
        })
        .unwrap_or_default()
}

/// The models of `helm-values/litellm.yaml`.
pub fn load(project_dir: &Path) -> Result<Vec<Model>> {
    let path = project_dir.join("helm-values/litellm.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let values: Value = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not valid YAML: {e}", path.display()))?;
    Ok(models_of(&values))
}

/// Every profile must be callable from the deploy region: a `us.` profile called from
/// eu-west-1 fails at the first request, long after the deploy said it succeeded.
pub fn check_region(models: &[Model], region: &str) -> Result<(), UserError> {
    let wrong: Vec<&str> = models
        .iter()
        .filter(|m| {
            m.geography
                .as_deref()
                .is_some_and(|g| !callable_from(g, region))
        })
        .map(|m| m.id.as_str())
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(UserError::usage(
        format!(
            "helm-values/litellm.yaml calls {} through inference profiles that cannot be called from {region}",
            wrong.join(", ")
        ),
        format!(
            "use the `{}.` profiles (or `global.`) of those models in proxy_config.model_list, or deploy to a region of their geography",
            geography_for(region)
        ),
    ))
}

/// The statements that let LiteLLM call exactly these models: each profile in the deploy
/// region, the foundation models behind the profiles in any region but only through those
/// profiles, and models called directly in the deploy region.
pub fn invoke_statements(
    models: &[Model],
    partition: &str,
    region: &str,
    account: &str,
) -> Vec<Value> {
    let actions = json!([
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream"
    ]);
    let profiles: Vec<String> = models
        .iter()
        .filter(|m| m.geography.is_some())
        .map(|m| {
            format!(
                "arn:{partition}:bedrock:{region}:{account}:inference-profile/{}",
                m.id
            )
        })
        .collect();
    let mut behind: Vec<String> = models
        .iter()
        .filter(|m| m.geography.is_some())
        .map(|m| format!("arn:{partition}:bedrock:*::foundation-model/{}", m.base))
        .collect();
    behind.sort();
    behind.dedup();
    let direct: Vec<String> = models
        .iter()
        .filter(|m| m.geography.is_none())
        .map(|m| {
            format!(
                "arn:{partition}:bedrock:{region}::foundation-model/{}",
                m.id
            )
        })
        .collect();
    let mut out = Vec::new();
    if !profiles.is_empty() {
        out.push(json!({
            "Sid": "InvokeThroughInferenceProfiles",
            "Effect": "Allow",
            "Action": actions,
            "Resource": profiles,
        }));
        out.push(json!({
            "Sid": "ModelsBehindTheProfiles",
            "Effect": "Allow",
            "Action": actions,
            "Resource": behind,
            "Condition": {"StringLike": {"bedrock:InferenceProfileArn": profiles}},
        }));
    }
    if !direct.is_empty() {
        out.push(json!({
            "Sid": "InvokeModelsDirectly",
            "Effect": "Allow",
            "Action": actions,
            "Resource": direct,
        }));
    }
    out
}

/// Before anything changes: every configured model is offered in the region and ACTIVE, and
/// every inference profile exists there (Bedrock's control plane, `aws::bedrock`). A model
/// missing or LEGACY stops the run with the models the region does offer. Returns warnings:
/// a model the account has not agreed to on Marketplace (its first chat would fail), or
/// Bedrock not answering the checks (the operator may lack the read permissions).
pub async fn check_offered(
    aws: &crate::platform::aws::Aws,
    models: &[Model],
) -> Result<Vec<String>> {
    use crate::platform::aws::bedrock as api;
    let region = aws.region.clone();
    let looked = futures::future::join_all(models.iter().map(|m| async move {
        let found = api::foundation_model(aws, &m.base).await?;
        let profile = match &m.geography {
            Some(_) => Some(api::inference_profile(aws, &m.id).await?),
            None => None,
        };
        let agreement = match &found {
            Some(_) => api::agreement(aws, &m.base).await.ok().flatten(),
            None => None,
        };
        anyhow::Ok((m, found, profile, agreement))
    }))
    .await;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for r in looked {
        let (m, found, profile, agreement) = match r {
            Ok(x) => x,
            Err(e) => {
                return Ok(vec![format!(
                    "could not check the Bedrock models in {region} ({e:#}); `deployctl verify` proves them with a chat"
                )]);
            }
        };
        match &found {
            None => problems.push(format!("{} is not offered in {region}", m.base)),
            Some(o) if o.lifecycle != "ACTIVE" => problems.push(format!(
                "{} is {} in {region} (new accounts cannot use it, existing ones lose it after a while)",
                m.base, o.lifecycle
            )),
            Some(_) => {}
        }
        if matches!(profile, Some(None)) {
            problems.push(format!(
                "the inference profile {} does not exist in {region}",
                m.id
            ));
        }
        if let Some(a) = agreement
            && a != "AVAILABLE"
        {
            warnings.push(format!(
                "{} is not enabled for this account yet (Marketplace agreement {a}): its first chat fails until `deployctl bedrock enable` (with your credentials) subscribes the account",
                m.base
            ));
        }
    }
    if problems.is_empty() {
        return Ok(warnings);
    }
    let offered = api::offered(aws, "Anthropic")
        .await
        .map(|list| {
            list.iter()
                .map(|o| format!("{} ({})", o.id, o.lifecycle))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|e| format!("(cannot list them: {e:#})"));
    let profiles = api::profiles(aws)
        .await
        .map(|p| {
            p.into_iter()
                .filter(|id| id.contains("anthropic."))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Err(UserError::failed(
        format!(
            "helm-values/litellm.yaml names models {region} cannot serve; nothing was changed:\n    {}\n  {region} offers (Anthropic): {offered}{}",
            problems.join("\n    "),
            if profiles.is_empty() {
                String::new()
            } else {
                format!("\n  inference profiles: {profiles}")
            }
        ),
        format!("use ACTIVE models from that list in proxy_config.model_list (their `{}.` profile where the model needs one), then run the command again", geography_for(&region)),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_told_from_model_ids() {
        let m = parse("us.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert_eq!(m.geography.as_deref(), Some("us"));
        assert_eq!(m.base, "anthropic.claude-haiku-4-5-20251001-v1:0");
        let m = parse("us-gov.anthropic.claude-x-v1:0");
        assert_eq!(m.geography.as_deref(), Some("us-gov"));
        let m = parse("anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(m.geography, None);
        assert_eq!(m.base, m.id);
    }

    #[test]
    fn a_profile_is_callable_only_from_its_geography() {
        assert!(callable_from("us", "us-east-1"));
        assert!(!callable_from("us", "eu-west-1"));
        assert!(!callable_from("us", "us-gov-west-1"));
        assert!(callable_from("eu", "eu-central-1"));
        assert!(callable_from("global", "ap-south-1"));
        assert!(!callable_from("global", "cn-north-1"));
        let models = vec![parse("us.anthropic.claude-sonnet-4-5-20250929-v1:0")];
        assert!(check_region(&models, "us-west-2").is_ok());
        let err = check_region(&models, "eu-west-1").unwrap_err();
        assert!(err.message.contains("eu-west-1"), "{}", err.message);
        assert!(err.help.unwrap().contains("`eu.`"));
    }

    #[test]
    fn the_policy_allows_exactly_the_profiles_and_the_models_behind_them() {
        let models = vec![
            parse("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            parse("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            parse("amazon.titan-embed-text-v2:0"),
        ];
        let s = invoke_statements(&models, "aws", "us-east-1", "111122223333");
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0]["Resource"],
            json!([
                "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
            ])
        );
        assert_eq!(
            s[1]["Resource"],
            json!([
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
            ])
        );
        assert_eq!(
            s[1]["Condition"]["StringLike"]["bedrock:InferenceProfileArn"],
            s[0]["Resource"]
        );
        assert_eq!(
            s[2]["Resource"],
            json!(["arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"])
        );
    }

    #[test]
    fn the_shipped_model_list_is_callable_from_the_default_region() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let models = load(dir).unwrap();
        assert!(!models.is_empty());
        check_region(&models, crate::config::DEFAULT_REGION).unwrap();
        // Every Claude model goes through a profile: on-demand calls by model ID are refused.
        for m in models.iter().filter(|m| m.base.starts_with("anthropic.")) {
            assert!(m.geography.is_some(), "{} is called on demand", m.id);
        }
    }
}
