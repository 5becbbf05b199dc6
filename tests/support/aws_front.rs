//! A fault front for moto: every AWS call passes to moto unchanged unless a test told the
//! front to throttle or fail that operation (by its JSON-protocol target, e.g.
//! `secretsmanager.PutSecretValue`, or its query-protocol `Action=`), as AWS answers: a
//! ThrottlingException (HTTP 400) or an internal error (HTTP 500), which the SDK retries.
//! deployctl reaches it through a service's `AWS_ENDPOINT_URL_<SERVICE>`. It also keeps the
//! operation and body of every request it passes on, for tests that check what a client sent (e.g. the password
//! Terraform gave RDS, which no AWS API reads back).

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFault {
    Throttle,
    InternalError,
}

struct Rule {
    operation: String,
    remaining: usize,
    fault: AwsFault,
}

pub struct AwsFront {
    pub url: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    /// Operations answered with a fault, in order.
    pub faulted: Arc<Mutex<Vec<String>>>,
    /// Every request passed on to moto (not those answered with a fault): (operation, body).
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AwsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn operation_of(headers: &HeaderMap, body: &Bytes) -> String {
    if let Some(t) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return t.to_string();
    }
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("")
        .to_string()
}

impl AwsFront {
    pub async fn start(moto_url: &str) -> AwsFront {
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let faulted: Arc<Mutex<Vec<String>>> = Arc::default();
        let requests: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (r, f, q, moto) = (
            rules.clone(),
            faulted.clone(),
            requests.clone(),
            moto_url.to_string(),
        );
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (rules, faulted, requests, moto) =
                    (r.clone(), f.clone(), q.clone(), moto.clone());
                async move {
                    let op = operation_of(&headers, &body);
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let hit = {
                        let mut rules = rules.lock().unwrap();
                        rules
                            .iter_mut()
                            .find(|rule| rule.remaining > 0 && op.ends_with(&rule.operation))
                            .map(|rule| {
                                rule.remaining -= 1;
                                rule.fault
                            })
                    };
                    match hit {
                        Some(fault) => {
                            faulted.lock().unwrap().push(op);
                            let (status, kind, message) = match fault {
                                AwsFault::Throttle => (
                                    StatusCode::BAD_REQUEST,
                                    "ThrottlingException",
                                    "Rate exceeded",
                                ),
                                AwsFault::InternalError => (
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    "InternalServiceError",
                                    "An internal error occurred",
                                ),
                            };
                            (
                                status,
                                [
                                    ("content-type", "application/x-amz-json-1.1"),
                                    ("x-amzn-errortype", kind),
                                ],
                                serde_json::json!({"__type": kind, "message": message}).to_string(),
                            )
                                .into_response()
                        }
                        None => {
                            requests.lock().unwrap().push((op, text));
                            super::ssm_proxy::forward(&moto, &method, &uri, &headers, &body).await
                        }
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AwsFront {
            url,
            rules,
            faulted,
            requests,
            task,
        }
    }

    /// Forget every fault not yet used.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// The next `n` calls of `operation` (e.g. "PutSecretValue") get `fault`.
    pub fn fail(&self, operation: &str, n: usize, fault: AwsFault) {
        self.rules.lock().unwrap().push(Rule {
            operation: operation.to_string(),
            remaining: n,
            fault,
        });
    }
}

/// A query-protocol request's parameter (`Name=value` in the form body), percent-decoded.
pub fn query_param(body: &str, name: &str) -> Option<String> {
    let raw = body
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))?;
    let bytes = raw.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}
