//! `infrastructure-destroy` behind the destroy gate; the key of a database's final snapshot
//! is kept out of the destroy.

use super::vars::var_file;
use super::{Needs, TerraformOptions, plan_dir, preflight};
use crate::commands::destroy_gate::DestroyGate;
use crate::config::Settings;
use crate::error::UserError;
use crate::prompt::Prompter;
use crate::tools::terraform::{DestroyFacts, Terraform};
use crate::ui::Ui;
use anyhow::Result;

/// `infrastructure-destroy` behind the destroy gate.
pub async fn destroy(
    settings: &Settings,
    ui: &Ui,
    prompter: &dyn Prompter,
    args: &TerraformOptions,
    confirm_destroy: Option<&str>,
) -> Result<crate::error::ExitCode> {
    let gate = DestroyGate {
        command: "destroy",
        done: "destroyed",
    };
    gate.needs_name(
        prompter.interactive(),
        confirm_destroy,
        "run it interactively, or pass --confirm-destroy with the cluster's name",
    )?;
    preflight(settings, ui, args, prompter.interactive(), Needs::default()).await?;
    let tf = Terraform::new(settings, ui);
    let var_file = var_file(&tf, args, settings, prompter)?;
    tf.init_if_needed().await?;
    let outputs = tf.outputs().await?;
    let Some(cluster) = outputs.cluster.clone() else {
        ui.println("The Terraform state holds no stack (no outputs): nothing to destroy.");
        return Ok(crate::error::exit::OK);
    };
    gate.matches(
        confirm_destroy,
        &cluster,
        " in the Terraform state",
        format!("pass --confirm-destroy {cluster} to destroy it"),
    )?;
    let dir = plan_dir()?;
    let planned = tf.plan(&var_file, dir.path(), true).await?;
    let (plan_file, facts) = (planned.file, DestroyFacts::parse(&planned.json));
    if facts.count == 0 {
        ui.println("Nothing to destroy.");
        return Ok(crate::error::exit::OK);
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
    ui.println(&format!(
        "DESTROY: {} resources of cluster {cluster} in {}:\n{}",
        facts.count,
        outputs.region.as_deref().unwrap_or(&settings.region),
        facts.render()
    ));
    if prompter.interactive() {
        gate.typed(
            ui,
            prompter,
            "This cannot be undone. Confirm with the cluster's name.",
            &cluster,
            "re-run `deployctl infrastructure-destroy` and type the cluster name exactly",
        )?;
        if !ui.suspend(|| {
            prompter.confirm(&format!("Destroy {cluster} and everything listed above?"))
        })? {
            ui.println("Nothing destroyed.");
            return Ok(crate::error::exit::OK);
        }
    }
    // The key of each final snapshot outlives the destroy: Terraform forgets it first, then
    // plans the destroy again without it (a saved plan is stale once the state changed).
    let keep = facts.retained_keys();
    let mut plan_file = plan_file;
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
        match tf.plan(&var_file, dir.path(), true).await {
            Ok(p) => plan_file = p.file,
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
        // Whatever was left is Terraform's again, key included: the next destroy finds it.
        for (arn, address, _) in forgotten {
            let id = arn.rsplit('/').next().unwrap_or(arn);
            if let Err(back) = tf.import(&var_file, address, id).await {
                ui.warn(&format!("{back:#}"));
            }
        }
        return Err(e);
    }
    for (arn, _, snapshot) in &keep {
        let region = outputs.region.as_deref().unwrap_or(&settings.region);
        ui.println(&format!(
            "Kept KMS key {arn}: it encrypts the final snapshot `{snapshot}`, which stays restorable as long as the key exists \
             (the next `deployctl infrastructure` makes a new key). When you no longer need the snapshot:\n  \
             aws rds delete-db-snapshot --db-snapshot-identifier {snapshot} --region {region}\n  \
             aws kms schedule-key-deletion --key-id {arn} --pending-window-in-days 30"
        ));
    }
    ui.println(&format!(
        "Destroyed {cluster}. Remove its kubeconfig context with `kubectl config delete-context` if you no longer need it."
    ));
    Ok(crate::error::exit::OK)
}
