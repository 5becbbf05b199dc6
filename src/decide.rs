//! The decision policy (README "Prompts and decisions") as pure functions: (state,
//! criticality, dependents, mode) → run, skip or ask; and (an operator's answer) → run, skip
//! or a refusal.

use crate::graph::StepId;

/// What assess found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The resource does not exist.
    Missing,
    /// It exists but is not right; the text says why.
    Unhealthy(String),
    /// It exists and is healthy; the text summarises it.
    Healthy(String),
    /// Nothing to assess (validation, verification): always runs.
    Stateless,
}

impl State {
    pub fn label(&self) -> &'static str {
        match self {
            State::Missing => "missing",
            State::Unhealthy(_) => "unhealthy",
            State::Healthy(_) => "healthy",
            State::Stateless => "-",
        }
    }
    pub fn detail(&self) -> &str {
        match self {
            State::Unhealthy(d) | State::Healthy(d) => d,
            State::Missing => "does not exist",
            State::Stateless => "",
        }
    }
}

/// What a run does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Upgrade,
    Repair,
    /// Stateless steps: validation and verification.
    Run,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Upgrade => "upgrade",
            Action::Repair => "repair",
            Action::Run => "run",
        }
    }
    pub fn past(self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Upgrade => "upgraded",
            Action::Repair => "repaired",
            Action::Run => "done",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Skip,
    Proceed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run {
        action: Action,
        why: String,
    },
    Skip {
        why: String,
        warning: Option<String>,
    },
    /// Ask the operator; `default` is what Enter means.
    Ask {
        default: Choice,
        /// Why Skip is refused, when it is.
        skip_refused: Option<String>,
        /// What to warn about when the operator skips.
        skip_warning: Option<String>,
    },
}

/// The facts about one step that the policy looks at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub step: StepId,
    pub state: &'a State,
    pub critical: bool,
    /// Selected steps that need this one.
    pub dependents: &'a [StepId],
}

/// The operator's standing instructions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub interactive: bool,
    /// AUTO_SKIP_HEALTHY, or the operator pressed A.
    pub auto_skip_healthy: bool,
    /// SKIP_ALL.
    pub skip_all: bool,
}

