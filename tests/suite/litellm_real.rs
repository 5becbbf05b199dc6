//! The real LiteLLM proxy, run with the configuration and environment our release renders
//! (tests/support/litellm_real.rs): it starts; `/v1/models` lists every configured model; a
//! chat completion with the master key reaches each model's Bedrock ID on the Converse path
//! and returns Bedrock's answer; the same request again is served from Redis; spend is
//! labelled with the e-mail OpenWebUI forwards; a wrong key is refused. The same proof fails
//! on broken copies: a mistyped model ID, the wrong Redis password, the master key not wired.

use crate::support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::bedrock_runtime::{BedrockRuntime, answer_for};
use support::charts::{charts_dir, render_project};
use support::litellm_real::{Proxy, Redis, Rendered, environment, request};

const MASTER_KEY: &str = "sk-test-master-0123456789abcdef";
const REDIS_PASSWORD: &str = "test-redis-password-4242";
const USER: &str = "bob@example.com";

fn secrets(redis_password: &str) -> BTreeMap<(String, String), String> {
    [
        ("litellm-secrets", "master-key", MASTER_KEY),
        (
            "litellm-secrets",
            "salt-key",
            "sk-test-salt-0123456789abcdef",
        ),
        ("redis-credentials", "redis-password", redis_password),
    ]
    .into_iter()
    .map(|(s, k, v)| ((s.to_string(), k.to_string()), v.to_string()))
    .collect()
}

