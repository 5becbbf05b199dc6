//! One run: preflight → assess (concurrently, read-only) → decide (every question asked here,
//! before any change) → execute (a DAG scheduler) → report.

mod schedule;

use crate::context::Context;
use crate::decide::{self, Action, Choice, Decision, Facts, Policy, State};
use crate::error::{UserError, exit};
use crate::graph::{self, StepId};
use crate::prompt::{Key, Prompter, Question};
use crate::steps::{self, Step};
use crate::ui::{human_duration, table};
use anyhow::Result;
use futures::FutureExt;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Decide and change.
    Run,
    /// Assess and decide only: no prompt, no change (`deployctl plan`).
    Plan,
}

#[derive(Debug, Clone)]
pub struct Request {
    /// The command as typed, for "run it again" hints.
    pub command: String,
    pub steps: Vec<StepId>,
    pub mode: Mode,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Succeeded(String),
    Failed(String),
    Skipped(String),
    NotRun(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded(_) => "ok",
            Outcome::Failed(_) => "FAILED",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotRun(_) => "not run",
        }
    }
    fn text(&self) -> &str {
        match self {
            Outcome::Succeeded(t)
            | Outcome::Failed(t)
            | Outcome::Skipped(t)
            | Outcome::NotRun(t) => t,
        }
    }
    /// Whether dependents may go ahead.
    fn satisfies(&self) -> bool {
        matches!(self, Outcome::Succeeded(_) | Outcome::Skipped(_))
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub step: StepId,
    pub decision: String,
    pub outcome: Outcome,
    pub took: Duration,
}

fn error_text(err: &anyhow::Error) -> String {
    let mut text = format!("{err:#}");
    if let Some(help) = crate::error::help_of(err) {
        text.push_str(&format!("\n    help: {help}"));
    }
    text
}

/// Which steps a request runs, after --with-deps; errors for steps not built yet.
fn select(cx: &Context, req: &Request) -> Result<Vec<StepId>, UserError> {
    let selected = if cx.settings.with_deps {
        graph::with_dependencies(&req.steps)
    } else {
        graph::normalise(req.steps.clone())
    };
    let not_built: Vec<&str> = selected
        .iter()
        .filter(|s| steps::build(**s).is_none())
        .map(|s| s.name())
        .collect();
    if !not_built.is_empty() {
        return Err(UserError::usage(
            format!(
                "`{}` is not built yet: step(s) {} are still to be ported to deployctl",
                req.command,
                not_built.join(", ")
            ),
            "run the built steps on their own (see `deployctl list`), e.g. `deployctl namespaces`",
        ));
    }
    Ok(selected)
}

