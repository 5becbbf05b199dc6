//! Child processes (helm; terraform and the SSM plugin later) as values: program, args, env,
//! with errors that carry the command line, exit code and the tail of stderr.

pub mod helm;
pub mod terraform;

use anyhow::Result;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Process {
    program: String,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    /// Variables left out of the child's environment.
    remove: Vec<String>,
    cwd: Option<PathBuf>,
    timeout: Option<Duration>,
    /// What the interrupt notice calls it (default: the program and its first two words).
    label: Option<String>,
    /// What the first, graceful interrupt does to it.
    on_interrupt: crate::interrupt::OnInterrupt,
}

/// Secrets deployctl reads from its environment that no child needs: never inherited.
pub const NEVER_INHERITED: &[&str] = &["DATABASE_URL", "OIDC_CLIENT_SECRET"];

/// AWS credentials: a child that talks to no AWS API (the editor) does not get them. helm
/// and terraform keep them (the kubeconfig's exec credential and the AWS provider need them).
pub const AWS_CREDENTIALS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];

/// A private temporary directory (0700), removed when dropped: plan files and generated
/// values never sit where other users can read them.
pub fn private_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o700));
    }
    b.tempdir()
}

/// Which output a streamed line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The captured result of a finished process.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("`{program}` not found on PATH")]
    NotFound { program: String },
    #[error("failed to start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` timed out after {}s", .after.as_secs())]
    Timeout { command: String, after: Duration },
    #[error("`{command}` exited with {}{}", code_text(.code), tail_text(.stderr_tail))]
    Failed {
        command: String,
        code: Option<i32>,
        stderr_tail: String,
    },
}

fn code_text(code: &Option<i32>) -> String {
    match code {
        Some(c) => format!("code {c}"),
        None => "a signal".into(),
    }
}

fn tail_text(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n{tail}")
    }
}

/// The last `n` non-empty lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Process {
    pub fn new(program: impl Into<String>) -> Self {
        Process {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            remove: Vec::new(),
            cwd: None,
            timeout: None,
            label: None,
            on_interrupt: crate::interrupt::OnInterrupt::Stop,
        }
    }
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    pub fn env(mut self, key: impl Into<String>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// Its time limit, if it has one.
    pub fn limit(&self) -> Option<Duration> {
        self.timeout
    }

    /// What the interrupt notice calls this process ("helm upgrade redis").
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// At the first interrupt, let it finish by itself within its timeout instead of asking
    /// it to stop (see `interrupt::OnInterrupt::Finish`).
    pub fn finish_on_interrupt(mut self) -> Self {
        self.on_interrupt = crate::interrupt::OnInterrupt::Finish;
        self
    }

    /// The name of this process in the interrupt notice.
    fn what(&self) -> String {
        self.label.clone().unwrap_or_else(|| {
            let mut words = vec![self.program.clone()];
            words.extend(
                self.args
                    .iter()
                    .take(2)
                    .map(|a| a.to_string_lossy().into_owned()),
            );
            words.join(" ")
        })
    }

    /// Leave `key` out of the child's environment (on top of `NEVER_INHERITED`).
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.remove.push(key.into());
        self
    }

    /// Start the process: stdin closed, stdout and stderr piped, killed when dropped, in a
    /// process group of its own (a terminal's Ctrl-C reaches deployctl only; `interrupt`
    /// forwards one polite SIGINT), known to `interrupt` while it runs.
    fn spawn(&self) -> Result<(tokio::process::Child, crate::interrupt::Child), ProcessError> {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        let known = crate::interrupt::child(
            child.id().unwrap_or(0),
            &self.what(),
            self.on_interrupt,
            self.timeout,
        );
        Ok((child, known))
    }

    /// Start a process that serves the run in the background (the API tunnel): stdin closed,
    /// stdout and stderr drained into a short tail (a full pipe would stall it), in a process
    /// group of its own that a graceful interrupt leaves running (the steps still finishing
    /// need it) but every exit stops (`interrupt::stop_background`), killed when dropped.
    pub fn start(&self) -> Result<Background, ProcessError> {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        let pid = child.id().unwrap_or(0);
        let tail = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let tail = tail.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncBufReadExt, BufReader};
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    if t.len() == 40 {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        Ok(Background {
            command: self.to_string(),
            child,
            pid,
            tail,
            _known: crate::interrupt::background(pid),
        })
    }

    /// Run attached to this terminal (stdin, stdout and stderr inherited, in the terminal's
    /// process group so the terminal's keys reach it): an interactive session.
    pub async fn attached(&self) -> Result<Option<i32>, ProcessError> {
        let status = self
            .command()
            .status()
            .await
            .map_err(|e| self.spawn_error(e))?;
        Ok(status.code())
    }

    /// The command with its environment (`NEVER_INHERITED` and `remove` left out).
    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        for k in NEVER_INHERITED
            .iter()
            .copied()
            .chain(self.remove.iter().map(String::as_str))
        {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    fn spawn_error(&self, source: std::io::Error) -> ProcessError {
        if source.kind() == std::io::ErrorKind::NotFound {
            ProcessError::NotFound {
                program: self.program.clone(),
            }
        } else {
            ProcessError::Spawn {
                command: self.to_string(),
                source,
            }
        }
    }

    /// Run to completion and capture output; a non-zero exit is NOT an error here.
    pub async fn output(&self) -> Result<Output, ProcessError> {
        let (child, _known) = self.spawn()?;
        let wait = child.wait_with_output();
        let out = match self.timeout {
            Some(after) => {
                tokio::time::timeout(after, wait)
                    .await
                    .map_err(|_| ProcessError::Timeout {
                        command: self.to_string(),
                        after,
                    })?
            }
            None => wait.await,
        }
        .map_err(|source| ProcessError::Spawn {
            command: self.to_string(),
            source,
        })?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run to completion, handing every stdout and stderr line to `on_line` as it arrives
    /// (terraform's progress), and capture both. A non-zero exit is NOT an error here.
    pub async fn stream(
        &self,
        mut on_line: impl FnMut(Stream, &str),
    ) -> Result<Output, ProcessError> {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let (mut child, _known) = self.spawn()?;
        let spawn_err = |source| ProcessError::Spawn {
            command: self.to_string(),
            source,
        };
        let mut out_lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut err_lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let (mut out_open, mut err_open) = (true, true);
        let pump = async {
            while out_open || err_open {
                tokio::select! {
                    line = out_lines.next_line(), if out_open => match line.map_err(spawn_err)? {
                        Some(l) => { on_line(Stream::Stdout, &l); stdout.push_str(&l); stdout.push('\n'); }
                        None => out_open = false,
                    },
                    line = err_lines.next_line(), if err_open => match line.map_err(spawn_err)? {
                        Some(l) => { on_line(Stream::Stderr, &l); stderr.push_str(&l); stderr.push('\n'); }
                        None => err_open = false,
                    },
                }
            }
            child.wait().await.map_err(spawn_err)
        };
        let status =
            match self.timeout {
                Some(after) => tokio::time::timeout(after, pump).await.map_err(|_| {
                    ProcessError::Timeout {
                        command: self.to_string(),
                        after,
                    }
                })??,
                None => pump.await?,
            };
        Ok(Output {
            code: status.code(),
            stdout,
            stderr,
        })
    }

    /// Run and require exit 0; the error carries the tail of stderr.
    pub async fn run(&self) -> Result<Output, ProcessError> {
        let out = self.output().await?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.failed(&out))
        }
    }

    pub fn failed(&self, out: &Output) -> ProcessError {
        let source = if out.stderr.trim().is_empty() {
            &out.stdout
        } else {
            &out.stderr
        };
        ProcessError::Failed {
            command: self.to_string(),
            code: out.code,
            stderr_tail: tail(source, 12),
        }
    }
}

