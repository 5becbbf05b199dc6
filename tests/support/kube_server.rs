//! An in-process Kubernetes API server over HTTP on 127.0.0.1, for tests.
//!
//! A generic object store with discovery for built-in kinds and for CRDs applied to it;
//! get, list (label and field selectors), watch, create, update, server-side apply, merge
//! patch and delete; Kubernetes `Status` bodies for errors; controllers a test switches on
//! that make workloads ready after a delay; fault injection; and a log of every request.

#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
}

impl ResourceType {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// (group, plural, namespace or "", name)
type Key = (String, String, String, String);

#[derive(Debug, Clone)]
struct Event {
    rv: u64,
    kind: &'static str,
    group: String,
    plural: String,
    namespace: String,
    object: Value,
}

#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
}

impl RequestRecord {
    pub fn is_read(&self) -> bool {
        self.method == "GET"
    }
}

#[derive(Debug, Clone)]
enum FaultKind {
    Status(u16),
    Delay(Duration),
    /// The connection breaks before the answer is complete.
    Drop,
}

#[derive(Debug, Clone)]
struct Fault {
    path_contains: String,
    remaining: usize,
    kind: FaultKind,
}

struct Store {
    rv: u64,
    uid: u64,
    types: Vec<ResourceType>,
    objects: BTreeMap<Key, Value>,
    history: Vec<Event>,
    changed_at: HashMap<Key, Instant>,
    /// How long after its CRD is created a custom resource type appears in discovery (and is
    /// served): a real API server publishes it a moment after the CRD is Established.
    discovery_lag: Duration,
    /// Types of new CRDs, with when they become served.
    unpublished: Vec<(ResourceType, Instant)>,
}

struct Shared {
    store: Mutex<Store>,
    events: broadcast::Sender<Event>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<RequestRecord>>,
    /// ExternalSecrets (by name) the fake External Secrets controller cannot sync, with the
    /// condition message it reports.
    es_fail: Mutex<HashMap<String, String>>,
    /// Service proxy requests answer 503.
    proxy_down: Mutex<bool>,
    /// How long a changed workload or a new pod takes to become ready (controllers).
    delay: Mutex<Duration>,
}

pub struct FakeKube {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn builtin_types() -> Vec<ResourceType> {
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

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A Kubernetes `Status` error body.
fn status_error(code: u16, reason: &str, message: String) -> Response {
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
fn drop_connection() -> Response {
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

fn ok_json(code: StatusCode, v: &Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

/// JSON merge patch (RFC 7386), also our approximation of server-side apply.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn labels_match(obj: &Value, selector: &str) -> bool {
    let labels = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    selector.split(',').filter(|s| !s.is_empty()).all(|req| {
        if let Some((k, v)) = req.split_once("!=") {
            labels.get(k.trim()).and_then(Value::as_str) != Some(v.trim())
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            labels.get(k.trim()).and_then(Value::as_str) == Some(v.trim())
        } else if let Some(k) = req.strip_prefix('!') {
            !labels.contains_key(k.trim())
        } else {
            labels.contains_key(req.trim())
        }
    })
}

fn fields_match(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|req| {
        let (k, v, neg) = if let Some((k, v)) = req.split_once("!=") {
            (k, v, true)
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            (k, v, false)
        } else {
            return true;
        };
        let pointer = format!("/{}", k.trim().replace('.', "/"));
        let have = obj.pointer(&pointer).and_then(Value::as_str).unwrap_or("");
        (have == v.trim()) != neg
    })
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
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

fn percent_decode(s: &str) -> String {
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

/// Where a request points.
#[derive(Debug)]
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Store {
    fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    fn type_of_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(
        &mut self,
        shared_tx: &broadcast::Sender<Event>,
        kind: &'static str,
        key: &Key,
        object: Value,
    ) {
        let ev = Event {
            rv: self.rv,
            kind,
            group: key.0.clone(),
            plural: key.1.clone(),
            namespace: key.2.clone(),
            object,
        };
        self.history.push(ev.clone());
        self.changed_at.insert(key.clone(), Instant::now());
        let _ = shared_tx.send(ev);
    }

    /// CRDs add resource types to discovery.
    fn register_crd(&mut self, crd: &Value) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = crd
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let singular = crd
            .pointer("/spec/names/singular")
            .and_then(Value::as_str)
            .unwrap_or(&kind.to_lowercase())
            .to_string();
        let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for v in versions {
            let Some(version) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            let pending = self
                .unpublished
                .iter()
                .any(|(t, _)| t.group == group && t.version == version && t.plural == plural);
            if self.find_type(group, version, plural).is_none() && !pending {
                let rt = ResourceType {
                    group: group.into(),
                    version: version.into(),
                    plural: plural.into(),
                    singular: singular.clone(),
                    kind: kind.into(),
                    namespaced,
                };
                if self.discovery_lag.is_zero() {
                    self.types.push(rt);
                } else {
                    self.unpublished
                        .push((rt, Instant::now() + self.discovery_lag));
                }
            }
        }
    }

    /// Publish the new CRD types whose discovery lag has passed.
    fn publish_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unpublished)
            .into_iter()
            .partition(|(_, at)| *at <= now);
        self.unpublished = later;
        self.types.extend(due.into_iter().map(|(t, _)| t));
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects
            .contains_key(&(String::new(), "namespaces".into(), String::new(), ns.into()))
    }
}

impl FakeKube {
    pub async fn start() -> FakeKube {
        let (tx, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store {
                rv: 100,
                uid: 0,
                types: builtin_types(),
                discovery_lag: Duration::ZERO,
                unpublished: Vec::new(),
                objects: BTreeMap::new(),
                history: Vec::new(),
                changed_at: HashMap::new(),
            }),
            events: tx,
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            es_fail: Mutex::new(HashMap::new()),
            proxy_down: Mutex::new(false),
            delay: Mutex::new(Duration::ZERO),
        });
        // Every cluster has these.
        {
            let mut store = shared.store.lock().unwrap();
            let rt = store
                .find_type("", "v1", "namespaces")
                .expect("namespaces type");
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let obj = finish_new(
                    &mut store,
                    &rt,
                    json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
                );
                store.objects.insert(key_of(&rt, "", ns), obj);
            }
        }
        let s2 = shared.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s2.clone();
                async move { handle(s, method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeKube {
            addr,
            shared,
            tasks: vec![server],
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig whose one context points at this server, with `cluster_entry` as the
    /// cluster entry name (an EKS ARN, typically).
    /// A kube-rs client for this server (tests that read or change it directly).
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig("c", "cluster")).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    pub fn kubeconfig(&self, context: &str, cluster_entry: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: {cluster_entry}\n  cluster:\n    server: {url}\ncontexts:\n- name: {context}\n  context:\n    cluster: {cluster_entry}\n    user: tester\n    namespace: default\nusers:\n- name: tester\n  user:\n    token: fake-token\n",
            url = self.url()
        )
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests that could change something (anything but GET).
    pub fn writes(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| !r.is_read())
            .collect()
    }

    pub fn clear_log(&self) {
        self.shared.log.lock().unwrap().clear();
    }

    /// The current resourceVersion counter: unchanged means nothing changed.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().unwrap().rv
    }

