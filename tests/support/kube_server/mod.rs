//! An in-process Kubernetes API server over HTTP on 127.0.0.1, for tests.
//!
//! A generic object store with discovery for built-in kinds and for CRDs applied to it;
//! get, list (label and field selectors), watch, create, update, server-side apply, merge
//! patch and delete; Kubernetes `Status` bodies for errors; controllers a test switches on
//! that make workloads ready after a delay; fault injection; and a log of every request.

#![allow(dead_code)]

mod controllers;
mod proxy;
mod routes;
mod schema;
mod store;
mod watch;

use controllers::*;
use proxy::*;
use routes::*;
use schema::*;
use store::*;
use watch::*;

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
    /// A read, a dry run (`dryRun=All`: the server changes nothing), or a request to an
    /// application through the service proxy (it changes nothing in the cluster; see
    /// `is_app_call` for what `plan` must not do either).
    pub fn is_read(&self) -> bool {
        self.method == "GET" || self.query.contains("dryRun=All") || self.is_proxy()
    }

    fn is_proxy(&self) -> bool {
        self.path.contains("/services/") && self.path.contains("/proxy/")
    }

    /// A call that may change an application or spend money (a chat completion) through the
    /// service proxy: anything but a GET.
    pub fn is_app_call(&self) -> bool {
        self.is_proxy() && self.method != "GET"
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
    /// The load balancer controller cannot build load balancers (its event message).
    ingress_fail: Mutex<Option<String>>,
    /// Jobs that fail (by name): their pods exit non-zero until the backoff limit.
    job_fail: Mutex<std::collections::BTreeMap<String, String>>,
    /// Service proxy backends: (namespace, service) → base URL of a stand-in.
    routes: Mutex<HashMap<(String, String), String>>,
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

/// Where a request points.
#[derive(Debug)]
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
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
            routes: Mutex::new(HashMap::new()),
            ingress_fail: Mutex::new(None),
            job_fail: Mutex::new(Default::default()),
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

    /// Requests that could change something (anything but GET and dry runs).
    /// Calls through the service proxy that are not reads (chat completions).
    pub fn app_calls(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_app_call())
            .collect()
    }

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

    /// Install CRDs from YAML files (test setup, e.g. `../shared/crds/flux/*.yaml`): their
    /// types are served at once and custom resources of them are validated by their schemas.
    pub fn install_crds(&self, files: &[std::path::PathBuf]) {
        for f in files {
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            for doc in text.split("\n---") {
                let v: Value = serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{f:?}: {e}"));
                if v["kind"] == "CustomResourceDefinition" {
                    self.insert(v);
                }
            }
        }
    }

    /// Server-side apply `doc` as kube-rs sends it, with `fieldValidation=Strict` (kubectl's
    /// default): the stored object, or the server's refusal as (code, message).
    pub async fn apply_strict(&self, doc: &Value) -> Result<Value, (u16, String)> {
        use kube::api::{Api, DynamicObject, Patch, PatchParams, ValidationDirective};
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = doc["kind"].as_str().unwrap_or_default();
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        let client = self.client().await;
        let (ar, caps) = kube::discovery::pinned_kind(&client, &gvk)
            .await
            .map_err(|e| (404, format!("{api_version} {kind} is not served: {e}")))?;
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
            let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
            Api::namespaced_with(client, ns, &ar)
        } else {
            Api::all_with(client, &ar)
        };
        let mut pp = PatchParams::apply("test-apply");
        pp.field_validation = Some(ValidationDirective::Strict);
        match api.patch(name, &pp, &Patch::Apply(doc)).await {
            Ok(o) => Ok(serde_json::to_value(o).unwrap()),
            Err(kube::Error::Api(s)) => Err((s.code, s.message)),
            Err(e) => Err((0, e.to_string())),
        }
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
    /// The load balancer controller fails every Ingress with this reason (None: it works).
    pub fn fail_ingresses(&self, reason: Option<&str>) {
        *self.shared.ingress_fail.lock().unwrap() = reason.map(str::to_string);
    }

    /// Jobs named `name` fail (as the Job controller reports a Job past its backoff limit),
    /// with `message` as their pods' last words.
    pub fn fail_jobs(&self, name: &str, message: &str) {
        self.shared
            .job_fail
            .lock()
            .unwrap()
            .insert(name.into(), message.into());
    }

    /// Jobs succeed again.
    pub fn clear_job_failures(&self) {
        self.shared.job_fail.lock().unwrap().clear();
    }

    /// The service proxy forwards requests for `namespace/service` to `url` (a stand-in of
    /// the application behind it).
    pub fn route_service(&self, namespace: &str, service: &str, url: &str) {
        self.shared.routes.lock().unwrap().insert(
            (namespace.to_string(), service.to_string()),
            url.to_string(),
        );
    }

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
