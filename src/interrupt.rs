//! Interrupts handled as terraform and helm handle them. SIGINT, SIGTERM and SIGHUP are
//! caught for the whole run, and so is output that can no longer be written (a closed pipe
//! or terminal: `output_lost`), which is an interrupt like any other:
//!
//! - Outside a *graceful section* (assess, decide, prompts: nothing is being changed) the
//!   first interrupt stops at once: running children are killed, the terminal is restored,
//!   exit 130.
//! - Inside one (steps executing, terraform running) the first interrupt is remembered
//!   (`requested`, `wait`): no new work starts, and every running child — each in its own
//!   process group, so a terminal's Ctrl-C does not reach it directly — gets what its
//!   registration asked for: one SIGINT (`OnInterrupt::Stop`: helm rolls an upgrade back,
//!   terraform saves its state) or nothing (`OnInterrupt::Finish`: a helm install, uninstall
//!   or rollback, whose cancellation races its own clean-up, finishes by itself within its
//!   bound). The section's owner says what it waits for (`running`).
//! - A second interrupt (`wait_hard`) ends the children too: SIGTERM to their process
//!   groups, SIGKILL to those still alive after `GRACE`; the run waits for them and ends with
//!   its summary and journal. Should the run still not have ended `LAST_RESORT` after that, the
//!   process exits 130 by itself (the journal is written as steps finish, so it is there).
//!
//! Nothing on the signal path can panic: every write here is fallible and ignored.
//! The state is one per process, so `complete` sees an interrupt during Terraform and does
//! not start the application stack.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static CHILDREN: Mutex<Vec<Known>> = Mutex::new(Vec::new());
/// Children that serve the whole run (the API tunnel): never asked to stop by the first,
/// graceful interrupt — the steps still finishing need them — but stopped before any exit.
static BACKGROUND: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static TERMINAL: Mutex<Option<libc::termios>> = Mutex::new(None);
static NOTICE: OnceLock<tokio::sync::watch::Sender<usize>> = OnceLock::new();
static REASON: Mutex<String> = Mutex::new(String::new());
static OUTPUT_LOST: AtomicBool = AtomicBool::new(false);
/// When the output was found lost (to fold the signal that usually caused it into the same
/// interrupt).
static LOST_AT: Mutex<Option<Instant>> = Mutex::new(None);

/// A signal this soon after the output was found lost is the same interrupt: Ctrl-C ends
/// `| tee` too, and a write can hit the closed pipe before the signal is delivered.
const SAME_INTERRUPT: Duration = Duration::from_secs(2);

/// Exit code after an interrupt (128 + SIGINT), as shells report it.
pub const EXIT: i32 = 130;

/// After a second interrupt: how long the children get between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);
/// After the SIGKILL: how long the run gets to write its summary before the process exits
/// by itself.
pub const LAST_RESORT: Duration = Duration::from_secs(15);

/// What a child gets at the first, graceful interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInterrupt {
    /// One SIGINT: it stops cleanly by itself (helm upgrade: cancel and roll back; terraform:
    /// stop at a safe point and save the state; read-only calls).
    Stop,
    /// Nothing: it finishes by itself within its own bound (a helm install, whose cancel
    /// races its clean-up; helm uninstall and rollback).
    Finish,
}

struct Known {
    pid: i32,
    what: String,
    on_first: OnInterrupt,
    deadline: Option<Instant>,
}

/// A child that is running, as the interrupt notice names it.
#[derive(Debug, Clone)]
pub struct Running {
    pub what: String,
    pub on_first: OnInterrupt,
    /// How long it may still take at most (its process limit).
    pub left: Option<Duration>,
}

fn notice() -> &'static tokio::sync::watch::Sender<usize> {
    NOTICE.get_or_init(|| tokio::sync::watch::channel(0).0)
}

/// Write a line to stderr, ignoring every error: for the signal path, the panic hook and
/// anything that must never panic (`eprintln!` panics on a closed pipe or terminal).
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

/// Install the handlers (once, inside the runtime) and remember the terminal's state.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        save_terminal();
        crate::ui::when_output_lost(output_lost);
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
        ];
        for (kind, name) in kinds {
            let Ok(mut stream) = signal(kind) else {
                continue;
            };
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    on_signal(name);
                }
            });
        }
    });
}

/// Standard output or error can no longer be written (the reader of a pipe is gone, the
/// terminal was closed): the operator cannot see the run any more, which is an interrupt.
/// Counted once, however many writes fail.
pub fn output_lost() {
    if OUTPUT_LOST.swap(true, Ordering::SeqCst) {
        return;
    }
    // The output usually goes because of an interrupt that already arrived (Ctrl-C ends
    // `| tee` too): that is one interrupt, not two.
    if requested() {
        return;
    }
    *LOST_AT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    on_signal("output closed");
}

