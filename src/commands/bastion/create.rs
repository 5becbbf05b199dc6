//! `bastion create`: a small instance in a private subnet of the cluster's VPC with SSM
//! access, its security group (one 443 rule into the cluster's group), role and profile, and
//! an EKS access entry for the role.

use super::{Names, names, terminate, wait_state};
use crate::context::Context;
use crate::error::{UserError, exit};
use crate::platform::aws::ec2::{CLUSTER_TAG, Launch, PURPOSE, Subnets, filter, find_bastions};
use crate::platform::aws::eks::Outcome;
use crate::platform::aws::ssm::Ping;
use crate::platform::aws::{self, Aws, ClusterInfo};
use crate::prompt::Prompter;
use crate::stack::database_url::database_address;
use crate::stack::secret_names::SecretName;
use anyhow::{Context as _, Result, anyhow, bail};
use aws_sdk_ec2::types::InstanceStateName;
use serde_json::json;
use std::time::{Duration, Instant};

pub const AMI_PARAMETER: &str =
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

const SSM_CORE_POLICY: &str = "policy/AmazonSSMManagedInstanceCore";

pub const USER_DATA_TEMPLATE: &str = "terraform/modules/bastion/user-data.sh.tmpl";

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
    aws::ec2::create_security_group(
        aws,
        &n.sg,
        "deployctl bastion: egress only (SSM)",
        vpc,
        &[
            ("Name", &n.sg),
            (CLUSTER_TAG, cluster),
            ("managed-by", "deployctl"),
        ],
    )
    .await
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
    let role_arn = aws::iam::ensure_role(
        aws,
        &n.role,
        "deployctl bastion: SSM access and EKS describe",
        &trust,
        &n.inline,
        &inline,
        &[],
    )
    .await?;
    aws::iam::attach_managed_policy(aws, &n.role, SSM_CORE_POLICY).await?;
    aws::iam::ensure_instance_profile(aws, &n.profile, &n.role).await?;
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
    crate::interrupt::changes_begin();
    aws::ec2::run_instance(
        aws,
        &Launch {
            ami: &ami,
            instance_type: &cx.settings.instance_type,
            subnet,
            security_group: sg,
            instance_profile: &n.profile,
            user_data: &user_data,
            tags: &[
                ("Name", &n.instance),
                PURPOSE,
                (CLUSTER_TAG, &cx.settings.cluster),
                ("managed-by", "deployctl"),
            ],
        },
    )
    .await
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
        match aws::ssm::ping(aws, id).await {
            Ok(Ping::Online) => {
                progress.finish();
                return Ok(());
            }
            Ok(Ping::NotYet) => {}
            Ok(Ping::Unsupported) => {
                progress.finish();
                cx.ui.warn(&format!(
                    "this endpoint does not implement SSM DescribeInstanceInformation; check the agent yourself: `{manual}`"
                ));
                return Ok(());
            }
            Err(e) => {
                progress.finish();
                return Err(e);
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

/// Give the bastion's role cluster access: an access entry when the cluster allows the API,
/// else the aws-auth mapping to add by hand.
pub(super) async fn grant_eks_access(
    cx: &Context,
    aws: &Aws,
    c: &ClusterInfo,
    role_arn: &str,
) -> Result<()> {
    let mode = c.authentication_mode.clone().unwrap_or_default();
    let manual = format!(
        "aws eks create-access-entry --cluster-name {cl} --principal-arn {role_arn} --region {r} && \
         aws eks associate-access-policy --cluster-name {cl} --principal-arn {role_arn} \
         --policy-arn {policy} --access-scope type=cluster --region {r}",
        cl = c.name,
        r = aws.region,
        policy = aws::eks::cluster_admin_policy_arn(aws),
    );
    if mode == "CONFIG_MAP" {
        cx.ui.println(&format!(
            "The cluster uses the aws-auth ConfigMap only. Add this to mapRoles in kube-system/aws-auth:\n  - rolearn: {role_arn}\n    username: bastion\n    groups: [\"system:masters\"]"
        ));
        return Ok(());
    }
    if aws::eks::grant_cluster_admin(aws, &c.name, role_arn).await? == Outcome::Unsupported {
        cx.ui.warn(&format!(
            "this endpoint does not implement EKS access entries; grant the bastion access yourself: `{manual}`"
        ));
    }
    Ok(())
}

/// The bastion reaches the private API endpoint: 443 from the bastion's group to the
/// cluster security group (no node ports).
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
    if aws::ec2::allow_from_group(
        aws,
        cluster_sg,
        bastion_sg,
        443,
        "deployctl bastion to the EKS API",
    )
    .await?
    {
        cx.ui.info(&format!(
            "allowed 443 from {bastion_sg} to the cluster security group {cluster_sg}"
        ));
    }
    Ok(())
}

/// The stack database's security groups: those of the RDS instance the stored database URL
/// names (none when no URL is stored or it names no RDS instance of the account).
pub(super) async fn database_groups(aws: &Aws, prefix: &str) -> Result<Vec<String>> {
    let name = format!("{prefix}/{}", SecretName::DatabaseUrl.name());
    let Some(url) = aws::secrets::get_value(aws, &name).await? else {
        return Ok(Vec::new());
    };
    let Some(address) = database_address(&url) else {
        return Ok(Vec::new());
    };
    Ok(aws::db_instance_by_address(aws, &address)
        .await?
        .map(|db| db.security_groups)
        .unwrap_or_default())
}

/// The database from the bastion: 5432 from the bastion's group into the database's groups,
/// so `infrastructure-verify` can sign in with the stored credentials through it (the
/// bastion's cluster-admin kubectl reads the same credentials already; this opens nothing new
/// to it). The group keeps its default way out, so no egress rule is needed.
pub(super) async fn open_database_port(cx: &Context, aws: &Aws, bastion_sg: &str) {
    let groups = match database_groups(aws, &cx.settings.secrets_prefix).await {
        Ok(g) => g,
        Err(e) => {
            cx.ui.warn(&format!(
                "cannot find the database's security group ({e:#}): `infrastructure-verify` will not reach the database through this bastion"
            ));
            return;
        }
    };
    for db_sg in groups {
        match aws::ec2::allow_from_group(
            aws,
            &db_sg,
            bastion_sg,
            5432,
            "deployctl bastion to the database (infrastructure-verify)",
        )
        .await
        {
            Ok(true) => cx.ui.info(&format!(
                "allowed 5432 from {bastion_sg} to the database's security group {db_sg}"
            )),
            Ok(false) => {}
            Err(e) => cx.ui.warn(&format!(
                "cannot allow 5432 from {bastion_sg} to {db_sg} ({e:#}): `infrastructure-verify` will not reach the database through this bastion"
            )),
        }
    }
}

pub(super) async fn create(
    cx: &Context,
    aws: &Aws,
    prompter: &dyn Prompter,
) -> Result<crate::error::ExitCode> {
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
                aws::ec2::start_instance(aws, &inst.id).await?;
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
            // A bastion made before the database rule existed gets it now (deployctl's own
            // group only: Terraform's bastion has it from Terraform).
            if !inst.terraform {
                let own = aws::ec2::security_groups(
                    aws,
                    vec![filter("group-name", &[&n.sg]), filter("vpc-id", &[&vpc])],
                )
                .await?;
                if let Some(sg) = own.first().and_then(|g| g.group_id.clone()) {
                    open_database_port(cx, aws, &sg).await;
                }
            }
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
    open_database_port(cx, aws, &sg).await;
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
    cx.ui.emit(&crate::events::Event::Bastion {
        instance_id: id.to_string(),
        security_group: sg.to_string(),
        role: role_arn.to_string(),
    });
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
