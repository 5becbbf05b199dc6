//! Wiring checks on the rendered stack: every Service a pod, a datasource, a ServiceMonitor,
//! deployctl or the bastion refers to exists in the rendered output with that port; every
//! Secret key a pod reads is produced by the chart, an ExternalSecret or deployctl; and the
//! two links that failed silently before: OpenWebUI → LiteLLM, LiteLLM → the Redis master.

use serde_json::Value;
use std::collections::BTreeMap;

/// One object of the rendered stack (a release's output or one of our manifests).
#[derive(Debug, Clone)]
pub struct Object {
    /// Where it comes from: `release redis` or `manifests/…:12`.
    pub origin: String,
    /// The namespace it lands in (the release's namespace when the chart sets none).
    pub namespace: String,
    pub value: Value,
}

impl Object {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    /// The pod spec of a Pod or of a workload's template.
    pub fn pod_spec(&self) -> Option<&Value> {
        match self.kind() {
            "Pod" => Some(&self.value["spec"]),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                Some(&self.value["spec"]["template"]["spec"])
            }
            "CronJob" => Some(&self.value["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
            _ => None,
        }
    }
    /// Pod labels (of a Pod, or of a workload's template).
    pub fn pod_labels(&self) -> Option<&serde_json::Map<String, Value>> {
        match self.kind() {
            "Pod" => self.value["metadata"]["labels"].as_object(),
            _ => self.value["spec"]["template"]["metadata"]["labels"].as_object(),
        }
    }
    /// A helm test hook: rendered by `helm template`, never installed by `upgrade`.
    pub fn is_test_hook(&self) -> bool {
        self.value["metadata"]["annotations"]["helm.sh/hook"]
            .as_str()
            .is_some_and(|h| h.split(',').any(|x| x.trim().starts_with("test")))
    }
    pub fn containers(&self) -> Vec<&Value> {
        let Some(spec) = self.pod_spec() else {
            return Vec::new();
        };
        ["containers", "initContainers"]
            .iter()
            .filter_map(|k| spec[*k].as_array())
            .flatten()
            .collect()
    }
}

/// A reference to a Service port somebody relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub from: String,
    pub namespace: String,
    pub service: String,
    /// A port number, or a port name (ServiceMonitors name ports).
    pub port: PortRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(n) => write!(f, "`{n}`"),
        }
    }
}

/// Cluster-internal hosts in a string: `svc.ns.svc[.cluster.local][:port]`, as URLs or bare.
pub fn cluster_hosts(text: &str) -> Vec<(String, String, Option<u16>)> {
    let mut out = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'')) {
        let rest = token.split_once("://").map(|(_, r)| r).unwrap_or(token);
        let authority = rest.split('/').next().unwrap_or(rest);
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                (h, p.parse().ok())
            }
            _ => (authority, None),
        };
        let host = host.trim_end_matches('.');
        let host = host
            .strip_suffix(".svc.cluster.local")
            .or_else(|| host.strip_suffix(".svc"));
        let Some(host) = host else { continue };
        let mut parts = host.split('.');
        let (Some(svc), Some(ns), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if svc.is_empty() || ns.is_empty() {
            continue;
        }
        out.push((svc.to_string(), ns.to_string(), port));
    }
    out
}

/// Env values of a container: name → literal value.
fn env_map(c: &Value) -> BTreeMap<String, String> {
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Service references in the pods' environment: URLs with a port, and `X_HOST` with its
/// sibling `X_PORT`.
pub fn env_service_refs(objects: &[Object]) -> Vec<ServiceRef> {
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| !o.is_test_hook()) {
        for c in o.containers() {
            let env = env_map(c);
            for (name, value) in &env {
                for (svc, ns, port) in cluster_hosts(value) {
                    let port = port.or_else(|| {
                        let stem = name.strip_suffix("_HOST")?;
                        env.get(&format!("{stem}_PORT"))?.trim().parse().ok()
                    });
                    let Some(port) = port else { continue };
                    out.push(ServiceRef {
                        from: format!(
                            "{} {}/{} container {} env {name}",
                            o.origin,
                            o.kind(),
                            o.name(),
                            c["name"].as_str().unwrap_or("?")
                        ),
                        namespace: ns,
                        service: svc,
                        port: PortRef::Number(port),
                    });
                }
            }
        }
    }
    out
}

/// Service references in ConfigMaps (e.g. Grafana's provisioned datasources).
pub fn configmap_service_refs(objects: &[Object]) -> Vec<ServiceRef> {
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| o.kind() == "ConfigMap") {
        let Some(data) = o.value["data"].as_object() else {
            continue;
        };
        for (key, v) in data {
            let Some(text) = v.as_str() else { continue };
            for (svc, ns, port) in cluster_hosts(text) {
                let Some(port) = port else { continue };
                out.push(ServiceRef {
                    from: format!("{} ConfigMap/{} key {key}", o.origin, o.name()),
                    namespace: ns,
                    service: svc,
                    port: PortRef::Number(port),
                });
            }
        }
    }
    out
}

