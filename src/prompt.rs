//! Questions to the operator. `TerminalPrompter` reads one key at a time from the terminal
//! (y/N and the S/P/V/A/Q menu alike; Enter is the default); `NonInteractive` never blocks:
//! asking it anything is an error that says which flag answers the question instead.
//!
//! Ctrl-C or Ctrl-D at any question is `Quit`, an error the caller turns into "Quit: nothing
//! has been changed." (exit 0) before any change, or into the interrupt path (exit 130) once
//! changes began (`interrupt::changes_began`).

use crate::decide::{Choice, State};
use anyhow::{Result, bail};
use console::{Key as TermKey, Term};
use secrecy::{ExposeSecret, SecretString};

/// The operator's answer to the existing-resource prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Skip,
    Proceed,
    View,
    Auto,
    Quit,
}

/// The operator quit at a question (Ctrl-C, Ctrl-D, end of input, or Q at the menu).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("quit at a question")]
pub struct Quit;

/// Whether an error chain is the operator quitting at a question.
pub fn is_quit(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<Quit>().is_some())
}

/// How many times a hidden value is asked for before the run stops.
pub const HIDDEN_TRIES: usize = 3;

/// Everything the S/P/V/A/Q prompt shows.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// e.g. "helm release 'redis' (namespace litellm)"
    pub resource: &'a str,
    /// "exists", or "exist" for a plural resource.
    pub exists: &'a str,
    pub state: &'a State,
    pub default: Choice,
    /// When Skip is refused, why.
    pub skip_refused: Option<&'a str>,
    /// What Proceed does, e.g. "upgrade it anyway", "repair it".
    pub proceed_does: &'a str,
}

impl Question<'_> {
    /// The text shown before the key is read.
    pub fn render(&self) -> String {
        let state = match self.state {
            State::Healthy(d) => format!("healthy, {d}"),
            State::Unhealthy(d) => format!("unhealthy: {d}"),
            State::Missing => "missing".into(),
            State::Stateless => String::new(),
        };
        let skip = match (self.skip_refused, self.state) {
            (Some(why), _) => format!("not allowed: {why}"),
            (None, State::Healthy(_)) => {
                "keep it as it is (recommended: it is healthy)".to_string()
            }
            (None, _) => "leave it as it is (not recommended)".to_string(),
        };
        let proceed = if self.default == Choice::Proceed {
            format!("{} (recommended)", self.proceed_does)
        } else {
            self.proceed_does.to_string()
        };
        let keys = match self.default {
            Choice::Skip => "S/p/v/a/q",
            Choice::Proceed => "s/P/v/a/q",
        };
        format!(
            "! {} already {} — {state}\n  [S] Skip    — {skip}\n  [P] Proceed — {proceed}\n  \
             [V] View    — show its details\n  [A] Auto    — skip every remaining healthy resource\n  \
             [Q] Quit    — stop; nothing has been changed\nChoose [{keys}]: ",
            self.resource, self.exists
        )
    }
}

pub trait Prompter: Send + Sync {
    /// Whether questions can be asked at all.
    fn interactive(&self) -> bool;
    /// The S/P/V/A/Q prompt. Enter is the default; an invalid key asks again; Ctrl-C or end
    /// of input is Quit.
    fn choose(&self, q: &Question) -> Result<Key>;
    /// A y/N question; Enter, end of input and anything but y/yes is No.
    fn confirm(&self, message: &str) -> Result<bool>;
    /// The operator must type `expected` exactly.
    fn typed(&self, message: &str, expected: &str) -> Result<bool>;
    /// A secret value, read without echo; `None` when nothing was entered.
    fn secret(&self, message: &str) -> Result<Option<SecretString>>;
    /// Text shown between questions (details for View, refusals).
    fn say(&self, text: &str);
}

/// Prompts on the terminal (stderr for text, keys from the terminal).
pub struct TerminalPrompter {
    term: Term,
}

impl TerminalPrompter {
    pub fn new() -> Self {
        TerminalPrompter {
            term: Term::stderr(),
        }
    }
}

