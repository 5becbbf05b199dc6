//! The chat a user would have, proven end to end through the API server's service proxy
//! (so it works through the bastion tunnel too): LiteLLM answers `/health/readiness`, lists
//! every configured model with the master key, and — unless `--no-model-call` — completes one
//! short request per model (a few tokens); OpenWebUI answers `/health` and the LiteLLM URL it
//! is configured with answers it. A Bedrock refusal is named with its cause and fix.
//!
//! The master key is read from the cluster Secret `litellm-secrets` and sent only in the
//! `x-litellm-api-key` header (the API server keeps `Authorization` for itself); it is never
//! printed, logged or put in an error.

use crate::context::Context;
use crate::platform::kubeapi::errors::retry;
use anyhow::{Context as _, Result, anyhow};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

const LITELLM_NS: &str = "litellm";
const MASTER_SECRET: &str = "litellm-secrets";
const MASTER_KEY: &str = "master-key";
/// The prompt of the proof: a few tokens each way.
const PROMPT: &str = "Reply with the single word OK.";
const MAX_TOKENS: u32 = 5;

/// The path of `path` on Service `ns/svc:port` through the API server's service proxy.
fn proxied(ns: &str, svc: &str, port: u16, path: &str) -> String {
    format!(
        "/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy/{}",
        path.trim_start_matches('/')
    )
}

/// One answer: status and body (a non-2xx status is an answer, not an error).
struct Answer {
    status: u16,
    body: String,
}

/// How long one answer may take: a chat completion (LiteLLM retrying Bedrock included),
/// and every other call.
const COMPLETION_LIMIT: Duration = Duration::from_secs(90);
const CALL_LIMIT: Duration = Duration::from_secs(15);

/// One call through the API server's service proxy, bounded (the proxy is a long-running
/// request the API server does not time out, and the client sets no read timeout) and ended
/// at once by an interrupt.
async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    key: Option<&SecretString>,
    body: Option<&Value>,
) -> Result<Answer> {
    let limit = if method == "POST" {
        COMPLETION_LIMIT
    } else {
        CALL_LIMIT
    };
    let what = format!("{method} {}", path.rsplit("/proxy").next().unwrap_or(path));
    tokio::select! {
        answer = tokio::time::timeout(limit, call_once(client, method, path, key, body)) => {
            answer.unwrap_or_else(|_| Err(anyhow!("{what}: no answer within {}s", limit.as_secs())))
        }
        _ = crate::interrupt::wait() => Err(anyhow!("{what}: interrupted")),
    }
}

async fn call_once(
    client: &kube::Client,
    method: &str,
    path: &str,
    key: Option<&SecretString>,
    body: Option<&Value>,
) -> Result<Answer> {
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("x-litellm-api-key", k.expose_secret());
    }
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(b)?
        }
        None => Vec::new(),
    };
    let req = req
        .body(kube::client::Body::from(bytes))
        .context("building a request")?;
    let resp = client
        .send(req)
        .await
        .map_err(|e| anyhow!("{}", crate::platform::kubeapi::errors::describe(&e)))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect_bytes()
        .await
        .map_err(|e| anyhow!("reading the answer: {e}"))?;
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The models LiteLLM is configured with (`proxy_config.model_list[].model_name` of
/// helm-values/litellm.yaml), in order.
pub fn configured_models(project_dir: &std::path::Path) -> Result<Vec<String>> {
    let path = project_dir.join("helm-values/litellm.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(v["proxy_config"]["model_list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["model_name"].as_str().map(str::to_string))
        .collect())
}

/// Why Bedrock refused a call, and what fixes it, from the error LiteLLM passes on (it
/// carries Bedrock's own message; LiteLLM turns a 403 into a 500, so the text decides).
pub fn bedrock_refusal(status: u16, body: &str) -> Option<(String, String)> {
    let b = body.replace("\\u2019", "’");
    let has = |s: &str| b.contains(s);
    if has("AWS Marketplace actions") || has("Marketplace subscription") {
        return Some((
            "Bedrock refused the model: the account has no AWS Marketplace subscription to it, and the caller may not subscribe".into(),
            "run `deployctl bedrock enable` with credentials that may (aws-marketplace:Subscribe, aws-marketplace:ViewSubscriptions, aws-marketplace:Unsubscribe), then run `deployctl verify` again (a new subscription takes a few minutes)".into(),
        ));
    }
    if has("use case details have not been submitted") {
        return Some((
            "Bedrock refused the model: Anthropic's first-time-use form has not been submitted for this account".into(),
            "submit it once per account (Bedrock console → Model catalog → an Anthropic model → Submit use case details), wait about 15 minutes, then `deployctl verify`".into(),
        ));
    }
    if has("marked by provider as Legacy") || has("reached the end of its life") {
        return Some((
            "Bedrock refused the model: it is in its Legacy lifecycle or past its end of life".into(),
            "move proxy_config.model_list in helm-values/litellm.yaml to an ACTIVE model (`deployctl plan litellm` lists the ones this region offers), then `deployctl litellm`".into(),
        ));
    }
    if has("on-demand throughput isn") {
        return Some((
            "Bedrock refused the model ID: this model is called only through an inference profile".into(),
            "use the inference profile ID (`us.`/`eu.`/`apac.`/`global.` + the model ID) in helm-values/litellm.yaml, then `deployctl irsa litellm`".into(),
        ));
    }
    if has("provided model identifier is invalid") {
        return Some((
            "Bedrock does not know this model ID in this region".into(),
            "use a model this region offers (`deployctl plan litellm` lists them) in helm-values/litellm.yaml, then `deployctl litellm`".into(),
        ));
    }
    if status == 429 || has("Too many requests") || has("Too many tokens") {
        return Some((
            "Bedrock throttled the call (the account's quota for this model)".into(),
            "retry later, or ask for a higher quota (Service Quotas → Amazon Bedrock); `--no-model-call` skips the calls".into(),
        ));
    }
    if has("AccessDenied") || has("not authorized to perform") {
        return Some((
            "Bedrock refused the call: LiteLLM's role may not invoke this model".into(),
            "run `deployctl irsa` (the role's policy is made from the model list), then `deployctl verify`".into(),
        ));
    }
    None
}

