//! One file per step: `assess` (read-only), `apply`, `view`. Steps never prompt and never
//! print: they return states, summaries and details; the engine asks and reports.

mod helm_repos;
pub mod irsa;
mod namespaces;
pub mod objects;
pub mod opa;
pub mod release;
pub mod secret_stores;
pub mod secrets;
mod validate;
pub mod verify;

use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::prompt::Prompter;
use anyhow::Result;
use async_trait::async_trait;
use std::sync::Arc;

#[async_trait]
pub trait Step: Send + Sync {
    fn id(&self) -> StepId;
    /// What the prompt calls the resource, e.g. "helm release 'redis' (namespace litellm)".
    fn resource(&self, cx: &Context) -> String;
    /// "exists", or "exist" when `resource` is plural.
    fn exists(&self) -> &'static str {
        "exists"
    }
    /// What Proceed does to an existing resource.
    fn proceed_does(&self, state: &State) -> &'static str {
        match state {
            State::Unhealthy(_) => "repair it",
            _ => "apply it again anyway",
        }
    }
    /// Called in the decide phase for a step that will run (also by `plan`): the step checks
    /// it has what it needs. `prompter` is `Some` in an interactive run (to ask for a missing
    /// input); `chose_proceed` says the operator pressed Proceed on an existing resource, so
    /// follow-up questions about it are welcome. Nothing changes here.
    async fn prepare(
        &self,
        _cx: &Context,
        _state: &State,
        _prompter: Option<&dyn Prompter>,
        _chose_proceed: bool,
    ) -> Result<Prepared> {
        Ok(Prepared::Run)
    }
    /// Read-only: what exists and whether it is healthy.
    async fn assess(&self, cx: &Context) -> Result<State>;
    /// Make it so; returns a one-line summary of what changed.
    async fn apply(&self, cx: &Context, action: Action) -> Result<String>;
    /// Details for the prompt's View (never a secret value).
    async fn view(&self, cx: &Context) -> Result<String>;
    /// `uninstall`: what removing this step removes, e.g. "helm release `redis` (namespace
    /// litellm)"; `None` for a step `uninstall` leaves alone (AWS, namespaces, checks).
    fn removes(&self, _cx: &Context) -> Option<String> {
        None
    }
    /// Remove what `removes` names; returns a one-line summary ("not installed" when there
    /// was nothing). Only called for a step whose `removes` is `Some`.
    async fn remove(&self, _cx: &Context) -> Result<String> {
        anyhow::bail!("{} has nothing `uninstall` removes", self.id())
    }
}

/// Manifest documents of the project with `${REGION}` / `${SECRETS_PREFIX}` / `${ACCOUNT_ID}`
/// filled in inside their string values (after parsing; never by text).
pub fn load_manifests(cx: &Context, rel: &str) -> Result<Vec<crate::manifest::Document>> {
    crate::manifest::fill(
        &cx.settings.project_dir,
        rel,
        &cx.settings.region,
        &cx.settings.secrets_prefix,
    )
}

/// What `prepare` concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    Run,
    /// Nothing to do after the operator's answers.
    Skip(String),
    /// The operator quit at a follow-up question.
    Quit,
}

/// The step that implements `id` (its row is `graph::STEPS`; the match is exhaustive, so a
/// row without code does not compile).
pub fn build(id: StepId) -> Arc<dyn Step> {
    match id {
        StepId::Validate => Arc::new(validate::Validate),
        StepId::Irsa => Arc::new(irsa::Irsa),
        StepId::Secrets => Arc::new(secrets::Secrets::default()),
        StepId::HelmRepos => Arc::new(helm_repos::HelmRepos),
        StepId::Namespaces => Arc::new(namespaces::Namespaces),
        StepId::SecretStores => Arc::new(secret_stores::SecretStores),
        StepId::OpaPolicies => Arc::new(opa::OpaPolicies),
        StepId::OpaVerify => Arc::new(opa::OpaVerify),
        StepId::Dashboards => Arc::new(objects::DASHBOARDS),
        StepId::Verify => Arc::new(verify::Verify),
        StepId::ExternalSecrets
        | StepId::Gatekeeper
        | StepId::Monitoring
        | StepId::Jaeger
        | StepId::Redis
        | StepId::Litellm
        | StepId::Openwebui => Arc::new(release::ReleaseStep(release::of(id))),
    }
}
