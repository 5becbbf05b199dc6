//! Secrets Manager. Values travel only inside `SecretString` and the API request body.

use super::{Aws, describe};
use anyhow::{Result, anyhow};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub name: String,
    pub arn: String,
    pub created: Option<String>,
    pub last_changed: Option<String>,
    pub tags: Vec<(String, String)>,
}

pub const TAGS: &[(&str, &str)] = &[("app", "litellm-stack"), ("managed-by", "deployctl")];

fn date(d: Option<&aws_sdk_secretsmanager::primitives::DateTime>) -> Option<String> {
    d.and_then(|d| {
        d.fmt(aws_sdk_secretsmanager::primitives::DateTimeFormat::DateTime)
            .ok()
    })
}

/// DescribeSecret; `Ok(None)` when it does not exist (or is scheduled for deletion).
pub async fn describe_secret(aws: &Aws, name: &str) -> Result<Option<SecretMeta>> {
    match aws.secrets().describe_secret().secret_id(name).send().await {
        Ok(out) => {
            if out.deleted_date().is_some() {
                return Ok(None);
            }
            Ok(Some(SecretMeta {
                name: name.to_string(),
                arn: out.arn().unwrap_or_default().to_string(),
                created: date(out.created_date()),
                last_changed: date(out.last_changed_date()).or_else(|| date(out.created_date())),
                tags: out
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            }))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow!(
            "Secrets Manager DescribeSecret `{name}` failed: {}",
            describe(&e)
        )),
    }
}

fn sdk_tags<'a>(
    pairs: impl Iterator<Item = &'a (&'static str, &'static str)>,
) -> Vec<aws_sdk_secretsmanager::types::Tag> {
    pairs
        .map(|(k, v)| {
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
        })
        .collect()
}

pub async fn create_secret(
    aws: &Aws,
    name: &str,
    description: &str,
    value: &SecretString,
) -> Result<()> {
    let req = aws
        .secrets()
        .create_secret()
        .name(name)
        .description(description)
        .secret_string(value.expose_secret())
        .set_tags(Some(sdk_tags(TAGS.iter())));
    // The error text of the SDK never contains the request body.
    req.send().await.map_err(|e| {
        anyhow!(
            "Secrets Manager CreateSecret `{name}` failed: {}",
            describe(&e)
        )
    })?;
    Ok(())
}

pub async fn put_value(aws: &Aws, name: &str, value: &SecretString) -> Result<()> {
    aws.secrets()
        .put_secret_value()
        .secret_id(name)
        .secret_string(value.expose_secret())
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "Secrets Manager PutSecretValue `{name}` failed: {}",
                describe(&e)
            )
        })?;
    Ok(())
}

/// Add the managed-by tags to a secret that lacks them.
pub async fn ensure_tags(aws: &Aws, meta: &SecretMeta) -> Result<bool> {
    let missing: Vec<_> = TAGS
        .iter()
        .filter(|(k, v)| !meta.tags.iter().any(|(tk, tv)| tk == k && tv == v))
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    let req = aws
        .secrets()
        .tag_resource()
        .secret_id(&meta.name)
        .set_tags(Some(sdk_tags(missing.into_iter())));
    req.send().await.map_err(|e| {
        anyhow!(
            "Secrets Manager TagResource `{}` failed: {}",
            meta.name,
            describe(&e)
        )
    })?;
    Ok(true)
}

/// GetSecretValue; `Ok(None)` when it does not exist.
pub async fn get_value(aws: &Aws, name: &str) -> Result<Option<SecretString>> {
    match aws
        .secrets()
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .secret_string()
            .map(|s| SecretString::from(s.to_string()))),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow!(
            "Secrets Manager GetSecretValue `{name}` failed: {}",
            describe(&e)
        )),
    }
}