/// Whether standard output or error was lost (the summary then goes where it still can).
pub fn output_was_lost() -> bool {
    OUTPUT_LOST.load(Ordering::SeqCst)
}

/// What the last interrupt was ("SIGINT", "SIGHUP", "output closed").
pub fn reason() -> String {
    let r = REASON.lock().unwrap_or_else(|e| e.into_inner());
    if r.is_empty() {
        "SIGINT".into()
    } else {
        r.clone()
    }
}

fn on_signal(name: &str) {
    // The signal behind a lost output, arriving just after it: the same interrupt.
    if name != "output closed" && COUNT.load(Ordering::SeqCst) == 1 {
        let lost = *LOST_AT.lock().unwrap_or_else(|e| e.into_inner());
        if lost.is_some_and(|t| t.elapsed() < SAME_INTERRUPT) {
            *REASON.lock().unwrap_or_else(|e| e.into_inner()) = name.to_string();
            return;
        }
    }
    *REASON.lock().unwrap_or_else(|e| e.into_inner()) = name.to_string();
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if GRACEFUL.load(Ordering::SeqCst) > 0 {
        match n {
            1 => signal_children(libc::SIGINT, Some(OnInterrupt::Stop)),
            2 => {
                signal_children(libc::SIGTERM, None);
                std::thread::spawn(watchdog);
            }
            // A third: no more grace for the children.
            _ => signal_children(libc::SIGKILL, None),
        }
        // The section's owner says what happens (one notice, drawn above its spinners).
        notice().send_replace(n);
        return;
    }
    // Outside a graceful section: before any change (read-only children simply stop), or
    // after the changes ended (the report, a final read) — then it says so.
    signal_children(libc::SIGKILL, None);
    restore_terminal();
    let (message, help) = if changes_began() {
        (
            format!("interrupted ({name}) after the changes ended; the report was not finished"),
            "see the state with `deployctl plan` (it changes nothing)",
        )
    } else {
        (
            format!("interrupted ({name}): stopped before changing anything"),
            "run the same command again",
        )
    };
    stderr_line(&format!("\n{message}"));
    crate::ui::interrupted_summary(&message, help);
    stop_background();
    std::process::exit(EXIT);
}

/// After a second interrupt: SIGKILL what outlived its SIGTERM by `GRACE`; should the run
/// still not have ended `LAST_RESORT` later, end the process.
fn watchdog() {
    std::thread::sleep(GRACE);
    signal_children(libc::SIGKILL, None);
    std::thread::sleep(LAST_RESORT);
    restore_terminal();
    let message = format!("interrupted again ({}): stopped at once", reason());
    stderr_line(&format!(
        "\n{message}; the run's journal is saved: run the same command with --resume to finish"
    ));
    crate::ui::interrupted_summary(&message, "run the same command with --resume to finish");
    stop_background();
    std::process::exit(EXIT);
}

static CHANGED: AtomicBool = AtomicBool::new(false);

/// Record that this run has started changing things (a step executes, terraform applies,
/// a bastion is created): from now on quitting at a question is an interruption (exit 130),
/// not "nothing has been changed".
pub fn changes_begin() {
    CHANGED.store(true, Ordering::SeqCst);
}

/// Whether this run has started changing things.
pub fn changes_began() -> bool {
    CHANGED.load(Ordering::SeqCst)
}

/// Whether an interrupt has arrived.
pub fn requested() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// Whether a second interrupt has arrived (children are being ended).
pub fn hard() -> bool {
    COUNT.load(Ordering::SeqCst) > 1
}

/// Resolves when the first interrupt arrives (at once if it already has).
pub async fn wait() {
    wait_for(1).await
}

/// Resolves when the second interrupt arrives (at once if it already has).
pub async fn wait_hard() {
    wait_for(2).await
}

async fn wait_for(n: usize) {
    let mut rx = notice().subscribe();
    if COUNT.load(Ordering::SeqCst) >= n {
        return;
    }
    let _ = rx.wait_for(|v| *v >= n).await;
}

/// The children running now, for the notice that says what the run waits for.
pub fn running() -> Vec<Running> {
    let now = Instant::now();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|k| k.pid > 1)
        .map(|k| Running {
            what: k.what.clone(),
            on_first: k.on_first,
            left: k.deadline.map(|d| d.saturating_duration_since(now)),
        })
        .collect()
}