fn selector_matches(
    selector: &serde_json::Map<String, Value>,
    labels: Option<&serde_json::Map<String, Value>>,
) -> bool {
    let Some(labels) = labels else { return false };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Parse `a=b,c=d` into a label map.
pub fn parse_selector(s: &str) -> serde_json::Map<String, Value> {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), Value::String(v.trim().to_string())))
        .collect()
}

/// Our ServiceMonitors (from manifests/): their selector must match Services in their
/// namespace, and each matched Service must have the endpoint's port name. (The charts' own
/// ServiceMonitors also target Services the cluster provides, such as the API server's.)
pub fn service_monitor_problems(objects: &[Object]) -> Vec<String> {
    let mut problems = Vec::new();
    for sm in objects
        .iter()
        .filter(|o| o.kind() == "ServiceMonitor" && o.origin.starts_with("manifests/"))
    {
        let Some(sel) = sm.value["spec"]["selector"]["matchLabels"].as_object() else {
            continue;
        };
        let nss: Vec<String> = sm.value["spec"]["namespaceSelector"]["matchNames"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| vec![sm.namespace.clone()]);
        let matched: Vec<&Object> = objects
            .iter()
            .filter(|o| o.kind() == "Service" && nss.contains(&o.namespace))
            .filter(|o| selector_matches(sel, o.value["metadata"]["labels"].as_object()))
            .collect();
        if matched.is_empty() {
            problems.push(format!(
                "{} ServiceMonitor/{} selects no Service in {} (selector {})",
                sm.origin,
                sm.name(),
                nss.join(","),
                Value::Object(sel.clone())
            ));
            continue;
        }
        for ep in sm.value["spec"]["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(port) = ep["port"].as_str() else {
                continue;
            };
            for svc in &matched {
                if !service_ports(svc).iter().any(|(name, _)| name == port) {
                    problems.push(format!(
                        "{} ServiceMonitor/{} scrapes port `{port}`, which Service {}/{} does not have (it has {})",
                        sm.origin,
                        sm.name(),
                        svc.namespace,
                        svc.name(),
                        describe_ports(svc)
                    ));
                }
            }
        }
    }
    problems
}

fn service_ports(svc: &Object) -> Vec<(String, u16)> {
    svc.value["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["port"].as_u64().unwrap_or(0) as u16,
            )
        })
        .collect()
}