/// The proof, against a running proxy; `Err` names what failed.
fn prove(
    proxy: &Proxy,
    config: &Value,
    runtime: &BedrockRuntime,
    redis: &Redis,
) -> Result<(), String> {
    let auth = format!("Bearer {MASTER_KEY}");
    let models: Vec<(String, String)> = config["model_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["model_name"].as_str().unwrap().to_string(),
                m["litellm_params"]["model"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("bedrock/")
                    .to_string(),
            )
        })
        .collect();
    let get = |path: &str, headers: &[(&str, &str)]| {
        request(proxy.port, "GET", path, headers, None).map_err(|e| format!("GET {path}: {e}"))
    };
    let listed = get("/v1/models", &[("Authorization", &auth)])?;
    if listed.status != 200 {
        return Err(format!(
            "/v1/models answered {}: {}",
            listed.status, listed.body
        ));
    }
    let ids: Vec<String> = listed.json()["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    for (name, _) in &models {
        if !ids.contains(name) {
            return Err(format!("/v1/models does not list {name}: {ids:?}"));
        }
    }
    let chat = |name: &str, key: &str| {
        let body = json!({"model": name, "max_tokens": 16,
            "messages": [{"role": "user", "content": format!("say hello, {name}")}]});
        request(
            proxy.port,
            "POST",
            "/v1/chat/completions",
            &[
                ("Authorization", &format!("Bearer {key}")),
                ("X-OpenWebUI-User-Email", USER),
            ],
            Some(&body),
        )
        .map_err(|e| format!("chat with {name}: {e}"))
    };
    for (name, bedrock_id) in &models {
        let before = runtime.calls().len();
        let a = chat(name, MASTER_KEY)?;
        let text = a.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if a.status != 200 || text != answer_for(bedrock_id) {
            return Err(format!(
                "a chat with {name} was not answered by Bedrock's {bedrock_id}: {} {}",
                a.status, a.body
            ));
        }
        let called = runtime.calls();
        if called.get(before).map(String::as_str) != Some(bedrock_id.as_str()) {
            return Err(format!(
                "{name} did not reach Bedrock as /model/{bedrock_id}/converse: {:?}",
                &called[before..]
            ));
        }
    }
    // The same request again: from the cache, Bedrock not called; and the cache is Redis
    // (LiteLLM keeps an in-memory copy too): the answer's cache key is there.
    let (first, _) = &models[0];
    let before = runtime.calls().len();
    let again = chat(first, MASTER_KEY)?;
    let key = again
        .header("x-litellm-cache-key")
        .unwrap_or("")
        .to_string();
    if key.is_empty() || !redis.command(&["EXISTS", &key]).starts_with(":1") {
        return Err(format!(
            "the response cache is not in Redis (cache key `{key}`; Redis has {} key(s))",
            redis.command(&["DBSIZE"]).trim()
        ));
    }
    if again.status != 200 || runtime.calls().len() != before {
        return Err(format!(
            "a repeated request was not served from the Redis cache (Bedrock called {} more time(s); {} {})",
            runtime.calls().len() - before,
            again.status,
            again.body
        ));
    }
    // A wrong key is refused, and Bedrock never asked.
    let wrong = chat(first, "sk-not-the-master-key")?;
    if !(400..500).contains(&wrong.status) || runtime.calls().len() != before {
        return Err(format!(
            "a wrong key was not refused: {} {}",
            wrong.status, wrong.body
        ));
    }
    // Spend per person: on /metrics (no key: Prometheus scrapes it so), labelled with the
    // e-mail OpenWebUI forwards.
    let metrics = get("/metrics/", &[])?;
    let labelled = metrics.body.lines().any(|l| {
        l.starts_with("litellm_spend_metric") && l.contains(&format!("end_user=\"{USER}\""))
    });
    if metrics.status != 200 || !labelled {
        return Err(format!(
            "/metrics has no spend for end_user {USER} (HTTP {}): {}",
            metrics.status,
            metrics
                .body
                .lines()
                .filter(|l| l.starts_with("litellm_spend_metric"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_proxy_serves_our_configuration_and_the_proof_catches_broken_copies() {
    let charts = charts_dir();
    let run = render_project(&charts, &support::repo_root()).await;
    run.assert_code(0);
    let rendered = Rendered::from_render(&run.stdout);
    let runtime = BedrockRuntime::start().await;
    let redis = tokio::task::spawn_blocking(|| Redis::start(REDIS_PASSWORD))
        .await
        .unwrap();
    let url = runtime.url.clone();
    let runtime = std::sync::Arc::new(runtime);
    let redis = std::sync::Arc::new(redis);
    let run_case = |config: Value, env: BTreeMap<String, String>| {
        let runtime = runtime.clone();
        let redis = redis.clone();
        tokio::task::spawn_blocking(move || {
            let proxy = Proxy::start(&config, &env)?;
            prove(&proxy, &config, &runtime, &redis)
                .map_err(|e| format!("{e}\n--- proxy output ---\n{}", proxy.log_tail()))
        })
    };

    // As rendered: the whole proof holds.
    let env = environment(&rendered, &secrets(REDIS_PASSWORD), &redis, &url).unwrap();
    assert!(
        env.contains_key("PROXY_MASTER_KEY"),
        "the master key comes from litellm-secrets"
    );
    run_case(rendered.config.clone(), env.clone())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the proxy as rendered: {e}"));
    // The dashboard asks for metrics this LiteLLM exports: each `litellm_…` name in its
    // queries is on the real proxy's /metrics after a few requests.
    let dashboard =
        std::fs::read_to_string(support::repo_root().join("manifests/dashboards/litellm.yaml"))
            .unwrap();
    let wanted: std::collections::BTreeSet<String> = dashboard
        .match_indices("litellm_")
        .map(|(i, _)| {
            dashboard[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| m.len() > "litellm_".len() && m != "litellm_model_name")
        .collect();
    let (config, env2, runtime2, redis2) = (
        rendered.config.clone(),
        env.clone(),
        runtime.clone(),
        redis.clone(),
    );
    let exported = tokio::task::spawn_blocking(move || {
        redis2.command(&["FLUSHALL"]);
        let proxy = Proxy::start(&config, &env2).unwrap();
        prove(&proxy, &config, &runtime2, &redis2).unwrap();
        request(proxy.port, "GET", "/metrics/", &[], None)
            .unwrap()
            .body
    })
    .await
    .unwrap();
    for m in &wanted {
        assert!(
            exported.lines().any(|l| l.starts_with(m.as_str())),
            "the dashboard queries {m}, which LiteLLM 1.98.0 does not export"
        );
    }
    assert!(wanted.contains("litellm_spend_metric_total"), "{wanted:?}");

    // Broken copies: each is caught.
    let mut typo = rendered.config.clone();
    let m = &mut typo["model_list"][0]["litellm_params"]["model"];
    *m = json!(m.as_str().unwrap().replace("sonnet-4-6", "sonnet-4-7"));
    let e = run_case(typo, env.clone()).await.unwrap().unwrap_err();
    assert!(
        e.contains("was not answered by Bedrock"),
        "a mistyped model ID: {e}"
    );

    // (The good run's cache entries go first: they would prove nothing of this proxy.)
    redis.command(&["FLUSHALL"]);
    let wrong_redis =
        environment(&rendered, &secrets("not-the-redis-password"), &redis, &url).unwrap();
    let e = run_case(rendered.config.clone(), wrong_redis)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        e.contains("not in Redis") || e.contains("at start-up"),
        "the wrong Redis password: {e}"
    );

    let mut unwired = env.clone();
    unwired.remove("PROXY_MASTER_KEY");
    let e = run_case(rendered.config.clone(), unwired)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        e.contains("a wrong key was not refused") || e.contains("/v1/models answered"),
        "the master key not wired: {e}"
    );
}
