//! `deployctl diff [STEP…]`: what a run would change, before it changes it. For each release,
//! helm's record of what is live against what helm renders for the pinned chart with our
//! values and the run's overlay (an upgrade dry run against the cluster): the chart and app
//! versions, the values keys, and the objects added, removed and changed, field by field, no
//! secret value shown. For the steps that apply our own manifests, their server-side apply dry
//! run against the live objects (what `plan` reports). Reads only; exit 0 (1 when a release or
//! object cannot be compared).

use crate::context::Context;
use crate::decide::State;
use crate::error::UserError;
use crate::graph::{self, StepId};
use crate::steps::release::{ReleaseDiff, ReleaseStep};
use anyhow::Result;
use std::sync::Arc;

/// The steps whose objects a diff compares by default: every release, and the steps that
/// apply our own manifests.
fn compared(id: StepId) -> bool {
    crate::stack::releases::RELEASES
        .iter()
        .any(|d| d.step == id)
        || matches!(
            id,
            StepId::Namespaces
                | StepId::SecretStores
                | StepId::OpaPolicies
                | StepId::Dashboards
                | StepId::Ingress
        )
}

fn selected(names: &[String]) -> Result<Vec<StepId>> {
    if names.is_empty() {
        return Ok(graph::all_steps()
            .into_iter()
            .filter(|s| compared(*s))
            .collect());
    }
    let mut out = Vec::new();
    for n in names {
        let id = StepId::parse(n)?;
        if !compared(id) {
            return Err(UserError::usage(
                format!("`{n}` applies no Kubernetes objects to compare"),
                "diff compares the releases and the steps that apply our manifests; `deployctl plan` shows what the others would do",
            )
            .into());
        }
        out.push(id);
    }
    Ok(graph::all_steps()
        .into_iter()
        .filter(|s| out.contains(s))
        .collect())
}

pub async fn run(inv: super::Invocation, names: Vec<String>) -> Result<crate::error::ExitCode> {
    let (cx, _prompter) = inv.context();
    let cx = Arc::new(cx);
    let done = diff(&cx, &names).await;
    cx.close().await;
    done
}

enum Outcome {
    Release(ReleaseDiff),
    Objects(State),
}

async fn one(cx: &Context, id: StepId) -> Result<Outcome> {
    if crate::stack::releases::RELEASES
        .iter()
        .any(|d| d.step == id)
    {
        let step = ReleaseStep(crate::stack::releases::of(id));
        return Ok(Outcome::Release(step.diff(cx).await?));
    }
    Ok(Outcome::Objects(crate::steps::build(id).assess(cx).await?))
}

async fn diff(cx: &Context, names: &[String]) -> Result<crate::error::ExitCode> {
    let mut steps = selected(names)?;
    // Without an entry point the controller and the Ingresses are not part of the stack.
    if cx.settings.access.entry_point().is_none() {
        steps.retain(|s| !matches!(s, StepId::LoadBalancerController | StepId::Ingress));
    }
    crate::preflight::preflight(cx, &steps, crate::preflight::Purpose::Compare).await?;
    // Each compared at once (helm renders, the API answers); printed in graph order.
    let results = futures::future::join_all(steps.iter().map(|id| one(cx, *id))).await;
    let mut failed = 0;
    let mut changing = 0;
    for (id, r) in steps.iter().zip(results) {
        match r {
            Ok(Outcome::Release(d)) => {
                if !d.unchanged() {
                    changing += 1;
                }
                for line in d.lines(id.name()) {
                    cx.ui.println(&line);
                }
            }
            Ok(Outcome::Objects(State::Healthy(_))) => {
                cx.ui.println(&format!("{}: no change", id.name()));
            }
            Ok(Outcome::Objects(State::Missing)) => {
                changing += 1;
                cx.ui.println(&format!(
                    "{}: not applied yet: a run creates its objects",
                    id.name()
                ));
            }
            Ok(Outcome::Objects(State::Unhealthy(why))) => {
                changing += 1;
                cx.ui.println(&format!("{}: {why}", id.name()));
            }
            Ok(Outcome::Objects(State::Stateless)) => {}
            Err(e) => {
                failed += 1;
                cx.ui
                    .println(&format!("{}: cannot compare: {e:#}", id.name()));
            }
        }
    }
    cx.ui.println(&match changing {
        0 => "Nothing would change.".to_string(),
        n => format!(
            "{n} step{} would change: `deployctl {}` applies {}.",
            if n == 1 { "" } else { "s" },
            if names.is_empty() {
                "all".to_string()
            } else {
                format!("run {}", names.join(" "))
            },
            if n == 1 { "it" } else { "them" }
        ),
    });
    if failed > 0 {
        return Err(UserError::failed(
            format!("{failed} step(s) could not be compared (named above)"),
            "fix what is named above, then run `deployctl diff` again",
        )
        .into());
    }
    Ok(crate::error::exit::OK)
}
