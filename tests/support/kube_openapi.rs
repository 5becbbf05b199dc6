//! `/openapi/v3` of the fake API server, as a real one publishes it: a root index of
//! group-versions (`paths` → `serverRelativeURL`) and one document per group-version whose
//! PATCH operations carry `x-kubernetes-group-version-kind` and the `fieldValidation` query
//! parameter. client-go reads these to decide that the server validates fields itself (server
//! side field validation); without them helm falls back to downloading schemas (/openapi/v2).

use super::kube_server::ResourceType;
use serde_json::{Map, Value, json};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`.
pub fn root(types: &[ResourceType], generation: u64) -> Value {
    let mut paths = Map::new();
    for t in types {
        let p = gv_path(&t.group, &t.version);
        paths.entry(p.clone()).or_insert_with(
            || json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={generation:016X}")}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/<api/v1 | apis/g/v>`, or None for an unknown group-version.
pub fn group_version(types: &[ResourceType], rel: &str) -> Option<Value> {
    let matching: Vec<&ResourceType> = types
        .iter()
        .filter(|t| gv_path(&t.group, &t.version) == rel)
        .collect();
    if matching.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for t in matching {
        let base = format!("/{}", gv_path(&t.group, &t.version));
        let item = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{base}/{}/{{name}}", t.plural)
        };
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let param = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        let op = |action: &str, params: Vec<Value>| {
            json!({
                "operationId": format!("{action}{}", t.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}}
            })
        };
        paths.insert(
            item,
            json!({
                "get": op("get", vec![]),
                "put": op("put", vec![param("dryRun"), param("fieldManager"), param("fieldValidation")]),
                "patch": op("patch", vec![param("dryRun"), param("fieldManager"), param("fieldValidation"), param("force")]),
                "delete": op("delete", vec![param("dryRun")]),
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (fake)", "version": "v1.35.0"},
        "paths": paths,
        "components": {"schemas": {}}
    }))
}
