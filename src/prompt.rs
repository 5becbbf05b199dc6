//! Questions to the operator. `TerminalPrompter` reads one key at a time from the terminal;
//! `NonInteractive` never blocks: asking it anything is an error that says which flag answers
//! the question instead.

use crate::decide::{Choice, State};
use anyhow::{Result, bail};
use console::{Key as TermKey, Term};
use secrecy::SecretString;

/// The operator's answer to the existing-resource prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Skip,
    Proceed,
    View,
    Auto,
    Quit,
}

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

impl Prompter for TerminalPrompter {
    fn interactive(&self) -> bool {
        true
    }

    fn choose(&self, q: &Question) -> Result<Key> {
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
        self.term.write_str(&format!("{message} [y/N]: "))?;
        let line = self.term.read_line().unwrap_or_default();
        Ok(matches!(
            line.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }

    fn typed(&self, message: &str, expected: &str) -> Result<bool> {
        self.term
            .write_str(&format!("{message}\nType `{expected}` to confirm: "))?;
        let line = self.term.read_line().unwrap_or_default();
        Ok(line.trim() == expected)
    }

    fn secret(&self, message: &str) -> Result<Option<SecretString>> {
        self.term.write_str(&format!("{message}: "))?;
        let line = self.term.read_secure_line().unwrap_or_default();
        let line = line.trim().to_string();
        Ok((!line.is_empty()).then(|| SecretString::from(line)))
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
        eprintln!("{text}");
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
}
