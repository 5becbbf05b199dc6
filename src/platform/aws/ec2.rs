//! EC2 for the bastion commands and the API tunnel: which instances are this cluster's
//! bastions (by tags, never by name alone), subnets, security groups and their rules; and the
//! calls that make, change and remove the bastion's instance and security group.

use super::Aws;
use anyhow::{Result, anyhow, bail};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataOptionsRequest, InstanceStateName, InstanceType, IpPermission, ResourceType,
    SecurityGroup, SecurityGroupRule, Subnet, Tag, TagSpecification, UserIdGroupPair, VolumeType,
};
use std::time::{Duration, Instant};

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

/// The groups with an ingress rule that names `group` (so `group` cannot be deleted before
/// those rules go).
pub async fn groups_referring_to(aws: &Aws, group: &str) -> Result<Vec<String>> {
    let found = security_groups(aws, vec![filter("ip-permission.group-id", &[group])]).await?;
    Ok(found
        .into_iter()
        .filter_map(|g| g.group_id)
        .filter(|g| g != group)
        .collect())
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

fn tags(resource: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    tags.iter()
        .fold(
            TagSpecification::builder().resource_type(resource),
            |b, (k, v)| b.tags(Tag::builder().key(*k).value(*v).build()),
        )
        .build()
}

/// Create a security group (which starts with no ingress rule); its id.
pub async fn create_security_group(
    aws: &Aws,
    name: &str,
    description: &str,
    vpc: &str,
    tag_pairs: &[(&str, &str)],
) -> Result<String> {
    let out = aws
        .ec2()
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc)
        .tag_specifications(tags(ResourceType::SecurityGroup, tag_pairs))
        .send()
        .await
        .map_err(super::failed(format!("EC2 CreateSecurityGroup `{name}`")))?;
    out.group_id
        .ok_or_else(|| anyhow!("EC2 CreateSecurityGroup `{name}` returned no id"))
}

/// Allow TCP `port` into `group` from members of `from_group`. `false` when the rule was
/// there already.
pub async fn allow_from_group(
    aws: &Aws,
    group: &str,
    from_group: &str,
    port: i32,
    description: &str,
) -> Result<bool> {
    let rule = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(from_group)
                .description(description)
                .build(),
        )
        .build();
    match aws
        .ec2()
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(rule)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if super::error_code(&e) == Some("InvalidPermission.Duplicate") => Ok(false),
        Err(e) => Err(super::failed(format!(
            "EC2 AuthorizeSecurityGroupIngress on {group}"
        ))(e)),
    }
}

/// Remove rules of `group` by rule id.
pub async fn revoke_ingress(aws: &Aws, group: &str, rule_ids: Vec<String>) -> Result<()> {
    aws.ec2()
        .revoke_security_group_ingress()
        .group_id(group)
        .set_security_group_rule_ids(Some(rule_ids))
        .send()
        .await
        .map_err(super::failed(format!(
            "EC2 RevokeSecurityGroupIngress on {group}"
        )))?;
    Ok(())
}

/// Delete a security group, retrying while EC2 still counts a (terminating) instance's
/// interface as using it, for up to `within`.
pub async fn delete_security_group(aws: &Aws, id: &str, within: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        match aws.ec2().delete_security_group().group_id(id).send().await {
            Ok(_) => return Ok(()),
            Err(e)
                if super::error_code(&e) == Some("DependencyViolation")
                    && started.elapsed() < within =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(super::failed(format!("EC2 DeleteSecurityGroup {id}"))(e)),
        }
    }
}

/// One instance to launch: IMDSv2 only with a hop limit of 1, an encrypted 20 GiB gp3 root
/// volume that goes with the instance.
pub struct Launch<'a> {
    pub ami: &'a str,
    pub instance_type: &'a str,
    pub subnet: &'a str,
    pub security_group: &'a str,
    pub instance_profile: &'a str,
    pub user_data: &'a str,
    pub tags: &'a [(&'a str, &'a str)],
}

/// Launch the instance; its id. A new instance profile takes a few seconds to be usable by
/// EC2 (InvalidParameterValue), so that answer is retried for up to a minute.
pub async fn run_instance(aws: &Aws, l: &Launch<'_>) -> Result<String> {
    let started = Instant::now();
    loop {
        let result = aws
            .ec2()
            .run_instances()
            .image_id(l.ami)
            .instance_type(InstanceType::from(l.instance_type))
            .min_count(1)
            .max_count(1)
            .subnet_id(l.subnet)
            .security_group_ids(l.security_group)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(l.instance_profile)
                    .build(),
            )
            .user_data(crate::platform::encoding::base64(l.user_data.as_bytes()))
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .build(),
            )
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(
                        EbsBlockDevice::builder()
                            .volume_size(20)
                            .volume_type(VolumeType::Gp3)
                            .encrypted(true)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .tag_specifications(tags(ResourceType::Instance, l.tags))
            .send()
            .await;
        match result {
            Ok(out) => {
                return out
                    .instances()
                    .first()
                    .and_then(|i| i.instance_id.clone())
                    .ok_or_else(|| anyhow!("EC2 RunInstances returned no instance"));
            }
            Err(e)
                if super::error_code(&e) == Some("InvalidParameterValue")
                    && started.elapsed() < Duration::from_secs(60) =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(super::failed("EC2 RunInstances")(e)),
        }
    }
}

pub async fn start_instance(aws: &Aws, id: &str) -> Result<()> {
    aws.ec2()
        .start_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(super::failed(format!("EC2 StartInstances {id}")))?;
    Ok(())
}

pub async fn terminate_instances(aws: &Aws, ids: Vec<String>) -> Result<()> {
    aws.ec2()
        .terminate_instances()
        .set_instance_ids(Some(ids))
        .send()
        .await
        .map_err(super::failed("EC2 TerminateInstances"))?;
    Ok(())
}

/// Poll (every 2 s) until instance `id` is in state `want`; an error naming the state it is
/// in after `timeout`.
pub async fn wait_for_state(
    aws: &Aws,
    id: &str,
    want: InstanceStateName,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let out = aws
            .ec2()
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(super::failed("EC2 DescribeInstances"))?;
        let state = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.state.as_ref()?.name.clone());
        if state.as_ref() == Some(&want) {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "instance {id} is {} after {}s, not {}",
                state
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "gone".into()),
                timeout.as_secs(),
                want.as_str()
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
