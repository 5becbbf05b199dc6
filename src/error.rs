//! Errors the user acts on: a message naming what failed, one `help:` line with the next
//! command, and the exit code.

use std::fmt;

/// Exit codes of BEHAVIOUR.md.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, Clone)]
pub struct UserError {
    pub message: String,
    pub help: Option<String>,
    pub code: i32,
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

/// The checks that failed in this run (preflight's "helm", "kube", "aws", "charts"; "settings";
/// "usage"), named in the JSON summary's `error.check`. One run per process, so one list.
static FAILED_CHECKS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Record that the check `name` failed.
pub fn failed_check(name: &str) {
    let mut v = FAILED_CHECKS.lock().unwrap_or_else(|e| e.into_inner());
    if !v.iter().any(|c| c == name) {
        v.push(name.to_string());
    }
}

/// The failed checks, comma-separated, if any.
pub fn failed_checks() -> Option<String> {
    let v = FAILED_CHECKS.lock().unwrap_or_else(|e| e.into_inner());
    (!v.is_empty()).then(|| v.join(", "))
}

/// The help line of the first `UserError` in an error chain, if any.
pub fn help_of(err: &anyhow::Error) -> Option<&str> {
    err.chain()
        .find_map(|e| e.downcast_ref::<UserError>())
        .and_then(|u| u.help.as_deref())
}

/// The exit code an error maps to: a `UserError`'s own, else 1.
pub fn code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<UserError>())
        .map(|u| u.code)
        .unwrap_or(exit::FAILED)
}
