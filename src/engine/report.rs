//! Report: the summary table or the JSON summary, and the plan view.

use super::*;
use crate::events::{ErrorReport, Event, Summary};

pub(super) fn report(
    cx: &Context,
    req: &Request,
    rows: &[Row],
    interrupted: bool,
) -> crate::error::ExitCode {
    crate::results::Ending {
        command: &req.command,
        rows,
        interrupted,
        again: crate::results::Again::Resume(&req.command),
        aside: None,
    }
    .report(&cx.ui)
}

/// The `plan` event of one step: its state, what the run does and why (emitted by `plan`
/// and, before anything starts, by every run).
pub(super) fn plan_event(id: StepId, state: &str, action: &str, why: &str) -> Event {
    Event::Plan {
        step: id.name().to_string(),
        state: state.to_string(),
        action: action.to_string(),
        why: why.to_string(),
    }
}

/// Plan mode output: state, the action a run would take, and why.
pub(super) fn print_plan(
    cx: &Context,
    decided: &[StepDecision],
    states: &HashMap<StepId, Result<State, String>>,
) {
    let rows: Vec<Vec<String>> = decided
        .iter()
        .map(|StepDecision { id, decided, .. }| {
            let state = match &states[id] {
                Ok(s) if s.detail().is_empty() => s.label().to_string(),
                Ok(s) => format!("{} ({})", s.label(), s.detail()),
                Err(_) => "unknown".into(),
            };
            let (action, why) = decided.action_and_why();
            cx.ui.emit(&plan_event(*id, &state, action, why));
            vec![id.name().to_string(), state, action.into(), why.into()]
        })
        .collect();
    cx.ui
        .println(&table(&["step", "state", "action", "why"], &rows));
}

/// The plan phase's end (`deployctl plan`): the table, the rendered difference of every
/// release a run would change, and — when a step could not even start — what stops it,
/// which fails the plan.
pub(super) async fn plan_report(
    cx: &Context,
    built: &HashMap<StepId, Arc<dyn Step>>,
    decided: &[StepDecision],
    states: &HashMap<StepId, Result<State, String>>,
    command: &str,
) -> crate::error::ExitCode {
    print_plan(cx, decided, states);
    // What a run would change in what exists but is not as configured (a release's
    // rendered difference), each computed at once, printed in plan order.
    if !cx.ui.json() {
        let changing: Vec<StepId> = decided
            .iter()
            .filter(|d| matches!(states.get(&d.id), Some(Ok(State::Unhealthy(_)))))
            .map(|d| d.id)
            .collect();
        let previews = futures::future::join_all(
            changing
                .iter()
                .filter_map(|id| built.get(id))
                .map(|s| s.preview(cx)),
        )
        .await;
        for lines in previews.into_iter().flatten() {
            cx.ui.println("");
            for l in lines {
                cx.ui.println(&l);
            }
        }
    }
    // A step a run could not even start is a problem the plan must not hide.
    let errors: Vec<&str> = decided
        .iter()
        .filter(|d| matches!(d.decided, Decided::Fail(_)))
        .map(|d| d.id.name())
        .collect();
    if errors.is_empty() {
        return exit::OK;
    }
    for d in decided {
        if let Decided::Fail(why) = &d.decided {
            cx.ui.println(&format!("\n{} cannot run:\n  {why}", d.id));
        }
    }
    cx.ui.summarize(Summary::new(
        command,
        exit::FAILED,
        Some(ErrorReport {
            message: format!("cannot run: {}", errors.join(", ")),
            help: Some(format!(
                "fix the cause above, then run `deployctl plan {command}` again"
            )),
            check: Some(errors.join(", ")),
        }),
    ));
    exit::FAILED
}

/// Before a run executes: each step's `plan` event, and one line saying what runs.
pub(super) fn announce(cx: &Context, decided: &[StepDecision]) {
    for StepDecision { id, decided, state } in decided {
        let (action, why) = decided.action_and_why();
        cx.ui.emit(&plan_event(*id, state, action, why));
    }
    if cx.ui.verbosity() >= 0 && !cx.ui.json() {
        let plan: Vec<String> = decided
            .iter()
            .map(|d| format!("{}: {}", d.id, d.decided.action_and_why().0))
            .collect();
        cx.ui.println(&format!("Plan: {}", plan.join(", ")));
    }
}