/// A running background process (`Process::start`).
pub struct Background {
    command: String,
    child: tokio::process::Child,
    pid: u32,
    tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
    _known: crate::interrupt::Background,
}

impl Background {
    /// Its exit code when it has exited (None inside: by a signal).
    pub fn exited(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    /// The last lines it printed (stdout and stderr interleaved).
    pub fn output_tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    /// Stop it: SIGTERM to its group, then SIGKILL when it has not exited within `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        if self.pid > 1 {
            unsafe { libc::kill(-(self.pid as i32), libc::SIGTERM) };
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            let a = arg.to_string_lossy();
            if a.is_empty() || a.contains(char::is_whitespace) {
                write!(f, " '{a}'")?;
            } else {
                write!(f, " {a}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_spaces() {
        let p = Process::new("helm").args(["repo", "add", "a b"]);
        assert_eq!(p.to_string(), "helm repo add 'a b'");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 3), "");
    }

    #[tokio::test]
    async fn failures_carry_the_command_and_stderr() {
        let p = Process::new("sh").args(["-c", "echo boom >&2; exit 3"]);
        let err = p.run().await.unwrap_err().to_string();
        assert!(
            err.contains("exited with code 3") && err.contains("boom"),
            "{err}"
        );
        let mut seen = Vec::new();
        let out = Process::new("sh")
            .args(["-c", "echo one; echo two >&2; echo three"])
            .stream(|which, line| seen.push((which, line.to_string())))
            .await
            .unwrap();
        assert!(out.success());
        assert_eq!(out.stdout, "one\nthree\n");
        assert_eq!(out.stderr, "two\n");
        assert_eq!(seen.len(), 3);
        assert!(seen.contains(&(Stream::Stderr, "two".to_string())));
        let missing = Process::new("definitely-not-a-program-xyz").run().await;
        assert!(matches!(missing, Err(ProcessError::NotFound { .. })));
    }
}
