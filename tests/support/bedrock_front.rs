//! Amazon Bedrock's control plane, as deployctl calls it (moto has none of it): the model
//! catalog of one region (GetFoundationModel, ListFoundationModels, with each model's
//! lifecycle), its inference profiles (GetInferenceProfile, ListInferenceProfiles), and an
//! account's access to each model (GetFoundationModelAvailability,
//! ListFoundationModelAgreementOffers, CreateFoundationModelAgreement,
//! GetUseCaseForModelAccess). Answers as Bedrock does: REST-JSON bodies, errors with the
//! `x-amzn-ErrorType` header and a `{"message"}` body. deployctl reaches it through the
//! standard `AWS_ENDPOINT_URL_BEDROCK`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One foundation model of the region's catalog.
#[derive(Debug, Clone)]
pub struct CatalogModel {
    pub id: String,
    pub provider: String,
    /// "ACTIVE" or "LEGACY".
    pub lifecycle: String,
    /// Whether the account has agreed to its Marketplace offer.
    pub agreed: bool,
}

#[derive(Debug, Default)]
pub struct State {
    pub models: BTreeMap<String, CatalogModel>,
    /// Inference profile ID → the model ID behind it.
    pub profiles: BTreeMap<String, String>,
    /// Whether the account submitted Anthropic's use-case form.
    pub use_case_submitted: bool,
    /// Requests seen: "METHOD path".
    pub log: Vec<String>,
    /// Answer every request with this error (status, code, message), e.g. AccessDenied.
    pub refuse_all: Option<(u16, String, String)>,
}

