//! A LiteLLM proxy stand-in behind the fake API server's service proxy, answering as LiteLLM
//! 1.98 does (`litellm/proxy`): `/health/liveliness`, `/health/readiness`, and — with the
//! master key, which it reads from the cluster Secret `litellm/litellm-secrets` as the real
//! pod gets it — `/v1/models` (the `model_name`s of the config the release rendered into its
//! ConfigMap) and `/v1/chat/completions`. A model can be made to fail as Bedrock refuses
//! it: the stand-in then answers with LiteLLM's error body around Bedrock's own message, with
//! LiteLLM's status mapping (a Bedrock 403 reaches the client as 500).
//!
//! The key is accepted in `x-litellm-api-key` (raw or `Bearer …`) or `Authorization: Bearer`,
//! in that order (`litellm/proxy/auth/user_api_key_auth.py`).

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How Bedrock refuses a model: its HTTP status and message.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    /// AccessDeniedException for a model the account has not subscribed to on Marketplace.
    pub fn marketplace() -> Refusal {
        Refusal { status: 403, message: "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 2 minutes.".into() }
    }
    /// Anthropic's first-time-use form not submitted (Bedrock answers 404).
    pub fn use_case_form() -> Refusal {
        Refusal { status: 404, message: "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model. If you have already filled out the form, try again in 15 minutes.".into() }
    }
    /// A model not offered in the region.
    pub fn invalid_model() -> Refusal {
        Refusal {
            status: 400,
            message: "The provided model identifier is invalid.".into(),
        }
    }
    /// A Legacy model the account has not used recently.
    pub fn legacy() -> Refusal {
        Refusal { status: 404, message: "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days. Please upgrade to an active model on Amazon Bedrock".into() }
    }
    pub fn throttled() -> Refusal {
        Refusal {
            status: 429,
            message: "Too many requests, please wait before trying again.".into(),
        }
    }
}

#[derive(Default)]
pub struct State {
    /// model_name → how Bedrock refuses it.
    pub refusals: BTreeMap<String, Refusal>,
    /// Requests seen: (method, path, whether the key was right).
    pub log: Vec<(String, String, bool)>,
}

pub struct LitellmStandin {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LitellmStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json_response(status: u16, v: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// LiteLLM's error body.
fn error(status: u16, message: &str, kind: &str) -> Response {
    json_response(
        status,
        json!({"error": {"message": message, "type": kind, "param": "None", "code": status.to_string()}}),
    )
}

/// The key the request carries, as LiteLLM finds it.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let get = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(k) = get("x-litellm-api-key") {
        return Some(k.strip_prefix("Bearer ").unwrap_or(&k).to_string());
    }
    get("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
}

async fn master_key(client: &kube::Client) -> Option<String> {
    let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), "litellm");
    let s = api.get_opt("litellm-secrets").await.ok()??;
    let b = s.data?.get("master-key")?.clone();
    Some(String::from_utf8_lossy(&b.0).into_owned())
}

/// The `model_name`s of the config LiteLLM was started with (the chart's ConfigMap).
async fn served_models(client: &kube::Client) -> Vec<String> {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), "litellm");
    let Ok(list) = api.list(&Default::default()).await else {
        return Vec::new();
    };
    for cm in list.items {
        let Some(text) = cm.data.as_ref().and_then(|d| d.get("config.yaml")) else {
            continue;
        };
        let Ok(v) = serde_saphyr::from_str::<Value>(text) else {
            continue;
        };
        return v["model_list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["model_name"].as_str().map(str::to_string))
            .collect();
    }
    Vec::new()
}

/// LiteLLM's status and prefix for a Bedrock refusal (its exception mapping: 403 has no
/// branch of its own and ends up a 500 `APIConnectionError`).
fn litellm_mapping(status: u16) -> (u16, &'static str) {
    match status {
        400 => (400, "litellm.BadRequestError"),
        403 => (500, "litellm.APIConnectionError"),
        404 => (404, "litellm.NotFoundError"),
        429 => (429, "litellm.RateLimitError"),
        _ => (503, "litellm.ServiceUnavailableError"),
    }
}

impl LitellmStandin {
    pub async fn start(kube: &super::kube_server::FakeKube) -> LitellmStandin {
        let client = kube.client().await;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                let client = client.clone();
                async move {
                    let path = uri.path().to_string();
                    match (method.as_str(), path.as_str()) {
                        ("GET", "/health/liveliness") => {
                            return (StatusCode::OK, "\"I'm alive!\"").into_response();
                        }
                        ("GET", "/health/readiness") => {
                            return json_response(200, json!({"status": "healthy", "db": "connected"}));
                        }
                        _ => {}
                    }
                    let key = master_key(&client).await;
                    let ok = key.is_some() && presented_key(&headers) == key;
                    shared
                        .lock()
                        .unwrap()
                        .log
                        .push((method.to_string(), path.clone(), ok));
                    if !ok {
                        return error(
                            401,
                            "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...",
                            "token_not_found_in_db",
                        );
                    }
                    let models = served_models(&client).await;
                    match (method.as_str(), path.as_str()) {
                        ("GET", "/v1/models") | ("GET", "/models") => json_response(
                            200,
                            json!({"object": "list", "data": models.iter().map(|m| json!({
                                "id": m, "object": "model", "created": 1677610602, "owned_by": "openai"
                            })).collect::<Vec<_>>()}),
                        ),
                        ("POST", "/v1/chat/completions") | ("POST", "/chat/completions") => {
                            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let model = req["model"].as_str().unwrap_or("").to_string();
                            if !models.contains(&model) {
                                return error(
                                    400,
                                    &format!("litellm.BadRequestError: Invalid model name passed in model={model}"),
                                    "invalid_request_error",
                                );
                            }
                            let refusal = shared.lock().unwrap().refusals.get(&model).cloned();
                            if let Some(r) = refusal {
                                let (status, prefix) = litellm_mapping(r.status);
                                let bedrock = json!({"message": r.message}).to_string();
                                return error(
                                    status,
                                    &format!("{prefix}: BedrockException - {bedrock}. Received Model Group={model}\nAvailable Model Group Fallbacks=None"),
                                    "None",
                                );
                            }
                            json_response(200, json!({
                                "id": "chatcmpl-standin", "object": "chat.completion",
                                "created": 1767225600, "model": model,
                                "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "OK"}}],
                                "usage": {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16},
                            }))
                        }
                        _ => error(404, "Not Found", "None"),
                    }
                }
            },
        );
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        kube.route_service("litellm", "litellm", &url);
        LitellmStandin { url, state, task }
    }

    /// Bedrock refuses `model` (a model_name) this way from now on.
    pub fn refuse(&self, model: &str, refusal: Refusal) {
        self.state
            .lock()
            .unwrap()
            .refusals
            .insert(model.to_string(), refusal);
    }

    /// The chat completions asked for.
    pub fn chats(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/chat/completions"))
            .count()
    }
}
