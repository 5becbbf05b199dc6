//! One run: preflight → assess (concurrently, read-only) → decide (every question asked here,
//! before any change) → execute (a DAG scheduler) → report.

mod ask;
mod execute;
mod report;
mod schedule;

pub use schedule::waits_for;

use crate::preflight::preflight;
use ask::{Asking, Decided, StepDecision, decide_all};
use execute::execute;
use report::{announce, plan_report, report};

use crate::context::Context;
use crate::decide::{self, Action, Choice, Decision, Facts, Policy, State};
use crate::error::{UserError, exit};
use crate::graph::{self, StepId};
use crate::prompt::{Key, Prompter, Question};
use crate::steps::{self, Step};
use crate::ui::{human_duration, table};
use anyhow::Result;
use futures::FutureExt;
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
    /// What the `secrets` command line asked (rotations, restoring deleted secrets).
    pub secrets: steps::secrets::SecretsOptions,
}

pub use crate::results::{Outcome, Row};

fn error_text(err: &anyhow::Error) -> String {
    let mut text = format!("{err:#}");
    if let Some(help) = crate::error::help_of(err) {
        text.push_str(&format!("\n    help: {help}"));
    }
    text
}

/// Which steps a request runs: its steps, with everything they need under --with-deps.
fn select(cx: &Context, req: &Request) -> Vec<StepId> {
    if cx.settings.with_deps {
        graph::with_dependencies(&req.steps)
    } else {
        graph::normalise(req.steps.clone())
    }
}

/// What assessing found: each step's state (or why it could not be assessed), and what each
/// step found for its later phases.
pub(super) struct Survey {
    pub states: HashMap<StepId, Result<State, String>>,
    pub findings: HashMap<StepId, steps::Findings>,
}

/// Assess every step concurrently (read-only).
async fn assess_all(
    cx: &Arc<Context>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    ids: &[StepId],
) -> Survey {
    let futures = ids.iter().map(|id| {
        let step = built[id].clone();
        let cx = cx.clone();
        let id = *id;
        async move {
            let started = Instant::now();
            let surveyed = step.survey(&cx).await.map_err(|e| error_text(&e));
            let (state, found) = match surveyed {
                Ok(a) => (Ok(a.state), a.found),
                Err(e) => (Err(e), steps::Findings::none()),
            };
            cx.ui.detail(&format!(
                "assessed {id} in {}: {}",
                human_duration(started.elapsed()),
                match &state {
                    Ok(s) => format!("{} {}", s.label(), s.detail()),
                    Err(e) => format!("error: {e}"),
                }
            ));
            (id, state, found)
        }
    });
    let mut states = HashMap::new();
    let mut findings = HashMap::new();
    for (id, state, found) in futures::future::join_all(futures).await {
        states.insert(id, state);
        findings.insert(id, found);
    }
    Survey { states, findings }
}

/// The message of a panic payload (`panic!("…")` carries a &str or a String).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Run a request end to end; returns the exit code.
pub async fn run(
    cx: Arc<Context>,
    prompter: Arc<dyn Prompter>,
    req: Request,
) -> Result<crate::error::ExitCode> {
    let done = run_steps(&cx, prompter, req).await;
    // Success, failure or a graceful interrupt: the tunnel closes here.
    cx.close().await;
    done
}

async fn run_steps(
    cx: &Arc<Context>,
    prompter: Arc<dyn Prompter>,
    req: Request,
) -> Result<crate::error::ExitCode> {
    let cx = cx.clone();
    let selected = select(&cx, &req);
    let preconditions = if cx.settings.with_deps {
        Vec::new()
    } else {
        graph::unselected_needs(&selected)
    };
    let mut assessed: Vec<StepId> = selected.clone();
    assessed.extend(preconditions.iter().map(|(n, _)| *n));
    let assessed = graph::normalise(assessed);
    let built: HashMap<StepId, Arc<dyn Step>> = assessed
        .iter()
        .map(|id| (*id, steps::build_for(*id, &req.secrets)))
        .collect();

    preflight(&cx, &assessed, crate::preflight::Purpose::Deploy).await?;
    let survey = assess_all(&cx, &built, &assessed).await;
    let states = &survey.states;

    unmet_needs(&preconditions, states, &req.command)?;
    let resumed = resumed_steps(&cx, &req);
    let Some(decided) = decide_all(Asking {
        cx: &cx,
        prompter: &prompter,
        built: &built,
        selected: &selected,
        survey: &survey,
        mode: req.mode,
        resumed: &resumed,
    })
    .await?
    else {
        // Q at the menu: the same as Ctrl-C at any question (see `lib::quit`).
        return Err(crate::prompt::Quit.into());
    };

    if req.mode == Mode::Plan {
        return Ok(plan_report(&cx, &built, &decided, states, &req.command).await);
    }
    announce(&cx, &decided);
    Ok(execute_and_report(&cx, &built, decided, &req).await)
}