fn describe_ports(svc: &Object) -> String {
    let ports = service_ports(svc);
    if ports.is_empty() {
        return "no ports".into();
    }
    ports
        .iter()
        .map(|(n, p)| {
            if n.is_empty() {
                p.to_string()
            } else {
                format!("{n} {p}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each reference must name a rendered Service with that port.
pub fn service_ref_problems(objects: &[Object], refs: &[ServiceRef]) -> Vec<String> {
    let mut problems = Vec::new();
    for r in refs {
        let svc = objects
            .iter()
            .find(|o| o.kind() == "Service" && o.namespace == r.namespace && o.name() == r.service);
        let Some(svc) = svc else {
            let near: Vec<String> = objects
                .iter()
                .filter(|o| o.kind() == "Service" && o.namespace == r.namespace)
                .map(|o| o.name().to_string())
                .collect();
            problems.push(format!(
                "{} refers to Service {}/{}, which no release renders (Services in {}: {})",
                r.from,
                r.namespace,
                r.service,
                r.namespace,
                if near.is_empty() {
                    "none".to_string()
                } else {
                    near.join(", ")
                }
            ));
            continue;
        };
        let ok = service_ports(svc).iter().any(|(name, port)| match &r.port {
            PortRef::Number(n) => port == n,
            PortRef::Name(n) => name == n,
        });
        if !ok {
            problems.push(format!(
                "{} refers to port {} of Service {}/{}, which has {}",
                r.from,
                r.port,
                r.namespace,
                r.service,
                describe_ports(svc)
            ));
        }
    }
    problems
}

/// Who produces which Secret keys: rendered Secrets, ExternalSecrets, and deployctl.
pub fn produced_secrets(
    objects: &[Object],
    made_by_deployctl: &[(&str, &str, &[&str])],
) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for o in objects {
        match o.kind() {
            "Secret" => {
                let keys = out
                    .entry((o.namespace.clone(), o.name().to_string()))
                    .or_default();
                for field in ["data", "stringData"] {
                    if let Some(m) = o.value[field].as_object() {
                        keys.extend(m.keys().cloned());
                    }
                }
            }
            "ExternalSecret" => {
                let target = o.value["spec"]["target"]["name"]
                    .as_str()
                    .unwrap_or(o.name())
                    .to_string();
                let keys = out.entry((o.namespace.clone(), target)).or_default();
                // With a template the Secret holds what the template makes (External Secrets'
                // default merge policy, Replace); the fetched keys only feed the template.
                let template = &o.value["spec"]["target"]["template"];
                if let Some(made) = template["data"].as_object() {
                    keys.extend(made.keys().cloned());
                }
                let fetched_kept = template["data"].as_object().is_none()
                    || template["mergePolicy"].as_str() == Some("Merge");
                for d in o.value["spec"]["data"].as_array().into_iter().flatten() {
                    if let Some(k) = d["secretKey"].as_str()
                        && fetched_kept
                    {
                        keys.push(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    for (ns, name, keys) in made_by_deployctl {
        out.entry((ns.to_string(), name.to_string()))
            .or_default()
            .extend(keys.iter().map(|k| k.to_string()));
    }
    out
}

/// Every Secret key a pod reads (not marked optional) must be produced.
pub fn secret_ref_problems(
    objects: &[Object],
    produced: &BTreeMap<(String, String), Vec<String>>,
    namespaces: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    for o in objects
        .iter()
        .filter(|o| !o.is_test_hook() && namespaces.contains(&o.namespace.as_str()))
    {
        for c in o.containers() {
            for e in c["env"].as_array().into_iter().flatten() {
                let r = &e["valueFrom"]["secretKeyRef"];
                let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) else {
                    continue;
                };
                if r["optional"] == true {
                    continue;
                }
                match produced.get(&(o.namespace.clone(), name.to_string())) {
                    Some(keys) if keys.iter().any(|k| k == key) => {}
                    Some(keys) => problems.push(format!(
                        "{} {}/{} reads key `{key}` of Secret {}/{name} (env {}), which only has {}",
                        o.origin,
                        o.kind(),
                        o.name(),
                        o.namespace,
                        e["name"].as_str().unwrap_or("?"),
                        keys.join(", ")
                    )),
                    None => problems.push(format!(
                        "{} {}/{} reads Secret {}/{name} (env {}), which neither a chart, an ExternalSecret nor deployctl creates",
                        o.origin,
                        o.kind(),
                        o.name(),
                        o.namespace,
                        e["name"].as_str().unwrap_or("?"),
                    )),
                }
            }
        }
    }
    problems
}

/// The workload objects of one kind and name.
pub fn find<'a>(
    objects: &'a [Object],
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<&'a Object> {
    objects
        .iter()
        .find(|o| o.kind() == kind && o.namespace == namespace && o.name() == name)
}

/// Pods (Pod objects or workload templates) whose labels match `selector`.
pub fn pods_matching<'a>(
    objects: &'a [Object],
    namespace: &str,
    selector: &serde_json::Map<String, Value>,
) -> Vec<&'a Object> {
    objects
        .iter()
        .filter(|o| o.namespace == namespace && !o.is_test_hook() && o.pod_spec().is_some())
        .filter(|o| o.kind() != "Pod" || o.value["metadata"]["ownerReferences"].is_null())
        .filter(|o| selector_matches(selector, o.pod_labels()))
        .collect()
}

/// The literal env value `name` of any container of `o`.
pub fn env_value(o: &Object, name: &str) -> Option<String> {
    o.containers()
        .into_iter()
        .find_map(|c| env_map(c).remove(name))
}

/// The secretKeyRef (secret, key) behind env `name` of any container of `o`.
pub fn env_secret(o: &Object, name: &str) -> Option<(String, String)> {
    o.containers().into_iter().find_map(|c| {
        c["env"].as_array()?.iter().find_map(|e| {
            if e["name"] != name {
                return None;
            }
            let r = &e["valueFrom"]["secretKeyRef"];
            Some((
                r["name"].as_str()?.to_string(),
                r["key"].as_str()?.to_string(),
            ))
        })
    })
}

/// The Service's selector.
pub fn service_selector(svc: &Object) -> serde_json::Map<String, Value> {
    svc.value["spec"]["selector"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(ns: &str, v: Value) -> Object {
        Object {
            origin: "manifests/test.yaml:1".into(),
            namespace: ns.into(),
            value: v,
        }
    }

    #[test]
    fn cluster_hosts_in_urls_and_bare_names() {
        assert_eq!(
            cluster_hosts("http://litellm.litellm.svc.cluster.local:4000/v1;http://x.y.svc:80"),
            [
                ("litellm".to_string(), "litellm".to_string(), Some(4000)),
                ("x".to_string(), "y".to_string(), Some(80))
            ]
        );
        assert_eq!(
            cluster_hosts("redis-redis-ha-haproxy.litellm.svc.cluster.local"),
            [(
                "redis-redis-ha-haproxy".to_string(),
                "litellm".to_string(),
                None
            )]
        );
        assert!(cluster_hosts("https://api.openai.com/v1").is_empty());
    }

    #[test]
    fn host_and_port_env_pairs_become_references() {
        let d = obj(
            "litellm",
            json!({"kind": "Deployment", "metadata": {"name": "litellm"}, "spec": {"template": {"spec": {"containers": [
                {"name": "litellm", "env": [
                    {"name": "REDIS_HOST", "value": "redis-redis-ha.litellm.svc.cluster.local"},
                    {"name": "REDIS_PORT", "value": "6379"}]}]}}}}),
        );
        let refs = env_service_refs(&[d]);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].service, "redis-redis-ha");
        assert_eq!(refs[0].port, PortRef::Number(6379));
    }

    #[test]
    fn a_missing_service_or_port_is_a_problem_naming_what_exists() {
        let svc = obj(
            "monitoring",
            json!({"kind": "Service", "metadata": {"name": "jaeger"}, "spec": {"ports": [{"name": "http-query", "port": 16686}]}}),
        );
        let r = |s: &str, p: u16| ServiceRef {
            from: "grafana".into(),
            namespace: "monitoring".into(),
            service: s.into(),
            port: PortRef::Number(p),
        };
        assert!(service_ref_problems(std::slice::from_ref(&svc), &[r("jaeger", 16686)]).is_empty());
        let p = service_ref_problems(std::slice::from_ref(&svc), &[r("jaeger-query", 16686)]);
        assert!(
            p[0].contains("jaeger-query") && p[0].contains("Services in monitoring: jaeger"),
            "{p:?}"
        );
        let p = service_ref_problems(&[svc], &[r("jaeger", 4317)]);
        assert!(p[0].contains("http-query 16686"), "{p:?}");
    }

    #[test]
    fn service_monitor_port_names_are_checked() {
        let svc = obj(
            "litellm",
            json!({"kind": "Service", "metadata": {"name": "redis-redis-ha", "labels": {"app": "redis-ha"}},
                   "spec": {"ports": [{"name": "http-exporter-port", "port": 9121}]}}),
        );
        let sm = |port: &str| {
            obj(
                "litellm",
                json!({"kind": "ServiceMonitor", "metadata": {"name": "redis"},
                       "spec": {"selector": {"matchLabels": {"app": "redis-ha"}}, "endpoints": [{"port": port}]}}),
            )
        };
        assert!(service_monitor_problems(&[svc.clone(), sm("http-exporter-port")]).is_empty());
        let p = service_monitor_problems(&[svc, sm("exporter-port")]);
        assert!(p[0].contains("exporter-port") && p[0].contains("http-exporter-port 9121"));
    }

    #[test]
    fn secret_keys_must_be_produced() {
        let pod = obj(
            "litellm",
            json!({"kind": "Deployment", "metadata": {"name": "litellm"}, "spec": {"template": {"spec": {"containers": [
                {"name": "c", "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "litellm-secrets", "key": "master-key"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": true}}},
                    {"name": "C", "valueFrom": {"secretKeyRef": {"name": "redis-credentials", "key": "password"}}}]}]}}}}),
        );
        let es = obj(
            "litellm",
            json!({"kind": "ExternalSecret", "metadata": {"name": "litellm-secrets"},
                   "spec": {"target": {"name": "litellm-secrets"}, "data": [{"secretKey": "master-key"}]}}),
        );
        let objects = [pod, es];
        let produced = produced_secrets(
            &objects,
            &[("litellm", "redis-credentials", &["redis-password"])],
        );
        let p = secret_ref_problems(&objects, &produced, &["litellm"]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("key `password`") && p[0].contains("redis-password"));
    }

    #[test]
    fn a_templated_external_secret_makes_its_templates_keys() {
        let es = |merge: Option<&str>| {
            let mut t =
                json!({"engineVersion": "v2", "data": {"redis-url": "redis://:{{ .password }}@h"}});
            if let Some(m) = merge {
                t["mergePolicy"] = json!(m);
            }
            obj(
                "open-webui",
                json!({"kind": "ExternalSecret", "metadata": {"name": "openwebui-redis"},
                       "spec": {"target": {"name": "openwebui-redis", "template": t},
                                "data": [{"secretKey": "password"}]}}),
            )
        };
        let key = ("open-webui".to_string(), "openwebui-redis".to_string());
        let replaced = produced_secrets(&[es(None)], &[]);
        assert_eq!(replaced[&key], ["redis-url"]);
        let merged = produced_secrets(&[es(Some("Merge"))], &[]);
        assert_eq!(merged[&key], ["redis-url", "password"]);
    }
}