pub async fn preflight(cx: &Context, assessed: &[StepId]) -> Result<()> {
    let helm = assessed.iter().any(|s| s.def().uses_helm);
    let kube = assessed.iter().any(|s| s.def().uses_kube);
    let aws = assessed.iter().any(|s| s.def().uses_aws);
    let aws_check = async {
        if aws {
            let account = cx.aws().await.account_id().await?;
            cx.ui.detail(&format!(
                "AWS account {account}, region {}",
                cx.settings.region
            ));
        }
        anyhow::Ok(())
    };
    let helm_check = async {
        if helm {
            let v = cx.helm.check_installed().await?;
            cx.ui.detail(&format!("helm {v}"));
        }
        anyhow::Ok(())
    };
    let kube_check = async {
        if kube {
            let (client, target) = crate::cluster::connect_kube(cx).await?;
            cx.ui.detail(&format!(
                "kube context `{}` → {} ({})",
                target.context, target.cluster_entry, target.server
            ));
            cx.set_kube(client);
            cx.set_kube_context(target.context.clone());
        }
        anyhow::Ok(())
    };
    // With a charts directory, every release to assess must be there at its pinned version
    // before anything starts (a mismatch names both versions; nothing is installed).
    let charts_check = async {
        let Some(dir) = &cx.settings.charts_dir else {
            return anyhow::Ok(());
        };
        let all = crate::releases::Releases::load(&cx.settings.project_dir)?;
        let mut problems = Vec::new();
        let mut help = None;
        for def in crate::steps::release::RELEASES
            .iter()
            .filter(|d| assessed.contains(&d.step))
        {
            let Some(rel) = all.releases.iter().find(|r| r.name == def.release) else {
                continue;
            };
            if let Err(e) = crate::charts::find_local(dir, rel) {
                help = help.or_else(|| crate::error::help_of(&e).map(str::to_string));
                problems.push(format!("{e:#}"));
            }
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(UserError::failed(problems.remove(0), help.unwrap_or_default()).into()),
            _ => Err(UserError::failed(
                format!(
                    "the charts directory does not match the pins:\n    {}",
                    problems.join("\n    ")
                ),
                help.unwrap_or_default(),
            )
            .into()),
        }
    };
    let (h, k, a, c) = tokio::join!(helm_check, kube_check, aws_check, charts_check);
    for (name, r) in [("aws", &a), ("kube", &k), ("helm", &h), ("charts", &c)] {
        if r.is_err() {
            crate::error::failed_check(name);
        }
    }
    // Report every preflight problem at once: fixing one to discover the next is slow.
    let errors: Vec<anyhow::Error> = [a, k, h, c].into_iter().filter_map(Result::err).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().expect("one error")),
        n => {
            let mut message = format!("{n} problems before anything could start:");
            let mut help = Vec::new();
            for (i, e) in errors.iter().enumerate() {
                message.push_str(&format!("\n  {}. {e:#}", i + 1));
                if let Some(h) = crate::error::help_of(e) {
                    help.push(format!("{}. {h}", i + 1));
                }
            }
            let code = if errors
                .iter()
                .all(|e| crate::error::code_of(e) == exit::USAGE)
            {
                exit::USAGE
            } else {
                exit::FAILED
            };
            let mut err = UserError::failed(message, help.join("\n      "));
            err.code = code;
            Err(err.into())
        }
    }
}

/// Assess every step concurrently (read-only).
async fn assess_all(
    cx: &Arc<Context>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    ids: &[StepId],
) -> HashMap<StepId, Result<State, String>> {
    let futures = ids.iter().map(|id| {
        let step = built[id].clone();
        let cx = cx.clone();
        let id = *id;
        async move {
            let started = Instant::now();
            let state = step.assess(&cx).await.map_err(|e| error_text(&e));
            cx.ui.detail(&format!(
                "assessed {id} in {}: {}",
                human_duration(started.elapsed()),
                match &state {
                    Ok(s) => format!("{} {}", s.label(), s.detail()),
                    Err(e) => format!("error: {e}"),
                }
            ));
            (id, state)
        }
    });
    futures::future::join_all(futures)
        .await
        .into_iter()
        .collect()
}

enum Decided {
    Run(Action, String),
    Skip(String),
    Fail(String),
}

