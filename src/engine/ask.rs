//! Decide: every step in graph order against the policy; the only place a run asks.

use super::*;

pub(super) enum Decided {
    /// Run with this action (the text says why), handing `apply` what `prepare` found.
    Run {
        action: Action,
        why: String,
        found: steps::Findings,
    },
    Skip(String),
    Fail(String),
}

/// The decide loop's conclusion for one selected step.
pub(super) struct StepDecision {
    pub id: StepId,
    pub decided: Decided,
    /// The assessed state's label ("error" when it could not be assessed), for plan events.
    pub state: &'static str,
}

/// Walk the steps in order and decide each; prompts happen here and only here.
/// `Ok(None)`: the operator quit.
pub(super) async fn decide_all(
    cx: &Arc<Context>,
    prompter: &Arc<dyn Prompter>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    selected: &[StepId],
    survey: &Survey,
    mode: Mode,
    resumed: &[String],
) -> Result<Option<Vec<StepDecision>>> {
    let mut policy = Policy {
        interactive: cx.settings.interactive && mode == Mode::Run && prompter.interactive(),
        auto_skip_healthy: cx.settings.auto_skip_healthy,
        skip_all: cx.settings.skip_all,
    };
    let mut out = Vec::new();
    // Skipping healthy steps that others need is worth one warning, not one per step.
    let mut skip_warnings: Vec<String> = Vec::new();
    for id in selected {
        let state = match &survey.states[id] {
            Ok(s) => s,
            Err(e) => {
                out.push(StepDecision {
                    id: *id,
                    decided: Decided::Fail(format!("cannot assess: {e}")),
                    state: "error",
                });
                continue;
            }
        };
        if resumed.iter().any(|r| r == id.name()) && matches!(state, State::Healthy(_)) {
            out.push(StepDecision {
                id: *id,
                decided: Decided::Skip("succeeded in the interrupted run (--resume)".into()),
                state: state.label(),
            });
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
                                &survey.findings[id],
                                asker,
                                chose_proceed,
                            ))
                        })
                    });
                    let decided = match prepared {
                        Ok(steps::Prepared::Run(found)) => Decided::Run { action, why, found },
                        Ok(steps::Prepared::Skip(why)) => Decided::Skip(why),
                        Ok(steps::Prepared::Quit) => return Ok(None),
                        // Bad input (a usage error) stops the run before anything starts,
                        // with exit 2, like any other usage error.
                        Err(e) if crate::error::code_of(&e) == exit::USAGE => return Err(e),
                        // Ctrl-C / Ctrl-D at a question asked while preparing: quit.
                        Err(e) if crate::prompt::is_quit(&e) => return Err(e),
                        Err(e) => Decided::Fail(error_text(&e)),
                    };
                    out.push(StepDecision {
                        id: *id,
                        decided,
                        state: state.label(),
                    });
                    break;
                }
                Decision::Skip { why, warning } => {
                    if let Some(w) = warning
                        && mode == Mode::Run
                    {
                        skip_warnings.push(w);
                    }
                    out.push(StepDecision {
                        id: *id,
                        decided: Decided::Skip(why),
                        state: state.label(),
                    });
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
                        out.push(StepDecision {
                            id: *id,
                            decided: Decided::Skip(why),
                            state: state.label(),
                        });
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
    if !skip_warnings.is_empty() {
        cx.ui.warn(&format!(
            "skipping without a change: {}",
            skip_warnings.join("; ")
        ));
    }
    Ok(Some(out))
}