    /// An object by apiVersion, kind, namespace and name.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        let rt = store.type_of_kind(api_version, kind)?;
        store
            .objects
            .get(&(
                rt.group,
                rt.plural,
                namespace.unwrap_or("").into(),
                name.into(),
            ))
            .cloned()
    }

    /// Every object of a kind.
    pub fn list(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let store = self.shared.store.lock().unwrap();
        let Some(rt) = store.type_of_kind(api_version, kind) else {
            return Vec::new();
        };
        store
            .objects
            .iter()
            .filter(|(k, _)| k.0 == rt.group && k.1 == rt.plural)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The namespaces besides the ones every cluster starts with (default, kube-*).
    pub fn user_namespaces(&self) -> Vec<Value> {
        self.list("v1", "Namespace")
            .into_iter()
            .filter(|n| {
                let name = n["metadata"]["name"].as_str().unwrap_or("");
                name != "default" && !name.starts_with("kube-")
            })
            .collect()
    }

    /// Put an object straight into the store (test setup), as a create would.
    pub fn insert(&self, object: Value) {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let mut store = self.shared.store.lock().unwrap();
        let rt = store
            .type_of_kind(&api_version, &kind)
            .unwrap_or_else(|| panic!("unknown kind {api_version} {kind}"));
        let ns = if rt.namespaced {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let key = (rt.group.clone(), rt.plural.clone(), ns, name);
        let obj = finish_new(&mut store, &rt, object);
        if rt.kind == "CustomResourceDefinition" {
            store.register_crd(&obj);
        }
        store.objects.insert(key.clone(), obj.clone());
        store.record(&self.shared.events, "ADDED", &key, obj);
    }

    /// The next `n` requests whose path contains `path_contains` fail with `status`.
    pub fn fail_next(&self, path_contains: &str, n: usize, status: u16) {
        self.push_fault(path_contains, n, FaultKind::Status(status));
    }

    /// The next `n` requests whose path (or "METHOD path") contains `path_contains` wait
    /// `delay` first.
    pub fn delay_next(&self, path_contains: &str, n: usize, delay: Duration) {
        self.push_fault(path_contains, n, FaultKind::Delay(delay));
    }

    /// The fake External Secrets controller reports this ExternalSecret as failing to sync.
    pub fn fail_external_secret(&self, name: &str, message: &str) {
        self.shared
            .es_fail
            .lock()
            .unwrap()
            .insert(name.into(), message.into());
    }

    /// Service proxy requests answer 503 Service Unavailable.
    pub fn set_proxy_down(&self, down: bool) {
        *self.shared.proxy_down.lock().unwrap() = down;
    }

    /// From now on, a new CRD's types appear in discovery (and are served) `lag` after the
    /// CRD is created, as on a real API server.
    pub fn set_discovery_lag(&self, lag: Duration) {
        self.shared.store.lock().unwrap().discovery_lag = lag;
    }

    /// From now on, changes and new pods take `delay` to become ready (a slow cluster).
    pub fn set_controller_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// The next `n` matching requests lose their connection mid-answer.
    pub fn drop_next(&self, path_contains: &str, n: usize) {
        self.push_fault(path_contains, n, FaultKind::Drop);
    }

    fn push_fault(&self, path_contains: &str, n: usize, kind: FaultKind) {
        self.shared.faults.lock().unwrap().push(Fault {
            path_contains: path_contains.into(),
            remaining: n,
            kind,
        });
    }

    /// Switch on controllers: Deployments, StatefulSets and their Pods become ready `delay`
    /// after their last change; CRDs become Established.
    pub fn enable_controllers(&mut self, delay: Duration) {
        self.set_controller_delay(delay);
        let shared = self.shared.clone();
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(25)).await;
                let delay = *shared.delay.lock().unwrap();
                reconcile(&shared, delay);
                reconcile_stack(&shared);
            }
        }));
    }
}

