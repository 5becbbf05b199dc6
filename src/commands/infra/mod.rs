//! `infrastructure`, `infrastructure-plan`, `infrastructure-destroy`: Terraform behind
//! deployctl's gates.
//!
//! Flow: tfvars check → backend check → `init` when needed → `validate` → `plan -out` into a
//! private temp dir → show → confirm → `apply` of exactly that plan file → `output -json`.
//! Every call runs with TF_IN_AUTOMATION=1 and TF_INPUT=0 (plus `-input=false` where the
//! subcommand takes it), streams its output, and a failure names the command and the tail of
//! its stderr (see `tools::terraform`).

mod apply;
mod destroy;
mod plan;
mod vars;

pub use apply::apply;
pub use destroy::destroy;
pub use plan::plan;

use crate::config::Settings;

use crate::platform::tools::terraform::{Outputs, Terraform};
use crate::ui::Ui;
use anyhow::{Context as _, Result};
use std::path::PathBuf;
use vars::{TfvarsMissing, tfvars_path};

/// Which Terraform flow to run.
#[derive(Debug, Clone)]
pub enum InfraJob {
    /// `infrastructure`: plan, confirm (or `--auto-approve`), apply.
    Apply { auto_approve: bool },
    /// `infrastructure-plan`.
    Plan,
    /// `infrastructure-destroy`; `confirm_destroy` is the cluster name for CI.
    Destroy { confirm_destroy: Option<String> },
}

/// What an infrastructure command was given.
#[derive(Debug, Clone)]
pub struct Args {
    pub action: InfraJob,
    pub options: TerraformOptions,
}

pub async fn run(inv: super::Invocation, args: Args) -> Result<crate::error::ExitCode> {
    let Args { action, options } = args;
    let (settings, ui, prompter) = (&inv.settings, &inv.ui, inv.prompter.as_ref());
    match action {
        InfraJob::Apply { auto_approve } => {
            apply(
                settings,
                ui,
                prompter,
                &options,
                auto_approve,
                Needs::default(),
            )
            .await?;
            Ok(crate::error::exit::OK)
        }
        InfraJob::Plan => {
            plan(settings, ui, prompter, &options).await?;
            Ok(crate::error::exit::OK)
        }
        InfraJob::Destroy { confirm_destroy } => {
            destroy(settings, ui, prompter, &options, confirm_destroy.as_deref()).await
        }
    }
}

/// Options of the Terraform commands.
#[derive(Debug, Default, Clone)]
pub struct TerraformOptions {
    /// `--var-file`: relative to terraform/ or absolute (else TFVARS_FILE, else
    /// terraform/terraform.tfvars).
    pub var_file: Option<PathBuf>,
}

/// What a Terraform flow needs besides terraform itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// `complete` continues with the stack: helm must be there too.
    pub helm: bool,
    /// AWS credentials that STS accepts (the S3 backend and the plan need them).
    pub aws: bool,
    /// The cluster steps follow (`complete`): the cluster must be reachable from here.
    pub cluster: bool,
}

/// Every check a Terraform flow can fail on, all at once and before anything is asked or run:
/// terraform (present, new enough), the variables file, the state backend, and — per `needs`
/// — helm and the AWS credentials. A missing default tfvars file is not a problem for an
/// interactive run when it is the only one (the run then offers to create it); with other
/// problems it is listed with them, so nothing is edited before those are fixed.
pub async fn preflight_terraform(
    settings: &Settings,
    ui: &Ui,
    args: &TerraformOptions,
    interactive: bool,
    needs: Needs,
) -> Result<()> {
    let tf = Terraform::new(settings, ui);
    let terraform = async { tf.check_version().await.map(|_| ()) };
    let helm = async {
        if needs.helm {
            crate::platform::tools::helm::Helm::new()
                .check_installed()
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    let aws = async {
        if needs.aws {
            crate::platform::aws::Aws::load(settings)
                .await
                .account_id()
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    let (t, h, a) = tokio::join!(terraform, helm, aws);
    let tfvars = match tfvars_path(&tf, args, settings) {
        Ok(_) => Ok(()),
        Err(TfvarsMissing::Given(e)) => Err(e),
        Err(TfvarsMissing::Default(e)) => Err(e),
    };
    let backend = tf.check_backend().map(|_| ());
    let found: Vec<(&str, anyhow::Error)> = [
        ("terraform", t),
        ("tfvars", tfvars),
        ("backend", backend),
        ("helm", h),
        ("aws", a),
    ]
    .into_iter()
    .filter_map(|(name, r)| r.err().map(|e| (name, e)))
    .collect();
    // Alone, a missing default tfvars file is offered to be created (interactive runs).
    let default_missing = matches!(
        tfvars_path(&tf, args, settings),
        Err(TfvarsMissing::Default(_))
    );
    if interactive && default_missing && found.len() == 1 {
        return Ok(());
    }
    crate::error::problems_before_start(found)
}

/// Private directory for plan files, removed when dropped.
fn plan_dir() -> Result<tempfile::TempDir> {
    crate::platform::tools::private_tempdir("deployctl-tf-")
        .context("creating a private directory for the plan file")
}

/// How an `infrastructure` run ended.
#[derive(Debug)]
pub enum Applied {
    /// Applied (or nothing to change): the outputs.
    Done(Outputs),
    /// The user declined: nothing applied.
    Declined,
}
