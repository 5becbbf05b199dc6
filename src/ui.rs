//! All user-facing output goes through `Ui`: status lines, warnings, per-step progress
//! (spinners on a terminal, timestamped lines otherwise), the summary table, and JSON events
//! with `--output json` (then human text moves to stderr).

use crate::config::OutputFormat;
use crate::config::Settings;
use crate::error::ExitCode;
use crate::events::{ErrorReport, Event, Summary};
use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Ui {
    json: bool,
    fancy: bool,
    verbosity: i8,
    multi: Option<MultiProgress>,
    /// The spinners are drawn (stdout is a terminal too): lines go above them.
    bars_drawn: bool,
    /// The spinner of each running step, by step name (for `note`).
    bars: Mutex<std::collections::HashMap<String, ProgressBar>>,
    lock: Mutex<()>,
    /// Print nothing (unit tests).
    silent: bool,
    /// The summary a command made of its run (its steps or checks), for `lib::run` to write
    /// last.
    summary: SummarySlot,
}

/// Where a command leaves the summary of its run; `lib::run` takes it after the command.
pub type SummarySlot = Arc<Mutex<Option<Summary>>>;

/// A step's line while it runs.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether a failed write means the reader is gone (a closed pipe, a closed terminal).
fn reader_gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe || e.raw_os_error() == Some(libc::EIO)
}

/// One line to stdout. Never panics: a reader that is gone is an interrupt
/// (reported through [`when_output_lost`]), any other failure is ignored.
pub fn out_line(text: &str) {
    if STDOUT_LOST.load(std::sync::atomic::Ordering::SeqCst) {
        // stdout is gone: what is left to say (the summary) goes where it can still be read.
        if !STDERR_LOST.load(std::sync::atomic::Ordering::SeqCst) {
            write_line(&mut std::io::stderr().lock(), text, &STDERR_LOST);
        }
        return;
    }
    if !write_line(&mut std::io::stdout().lock(), text, &STDOUT_LOST)
        && STDOUT_LOST.load(std::sync::atomic::Ordering::SeqCst)
    {
        err_line(text);
    }
}

/// One line to stderr; as `out_line` (falling back to stdout once stderr is gone).
pub fn err_line(text: &str) {
    if STDERR_LOST.load(std::sync::atomic::Ordering::SeqCst) {
        if !STDOUT_LOST.load(std::sync::atomic::Ordering::SeqCst) {
            write_line(&mut std::io::stdout().lock(), text, &STDOUT_LOST);
        }
        return;
    }
    if !write_line(&mut std::io::stderr().lock(), text, &STDERR_LOST)
        && STDERR_LOST.load(std::sync::atomic::Ordering::SeqCst)
    {
        out_line(text);
    }
}

