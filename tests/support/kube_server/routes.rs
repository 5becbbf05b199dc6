//! The HTTP routes: discovery, get/list/create/update/patch/delete with `Status` errors,
//! faults injected by path, and the request log.

use super::*;

pub(super) fn builtin_types() -> Vec<ResourceType> {
    let t = |group: &str, version: &str, plural: &str, kind: &str, namespaced: bool| ResourceType {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
    };
    vec![
        t("", "v1", "namespaces", "Namespace", false),
        t("", "v1", "pods", "Pod", true),
        t("", "v1", "services", "Service", true),
        t("", "v1", "secrets", "Secret", true),
        t("", "v1", "configmaps", "ConfigMap", true),
        t("", "v1", "serviceaccounts", "ServiceAccount", true),
        t("", "v1", "events", "Event", true),
        t(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
        ),
        t("apps", "v1", "deployments", "Deployment", true),
        t("apps", "v1", "statefulsets", "StatefulSet", true),
        t("apps", "v1", "daemonsets", "DaemonSet", true),
        t("apps", "v1", "replicasets", "ReplicaSet", true),
        t("batch", "v1", "jobs", "Job", true),
        t(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
        ),
        t(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
        ),
        t(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        ),
        t("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
        t(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
        ),
        t(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        ),
        // What the stack's charts render besides the above, and what charts commonly do.
        t("", "v1", "resourcequotas", "ResourceQuota", true),
        t("", "v1", "limitranges", "LimitRange", true),
        t("", "v1", "endpoints", "Endpoints", true),
        t("", "v1", "persistentvolumes", "PersistentVolume", false),
        t(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
        ),
        t(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            false,
        ),
        t(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            false,
        ),
        t(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
        ),
        t("networking.k8s.io", "v1", "ingresses", "Ingress", true),
        t(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            false,
        ),
        t("coordination.k8s.io", "v1", "leases", "Lease", true),
        t(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "StorageClass",
            false,
        ),
        t(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
        ),
        t("batch", "v1", "cronjobs", "CronJob", true),
    ]
}

/// A Kubernetes `Status` error body.
pub(super) fn status_error(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Headers, then a body that breaks off: hyper closes the connection mid-answer.
pub(super) fn drop_connection() -> Response {
    let broken = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        axum::body::Body::from_stream(broken),
    )
        .into_response()
}

pub(super) fn ok_json(code: StatusCode, v: &Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

pub(super) fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn parse_target(store: &Store, path: &str) -> Option<Target> {
    let (group, version, rest) = if let Some(rest) = path.strip_prefix("/api/v1/") {
        (String::new(), "v1".to_string(), rest)
    } else if let Some(rest) = path.strip_prefix("/apis/") {
        let mut parts = rest.splitn(3, '/');
        let g = parts.next()?.to_string();
        let v = parts.next()?.to_string();
        (g, v, parts.next().unwrap_or(""))
    } else {
        return None;
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() >= 3
        && segs[0] == "namespaces"
        && let Some(rt) = store
            .find_type(&group, &version, segs[2])
            .filter(|t| t.namespaced)
    {
        return Some(Target {
            rt,
            namespace: Some(segs[1].to_string()),
            name: segs.get(3).map(|s| s.to_string()),
            subresource: segs.get(4).map(|s| s.to_string()),
        });
    }
    let rt = store.find_type(&group, &version, segs.first()?)?;
    Some(Target {
        rt,
        namespace: None,
        name: segs.get(1).map(|s| s.to_string()),
        subresource: segs.get(2).map(|s| s.to_string()),
    })
}

pub(super) fn discovery(store: &Store, path: &str) -> Option<Value> {
    let resources = |group: &str, version: &str| -> Value {
        let list: Vec<Value> = store
            .types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .flat_map(|t| {
                let main = json!({
                    "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["create","delete","deletecollection","get","list","patch","update","watch"],
                });
                let status = json!({
                    "name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
                    "kind": t.kind, "verbs": ["get","patch","update"],
                });
                [main, status]
            })
            .collect();
        json!({
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": if group.is_empty() { version.to_string() } else { format!("{group}/{version}") },
            "resources": list,
        })
    };
    match path.trim_end_matches('/') {
        "/version" => Some(
            json!({"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "platform": "linux/amd64"}),
        ),
        "/api" => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        "/api/v1" => Some(resources("", "v1")),
        "/apis" => {
            let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for t in store.types.iter().filter(|t| !t.group.is_empty()) {
                let vs = groups.entry(t.group.clone()).or_default();
                if !vs.contains(&t.version) {
                    vs.push(t.version.clone());
                }
            }
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|(g, vs)| {
                    let versions: Vec<Value> = vs
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                        .collect();
                    json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
                })
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        p => {
            let rest = p.strip_prefix("/apis/")?;
            let segs: Vec<&str> = rest.split('/').collect();
            match segs.as_slice() {
                [g, v] if store.types.iter().any(|t| t.group == *g && t.version == *v) => {
                    Some(resources(g, v))
                }
                [g] => {
                    let versions: Vec<Value> = store
                        .types
                        .iter()
                        .filter(|t| t.group == *g)
                        .map(|t| json!({"groupVersion": format!("{g}/{}", t.version), "version": t.version}))
                        .collect();
                    if versions.is_empty() {
                        None
                    } else {
                        Some(
                            json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": versions, "preferredVersion": versions[0]}),
                        )
                    }
                }
                _ => None,
            }
        }
    }
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    shared.log.lock().unwrap().push(RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or("").to_string(),
        content_type: content_type.clone(),
    });
    shared.store.lock().unwrap().publish_due();
    // Fault injection.
    let fault = {
        let mut faults = shared.faults.lock().unwrap();
        let hit = faults.iter_mut().find(|f| {
            f.remaining > 0
                && (path.contains(&f.path_contains)
                    || format!("{method} {path}").contains(&f.path_contains))
        });
        hit.map(|f| {
            f.remaining -= 1;
            f.kind.clone()
        })
    };
    match fault {
        Some(FaultKind::Status(429)) => {
            // As the API server's priority and fairness answers: Retry-After, in the header
            // and in the Status details.
            let body = json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Too many requests, please try again later.",
                "reason": "TooManyRequests", "code": 429,
                "details": {"retryAfterSeconds": 1}
            });
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("content-type", "application/json"), ("retry-after", "1")],
                body.to_string(),
            )
                .into_response();
        }
        Some(FaultKind::Status(code)) => {
            let reason = match code {
                503 => "ServiceUnavailable",
                403 => "Forbidden",
                _ => "InternalError",
            };
            return status_error(code, reason, format!("injected fault on {path}"));
        }
        Some(FaultKind::Drop) => {
            // The connection closes without an answer (a reset, a load balancer timeout).
            return drop_connection();
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }

    if let Some(resp) = service_proxy(&shared, &method, &uri, &headers, &body).await {
        return resp;
    }
    // The legacy OpenAPI v2 document, which client-go falls back to for a kind no v3 document
    // has (a `kind: List` in a chart): an empty one (protobuf of an empty Document), so the
    // kind is validated by nothing, as on a real server for a kind it publishes no schema of.
    if method == Method::GET && path == "/openapi/v2" {
        return (
            StatusCode::OK,
            [(
                "content-type",
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )],
            Vec::<u8>::new(),
        )
            .into_response();
    }
    if method == Method::GET && (path == "/openapi/v3" || path.starts_with("/openapi/v3/")) {
        let store = shared.store.lock().unwrap();
        let rel = path
            .trim_start_matches("/openapi/v3")
            .trim_start_matches('/');
        let doc = if rel.is_empty() {
            Some(super::super::kube_openapi::root(
                &store.types,
                store.types.len() as u64,
            ))
        } else {
            super::super::kube_openapi::group_version(&store.types, rel)
        };
        return match doc {
            Some(v) => ok_json(StatusCode::OK, &v),
            None => status_error(404, "NotFound", format!("no OpenAPI document at {path}")),
        };
    }
    // Protobuf bodies (client-go's typed clients, helm's release records) become JSON.
    let body =
        if content_type.starts_with("application/vnd.kubernetes.protobuf") && !body.is_empty() {
            match super::super::kube_proto::to_json(&body) {
                Ok(v) => Bytes::from(v.to_string()),
                Err(e) => return status_error(415, "UnsupportedMediaType", e),
            }
        } else {
            body
        };
    let q = query_map(&uri);
    let target = {
        let store = shared.store.lock().unwrap();
        if method == Method::GET
            && let Some(v) = discovery(&store, &path)
        {
            return ok_json(StatusCode::OK, &v);
        }
        parse_target(&store, &path)
    };
    let Some(t) = target else {
        return status_error(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        );
    };
    let watching = q.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method.clone(), t.name.is_some()) {
        (Method::GET, false) if watching => watch(shared, t, q),
        (Method::GET, false) => list(&shared, &t, &q),
        (Method::GET, true) => get(&shared, &t),
        (Method::POST, false) => create(&shared, &t, &body, &q),
        (Method::PUT, true) => update(&shared, &t, &body, &q),
        (Method::PATCH, true) => patch(&shared, &t, &body, &content_type, &q),
        (Method::DELETE, true) => delete(&shared, &t),
        _ => status_error(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {path}"),
        ),
    }
}

