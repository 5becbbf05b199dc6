//! Secrets Manager. Values travel only inside `SecretString` and the API request body.

use super::Aws;
use anyhow::Result;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub name: String,
    pub arn: String,
    pub created: Option<String>,
    pub last_changed: Option<String>,
    pub tags: Vec<(String, String)>,
    /// The KMS key that encrypts it (None: the account's default `aws/secretsmanager`).
    pub kms_key_id: Option<String>,
}

impl SecretMeta {
    /// The tool that owns the secret's tags, when one says so (`managed-by`, or Terraform's
    /// default tag `ManagedBy`).
    pub fn managed_by(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == "managed-by" || k == "ManagedBy")
            .map(|(_, v)| v.as_str())
    }

    /// deployctl's tags are missing and no other tool owns the tags: `ensure_tags` adds them.
    /// A secret another tool manages (Terraform's database-url) is left as it is, so the next
    /// `terraform plan` has no tags to take away.
    pub fn needs_tags(&self) -> bool {
        let owned_elsewhere = self.managed_by().is_some_and(|m| m != "deployctl");
        !owned_elsewhere
            && !TAGS
                .iter()
                .all(|(k, v)| self.tags.iter().any(|(tk, tv)| tk == k && tv == v))
    }
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
    let answer = aws.secrets().describe_secret().secret_id(name).send().await;
    let what = format!("Secrets Manager DescribeSecret `{name}`");
    match super::or_not_found(
        answer,
        DescribeSecretError::is_resource_not_found_exception,
        what,
    )? {
        None => Ok(None),
        Some(out) if out.deleted_date().is_some() => Ok(None),
        Some(out) => Ok(Some(SecretMeta {
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
            kms_key_id: out.kms_key_id().map(str::to_string),
        })),
    }
}

/// When `name` is scheduled for deletion: the day it goes for good (DescribeSecret's
/// `DeletedDate`; CreateSecret of that name is refused until then). `Ok(None)` when it exists
/// normally or not at all.
pub async fn scheduled_deletion(aws: &Aws, name: &str) -> Result<Option<String>> {
    let answer = aws.secrets().describe_secret().secret_id(name).send().await;
    let what = format!("Secrets Manager DescribeSecret `{name}`");
    let found = super::or_not_found(
        answer,
        DescribeSecretError::is_resource_not_found_exception,
        what,
    )?;
    Ok(found.and_then(|out| {
        out.deleted_date().map(|d| {
            date(Some(d))
                .map(|t| t.chars().take(10).collect())
                .unwrap_or_else(|| "an unknown date".into())
        })
    }))
}

/// RestoreSecret: cancel a scheduled deletion (the old value comes back).
pub async fn restore(aws: &Aws, name: &str) -> Result<()> {
    aws.secrets()
        .restore_secret()
        .secret_id(name)
        .send()
        .await
        .map_err(super::failed(format!(
            "Secrets Manager RestoreSecret `{name}`"
        )))?;
    Ok(())
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
    kms_key_id: Option<&str>,
) -> Result<()> {
    let req = aws
        .secrets()
        .create_secret()
        .name(name)
        .description(description)
        .secret_string(value.expose_secret())
        .set_kms_key_id(kms_key_id.map(str::to_string))
        .set_tags(Some(sdk_tags(TAGS.iter())));
    // The error text of the SDK never contains the request body.
    req.send().await.map_err(super::failed(format!(
        "Secrets Manager CreateSecret `{name}`"
    )))?;
    Ok(())
}

pub async fn put_value(aws: &Aws, name: &str, value: &SecretString) -> Result<()> {
    aws.secrets()
        .put_secret_value()
        .secret_id(name)
        .secret_string(value.expose_secret())
        .send()
        .await
        .map_err(super::failed(format!(
            "Secrets Manager PutSecretValue `{name}`"
        )))?;
    Ok(())
}

/// Add the managed-by tags to a secret that lacks them (never to one another tool manages).
pub async fn ensure_tags(aws: &Aws, meta: &SecretMeta) -> Result<bool> {
    if !meta.needs_tags() {
        return Ok(false);
    }
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
    req.send().await.map_err(super::failed(format!(
        "Secrets Manager TagResource `{}`",
        meta.name
    )))?;
    Ok(true)
}

/// GetSecretValue; `Ok(None)` when it does not exist.
pub async fn get_value(aws: &Aws, name: &str) -> Result<Option<SecretString>> {
    let answer = aws
        .secrets()
        .get_secret_value()
        .secret_id(name)
        .send()
        .await;
    let what = format!("Secrets Manager GetSecretValue `{name}`");
    let found = super::or_not_found(
        answer,
        GetSecretValueError::is_resource_not_found_exception,
        what,
    )?;
    Ok(found.and_then(|out| {
        out.secret_string()
            .map(|s| SecretString::from(s.to_string()))
    }))
}