/// Whether stdout / stderr can no longer be written (its reader is gone).
static STDOUT_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STDERR_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Who hears that an output stream was lost (`interrupt` registers `output_lost`: a reader
/// that is gone is an interrupt). The printer reports; it does not know what follows.
static ON_OUTPUT_LOST: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Register what a lost stdout or stderr means (once per process).
pub fn when_output_lost(listener: fn()) {
    let _ = ON_OUTPUT_LOST.set(listener);
}

fn output_lost() {
    if let Some(listener) = ON_OUTPUT_LOST.get() {
        listener();
    }
}

/// Write one line; `false` on failure. A reader that is gone marks the stream lost and is
/// reported to the listener of [`when_output_lost`].
fn write_line(w: &mut impl Write, text: &str, lost: &std::sync::atomic::AtomicBool) -> bool {
    match writeln!(w, "{text}").and_then(|()| w.flush()) {
        Ok(()) => true,
        Err(e) => {
            if reader_gone(&e) {
                lost.store(true, std::sync::atomic::Ordering::SeqCst);
                output_lost();
            }
            false
        }
    }
}

/// Whether this process wrote its `summary` event: exactly one per run, from `lib::run` or,
/// when it ends the process at once, from the signal handler (which may race the first).
static SUMMARY_WRITTEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The command of a `--output json` run, for a summary written from the interrupt handler.
static JSON_COMMAND: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remember that this run writes JSON, and its command.
pub fn json_run(command: &str) {
    let _ = JSON_COMMAND.set(command.to_string());
}

/// The summary of a run stopped at once by an interrupt (JSON runs only).
pub fn interrupted_summary(message: &str, help: &str) {
    if let Some(command) = JSON_COMMAND.get() {
        write_summary(&Summary::new(
            command,
            ExitCode::INTERRUPTED,
            Some(ErrorReport {
                message: message.to_string(),
                help: Some(help.to_string()),
                check: Some("interrupted".into()),
            }),
        ));
    }
}

/// Write the run's summary event, once (never a secret: errors carry none). Where it still
/// can be: a lost stdout is not an error here.
pub fn write_summary(summary: &Summary) {
    if SUMMARY_WRITTEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let line = Event::Summary(summary.clone()).to_line();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

pub fn timestamp() -> String {
    jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// Held while the terminal belongs to a question ([`Ui::quiet`]); no spinner is started
/// before every question is asked, so nothing redraws until the guard is gone.
#[must_use = "the terminal is quiet while the guard lives"]
pub struct Quiet(());

pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if d.as_millis() >= 1000 {
        format!("{s}s")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl Ui {
    pub fn new(settings: &Settings) -> Self {
        let json = settings.output == OutputFormat::Json;
        let fancy = settings.fancy_output && !json;
        // Settings turn fancy output on only when stdout (where the bars draw) and stderr are
        // the terminal; a dumb terminal draws no bars either. Without bars there is no
        // MultiProgress at all: its println on a hidden target would print nothing.
        let bars_drawn = fancy
            && console::Term::stdout().is_term()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let multi =
            bars_drawn.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Ui {
            json,
            fancy,
            verbosity: settings.verbosity,
            multi,
            bars_drawn,
            bars: Mutex::new(Default::default()),
            lock: Mutex::new(()),
            silent: false,
            summary: SummarySlot::default(),
        }
    }

    /// A printer that prints nothing (unit tests).
    pub fn silent() -> Self {
        Ui {
            json: false,
            fancy: false,
            verbosity: -1,
            multi: None,
            bars_drawn: false,
            bars: Mutex::new(Default::default()),
            lock: Mutex::new(()),
            silent: true,
            summary: SummarySlot::default(),
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    pub fn verbosity(&self) -> i8 {
        self.verbosity
    }

    /// Human text: stdout in text mode, stderr in JSON mode; above spinners when they run.
    pub fn println(&self, text: &str) {
        if self.silent {
            return;
        }
        let _guard = self.lock.lock();
        if let Some(multi) = &self.multi {
            if let Err(e) = multi.println(text)
                && reader_gone(&e)
            {
                output_lost();
            }
            return;
        }
        if self.json {
            err_line(text);
        } else {
            out_line(text);
        }
    }

    /// Machine output that must reach stdout whatever the mode (exec credentials).
    pub fn stdout_raw(&self, text: &str) {
        out_line(text);
    }

    /// A normal-verbosity line.
    pub fn info(&self, text: &str) {
        if self.verbosity >= 0 {
            self.println(text);
        }
    }

    /// Shown with -v.
    pub fn detail(&self, text: &str) {
        if self.verbosity >= 1 {
            self.println(text);
        }
    }

    /// Warnings always go to stderr.
    pub fn warn(&self, text: &str) {
        if self.silent {
            return;
        }
        let _guard = self.lock.lock();
        let line = format!("{} {text}", style("warning:").yellow().bold());
        // Above the spinners when they are drawn on this terminal (never through indicatif's
        // `suspend`, which panics when the terminal is gone); straight to stderr otherwise.
        match &self.multi {
            Some(m) if self.bars_drawn => {
                if let Err(e) = m.println(&line)
                    && reader_gone(&e)
                {
                    output_lost();
                }
            }
            _ => err_line(&line),
        }
    }

    /// What a running step is doing now: its spinner's text on a terminal, a timestamped line
    /// otherwise (e.g. "waiting for the live helm operation on redis, at most 4m").
    pub fn note(&self, step: &str, text: &str) {
        if self.silent {
            return;
        }
        let bar = self
            .bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(step)
            .cloned();
        match bar {
            Some(bar) => bar.set_message(format!("{step}: {text}")),
            None if self.verbosity >= 0 => {
                self.println(&format!("[{}] {step}: {text}", timestamp()))
            }
            None => {}
        }
    }

    /// One event as a JSON line on stdout (JSON mode only). A summary is not written here:
    /// it is the run's (`summarize`), written last by `lib::run`.
    pub fn emit(&self, event: &Event) {
        if let Event::Summary(s) = event {
            self.summarize(s.clone());
            return;
        }
        if self.json {
            let _guard = self.lock.lock();
            out_line(&event.to_line());
        }
    }

    /// Leave the summary of this run (its steps, its checks) for `lib::run` to write.
    pub fn summarize(&self, summary: Summary) {
        *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary);
    }

    /// Where this run's summary is left (`lib::run` keeps a handle before the command runs).
    pub fn summary_slot(&self) -> SummarySlot {
        self.summary.clone()
    }

    /// Run `f` with the spinners cleared (prompts; they are asked before any step runs, so
    /// no spinner redraws over them). Not indicatif's `suspend`: it panics on a closed
    /// terminal.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        let _quiet = self.quiet();
        f()
    }

    /// The spinners cleared while the guard lives: for an `async` phase that may ask (a
    /// step's `prepare`), awaited directly.
    pub fn quiet(&self) -> Quiet {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
        Quiet(())
    }

    pub fn step_started(&self, step: &str, what: &str) -> Progress {
        self.emit(&Event::StepStarted {
            step: step.to_string(),
            action: what.to_string(),
        });
        if let Some(multi) = &self.multi {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(format!("{step}: {what}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bars
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(step.to_string(), bar.clone());
            Progress { bar: Some(bar) }
        } else {
            if self.verbosity >= 0 {
                self.println(&format!("[{}] {step}: {what}", timestamp()));
            }
            Progress { bar: None }
        }
    }

    pub fn step_finished(&self, step: &str, ok: bool, text: &str, took: Duration) {
        self.bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(step);
        self.emit(&Event::StepFinished {
            step: step.to_string(),
            ok,
            message: text.to_string(),
            duration_ms: took.as_millis() as u64,
        });
        // A multi-line result (verify's table): the first line on the status line, the rest
        // below it.
        let (text, details) = match text.split_once('\n') {
            Some((first, rest)) => (first, Some(rest)),
            None => (text, None),
        };
        let line = if self.fancy {
            let mark = if ok {
                style("✓").green().to_string()
            } else {
                style("✗").red().to_string()
            };
            format!("{mark} {step}: {text} in {}", human_duration(took))
        } else {
            format!(
                "[{}] {step}: {text} in {}",
                timestamp(),
                human_duration(took)
            )
        };
        if ok {
            self.info(&line);
        } else {
            self.println(&line);
        }
        if let Some(details) = details
            && (!ok || self.verbosity >= 0)
        {
            self.println(details);
        }
    }
}

/// A left-aligned text table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let render = |cells: Vec<&str>| {
        let mut line = String::from("  ");
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(width[i] - cell.chars().count() + 2));
            }
        }
        line.trim_end().to_string()
    };
    let mut out = vec![render(header.to_vec())];
    for row in rows {
        out.push(render(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["step", "result"],
            &[
                vec!["namespaces".into(), "created".into()],
                vec!["validate".into(), "done".into()],
            ],
        );
        assert_eq!(
            t,
            "  step        result\n  namespaces  created\n  validate    done"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(250)), "0.2s");
        assert_eq!(human_duration(Duration::from_secs(41)), "41s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
    }
}
