//! EC2 lookups shared by the bastion commands and the API tunnel: which instances are this
//! cluster's bastions (by tags, never by name alone), subnets, security groups and their
//! rules.

use super::Aws;
use anyhow::Result;
use aws_sdk_ec2::types::{Filter, InstanceStateName, SecurityGroup, SecurityGroupRule, Subnet};

/// The tag that ties a bastion (and its security group) to its cluster. Terraform's default
/// tags carry the same key, so the Terraform bastion is found the same way.
pub const CLUSTER_TAG: &str = "Cluster";
/// What marks an instance as a bastion (deployctl's and Terraform's).
pub const PURPOSE: (&str, &str) = ("Purpose", "llm-bastion");

/// An EC2 filter `name` = any of `values`.
pub fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

/// The subnets named by id, or every subnet of a VPC.
pub enum Subnets<'a> {
    Ids(&'a [String]),
    InVpc(&'a str),
}

pub async fn subnets(aws: &Aws, which: Subnets<'_>) -> Result<Vec<Subnet>> {
    let req = aws.ec2().describe_subnets();
    let req = match which {
        Subnets::Ids(ids) => req.set_subnet_ids(Some(ids.to_vec())),
        Subnets::InVpc(vpc) => req.filters(filter("vpc-id", &[vpc])),
    };
    let out = req
        .send()
        .await
        .map_err(super::failed("EC2 DescribeSubnets"))?;
    Ok(out.subnets.unwrap_or_default())
}

/// The security groups matching every filter.
pub async fn security_groups(aws: &Aws, filters: Vec<Filter>) -> Result<Vec<SecurityGroup>> {
    let out = aws
        .ec2()
        .describe_security_groups()
        .set_filters(Some(filters))
        .send()
        .await
        .map_err(super::failed("EC2 DescribeSecurityGroups"))?;
    Ok(out.security_groups.unwrap_or_default())
}

/// The rules of a security group (ingress and egress).
pub async fn security_group_rules(aws: &Aws, group: &str) -> Result<Vec<SecurityGroupRule>> {
    let out = aws
        .ec2()
        .describe_security_group_rules()
        .filters(filter("group-id", &[group]))
        .send()
        .await
        .map_err(super::failed("EC2 DescribeSecurityGroupRules"))?;
    Ok(out.security_group_rules.unwrap_or_default())
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub state: InstanceStateName,
    /// Tagged `ManagedBy=terraform` (Terraform's default tags): Terraform's to remove.
    pub terraform: bool,
}

/// This cluster's bastions that are not terminated: by their tags, never by name alone
/// (another cluster's bastion, or anything else called `llm-bastion`, is not this one).
pub async fn find_bastions(aws: &Aws, cluster: &str) -> Result<Vec<Instance>> {
    let out = aws
        .ec2()
        .describe_instances()
        .filters(filter(&format!("tag:{}", PURPOSE.0), &[PURPOSE.1]))
        .filters(filter(&format!("tag:{CLUSTER_TAG}"), &[cluster]))
        .filters(filter(
            "instance-state-name",
            &["pending", "running", "stopping", "stopped"],
        ))
        .send()
        .await
        .map_err(super::failed("EC2 DescribeInstances"))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            Some(Instance {
                id: i.instance_id.clone()?,
                state: i.state.as_ref()?.name.clone()?,
                terraform: i
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some("ManagedBy") && t.value() == Some("terraform")),
            })
        })
        .collect())
}
