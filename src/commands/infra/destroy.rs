//! `infrastructure-destroy` behind the destroy gate; the key of a database's final snapshot
//! is kept out of the destroy.

use super::vars::var_file;
use super::{Needs, TerraformOptions, plan_dir, preflight_terraform};
use crate::commands::destroy_gate::DestroyGate;
use crate::config::Settings;
use crate::error::UserError;
use crate::platform::tools::terraform::{DestroyFacts, Terraform};
use crate::prompt::Prompter;
use crate::ui::Ui;
use anyhow::Result;
use std::path::{Path, PathBuf};

const GATE: DestroyGate = DestroyGate {
    command: "destroy",
    done: "destroyed",
};

/// `infrastructure-destroy` behind the destroy gate.
///
/// Phases: the gate (a CI run names the cluster) → `survey` (the state's cluster, the destroy
/// plan, refusals) → `confirm` → `perform` (the snapshot keys kept out) → `report`.
pub async fn destroy(
    settings: &Settings,
    ui: &Ui,
    prompter: &dyn Prompter,
    args: &TerraformOptions,
    confirm_destroy: Option<&str>,
) -> Result<crate::error::ExitCode> {
    GATE.needs_name(
        prompter.interactive(),
        confirm_destroy,
        "run it interactively, or pass --confirm-destroy with the cluster's name",
    )?;
    preflight_terraform(settings, ui, args, prompter.interactive(), Needs::default()).await?;
    let tf = Terraform::new(settings, ui);
    let var_file = var_file(&tf, args, settings, prompter)?;
    tf.init_if_needed().await?;
    let dir = plan_dir()?;
    let Some(planned) = survey(&tf, settings, &var_file, dir.path(), confirm_destroy).await? else {
        return Ok(crate::error::exit::OK);
    };
    if !confirm(ui, prompter, &planned)? {
        ui.println("Nothing destroyed.");
        return Ok(crate::error::exit::OK);
    }
    perform(&tf, &var_file, dir.path(), &planned).await?;
    report(ui, &planned);
    Ok(crate::error::exit::OK)
}

/// What the destroy would remove, planned and shown; `None` when there is nothing to destroy.
struct DestroyPlan {
    cluster: String,
    region: String,
    plan_file: PathBuf,
    facts: DestroyFacts,
}

/// The cluster in the Terraform state (which a given name must match) and its destroy plan;
/// refused while a database has deletion protection on.
async fn survey(
    tf: &Terraform<'_>,
    settings: &Settings,
    var_file: &Path,
    dir: &Path,
    confirm_destroy: Option<&str>,
) -> Result<Option<DestroyPlan>> {
    let outputs = tf.outputs().await?;
    let Some(cluster) = outputs.cluster.clone() else {
        tf.ui()
            .println("The Terraform state holds no stack (no outputs): nothing to destroy.");
        return Ok(None);
    };
    GATE.matches(
        confirm_destroy,
        &cluster,
        " in the Terraform state",
        format!("pass --confirm-destroy {cluster} to destroy it"),
    )?;
    let planned = tf.plan(var_file, dir, true).await?;
    let facts = DestroyFacts::parse(&planned.json);
    if facts.count == 0 {
        tf.ui().println("Nothing to destroy.");
        return Ok(None);
    }
    if !facts.protected_databases.is_empty() {
        return Err(UserError::failed(
            format!(
                "database {} has deletion protection on; the destroy would stop half-way. Nothing was destroyed",
                facts.protected_databases.join(", ")
            ),
            format!(
                "set rds_deletion_protection = false in {}, run `deployctl infrastructure`, then destroy",
                var_file.display()
            ),
        )
        .into());
    }
    let region = outputs.region.unwrap_or_else(|| settings.region.clone());
    Ok(Some(DestroyPlan {
        cluster,
        region,
        plan_file: planned.file,
        facts,
    }))
}

/// The plan shown; in a terminal, the cluster's name typed out and a last yes/no.
fn confirm(ui: &Ui, prompter: &dyn Prompter, p: &DestroyPlan) -> Result<bool> {
    ui.println(&format!(
        "DESTROY: {} resources of cluster {} in {}:\n{}",
        p.facts.count,
        p.cluster,
        p.region,
        p.facts.render()
    ));
    if !prompter.interactive() {
        return Ok(true);
    }
    GATE.typed(
        ui,
        prompter,
        "This cannot be undone. Confirm with the cluster's name.",
        &p.cluster,
        "re-run `deployctl infrastructure-destroy` and type the cluster name exactly",
    )?;
    ui.suspend(|| {
        prompter.confirm(&format!(
            "Destroy {} and everything listed above?",
            p.cluster
        ))
    })
}

/// The destroy, with the key of each final snapshot kept: Terraform forgets it first, then
/// plans the destroy again without it (a saved plan is stale once the state changed). On a
/// failure the forgotten keys are imported back, so the next destroy finds them.
async fn perform(tf: &Terraform<'_>, var_file: &Path, dir: &Path, p: &DestroyPlan) -> Result<()> {
    let keep = p.facts.retained_keys();
    let mut plan_file = p.plan_file.clone();
    let mut forgotten: Vec<&(String, String, String)> = Vec::new();
    let mut prepared: Result<()> = Ok(());
    for k in &keep {
        if let Err(e) = tf.state_rm(&k.1).await {
            prepared = Err(e);
            break;
        }
        forgotten.push(k);
    }
    if prepared.is_ok() && !keep.is_empty() {
        match tf.plan(var_file, dir, true).await {
            Ok(again) => plan_file = again.file,
            Err(e) => prepared = Err(e),
        }
    }
    let destroyed = match prepared {
        Ok(()) => {
            tf.apply(
                &plan_file,
                "the destroy stopped part-way; fix the error above and run `deployctl infrastructure-destroy` again",
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = destroyed {
        for (arn, address, _) in forgotten {
            let id = arn.rsplit('/').next().unwrap_or(arn);
            if let Err(back) = tf.import(var_file, address, id).await {
                tf.ui().warn(&format!("{back:#}"));
            }
        }
        return Err(e);
    }
    Ok(())
}

/// The keys kept for their snapshots, how to delete both later, and the kubeconfig hint.
fn report(ui: &Ui, p: &DestroyPlan) {
    let region = &p.region;
    for (arn, _, snapshot) in &p.facts.retained_keys() {
        ui.println(&format!(
            "Kept KMS key {arn}: it encrypts the final snapshot `{snapshot}`, which stays restorable as long as the key exists \
             (the next `deployctl infrastructure` makes a new key). When you no longer need the snapshot:\n  \
             aws rds delete-db-snapshot --db-snapshot-identifier {snapshot} --region {region}\n  \
             aws kms schedule-key-deletion --key-id {arn} --pending-window-in-days 30"
        ));
    }
    ui.println(&format!(
        "Destroyed {}. Remove its kubeconfig context with `kubectl config delete-context` if you no longer need it.",
        p.cluster
    ));
}