/// Fill in server-set metadata of a new object.
fn finish_new(store: &mut Store, rt: &ResourceType, mut obj: Value) -> Value {
    let rv = store.next_rv();
    store.uid += 1;
    let uid = format!("00000000-0000-4000-8000-{:012}", store.uid);
    let meta = obj
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(meta) = meta {
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        if !rt.namespaced {
            meta.remove("namespace");
        }
    }
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    if rt.kind == "Namespace" {
        obj["status"] = json!({"phase": "Active"});
    }
    obj
}

fn key_of(rt: &ResourceType, ns: &str, name: &str) -> Key {
    (
        rt.group.clone(),
        rt.plural.clone(),
        if rt.namespaced {
            ns.into()
        } else {
            String::new()
        },
        name.into(),
    )
}

fn reconcile(shared: &Arc<Shared>, delay: Duration) {
    let mut store = shared.store.lock().unwrap();
    let keys: Vec<Key> = store.objects.keys().cloned().collect();
    for key in keys {
        let old_enough = store
            .changed_at
            .get(&key)
            .is_none_or(|t| t.elapsed() >= delay);
        let Some(obj) = store.objects.get(&key).cloned() else {
            continue;
        };
        let generation = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let observed = obj
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        let mut updated = obj.clone();
        match (key.0.as_str(), key.1.as_str()) {
            ("apps", "deployments") | ("apps", "statefulsets") => {
                // Gradual rollouts (see `rollout_step`): one pod changes per step, and pods
                // become ready on their own (the "pods" arm below), so a rollout passes
                // through the states kubectl and helm must wait out.
                if !old_enough {
                    continue;
                }
                rollout_step(shared, &mut store, &key, &obj);
                continue;
            }
            ("", "persistentvolumeclaims") => {
                // A default StorageClass with immediate binding: every claim binds.
                if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
                    || !old_enough
                {
                    continue;
                }
                let size = obj
                    .pointer("/spec/resources/requests/storage")
                    .cloned()
                    .unwrap_or(json!("1Gi"));
                updated["status"] = json!({
                    "phase": "Bound",
                    "accessModes": obj.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
                    "capacity": {"storage": size}
                });
                updated["spec"]["volumeName"] = json!(format!("pvc-{}", key.3));
            }
            ("batch", "jobs") => {
                // Jobs (chart hooks) run to completion.
                if obj.pointer("/status/succeeded").and_then(Value::as_i64) == Some(1)
                    || !old_enough
                {
                    continue;
                }
                let now = now_rfc3339();
                updated["status"] = json!({
                    "startTime": now, "completionTime": now, "succeeded": 1, "ready": 0,
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                        {"type": "Complete", "status": "True", "lastTransitionTime": now}
                    ]
                });
            }
            ("apps", "daemonsets") => {
                if observed == Some(generation) || !old_enough {
                    continue;
                }
                updated["status"] = json!({
                    "observedGeneration": generation, "desiredNumberScheduled": 1,
                    "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
                    "numberAvailable": 1, "numberReady": 1, "numberMisscheduled": 0
                });
            }
            ("", "pods") => {
                let phase = obj.pointer("/status/phase").and_then(Value::as_str);
                if phase == Some("Running") || !old_enough {
                    continue;
                }
                // The kubelet started it: ready, with a status per container.
                let containers = obj
                    .pointer("/spec/containers")
                    .cloned()
                    .unwrap_or(json!([]));
                updated["status"] = ready_pod_status_for(&containers);
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let established = obj
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    });
                if established || !old_enough {
                    continue;
                }
                updated["status"] = json!({
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}
                    ],
                    "acceptedNames": obj.pointer("/spec/names").cloned().unwrap_or(json!({}))
                });
            }
            _ => continue,
        }
        let rv = store.next_rv();
        updated["metadata"]["resourceVersion"] = json!(rv.to_string());
        store.objects.insert(key.clone(), updated.clone());
        // Status changes by a controller do not restart the readiness delay.
        let at = store.changed_at.get(&key).copied();
        store.record(&shared.events, "MODIFIED", &key, updated);
        if let Some(at) = at {
            store.changed_at.insert(key, at);
        }
    }
}

