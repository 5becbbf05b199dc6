//! `bastion connect`: an SSM shell on this cluster's running bastion.

use super::names;
use crate::context::Context;
use crate::error::{UserError, exit};
use crate::platform::aws::ec2::{Instance, find_bastions};
use crate::platform::aws::{self, Aws};
use anyhow::Result;
use aws_sdk_ec2::types::InstanceStateName;

pub(super) async fn connect(cx: &Context, aws: &Aws) -> Result<crate::error::ExitCode> {
    let n = names(&cx.settings.bastion_name, &cx.settings.cluster);
    let running: Vec<Instance> = find_bastions(aws, &cx.settings.cluster)
        .await?
        .into_iter()
        .filter(|i| i.state == InstanceStateName::Running)
        .collect();
    let Some(inst) = running.first() else {
        return Err(UserError::failed(
            format!("no running bastion named `{}`", n.instance),
            "create one with `deployctl bastion create`",
        )
        .into());
    };
    // Check the plugin before opening a session.
    aws::ssm::check_plugin("`bastion connect`").await?;
    let session = aws::ssm::start_shell(aws, &inst.id)
        .await
        .map_err(|e| match e {
            aws::ssm::StartError::NotConnected(why) => UserError::failed(
                format!("the bastion {}'s SSM agent is not connected: {why}", inst.id),
                format!(
                    "wait a minute for a new instance to register, then check it with `aws ssm describe-instance-information --filters Key=InstanceIds,Values={}`",
                    inst.id
                ),
            )
            .into(),
            aws::ssm::StartError::Other(e) => e,
        })?;
    // Attached to this terminal: the shell is the operator's.
    let code = session
        .plugin(aws, cx.settings.aws_profile.as_deref())
        .attached()
        .await?;
    Ok(if code == Some(0) {
        exit::OK
    } else {
        exit::FAILED
    })
}