/// Walk the steps in order and decide each; prompts happen here and only here.
/// `Ok(None)`: the operator quit.
async fn decide_all(
    cx: &Arc<Context>,
    prompter: &Arc<dyn Prompter>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    selected: &[StepId],
    states: &HashMap<StepId, Result<State, String>>,
    mode: Mode,
    resumed: &[String],
) -> Result<Option<Vec<(StepId, Decided, String)>>> {
    let mut policy = Policy {
        interactive: cx.settings.interactive && mode == Mode::Run && prompter.interactive(),
        auto_skip_healthy: cx.settings.auto_skip_healthy,
        skip_all: cx.settings.skip_all,
    };
    let mut out = Vec::new();
    for id in selected {
        let state = match &states[id] {
            Ok(s) => s,
            Err(e) => {
                out.push((
                    *id,
                    Decided::Fail(format!("cannot assess: {e}")),
                    "error".into(),
                ));
                continue;
            }
        };
        if resumed.iter().any(|r| r == id.name()) && matches!(state, State::Healthy(_)) {
            out.push((
                *id,
                Decided::Skip("succeeded in the interrupted run (--resume)".into()),
                state.label().into(),
            ));
            continue;
        }
        let dependents = graph::dependents_in(*id, selected);
        let facts = Facts {
            step: *id,
            state,
            critical: id.def().critical,
            dependents: &dependents,
        };
        let step = &built[id];
        let mut decision = decide::decide(&facts, policy);
        let mut chose_proceed = false;
        loop {
            match decision {
                Decision::Run { action, why } => {
                    let asker: Option<&dyn Prompter> = if policy.interactive && mode == Mode::Run {
                        Some(prompter.as_ref())
                    } else {
                        None
                    };
                    let prepared = cx.ui.suspend(|| {
                        tokio::task::block_in_place(|| {
                            tokio::runtime::Handle::current().block_on(step.prepare(
                                cx,
                                state,
                                asker,
                                chose_proceed,
                            ))
                        })
                    });
                    let decided = match prepared {
                        Ok(steps::Prepared::Run) => Decided::Run(action, why),
                        Ok(steps::Prepared::Skip(why)) => Decided::Skip(why),
                        Ok(steps::Prepared::Quit) => return Ok(None),
                        // Bad input (a usage error) stops the run before anything starts,
                        // with exit 2, like any other usage error.
                        Err(e) if crate::error::code_of(&e) == exit::USAGE => return Err(e),
                        // Ctrl-C / Ctrl-D at a question asked while preparing: quit.
                        Err(e) if crate::prompt::is_quit(&e) => return Err(e),
                        Err(e) => Decided::Fail(error_text(&e)),
                    };
                    out.push((*id, decided, state.label().into()));
                    break;
                }
                Decision::Skip { why, warning } => {
                    if let Some(w) = warning
                        && mode == Mode::Run
                    {
                        cx.ui.warn(&format!("skipping {id}: {w}"));
                    }
                    out.push((*id, Decided::Skip(why), state.label().into()));
                    break;
                }
                Decision::Ask {
                    default,
                    ref skip_refused,
                    ref skip_warning,
                } => {
                    if mode == Mode::Plan || !policy.interactive {
                        let why = format!(
                            "exists; a run asks (Enter = {})",
                            if default == Choice::Skip {
                                "skip"
                            } else {
                                "proceed"
                            }
                        );
                        out.push((*id, Decided::Skip(why), state.label().into()));
                        break;
                    }
                    let resource = step.resource(cx);
                    let q = Question {
                        resource: &resource,
                        exists: step.exists(),
                        state,
                        default,
                        skip_refused: skip_refused.as_deref(),
                        proceed_does: step.proceed_does(state),
                    };
                    let key = cx
                        .ui
                        .suspend(|| tokio::task::block_in_place(|| prompter.choose(&q)))?;
                    match key {
                        Key::Quit => return Ok(None),
                        Key::View => {
                            let details = match step.view(cx).await {
                                Ok(d) => d,
                                Err(e) => format!("  cannot show details: {}", error_text(&e)),
                            };
                            prompter.say(&details);
                        }
                        Key::Auto => {
                            policy.auto_skip_healthy = true;
                            decision = decide::decide(&facts, policy);
                        }
                        Key::Skip | Key::Proceed => {
                            chose_proceed = key == Key::Proceed;
                            let choice = if key == Key::Skip {
                                Choice::Skip
                            } else {
                                Choice::Proceed
                            };
                            match decide::answer(&facts, choice) {
                                Ok(d) => {
                                    if let (Decision::Skip { .. }, Some(w)) = (&d, skip_warning)
                                        && skip_refused.is_none()
                                    {
                                        prompter.say(&format!("  warning: {w}"));
                                    }
                                    decision = match d {
                                        // The warning was shown at the prompt.
                                        Decision::Skip { why, .. } => {
                                            Decision::Skip { why, warning: None }
                                        }
                                        other => other,
                                    };
                                }
                                Err(refusal) => prompter.say(&format!("  cannot skip: {refusal}")),
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(Some(out))
}

/// Run the decided steps: each starts once its selected needs succeeded or were skipped.
async fn execute(
    cx: &Arc<Context>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    decided: Vec<(StepId, Decided, String)>,
) -> (Vec<Row>, bool) {
    let selected: Vec<StepId> = decided.iter().map(|(id, _, _)| *id).collect();
    let mut rows: HashMap<StepId, Row> = HashMap::new();
    let mut pending: Vec<(StepId, Action, String)> = Vec::new();
    for (id, d, _) in decided {
        match d {
            Decided::Run(action, why) => pending.push((id, action, why)),
            Decided::Skip(why) => {
                rows.insert(
                    id,
                    Row {
                        step: id,
                        decision: "skip".into(),
                        outcome: Outcome::Skipped(why),
                        took: Duration::ZERO,
                    },
                );
            }
            Decided::Fail(why) => {
                rows.insert(
                    id,
                    Row {
                        step: id,
                        decision: "-".into(),
                        outcome: Outcome::Failed(why),
                        took: Duration::ZERO,
                    },
                );
            }
        }
    }
    let to_run: Vec<StepId> = pending.iter().map(|(id, _, _)| *id).collect();
    let settled: Vec<(StepId, bool)> = rows
        .values()
        .map(|r| (r.step, r.outcome.satisfies()))
        .collect();
    let mut queue = schedule::Queue::new(&selected, &to_run, &settled, cx.settings.concurrency);
    let actions: HashMap<StepId, Action> = pending.iter().map(|(id, a, _)| (*id, *a)).collect();

    let mut running: JoinSet<(StepId, Result<String, String>, Duration)> = JoinSet::new();
    let mut cancelled = false;
    // While steps run, the first interrupt is graceful (see `interrupt`).
    let _graceful = crate::interrupt::graceful();
    let ctrl_c = crate::interrupt::wait();
    tokio::pin!(ctrl_c);

    loop {
        for verdict in queue.next() {
            match verdict {
                schedule::Verdict::NotRun(id, why) => {
                    rows.insert(
                        id,
                        Row {
                            step: id,
                            decision: actions[&id].label().into(),
                            outcome: Outcome::NotRun(why),
                            took: Duration::ZERO,
                        },
                    );
                }
                schedule::Verdict::Start(id) => {
                    crate::interrupt::changes_begin();
                    let action = actions[&id];
                    let step = built[&id].clone();
                    let cx2 = cx.clone();
                    running.spawn(async move {
                        let started = Instant::now();
                        let progress = cx2.ui.step_started(id.name(), action.label());
                        // A step that panics is a failed step with its message, not a lost row.
                        let result = match std::panic::AssertUnwindSafe(step.apply(&cx2, action))
                            .catch_unwind()
                            .await
                        {
                            Ok(r) => r.map_err(|e| error_text(&e)),
                            Err(panic) => Err(format!(
                                "internal error (a bug in deployctl): {}",
                                panic_message(panic.as_ref())
                            )),
                        };
                        progress.finish();
                        (id, result, started.elapsed())
                    });
                }
            }
        }
        if queue.is_done() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { continue };
                let (id, result, took) = match joined {
                    Ok(r) => r,
                    Err(e) => {
                        // Panics are caught inside the task; this is a task that was
                        // cancelled, which the scheduler never does.
                        cx.ui.warn(&format!("a step task ended abnormally: {e}"));
                        continue;
                    }
                };
                let action = actions[&id];
                let outcome = match result {
                    Ok(summary) => {
                        cx.ui.step_finished(id.name(), true, &match summary.split_once('\n') {
                            Some((first, rest)) => format!("{} ({first})\n{rest}", action.past()),
                            None => format!("{} ({summary})", action.past()),
                        }, took);
                        Outcome::Succeeded(summary)
                    }
                    Err(e) => {
                        // Its children were asked to stop: say so, not just "failed".
                        let e = if cancelled { format!("interrupted: {e}") } else { e };
                        cx.ui.step_finished(id.name(), false, &format!("failed: {e}"), took);
                        Outcome::Failed(e)
                    }
                };
                queue.finish(id, outcome.satisfies());
                rows.insert(id, Row { step: id, decision: action.label().into(), outcome, took });
            }
            _ = &mut ctrl_c, if !cancelled => {
                cancelled = true;
                queue.cancel();
                cx.ui.warn("interrupted: starting nothing new; waiting for running steps to finish or roll back");
            }
        }
    }
    let mut out: Vec<Row> = rows.into_values().collect();
    out.sort_by_key(|r| r.step.order());
    (out, cancelled)
}

/// The message of a panic payload (`panic!("…")` carries a &str or a String).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn report(cx: &Context, req: &Request, rows: &[Row], interrupted: bool) -> i32 {
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .collect();
    let not_run: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::NotRun(_)))
        .collect();
    let code = if interrupted {
        exit::INTERRUPTED
    } else if !failed.is_empty() || !not_run.is_empty() {
        exit::FAILED
    } else {
        exit::OK
    };
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let first_line: String = r
                .outcome
                .text()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            let first_line = if first_line.chars().count() > 90 {
                format!("{}…", first_line.chars().take(89).collect::<String>())
            } else {
                first_line
            };
            vec![
                r.step.name().to_string(),
                r.decision.clone(),
                format!("{}: {first_line}", r.outcome.label()),
                if r.took.is_zero() {
                    "-".into()
                } else {
                    human_duration(r.took)
                },
            ]
        })
        .collect();
    cx.ui.println("");
    cx.ui.println("Summary:");
    cx.ui.println(&table(
        &["step", "decision", "result", "duration"],
        &table_rows,
    ));
    for r in &failed {
        cx.ui
            .println(&format!("\n{} failed:\n  {}", r.step, r.outcome.text()));
    }
    let next = if !failed.is_empty() {
        let fix: Vec<String> = failed
            .iter()
            .map(|r| format!("`deployctl {}`", r.step))
            .collect();
        Some(format!(
            "fix the cause above, then run {}{}",
            fix.join(", "),
            if not_run.is_empty() {
                String::new()
            } else {
                format!(
                    " and `deployctl {}` for what did not run ({})",
                    req.command,
                    not_run
                        .iter()
                        .map(|r| r.step.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ))
    } else if interrupted || !not_run.is_empty() {
        Some(format!("run `deployctl {}` again to finish", req.command))
    } else {
        None
    };
    let mut summary = json!({
        "event": "summary",
        "command": req.command,
        "exit_code": code,
        "steps": rows.iter().map(|r| json!({
            "step": r.step.name(), "decision": r.decision, "result": r.outcome.label(),
            "message": r.outcome.text(), "duration_ms": r.took.as_millis() as u64,
        })).collect::<Vec<_>>(),
    });
    if code != exit::OK {
        let names = |rs: &[&Row]| {
            rs.iter()
                .map(|r| r.step.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let message = if interrupted {
            "interrupted".to_string()
        } else if failed.is_empty() {
            format!("did not run: {}", names(&not_run))
        } else {
            format!("failed: {}", names(&failed))
        };
        let check = if failed.is_empty() {
            names(&not_run)
        } else {
            names(&failed)
        };
        summary["error"] = json!({"message": message, "help": next, "check": check});
    }
    cx.ui.event(summary);
    if let Some(next) = &next {
        if interrupted && failed.is_empty() {
            cx.ui.println(&format!("\ninterrupted: {next}"));
        } else if !failed.is_empty() {
            cx.ui.println(&format!("\nnext: {next}"));
        }
    }
    code
}

/// The `plan` event of one step: its state, what the run does and why (emitted by `plan`
/// and, before anything starts, by every run).
fn plan_event(id: StepId, state: &str, action: &str, why: &str) -> serde_json::Value {
    json!({"event": "plan", "step": id.name(), "state": state, "action": action, "why": why})
}

/// Plan mode output: state, the action a run would take, and why.
fn print_plan(
    cx: &Context,
    decided: &[(StepId, Decided, String)],
    states: &HashMap<StepId, Result<State, String>>,
) {
    let rows: Vec<Vec<String>> = decided
        .iter()
        .map(|(id, d, _)| {
            let state = match &states[id] {
                Ok(s) if s.detail().is_empty() => s.label().to_string(),
                Ok(s) => format!("{} ({})", s.label(), s.detail()),
                Err(_) => "unknown".into(),
            };
            let (action, why) = match d {
                Decided::Run(a, why) => (a.label().to_string(), why.clone()),
                Decided::Skip(why) => ("skip".into(), why.clone()),
                Decided::Fail(why) => ("error".into(), why.clone()),
            };
            cx.ui.event(plan_event(*id, &state, &action, &why));
            vec![id.name().to_string(), state, action, why]
        })
        .collect();
    cx.ui
        .println(&table(&["step", "state", "action", "why"], &rows));
}

/// Run a request end to end; returns the exit code.
pub async fn run(cx: Arc<Context>, prompter: Arc<dyn Prompter>, req: Request) -> Result<i32> {
    let done = run_steps(&cx, prompter, req).await;
    // Success, failure or a graceful interrupt: the tunnel closes here.
    cx.close().await;
    done
}

async fn run_steps(cx: &Arc<Context>, prompter: Arc<dyn Prompter>, req: Request) -> Result<i32> {
    let cx = cx.clone();
    let selected = select(&cx, &req)?;
    let preconditions = if cx.settings.with_deps {
        Vec::new()
    } else {
        graph::unselected_needs(&selected)
    };
    let unbuilt_needs: Vec<String> = preconditions
        .iter()
        .filter(|(n, _)| steps::build(*n).is_none())
        .map(|(n, by)| format!("{by} needs {n}"))
        .collect();
    if !unbuilt_needs.is_empty() {
        return Err(UserError::usage(
            format!(
                "`{}` is not built yet: {} (not yet ported, so it cannot be checked)",
                req.command,
                unbuilt_needs.join(", ")
            ),
            "see `deployctl list` for the steps that work today",
        )
        .into());
    }
    let mut assessed: Vec<StepId> = selected.clone();
    assessed.extend(preconditions.iter().map(|(n, _)| *n));
    let assessed = graph::normalise(assessed);
    let built: HashMap<StepId, Arc<dyn Step>> = assessed
        .iter()
        .filter_map(|id| steps::build(*id).map(|s| (*id, s)))
        .collect();

    preflight(&cx, &assessed).await?;
    let states = assess_all(&cx, &built, &assessed).await;

    // Needs that are not selected must already be in place.
    let mut unmet = Vec::new();
    for (need, by) in &preconditions {
        match &states[need] {
            Ok(State::Healthy(_)) | Ok(State::Stateless) => {}
            Ok(s) => unmet.push(format!(
                "{by} needs {need}, which is {}{}: run `deployctl {need}`",
                s.label(),
                if s.detail().is_empty() || matches!(s, State::Missing) {
                    String::new()
                } else {
                    format!(" ({})", s.detail())
                }
            )),
            Err(e) => unmet.push(format!("{by} needs {need}, which cannot be checked: {e}")),
        }
    }
    if !unmet.is_empty() {
        return Err(UserError::failed(
            format!(
                "dependencies are not in place; nothing was changed:\n  {}",
                unmet.join("\n  ")
            ),
            format!(
                "run the commands above first, or `deployctl {} --with-deps` to include them",
                req.command
            ),
        )
        .into());
    }

    let resumed = if cx.settings.resume && req.mode == Mode::Run {
        match crate::journal::resumable(&cx.settings, cx.known_account().as_deref(), &req.command) {
            Ok(steps) => steps,
            Err(why) => {
                cx.ui
                    .warn(&format!("--resume: {why}; running every selected step"));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let Some(decided) = decide_all(
        &cx, &prompter, &built, &selected, &states, req.mode, &resumed,
    )
    .await?
    else {
        // Q at the menu: the same as Ctrl-C at any question (see `lib::quit`).
        return Err(crate::prompt::Quit.into());
    };

    if req.mode == Mode::Plan {
        print_plan(&cx, &decided, &states);
        // A step a run could not even start is a problem the plan must not hide.
        let errors: Vec<&str> = decided
            .iter()
            .filter(|(_, d, _)| matches!(d, Decided::Fail(_)))
            .map(|(id, _, _)| id.name())
            .collect();
        if errors.is_empty() {
            return Ok(exit::OK);
        }
        for (id, d, _) in &decided {
            if let Decided::Fail(why) = d {
                cx.ui.println(&format!("\n{id} cannot run:\n  {why}"));
            }
        }
        cx.ui.event(json!({
            "event": "summary", "command": req.command, "exit_code": exit::FAILED,
            "error": {
                "message": format!("cannot run: {}", errors.join(", ")),
                "help": format!("fix the cause above, then run `deployctl plan {}` again", req.command),
                "check": errors.join(", "),
            },
        }));
        return Ok(exit::FAILED);
    }
    for (id, d, state) in &decided {
        let (action, why) = match d {
            Decided::Run(a, why) => (a.label(), why.as_str()),
            Decided::Skip(why) => ("skip", why.as_str()),
            Decided::Fail(why) => ("error", why.as_str()),
        };
        cx.ui.event(plan_event(*id, state, action, why));
    }
    if cx.ui.verbosity() >= 0 && !cx.ui.json() {
        let plan: Vec<String> = decided
            .iter()
            .map(|(id, d, _)| match d {
                Decided::Run(a, _) => format!("{id}: {}", a.label()),
                Decided::Skip(_) => format!("{id}: skip"),
                Decided::Fail(_) => format!("{id}: error"),
            })
            .collect();
        cx.ui.println(&format!("Plan: {}", plan.join(", ")));
    }
    let (rows, interrupted) = execute(&cx, &built, decided).await;
    let code = report(&cx, &req, &rows, interrupted);
    let journal = crate::journal::Journal {
        command: req.command.clone(),
        cluster: cx.settings.cluster.clone(),
        finished_at: crate::ui::timestamp(),
        exit_code: code,
        steps: rows
            .iter()
            .map(|r| (r.step.name().to_string(), r.outcome.label().to_lowercase()))
            .collect(),
    };
    if let Err(e) = crate::journal::save(&cx.settings, cx.known_account().as_deref(), &journal) {
        cx.ui
            .warn(&format!("cannot record this run for --resume: {e:#}"));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::GlobalArgs;
    use crate::config::{Env, Settings, Terminal};
    use crate::ui::Ui;
    use StepId::*;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Log {
        events: Mutex<Vec<(StepId, &'static str)>>,
        running: AtomicUsize,
        max_running: AtomicUsize,
    }

    struct Probe {
        id: StepId,
        fail: bool,
        log: Arc<Log>,
    }

    #[async_trait]
    impl Step for Probe {
        fn id(&self) -> StepId {
            self.id
        }
        fn resource(&self, _cx: &Context) -> String {
            self.id.to_string()
        }
        async fn assess(&self, _cx: &Context) -> Result<State> {
            Ok(State::Missing)
        }
        async fn apply(&self, _cx: &Context, _action: Action) -> Result<String> {
            self.log.events.lock().unwrap().push((self.id, "start"));
            let now = self.log.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.log.max_running.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            self.log.running.fetch_sub(1, Ordering::SeqCst);
            self.log.events.lock().unwrap().push((self.id, "end"));
            if self.fail {
                anyhow::bail!("{} broke", self.id)
            }
            Ok("fine".into())
        }
        async fn view(&self, _cx: &Context) -> Result<String> {
            Ok(String::new())
        }
    }

    fn context(concurrency: u16) -> Arc<Context> {
        let args = GlobalArgs {
            concurrency: Some(concurrency),
            ..Default::default()
        };
        let term = Terminal {
            stdin: false,
            stdout: false,
            stderr: false,
        };
        let settings = Settings::resolve(&args, &Env::default(), term).unwrap();
        Arc::new(Context::new(settings, Ui::silent()))
    }

    async fn run_probes(
        ids: &[StepId],
        failing: &[StepId],
        concurrency: u16,
    ) -> (HashMap<StepId, Row>, Arc<Log>) {
        let log = Arc::new(Log::default());
        let built: HashMap<StepId, Arc<dyn Step>> = ids
            .iter()
            .map(|id| {
                let step: Arc<dyn Step> = Arc::new(Probe {
                    id: *id,
                    fail: failing.contains(id),
                    log: log.clone(),
                });
                (*id, step)
            })
            .collect();
        let decided = ids
            .iter()
            .map(|id| {
                (
                    *id,
                    Decided::Run(Action::Create, String::new()),
                    String::new(),
                )
            })
            .collect();
        let (rows, interrupted) = execute(&context(concurrency), &built, decided).await;
        assert!(!interrupted);
        (rows.into_iter().map(|r| (r.step, r)).collect(), log)
    }

    fn position(log: &Log, id: StepId, what: &str) -> usize {
        log.events
            .lock()
            .unwrap()
            .iter()
            .position(|e| *e == (id, what))
            .unwrap_or_else(|| panic!("{id} never {what}"))
    }

    #[tokio::test]
    async fn a_step_starts_only_after_its_needs_finish() {
        let ids = [
            HelmRepos,
            Namespaces,
            Irsa,
            Secrets,
            ExternalSecrets,
            SecretStores,
            Redis,
        ];
        let (rows, log) = run_probes(&ids, &[], 4).await;
        assert!(
            rows.values()
                .all(|r| matches!(r.outcome, Outcome::Succeeded(_)))
        );
        for id in ids {
            for need in id.def().needs {
                assert!(
                    position(&log, *need, "end") < position(&log, id, "start"),
                    "{id} started before {need} finished"
                );
            }
        }
    }

    #[tokio::test]
    async fn independent_steps_run_in_parallel_up_to_the_limit() {
        let ids = [Irsa, Secrets, HelmRepos, Namespaces];
        let (_, log) = run_probes(&ids, &[], 4).await;
        assert_eq!(log.max_running.load(Ordering::SeqCst), 4);
        let (_, log) = run_probes(&ids, &[], 2).await;
        assert_eq!(log.max_running.load(Ordering::SeqCst), 2);
        let (_, log) = run_probes(&ids, &[], 1).await;
        assert_eq!(log.max_running.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failure_stops_its_dependents_not_its_neighbours() {
        let ids = [
            HelmRepos,
            Namespaces,
            Irsa,
            Secrets,
            ExternalSecrets,
            SecretStores,
            Gatekeeper,
            Monitoring,
            Jaeger,
            Redis,
            Litellm,
            Openwebui,
            Verify,
        ];
        let (rows, _) = run_probes(&ids, &[Redis], 4).await;
        assert!(matches!(rows[&Redis].outcome, Outcome::Failed(_)));
        for id in [Litellm, Openwebui] {
            assert!(
                matches!(rows[&id].outcome, Outcome::NotRun(_)),
                "{id}: {:?}",
                rows[&id].outcome
            );
        }
        for id in [Monitoring, Jaeger, Gatekeeper, SecretStores] {
            assert!(matches!(rows[&id].outcome, Outcome::Succeeded(_)), "{id}");
        }
        // Verification still runs, after everything else.
        assert!(matches!(rows[&Verify].outcome, Outcome::Succeeded(_)));
    }

    #[tokio::test]
    async fn validation_gates_every_other_step() {
        let (rows, log) = run_probes(&[Validate, Namespaces, HelmRepos], &[Validate], 4).await;
        assert!(matches!(rows[&Namespaces].outcome, Outcome::NotRun(_)));
        assert!(matches!(rows[&HelmRepos].outcome, Outcome::NotRun(_)));
        assert_eq!(log.events.lock().unwrap().len(), 2, "only validate ran");
    }
}