pub(super) fn list(shared: &Shared, t: &Target, q: &HashMap<String, String>) -> Response {
    let store = shared.store.lock().unwrap();
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|(k, _)| k.0 == t.rt.group && k.1 == t.rt.plural)
        .filter(|(k, _)| t.namespace.as_ref().is_none_or(|ns| &k.2 == ns))
        .filter(|(_, v)| q.get("labelSelector").is_none_or(|s| labels_match(v, s)))
        .filter(|(_, v)| q.get("fieldSelector").is_none_or(|s| fields_match(v, s)))
        .map(|(_, v)| v.clone())
        .collect();
    ok_json(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(),
            "metadata": {"resourceVersion": store.rv.to_string()},
            "items": items,
        }),
    )
}

pub(super) fn get(shared: &Shared, t: &Target) -> Response {
    let store = shared.store.lock().unwrap();
    let name = t.name.as_deref().unwrap_or_default();
    let key = key_of(&t.rt, t.namespace.as_deref().unwrap_or(""), name);
    match store.objects.get(&key) {
        Some(v) => ok_json(StatusCode::OK, v),
        None => not_found(&t.rt, name),
    }
}

pub(super) fn not_found(rt: &ResourceType, name: &str) -> Response {
    let what = if rt.group.is_empty() {
        rt.plural.clone()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    };
    status_error(404, "NotFound", format!("{what} \"{name}\" not found"))
}

