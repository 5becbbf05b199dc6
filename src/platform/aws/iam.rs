//! IAM: roles with a trust policy and one inline policy, OIDC providers.

use super::{Aws, policy};
use anyhow::{Result, anyhow};
use aws_sdk_iam::operation::get_role::GetRoleError;
use serde_json::Value;

/// A role as it exists.
#[derive(Debug, Clone)]
pub struct RoleState {
    pub arn: String,
    pub trust: Value,
    /// The inline policy of the given name, if present.
    pub inline: Option<Value>,
    pub tags: Vec<(String, String)>,
}

/// GetRole + GetRolePolicy; `Ok(None)` when the role does not exist.
pub async fn get_role(aws: &Aws, name: &str, inline_name: &str) -> Result<Option<RoleState>> {
    let iam = aws.iam();
    let answer = iam.get_role().role_name(name).send().await;
    let absent = |e: &GetRoleError| e.is_no_such_entity_exception();
    let found = super::or_not_found(answer, absent, format!("IAM GetRole `{name}`"))?;
    let Some(role) = found.and_then(|out| out.role) else {
        return Ok(None);
    };
    let trust = role
        .assume_role_policy_document()
        .map(policy::parse_document)
        .transpose()?
        .unwrap_or(Value::Null);
    let inline = match iam
        .get_role_policy()
        .role_name(name)
        .policy_name(inline_name)
        .send()
        .await
    {
        Ok(out) => Some(policy::parse_document(out.policy_document())?),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => {
            return Err(super::failed(format!(
                "IAM GetRolePolicy `{name}`/`{inline_name}`"
            ))(e));
        }
    };
    let tags = role
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    Ok(Some(RoleState {
        arn: role.arn().to_string(),
        trust,
        inline,
        tags,
    }))
}

/// Create the role, or bring its trust policy up to date; then put the inline policy.
pub async fn ensure_role(
    aws: &Aws,
    name: &str,
    description: &str,
    trust: &Value,
    inline_name: &str,
    inline: &Value,
    tags: &[(&str, &str)],
) -> Result<String> {
    let iam = aws.iam();
    let arn = match get_role(aws, name, inline_name).await? {
        None => {
            let tags = tags
                .iter()
                .map(|(k, v)| tag(k, v))
                .collect::<Result<Vec<_>>>()?;
            let out = iam
                .create_role()
                .role_name(name)
                .description(description)
                .assume_role_policy_document(trust.to_string())
                .set_tags((!tags.is_empty()).then_some(tags))
                .send()
                .await
                .map_err(super::failed(format!("IAM CreateRole `{name}`")))?;
            out.role().map(|r| r.arn().to_string()).unwrap_or_default()
        }
        Some(existing) => {
            if !policy::same(&existing.trust, trust) {
                iam.update_assume_role_policy()
                    .role_name(name)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .map_err(super::failed(format!(
                        "IAM UpdateAssumeRolePolicy `{name}`"
                    )))?;
            }
            existing.arn
        }
    };
    iam.put_role_policy()
        .role_name(name)
        .policy_name(inline_name)
        .policy_document(inline.to_string())
        .send()
        .await
        .map_err(super::failed(format!(
            "IAM PutRolePolicy `{name}`/`{inline_name}`"
        )))?;
    Ok(arn)
}

/// Attach an AWS managed policy (`arn:<partition>:iam::aws:<policy>`) to a role; attaching
/// one that is attached already changes nothing.
pub async fn attach_managed_policy(aws: &Aws, role: &str, policy: &str) -> Result<()> {
    let arn = format!("arn:{}:iam::aws:{policy}", aws.partition());
    aws.iam()
        .attach_role_policy()
        .role_name(role)
        .policy_arn(&arn)
        .send()
        .await
        .map_err(super::failed(format!("IAM AttachRolePolicy `{role}`")))?;
    Ok(())
}

/// The instance profile `profile` holding `role`: created and filled when it is not.
pub async fn ensure_instance_profile(aws: &Aws, profile: &str, role: &str) -> Result<()> {
    let iam = aws.iam();
    let existing = match instance_profile(aws, profile).await? {
        Some(p) => Some(p),
        None => {
            iam.create_instance_profile()
                .instance_profile_name(profile)
                .send()
                .await
                .map_err(super::failed(format!(
                    "IAM CreateInstanceProfile `{profile}`"
                )))?
                .instance_profile
        }
    };
    let has_role = existing
        .as_ref()
        .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == role));
    if !has_role {
        iam.add_role_to_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await
            .map_err(super::failed(format!(
                "IAM AddRoleToInstanceProfile `{profile}`"
            )))?;
    }
    Ok(())
}

