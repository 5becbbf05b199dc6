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

impl Decided {
    /// What a run does with the step ("install", "skip", "error") and why.
    pub(super) fn action_and_why(&self) -> (&str, &str) {
        match self {
            Decided::Run { action, why, .. } => (action.label(), why),
            Decided::Skip(why) => ("skip", why),
            Decided::Fail(why) => ("error", why),
        }
    }
}

/// The decide loop's conclusion for one selected step.
pub(super) struct StepDecision {
    pub id: StepId,
    pub decided: Decided,
    /// The assessed state's label ("error" when it could not be assessed), for plan events.
    pub state: &'static str,
}

/// What the decide phase reads: the run, its steps and what assessment found.
pub(super) struct Asking<'a> {
    pub cx: &'a Arc<Context>,
    pub prompter: &'a Arc<dyn Prompter>,
    pub built: &'a HashMap<StepId, Arc<dyn Step>>,
    pub selected: &'a [StepId],
    pub survey: &'a Survey,
    pub mode: Mode,
    /// Steps that succeeded in the interrupted run (`--resume`).
    pub resumed: &'a [String],
}

/// A step's question answered: the decision to carry on with, or the operator quit.
enum Answered {
    /// `proceed`: the operator pressed Proceed (follow-up questions about the resource are
    /// welcome in `prepare`).
    Decision {
        decision: Decision,
        proceed: bool,
    },
    Quit,
}

impl Answered {
    fn again(asked: &Decision) -> Self {
        Answered::Decision {
            decision: asked.clone(),
            proceed: false,
        }
    }
}