#[allow(clippy::result_large_err)]
pub(super) fn parse_body(body: &Bytes) -> Result<Value, Response> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = String::from_utf8_lossy(body);
    serde_saphyr::from_str::<Value>(&text)
        .map_err(|e| status_error(400, "BadRequest", format!("cannot parse body: {e}")))
}

pub(super) fn create(
    shared: &Shared,
    t: &Target,
    body: &Bytes,
    q: &HashMap<String, String>,
) -> Response {
    let obj = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(name) = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return status_error(
            422,
            "Invalid",
            format!("{} is invalid: metadata.name: Required value", t.rt.kind),
        );
    };
    let ns = t
        .namespace
        .clone()
        .or_else(|| {
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "default".into());
    let mut store = shared.store.lock().unwrap();
    if t.rt.namespaced && !store.namespace_exists(&ns) {
        return status_error(404, "NotFound", format!("namespaces \"{ns}\" not found"));
    }
    let key = key_of(&t.rt, &ns, &name);
    if store.objects.contains_key(&key) {
        return status_error(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", t.rt.plural),
        );
    }
    if t.rt.kind == "CustomResourceDefinition"
        && let Some(refused) = crd_problem(&obj)
    {
        return refused;
    }
    let obj = match admit(&store, &t.rt, obj, q) {
        Ok(obj) => obj,
        Err(refused) => return refused,
    };
    if q.get("dryRun").is_some_and(|d| d == "All") {
        return ok_json(StatusCode::CREATED, &obj);
    }
    let mut obj = finish_new(&mut store, &t.rt, obj);
    if t.rt.namespaced {
        obj["metadata"]["namespace"] = json!(ns);
    }
    if t.rt.kind == "CustomResourceDefinition" {
        store.register_crd(&obj);
    }
    store.objects.insert(key.clone(), obj.clone());
    store.record(&shared.events, "ADDED", &key, obj.clone());
    ok_json(StatusCode::CREATED, &obj)
}

