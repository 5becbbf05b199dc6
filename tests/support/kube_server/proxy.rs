//! The API server's service proxy (`/api/v1/namespaces/N/services/S:P/proxy/...`), as the
//! real one: it answers only for a Service that exists and a ready pod backs, forwards the
//! method, path, query, headers (but `Authorization`, which the API server keeps for its own
//! authentication) and body to the backend, and returns its answer. The backends:
//! - a stand-in registered with `FakeKube::route_service` (the LiteLLM stand-in), or
//! - OpenWebUI, answered here from the live workload as OpenWebUI 0.11.0 answers: `/health`,
//!   and `/api/config` with `"onboarding": true` while it has no user — it makes its admin at
//!   start-up only when WEBUI_ADMIN_EMAIL and WEBUI_ADMIN_PASSWORD are set, the password from a
//!   Secret key that exists (`open_webui/main.py`, `utils/auth.py` create_admin_user), or
//! - anything else: LiteLLM's `/health/liveliness` answer to every GET.

use super::*;

/// (namespace, service, path after `/proxy`) of a service-proxy path.
fn target(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let segs: Vec<&str> = rest.splitn(5, '/').collect();
    if segs.len() < 4 || segs[1] != "services" || segs[3] != "proxy" {
        return None;
    }
    let svc = segs[2].split(':').next().unwrap_or("").to_string();
    let tail = segs
        .get(4)
        .map(|s| format!("/{s}"))
        .unwrap_or_else(|| "/".into());
    Some((segs[0].to_string(), svc, tail))
}

pub(super) async fn service_proxy(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    let (ns, svc, tail) = target(uri.path())?;
    if *shared.proxy_down.lock().unwrap() {
        return Some(status_error(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{svc}\""),
        ));
    }
    let route = {
        let store = shared.store.lock().unwrap();
        let key = (
            String::new(),
            "services".to_string(),
            ns.clone(),
            svc.clone(),
        );
        let Some(service) = store.objects.get(&key) else {
            return Some(status_error(
                404,
                "NotFound",
                format!("services \"{svc}\" not found"),
            ));
        };
        let selector = service
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or(json!({}));
        let backed = store.objects.iter().any(|(k, o)| {
            k.1 == "pods"
                && k.2 == ns
                && selector.as_object().is_some_and(|sel| {
                    !sel.is_empty()
                        && sel.iter().all(|(lk, lv)| {
                            o.pointer("/metadata/labels").and_then(|l| l.get(lk)) == Some(lv)
                        })
                })
                && o.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
        });
        if !backed {
            return Some(status_error(
                503,
                "ServiceUnavailable",
                format!("no endpoints available for service \"{svc}\""),
            ));
        }
        if svc == "open-webui"
            && !shared
                .routes
                .lock()
                .unwrap()
                .contains_key(&(ns.clone(), svc.clone()))
        {
            return Some(openwebui(&store, &ns, &tail));
        }
        shared
            .routes
            .lock()
            .unwrap()
            .get(&(ns.clone(), svc.clone()))
            .cloned()
    };
    match route {
        Some(url) => {
            let path_and_query = match uri.query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail,
            };
            let target: Uri = path_and_query
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/"));
            let mut forwarded = headers.clone();
            forwarded.remove("authorization");
            Some(super::super::ssm_proxy::forward(&url, method, &target, &forwarded, body).await)
        }
        None if *method == Method::GET => Some((StatusCode::OK, "\"I'm alive!\"").into_response()),
        None => Some(status_error(
            404,
            "NotFound",
            format!("the fake API server has no backend for {method} on service {ns}/{svc}"),
        )),
    }
}

/// OpenWebUI's answers, from its live workload.
fn openwebui(store: &Store, ns: &str, tail: &str) -> Response {
    let json_ok = |v: Value| {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    match tail {
        "/health" => json_ok(json!({"status": true})),
        "/api/config" => {
            let onboarding = !admin_made_at_start(store, ns);
            let mut v = json!({"status": true, "name": "Open WebUI", "version": "0.11.0",
                "features": {"auth": true, "enable_signup": false}});
            if onboarding {
                v["onboarding"] = json!(true);
            }
            json_ok(v)
        }
        _ => (StatusCode::NOT_FOUND, "{\"detail\":\"Not Found\"}").into_response(),
    }
}

/// Whether OpenWebUI's workload gives it WEBUI_ADMIN_EMAIL and a WEBUI_ADMIN_PASSWORD that
/// resolves (a value, or a Secret key that exists).
fn admin_made_at_start(store: &Store, ns: &str) -> bool {
    let workload = store.objects.iter().find(|(k, _)| {
        k.0 == "apps"
            && (k.1 == "statefulsets" || k.1 == "deployments")
            && k.2 == ns
            && k.3 == "open-webui"
    });
    let Some((_, w)) = workload else {
        return false;
    };
    let env: Vec<Value> = w
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .collect();
    let resolves = |name: &str| {
        env.iter().find(|e| e["name"] == name).is_some_and(|e| {
            if e["value"].as_str().is_some_and(|v| !v.is_empty()) {
                return true;
            }
            let r = &e["valueFrom"]["secretKeyRef"];
            let (Some(secret), Some(key)) = (r["name"].as_str(), r["key"].as_str()) else {
                return false;
            };
            store
                .objects
                .get(&(
                    String::new(),
                    "secrets".to_string(),
                    ns.to_string(),
                    secret.to_string(),
                ))
                .is_some_and(|s| s["data"].get(key).is_some() || s["stringData"].get(key).is_some())
        })
    };
    resolves("WEBUI_ADMIN_EMAIL") && resolves("WEBUI_ADMIN_PASSWORD")
}