impl Default for TerminalPrompter {
    fn default() -> Self {
        Self::new()
    }
}

fn key_of(key: std::io::Result<TermKey>, default: Choice) -> Option<Key> {
    match key {
        // End of input, a closed terminal or any read error: quit without changing anything.
        Err(_) => Some(Key::Quit),
        Ok(TermKey::Enter) => Some(match default {
            Choice::Skip => Key::Skip,
            Choice::Proceed => Key::Proceed,
        }),
        Ok(TermKey::CtrlC) => Some(Key::Quit),
        Ok(TermKey::Char(c)) => match c.to_ascii_lowercase() {
            's' => Some(Key::Skip),
            'p' => Some(Key::Proceed),
            'v' => Some(Key::View),
            'a' => Some(Key::Auto),
            'q' => Some(Key::Quit),
            // Ctrl-D in raw mode: end of input.
            '\u{4}' => Some(Key::Quit),
            _ => None,
        },
        Ok(_) => None,
    }
}

/// The terminal the keys come from: stdin when it is one, else /dev/tty (as `console` reads).
fn with_input_fd<T>(f: impl FnOnce(i32) -> T) -> Option<T> {
    use std::os::fd::AsRawFd;
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
        return Some(f(libc::STDIN_FILENO));
    }
    let tty = std::fs::File::open("/dev/tty").ok()?;
    Some(f(tty.as_raw_fd()))
}

/// Drop keys typed before the question was shown: an answer meant for an earlier question
/// (or a habitual Enter after a one-key answer) never answers this one.
fn flush_typeahead() {
    // SAFETY: tcflush on a terminal descriptor we own or borrow for the call.
    with_input_fd(|fd| unsafe { libc::tcflush(fd, libc::TCIFLUSH) });
}

/// After a one-key answer, an Enter typed out of habit (within a moment) is swallowed.
fn swallow_habitual_enter() {
    with_input_fd(|fd| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, bounded wait.
        if unsafe { libc::poll(&mut p, 1, 250) } > 0 {
            // SAFETY: as above.
            unsafe { libc::tcflush(fd, libc::TCIFLUSH) };
        }
    });
}

/// Turns the terminal's echo off until dropped (then puts its mode back as it was).
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        let saved = with_input_fd(|fd| {
            let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
            // SAFETY: tcgetattr fills the struct on success; we only read it then.
            if unsafe { libc::tcgetattr(fd, t.as_mut_ptr()) } != 0 {
                return None;
            }
            let saved = unsafe { t.assume_init() };
            let mut quiet = saved;
            quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
            // SAFETY: a valid termios for this descriptor.
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
            Some(saved)
        })
        .flatten();
        EchoOff(saved)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: restoring the mode read in `new`.
            with_input_fd(|fd| unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) });
        }
    }
}

/// One yes/no key: y → yes; n or Enter → no; Ctrl-C, Ctrl-D or end of input → quit; any other
/// key asks again.
fn yes_no_of(key: std::io::Result<TermKey>) -> Option<Result<bool, Quit>> {
    match key {
        Err(_) | Ok(TermKey::CtrlC) => Some(Err(Quit)),
        Ok(TermKey::Enter) => Some(Ok(false)),
        Ok(TermKey::Char(c)) => match c.to_ascii_lowercase() {
            'y' => Some(Ok(true)),
            'n' => Some(Ok(false)),
            '\u{4}' => Some(Err(Quit)),
            _ => None,
        },
        Ok(_) => None,
    }
}

/// One edit of a line being typed in raw mode.
#[derive(Debug, PartialEq, Eq)]
enum Edit {
    Push(char),
    Pop,
    Done,
    Quit,
    Ignore,
}

fn edit_of(key: std::io::Result<TermKey>) -> Edit {
    match key {
        Err(_) | Ok(TermKey::CtrlC) => Edit::Quit,
        Ok(TermKey::Enter) => Edit::Done,
        Ok(TermKey::Backspace) => Edit::Pop,
        Ok(TermKey::Char('\u{4}')) => Edit::Quit,
        Ok(TermKey::Char(c)) if !c.is_control() => Edit::Push(c),
        _ => Edit::Ignore,
    }
}

