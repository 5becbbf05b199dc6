//! EKS access entries: how the bastion's role gets (and loses) cluster access when the
//! cluster's authentication mode allows the API. (Cluster lookups are `aws::describe_cluster`.)

use super::Aws;
use anyhow::Result;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};

/// The cluster-wide admin access policy the bastion's role is given.
pub const CLUSTER_ADMIN_POLICY: &str = "cluster-access-policy/AmazonEKSClusterAdminPolicy";

/// What an access-entry call did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Already there (create) or already gone (delete).
    Unchanged,
    /// The endpoint does not implement access entries (moto, an older API).
    Unsupported,
}

/// An access entry for `principal` with the cluster admin policy at cluster scope.
pub async fn grant_cluster_admin(aws: &Aws, cluster: &str, principal: &str) -> Result<Outcome> {
    let eks = aws.eks();
    let created = match eks
        .create_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send()
        .await
    {
        Ok(_) => Outcome::Done,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Outcome::Unchanged
        }
        Err(e) if super::not_implemented(&e) => return Ok(Outcome::Unsupported),
        Err(e) => return Err(super::failed("EKS CreateAccessEntry")(e)),
    };
    eks.associate_access_policy()
        .cluster_name(cluster)
        .principal_arn(principal)
        .policy_arn(cluster_admin_policy_arn(aws))
        .access_scope(
            AccessScope::builder()
                .r#type(AccessScopeType::Cluster)
                .build(),
        )
        .send()
        .await
        .map_err(super::failed("EKS AssociateAccessPolicy"))?;
    Ok(created)
}

pub fn cluster_admin_policy_arn(aws: &Aws) -> String {
    format!("arn:{}:eks::aws:{CLUSTER_ADMIN_POLICY}", aws.partition())
}

/// Remove `principal`'s access entry.
pub async fn revoke_access(aws: &Aws, cluster: &str, principal: &str) -> Result<Outcome> {
    match aws
        .eks()
        .delete_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send()
        .await
    {
        Ok(_) => Ok(Outcome::Done),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(Outcome::Unchanged)
        }
        Err(e) if super::not_implemented(&e) => Ok(Outcome::Unsupported),
        Err(e) => Err(super::failed("EKS DeleteAccessEntry")(e)),
    }
}

/// One Kubernetes version as EKS describes it (DescribeClusterVersions): the live calendar
/// the file copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: String,
    /// STANDARD_SUPPORT, EXTENDED_SUPPORT or UNSUPPORTED.
    pub status: String,
    pub end_of_standard: Option<jiff::civil::Date>,
    pub end_of_extended: Option<jiff::civil::Date>,
}

fn date_of(t: Option<&aws_sdk_eks::primitives::DateTime>) -> Option<jiff::civil::Date> {
    let t = t?;
    jiff::Timestamp::from_second(t.secs())
        .ok()
        .map(|ts| ts.to_zoned(jiff::tz::TimeZone::UTC).date())
}

/// EKS's calendar for the version checks, bounded (15 s), or why it could not be read (no
/// network, no permission; the first line of the error): the checks then use
/// `terraform/eks-versions.json` and say so.
pub async fn live_calendar(aws: &Aws) -> std::result::Result<Vec<VersionInfo>, String> {
    match tokio::time::timeout(std::time::Duration::from_secs(15), cluster_versions(aws)).await {
        Ok(Ok(v)) if !v.is_empty() => Ok(v),
        Ok(Ok(_)) => Err("EKS listed no versions".into()),
        Ok(Err(e)) => Err(format!("{e:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()),
        Err(_) => Err("EKS did not answer within 15 s".into()),
    }
}

/// EKS's own calendar: every version it knows (unsupported ones included), oldest first.
pub async fn cluster_versions(aws: &Aws) -> Result<Vec<VersionInfo>> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .eks()
            .describe_cluster_versions()
            .include_all(true)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(super::failed("EKS DescribeClusterVersions"))?;
        for v in page.cluster_versions() {
            let Some(version) = v.cluster_version() else {
                continue;
            };
            out.push(VersionInfo {
                version: version.to_string(),
                status: v
                    .version_status()
                    .map(|s| s.as_str().to_string())
                    .or_else(|| v.status().map(|s| s.as_str().to_string()))
                    .unwrap_or_else(|| "UNKNOWN".into()),
                end_of_standard: date_of(v.end_of_standard_support_date()),
                end_of_extended: date_of(v.end_of_extended_support_date()),
            });
        }
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    // By minor version, oldest first ("1.9" before "1.10").
    out.sort_by_key(|v| {
        v.version
            .trim()
            .strip_prefix("1.")
            .and_then(|m| m.parse::<u32>().ok())
    });
    Ok(out)
}

/// An add-on of the cluster: the version installed and the one EKS makes the default for
/// the cluster's Kubernetes version (DescribeAddonVersions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonInfo {
    pub name: String,
    pub installed: String,
    pub default_version: Option<String>,
}

/// Every add-on of `cluster`, with its default version for `kubernetes_version`.
pub async fn addons(aws: &Aws, cluster: &str, kubernetes_version: &str) -> Result<Vec<AddonInfo>> {
    let names = aws
        .eks()
        .list_addons()
        .cluster_name(cluster)
        .send()
        .await
        .map_err(super::failed(format!("EKS ListAddons {cluster}")))?
        .addons()
        .to_vec();
    let looked = futures::future::join_all(names.iter().map(|name| async move {
        let installed = aws
            .eks()
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
            .map_err(super::failed(format!("EKS DescribeAddon {name}")))?
            .addon()
            .and_then(|a| a.addon_version())
            .unwrap_or_default()
            .to_string();
        let versions = aws
            .eks()
            .describe_addon_versions()
            .addon_name(name)
            .kubernetes_version(kubernetes_version)
            .send()
            .await
            .map_err(super::failed(format!("EKS DescribeAddonVersions {name}")))?;
        let default_version = versions
            .addons()
            .iter()
            .flat_map(|a| a.addon_versions())
            .find(|v| {
                v.compatibilities()
                    .iter()
                    .any(|c| c.default_version() && c.cluster_version() == Some(kubernetes_version))
            })
            .and_then(|v| v.addon_version())
            .map(str::to_string);
        anyhow::Ok(AddonInfo {
            name: name.clone(),
            installed,
            default_version,
        })
    }))
    .await;
    looked.into_iter().collect()
}
