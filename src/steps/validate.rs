//! `validate`: offline checks of manifests/ and helm-values/.

use super::Step;
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::manifest;
use anyhow::{Result, bail};
use async_trait::async_trait;

pub struct Validate;

#[async_trait]
impl Step for Validate {
    fn id(&self) -> StepId {
        StepId::Validate
    }
    fn resource(&self, _cx: &Context) -> String {
        "manifests/ and helm-values/".into()
    }
    async fn assess(&self, _cx: &Context) -> Result<State> {
        Ok(State::Stateless)
    }
    async fn apply(&self, cx: &Context, _action: Action) -> Result<String> {
        let root = cx.settings.project_dir.clone();
        let report = tokio::task::spawn_blocking(move || manifest::validate_tree(&root)).await?;
        if report.problems.is_empty() {
            return Ok(format!(
                "{} files, {} documents valid",
                report.files, report.documents
            ));
        }
        let list: Vec<String> = report.problems.iter().map(|p| format!("  {p}")).collect();
        bail!(
            "{} problem(s) in {} files:\n{}",
            report.problems.len(),
            report.files,
            list.join("\n")
        )
    }
    async fn view(&self, _cx: &Context) -> Result<String> {
        Ok("validation has no state to show".into())
    }
}