fn names(ids: &[StepId]) -> String {
    ids.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// "litellm needs" / "litellm, openwebui need".
fn need(ids: &[StepId]) -> String {
    format!(
        "{} {}",
        names(ids),
        if ids.len() == 1 { "needs" } else { "need" }
    )
}

/// The warning to show before skipping, if any (deploy.sh's warning before a skip).
fn skip_warning(f: &Facts) -> Option<String> {
    match (f.critical, f.dependents.is_empty()) {
        (true, true) => Some(format!("{} is critical", f.step)),
        (true, false) => Some(format!(
            "{} is critical: {} it in this run",
            f.step,
            need(f.dependents)
        )),
        (false, false) => Some(format!("{} {} in this run", need(f.dependents), f.step)),
        (false, true) => None,
    }
}

/// Why an unhealthy step cannot be skipped, if it cannot.
fn unhealthy_skip_refusal(f: &Facts) -> Option<String> {
    if f.critical {
        Some(format!(
            "{} is critical and unhealthy: it must be repaired",
            f.step
        ))
    } else if !f.dependents.is_empty() {
        Some(format!(
            "{} is unhealthy and {} it in this run",
            f.step,
            need(f.dependents)
        ))
    } else {
        None
    }
}

/// The decision before any question: run, skip, or ask.
pub fn decide(f: &Facts, p: Policy) -> Decision {
    match f.state {
        State::Stateless => Decision::Run {
            action: Action::Run,
            why: "always runs".into(),
        },
        State::Missing => Decision::Run {
            action: Action::Create,
            why: "does not exist".into(),
        },
        State::Unhealthy(why) => {
            let refused = unhealthy_skip_refusal(f);
            if p.interactive && !p.auto_skip_healthy {
                Decision::Ask {
                    default: Choice::Proceed,
                    skip_warning: Some(format!("{} stays unhealthy: {why}", f.step)),
                    skip_refused: refused,
                }
            } else {
                Decision::Run {
                    action: Action::Repair,
                    why: format!("unhealthy: {why}"),
                }
            }
        }
        State::Healthy(_) => {
            if p.auto_skip_healthy || p.skip_all {
                let why = if p.skip_all {
                    "healthy (SKIP_ALL)"
                } else {
                    "healthy (auto-skip)"
                };
                Decision::Skip {
                    why: why.into(),
                    warning: skip_warning(f),
                }
            } else if p.interactive {
                Decision::Ask {
                    default: Choice::Skip,
                    skip_refused: None,
                    skip_warning: skip_warning(f),
                }
            } else {
                Decision::Run {
                    action: Action::Upgrade,
                    why: "healthy; non-interactive runs re-apply (idempotent)".into(),
                }
            }
        }
    }
}

/// The decision after the operator answered Skip or Proceed. `Err` is a refused Skip with
/// its reason (the prompt then asks again).
pub fn answer(f: &Facts, choice: Choice) -> Result<Decision, String> {
    match choice {
        Choice::Proceed => Ok(Decision::Run {
            action: match f.state {
                State::Missing => Action::Create,
                State::Unhealthy(_) => Action::Repair,
                State::Healthy(_) => Action::Upgrade,
                State::Stateless => Action::Run,
            },
            why: "operator chose Proceed".into(),
        }),
        Choice::Skip => match f.state {
            State::Missing => Err(format!("{} does not exist: it cannot be skipped", f.step)),
            State::Stateless => Err(format!("{} always runs", f.step)),
            State::Unhealthy(why) => match unhealthy_skip_refusal(f) {
                Some(refusal) => Err(refusal),
                None => Ok(Decision::Skip {
                    why: "operator chose Skip".into(),
                    warning: Some(format!("{} stays unhealthy: {why}", f.step)),
                }),
            },
            State::Healthy(_) => Ok(Decision::Skip {
                why: "operator chose Skip".into(),
                warning: skip_warning(f),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepId::*;

    /// A compact rendering of a decision for the tables below.
    fn code(d: &Decision) -> String {
        match d {
            Decision::Run { action, .. } => format!("run:{}", action.label()),
            Decision::Skip { warning, .. } => {
                if warning.is_some() {
                    "skip!warn".into()
                } else {
                    "skip".into()
                }
            }
            Decision::Ask {
                default,
                skip_refused,
                skip_warning,
            } => {
                let mut s = format!(
                    "ask:{}",
                    if *default == Choice::Skip {
                        "skip"
                    } else {
                        "proceed"
                    }
                );
                if skip_refused.is_some() {
                    s.push_str("!refuse");
                } else if skip_warning.is_some() {
                    s.push_str("!warn");
                }
                s
            }
        }
    }

    const INTERACTIVE: Policy = Policy {
        interactive: true,
        auto_skip_healthy: false,
        skip_all: false,
    };
    const NON_INTERACTIVE: Policy = Policy {
        interactive: false,
        auto_skip_healthy: false,
        skip_all: false,
    };
    const AUTO_SKIP: Policy = Policy {
        interactive: true,
        auto_skip_healthy: true,
        skip_all: false,
    };
    const AUTO_SKIP_CI: Policy = Policy {
        interactive: false,
        auto_skip_healthy: true,
        skip_all: false,
    };
    const SKIP_ALL: Policy = Policy {
        interactive: false,
        auto_skip_healthy: false,
        skip_all: true,
    };

    fn check(rows: &[(&str, bool, Policy, bool, &str)]) {
        for (state, critical, policy, deps, want) in rows {
            let state = match *state {
                "missing" => State::Missing,
                "unhealthy" => State::Unhealthy("status failed".into()),
                "healthy" => State::Healthy("deployed".into()),
                _ => State::Stateless,
            };
            let dependents: &[StepId] = if *deps { &[Litellm] } else { &[] };
            let f = Facts {
                step: Redis,
                state: &state,
                critical: *critical,
                dependents,
            };
            assert_eq!(
                code(&decide(&f, *policy)),
                *want,
                "state {state:?} critical {critical} policy {policy:?} dependents {deps}"
            );
        }
    }

    #[test]
    fn missing_always_runs_create() {
        for policy in [
            INTERACTIVE,
            NON_INTERACTIVE,
            AUTO_SKIP,
            AUTO_SKIP_CI,
            SKIP_ALL,
        ] {
            for critical in [true, false] {
                for deps in [true, false] {
                    check(&[("missing", critical, policy, deps, "run:create")]);
                }
            }
        }
    }

    #[test]
    fn unhealthy_critical_repairs_and_skip_is_refused() {
        check(&[
            ("unhealthy", true, INTERACTIVE, false, "ask:proceed!refuse"),
            ("unhealthy", true, INTERACTIVE, true, "ask:proceed!refuse"),
            ("unhealthy", true, NON_INTERACTIVE, false, "run:repair"),
            ("unhealthy", true, NON_INTERACTIVE, true, "run:repair"),
            ("unhealthy", true, AUTO_SKIP, true, "run:repair"),
            ("unhealthy", true, AUTO_SKIP_CI, false, "run:repair"),
            ("unhealthy", true, SKIP_ALL, false, "run:repair"),
        ]);
    }

    #[test]
    fn unhealthy_non_critical_asks_with_proceed_default() {
        check(&[
            ("unhealthy", false, INTERACTIVE, false, "ask:proceed!warn"),
            // A selected step needs it: skip refused.
            ("unhealthy", false, INTERACTIVE, true, "ask:proceed!refuse"),
            ("unhealthy", false, NON_INTERACTIVE, false, "run:repair"),
            ("unhealthy", false, NON_INTERACTIVE, true, "run:repair"),
            ("unhealthy", false, AUTO_SKIP, false, "run:repair"),
            ("unhealthy", false, AUTO_SKIP_CI, true, "run:repair"),
            ("unhealthy", false, SKIP_ALL, false, "run:repair"),
        ]);
    }

    #[test]
    fn healthy_asks_interactively_and_upgrades_otherwise() {
        check(&[
            ("healthy", false, INTERACTIVE, false, "ask:skip"),
            ("healthy", false, INTERACTIVE, true, "ask:skip!warn"),
            ("healthy", true, INTERACTIVE, false, "ask:skip!warn"),
            ("healthy", false, NON_INTERACTIVE, false, "run:upgrade"),
            ("healthy", true, NON_INTERACTIVE, true, "run:upgrade"),
            ("healthy", false, AUTO_SKIP, false, "skip"),
            ("healthy", true, AUTO_SKIP, false, "skip!warn"),
            ("healthy", false, AUTO_SKIP_CI, true, "skip!warn"),
            ("healthy", false, AUTO_SKIP_CI, false, "skip"),
            ("healthy", false, SKIP_ALL, false, "skip"),
            ("healthy", true, SKIP_ALL, true, "skip!warn"),
        ]);
    }

    #[test]
    fn stateless_steps_always_run() {
        for policy in [INTERACTIVE, NON_INTERACTIVE, AUTO_SKIP, SKIP_ALL] {
            check(&[("stateless", false, policy, false, "run:run")]);
        }
    }

    #[test]
    fn answers() {
        let healthy = State::Healthy("ok".into());
        let unhealthy = State::Unhealthy("failed".into());
        let f = |state, critical, dependents| Facts {
            step: Redis,
            state,
            critical,
            dependents,
        };
        // Skip a healthy step: allowed, warned when critical.
        assert_eq!(
            code(&answer(&f(&healthy, false, &[]), Choice::Skip).unwrap()),
            "skip"
        );
        assert_eq!(
            code(&answer(&f(&healthy, true, &[]), Choice::Skip).unwrap()),
            "skip!warn"
        );
        // Proceed on healthy upgrades, on unhealthy repairs.
        assert_eq!(
            code(&answer(&f(&healthy, false, &[]), Choice::Proceed).unwrap()),
            "run:upgrade"
        );
        assert_eq!(
            code(&answer(&f(&unhealthy, false, &[]), Choice::Proceed).unwrap()),
            "run:repair"
        );
        // Skip on unhealthy: refused when critical or needed, warned otherwise.
        assert!(answer(&f(&unhealthy, true, &[]), Choice::Skip).is_err());
        assert!(answer(&f(&unhealthy, false, &[Litellm]), Choice::Skip).is_err());
        assert_eq!(
            code(&answer(&f(&unhealthy, false, &[]), Choice::Skip).unwrap()),
            "skip!warn"
        );
        assert!(answer(&f(&State::Missing, false, &[]), Choice::Skip).is_err());
    }
}
