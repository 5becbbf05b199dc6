//! `bastion cleanup`: remove this cluster's bastion and everything `create` made, behind the
//! destroy gate; another cluster's and the Terraform bastion are never touched.

use super::{names, terminate};
use crate::commands::destroy_gate::DestroyGate;
use crate::context::Context;
use crate::error::exit;
use crate::platform::aws::ec2::{CLUSTER_TAG, filter, find_bastions};
use crate::platform::aws::eks::Outcome;
use crate::platform::aws::{self, Aws};
use crate::prompt::Prompter;
use anyhow::Result;
use std::time::Duration;

/// Checked before anything is looked up: a non-interactive cleanup names the cluster it means.
pub(super) fn check_confirm(
    cx: &Context,
    prompter: &dyn Prompter,
    confirm_destroy: Option<&str>,
) -> Result<()> {
    let cluster_name = &cx.settings.cluster;
    let gate = DestroyGate {
        command: "`bastion cleanup`",
        done: "removed",
    };
    gate.needs_name(
        prompter.interactive(),
        confirm_destroy,
        format!(
            "run it interactively, or pass --confirm-destroy {cluster_name} (the cluster whose bastion goes)"
        ),
    )?;
    gate.matches(
        confirm_destroy,
        cluster_name,
        " (EKS_CLUSTER_NAME / --cluster)",
        format!("pass --confirm-destroy {cluster_name}"),
    )
}

/// Undo `open_api_port` and `open_database_port` (the group cannot be deleted while another
/// group refers to it): `group`'s rules that name the bastion's group, by rule id.
pub(super) async fn close_port(aws: &Aws, group: &str, bastion_sg: &str) -> Result<()> {
    let ids: Vec<String> = aws::ec2::security_group_rules(aws, group)
        .await?
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .filter(|r| {
            r.referenced_group_info()
                .and_then(|g| g.group_id())
                .is_some_and(|g| g == bastion_sg)
        })
        .filter_map(|r| r.security_group_rule_id().map(str::to_string))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    aws::ec2::revoke_ingress(aws, group, ids).await
}

pub(super) async fn cleanup(
    cx: &Context,
    aws: &Aws,
    prompter: &dyn Prompter,
) -> Result<crate::error::ExitCode> {
    let cluster_name = &cx.settings.cluster;
    let n = names(&cx.settings.bastion_name, cluster_name);
    let mut instances = find_bastions(aws, cluster_name).await?;
    // The Terraform bastion is Terraform's to remove.
    let terraform_owned: Vec<String> = instances
        .iter()
        .filter(|i| i.terraform)
        .map(|i| i.id.clone())
        .collect();
    if !terraform_owned.is_empty() {
        cx.ui.warn(&format!(
            "left alone: {} (the Terraform bastion; set create_bastion = false and run `deployctl infrastructure`)",
            terraform_owned.join(", ")
        ));
        instances.retain(|i| !terraform_owned.contains(&i.id));
    }
    // What exists; "not found" is fine, any other error stops the cleanup.
    let role_arn = aws::iam::role_arn(aws, &n.role).await?;
    let profile = aws::iam::instance_profile(aws, &n.profile).await?;
    let groups = aws::ec2::security_groups(
        aws,
        vec![
            filter("group-name", &[&n.sg]),
            filter(&format!("tag:{CLUSTER_TAG}"), &[cluster_name]),
        ],
    )
    .await?;
    if instances.is_empty() && role_arn.is_none() && profile.is_none() && groups.is_empty() {
        cx.ui.println(&format!(
            "Nothing to remove: no bastion `{}` in {} (no instance, instance profile `{}`, role `{}` or security group `{}`).",
            n.instance, cx.settings.region, n.profile, n.role, n.sg
        ));
        return Ok(exit::OK);
    }
    if prompter.interactive() {
        let what = if instances.is_empty() {
            "no instance is running".to_string()
        } else {
            format!(
                "instance(s) {}",
                instances
                    .iter()
                    .map(|i| i.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if !prompter.confirm(&format!(
            "Remove bastion `{}` ({what}; {}, {}, {})?",
            n.instance, n.profile, n.role, n.sg
        ))? {
            cx.ui.println("Nothing has been changed.");
            return Ok(exit::OK);
        }
    }
    terminate(cx, aws, &instances).await?;

    // Access entry of the role (if the cluster still exists and the endpoint has them).
    if let Some(arn) = &role_arn
        && let Some(cluster) = aws::describe_cluster(aws, &cx.settings.cluster).await?
    {
        match aws::eks::revoke_access(aws, &cluster.name, arn).await? {
            Outcome::Done => cx.ui.info("removed the EKS access entry"),
            Outcome::Unchanged => {}
            Outcome::Unsupported => cx.ui.warn(&format!(
                "this endpoint does not implement EKS access entries; remove it yourself if it exists: `aws eks delete-access-entry --cluster-name {} --principal-arn {arn}`",
                cluster.name
            )),
        }
    }

    if let Some(profile) = profile {
        let roles: Vec<String> = profile
            .roles
            .iter()
            .map(|r| r.role_name().to_string())
            .collect();
        aws::iam::delete_instance_profile(aws, &n.profile, &roles).await?;
        cx.ui
            .info(&format!("deleted instance profile {}", n.profile));
    }
    if role_arn.is_some() {
        aws::iam::delete_role(aws, &n.role).await?;
        cx.ui.info(&format!("deleted role {}", n.role));
    }

    // Security group: first out of the cluster group's rules, then deleted (which may take a
    // moment to be allowed after the termination).
    let cluster_sg = aws::describe_cluster(aws, cluster_name)
        .await?
        .and_then(|c| c.cluster_security_group_id);
    for g in &groups {
        let Some(id) = g.group_id.clone() else {
            continue;
        };
        // Every group that admits the bastion's (the cluster's for 443, the database's for
        // 5432 — whatever the stored URL says today), found by the rule, not by name.
        let mut referring = aws::ec2::groups_referring_to(aws, &id).await?;
        if let Some(csg) = &cluster_sg
            && !referring.contains(csg)
        {
            referring.push(csg.clone());
        }
        for other in &referring {
            close_port(aws, other, &id).await?;
        }
        // Allowed only a moment after the instance's termination.
        aws::ec2::delete_security_group(aws, &id, Duration::from_secs(180)).await?;
        cx.ui.info(&format!("deleted security group {id}"));
    }
    cx.ui.println(&format!("Bastion `{}` removed.", n.instance));
    Ok(exit::OK)
}
