//! The end of a run that changes steps — the engine's (`deployctl all`, `redis`, …) and
//! `uninstall`'s share it: one row per step, one exit-code rule, one "next:" rule, the
//! summary table on the terminal and the [`Summary`] event in JSON.

use crate::error::{ExitCode, exit};
use crate::events::{ErrorReport, StepRow, Summary};
use crate::graph::StepId;
use crate::ui::{Ui, human_duration, table};
use std::time::Duration;

/// What became of one step.
#[derive(Debug, Clone)]
pub enum Outcome {
    Succeeded(String),
    Failed(String),
    /// It was running when the run was interrupted and did not finish.
    Interrupted(String),
    Skipped(String),
    NotRun(String),
}

impl Outcome {
    /// The word in the table's result column and the JSON `result` field.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded(_) => "ok",
            Outcome::Failed(_) => "FAILED",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::Skipped(_) => "skipped",
            Outcome::NotRun(_) => "not run",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Outcome::Succeeded(t)
            | Outcome::Failed(t)
            | Outcome::Interrupted(t)
            | Outcome::Skipped(t)
            | Outcome::NotRun(t) => t,
        }
    }

    /// Whether dependents may go ahead.
    pub fn satisfies(&self) -> bool {
        matches!(self, Outcome::Succeeded(_) | Outcome::Skipped(_))
    }
}

/// One line of the summary.
#[derive(Debug, Clone)]
pub struct Row {
    pub step: StepId,
    /// What was decided ("install", "upgrade", "skip", "uninstall").
    pub decision: String,
    pub outcome: Outcome,
    pub took: Duration,
}

/// How the run is taken up again, for the "next:" line.
#[derive(Debug, Clone, Copy)]
pub enum Again<'a> {
    /// A run of the engine, by the command as typed ("all", "redis"): `--resume` finishes
    /// it, and a failed step can be run alone.
    Resume(&'a str),
    /// An uninstall, by its command line: the same command again skips what is gone.
    Repeat(&'a str),
}

/// How a run ended: what the rows say.
pub struct Ending<'a> {
    /// The command for the JSON summary ("all", "uninstall").
    pub command: &'a str,
    pub rows: &'a [Row],
    pub interrupted: bool,
    pub again: Again<'a>,
    /// Printed between the table and the failures (what `uninstall` kept).
    pub aside: Option<String>,
}

impl Ending<'_> {
    fn with(&self, f: fn(&Outcome) -> bool) -> Vec<&Row> {
        self.rows.iter().filter(|r| f(&r.outcome)).collect()
    }

    /// Interrupted → 130; a step failed or did not run → 1; else 0.
    pub fn code(&self) -> ExitCode {
        let incomplete = self.rows.iter().any(|r| !r.outcome.satisfies());
        if self.interrupted {
            exit::INTERRUPTED
        } else if incomplete {
            exit::FAILED
        } else {
            exit::OK
        }
    }

    /// The next command to run, when there is one.
    pub fn next(&self) -> Option<String> {
        let failed = self.with(|o| matches!(o, Outcome::Failed(_)));
        let not_run = self.with(|o| matches!(o, Outcome::NotRun(_)));
        match self.again {
            Again::Repeat(line) => {
                let again = format!("`{line}` again (what is already gone is skipped)");
                if self.code() == exit::OK {
                    None
                } else if self.interrupted {
                    Some(format!("run {again}"))
                } else {
                    Some(format!("fix the cause above, then run {again}"))
                }
            }
            Again::Resume(command) => {
                let resume = format!("`deployctl {command} --resume`");
                if self.interrupted {
                    Some(format!(
                        "{resume} finishes the run (steps that succeeded are skipped while they stay healthy)"
                    ))
                } else if !failed.is_empty() {
                    let fix: Vec<String> = failed
                        .iter()
                        .map(|r| format!("`deployctl {}`", r.step))
                        .collect();
                    let then = if not_run.is_empty() {
                        String::new()
                    } else {
                        format!(", then {resume} for what did not run ({})", names(&not_run))
                    };
                    Some(format!(
                        "fix the cause above, then run {}{then}",
                        fix.join(", ")
                    ))
                } else if !not_run.is_empty() {
                    Some(format!("{resume} runs what did not run"))
                } else {
                    None
                }
            }
        }
    }

    /// The summary's error: every interrupt has message and check "interrupted"; otherwise
    /// the failed steps, or those that did not run.
    fn error(&self, next: Option<String>) -> Option<ErrorReport> {
        if self.code() == exit::OK {
            return None;
        }
        let failed = self.with(|o| matches!(o, Outcome::Failed(_)));
        let not_run = self.with(|o| matches!(o, Outcome::NotRun(_)));
        let verb = match self.again {
            Again::Resume(_) => "failed",
            Again::Repeat(_) => "failed to uninstall",
        };
        let (message, check) = if self.interrupted {
            ("interrupted".to_string(), "interrupted".to_string())
        } else if failed.is_empty() {
            (format!("did not run: {}", names(&not_run)), names(&not_run))
        } else {
            (format!("{verb}: {}", names(&failed)), names(&failed))
        };
        Some(ErrorReport {
            message,
            help: next,
            check: Some(check),
        })
    }

    /// The table (or the JSON summary), the failures in full and the "next:" line; returns
    /// the exit code.
    pub fn report(&self, ui: &Ui) -> ExitCode {
        let code = self.code();
        let next = self.next();
        ui.println("");
        ui.println("Summary:");
        ui.println(&table(
            &["step", "decision", "result", "duration"],
            &self.rows.iter().map(table_row).collect::<Vec<_>>(),
        ));
        if let Some(aside) = &self.aside {
            ui.println(aside);
        }
        for r in self.with(|o| matches!(o, Outcome::Failed(_))) {
            ui.println(&format!("\n{} failed:\n  {}", r.step, r.outcome.text()));
        }
        ui.summarize(Summary {
            steps: Some(self.rows.iter().map(step_row).collect()),
            ..Summary::new(self.command, code, self.error(next.clone()))
        });
        if let Some(next) = &next {
            ui.println(&format!("\nnext: {next}"));
        }
        code
    }
}

