//! The API server's service proxy (`/api/v1/namespaces/N/services/S:P/proxy/...`).

use super::*;

/// GET /api/v1/namespaces/{ns}/services/{name}[:{port}]/proxy/{path}: answers when the
/// Service exists and a ready pod backs it (LiteLLM's /health/liveliness).
pub(super) fn service_proxy(shared: &Shared, path: &str) -> Option<Response> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let segs: Vec<&str> = rest.splitn(5, '/').collect();
    if segs.len() < 4 || segs[1] != "services" || segs[3] != "proxy" {
        return None;
    }
    let (ns, svc) = (segs[0], segs[2].split(':').next().unwrap_or(""));
    if *shared.proxy_down.lock().unwrap() {
        return Some(status_error(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{svc}\""),
        ));
    }
    let store = shared.store.lock().unwrap();
    let key = (
        String::new(),
        "services".to_string(),
        ns.to_string(),
        svc.to_string(),
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
    Some((StatusCode::OK, "\"I'm alive!\"").into_response())
}