/// LiteLLM's error text, without the key (it never carries it, but it is cut anyway) and
/// shortened.
fn error_text(body: &str, key: &SecretString) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = v["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string())
        .replace(key.expose_secret(), "[master key]");
    let text: String = text.chars().take(300).collect();
    text
}

/// What the proof found: lines for the report; an error names each failure with its fix.
pub async fn prove(cx: &Context, model_calls: bool) -> Result<Vec<String>> {
    let client = cx.kube()?;
    let mut lines = Vec::new();
    let mut failures: Vec<String> = Vec::new();

    // LiteLLM is ready (its database and cache answer).
    let ready = call(
        &client,
        "GET",
        &proxied(LITELLM_NS, "litellm", 4000, "/health/readiness"),
        None,
        None,
    )
    .await?;
    if ready.status == 200 {
        lines.push(format!("LiteLLM /health/readiness: {}", ready.body.trim()));
    } else {
        failures.push(format!(
            "LiteLLM /health/readiness answered {}: {}",
            ready.status,
            ready.body.chars().take(200).collect::<String>()
        ));
    }

    let secrets: Api<Secret> = Api::namespaced(client.clone(), LITELLM_NS);
    let secret = retry("reading LiteLLM's master key Secret", || {
        secrets.get_opt(MASTER_SECRET)
    })
    .await?
    .ok_or_else(|| {
        anyhow!("Secret {LITELLM_NS}/{MASTER_SECRET} does not exist: run `deployctl secret-stores`")
    })?;
    let key = secret
        .data
        .as_ref()
        .and_then(|d| d.get(MASTER_KEY))
        .map(|b| SecretString::from(String::from_utf8_lossy(&b.0).into_owned()))
        .ok_or_else(|| {
            anyhow!("Secret {LITELLM_NS}/{MASTER_SECRET} has no key {MASTER_KEY}: run `deployctl secret-stores`")
        })?;

    // Every configured model is offered.
    let wanted = configured_models(&cx.settings.project_dir)?;
    let models = call(
        &client,
        "GET",
        &proxied(LITELLM_NS, "litellm", 4000, "/v1/models"),
        Some(&key),
        None,
    )
    .await?;
    if models.status != 200 {
        failures.push(format!(
            "LiteLLM /v1/models with the master key answered {}: {}",
            models.status,
            error_text(&models.body, &key)
        ));
    } else {
        let v: Value = serde_json::from_str(&models.body).unwrap_or(Value::Null);
        let listed: Vec<String> = v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect();
        let missing: Vec<&String> = wanted.iter().filter(|w| !listed.contains(w)).collect();
        if missing.is_empty() {
            lines.push(format!("LiteLLM /v1/models lists {}", wanted.join(", ")));
        } else {
            failures.push(format!(
                "LiteLLM does not offer {} (it lists {}): run `deployctl litellm`",
                missing
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join(", ")
                }
            ));
        }
    }

    // One short chat per model.
    if model_calls {
        for model in &wanted {
            let request = json!({
                "model": model,
                "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": MAX_TOKENS,
            });
            let a = call(
                &client,
                "POST",
                &proxied(LITELLM_NS, "litellm", 4000, "/v1/chat/completions"),
                Some(&key),
                Some(&request),
            )
            .await?;
            if a.status == 200 {
                let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                let reply = v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .trim()
                    .chars()
                    .take(40)
                    .collect::<String>();
                let tokens = v["usage"]["total_tokens"].as_u64().unwrap_or(0);
                lines.push(format!(
                    "chat with {model}: answered \"{reply}\" ({tokens} tokens)"
                ));
                continue;
            }
            let text = error_text(&a.body, &key);
            match bedrock_refusal(a.status, &text) {
                Some((cause, fix)) => failures.push(format!(
                    "chat with {model} failed (HTTP {}): {cause}\n      Bedrock said: {text}\n      fix: {fix}",
                    a.status
                )),
                None => failures.push(format!(
                    "chat with {model} failed (HTTP {}): {text}",
                    a.status
                )),
            }
        }
    } else {
        lines.push("model calls skipped (--no-model-call)".into());
    }

    // OpenWebUI answers, and the LiteLLM URL it is configured with answers it.
    let health = call(
        &client,
        "GET",
        &proxied("open-webui", "open-webui", 80, "/health"),
        None,
        None,
    )
    .await?;
    if health.status == 200 {
        lines.push(format!("OpenWebUI /health: {}", health.body.trim()));
    } else {
        failures.push(format!(
            "OpenWebUI /health answered {}: {}",
            health.status,
            health.body.chars().take(200).collect::<String>()
        ));
    }
    match openwebui_base_url(cx).await? {
        None => failures.push(
            "OpenWebUI is configured with no OpenAI base URL (OPENAI_API_BASE_URLS): run `deployctl openwebui`"
                .into(),
        ),
        Some(url) => match service_of(&url) {
            None => failures.push(format!(
                "OpenWebUI's OpenAI base URL {url} is not a Service of this cluster"
            )),
            Some((ns, svc, port, path)) => {
                let a = call(
                    &client,
                    "GET",
                    &proxied(&ns, &svc, port, &format!("{path}/models")),
                    Some(&key),
                    None,
                )
                .await?;
                if a.status == 200 {
                    lines.push(format!("OpenWebUI's OpenAI base URL {url} answers"));
                } else {
                    failures.push(format!(
                        "OpenWebUI's OpenAI base URL {url} answered {}: {}",
                        a.status,
                        error_text(&a.body, &key)
                    ));
                }
            }
        },
    }

    if failures.is_empty() {
        Ok(lines)
    } else {
        Err(anyhow!(
            "the chat a user would have does not work:\n  {}\n{}",
            failures.join("\n  "),
            lines
                .iter()
                .map(|l| format!("  ok: {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

/// OPENAI_API_BASE_URLS (the first) of the live OpenWebUI workload.
async fn openwebui_base_url(cx: &Context) -> Result<Option<String>> {
    let client = cx.kube()?;
    for kind in ["StatefulSet", "Deployment"] {
        let gvk = kube::api::GroupVersionKind::gvk("apps", "v1", kind);
        let ar = kube::api::ApiResource::from_gvk(&gvk);
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(client.clone(), "open-webui", &ar);
        let Some(obj) = retry("reading OpenWebUI's workload", || api.get_opt("open-webui")).await?
        else {
            continue;
        };
        let env = obj.data["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
            .find(|e| e["name"] == "OPENAI_API_BASE_URLS")
            .and_then(|e| e["value"].as_str().map(str::to_string));
        return Ok(env.and_then(|v| v.split(';').next().map(str::to_string)));
    }
    Ok(None)
}

/// `http://<svc>.<ns>.svc.cluster.local:<port><path>` → (ns, svc, port, path).
fn service_of(url: &str) -> Option<(String, String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
        None => (rest, String::new()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, 80),
    };
    let mut parts = host.split('.');
    let svc = parts.next()?.to_string();
    let ns = parts.next()?.to_string();
    Some((ns, svc, port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_name_their_service() {
        assert_eq!(
            service_of("http://litellm.litellm.svc.cluster.local:4000/v1"),
            Some(("litellm".into(), "litellm".into(), 4000, "/v1".into()))
        );
        assert_eq!(service_of("https://api.openai.com/v1"), None);
    }

    #[test]
    fn bedrocks_refusals_are_named_with_their_fix() {
        // The texts Bedrock returns (as LiteLLM passes them on), from public reports.
        let cases = [
            (
                500,
                "litellm.APIConnectionError: BedrockException - {\"message\":\"Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model.\"}",
                "deployctl bedrock enable",
            ),
            (
                404,
                "litellm.NotFoundError: BedrockException - {\"message\":\"Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model.\"}",
                "Submit use case details",
            ),
            (
                404,
                "BedrockException - {\"message\":\"Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days.\"}",
                "ACTIVE model",
            ),
            (
                400,
                "litellm.BadRequestError: BedrockException - {\"message\":\"The provided model identifier is invalid.\"}",
                "this region offers",
            ),
            (
                400,
                "BedrockException - {\"message\":\"Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn’t supported.\"}",
                "inference profile",
            ),
            (
                429,
                "litellm.RateLimitError: BedrockException - {\"message\":\"Too many requests, please wait before trying again.\"}",
                "quota",
            ),
        ];
        for (status, body, fix) in cases {
            let (_, f) = bedrock_refusal(status, body).unwrap_or_else(|| panic!("{body}"));
            assert!(f.contains(fix), "{body}: {f}");
        }
        assert!(bedrock_refusal(500, "connection reset").is_none());
    }
}