impl TerminalPrompter {
    /// A line typed in raw mode, so that Ctrl-C and Ctrl-D are answers (quit), not signals.
    /// `echo`: show what is typed; hidden input shows nothing at all.
    fn read_line_raw(&self, echo: bool) -> Result<String> {
        let mut line = String::new();
        loop {
            match edit_of(self.term.read_key_raw()) {
                Edit::Push(c) => {
                    line.push(c);
                    if echo {
                        self.term.write_str(&c.to_string())?;
                    }
                }
                Edit::Pop => {
                    if line.pop().is_some() && echo {
                        self.term.write_str("\x08 \x08")?;
                    }
                }
                Edit::Done => {
                    self.term.write_line("")?;
                    return Ok(line);
                }
                Edit::Quit => {
                    self.term.write_line("")?;
                    return Err(Quit.into());
                }
                Edit::Ignore => {}
            }
        }
    }
}

impl Prompter for TerminalPrompter {
    fn interactive(&self) -> bool {
        true
    }

    fn choose(&self, q: &Question) -> Result<Key> {
        flush_typeahead();
        self.term.write_str(&q.render())?;
        loop {
            let raw = self.term.read_key_raw();
            let shown = match &raw {
                Ok(TermKey::Char(c)) if !c.is_control() => c.to_string(),
                _ => String::new(),
            };
            match key_of(raw, q.default) {
                Some(key) => {
                    self.term.write_line(&shown)?;
                    swallow_habitual_enter();
                    return Ok(key);
                }
                None => {
                    self.term.write_line(&shown)?;
                    self.term
                        .write_str("Press S, P, V, A or Q (Enter = default): ")?;
                }
            }
        }
    }

    fn confirm(&self, message: &str) -> Result<bool> {
        flush_typeahead();
        self.term.write_str(&format!("{message} [y/N]: "))?;
        loop {
            let raw = self.term.read_key_raw();
            match yes_no_of(raw) {
                Some(Ok(yes)) => {
                    self.term.write_line(if yes { "y" } else { "n" })?;
                    swallow_habitual_enter();
                    return Ok(yes);
                }
                Some(Err(quit)) => {
                    self.term.write_line("")?;
                    return Err(quit.into());
                }
                None => self.term.write_str("\nPress y or n (Enter = no): ")?,
            }
        }
    }

    fn typed(&self, message: &str, expected: &str) -> Result<bool> {
        flush_typeahead();
        self.term
            .write_str(&format!("{message}\nType `{expected}` to confirm: "))?;
        let line = self.read_line_raw(true)?;
        Ok(line.trim() == expected)
    }

    fn secret(&self, message: &str) -> Result<Option<SecretString>> {
        flush_typeahead();
        self.term.write_str(&format!("{message}: "))?;
        // Echo stays off for the whole line, also between keys (console restores the
        // terminal's own mode after each key: that mode is now echo-less).
        let _echo_off = EchoOff::new();
        let line = SecretString::from(self.read_line_raw(false)?);
        let trimmed = line.expose_secret().trim();
        Ok((!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_string())))
    }

    fn say(&self, text: &str) {
        let _ = self.term.write_line(text);
    }
}

/// For CI and pipes: never blocks, never guesses.
pub struct NonInteractive;

