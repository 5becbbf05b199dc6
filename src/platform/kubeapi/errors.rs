//! Readable Kubernetes errors, and retries of transient API failures (429, 5xx).

use std::future::Future;
use std::time::{Duration, Instant};

/// One line for a kube error: the API's message with its reason and HTTP code.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() {
                "error"
            } else {
                &s.reason
            };
            format!("{} ({reason}, HTTP {})", s.message, s.code)
        }
        other => other.to_string(),
    }
}

/// Worth another try: throttling (429), a server that is unavailable or failing (500, 502,
/// 503, 504 — what an API server answers while a Service has no endpoints, or while it is
/// restarting), and connections that failed or were reset.
pub fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// What the server asked for: `details.retryAfterSeconds` of its Status (the body of the
/// `Retry-After` answer).
fn retry_after(e: &kube::Error) -> Option<Duration> {
    match e {
        kube::Error::Api(s) => s
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|n| *n > 0)
            .map(|n| Duration::from_secs(u64::from(n))),
        _ => None,
    }
}

/// The total time one call may spend retrying.
pub const RETRY_BUDGET: Duration = Duration::from_secs(30);

/// `d` scaled by a random factor in [0.5, 1.0): retries of many callers do not line up.
fn jitter(d: Duration) -> Duration {
    let r = getrandom::u32().unwrap_or(u32::MAX / 2);
    d.mul_f64(0.5 + f64::from(r) / f64::from(u32::MAX) / 2.0)
}

/// Whether the error is the API's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Run `f` again while it fails transiently — exponential backoff with jitter, or the
/// server's Retry-After — within `RETRY_BUDGET` in total; after a few seconds of it, says on
/// stderr what it is waiting for. The error says what was attempted, how often, for how long.
/// This is the only retry layer (the kube client's own is switched off in `kube::connect`).
/// Only for idempotent calls: reads, server-side apply, merge patches that set a fixed value,
/// create-if-absent.
pub async fn retry<T, F, Fut>(what: &str, f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retry_within(what, RETRY_BUDGET, f).await
}

/// Why a retried call failed: what was attempted, how often, for how long, and the last
/// error (none when the server did not answer in time). Its message is the one line callers
/// show; `answered` tells a server that answered with an error from one that did not answer.
#[derive(Debug)]
pub struct RetryFailure {
    pub what: String,
    pub attempts: u32,
    pub elapsed: Duration,
    pub budget: Duration,
    /// The last error; `None`: no answer within the budget.
    pub last: Option<kube::Error>,
    /// Whether the retries ran out (the last error was transient) rather than a
    /// non-transient error ending them.
    pub exhausted: bool,
}

impl RetryFailure {
    /// The HTTP status the server answered with, when it answered.
    pub fn answered(&self) -> Option<u16> {
        match &self.last {
            Some(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        }
    }

    /// "N attempts over Ns".
    pub fn tries(&self) -> String {
        format!(
            "{} attempt{} over {}s",
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed.as_secs()
        )
    }
}

impl std::fmt::Display for RetryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = &self.what;
        match &self.last {
            None => write!(
                f,
                "{what} failed: no answer from the Kubernetes API within {}s ({} attempt{})",
                self.elapsed.as_secs(),
                self.attempts,
                if self.attempts == 1 { "" } else { "s" }
            ),
            Some(e) if self.exhausted => write!(
                f,
                "{what} failed: gave up after {} attempts in {}s (retry budget {}s): {}",
                self.attempts,
                self.elapsed.as_secs(),
                self.budget.as_secs(),
                describe(e)
            ),
            Some(e) if self.attempts > 1 => write!(
                f,
                "{what} failed (after {} attempts): {}",
                self.attempts,
                describe(e)
            ),
            Some(e) => write!(f, "{what} failed: {}", describe(e)),
        }
    }
}

impl std::error::Error for RetryFailure {}

pub async fn retry_within<T, F, Fut>(what: &str, budget: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1u32;
    let mut said = false;
    let failure = |attempts: u32, last: Option<kube::Error>, exhausted: bool| {
        anyhow::Error::new(RetryFailure {
            what: what.to_string(),
            attempts,
            elapsed: started.elapsed(),
            budget,
            last,
            exhausted,
        })
    };
    loop {
        // A black-holed server answers nothing: each attempt gets what is left of the budget.
        let left = budget
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        let Ok(answer) = tokio::time::timeout(left, f()).await else {
            return Err(failure(attempt, None, true));
        };
        match answer {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) => {
                let wait = retry_after(&e).unwrap_or_else(|| jitter(delay));
                let elapsed = started.elapsed();
                if elapsed + wait > budget {
                    return Err(failure(attempt, Some(e), true));
                }
                if !said && elapsed + wait >= Duration::from_secs(3) {
                    said = true;
                    crate::ui::err_line(&format!(
                        "  … still trying: {what} ({}); retrying for up to {}s more",
                        describe(&e),
                        budget.saturating_sub(elapsed).as_secs()
                    ));
                }
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            Err(e) => return Err(failure(attempt, Some(e), false)),
        }
    }
}
