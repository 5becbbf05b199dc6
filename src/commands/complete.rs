//! `deployctl complete`: infrastructure → kubeconfig → every application step, with the
//! Terraform outputs (cluster, region, prefix) as the settings of the rest. The application
//! part is handed in as `then` (the step engine), so this command does not import the engine.

use super::infra::{self, Applied, Needs, TerraformOptions};
use crate::context::Context;
use crate::error::exit;
use anyhow::Result;
use std::future::Future;

/// What `deployctl complete` was given.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub options: TerraformOptions,
    /// Apply the plan without asking (required when nothing can ask).
    pub auto_approve: bool,
}

pub async fn run<F, Fut>(
    inv: super::Invocation,
    args: Args,
    then: F,
) -> Result<crate::error::ExitCode>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<crate::error::ExitCode>>,
{
    let super::Invocation {
        mut settings,
        ui,
        prompter,
    } = inv;
    // One preflight for the whole job: terraform, tfvars, backend, helm and the credentials
    // are all reported before anything is asked or run.
    let needs = Needs {
        helm: true,
        aws: true,
        cluster: true,
    };
    match infra::apply(
        &settings,
        &ui,
        prompter.as_ref(),
        &args.options,
        args.auto_approve,
        needs,
    )
    .await?
    {
        Applied::Declined => return Ok(exit::OK),
        Applied::Done(outputs) => outputs.apply_to(&mut settings),
    }
    // One interrupt state for all of `complete`: an interrupt that arrived while Terraform
    // finished still stops the run here.
    if crate::interrupt::requested() {
        ui.warn("interrupted after Terraform: the application stack was not started; run `deployctl all` to continue");
        return Ok(crate::error::exit::INTERRUPTED);
    }
    let cx = Context::new(settings, ui);
    let done =
        super::kubeconfig::write(&cx.settings, cx.aws().await, cx.settings.home.as_deref()).await?;
    cx.ui.println(&done);
    then(cx).await
}
