//! Execute: what the pure queue (`schedule`) lets start is spawned, each step's end and
//! the interrupt are reported back to it.

use super::*;

/// Run the decided steps: each starts once its selected needs succeeded or were skipped.
///
/// `record` is called with every row known so far each time a step ends (the journal is
/// written as the run goes, so even a run ended by force leaves one for `--resume`).
pub(super) async fn execute(
    cx: &Arc<Context>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    decided: Vec<StepDecision>,
    record: &mut dyn FnMut(&[&Row]),
) -> (Vec<Row>, bool) {
    let selected: Vec<StepId> = decided.iter().map(|d| d.id).collect();
    let mut rows: HashMap<StepId, Row> = HashMap::new();
    // The steps to start and what each does, in graph order.
    let mut to_run: Vec<StepId> = Vec::new();
    let mut actions: HashMap<StepId, Action> = HashMap::new();
    let mut found: HashMap<StepId, steps::Findings> = HashMap::new();
    for StepDecision { id, decided, .. } in decided {
        match decided {
            Decided::Run {
                action, found: f, ..
            } => {
                to_run.push(id);
                actions.insert(id, action);
                found.insert(id, f);
            }
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
    let settled: Vec<(StepId, bool)> = rows
        .values()
        .map(|r| (r.step, r.outcome.satisfies()))
        .collect();
    let mut queue = schedule::Queue::new(&selected, &to_run, &settled, cx.settings.concurrency);

    let mut running: JoinSet<(StepId, Result<String, String>, Duration)> = JoinSet::new();
    // Started and not yet finished, with when they started.
    let mut in_flight: HashMap<StepId, Instant> = HashMap::new();
    let mut cancelled = false;
    let mut ended = false;
    // After the second interrupt: when it came (the steps still running are stopped once
    // their children are gone, or a little after the children's grace).
    let mut hard_since: Option<Instant> = None;
    // While steps run, the first interrupt is graceful (see `interrupt`).
    let _graceful = crate::interrupt::graceful();
    let ctrl_c = crate::interrupt::wait();
    tokio::pin!(ctrl_c);
    let hard = crate::interrupt::wait_hard();
    tokio::pin!(hard);

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
                    let f = found.remove(&id).unwrap_or_else(steps::Findings::none);
                    let step = built[&id].clone();
                    let cx2 = cx.clone();
                    in_flight.insert(id, Instant::now());
                    running.spawn(async move {
                        let started = Instant::now();
                        let progress = cx2.ui.step_started(id.name(), action.label());
                        // A step that panics is a failed step with its message, not a lost row.
                        let result = match std::panic::AssertUnwindSafe(step.apply(&cx2, action, f))
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
                in_flight.remove(&id);
                // The interrupt may have ended this step's child before its notice reached
                // the branch below: it is the same interrupt (nothing new starts).
                if !cancelled && crate::interrupt::requested() {
                    cancelled = true;
                    queue.cancel();
                    cx.ui.warn(&crate::interrupt::first_notice());
                }
                let action = actions[&id];
                let outcome = match result {
                    Ok(summary) => {
                        cx.ui.step_finished(id.name(), true, &match summary.split_once('\n') {
                            Some((first, rest)) => format!("{} ({first})\n{rest}", action.past()),
                            None => format!("{} ({summary})", action.past()),
                        }, took);
                        Outcome::Succeeded(summary)
                    }
                    // Ended by the interrupt (its children were asked to stop, or its wait
                    // was cut short): "interrupted", not "failed".
                    Err(e) if cancelled => {
                        cx.ui.step_finished(id.name(), false, &format!("interrupted: {e}"), took);
                        Outcome::Interrupted(e)
                    }
                    Err(e) => {
                        cx.ui.step_finished(id.name(), false, &format!("failed: {e}"), took);
                        Outcome::Failed(e)
                    }
                };
                queue.finish(id, outcome.satisfies());
                rows.insert(id, Row { step: id, decision: action.label().into(), outcome, took });
                record(&rows.values().collect::<Vec<_>>());
            }
            _ = &mut ctrl_c, if !cancelled => {
                cancelled = true;
                queue.cancel();
                cx.ui.warn(&crate::interrupt::first_notice());
            }
            _ = &mut hard, if cancelled && !ended => {
                ended = true;
                hard_since = Some(Instant::now());
                cx.ui.warn(&crate::interrupt::hard_notice());
            }
            _ = tokio::time::sleep(Duration::from_millis(100)), if hard_since.is_some() => {
                // The children got SIGTERM (SIGKILL after the grace). Once none is left, what
                // still runs waits on the cluster, not on a child: it is stopped here (a read,
                // or an idempotent apply the next run repeats).
                let waited = hard_since.map(|t| t.elapsed()).unwrap_or_default();
                if crate::interrupt::running().is_empty()
                    || waited > crate::interrupt::GRACE + Duration::from_secs(2)
                {
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                    let mut stopped: Vec<(StepId, Instant)> = in_flight.drain().collect();
                    stopped.sort_by_key(|(id, _)| id.order());
                    for (id, started) in stopped {
                        let took = started.elapsed();
                        let why = "stopped by the second interrupt".to_string();
                        cx.ui.step_finished(id.name(), false, &format!("interrupted: {why}"), took);
                        queue.finish(id, false);
                        rows.insert(id, Row {
                            step: id,
                            decision: actions[&id].label().into(),
                            outcome: Outcome::Interrupted(why),
                            took,
                        });
                    }
                    record(&rows.values().collect::<Vec<_>>());
                    hard_since = None;
                }
            }
        }
    }
    let mut out: Vec<Row> = rows.into_values().collect();
    out.sort_by_key(|r| r.step.order());
    (out, cancelled)
}