pub struct BedrockFront {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BedrockFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The models of the project's `helm-values/litellm.yaml`, ACTIVE and agreed to, each profile
/// existing in the region: an account where everything the stack calls is in order.
pub fn catalog_for_project() -> State {
    let mut s = State {
        use_case_submitted: true,
        ..Default::default()
    };
    for m in deployctl::stack::bedrock::load(&super::repo_root()).unwrap() {
        s.models.insert(
            m.base.clone(),
            CatalogModel {
                id: m.base.clone(),
                provider: "Anthropic".into(),
                lifecycle: "ACTIVE".into(),
                agreed: true,
            },
        );
        if m.geography.is_some() {
            s.profiles.insert(m.id.clone(), m.base.clone());
        }
    }
    // One more model the region offers, which the stack does not use.
    s.models.insert(
        "anthropic.claude-opus-4-6-v1".into(),
        CatalogModel {
            id: "anthropic.claude-opus-4-6-v1".into(),
            provider: "Anthropic".into(),
            lifecycle: "ACTIVE".into(),
            agreed: false,
        },
    );
    s.profiles.insert(
        "us.anthropic.claude-opus-4-6-v1".into(),
        "anthropic.claude-opus-4-6-v1".into(),
    );
    s
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({ "message": message }).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("x-amzn-ErrorType", code.parse().unwrap());
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn ok(status: u16, body: Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        body.to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn model_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{id}")
}

fn details(region: &str, m: &CatalogModel) -> Value {
    json!({
        "modelArn": model_arn(region, &m.id),
        "modelId": m.id,
        "modelName": m.id,
        "providerName": m.provider,
        "inputModalities": ["TEXT", "IMAGE"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": true,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["INFERENCE_PROFILE"],
        "modelLifecycle": {"status": m.lifecycle},
    })
}

fn profile(region: &str, id: &str, base: &str) -> Value {
    json!({
        "inferenceProfileName": id,
        "inferenceProfileArn": format!("arn:aws:bedrock:{region}:123456789012:inference-profile/{id}"),
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "models": [{"modelArn": model_arn("us-east-1", base)}, {"modelArn": model_arn("us-west-2", base)}],
    })
}

fn answer(state: &mut State, region: &str, method: &Method, uri: &Uri, body: &[u8]) -> Response {
    let decoded = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .into_owned();
    state.log.push(format!("{method} {decoded}"));
    if let Some((status, code, message)) = &state.refuse_all {
        return error(*status, code, message);
    }
    let segs: Vec<&str> = decoded.trim_start_matches('/').split('/').collect();
    let invalid = || {
        error(
            400,
            "ValidationException",
            "The provided model identifier is invalid.",
        )
    };
    match (method, segs.as_slice()) {
        (&Method::GET, ["foundation-models"]) => {
            let provider = uri
                .query()
                .and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("byProvider="))
                        .map(str::to_string)
                })
                .map(|p| p.to_lowercase());
            let list: Vec<Value> = state
                .models
                .values()
                .filter(|m| {
                    provider
                        .as_deref()
                        .is_none_or(|p| m.provider.to_lowercase() == p)
                })
                .map(|m| details(region, m))
                .collect();
            ok(200, json!({ "modelSummaries": list }))
        }
        (&Method::GET, ["foundation-models", id]) => match state.models.get(*id) {
            Some(m) => ok(200, json!({ "modelDetails": details(region, m) })),
            None => invalid(),
        },
        (&Method::GET, ["inference-profiles"]) => {
            let list: Vec<Value> = state
                .profiles
                .iter()
                .map(|(id, base)| profile(region, id, base))
                .collect();
            ok(200, json!({ "inferenceProfileSummaries": list }))
        }
        (&Method::GET, ["inference-profiles", id]) => match state.profiles.get(*id) {
            Some(base) => ok(200, profile(region, id, base)),
            None => error(
                404,
                "ResourceNotFoundException",
                "Inference profile not found.",
            ),
        },
        (&Method::GET, ["foundation-model-availability", id]) => match state.models.get(*id) {
            Some(m) => ok(
                200,
                json!({
                    "modelId": m.id,
                    "agreementAvailability": {"status": if m.agreed { "AVAILABLE" } else { "NOT_AVAILABLE" }},
                    "authorizationStatus": "AUTHORIZED",
                    "entitlementAvailability": if m.agreed { "AVAILABLE" } else { "NOT_AVAILABLE" },
                    "regionAvailability": "AVAILABLE",
                }),
            ),
            None => invalid(),
        },
        (&Method::GET, ["list-foundation-model-agreement-offers", id]) => {
            match state.models.get(*id) {
                Some(m) => ok(
                    200,
                    json!({
                        "modelId": m.id,
                        "offers": [{"offerId": "offer-1", "offerToken": format!("token-{}", m.id),
                                    "termDetails": {}}],
                    }),
                ),
                None => invalid(),
            }
        }
        (&Method::POST, ["create-foundation-model-agreement"]) => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let id = v["modelId"].as_str().unwrap_or_default().to_string();
            let token = v["offerToken"].as_str().unwrap_or_default();
            match state.models.get_mut(&id) {
                Some(m) if token == format!("token-{id}") => {
                    m.agreed = true;
                    ok(202, json!({ "modelId": id }))
                }
                Some(_) => error(400, "ValidationException", "The offer token is not valid."),
                None => invalid(),
            }
        }
        (&Method::GET, ["use-case-for-model-access"]) => {
            if state.use_case_submitted {
                ok(200, json!({ "formData": "e30=" }))
            } else {
                error(
                    404,
                    "ResourceNotFoundException",
                    "Model use case details have not been submitted for this account.",
                )
            }
        }
        _ => error(
            404,
            "UnknownOperationException",
            &format!("the Bedrock stand-in does not answer {method} {decoded}"),
        ),
    }
}

impl BedrockFront {
    pub fn start(region: &str, state: State) -> BedrockFront {
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        let region = region.to_string();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, _headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                let region = region.clone();
                async move {
                    let mut s = shared.lock().unwrap();
                    answer(&mut s, &region, &method, &uri, &body)
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
        BedrockFront { url, state, task }
    }

    /// Requests seen so far ("METHOD path", path decoded).
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn set_lifecycle(&self, model: &str, lifecycle: &str) {
        if let Some(m) = self.state.lock().unwrap().models.get_mut(model) {
            m.lifecycle = lifecycle.to_string();
        }
    }

    pub fn remove_model(&self, model: &str) {
        let mut s = self.state.lock().unwrap();
        s.models.remove(model);
        s.profiles.retain(|_, base| base != model);
    }

    pub fn set_agreed(&self, model: &str, agreed: bool) {
        if let Some(m) = self.state.lock().unwrap().models.get_mut(model) {
            m.agreed = agreed;
        }
    }
}