/// `{"f:spec": {"f:replicas": {}}, …}` for the fields an object sets (lists as a whole).
pub(super) fn fields_v1(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "status"))
                .map(|(k, child)| (format!("f:{k}"), fields_v1(child)))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// The leaf paths of a FieldsV1 value, without the `f:` prefixes.
pub(super) fn leaf_paths(fields: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    let Some(name) = k.strip_prefix("f:") else {
                        continue;
                    };
                    path.push(name.to_string());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ if !path.is_empty() => out.push(path.clone()),
            _ => {}
        }
    }
    walk(fields, &mut Vec::new(), &mut out);
    out
}

/// A real API server refuses a CRD version without a structural schema.
pub(super) fn crd_problem(obj: &Value) -> Option<Response> {
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array)?;
    for (i, v) in versions.iter().enumerate() {
        if v.pointer("/schema/openAPIV3Schema").is_none() {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Some(status_error(
                422,
                "Invalid",
                format!(
                    "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: spec.versions[{i}].schema.openAPIV3Schema: Required value: schemas are required"
                ),
            ));
        }
    }
    None
}

/// Store `new` as the next version of `old` (bumping resourceVersion and, for spec changes,
/// generation) unless nothing changed.
pub(super) fn commit(
    shared: &Shared,
    store: &mut Store,
    key: &Key,
    old: &Value,
    mut new: Value,
) -> Value {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
            m.remove("generation");
        }
        v
    };
    if strip(old) == strip(&new) {
        return old.clone();
    }
    let generation = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let spec_changed = old.get("spec") != new.get("spec");
    let rv = store.next_rv();
    new["metadata"]["resourceVersion"] = json!(rv.to_string());
    new["metadata"]["generation"] = json!(if spec_changed {
        generation + 1
    } else {
        generation
    });
    for field in ["uid", "creationTimestamp"] {
        if let Some(v) = old.pointer(&format!("/metadata/{field}")) {
            new["metadata"][field] = v.clone();
        }
    }
    if key.1 == "customresourcedefinitions" && key.0 == "apiextensions.k8s.io" {
        store.register_crd(&new);
    }
    store.objects.insert(key.clone(), new.clone());
    store.record(&shared.events, "MODIFIED", key, new.clone());
    new
}

pub(super) fn update(
    shared: &Shared,
    t: &Target,
    body: &Bytes,
    q: &HashMap<String, String>,
) -> Response {
    let mut obj = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = t.name.clone().unwrap_or_default();
    let mut store = shared.store.lock().unwrap();
    let key = key_of(&t.rt, t.namespace.as_deref().unwrap_or(""), &name);
    let Some(old) = store.objects.get(&key).cloned() else {
        return not_found(&t.rt, &name);
    };
    let sent_rv = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let have_rv = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    if sent_rv.is_some() && sent_rv != have_rv {
        return status_error(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                t.rt.plural
            ),
        );
    }
    let new = if t.subresource.as_deref() == Some("status") {
        let mut n = old.clone();
        n["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
        n
    } else {
        if let Some(status) = old.get("status") {
            obj["status"] = status.clone();
        }
        obj["apiVersion"] = json!(t.rt.api_version());
        obj["kind"] = json!(t.rt.kind);
        // As a real server: name and namespace come from the URL; uid and creation time
        // stay what they were.
        obj["metadata"]["name"] = json!(name);
        if let Some(ns) = &t.namespace {
            obj["metadata"]["namespace"] = json!(ns);
        }
        for k in ["uid", "creationTimestamp"] {
            if let Some(v) = old["metadata"].get(k) {
                obj["metadata"][k] = v.clone();
            }
        }
        match admit(&store, &t.rt, obj, q) {
            Ok(obj) => obj,
            Err(refused) => return refused,
        }
    };
    let stored = commit(shared, &mut store, &key, &old, new);
    ok_json(StatusCode::OK, &stored)
}

