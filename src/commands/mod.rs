//! Commands that are not steps of the graph: the Terraform flows, the bastion, the checks of
//! the infrastructure, kubeconfig, charts on disk, uninstall, and `complete` (which chains
//! infrastructure → kubeconfig → the step engine). Each is `run(invocation, args)`; none imports
//! the engine or the CLI.

pub mod bastion;
pub mod bedrock;
pub mod charts;
pub mod complete;
pub mod destroy_gate;
pub mod diff;
pub mod eks_token;
pub mod export;
pub mod infra;
pub mod infra_verify;
pub mod kubeconfig;
pub mod list;
pub mod outdated;
pub mod reveal;
pub mod secrets_input;
pub mod uninstall;

use crate::config::Settings;
use crate::context::Context;
use crate::prompt::Prompter;
use crate::ui::Ui;
use std::sync::Arc;

/// What every command starts from: the resolved settings, the printer and who answers
/// questions. Each command is `async fn run(Invocation, its arguments) -> Result<exit code>`.
pub struct Invocation {
    pub settings: Settings,
    pub ui: Ui,
    pub prompter: Arc<dyn Prompter>,
}

impl Invocation {
    /// The context for commands that talk to AWS or the cluster.
    pub fn context(self) -> (Context, Arc<dyn Prompter>) {
        (Context::new(self.settings, self.ui), self.prompter)
    }
}
