//! Interrupts handled as terraform and helm handle them. SIGINT, SIGTERM and SIGHUP are
//! caught for the whole run:
//!
//! - Outside a *graceful section* (assess, decide, prompts: nothing is being changed) the
//!   first interrupt stops at once: running children are killed, the terminal is restored,
//!   exit 130.
//! - Inside one (steps executing, terraform running) the first interrupt is remembered
//!   (`requested`, `wait`): no new work starts, and every running child — each in its own
//!   process group, so a terminal's Ctrl-C does not reach it directly — gets one SIGINT, which
//!   lets helm roll back and terraform save its state. A second interrupt sends them SIGTERM
//!   (their own "stop now") and exits 130 at once.
//!
//! The state is one per process, so `complete` sees an interrupt during Terraform and does
//! not start the application stack.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Children that serve the whole run (the API tunnel): never asked to stop by the first,
/// graceful interrupt — the steps still finishing need them — but stopped before any exit.
static BACKGROUND: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static TERMINAL: Mutex<Option<libc::termios>> = Mutex::new(None);
static NOTICE: OnceLock<tokio::sync::watch::Sender<bool>> = OnceLock::new();

/// Exit code after an interrupt (128 + SIGINT), as shells report it.
pub const EXIT: i32 = 130;

fn notice() -> &'static tokio::sync::watch::Sender<bool> {
    NOTICE.get_or_init(|| tokio::sync::watch::channel(false).0)
}

/// Install the handlers (once, inside the runtime) and remember the terminal's state.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        save_terminal();
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

fn on_signal(name: &str) {
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 1 && GRACEFUL.load(Ordering::SeqCst) > 0 {
        notice().send_replace(true);
        signal_children(libc::SIGINT);
        eprintln!(
            "\ninterrupted ({name}): starting nothing new; running helm/terraform calls were asked to stop cleanly. Interrupt again to stop at once."
        );
        return;
    }
    // Before any change: read-only children simply stop. A second interrupt: helm and
    // terraform get SIGTERM, which each treats as "stop now" in its own way (terraform: exit
    // immediately; helm: cancel), never a SIGKILL that could cut a state write in half.
    signal_children(if n == 1 { libc::SIGKILL } else { libc::SIGTERM });
    restore_terminal();
    let message = if n == 1 {
        format!("interrupted ({name}): stopped before changing anything")
    } else {
        format!("interrupted again ({name}): stopped at once")
    };
    if n == 1 {
        eprintln!("\n{message}");
    } else {
        eprintln!(
            "\n{message}; run the same command again to finish (helm releases left pending are repaired on the next run)"
        );
    }
    crate::ui::interrupted_summary(&message, "run the same command again to finish");
    stop_background();
    std::process::exit(EXIT);
}

static CHANGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

/// Resolves when the first interrupt arrives (at once if it already has).
pub async fn wait() {
    let mut rx = notice().subscribe();
    if requested() {
        return;
    }
    let _ = rx.wait_for(|v| *v).await;
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
    if requested() {
        notice().send_replace(true);
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
            .retain(|p| *p != self.0);
    }
}

pub fn child(pid: u32) -> Child {
    let pid = pid as i32;
    if pid <= 1 {
        // Already reaped (or no pid): nothing to signal; never the caller's own group.
        return Child(-1);
    }
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    // Started just after the interrupt: it is asked to stop too.
    if requested() {
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

fn signal_children(sig: i32) {
    for pid in CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|p| **p > 1)
    {
        // The child's whole group: helm's and terraform's own children (plugins) too.
        unsafe { libc::kill(-*pid, sig) };
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
