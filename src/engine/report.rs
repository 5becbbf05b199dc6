//! Report: the summary table or the JSON summary, and the plan view.

use super::*;

pub(super) fn report(cx: &Context, req: &Request, rows: &[Row], interrupted: bool) -> i32 {
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
    let resume = format!("`deployctl {} --resume`", req.command);
    let next = if interrupted {
        Some(format!(
            "{resume} finishes the run (steps that succeeded are skipped while they stay healthy)"
        ))
    } else if !failed.is_empty() {
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
                    ", then {resume} for what did not run ({})",
                    not_run
                        .iter()
                        .map(|r| r.step.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ))
    } else if !not_run.is_empty() {
        Some(format!("{resume} runs what did not run"))
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
        // Every interrupt has the same error: message and check "interrupted".
        let (message, check) = if interrupted {
            ("interrupted".to_string(), "interrupted".to_string())
        } else if failed.is_empty() {
            (format!("did not run: {}", names(&not_run)), names(&not_run))
        } else {
            (format!("failed: {}", names(&failed)), names(&failed))
        };
        summary["error"] = json!({"message": message, "help": next, "check": check});
    }
    cx.ui.event(summary);
    if let Some(next) = &next {
        cx.ui.println(&format!("\nnext: {next}"));
    }
    code
}

/// The `plan` event of one step: its state, what the run does and why (emitted by `plan`
/// and, before anything starts, by every run).
pub(super) fn plan_event(id: StepId, state: &str, action: &str, why: &str) -> serde_json::Value {
    json!({"event": "plan", "step": id.name(), "state": state, "action": action, "why": why})
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
            let (action, why) = match decided {
                Decided::Run { action, why, .. } => (action.label().to_string(), why.clone()),
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