/// Take every role out of the instance profile `profile`, then delete it.
pub async fn delete_instance_profile(aws: &Aws, profile: &str, roles: &[String]) -> Result<()> {
    let iam = aws.iam();
    for role in roles {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await
            .map_err(super::failed(format!(
                "IAM RemoveRoleFromInstanceProfile `{profile}`"
            )))?;
    }
    iam.delete_instance_profile()
        .instance_profile_name(profile)
        .send()
        .await
        .map_err(super::failed(format!(
            "IAM DeleteInstanceProfile `{profile}`"
        )))?;
    Ok(())
}

/// Delete a role: its managed policies detached and inline policies deleted first.
pub async fn delete_role(aws: &Aws, role: &str) -> Result<()> {
    let iam = aws.iam();
    let (attached, inline) = role_policies(aws, role).await?;
    for arn in attached {
        iam.detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map_err(super::failed(format!("IAM DetachRolePolicy `{role}`")))?;
    }
    for name in inline {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(super::failed(format!("IAM DeleteRolePolicy `{role}`")))?;
    }
    iam.delete_role()
        .role_name(role)
        .send()
        .await
        .map_err(super::failed(format!("IAM DeleteRole `{role}`")))?;
    Ok(())
}

fn tag(key: &str, value: &str) -> Result<aws_sdk_iam::types::Tag> {
    aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| anyhow!("invalid tag: {e}"))
}

/// Attached managed policy ARNs and inline policy names of a role (for View).
pub async fn role_policies(aws: &Aws, name: &str) -> Result<(Vec<String>, Vec<String>)> {
    let iam = aws.iam();
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(super::failed(format!(
            "IAM ListAttachedRolePolicies `{name}`"
        )))?
        .attached_policies
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect();
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(super::failed(format!("IAM ListRolePolicies `{name}`")))?
        .policy_names;
    Ok((attached, inline))
}

/// Whether the IAM OIDC provider for `issuer` exists in the account.
pub async fn oidc_provider_exists(aws: &Aws, issuer: &str) -> Result<bool> {
    let host = issuer.trim_start_matches("https://");
    let out = aws
        .iam()
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(super::failed("IAM ListOpenIDConnectProviders"))?;
    Ok(out
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .any(|arn| arn.ends_with(&format!(":oidc-provider/{host}"))))
}

/// A role's ARN; `Ok(None)` when the role does not exist.
pub async fn role_arn(aws: &Aws, name: &str) -> Result<Option<String>> {
    let answer = aws.iam().get_role().role_name(name).send().await;
    let absent = |e: &GetRoleError| e.is_no_such_entity_exception();
    Ok(
        super::or_not_found(answer, absent, format!("IAM GetRole `{name}`"))?
            .and_then(|out| out.role.map(|r| r.arn)),
    )
}

/// An instance profile; `Ok(None)` when it does not exist.
pub async fn instance_profile(
    aws: &Aws,
    name: &str,
) -> Result<Option<aws_sdk_iam::types::InstanceProfile>> {
    let answer = aws
        .iam()
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await;
    let absent = |e: &aws_sdk_iam::operation::get_instance_profile::GetInstanceProfileError| {
        e.is_no_such_entity_exception()
    };
    Ok(
        super::or_not_found(answer, absent, format!("IAM GetInstanceProfile `{name}`"))?
            .and_then(|out| out.instance_profile),
    )
}

/// IAM names are account-wide and at most 64 characters: `<cluster>-<suffix>`, or — when a
/// long cluster name would not fit — the name cut, a short hash of the whole cluster name and
/// the suffix, so two clusters never share the name.
pub fn cluster_scoped_name(cluster: &str, suffix: &str) -> String {
    const MAX: usize = 64;
    let full = format!("{cluster}-{suffix}");
    if full.len() <= MAX {
        return full;
    }
    // FNV-1a, 32 bits: stable across versions and platforms.
    let hash = cluster.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let keep = MAX.saturating_sub(suffix.len() + 10);
    let cut: String = cluster.chars().take(keep).collect();
    format!("{cut}-{hash:08x}-{suffix}")
}
