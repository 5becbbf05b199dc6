//! `infrastructure-plan`: everything up to the plan; nothing is applied.

use super::vars::{check_cluster_admins, check_kubernetes_version, check_secrets_prefix, var_file};
use super::{Needs, TerraformOptions, plan_dir, preflight_terraform};
use crate::config::Settings;
use crate::platform::tools::terraform::{PlanSummary, Terraform};
use crate::prompt::Prompter;
use crate::ui::Ui;
use anyhow::Result;

/// `infrastructure-plan`: everything up to the plan; nothing is applied.
pub async fn plan(
    settings: &Settings,
    ui: &Ui,
    prompter: &dyn Prompter,
    args: &TerraformOptions,
) -> Result<()> {
    preflight_terraform(settings, ui, args, prompter.interactive(), Needs::default()).await?;
    let tf = Terraform::new(settings, ui);
    let var_file = var_file(&tf, args, settings, prompter)?;
    check_kubernetes_version(tf.dir(), &var_file, settings, ui).await?;
    check_secrets_prefix(tf.dir(), &var_file, settings, ui)?;
    check_cluster_admins(&var_file, settings).await?;
    tf.init_if_needed().await?;
    tf.validate().await?;
    let dir = plan_dir()?;
    let summary = PlanSummary::parse(&tf.plan(&var_file, dir.path(), false).await?.json);
    ui.println(&format!("Plan: {}", summary.line()));
    for a in summary.replace.iter().chain(&summary.delete) {
        ui.warn(&format!("would destroy: {a}"));
    }
    ui.println("Nothing was applied. Apply with `deployctl infrastructure`.");
    Ok(())
}