impl Prompter for NonInteractive {
    fn interactive(&self) -> bool {
        false
    }
    fn choose(&self, q: &Question) -> Result<Key> {
        bail!(
            "cannot ask about {} in non-interactive mode (use --auto-skip-healthy or run in a terminal)",
            q.resource
        )
    }
    fn confirm(&self, message: &str) -> Result<bool> {
        bail!("cannot confirm `{message}` in non-interactive mode")
    }
    fn typed(&self, message: &str, _expected: &str) -> Result<bool> {
        bail!("cannot confirm `{message}` in non-interactive mode")
    }
    fn secret(&self, message: &str) -> Result<Option<SecretString>> {
        bail!("cannot ask for `{message}` in non-interactive mode")
    }
    fn say(&self, text: &str) {
        crate::ui::err_line(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn keys_map_to_answers() {
        let k = |c: char| key_of(Ok(TermKey::Char(c)), Choice::Skip);
        assert_eq!(k('s'), Some(Key::Skip));
        assert_eq!(k('P'), Some(Key::Proceed));
        assert_eq!(k('v'), Some(Key::View));
        assert_eq!(k('A'), Some(Key::Auto));
        assert_eq!(k('q'), Some(Key::Quit));
        assert_eq!(k('x'), None);
        assert_eq!(k('\u{4}'), Some(Key::Quit));
        assert_eq!(key_of(Ok(TermKey::Enter), Choice::Skip), Some(Key::Skip));
        assert_eq!(
            key_of(Ok(TermKey::Enter), Choice::Proceed),
            Some(Key::Proceed)
        );
        assert_eq!(key_of(Ok(TermKey::CtrlC), Choice::Skip), Some(Key::Quit));
        let eof = Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof"));
        assert_eq!(key_of(eof, Choice::Skip), Some(Key::Quit));
        assert_eq!(key_of(Ok(TermKey::ArrowUp), Choice::Skip), None);
    }

    #[test]
    fn the_prompt_shows_every_option_and_the_default() {
        let state = State::Healthy("deployed rev 3".into());
        let q = Question {
            resource: "helm release 'redis' (namespace litellm)",
            exists: "exists",
            state: &state,
            default: Choice::Skip,
            skip_refused: None,
            proceed_does: "upgrade it anyway",
        };
        let text = q.render();
        for want in [
            "! helm release 'redis' (namespace litellm) already exists — healthy, deployed rev 3",
            "[S] Skip",
            "[P] Proceed — upgrade it anyway",
            "[V] View",
            "[A] Auto",
            "[Q] Quit",
            "Choose [S/p/v/a/q]: ",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn non_interactive_never_blocks() {
        let state = State::Healthy("x".into());
        let q = Question {
            resource: "r",
            exists: "exists",
            state: &state,
            default: Choice::Skip,
            skip_refused: None,
            proceed_does: "p",
        };
        assert!(NonInteractive.choose(&q).is_err());
        assert!(NonInteractive.confirm("c").is_err());
    }

    #[test]
    fn yes_no_takes_one_key_and_quits_on_ctrl_c_or_ctrl_d() {
        assert!(matches!(yes_no_of(Ok(TermKey::Char('y'))), Some(Ok(true))));
        assert!(matches!(yes_no_of(Ok(TermKey::Char('Y'))), Some(Ok(true))));
        assert!(matches!(yes_no_of(Ok(TermKey::Char('n'))), Some(Ok(false))));
        assert!(matches!(yes_no_of(Ok(TermKey::Enter)), Some(Ok(false))));
        assert!(matches!(yes_no_of(Ok(TermKey::CtrlC)), Some(Err(Quit))));
        assert!(matches!(
            yes_no_of(Ok(TermKey::Char('\u{4}'))),
            Some(Err(Quit))
        ));
        let eof = Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof"));
        assert!(matches!(yes_no_of(eof), Some(Err(Quit))));
        assert!(yes_no_of(Ok(TermKey::Char('x'))).is_none());
    }

    #[test]
    fn raw_lines_edit_and_quit() {
        assert_eq!(edit_of(Ok(TermKey::Char('a'))), Edit::Push('a'));
        assert_eq!(edit_of(Ok(TermKey::Backspace)), Edit::Pop);
        assert_eq!(edit_of(Ok(TermKey::Enter)), Edit::Done);
        assert_eq!(edit_of(Ok(TermKey::CtrlC)), Edit::Quit);
        assert_eq!(edit_of(Ok(TermKey::Char('\u{4}'))), Edit::Quit);
        assert_eq!(edit_of(Ok(TermKey::ArrowUp)), Edit::Ignore);
    }
}