pub(super) fn patch(
    shared: &Shared,
    t: &Target,
    body: &Bytes,
    content_type: &str,
    q: &HashMap<String, String>,
) -> Response {
    let patch = match parse_body(body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = t.name.clone().unwrap_or_default();
    let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
    let apply = content_type.starts_with("application/apply-patch");
    let supported = apply
        || content_type.starts_with("application/merge-patch+json")
        || content_type.starts_with("application/strategic-merge-patch+json");
    if !supported {
        return status_error(
            415,
            "UnsupportedMediaType",
            format!("the fake API server does not support {content_type}"),
        );
    }
    let manager = q.get("fieldManager").cloned();
    if apply && manager.as_deref().is_none_or(str::is_empty) {
        return status_error(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into());
    }
    let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    let force = q.get("force").is_some_and(|f| f == "true");
    let mut store = shared.store.lock().unwrap();
    let key = key_of(&t.rt, &ns, &name);
    // The fields this manager set, in the FieldsV1 shape a real server records (clients such
    // as helm's rollback read them back): one entry per manager and operation.
    let owned = fields_v1(&patch);
    let operation = if apply { "Apply" } else { "Update" };
    let managed = |obj: &mut Value| {
        if let Some(m) = &manager {
            let mut entries: Vec<Value> = obj
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| !(e["manager"] == json!(m) && e["operation"] == operation))
                .collect();
            entries.push(json!({
                "manager": m, "operation": operation,
                "apiVersion": t.rt.api_version(), "time": now_rfc3339(),
                "fieldsType": "FieldsV1", "fieldsV1": owned,
            }));
            obj["metadata"]["managedFields"] = json!(entries);
        }
    };
    // Server-side apply conflicts: a field another manager set by an update (`kubectl edit`)
    // that this apply would give another value is refused (409) unless the apply forces.
    if apply
        && !force
        && let Some(old) = store.objects.get(&key)
    {
        let mine = leaf_paths(&owned);
        let mut conflicts = Vec::new();
        for e in old
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if e["operation"] != "Update" || e["manager"].as_str() == manager.as_deref() {
                continue;
            }
            for path in leaf_paths(&e["fieldsV1"]) {
                let pointer = format!("/{}", path.join("/"));
                if mine.contains(&path) && old.pointer(&pointer) != patch.pointer(&pointer) {
                    conflicts.push(format!(
                        "conflict with \"{}\": .{}",
                        e["manager"].as_str().unwrap_or(""),
                        path.join(".")
                    ));
                }
            }
        }
        if !conflicts.is_empty() {
            return status_error(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflict{}: {}",
                    conflicts.len(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    conflicts.join("; ")
                ),
            );
        }
    }
    match store.objects.get(&key).cloned() {
        None if apply => {
            if patch.pointer("/metadata/name").and_then(Value::as_str) != Some(name.as_str()) {
                return status_error(
                    422,
                    "Invalid",
                    format!(
                        "{} is invalid: metadata.name must match the URL ({name})",
                        t.rt.kind
                    ),
                );
            }
            if t.rt.namespaced && !store.namespace_exists(&ns) {
                return status_error(404, "NotFound", format!("namespaces \"{ns}\" not found"));
            }
            if t.rt.kind == "CustomResourceDefinition"
                && let Some(refused) = crd_problem(&patch)
            {
                return refused;
            }
            let patch = match admit(&store, &t.rt, patch, q) {
                Ok(obj) => obj,
                Err(refused) => return refused,
            };
            if dry_run {
                return ok_json(StatusCode::OK, &patch);
            }
            let mut obj = finish_new(&mut store, &t.rt, patch);
            if t.rt.namespaced {
                obj["metadata"]["namespace"] = json!(ns);
            }
            managed(&mut obj);
            if t.rt.kind == "CustomResourceDefinition" {
                store.register_crd(&obj);
            }
            store.objects.insert(key.clone(), obj.clone());
            store.record(&shared.events, "ADDED", &key, obj.clone());
            ok_json(StatusCode::CREATED, &obj)
        }
        None => not_found(&t.rt, &name),
        Some(old) => {
            let mut new = old.clone();
            let mut p = patch;
            if let Some(m) = p.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
                m.remove("managedFields");
            }
            if t.subresource.as_deref() == Some("status") {
                merge(&mut new["status"], p.get("status").unwrap_or(&Value::Null));
            } else {
                merge(&mut new, &p);
            }
            managed(&mut new);
            if t.rt.kind == "CustomResourceDefinition"
                && let Some(refused) = crd_problem(&new)
            {
                return refused;
            }
            if t.subresource.as_deref() != Some("status") {
                new = match admit(&store, &t.rt, new, q) {
                    Ok(obj) => obj,
                    Err(refused) => return refused,
                };
            }
            if dry_run {
                return ok_json(StatusCode::OK, &new);
            }
            let stored = commit(shared, &mut store, &key, &old, new);
            ok_json(StatusCode::OK, &stored)
        }
    }
}