fn names(rows: &[&Row]) -> String {
    rows.iter()
        .map(|r| r.step.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of the outcome, cut at 90 characters.
fn table_row(r: &Row) -> Vec<String> {
    let first: String = r.outcome.text().lines().next().unwrap_or_default().into();
    let first = if first.chars().count() > 90 {
        format!("{}…", first.chars().take(89).collect::<String>())
    } else {
        first
    };
    vec![
        r.step.name().to_string(),
        r.decision.clone(),
        format!("{}: {first}", r.outcome.label()),
        if r.took.is_zero() {
            "-".into()
        } else {
            human_duration(r.took)
        },
    ]
}

fn step_row(r: &Row) -> StepRow {
    StepRow {
        step: r.step.name().to_string(),
        decision: r.decision.clone(),
        result: r.outcome.label().to_string(),
        message: r.outcome.text().to_string(),
        duration_ms: r.took.as_millis() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: StepId, outcome: Outcome) -> Row {
        Row {
            step,
            decision: "install".into(),
            outcome,
            took: Duration::from_secs(3),
        }
    }

    #[test]
    fn the_code_and_the_next_command_follow_the_rows() {
        let rows = [
            row(StepId::Redis, Outcome::Failed("boom".into())),
            row(StepId::Litellm, Outcome::NotRun("needs redis".into())),
        ];
        let end = Ending {
            command: "all",
            rows: &rows,
            interrupted: false,
            again: Again::Resume("all"),
            aside: None,
        };
        assert_eq!(end.code(), exit::FAILED);
        assert_eq!(
            end.next().unwrap(),
            "fix the cause above, then run `deployctl redis`, then `deployctl all --resume` for what did not run (litellm)"
        );
        let error = end.error(end.next()).unwrap();
        assert_eq!(error.message, "failed: redis");
        let removed = [row(StepId::Redis, Outcome::Succeeded("gone".into()))];
        let uninstall = Ending {
            command: "uninstall",
            rows: &removed,
            interrupted: false,
            again: Again::Repeat("deployctl uninstall redis"),
            aside: None,
        };
        assert_eq!(uninstall.code(), exit::OK);
        assert_eq!(uninstall.next(), None);
        let stopped = Ending {
            interrupted: true,
            ..uninstall
        };
        assert_eq!(stopped.code(), exit::INTERRUPTED);
        assert_eq!(
            stopped.next().unwrap(),
            "run `deployctl uninstall redis` again (what is already gone is skipped)"
        );
    }

    #[test]
    fn a_long_first_line_is_cut_in_the_table() {
        let r = row(
            StepId::Redis,
            Outcome::Succeeded("x".repeat(120) + "\nsecond"),
        );
        let cells = table_row(&r);
        assert_eq!(cells[2].chars().count(), "ok: ".len() + 90);
        assert!(cells[2].ends_with('…'));
        assert_eq!(cells[3], "3s");
    }
}
