//! `infrastructure` (and the first part of `complete`): plan, confirm, apply exactly that
//! plan, read the outputs.

use super::vars::{
    check_api_path, check_cluster_admins, check_kubernetes_version, check_secrets_prefix, var_file,
};
use super::{Applied, Needs, TerraformOptions, plan_dir, preflight_terraform};
use crate::config::Settings;
use crate::error::UserError;
use crate::platform::tools::terraform::{PlanSummary, Terraform};
use crate::prompt::Prompter;
use crate::ui::Ui;
use anyhow::Result;

/// `infrastructure` (and the first part of `complete`).
pub async fn apply(
    settings: &Settings,
    ui: &Ui,
    prompter: &dyn Prompter,
    args: &TerraformOptions,
    auto_approve: bool,
    needs: Needs,
) -> Result<Applied> {
    preflight_terraform(settings, ui, args, prompter.interactive(), needs).await?;
    let tf = Terraform::new(settings, ui);
    let var_file = var_file(&tf, args, settings, prompter)?;
    check_kubernetes_version(tf.dir(), &var_file, settings, ui).await?;
    check_secrets_prefix(tf.dir(), &var_file, settings, ui)?;
    check_cluster_admins(&var_file, settings).await?;
    if needs.cluster {
        check_api_path(tf.dir(), &var_file, settings)?;
    }
    // Refuse early: CI without --auto-approve would otherwise plan for minutes, then stop.
    if !prompter.interactive() && !auto_approve {
        return Err(UserError::usage(
            "a non-interactive run applies infrastructure only with --auto-approve",
            "run `deployctl infrastructure-plan` to review, then `deployctl infrastructure --auto-approve`",
        )
        .into());
    }
    tf.init_if_needed().await?;
    tf.validate().await?;
    let dir = plan_dir()?;
    let planned = tf.plan(&var_file, dir.path(), false).await?;
    let (plan_file, summary) = (planned.file, PlanSummary::parse(&planned.json));
    ui.println(&format!("Plan: {}", summary.line()));
    if summary.is_empty() {
        ui.println("Infrastructure is up to date; nothing to apply.");
    } else {
        for a in &summary.replace {
            ui.warn(&format!("replaced (destroyed, then created): {a}"));
        }
        for a in &summary.delete {
            ui.warn(&format!("destroyed: {a}"));
        }
        if !auto_approve && !ui.suspend(|| prompter.confirm("Apply this plan?"))? {
            ui.println("Nothing applied.");
            return Ok(Applied::Declined);
        }
        tf.apply(
            &plan_file,
            "the apply stopped part-way; fix the error above and run `deployctl infrastructure` again (Terraform resumes from its state)",
        )
        .await?;
    }
    drop(dir);
    let outputs = tf.outputs().await?;
    if let Some(c) = &outputs.cluster {
        ui.println(&format!(
            "Cluster {c} in {}. Next: {}",
            outputs.region.as_deref().unwrap_or(&settings.region),
            outputs
                .configure_kubectl
                .as_deref()
                .unwrap_or("deployctl kubeconfig")
        ));
    }
    Ok(Applied::Done(outputs))
}