pub(super) fn delete(shared: &Shared, t: &Target) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let mut store = shared.store.lock().unwrap();
    let key = key_of(&t.rt, t.namespace.as_deref().unwrap_or(""), &name);
    let Some(current) = store.objects.get(&key).cloned() else {
        return not_found(&t.rt, &name);
    };
    // Finalizers: the object stays, marked for deletion, until its controller removes them
    // (the reconcile sweep then deletes it), as the real API server does.
    let has_finalizers = current
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        let mut marked = current;
        if marked.pointer("/metadata/deletionTimestamp").is_none() {
            marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            let rv = store.next_rv();
            marked["metadata"]["resourceVersion"] = json!(rv.to_string());
            store.objects.insert(key.clone(), marked.clone());
            store.record(&shared.events, "MODIFIED", &key, marked.clone());
        }
        return ok_json(StatusCode::OK, &marked);
    }
    remove_object(shared, &mut store, &t.rt.kind, &key);
    ok_json(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name, "kind": t.rt.plural}}),
    )
}

/// Delete an object now, with what follows: garbage collection of what it owns, its
/// volume as the reclaim policy says, a namespace's contents.
pub(super) fn remove_object(shared: &Shared, store: &mut Store, kind: &str, key: &Key) {
    let name = key.3.clone();
    let Some(old) = store.objects.remove(key) else {
        return;
    };
    store.next_rv();
    store.record(&shared.events, "DELETED", key, old.clone());
    // Garbage collection: objects owned by a deleted object go too (and theirs, in turn).
    let mut gone = vec![old.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)];
    while let Some(uid) = gone.pop() {
        if uid.is_null() {
            continue;
        }
        let owned: Vec<Key> = store
            .objects
            .iter()
            .filter(|(_, o)| {
                o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in owned {
            if let Some(o) = store.objects.remove(&k) {
                gone.push(o.pointer("/metadata/uid").cloned().unwrap_or(Value::Null));
                store.next_rv();
                store.record(&shared.events, "DELETED", &k, o);
            }
        }
    }
    // As the volume's reclaim policy says: a deleted claim's volume is deleted (its disk and
    // data gone) or kept, released.
    if kind == "PersistentVolumeClaim" {
        let uid = old.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
        let volume = store
            .objects
            .iter()
            .find(|(k, o)| {
                k.1 == "persistentvolumes" && o.pointer("/spec/claimRef/uid") == Some(&uid)
            })
            .map(|(k, o)| (k.clone(), o.clone()));
        if let Some((k, mut pv)) = volume {
            store.next_rv();
            if pv
                .pointer("/spec/persistentVolumeReclaimPolicy")
                .and_then(Value::as_str)
                == Some("Retain")
            {
                pv["status"] = json!({"phase": "Released"});
                store.objects.insert(k.clone(), pv.clone());
                store.record(&shared.events, "MODIFIED", &k, pv);
            } else {
                store.objects.remove(&k);
                store.record(&shared.events, "DELETED", &k, pv);
            }
        }
    }
    if kind == "Namespace" {
        let inside: Vec<Key> = store
            .objects
            .keys()
            .filter(|k| k.2 == name)
            .cloned()
            .collect();
        for k in inside {
            if let Some(o) = store.objects.remove(&k) {
                store.next_rv();
                store.record(&shared.events, "DELETED", &k, o);
            }
        }
    }
}
