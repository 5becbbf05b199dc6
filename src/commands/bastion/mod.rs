//! `bastion create | connect | cleanup`: the port of setup-bastion.sh, every call through the
//! SDK (EKS, EC2, IAM, SSM, STS). Names derive from BASTION_NAME: `<name>-sg`,
//! `<name>-ssm-role`, `<name>-profile`, and the instance tagged Name=<name>.

mod cleanup;
mod connect;
mod create;

use crate::context::Context;
use crate::platform::aws::ec2::Instance;
use crate::platform::aws::{self, Aws};
use anyhow::Result;
use aws_sdk_ec2::types::InstanceStateName;
use std::time::Duration;

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
        role: aws::iam::cluster_scoped_name(cluster, &format!("{base}-ssm-role")),
        profile: aws::iam::cluster_scoped_name(cluster, &format!("{base}-profile")),
        inline: format!("{base}-eks-describe"),
    }
}

/// Wait for an instance state, showing that we wait.
async fn wait_state(
    cx: &Context,
    aws: &Aws,
    id: &str,
    want: InstanceStateName,
    timeout: Duration,
) -> Result<()> {
    let progress = cx.ui.step_started(
        "bastion",
        &format!("waiting for {id} to be {}", want.as_str()),
    );
    let waited = aws::ec2::wait_for_state(aws, id, want, timeout).await;
    progress.finish();
    waited
}

/// What `deployctl bastion …` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BastionJob {
    Create,
    Connect,
    /// `confirm_destroy`: the cluster name, for a cleanup nothing can ask about.
    Cleanup {
        confirm_destroy: Option<String>,
    },
}

pub async fn run(inv: super::Invocation, action: BastionJob) -> Result<crate::error::ExitCode> {
    let (cx, prompter) = inv.context();
    let (cx, prompter) = (&cx, prompter.as_ref());
    if let BastionJob::Cleanup { confirm_destroy } = &action {
        cleanup::check_confirm(cx, prompter, confirm_destroy.as_deref())?;
    }
    let aws = cx.aws().await;
    aws.account_id().await?;
    match action {
        BastionJob::Create => create::create(cx, aws, prompter).await,
        BastionJob::Connect => connect::connect(cx, aws).await,
        BastionJob::Cleanup { .. } => cleanup::cleanup(cx, aws, prompter).await,
    }
}

async fn terminate(cx: &Context, aws: &Aws, instances: &[Instance]) -> Result<()> {
    if instances.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
    crate::interrupt::changes_begin();
    aws::ec2::terminate_instances(aws, ids.clone()).await?;
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
