//! `bastion create`: a small instance in a private subnet of the cluster's VPC with SSM
//! access, its security group (one 443 rule into the cluster's group), role and profile, and
//! an EKS access entry for the role.

use super::*;
use crate::aws::ec2::Subnets;

/// The cluster's VPC: its own record, else the VPC of its subnets.
pub(super) async fn cluster_vpc(aws: &Aws, c: &ClusterInfo) -> Result<String> {
    if let Some(v) = &c.vpc_id {
        return Ok(v.clone());
    }
    aws::ec2::subnets(aws, Subnets::Ids(&c.subnet_ids))
        .await?
        .iter()
        .find_map(|s| s.vpc_id.clone())
        .ok_or_else(|| anyhow!("cannot find the VPC of EKS cluster `{}`", c.name))
}

/// A private subnet of the VPC: no public IPs on launch; internal-elb tagged ones first.
pub(super) async fn private_subnet(aws: &Aws, vpc: &str, c: &ClusterInfo) -> Result<String> {
    let subnets = aws::ec2::subnets(aws, Subnets::InVpc(vpc)).await?;
    let private: Vec<_> = subnets
        .iter()
        .filter(|s| s.map_public_ip_on_launch != Some(true))
        .collect();
    let internal = private.iter().find(|s| {
        s.tags()
            .iter()
            .any(|t| t.key() == Some("kubernetes.io/role/internal-elb"))
    });
    let in_cluster = private.iter().find(|s| {
        s.subnet_id
            .as_ref()
            .is_some_and(|id| c.subnet_ids.contains(id))
    });
    internal
        .or(in_cluster)
        .or(private.first())
        .and_then(|s| s.subnet_id.clone())
        .ok_or_else(|| {
            UserError::failed(
                format!("VPC {vpc} has no private subnet for the bastion"),
                "check the VPC's subnets (`deployctl infrastructure-verify`)",
            )
            .into()
        })
}

pub(super) async fn ensure_security_group(
    aws: &Aws,
    n: &Names,
    vpc: &str,
    cluster: &str,
) -> Result<String> {
    let ec2 = aws.ec2();
    let found = aws::ec2::security_groups(
        aws,
        vec![filter("group-name", &[&n.sg]), filter("vpc-id", &[vpc])],
    )
    .await?;
    if let Some(id) = found.first().and_then(|g| g.group_id.clone()) {
        return Ok(id);
    }
    // A group of its own (never an EKS node group's), with egress only: new groups have no
    // ingress rule, and SSM needs none.
    let out = ec2
        .create_security_group()
        .group_name(&n.sg)
        .description("deployctl bastion: egress only (SSM)")
        .vpc_id(vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(tag("Name", &n.sg))
                .tags(tag(CLUSTER_TAG, cluster))
                .tags(tag("managed-by", "deployctl"))
                .build(),
        )
        .send()
        .await
        .map_err(aws::failed(format!("EC2 CreateSecurityGroup `{}`", n.sg)))?;
    out.group_id
        .ok_or_else(|| anyhow!("EC2 CreateSecurityGroup returned no id"))
}

pub(super) async fn ensure_role_and_profile(aws: &Aws, n: &Names) -> Result<String> {
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    });
    let inline = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["eks:DescribeCluster", "eks:ListClusters"], "Resource": "*"}]
    });
    let role_arn = crate::aws::iam::ensure_role(
        aws,
        &n.role,
        "deployctl bastion: SSM access and EKS describe",
        &trust,
        &n.inline,
        &inline,
        &[],
    )
    .await?;
    crate::aws::iam::attach_managed_policy(aws, &n.role, SSM_CORE_POLICY).await?;
    crate::aws::iam::ensure_instance_profile(aws, &n.profile, &n.role).await?;
    Ok(role_arn)
}

