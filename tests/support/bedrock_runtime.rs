//! Amazon Bedrock's runtime, as the real LiteLLM proxy calls it for a `bedrock/…` model:
//! `POST /model/{modelId}/converse` (the Converse API; LiteLLM sends the ID URL-encoded,
//! `:` as `%3A`), SigV4-signed for service `bedrock` (not checked here). It answers as Bedrock
//! does: the Converse response shape (`output.message.content[].text`, `stopReason`,
//! `usage`), and for a model ID Bedrock does not have, 400 with `x-amzn-ErrorType:
//! ValidationException` and `{"message": "The provided model identifier is invalid."}`.
//!
//! The IDs it knows are Bedrock's, not the project's: the models and US/EU/global inference
//! profiles of `KNOWN_MODELS` (sources next to them), so a model ID mistyped in
//! helm-values/litellm.yaml is refused here as Bedrock would refuse it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Foundation model IDs Bedrock serves (Anthropic's "Claude on Amazon Bedrock" model table
/// and AWS's Bedrock "Supported foundation models" page, read 2026-12-06): from the 4.6
/// generation on, IDs carry no date and no `-v1:0`.
pub const KNOWN_MODELS: &[&str] = &[
    "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-6-v1",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
];

/// Cross-Region inference profile prefixes (AWS, "Supported Regions and models for
/// inference profiles").
pub const PROFILE_PREFIXES: &[&str] = &["us.", "eu.", "apac.", "global."];

/// Whether Bedrock has this model or inference profile ID.
pub fn known(id: &str) -> bool {
    let base = PROFILE_PREFIXES
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id);
    KNOWN_MODELS.contains(&base)
}

/// What the stand-in answers for `id`.
pub fn answer_for(id: &str) -> String {
    format!("answer from {id}")
}

pub struct BedrockRuntime {
    pub url: String,
    /// The model IDs called, in order (decoded).
    pub calls: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BedrockRuntime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl BedrockRuntime {
    pub async fn start() -> BedrockRuntime {
        let calls: Arc<Mutex<Vec<String>>> = Arc::default();
        let c = calls.clone();
        let app = Router::new().route(
            "/model/{id}/converse",
            axum::routing::post(move |Path(raw): Path<String>, body: Bytes| {
                let calls = c.clone();
                async move {
                    let id = decode(&raw);
                    calls.lock().unwrap().push(id.clone());
                    let request: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    if !known(&id) {
                        return (
                            StatusCode::BAD_REQUEST,
                            [("x-amzn-errortype", "ValidationException")],
                            json!({"message": "The provided model identifier is invalid."})
                                .to_string(),
                        )
                            .into_response();
                    }
                    if request["messages"].as_array().is_none_or(|m| m.is_empty()) {
                        return (
                            StatusCode::BAD_REQUEST,
                            [("x-amzn-errortype", "ValidationException")],
                            json!({"message": "A conversation must start with a user message."})
                                .to_string(),
                        )
                            .into_response();
                    }
                    let resp: Response = (
                        StatusCode::OK,
                        [("content-type", "application/json")],
                        json!({
                            "output": {"message": {"role": "assistant",
                                "content": [{"text": answer_for(&id)}]}},
                            "stopReason": "end_turn",
                            "usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
                            "metrics": {"latencyMs": 5}
                        })
                        .to_string(),
                    )
                        .into_response();
                    resp
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        BedrockRuntime { url, calls, task }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}
