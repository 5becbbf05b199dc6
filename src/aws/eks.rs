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
