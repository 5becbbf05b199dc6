//! One file per step: `assess` (read-only), `prepare`, `apply`, `view`. Steps never print:
//! they return states, summaries and details, and the engine reports. The engine asks the
//! questions of a run; a step asks only in `prepare`, for an input it lacks, through the
//! prompter the engine hands it (interactive runs only).

pub mod chat;
mod helm_repos;
pub mod ingress;
pub mod irsa;
pub mod namespaces;
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
    /// `found` is what `survey` found; `Prepared::Run` hands on what `apply` gets.
    async fn prepare(
        &self,
        _cx: &Context,
        _state: &State,
        found: &Findings,
        _prompter: Option<&dyn Prompter>,
        _chose_proceed: bool,
    ) -> Result<Prepared> {
        Ok(Prepared::Run(found.clone()))
    }
    /// Read-only: what exists and whether it is healthy. A step implements this or `survey`.
    async fn assess(&self, cx: &Context) -> Result<State> {
        Ok(self.survey(cx).await?.state)
    }
    /// `assess`, with what the step found that `prepare` and `apply` need (the engine hands it
    /// on; a step keeps nothing between phases). The engine calls this one.
    async fn survey(&self, cx: &Context) -> Result<Assessed> {
        Ok(Assessed {
            state: self.assess(cx).await?,
            found: Findings::none(),
        })
    }
    /// Make it so with what `prepare` handed on; returns a one-line summary of what changed.
    async fn apply(&self, cx: &Context, action: Action, found: Findings) -> Result<String>;
    /// Details for the prompt's View (never a secret value).
    async fn view(&self, cx: &Context) -> Result<String>;
    /// `plan`: what a run would change in an existing resource that is not as configured,
    /// as lines to print under the plan (`None`: nothing to show).
    async fn preview(&self, _cx: &Context) -> Option<Vec<String>> {
        None
    }
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
pub fn load_manifests(cx: &Context, rel: &str) -> Result<Vec<crate::stack::manifest::Document>> {
    crate::stack::manifest::fill(
        &cx.settings.project_dir,
        rel,
        &cx.settings.region,
        &cx.settings.secrets_prefix,
    )
}

/// What a step found or decided, handed from one phase to the next (see `Step::survey`).
#[derive(Clone)]
pub struct Findings(Arc<dyn std::any::Any + Send + Sync>);

impl Findings {
    pub fn none() -> Findings {
        Findings(Arc::new(()))
    }
    pub fn new<T: Send + Sync + 'static>(value: T) -> Findings {
        Findings(Arc::new(value))
    }
    /// The value, when it is a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Findings")
    }
}

/// What `survey` returns: the state and the findings.
#[derive(Debug)]
pub struct Assessed {
    pub state: State,
    pub found: Findings,
}

/// What `prepare` concluded.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Run, with what `apply` gets.
    Run(Findings),
    /// Nothing to do after the operator's answers.
    Skip(String),
    /// The operator quit at a follow-up question.
    Quit,
}

/// The step that implements `id` (its row is `graph::STEPS`; the match is exhaustive, so a
/// row without code does not compile).
pub fn build(id: StepId) -> Arc<dyn Step> {
    build_for(id, &secrets::SecretsOptions::default())
}

/// The step's code with what the command line asked of it (`deployctl secrets --rotate …`).
pub fn build_for(id: StepId, secrets: &secrets::SecretsOptions) -> Arc<dyn Step> {
    match id {
        StepId::Validate => Arc::new(validate::Validate),
        StepId::Irsa => Arc::new(irsa::Irsa),
        StepId::Secrets => Arc::new(secrets::Secrets {
            options: secrets.clone(),
        }),
        StepId::HelmRepos => Arc::new(helm_repos::HelmRepos),
        StepId::Namespaces => Arc::new(namespaces::Namespaces),
        StepId::SecretStores => Arc::new(secret_stores::SecretStores),
        StepId::OpaPolicies => Arc::new(opa::OpaPolicies),
        StepId::OpaVerify => Arc::new(opa::OpaVerify),
        StepId::Dashboards => Arc::new(objects::DASHBOARDS),
        StepId::Verify => Arc::new(verify::Verify),
        StepId::Ingress => Arc::new(ingress::Ingress),
        StepId::ExternalSecrets
        | StepId::Gatekeeper
        | StepId::Monitoring
        | StepId::Jaeger
        | StepId::Redis
        | StepId::Litellm
        | StepId::Openwebui
        | StepId::LoadBalancerController => Arc::new(release::ReleaseStep(release::of(id))),
    }
}