/// Render the user-data template: only the known placeholders, with validated plain values.
/// `kubernetes_version` is the cluster's ("1.35"): the bastion's kubectl follows it.
pub fn render_user_data(
    template: &str,
    region: &str,
    cluster: &str,
    kubernetes_version: &str,
) -> Result<String> {
    let plain = |v: &str| {
        v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !plain(region) || !plain(cluster) {
        bail!("region and cluster names must be plain names to go into the bastion's user data");
    }
    let minor = kubernetes_version
        .strip_prefix("1.")
        .is_some_and(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()));
    if !minor {
        bail!(
            "the cluster's Kubernetes version `{kubernetes_version}` is not a minor version like 1.35"
        );
    }
    Ok(template
        .replace("{{REGION}}", region)
        .replace("{{CLUSTER}}", cluster)
        .replace("{{KUBERNETES_VERSION}}", kubernetes_version))
}

pub(super) async fn run_instance(
    cx: &Context,
    aws: &Aws,
    n: &Names,
    subnet: &str,
    sg: &str,
    kubernetes_version: &str,
) -> Result<String> {
    let ami = aws::ssm::parameter(aws, AMI_PARAMETER)
        .await?
        .ok_or_else(|| anyhow!("SSM parameter `{AMI_PARAMETER}` has no value"))?;
    let template_path = cx.settings.project_dir.join(USER_DATA_TEMPLATE);
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("failed to read `{}`", template_path.display()))?;
    let user_data = render_user_data(
        &template,
        &cx.settings.region,
        &cx.settings.cluster,
        kubernetes_version,
    )?;
    let started = Instant::now();
    crate::interrupt::changes_begin();
    loop {
        let result = aws
            .ec2()
            .run_instances()
            .image_id(&ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                cx.settings.instance_type.as_str(),
            ))
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .security_group_ids(sg)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(&n.profile)
                    .build(),
            )
            .user_data(crate::encoding::base64(user_data.as_bytes()))
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    // As the Terraform bastion: nothing on it runs in a container.
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
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(tag("Name", &n.instance))
                    .tags(tag(PURPOSE.0, PURPOSE.1))
                    .tags(tag(CLUSTER_TAG, &cx.settings.cluster))
                    .tags(tag("managed-by", "deployctl"))
                    .build(),
            )
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
            // A new instance profile takes a few seconds to be usable by EC2.
            Err(e)
                if e.as_service_error().and_then(|s| s.meta().code())
                    == Some("InvalidParameterValue")
                    && started.elapsed() < Duration::from_secs(60) =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(aws::failed("EC2 RunInstances")(e)),
        }
    }
}

