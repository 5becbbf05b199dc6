//! Readable Kubernetes errors, and retries of transient API failures (429, 5xx).

use std::future::Future;
use std::time::Duration;

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

fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Whether the error is the API's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Run `f` up to 4 times while it fails transiently; the error says what was attempted.
/// Only for idempotent calls (reads and server-side apply).
pub async fn retry<T, F, Fut>(what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < 4 && transient(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => {
                let tries = if attempt > 1 {
                    format!(" (after {attempt} attempts)")
                } else {
                    String::new()
                };
                return Err(anyhow::anyhow!("{what} failed{tries}: {}", describe(&e)));
            }
        }
    }
}
