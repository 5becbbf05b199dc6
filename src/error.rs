//! Errors the user acts on: a message naming what failed, one `help:` line with the next
//! command, and the exit code; and the one rule for several problems found before anything
//! could start (preflight, infrastructure's checks).

use std::fmt;

/// A process exit code (README "Exit codes"): 0 done, 1 failed, 2 usage, 130 interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ExitCode(pub i32);

impl ExitCode {
    pub const OK: ExitCode = ExitCode(0);
    pub const FAILED: ExitCode = ExitCode(1);
    pub const USAGE: ExitCode = ExitCode(2);
    pub const INTERRUPTED: ExitCode = ExitCode(130);

    pub fn is_ok(self) -> bool {
        self == ExitCode::OK
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The exit codes by name (`exit::OK`, …).
pub mod exit {
    use super::ExitCode;
    pub const OK: ExitCode = ExitCode::OK;
    pub const FAILED: ExitCode = ExitCode::FAILED;
    pub const USAGE: ExitCode = ExitCode::USAGE;
    pub const INTERRUPTED: ExitCode = ExitCode::INTERRUPTED;
}

#[derive(Debug, Clone)]
pub struct UserError {
    pub message: String,
    pub help: Option<String>,
    pub code: ExitCode,
}

impl UserError {
    /// Bad usage or input: exit 2.
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            help: Some(help.into()),
            code: exit::USAGE,
        }
    }
    /// Something outside failed (cluster unreachable, tool missing): exit 1.
    pub fn failed(message: impl Into<String>, help: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            help: Some(help.into()),
            code: exit::FAILED,
        }
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// An error with the names of the checks it stands for (preflight's "helm", "kube", "aws",
/// "charts"; infrastructure's "terraform", "tfvars", …), named in the JSON summary's
/// `error.check`. It reads exactly as the error it wraps, whose help and code it keeps.
#[derive(Debug)]
pub struct Checked {
    pub checks: Vec<String>,
    inner: anyhow::Error,
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.inner)
    }
}

impl std::error::Error for Checked {}

/// `err`, naming the checks it stands for.
pub fn checked(checks: Vec<String>, err: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Checked { checks, inner: err })
}

/// The checks an error stands for, comma-separated, if it names any.
pub fn checks_of(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .find_map(|e| e.downcast_ref::<Checked>())
        .map(|c| c.checks.join(", "))
}

/// Every problem found before anything could start, reported at once (fixing one to
/// discover the next is slow): none is `Ok`; one is that error; several are one numbered
/// list with their help lines, exit 2 when every one is a usage error and 1 otherwise. The
/// error names the checks that failed.
pub fn problems_before_start(found: Vec<(&str, anyhow::Error)>) -> anyhow::Result<()> {
    let checks: Vec<String> = found.iter().map(|(name, _)| name.to_string()).collect();
    let mut found = found;
    match found.len() {
        0 => Ok(()),
        1 => Err(checked(checks, found.remove(0).1)),
        n => {
            let mut message = format!("{n} problems before anything could start:");
            let mut help = Vec::new();
            let mut code = exit::USAGE;
            for (i, (_, e)) in found.iter().enumerate() {
                message.push_str(&format!("\n  {}. {e:#}", i + 1));
                if let Some(h) = help_of(e) {
                    help.push(format!("{}. {h}", i + 1));
                }
                if code_of(e) != exit::USAGE {
                    code = exit::FAILED;
                }
            }
            let mut err = UserError::failed(message, help.join("\n      "));
            err.code = code;
            Err(checked(checks, err.into()))
        }
    }
}

/// The first `UserError` of an error chain, looking inside `Checked`.
fn user_error(err: &anyhow::Error) -> Option<&UserError> {
    err.chain().find_map(|e| {
        e.downcast_ref::<UserError>().or_else(|| {
            e.downcast_ref::<Checked>()
                .and_then(|c| user_error(&c.inner))
        })
    })
}

/// The help line of the first `UserError` in an error chain, if any.
pub fn help_of(err: &anyhow::Error) -> Option<&str> {
    user_error(err).and_then(|u| u.help.as_deref())
}

/// The exit code an error maps to: a `UserError`'s own, else 1.
pub fn code_of(err: &anyhow::Error) -> ExitCode {
    user_error(err).map(|u| u.code).unwrap_or(exit::FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_before_start_are_one_list_with_their_checks() {
        assert!(problems_before_start(Vec::new()).is_ok());
        let one = problems_before_start(vec![(
            "helm",
            UserError::failed("helm is missing", "install helm").into(),
        )])
        .unwrap_err();
        assert_eq!(format!("{one:#}"), "helm is missing");
        assert_eq!(help_of(&one), Some("install helm"));
        assert_eq!(checks_of(&one).as_deref(), Some("helm"));
        let two = problems_before_start(vec![
            (
                "tfvars",
                UserError::usage("no tfvars", "copy the example").into(),
            ),
            ("aws", anyhow::anyhow!("no credentials")),
        ])
        .unwrap_err();
        let text = format!("{two:#}");
        assert!(
            text.starts_with(
                "2 problems before anything could start:\n  1. no tfvars\n  2. no credentials"
            ),
            "{text}"
        );
        assert_eq!(help_of(&two), Some("1. copy the example"));
        // Not all usage errors: exit 1.
        assert_eq!(code_of(&two), exit::FAILED);
        assert_eq!(checks_of(&two).as_deref(), Some("tfvars, aws"));
        let usage = problems_before_start(vec![
            ("tfvars", UserError::usage("a", "b").into()),
            ("backend", UserError::usage("c", "d").into()),
        ])
        .unwrap_err();
        assert_eq!(code_of(&usage), exit::USAGE);
    }
}