/// One step of a workload controller, as the real ones roll out (defaults: maxSurge 1,
/// maxUnavailable 0 for Deployments; OrderedReady, highest ordinal first for StatefulSets):
/// a Deployment surges one new pod, waits for it to be ready, then removes one old pod; a
/// StatefulSet creates pods in ordinal order and replaces them from the highest ordinal down,
/// each waiting for the previous to be ready. The status always tells the truth about the pods
/// (old and new replicas, revisions), and is written even when no pod changes.
fn rollout_step(shared: &Shared, store: &mut Store, key: &Key, obj: &Value) {
    let is_deploy = key.1 == "deployments";
    let (ns, name) = (key.2.clone(), key.3.clone());
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let want = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let uid = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
    // The template's revision: a new one for every spec change that touches the template
    // (the generation is close enough: scaling alone changes nothing but the count).
    let template = obj.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let revision = format!("{name}-{:x}", fnv(&template.to_string()));
    let hash_label = if is_deploy {
        "pod-template-hash"
    } else {
        "controller-revision-hash"
    };
    let mut pods = owned_pods(store, &ns, &uid);
    pods.sort_by(|a, b| a.0.3.cmp(&b.0.3));
    let rev_of = |p: &Value| {
        p.pointer(&format!("/metadata/labels/{hash_label}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let is_ready = |p: &Value| {
        p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    let new_pod = |store: &mut Store, pod_name: String| {
        let mut labels = obj
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels[hash_label] = json!(revision);
        let containers = obj
            .pointer("/spec/template/spec/containers")
            .cloned()
            .unwrap_or(json!([]));
        let rt = store.find_type("", "v1", "pods").expect("pods type");
        let pod = finish_new(
            store,
            &rt,
            json!({
                "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                    "ownerReferences": [{
                        "apiVersion": "apps/v1",
                        "kind": if is_deploy { "Deployment" } else { "StatefulSet" },
                        "name": name, "uid": uid, "controller": true}]},
                "spec": {"containers": containers},
                "status": {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]},
            }),
        );
        let pod_key = (
            String::new(),
            "pods".to_string(),
            ns.clone(),
            pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
        );
        store.objects.insert(pod_key.clone(), pod.clone());
        store.record(&shared.events, "ADDED", &pod_key, pod);
    };
    let remove_pod = |store: &mut Store, pod_key: &Key| {
        if let Some(o) = store.objects.remove(pod_key) {
            store.next_rv();
            store.record(&shared.events, "DELETED", pod_key, o);
        }
    };
    let all_ready = pods.iter().all(|(_, p)| is_ready(p));
    let updated: Vec<&(Key, Value)> = pods.iter().filter(|(_, p)| rev_of(p) == revision).collect();
    let old: Vec<&(Key, Value)> = pods.iter().filter(|(_, p)| rev_of(p) != revision).collect();
    let observed = obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    // Make at most one pod change, and only once every pod is ready (the next step waits for
    // the last one) and the controller has observed the spec.
    if observed == Some(generation) && all_ready {
        if is_deploy {
            if !old.is_empty() && pods.len() > want {
                remove_pod(store, &old[0].0);
            } else if updated.len() < want {
                let n = (0..)
                    .find(|i| !pods.iter().any(|(k, _)| k.3 == format!("{revision}-{i}")))
                    .unwrap();
                new_pod(store, format!("{revision}-{n}"));
            } else if updated.len() > want {
                remove_pod(store, &updated[updated.len() - 1].0);
            } else if !old.is_empty() {
                remove_pod(store, &old[0].0);
            }
        } else {
            let ordinal = |k: &Key| {
                k.3.rsplit('-')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0)
            };
            if pods.len() < want {
                let n = (0..want)
                    .find(|i| !pods.iter().any(|(k, _)| ordinal(k) == *i))
                    .unwrap();
                new_pod(store, format!("{name}-{n}"));
            } else if pods.len() > want {
                let top = pods.iter().max_by_key(|(k, _)| ordinal(k)).unwrap();
                remove_pod(store, &top.0);
            } else if let Some(stale) = old.iter().max_by_key(|(k, _)| ordinal(k)) {
                // Replace the highest stale ordinal with one on the update revision.
                let n = ordinal(&stale.0);
                remove_pod(store, &stale.0);
                new_pod(store, format!("{name}-{n}"));
            }
        }
    }
    // The status, from the pods as they are now.
    let pods: Vec<Value> = owned_pods(store, &ns, &uid)
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    let total = pods.len();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let n_updated = pods.iter().filter(|p| rev_of(p) == revision).count();
    let status = if is_deploy {
        let done = n_updated == want && total == want && ready == want;
        json!({
            "observedGeneration": generation, "replicas": total,
            "readyReplicas": ready, "availableReplicas": ready,
            "updatedReplicas": n_updated, "unavailableReplicas": total.saturating_sub(ready),
            "conditions": [
                {"type": "Available", "status": if ready >= want { "True" } else { "False" },
                 "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True",
                 "reason": if done { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" }}
            ]
        })
    } else {
        let previous = obj
            .pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let current = if n_updated == want && ready == want && total == want || previous.is_empty()
        {
            revision.clone()
        } else {
            previous
        };
        let current_replicas = pods.iter().filter(|p| rev_of(p) == current).count();
        json!({
            "observedGeneration": generation, "replicas": total,
            "readyReplicas": ready, "availableReplicas": ready,
            "currentReplicas": current_replicas, "updatedReplicas": n_updated,
            "currentRevision": current, "updateRevision": revision,
        })
    };
    set_status(shared, store, key, status);
}

/// The pods in `ns` whose owner is the object with `uid`.
fn owned_pods(store: &Store, ns: &str, uid: &Value) -> Vec<(Key, Value)> {
    store
        .objects
        .iter()
        .filter(|(k, o)| {
            k.1 == "pods"
                && k.2 == ns
                && o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.iter().any(|r| r["uid"] == *uid))
        })
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect()
}