/// Walk the steps in order and decide each; prompts happen here and only here.
/// `Ok(None)`: the operator quit.
pub(super) async fn decide_all(a: Asking<'_>) -> Result<Option<Vec<StepDecision>>> {
    let mut policy = Policy {
        interactive: a.cx.settings.interactive && a.mode == Mode::Run && a.prompter.interactive(),
        auto_skip_healthy: a.cx.settings.auto_skip_healthy,
        skip_all: a.cx.settings.skip_all,
    };
    let mut out = Vec::new();
    // Skipping healthy steps that others need is worth one warning, not one per step.
    let mut skip_warnings: Vec<String> = Vec::new();
    for id in a.selected {
        let state = match &a.survey.states[id] {
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
        let decided =
            if a.resumed.iter().any(|r| r == id.name()) && matches!(state, State::Healthy(_)) {
                Decided::Skip("succeeded in the interrupted run (--resume)".into())
            } else {
                match a
                    .decide_one(*id, state, &mut policy, &mut skip_warnings)
                    .await?
                {
                    Some(decided) => decided,
                    None => return Ok(None),
                }
            };
        out.push(StepDecision {
            id: *id,
            decided,
            state: state.label(),
        });
    }
    if !skip_warnings.is_empty() {
        a.cx.ui.warn(&format!(
            "skipping without a change: {}",
            skip_warnings.join("; ")
        ));
    }
    Ok(Some(out))
}

impl Asking<'_> {
    /// One step: the policy's decision, asked about while it is a question, then prepared
    /// when it runs. `Ok(None)`: the operator quit.
    async fn decide_one(
        &self,
        id: StepId,
        state: &State,
        policy: &mut Policy,
        skip_warnings: &mut Vec<String>,
    ) -> Result<Option<Decided>> {
        let dependents = graph::dependents_in(id, self.selected);
        let facts = Facts {
            step: id,
            state,
            critical: id.def().critical,
            dependents: &dependents,
        };
        let mut decision = decide::decide(&facts, *policy);
        let mut chose_proceed = false;
        loop {
            decision = match decision {
                Decision::Run { action, why } => {
                    return self
                        .prepare(id, state, action, why, chose_proceed, *policy)
                        .await;
                }
                Decision::Skip { why, warning } => {
                    if let Some(w) = warning
                        && self.mode == Mode::Run
                    {
                        skip_warnings.push(w);
                    }
                    return Ok(Some(Decided::Skip(why)));
                }
                Decision::Ask { default, .. } if self.mode == Mode::Plan || !policy.interactive => {
                    let enter = if default == Choice::Skip {
                        "skip"
                    } else {
                        "proceed"
                    };
                    return Ok(Some(Decided::Skip(format!(
                        "exists; a run asks (Enter = {enter})"
                    ))));
                }
                Decision::Ask { .. } => {
                    match self.ask(id, state, &facts, &decision, policy).await? {
                        Answered::Quit => return Ok(None),
                        Answered::Decision { decision, proceed } => {
                            chose_proceed = proceed;
                            decision
                        }
                    }
                }
            };
        }
    }

    /// The step's `prepare`, awaited with the terminal quiet (it may ask for input).
    async fn prepare(
        &self,
        id: StepId,
        state: &State,
        action: Action,
        why: String,
        chose_proceed: bool,
        policy: Policy,
    ) -> Result<Option<Decided>> {
        let in_place = InPlace(self.prompter.as_ref());
        let asker: Option<&dyn Prompter> = if policy.interactive && self.mode == Mode::Run {
            Some(&in_place)
        } else {
            None
        };
        let prepared = {
            let _quiet = self.cx.ui.quiet();
            self.built[&id]
                .prepare(
                    self.cx,
                    state,
                    &self.survey.findings[&id],
                    asker,
                    chose_proceed,
                )
                .await
        };
        Ok(Some(match prepared {
            Ok(steps::Prepared::Run(found)) => Decided::Run { action, why, found },
            Ok(steps::Prepared::Skip(why)) => Decided::Skip(why),
            Ok(steps::Prepared::Quit) => return Ok(None),
            // Bad input (a usage error) stops the run before anything starts, with exit 2,
            // like any other usage error.
            Err(e) if crate::error::code_of(&e) == exit::USAGE => return Err(e),
            // Ctrl-C / Ctrl-D at a question asked while preparing: quit.
            Err(e) if crate::prompt::is_quit(&e) => return Err(e),
            Err(e) => Decided::Fail(error_text(&e)),
        }))
    }

    /// One question at the menu and what its answer makes of `asked` (the same question
    /// again after View, a refused skip or a warning).
    async fn ask(
        &self,
        id: StepId,
        state: &State,
        facts: &Facts<'_>,
        asked: &Decision,
        policy: &mut Policy,
    ) -> Result<Answered> {
        let Decision::Ask {
            default,
            skip_refused,
            skip_warning,
        } = asked
        else {
            return Ok(Answered::again(asked));
        };
        let step = &self.built[&id];
        let resource = step.resource(self.cx);
        let q = Question {
            resource: &resource,
            exists: step.exists(),
            state,
            default: *default,
            skip_refused: skip_refused.as_deref(),
            proceed_does: step.proceed_does(state),
        };
        let key = self
            .cx
            .ui
            .suspend(|| InPlace(self.prompter.as_ref()).choose(&q))?;
        let choice = match key {
            Key::Quit => return Ok(Answered::Quit),
            Key::View => {
                let details = match step.view(self.cx).await {
                    Ok(d) => d,
                    Err(e) => format!("  cannot show details: {}", error_text(&e)),
                };
                self.prompter.say(&details);
                return Ok(Answered::again(asked));
            }
            Key::Auto => {
                policy.auto_skip_healthy = true;
                return Ok(Answered::Decision {
                    decision: decide::decide(facts, *policy),
                    proceed: false,
                });
            }
            Key::Skip => Choice::Skip,
            Key::Proceed => Choice::Proceed,
        };
        match decide::answer(facts, choice) {
            // The warning is shown here, at the prompt, not again at the end.
            Ok(Decision::Skip { why, .. }) => {
                if let (Some(w), None) = (skip_warning, skip_refused) {
                    self.prompter.say(&format!("  warning: {w}"));
                }
                Ok(Answered::Decision {
                    decision: Decision::Skip { why, warning: None },
                    proceed: false,
                })
            }
            Ok(other) => Ok(Answered::Decision {
                decision: other,
                proceed: choice == Choice::Proceed,
            }),
            Err(refusal) => {
                self.prompter.say(&format!("  cannot skip: {refusal}"));
                Ok(Answered::again(asked))
            }
        }
    }
}

/// A prompter whose questions wait for the operator without holding up the runtime's other
/// tasks (the terminal read blocks; `block_in_place` hands this worker's tasks to another).
struct InPlace<'a>(&'a dyn Prompter);

impl Prompter for InPlace<'_> {
    fn interactive(&self) -> bool {
        self.0.interactive()
    }
    fn choose(&self, q: &Question) -> Result<Key> {
        tokio::task::block_in_place(|| self.0.choose(q))
    }
    fn confirm(&self, message: &str) -> Result<bool> {
        tokio::task::block_in_place(|| self.0.confirm(message))
    }
    fn typed(&self, message: &str, expected: &str) -> Result<bool> {
        tokio::task::block_in_place(|| self.0.typed(message, expected))
    }
    fn secret(&self, message: &str) -> Result<Option<secrecy::SecretString>> {
        tokio::task::block_in_place(|| self.0.secret(message))
    }
    fn say(&self, text: &str) {
        self.0.say(text)
    }
}
