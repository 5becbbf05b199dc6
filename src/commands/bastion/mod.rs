//! `bastion create | connect | cleanup`: the port of setup-bastion.sh, every call through the
//! SDK (EKS, EC2, IAM, SSM, STS). Names derive from BASTION_NAME: `<name>-sg`,
//! `<name>-ssm-role`, `<name>-profile`, and the instance tagged Name=<name>.

mod cleanup;
mod connect;
mod create;

use crate::aws::ec2::{CLUSTER_TAG, Instance, PURPOSE, filter, find_bastions};
use crate::aws::{self, Aws, ClusterInfo};
use crate::context::Context;
use crate::error::{UserError, exit};
use crate::prompt::Prompter;
use anyhow::{Context as _, Result, anyhow, bail};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataOptionsRequest, InstanceStateName, ResourceType, Tag, TagSpecification,
    VolumeType,
};
use serde_json::json;
use std::time::{Duration, Instant};

pub const AMI_PARAMETER: &str =
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

const SSM_CORE_POLICY: &str = "policy/AmazonSSMManagedInstanceCore";

const EKS_ADMIN_POLICY: &str = "cluster-access-policy/AmazonEKSClusterAdminPolicy";

pub const USER_DATA_TEMPLATE: &str = "terraform/modules/bastion/user-data.sh.tmpl";

struct Names {
    instance: String,
    sg: String,
    role: String,
    profile: String,
    inline: String,
}

/// The instance and its security group are found by tags (and the group within the VPC);
/// the IAM role and instance profile are account-wide, so their names carry the cluster.
fn names(base: &str, cluster: &str) -> Names {
    Names {
        instance: base.to_string(),
        sg: format!("{base}-sg"),
        role: crate::aws::iam::cluster_scoped_name(cluster, &format!("{base}-ssm-role")),
        profile: crate::aws::iam::cluster_scoped_name(cluster, &format!("{base}-profile")),
        inline: format!("{base}-eks-describe"),
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// Whether an SDK error says the endpoint does not implement the operation (moto lacks
/// some: EKS access entries, SSM DescribeInstanceInformation): an unmodeled answer with HTTP
/// 404/405/501, or 500 after the SDK's retries. Decided from the status, never message text.
fn unimplemented_status(status: u16) -> bool {
    matches!(status, 404 | 405 | 500 | 501)
}

fn not_implemented<E>(
    e: &aws_sdk_eks::error::SdkError<E, aws_sdk_eks::config::http::HttpResponse>,
) -> bool {
    use aws_sdk_eks::error::SdkError;
    match e {
        SdkError::ServiceError(se) => unimplemented_status(se.raw().status().as_u16()),
        SdkError::ResponseError(_) => true,
        _ => false,
    }
}

async fn wait_state(
    cx: &Context,
    aws: &Aws,
    id: &str,
    want: InstanceStateName,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let progress = cx.ui.step_started(
        "bastion",
        &format!("waiting for {id} to be {}", want.as_str()),
    );
    loop {
        let out = aws
            .ec2()
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(aws::failed("EC2 DescribeInstances"))?;
        let state = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.state.as_ref()?.name.clone());
        if state.as_ref() == Some(&want) {
            progress.finish();
            return Ok(());
        }
        if started.elapsed() > timeout {
            progress.finish();
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

/// What `deployctl bastion …` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Connect,
    /// `confirm_destroy`: the cluster name, for a cleanup nothing can ask about.
    Cleanup {
        confirm_destroy: Option<String>,
    },
}

pub async fn run(inv: super::Invocation, action: Action) -> Result<i32> {
    let (cx, prompter) = inv.context();
    let (cx, prompter) = (&cx, prompter.as_ref());
    if let Action::Cleanup { confirm_destroy } = &action {
        cleanup::check_confirm(cx, prompter, confirm_destroy.as_deref())?;
    }
    let aws = cx.aws().await;
    aws.account_id().await?;
    match action {
        Action::Create => create::create(cx, aws, prompter).await,
        Action::Connect => connect::connect(cx, aws).await,
        Action::Cleanup { .. } => cleanup::cleanup(cx, aws, prompter).await,
    }
}

async fn terminate(cx: &Context, aws: &Aws, instances: &[Instance]) -> Result<()> {
    if instances.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
    crate::interrupt::changes_begin();
    aws.ec2()
        .terminate_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .map_err(aws::failed("EC2 TerminateInstances"))?;
    for id in &ids {
        wait_state(
            cx,
            aws,
            id,
            InstanceStateName::Terminated,
            Duration::from_secs(600),
        )
        .await?;
        cx.ui.info(&format!("terminated {id}"));
    }
    Ok(())
}