/// FNV-1a, for stable revision names.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn ready_pod_status() -> Value {
    json!({
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"}
        ]
    })
}

/// Ready status with a ready containerStatus per container of `containers`.
fn ready_pod_status_for(containers: &Value) -> Value {
    let mut st = ready_pod_status();
    st["containerStatuses"] = Value::Array(
        containers
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({"name": c["name"], "ready": true, "restartCount": 0,
                       "image": c["image"], "imageID": "", "started": true})
            })
            .collect(),
    );
    st
}

/// Insert a new object (as a controller would create it).
fn insert_new(
    shared: &Shared,
    store: &mut Store,
    group: &str,
    version: &str,
    plural: &str,
    ns: &str,
    obj: Value,
) {
    let Some(rt) = store.find_type(group, version, plural) else {
        return;
    };
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let key = key_of(&rt, ns, &name);
    if store.objects.contains_key(&key) {
        return;
    }
    let mut obj = finish_new(store, &rt, obj);
    if rt.namespaced {
        obj["metadata"]["namespace"] = json!(ns);
    }
    if rt.kind == "CustomResourceDefinition" {
        store.register_crd(&obj);
    }
    store.objects.insert(key.clone(), obj.clone());
    store.record(&shared.events, "ADDED", &key, obj);
}

/// Replace an object's status (a controller's status write).
fn set_status(shared: &Shared, store: &mut Store, key: &Key, status: Value) {
    let Some(mut obj) = store.objects.get(key).cloned() else {
        return;
    };
    if obj.get("status") == Some(&status) {
        return;
    }
    obj["status"] = status;
    let rv = store.next_rv();
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    let at = store.changed_at.get(key).copied();
    store.objects.insert(key.clone(), obj.clone());
    store.record(&shared.events, "MODIFIED", key, obj);
    if let Some(at) = at {
        store.changed_at.insert(key.clone(), at);
    }
}

