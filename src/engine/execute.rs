//! Execute: what the pure queue (`schedule`) lets start is spawned, each step's end and
//! the interrupt are reported back to it.

use super::*;

/// Run the decided steps: each starts once its selected needs succeeded or were skipped.
pub(super) async fn execute(
    cx: &Arc<Context>,
    built: &HashMap<StepId, Arc<dyn Step>>,
    decided: Vec<StepDecision>,
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
                    let f = found.remove(&id).unwrap_or_else(steps::Findings::none);
                    let step = built[&id].clone();
                    let cx2 = cx.clone();
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