/// Needs that are not selected must already be in place; otherwise nothing starts.
fn unmet_needs(
    preconditions: &[(StepId, StepId)],
    states: &HashMap<StepId, Result<State, String>>,
    command: &str,
) -> Result<()> {
    let mut unmet = Vec::new();
    for (need, by) in preconditions {
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
    if unmet.is_empty() {
        return Ok(());
    }
    Err(UserError::failed(
        format!(
            "dependencies are not in place; nothing was changed:\n  {}",
            unmet.join("\n  ")
        ),
        format!(
            "run the commands above first, or `deployctl {command} --with-deps` to include them"
        ),
    )
    .into())
}

/// `--resume`: the steps the journal says succeeded in the interrupted run of this command.
fn resumed_steps(cx: &Context, req: &Request) -> Vec<String> {
    if !(cx.settings.resume && req.mode == Mode::Run) {
        return Vec::new();
    }
    match crate::journal::resumable(&cx.settings, cx.known_account().as_deref(), &req.command) {
        Ok(steps) => steps,
        Err(why) => {
            cx.ui
                .warn(&format!("--resume: {why}; running every selected step"));
            Vec::new()
        }
    }
}

/// Execute what was decided and report it. The journal is written as steps end (exit code
/// 130 = unfinished), then once more with the run's end: a run stopped by force still leaves
/// what `--resume` needs.
async fn execute_and_report(
    cx: &Arc<Context>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    decided: Vec<StepDecision>,
    req: &Request,
) -> crate::error::ExitCode {
    let mut journal_failed = false;
    let mut record = |rows: &[&Row]| {
        if !journal_failed && let Err(e) = save_journal(cx, &req.command, rows, exit::INTERRUPTED) {
            journal_failed = true;
            cx.ui
                .warn(&format!("cannot record this run for --resume: {e:#}"));
        }
    };
    let (rows, interrupted) = execute(cx, built, decided, &mut record).await;
    let code = report(cx, req, &rows, interrupted);
    if let Err(e) = save_journal(cx, &req.command, &rows.iter().collect::<Vec<_>>(), code) {
        cx.ui
            .warn(&format!("cannot record this run for --resume: {e:#}"));
    }
    code
}

/// The run journal (`--resume`): each step's result so far.
fn save_journal(
    cx: &Context,
    command: &str,
    rows: &[&Row],
    code: crate::error::ExitCode,
) -> Result<()> {
    let journal = crate::journal::Journal {
        command: command.to_string(),
        cluster: cx.settings.cluster.clone(),
        finished_at: crate::ui::timestamp(),
        exit_code: code.0,
        steps: rows
            .iter()
            .map(|r| (r.step.name().to_string(), r.outcome.label().to_lowercase()))
            .collect(),
    };
    crate::journal::save(&cx.settings, cx.known_account().as_deref(), &journal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Env, Flags, Settings, Terminal};
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
        async fn apply(
            &self,
            _cx: &Context,
            _action: Action,
            _found: steps::Findings,
        ) -> Result<String> {
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
        let args = Flags {
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
            .map(|id| StepDecision {
                id: *id,
                decided: Decided::Run {
                    action: Action::Create,
                    why: String::new(),
                    found: steps::Findings::none(),
                },
                state: "missing",
            })
            .collect();
        let (rows, interrupted) =
            execute(&context(concurrency), &built, decided, &mut |_| {}).await;
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