/// The stack's operators, as far as deployctl can observe them: External Secrets (stores
/// become Ready, ExternalSecrets create their target Secret and report Ready — or the
/// injected failure — and re-sync on a `force-sync` annotation) and Gatekeeper (a template
/// creates its constraint CRD; constraints get an audit status).
fn reconcile_stack(shared: &Arc<Shared>) {
    let failing = shared.es_fail.lock().unwrap().clone();
    let mut store = shared.store.lock().unwrap();
    let keys: Vec<Key> = store.objects.keys().cloned().collect();
    for key in keys {
        let Some(obj) = store.objects.get(&key).cloned() else {
            continue;
        };
        let generation = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        match (key.0.as_str(), key.1.as_str()) {
            ("external-secrets.io", "clustersecretstores") => {
                let status = json!({"conditions": [{"type": "Ready", "status": "True",
                    "reason": "Valid", "message": "store validated"}],
                    "capabilities": "ReadWrite"});
                set_status(shared, &mut store, &key, status);
            }
            ("external-secrets.io", "externalsecrets") => {
                let name = key.3.clone();
                let force = obj
                    .pointer("/metadata/annotations/force-sync")
                    .cloned()
                    .unwrap_or(Value::Null);
                let synced_for = format!("{generation}-fake");
                let seen_force = obj
                    .pointer("/status/fakeForceSync")
                    .cloned()
                    .unwrap_or(Value::Null);
                if let Some(message) = failing.get(&name) {
                    let status = json!({"conditions": [{"type": "Ready", "status": "False",
                        "reason": "SecretSyncedError", "message": message}]});
                    set_status(shared, &mut store, &key, status);
                    continue;
                }
                if obj
                    .pointer("/status/syncedResourceVersion")
                    .and_then(Value::as_str)
                    == Some(synced_for.as_str())
                    && seen_force == force
                {
                    continue;
                }
                // The target Secret, with a value per key.
                let target = obj
                    .pointer("/spec/target/name")
                    .and_then(Value::as_str)
                    .unwrap_or(&name)
                    .to_string();
                let mut data = serde_json::Map::new();
                for d in obj
                    .pointer("/spec/data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(k) = d["secretKey"].as_str() {
                        let remote = d
                            .pointer("/remoteRef/key")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let v = deployctl::encoding::base64(
                            format!("fake-value-of-{remote}-{}", now_rfc3339()).as_bytes(),
                        );
                        data.insert(k.to_string(), json!(v));
                    }
                }
                let secret_key = (
                    String::new(),
                    "secrets".to_string(),
                    key.2.clone(),
                    target.clone(),
                );
                if let Some(mut existing) = store.objects.get(&secret_key).cloned() {
                    existing["data"] = Value::Object(data);
                    let rv = store.next_rv();
                    existing["metadata"]["resourceVersion"] = json!(rv.to_string());
                    store.objects.insert(secret_key.clone(), existing.clone());
                    store.record(&shared.events, "MODIFIED", &secret_key, existing);
                } else {
                    insert_new(
                        shared,
                        &mut store,
                        "",
                        "v1",
                        "secrets",
                        &key.2,
                        json!({
                            "metadata": {"name": target, "labels": {"reconcile.external-secrets.io/managed": "true"}},
                            "type": "Opaque", "data": Value::Object(data),
                        }),
                    );
                }
                let status = json!({
                    "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                        "message": "secret synced"}],
                    "refreshTime": now_rfc3339(),
                    "syncedResourceVersion": synced_for,
                    "fakeForceSync": force,
                });
                set_status(shared, &mut store, &key, status);
            }
            ("templates.gatekeeper.sh", "constrainttemplates") => {
                let Some(kind) = obj
                    .pointer("/spec/crd/spec/names/kind")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                else {
                    continue;
                };
                let plural = kind.to_lowercase();
                insert_new(
                    shared,
                    &mut store,
                    "apiextensions.k8s.io",
                    "v1",
                    "customresourcedefinitions",
                    "",
                    json!({
                        "metadata": {"name": format!("{plural}.constraints.gatekeeper.sh")},
                        "spec": {"group": "constraints.gatekeeper.sh", "scope": "Cluster",
                            "names": {"kind": kind, "plural": plural, "singular": plural},
                            "versions": [
                                {"name": "v1beta1", "served": true, "storage": true,
                                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                                {"name": "v1", "served": true, "storage": false,
                                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
                    }),
                );
                set_status(
                    shared,
                    &mut store,
                    &key,
                    json!({"created": true, "observedGeneration": generation}),
                );
            }
            // The Prometheus Operator: a Prometheus or Alertmanager object gets its
            // StatefulSet (`prometheus-<name>` / `alertmanager-<name>`), whose pods carry
            // app.kubernetes.io/name=prometheus / alertmanager.
            ("monitoring.coreos.com", plural @ ("prometheuses" | "alertmanagers")) => {
                let app = if plural == "prometheuses" {
                    "prometheus"
                } else {
                    "alertmanager"
                };
                let sts = format!("{app}-{}", key.3);
                let sts_key = (
                    "apps".to_string(),
                    "statefulsets".to_string(),
                    key.2.clone(),
                    sts.clone(),
                );
                if store.objects.contains_key(&sts_key) {
                    continue;
                }
                let replicas = obj
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let labels = json!({"app.kubernetes.io/name": app, "app.kubernetes.io/instance": key.3,
                                    "app.kubernetes.io/managed-by": "prometheus-operator"});
                insert_new(
                    shared,
                    &mut store,
                    "apps",
                    "v1",
                    "statefulsets",
                    &key.2,
                    json!({
                        "metadata": {"name": sts, "namespace": key.2, "labels": labels,
                            "ownerReferences": [{"apiVersion": "monitoring.coreos.com/v1",
                                "kind": obj["kind"], "name": key.3,
                                "uid": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                                "controller": true}]},
                        "spec": {"replicas": replicas, "serviceName": format!("{app}-operated"),
                            "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels},
                                "spec": {"containers": [{"name": app, "image": format!("quay.io/prometheus/{app}")}]}}}
                    }),
                );
            }
            ("constraints.gatekeeper.sh", _) => {
                if obj.pointer("/status/totalViolations").is_some() {
                    continue;
                }
                set_status(
                    shared,
                    &mut store,
                    &key,
                    json!({
                        "auditTimestamp": now_rfc3339(), "totalViolations": 0,
                        "byPod": [{"id": "gatekeeper-audit", "enforced": true}]
                    }),
                );
            }
            _ => {}
        }
    }
}

/// GET /api/v1/namespaces/{ns}/services/{name}[:{port}]/proxy/{path}: answers when the
/// Service exists and a ready pod backs it (LiteLLM's /health/liveliness).
fn service_proxy(shared: &Shared, path: &str) -> Option<Response> {
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

fn parse_target(store: &Store, path: &str) -> Option<Target> {
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

fn discovery(store: &Store, path: &str) -> Option<Value> {
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

async fn handle(
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

    if method == Method::GET
        && let Some(resp) = service_proxy(&shared, &path)
    {
        return resp;
    }
    if method == Method::GET && (path == "/openapi/v3" || path.starts_with("/openapi/v3/")) {
        let store = shared.store.lock().unwrap();
        let rel = path
            .trim_start_matches("/openapi/v3")
            .trim_start_matches('/');
        let doc = if rel.is_empty() {
            Some(super::kube_openapi::root(
                &store.types,
                store.types.len() as u64,
            ))
        } else {
            super::kube_openapi::group_version(&store.types, rel)
        };
        return match doc {
            Some(v) => ok_json(StatusCode::OK, &v),
            None => status_error(404, "NotFound", format!("no OpenAPI document at {path}")),
        };
    }
    // Protobuf bodies (client-go's typed clients, helm's release records) become JSON.
    let body =
        if content_type.starts_with("application/vnd.kubernetes.protobuf") && !body.is_empty() {
            match super::kube_proto::to_json(&body) {
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
        (Method::POST, false) => create(&shared, &t, &body),
        (Method::PUT, true) => update(&shared, &t, &body),
        (Method::PATCH, true) => patch(&shared, &t, &body, &content_type, &q),
        (Method::DELETE, true) => delete(&shared, &t),
        _ => status_error(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {path}"),
        ),
    }
}

fn list(shared: &Shared, t: &Target, q: &HashMap<String, String>) -> Response {
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

fn get(shared: &Shared, t: &Target) -> Response {
    let store = shared.store.lock().unwrap();
    let name = t.name.as_deref().unwrap_or_default();
    let key = key_of(&t.rt, t.namespace.as_deref().unwrap_or(""), name);
    match store.objects.get(&key) {
        Some(v) => ok_json(StatusCode::OK, v),
        None => not_found(&t.rt, name),
    }
}

fn not_found(rt: &ResourceType, name: &str) -> Response {
    let what = if rt.group.is_empty() {
        rt.plural.clone()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    };
    status_error(404, "NotFound", format!("{what} \"{name}\" not found"))
}

#[allow(clippy::result_large_err)]
fn parse_body(body: &Bytes) -> Result<Value, Response> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = String::from_utf8_lossy(body);
    serde_saphyr::from_str::<Value>(&text)
        .map_err(|e| status_error(400, "BadRequest", format!("cannot parse body: {e}")))
}

fn create(shared: &Shared, t: &Target, body: &Bytes) -> Response {
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
fn fields_v1(v: &Value) -> Value {
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

/// A real API server refuses a CRD version without a structural schema.
fn crd_problem(obj: &Value) -> Option<Response> {
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
fn commit(shared: &Shared, store: &mut Store, key: &Key, old: &Value, mut new: Value) -> Value {
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

fn update(shared: &Shared, t: &Target, body: &Bytes) -> Response {
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
        obj
    };
    let stored = commit(shared, &mut store, &key, &old, new);
    ok_json(StatusCode::OK, &stored)
}

fn patch(
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
    let mut store = shared.store.lock().unwrap();
    let key = key_of(&t.rt, &ns, &name);
    // The fields this manager set, in the FieldsV1 shape a real server records (clients such
    // as helm's rollback read them back).
    let owned = fields_v1(&patch);
    let managed = |obj: &mut Value| {
        if let Some(m) = &manager {
            obj["metadata"]["managedFields"] = json!([{
                "manager": m, "operation": if apply { "Apply" } else { "Update" },
                "apiVersion": t.rt.api_version(), "time": now_rfc3339(),
                "fieldsType": "FieldsV1", "fieldsV1": owned,
            }]);
        }
    };
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
            if dry_run {
                return ok_json(StatusCode::OK, &new);
            }
            let stored = commit(shared, &mut store, &key, &old, new);
            ok_json(StatusCode::OK, &stored)
        }
    }
}

fn delete(shared: &Shared, t: &Target) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let mut store = shared.store.lock().unwrap();
    let key = key_of(&t.rt, t.namespace.as_deref().unwrap_or(""), &name);
    let Some(old) = store.objects.remove(&key) else {
        return not_found(&t.rt, &name);
    };
    store.next_rv();
    store.record(&shared.events, "DELETED", &key, old.clone());
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
    if t.rt.kind == "Namespace" {
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
    ok_json(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name, "kind": t.rt.plural}}),
    )
}

fn watch(shared: Arc<Shared>, t: Target, q: HashMap<String, String>) -> Response {
    let mut rx = shared.events.subscribe();
    // A streaming list (client-go's WatchList): the current objects as ADDED events, then a
    // BOOKMARK annotated `k8s.io/initial-events-end`, then changes. Without that bookmark the
    // client waits for the end of the list forever (helm --wait hangs).
    let send_initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let from: Option<u64> = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0 && !send_initial);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(290));
    let matches = {
        let t_group = t.rt.group.clone();
        let t_plural = t.rt.plural.clone();
        let ns = t.namespace.clone();
        let labels = q.get("labelSelector").cloned();
        let fields = q.get("fieldSelector").cloned();
        move |e: &Event| {
            e.group == t_group
                && e.plural == t_plural
                && ns.as_ref().is_none_or(|n| &e.namespace == n)
                && labels.as_ref().is_none_or(|s| labels_match(&e.object, s))
                && fields.as_ref().is_none_or(|s| fields_match(&e.object, s))
        }
    };
    // What happened since `from` (or the current objects, for a watch from "now").
    let (initial, mut last_rv): (Vec<Event>, u64) = {
        let store = shared.store.lock().unwrap();
        let initial = match from {
            Some(rv) => store
                .history
                .iter()
                .filter(|e| e.rv > rv && matches(e))
                .cloned()
                .collect(),
            None => store
                .objects
                .iter()
                .filter(|(k, _)| k.0 == t.rt.group && k.1 == t.rt.plural)
                .map(|(k, v)| Event {
                    rv: store.rv,
                    kind: "ADDED",
                    group: k.0.clone(),
                    plural: k.1.clone(),
                    namespace: k.2.clone(),
                    object: v.clone(),
                })
                .filter(|e| matches(e))
                .collect(),
        };
        (initial, store.rv)
    };
    let bookmark = send_initial.then(|| {
        json!({"type": "BOOKMARK", "object": {
            "apiVersion": t.rt.api_version(), "kind": t.rt.kind,
            "metadata": {"resourceVersion": last_rv.to_string(),
                         "annotations": {"k8s.io/initial-events-end": "true"}}}})
    });
    let stream = async_stream(
        move |tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>| async move {
            for e in initial {
                let line = format!("{}\n", json!({"type": e.kind, "object": e.object}));
                if tx.send(Ok(Bytes::from(line))).await.is_err() {
                    return;
                }
            }
            if let Some(b) = bookmark
                && tx.send(Ok(Bytes::from(format!("{b}\n")))).await.is_err()
            {
                return;
            }
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let next = tokio::time::timeout_at(deadline, rx.recv()).await;
                match next {
                    Err(_) => return,
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                    Ok(Err(_)) => return,
                    Ok(Ok(e)) => {
                        if e.rv <= last_rv || !matches(&e) {
                            continue;
                        }
                        last_rv = last_rv.max(e.rv);
                        let line = format!("{}\n", json!({"type": e.kind, "object": e.object}));
                        if tx.send(Ok(Bytes::from(line))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        },
    );
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(stream)
        .unwrap_or_else(|_| {
            status_error(500, "InternalError", "cannot build watch response".into())
        })
}

/// A streaming body fed by a task.
fn async_stream<F, Fut>(f: F) -> Body
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}
