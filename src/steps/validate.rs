//! `validate`: offline checks of manifests/ and helm-values/.

use super::{Findings, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::tools::ProcessError;
use crate::stack::manifest;
use crate::stack::releases::Releases;
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
    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let root = cx.settings.project_dir.clone();
        let report = tokio::task::spawn_blocking(move || manifest::validate_tree(&root)).await?;
        let mut problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        let rendered = if problems.is_empty() {
            render_checks(cx, &mut problems).await?
        } else {
            "the charts were not rendered (fix the files first)".to_string()
        };
        if problems.is_empty() {
            return Ok(format!(
                "{} files, {} documents valid; {rendered}",
                report.files, report.documents
            ));
        }
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!(
            "{} problem(s) in {} files and the rendered charts:\n{}",
            problems.len(),
            report.files,
            list.join("\n")
        )
    }
    async fn view(&self, _cx: &Context) -> Result<String> {
        Ok("validation has no state to show".into())
    }
}

/// Where the pinned charts are: the charts directory, else helm's repository cache when it
/// holds every pinned archive.
fn charts_at_hand(cx: &Context) -> Result<Option<std::path::PathBuf>> {
    if let Some(d) = &cx.settings.charts_dir {
        return Ok(Some(d.clone()));
    }
    let Some(cache) = &cx.settings.helm_repository_cache else {
        return Ok(None);
    };
    let all = Releases::load(&cx.settings.project_dir)?;
    let complete = all
        .releases
        .iter()
        .all(|r| crate::stack::charts::find_local(cache, r).is_ok());
    Ok(complete.then(|| cache.clone()))
}

/// Render every release with the real helm and check keys and wiring, when helm and the
/// charts are at hand; otherwise say what was not checked and how to check it.
async fn render_checks(cx: &Context, problems: &mut Vec<String>) -> Result<String> {
    let Some(dir) = charts_at_hand(cx)? else {
        return Ok("charts not rendered: no charts at hand (pass --charts-dir DIR, filled by `deployctl charts pull DIR`, to check values keys and wiring)".into());
    };
    match cx.helm.check_installed().await {
        Ok(_) => {}
        Err(e)
            if e.downcast_ref::<ProcessError>().is_some()
                || crate::error::help_of(&e).is_some() =>
        {
            if cx.settings.charts_dir.is_some() {
                return Err(e);
            }
            return Ok("charts not rendered: helm is not installed".into());
        }
        Err(e) => return Err(e),
    }
    let inputs = crate::stack::render::Inputs::from_settings(&cx.settings, &dir);
    let report = crate::stack::render::render_stack(&cx.helm, &inputs).await?;
    let n = report.releases.len();
    problems.extend(report.problems);
    Ok(format!(
        "{n} releases rendered from {} by helm: values keys known, wiring consistent",
        dir.display()
    ))
}