/// While the guard lives, the first interrupt is graceful.
pub struct Graceful(());

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn graceful() -> Graceful {
    GRACEFUL.fetch_add(1, Ordering::SeqCst);
    // An interrupt that arrived just before is still honoured.
    let n = COUNT.load(Ordering::SeqCst);
    if n > 0 {
        notice().send_replace(n);
    }
    Graceful(())
}

/// A child running in its own process group (`pgid` = its pid), known until dropped.
pub struct Child(i32);

impl Drop for Child {
    fn drop(&mut self) {
        CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k| k.pid != self.0);
    }
}

/// Register a child: `what` names it in the interrupt notice, `on_first` is what the first
/// interrupt does to it, `limit` how long it may run at most.
pub fn child(pid: u32, what: &str, on_first: OnInterrupt, limit: Option<Duration>) -> Child {
    let pid = pid as i32;
    if pid <= 1 {
        // Already reaped (or no pid): nothing to signal; never the caller's own group.
        return Child(-1);
    }
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Known {
            pid,
            what: what.to_string(),
            on_first,
            deadline: limit.map(|l| Instant::now() + l),
        });
    // Started just after an interrupt: it gets what it would have got.
    let n = COUNT.load(Ordering::SeqCst);
    if n > 1 {
        unsafe { libc::kill(-pid, libc::SIGTERM) };
    } else if n == 1 && on_first == OnInterrupt::Stop {
        unsafe { libc::kill(-pid, libc::SIGINT) };
    }
    Child(pid)
}

/// A background child in its own process group, known until dropped.
pub struct Background(i32);

impl Drop for Background {
    fn drop(&mut self) {
        BACKGROUND
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.0);
    }
}

pub fn background(pid: u32) -> Background {
    let pid = pid as i32;
    if pid > 1 {
        BACKGROUND
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pid);
    }
    Background(pid)
}

/// SIGTERM to every background child's group (the process is about to exit: destructors
/// will not run).
pub fn stop_background() {
    for pid in BACKGROUND
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|p| **p > 1)
    {
        unsafe { libc::kill(-*pid, libc::SIGTERM) };
    }
}

/// `sig` to the group of every registered child (only those registered with `only`, when
/// given): helm's and terraform's own children (plugins) too.
fn signal_children(sig: i32, only: Option<OnInterrupt>) {
    for k in CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|k| k.pid > 1 && only.is_none_or(|o| o == k.on_first))
    {
        unsafe { libc::kill(-k.pid, sig) };
    }
}

fn save_terminal() {
    unsafe {
        if libc::isatty(libc::STDIN_FILENO) == 1 {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) == 0 {
                *TERMINAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
            }
        }
    }
}

/// Put the terminal back as it was at start (echo on, cooked mode) and show the cursor.
pub fn restore_terminal() {
    if let Some(t) = *TERMINAL.lock().unwrap_or_else(|e| e.into_inner()) {
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t);
        }
    }
    if console::Term::stderr().is_term() {
        let _ = console::Term::stderr().show_cursor();
    }
}

/// The notice of the first, graceful interrupt: what the run now waits for, each with its
/// bound, and what a second interrupt does.
pub fn first_notice() -> String {
    let mut text = format!("interrupted ({}): starting nothing new", reason());
    let running = running();
    if running.is_empty() {
        text.push_str("; waiting for the running steps to finish");
    } else {
        let items: Vec<String> = running
            .iter()
            .map(|r| {
                let how = match r.on_first {
                    OnInterrupt::Stop => "asked to stop cleanly",
                    OnInterrupt::Finish if r.what.contains("install") && !r.what.contains("uninstall") => {
                        "left to finish by itself (stopping it half-way would leave objects without a release record)"
                    }
                    OnInterrupt::Finish => {
                        "left to finish by itself (stopping it half-way would leave the release half-removed or half-restored)"
                    }
                };
                let bound = r
                    .left
                    .map(|l| format!(", at most {}", crate::ui::human_duration(l)))
                    .unwrap_or_default();
                format!("{} — {how}{bound}", r.what)
            })
            .collect();
        text.push_str(&format!("; waiting for: {}", items.join("; ")));
    }
    text.push_str(". Interrupt again to stop them now.");
    text
}

/// The notice of the second interrupt.
pub fn hard_notice() -> String {
    let running = running();
    let what = if running.is_empty() {
        String::new()
    } else {
        format!(
            ": {}",
            running
                .iter()
                .map(|r| r.what.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "interrupted again ({}): ending the running children now (SIGTERM, SIGKILL after {}s){what}",
        reason(),
        GRACE.as_secs()
    )
}