pub(super) async fn wait_ssm_online(cx: &Context, aws: &Aws, id: &str) -> Result<()> {
    let started = Instant::now();
    let timeout = Duration::from_secs(300);
    let progress = cx.ui.step_started(
        "bastion",
        &format!("waiting for {id} to come online in SSM (up to 5m)"),
    );
    let manual = format!(
        "aws ssm describe-instance-information --filters Key=InstanceIds,Values={id} --region {}",
        aws.region
    );
    loop {
        let filter = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .values(id)
            .build()
            .map_err(|e| anyhow!("invalid SSM filter: {e}"))?;
        match aws
            .ssm()
            .describe_instance_information()
            .filters(filter)
            .send()
            .await
        {
            Ok(out) => {
                let online = out
                    .instance_information_list()
                    .iter()
                    .any(|i| i.ping_status.as_ref().map(|p| p.as_str()) == Some("Online"));
                if online {
                    progress.finish();
                    return Ok(());
                }
            }
            Err(e) if not_implemented_ssm(&e) => {
                progress.finish();
                cx.ui.warn(&format!(
                    "this endpoint does not implement SSM DescribeInstanceInformation; check the agent yourself: `{manual}`"
                ));
                return Ok(());
            }
            Err(e) => {
                progress.finish();
                return Err(aws::failed("SSM DescribeInstanceInformation")(e));
            }
        }
        if started.elapsed() > timeout {
            progress.finish();
            cx.ui.warn(&format!(
                "{id} is not online in SSM after 5 minutes; the agent may still be starting. Check with `{manual}`"
            ));
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

pub(super) fn not_implemented_ssm<E>(
    e: &aws_sdk_ssm::error::SdkError<E, aws_sdk_ssm::config::http::HttpResponse>,
) -> bool {
    use aws_sdk_ssm::error::SdkError;
    match e {
        SdkError::ServiceError(se) => unimplemented_status(se.raw().status().as_u16()),
        SdkError::ResponseError(_) => true,
        _ => false,
    }
}

/// Give the bastion's role cluster access: an access entry when the cluster allows the API,
/// else the aws-auth mapping to add by hand.
pub(super) async fn grant_eks_access(
    cx: &Context,
    aws: &Aws,
    c: &ClusterInfo,
    role_arn: &str,
) -> Result<()> {
    let mode = c.authentication_mode.clone().unwrap_or_default();
    let partition = aws.partition();
    let manual = format!(
        "aws eks create-access-entry --cluster-name {cl} --principal-arn {role_arn} --region {r} && \
         aws eks associate-access-policy --cluster-name {cl} --principal-arn {role_arn} \
         --policy-arn arn:{partition}:eks::aws:{EKS_ADMIN_POLICY} --access-scope type=cluster --region {r}",
        cl = c.name,
        r = aws.region
    );
    if mode == "CONFIG_MAP" {
        cx.ui.println(&format!(
            "The cluster uses the aws-auth ConfigMap only. Add this to mapRoles in kube-system/aws-auth:\n  - rolearn: {role_arn}\n    username: bastion\n    groups: [\"system:masters\"]"
        ));
        return Ok(());
    }
    let eks = aws.eks();
    match eks
        .create_access_entry()
        .cluster_name(&c.name)
        .principal_arn(role_arn)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) if not_implemented(&e) => {
            cx.ui.warn(&format!(
                "this endpoint does not implement EKS access entries; grant the bastion access yourself: `{manual}`"
            ));
            return Ok(());
        }
        Err(e) => return Err(aws::failed("EKS CreateAccessEntry")(e)),
    }
    eks.associate_access_policy()
        .cluster_name(&c.name)
        .principal_arn(role_arn)
        .policy_arn(format!("arn:{partition}:eks::aws:{EKS_ADMIN_POLICY}"))
        .access_scope(
            aws_sdk_eks::types::AccessScope::builder()
                .r#type(aws_sdk_eks::types::AccessScopeType::Cluster)
                .build(),
        )
        .send()
        .await
        .map_err(aws::failed("EKS AssociateAccessPolicy"))?;
    Ok(())
}

/// The bastion reaches the private API endpoint: 443 from the bastion's group to the
/// cluster security group, and nothing else (no node ports, no database).
pub(super) async fn open_api_port(
    cx: &Context,
    aws: &Aws,
    c: &ClusterInfo,
    bastion_sg: &str,
) -> Result<()> {
    let Some(cluster_sg) = &c.cluster_security_group_id else {
        cx.ui.warn(&format!(
            "EKS reports no cluster security group for `{}`: allow 443 from {bastion_sg} to it yourself, or the bastion cannot reach the private API",
            c.name
        ));
        return Ok(());
    };
    let rule = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .user_id_group_pairs(
            aws_sdk_ec2::types::UserIdGroupPair::builder()
                .group_id(bastion_sg)
                .description("deployctl bastion to the EKS API")
                .build(),
        )
        .build();
    match aws
        .ec2()
        .authorize_security_group_ingress()
        .group_id(cluster_sg)
        .ip_permissions(rule)
        .send()
        .await
    {
        Ok(_) => {
            cx.ui.info(&format!(
                "allowed 443 from {bastion_sg} to the cluster security group {cluster_sg}"
            ));
            Ok(())
        }
        Err(e)
            if e.as_service_error().and_then(|s| s.meta().code())
                == Some("InvalidPermission.Duplicate") =>
        {
            Ok(())
        }
        Err(e) => Err(aws::failed(format!(
            "EC2 AuthorizeSecurityGroupIngress on {cluster_sg}"
        ))(e)),
    }
}

pub(super) async fn create(cx: &Context, aws: &Aws, prompter: &dyn Prompter) -> Result<i32> {
    let n = names(&cx.settings.bastion_name, &cx.settings.cluster);
    let cluster = aws::require_cluster(aws, &cx.settings.cluster).await?;
    let vpc = cluster_vpc(aws, &cluster).await?;

    // An existing bastion: reuse it (start it if stopped), or replace it after confirmation.
    let existing = find_bastions(aws, &cx.settings.cluster).await?;
    if let Some(inst) = existing.first() {
        let mut replace = false;
        if prompter.interactive() {
            cx.ui.println(&format!(
                "! bastion `{}` already exists: {} ({})",
                n.instance,
                inst.id,
                inst.state.as_str()
            ));
            if prompter.confirm("Replace it with a new instance (the old one is terminated)?")? {
                replace = prompter.confirm(&format!("Really terminate {}?", inst.id))?;
            }
        }
        if !replace {
            if inst.state == InstanceStateName::Stopped || inst.state == InstanceStateName::Stopping
            {
                if inst.state == InstanceStateName::Stopping {
                    wait_state(
                        cx,
                        aws,
                        &inst.id,
                        InstanceStateName::Stopped,
                        Duration::from_secs(300),
                    )
                    .await?;
                }
                aws.ec2()
                    .start_instances()
                    .instance_ids(&inst.id)
                    .send()
                    .await
                    .map_err(aws::failed("EC2 StartInstances"))?;
                cx.ui.info(&format!("started {}", inst.id));
            }
            wait_state(
                cx,
                aws,
                &inst.id,
                InstanceStateName::Running,
                Duration::from_secs(300),
            )
            .await?;
            cx.ui.println(&format!(
                "Reusing bastion {} — connect with `deployctl bastion connect`",
                inst.id
            ));
            return Ok(exit::OK);
        }
        terminate(cx, aws, std::slice::from_ref(inst)).await?;
    }

    let subnet = private_subnet(aws, &vpc, &cluster).await?;
    let sg = ensure_security_group(aws, &n, &vpc, &cx.settings.cluster).await?;
    open_api_port(cx, aws, &cluster, &sg).await?;
    let role_arn = ensure_role_and_profile(aws, &n).await?;
    let id = run_instance(cx, aws, &n, &subnet, &sg, &cluster.version).await?;
    cx.ui.info(&format!("launched {id} in {subnet} ({vpc})"));
    wait_state(
        cx,
        aws,
        &id,
        InstanceStateName::Running,
        Duration::from_secs(300),
    )
    .await?;
    wait_ssm_online(cx, aws, &id).await?;
    grant_eks_access(cx, aws, &cluster, &role_arn).await?;
    cx.ui.println(&format!(
        "Bastion {id} is ready.\n  connect:  deployctl bastion connect\n  inside:   llm-ui, llm-grafana, llm-prometheus, llm-jaeger (port-forwards on 127.0.0.1)\n  remove:   deployctl bastion cleanup"
    ));
    cx.ui.event(
        json!({"event": "bastion", "instance_id": id, "security_group": sg, "role": role_arn}),
    );
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_takes_only_plain_names() {
        let t = "x --name '{{CLUSTER}}' --region '{{REGION}}' stable-{{KUBERNETES_VERSION}}";
        assert_eq!(
            render_user_data(t, "us-east-1", "prod", "1.35").unwrap(),
            "x --name 'prod' --region 'us-east-1' stable-1.35"
        );
        assert!(render_user_data(t, "us-east-1", "a'; rm -rf /", "1.35").is_err());
        assert!(render_user_data(t, "us-east-1", "prod", "1.35; reboot").is_err());
        assert!(render_user_data(t, "us-east-1", "prod", "").is_err());
    }

    #[test]
    fn the_template_defines_the_aliases_on_loopback() {
        let t = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(USER_DATA_TEMPLATE),
        )
        .unwrap();
        for alias in ["llm-ui", "llm-grafana", "llm-prometheus", "llm-jaeger"] {
            let line = t
                .lines()
                .find(|l| l.contains(&format!("alias {alias}=")))
                .unwrap();
            assert!(line.contains("--address 127.0.0.1"), "{line}");
        }
        assert!(!t.contains("0.0.0.0"));
        // Pinned, checksum-verified downloads only: no install script piped into a shell.
        assert!(
            !t.contains("| bash") && !t.contains("raw.githubusercontent"),
            "{t}"
        );
        assert_eq!(t.matches("sha256sum --check").count(), 2, "{t}");
        assert!(t.contains("helm_version=v4.1.4"), "{t}");
        // ssm-user exists before its kubeconfig is written.
        let made = t
            .find("useradd --create-home ssm-user")
            .expect("ssm-user is made");
        assert!(made < t.find("update-kubeconfig").unwrap());
    }
}
