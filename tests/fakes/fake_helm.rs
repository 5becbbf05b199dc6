//! A thin wrapper around the real helm, for tests (built with `--features test-fakes`).
//!
//! It appends every call (argv, the values files it was given, its environment) to
//! `$FAKE_HELM_LOG` as one JSON line, then hands the call to the real helm
//! (`$FAKE_HELM_REAL`): the real binary applies, waits, records and reports. What it does
//! itself is only what the real binary cannot do here:
//! - `repo add/list/update`: the real helm needs the network to fetch a repository index, so
//!   repositories are kept in `$FAKE_HELM_STATE`;
//! - injected faults: a release named in the state's `fail` list fails its upgrade before
//!   anything is applied; `FAKE_HELM_DELAY_MS` slows `repo update` down;
//! - `FAKE_HELM_RELEASE_MS=<release=ms,…>` (benchmarks): an upgrade of that release first
//!   waits that long, as a real chart's install would;
//! - `FAKE_HELM_SIMULATE=<release,…>`: those releases are simulated as before (objects
//!   created in the cluster `KUBECONFIG` points at, status in the state file). Tests set it
//!   only for kube-prometheus when the chart sources lack its subcharts, which the real helm
//!   cannot install.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn state_path() -> PathBuf {
    std::env::var_os("FAKE_HELM_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fake-helm-state.json"))
}

fn load_state() -> Value {
    std::fs::read_to_string(state_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({"repos": [], "releases": {}, "fail": []}))
}

/// Run `f` holding the state lock: concurrent helm calls (parallel steps) must not lose each
/// other's writes.
fn locked<R>(f: impl FnOnce() -> R) -> R {
    let lock = state_path().with_extension("lock");
    let start = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("fake-helm: state lock {} stuck: {e}", lock.display()),
        }
    }
    let out = f();
    let _ = std::fs::remove_file(&lock);
    out
}

/// Store one release record (read-modify-write under the lock).
fn set_release(key: &str, record: Value) {
    locked(|| {
        let mut state = load_state();
        state["releases"][key] = record.clone();
        save_state(&state);
    });
    // As the real helm: the revision is also recorded in the cluster, as helm's storage
    // Secret `sh.helm.release.v1.<name>.v<revision>` (what deployctl's assess reads).
    if let Err(e) = in_cluster(store_record(&record)) {
        eprintln!("fake-helm: cannot write the release record: {e}");
    }
}

fn in_cluster<F: std::future::Future<Output = Result<(), String>>>(f: F) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(f)
}

/// helm's encoding of a release record: JSON, gzip, base64.
async fn store_record(record: &Value) -> Result<(), String> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, Patch, PatchParams};
    use std::io::Write;
    let (name, ns) = (
        record["name"].as_str().unwrap_or_default(),
        record["namespace"].as_str().unwrap_or("default"),
    );
    let revision = record["revision"].as_i64().unwrap_or(1);
    let release = json!({
        "name": name, "namespace": ns, "version": revision,
        "info": {"status": record["status"], "description": record["description"],
                 "first_deployed": record["first_deployed"], "last_deployed": record["last_deployed"]},
        "chart": {"metadata": {"name": record["chart_name"], "version": record["chart_version"],
                               "appVersion": record["app_version"]}},
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(release.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let encoded = deployctl::platform::encoding::base64(&gz.finish().map_err(|e| e.to_string())?);
    let client = kube_client().await?;
    let api: Api<Secret> = Api::namespaced(client, ns);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {
            "name": format!("sh.helm.release.v1.{name}.v{revision}"), "namespace": ns,
            "labels": {"owner": "helm", "name": name, "status": record["status"],
                       "version": revision.to_string()},
        },
        "data": {"release": deployctl::platform::encoding::base64(encoded.as_bytes())},
    });
    api.patch(
        &format!("sh.helm.release.v1.{name}.v{revision}"),
        &PatchParams::apply("helm").force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// The `--kube-context` of this call (helm's own flag; the kubeconfig's current context
/// otherwise).
static KUBE_CONTEXT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// A client for the cluster as helm reaches it: KUBECONFIG (every file in the list, merged),
/// the `--kube-context` given, that context's server, TLS server name and CA.
async fn kube_client() -> Result<kube::Client, String> {
    let unreachable = |e: String| format!("kubernetes cluster unreachable: {e}");
    let kc = kube::config::Kubeconfig::read().map_err(|e| unreachable(e.to_string()))?;
    let opts = kube::config::KubeConfigOptions {
        context: KUBE_CONTEXT.get().cloned().flatten(),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| unreachable(e.to_string()))
}

/// `helm uninstall` removes every revision's record.
async fn delete_records(name: &str, ns: &str) -> Result<(), String> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, DeleteParams, ListParams};
    let client = kube_client().await?;
    let api: Api<Secret> = Api::namespaced(client, ns);
    let lp = ListParams::default().labels(&format!("owner=helm,name={name}"));
    for s in api.list(&lp).await.map_err(|e| e.to_string())?.items {
        if let Some(n) = s.metadata.name {
            let _ = api.delete(&n, &DeleteParams::default()).await;
        }
    }
    Ok(())
}

fn save_state(state: &Value) {
    let text = serde_json::to_string_pretty(state).unwrap_or_default();
    if let Err(e) = std::fs::write(state_path(), text) {
        eprintln!("fake-helm: cannot write state: {e}");
    }
}

fn log_call(args: &[String]) {
    let Some(log) = std::env::var_os("FAKE_HELM_LOG") else {
        return;
    };
    let mut values = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if (args[i] == "-f" || args[i] == "--values") && i + 1 < args.len() {
            let path = &args[i + 1];
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p)
                    .ok()
                    .map(|m| format!("{:o}", m.permissions().mode() & 0o777))
            };
            let p = std::path::Path::new(path);
            values.push(json!({
                "path": path,
                "content": std::fs::read_to_string(path).ok(),
                "mode": mode(p),
                "dir_mode": p.parent().and_then(mode),
            }));
            i += 1;
        }
        i += 1;
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let line = json!({"argv": args, "values": values, "env": env});
    use std::io::Write;
    // One write under the lock: parallel helm calls must not interleave their lines.
    let text = format!("{line}\n");
    locked(|| {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        {
            let _ = f.write_all(text.as_bytes());
        }
    });
}

fn flag(args: &[String], names: &[&str]) -> Option<String> {
    args.iter()
        .position(|a| names.contains(&a.as_str()))
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter().find_map(|a| {
                names
                    .iter()
                    .find_map(|n| a.strip_prefix(&format!("{n}=")).map(str::to_string))
            })
        })
}

fn has(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

/// Positional arguments (flags and their values removed).
fn positionals(args: &[String]) -> Vec<String> {
    const WITH_VALUE: &[&str] = &[
        "-n",
        "--namespace",
        "-o",
        "--output",
        "--version",
        "-f",
        "--values",
        "--timeout",
        "--kube-context",
        "--kubeconfig",
        "--set",
        "--post-renderer",
    ];
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if WITH_VALUE.contains(&a.as_str()) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            out.push(a.clone());
        }
        i += 1;
    }
    out
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    log_call(&args);
    let _ = KUBE_CONTEXT.set(flag(&args, &["--kube-context"]));
    let pos = positionals(&args);
    let words: Vec<&str> = pos.iter().map(String::as_str).collect();
    let ns = || flag(&args, &["-n", "--namespace"]).unwrap_or("default".into());
    let simulated = |name: &str| {
        std::env::var("FAKE_HELM_SIMULATE").is_ok_and(|v| v.split(',').any(|n| n.trim() == name))
    };
    // Benchmarks: `FAKE_HELM_RELEASE_MS=monitoring=900,redis=600` makes an upgrade of that
    // release take that much longer (a real chart's install time, scaled down).
    if let ["upgrade", name, ..] = words.as_slice()
        && let Some(ms) = std::env::var("FAKE_HELM_RELEASE_MS").ok().and_then(|v| {
            v.split(',')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| k.trim() == *name)
                .and_then(|(_, ms)| ms.trim().parse::<u64>().ok())
        })
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    match words.as_slice() {
        ["repo", "list", ..] => repo_list(),
        ["repo", "add", name, url, ..] => repo_add(name, url, has(&args, "--force-update")),
        ["repo", "update", names @ ..] => repo_update(names),
        ["status", name, ..] if simulated(name) => status(name, &ns()),
        ["get", "metadata", name, ..] if simulated(name) => metadata(name, &ns()),
        ["uninstall", name, ..] if simulated(name) => uninstall(name, &ns()),
        ["upgrade", name, ..]
            if simulated(name) && args.iter().any(|a| a.starts_with("--dry-run")) =>
        {
            eprintln!(
                "Error: fake-helm simulates release {name}: it has no rendered manifest to dry-run"
            );
            ExitCode::from(1)
        }
        ["upgrade", name, chart, ..] if simulated(name) => upgrade(&args, name, chart),
        ["upgrade", name, ..] if injected_failure(name) => {
            eprintln!("Error: UPGRADE FAILED: release {name} failed: injected failure (fake-helm)");
            ExitCode::from(1)
        }
        _ => real_helm(&args),
    }
}

/// A release the test told to fail (the state's `fail` list).
fn injected_failure(name: &str) -> bool {
    load_state()["fail"]
        .as_array()
        .is_some_and(|f| f.iter().any(|n| n == name))
}

/// Become the real helm with these arguments (exec: its signals, exit code and output are
/// the real helm's own).
fn real_helm(args: &[String]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let Some(real) = std::env::var_os("FAKE_HELM_REAL") else {
        eprintln!("Error: fake-helm cannot render charts: set FAKE_HELM_REAL to the real helm");
        return ExitCode::from(1);
    };
    let e = std::process::Command::new(real).args(args).exec();
    eprintln!("Error: running the real helm: {e}");
    ExitCode::from(1)
}

fn repo_list() -> ExitCode {
    let state = load_state();
    let repos = state["repos"].as_array().cloned().unwrap_or_default();
    if repos.is_empty() {
        eprintln!("Error: no repositories to show");
        return ExitCode::from(1);
    }
    println!("{}", Value::Array(repos));
    ExitCode::SUCCESS
}

fn repo_add(name: &str, url: &str, force: bool) -> ExitCode {
    locked(|| repo_add_locked(name, url, force))
}

fn repo_add_locked(name: &str, url: &str, force: bool) -> ExitCode {
    let mut state = load_state();
    let repos = state["repos"].as_array_mut().expect("repos array");
    if let Some(existing) = repos.iter_mut().find(|r| r["name"] == name) {
        if existing["url"] == url {
            println!("\"{name}\" already exists with the same configuration, skipping");
            return ExitCode::SUCCESS;
        }
        if !force {
            eprintln!(
                "Error: repository name ({name}) already exists, please specify a different name"
            );
            return ExitCode::from(1);
        }
        existing["url"] = json!(url);
    } else {
        repos.push(json!({"name": name, "url": url}));
    }
    save_state(&state);
    println!("\"{name}\" has been added to your repositories");
    ExitCode::SUCCESS
}

fn repo_update(names: &[&str]) -> ExitCode {
    // Tests make a call slow to interrupt a run in the middle.
    if let Some(ms) = std::env::var("FAKE_HELM_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let state = load_state();
    let repos = state["repos"].as_array().cloned().unwrap_or_default();
    for n in names {
        if !repos.iter().any(|r| r["name"] == *n) {
            eprintln!("Error: no repositories found matching '{n}'.  Nothing will be updated");
            return ExitCode::from(1);
        }
    }
    println!("Hang tight while we grab the latest from your chart repositories...");
    println!("Update Complete. ⎈Happy Helming!⎈");
    ExitCode::SUCCESS
}

fn release_key(name: &str, ns: &str) -> String {
    format!("{ns}/{name}")
}

fn status(name: &str, ns: &str) -> ExitCode {
    let state = load_state();
    let Some(rel) = state["releases"].get(release_key(name, ns)) else {
        eprintln!("Error: release: not found");
        return ExitCode::from(1);
    };
    let out = json!({
        "name": name,
        "namespace": ns,
        "version": rel["revision"],
        "info": {
            "first_deployed": rel["first_deployed"], "last_deployed": rel["last_deployed"],
            "deleted": "", "description": rel["description"], "status": rel["status"],
        },
        // Like helm 3 and 4: `status -o json` carries no chart object.
        "config": {},
    });
    println!("{out}");
    ExitCode::SUCCESS
}

/// `helm get metadata NAME -n NS -o json`, in helm 4's shape.
fn metadata(name: &str, ns: &str) -> ExitCode {
    let state = load_state();
    let Some(rel) = state["releases"].get(release_key(name, ns)) else {
        eprintln!("Error: release: not found");
        return ExitCode::from(1);
    };
    let out = json!({
        "name": name,
        "chart": rel["chart_name"],
        "version": rel["chart_version"],
        "appVersion": rel["app_version"],
        "namespace": ns,
        "revision": rel["revision"],
        "status": rel["status"],
        "deployedAt": rel["last_deployed"],
        "applyMethod": "ssa",
    });
    println!("{out}");
    ExitCode::SUCCESS
}

/// A local chart (what --charts-dir gives helm): (name, version) from its Chart.yaml, or
/// from the `<name>-<version>.tgz` file name.
fn local_chart(chart: &str) -> Option<(String, String)> {
    let path = std::path::Path::new(chart);
    if path.is_dir() {
        let text = std::fs::read_to_string(path.join("Chart.yaml")).ok()?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}:")))
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        return Some((field("name")?, field("version")?));
    }
    let file = path.file_name()?.to_str()?.strip_suffix(".tgz")?;
    if !path.is_file() {
        return None;
    }
    // The version starts after the first '-' that is followed by a digit.
    let split = file
        .char_indices()
        .filter(|(_, c)| *c == '-')
        .map(|(i, _)| i)
        .find(|i| file[i + 1..].starts_with(|c: char| c.is_ascii_digit()))?;
    Some((file[..split].to_string(), file[split + 1..].to_string()))
}

fn uninstall(name: &str, ns: &str) -> ExitCode {
    locked(|| uninstall_locked(name, ns))
}

fn uninstall_locked(name: &str, ns: &str) -> ExitCode {
    let mut state = load_state();
    let removed = state["releases"]
        .as_object_mut()
        .and_then(|m| m.remove(&release_key(name, ns)));
    if removed.is_none() {
        eprintln!("Error: uninstall: Release not loaded: {name}: release: not found");
        return ExitCode::from(1);
    }
    save_state(&state);
    if let Err(e) = in_cluster(delete_records(name, ns)) {
        eprintln!("fake-helm: cannot remove the release records: {e}");
    }
    println!("release \"{name}\" uninstalled");
    ExitCode::SUCCESS
}

/// What a chart creates, by release name: (kind, name, pod labels, replicas).
fn workloads(release: &str) -> Vec<(&'static str, String, Value, i64)> {
    let l = |k: &str, v: &str| json!({ k: v });
    match release {
        "external-secrets" => vec![
            (
                "Deployment",
                "external-secrets".into(),
                l("app.kubernetes.io/name", "external-secrets"),
                1,
            ),
            (
                "Deployment",
                "external-secrets-webhook".into(),
                l("app.kubernetes.io/name", "external-secrets-webhook"),
                1,
            ),
            (
                "Deployment",
                "external-secrets-cert-controller".into(),
                l("app.kubernetes.io/name", "external-secrets-cert-controller"),
                1,
            ),
        ],
        "gatekeeper" => vec![
            (
                "Deployment",
                "gatekeeper-controller-manager".into(),
                l("control-plane", "controller-manager"),
                3,
            ),
            (
                "Deployment",
                "gatekeeper-audit".into(),
                l("control-plane", "audit-controller"),
                1,
            ),
        ],
        "kube-prometheus" => vec![
            (
                "Deployment",
                "kube-prometheus-grafana".into(),
                l("app.kubernetes.io/name", "grafana"),
                1,
            ),
            (
                "StatefulSet",
                "prometheus-kube-prometheus-kube-prome-prometheus".into(),
                l("app.kubernetes.io/name", "prometheus"),
                1,
            ),
            (
                "StatefulSet",
                "alertmanager-kube-prometheus-kube-prome-alertmanager".into(),
                l("app.kubernetes.io/name", "alertmanager"),
                1,
            ),
        ],
        "jaeger" => vec![(
            "Deployment",
            "jaeger".into(),
            l("app.kubernetes.io/name", "jaeger"),
            1,
        )],
        "redis" => vec![
            (
                "StatefulSet",
                "redis-redis-ha-server".into(),
                json!({"app": "redis-ha", "release": "redis"}),
                3,
            ),
            (
                "Deployment",
                "redis-redis-ha-haproxy".into(),
                json!({"app": "redis-ha-haproxy", "release": "redis"}),
                2,
            ),
        ],
        "litellm" => vec![(
            "Deployment",
            "litellm".into(),
            l("app.kubernetes.io/name", "litellm"),
            2,
        )],
        "open-webui" => vec![(
            "StatefulSet",
            "open-webui".into(),
            l("app.kubernetes.io/name", "open-webui"),
            1,
        )],
        other => vec![(
            "Deployment",
            other.to_string(),
            l("app.kubernetes.io/instance", other),
            1,
        )],
    }
}

/// The containers of a chart's pods (names matter: deployctl checks redis-ha's sentinel).
fn containers(release: &str) -> Value {
    let c = |name: &str| json!({"name": name, "image": format!("registry.example/{release}-{name}:1.0.0")});
    match release {
        "redis" => json!([
            c("redis"),
            c("sentinel"),
            c("split-brain-fix"),
            c("redis-exporter")
        ]),
        _ => json!([c("main")]),
    }
}

/// CRDs and Services a chart creates: (apiVersion, kind, plural, namespaced, object).
fn chart_objects(
    release: &str,
    ns: &str,
) -> Vec<(&'static str, &'static str, &'static str, bool, Value)> {
    let crd = |group: &str, kind: &str, plural: &str, version: &str, scope: &str| {
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.{group}")},
                "spec": {"group": group, "scope": scope,
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
                    "versions": [{"name": version, "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
            }),
        )
    };
    let svc = |name: &str, selector: Value, ports: Value| {
        (
            "v1",
            "Service",
            "services",
            true,
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "labels": selector.clone()},
                "spec": {"selector": selector, "ports": ports}
            }),
        )
    };
    let port = |name: &str, n: u16| json!({"name": name, "port": n, "targetPort": n});
    let by_name = |n: &str| json!({"app.kubernetes.io/name": n});
    match release {
        "external-secrets" => vec![
            crd(
                "external-secrets.io",
                "ExternalSecret",
                "externalsecrets",
                "v1",
                "Namespaced",
            ),
            crd(
                "external-secrets.io",
                "ClusterSecretStore",
                "clustersecretstores",
                "v1",
                "Cluster",
            ),
            crd(
                "external-secrets.io",
                "SecretStore",
                "secretstores",
                "v1",
                "Namespaced",
            ),
            svc(
                "external-secrets-webhook",
                by_name("external-secrets-webhook"),
                json!([port("webhook", 443)]),
            ),
            svc(
                "external-secrets-metrics",
                by_name("external-secrets"),
                json!([port("metrics", 8080)]),
            ),
        ],
        "gatekeeper" => vec![
            crd(
                "templates.gatekeeper.sh",
                "ConstraintTemplate",
                "constrainttemplates",
                "v1",
                "Cluster",
            ),
            svc(
                "gatekeeper-webhook-service",
                json!({"control-plane": "controller-manager"}),
                json!([port("https-webhook-server", 443)]),
            ),
        ],
        "kube-prometheus" => vec![
            crd(
                "monitoring.coreos.com",
                "ServiceMonitor",
                "servicemonitors",
                "v1",
                "Namespaced",
            ),
            crd(
                "monitoring.coreos.com",
                "PodMonitor",
                "podmonitors",
                "v1",
                "Namespaced",
            ),
            svc(
                "kube-prometheus-grafana",
                by_name("grafana"),
                json!([port("http-web", 80)]),
            ),
            svc(
                "kube-prometheus-kube-prome-prometheus",
                by_name("prometheus"),
                json!([port("http-web", 9090)]),
            ),
            svc(
                "kube-prometheus-kube-prome-alertmanager",
                by_name("alertmanager"),
                json!([port("http-web", 9093)]),
            ),
        ],
        "jaeger" => vec![svc(
            "jaeger",
            by_name("jaeger"),
            json!([
                port("otlp-grpc", 4317),
                port("otlp-http", 4318),
                port("http-query", 16686)
            ]),
        )],
        "redis" => vec![
            svc(
                "redis-redis-ha",
                json!({"app": "redis-ha", "release": "redis"}),
                json!([
                    port("tcp-server", 6379),
                    port("tcp-sentinel", 26379),
                    port("http-exporter-port", 9121)
                ]),
            ),
            svc(
                "redis-redis-ha-haproxy",
                json!({"app": "redis-ha-haproxy", "release": "redis"}),
                json!([port("tcp-haproxy", 6379)]),
            ),
        ],
        "litellm" => vec![svc(
            "litellm",
            by_name("litellm"),
            json!([port("http", 4000)]),
        )],
        "open-webui" => vec![svc(
            "open-webui",
            by_name("open-webui"),
            json!([port("http", 80)]),
        )],
        _ => vec![],
    }
}

fn parse_timeout(t: &str) -> Duration {
    let t = t.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().unwrap_or(300);
    match unit {
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => Duration::from_secs(n),
    }
}

fn upgrade(args: &[String], name: &str, chart: &str) -> ExitCode {
    let ns = flag(args, &["-n", "--namespace"]).unwrap_or("default".into());
    let version = flag(args, &["--version"]).unwrap_or_default();
    let state = load_state();
    let key = release_key(name, &ns);
    let existing = state["releases"].get(&key).cloned();
    if existing.is_none() && !has(args, "--install") {
        eprintln!("Error: UPGRADE FAILED: \"{name}\" has no deployed releases");
        return ExitCode::from(1);
    }
    let revision = existing
        .as_ref()
        .and_then(|r| r["revision"].as_i64())
        .unwrap_or(0)
        + 1;
    let first = existing
        .as_ref()
        .map(|r| r["first_deployed"].clone())
        .unwrap_or(json!(now()));
    let (chart_name, version) = match local_chart(chart) {
        Some((n, v)) => (n, v),
        None => (
            chart.rsplit('/').next().unwrap_or(chart).to_string(),
            version,
        ),
    };
    let failing = state["fail"]
        .as_array()
        .is_some_and(|f| f.iter().any(|n| n == name));
    let mut record = json!({
        "name": name, "namespace": ns, "revision": revision, "first_deployed": first,
        "last_deployed": now(), "chart": chart, "chart_name": chart_name, "chart_version": version,
        "app_version": "1.0.0", "status": "pending-upgrade", "description": "",
    });
    if failing {
        record["status"] = json!("failed");
        record["description"] = json!("Upgrade \"{name}\" failed: injected failure");
        set_release(&key, record);
        eprintln!(
            "Error: UPGRADE FAILED: release {name} failed, and has been rolled back due to atomic being set: injected failure"
        );
        return ExitCode::from(1);
    }
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(create_workloads(
                name,
                &ns,
                has(args, "--wait"),
                parse_timeout(&flag(args, &["--timeout"]).unwrap_or("5m".into())),
            ))
        });
    match result {
        Ok(()) => {
            record["status"] = json!("deployed");
            record["description"] = json!(if revision == 1 {
                "Install complete"
            } else {
                "Upgrade complete"
            });
            set_release(&key, record);
            println!(
                "Release \"{name}\" has been upgraded. Happy Helming!\nNAME: {name}\nNAMESPACE: {ns}\nSTATUS: deployed\nREVISION: {revision}"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            record["status"] = json!("failed");
            record["description"] = json!(e.clone());
            set_release(&key, record);
            eprintln!("Error: UPGRADE FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

async fn create_workloads(
    release: &str,
    ns: &str,
    wait: bool,
    timeout: Duration,
) -> Result<(), String> {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::discovery::ApiResource;
    let client = kube_client().await?;
    let params = PatchParams::apply("helm").force();
    for (api_version, kind, plural, namespaced, obj) in chart_objects(release, ns) {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let ar = ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(group, version, kind),
            plural,
        );
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), ns, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        api.patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(|e| format!("cannot create {kind} {name}: {e}"))?;
    }
    let list = workloads(release);
    for (kind, name, labels, replicas) in &list {
        let ar = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("apps", "v1", kind));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let mut all_labels = labels.clone();
        all_labels["app.kubernetes.io/instance"] = json!(release);
        let obj = json!({
            "apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": release}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": all_labels}, "spec": {"containers": containers(release)}}
            }
        });
        api.patch(name, &params, &Patch::Apply(&obj))
            .await
            .map_err(|e| format!("cannot create {kind} {name}: {e}"))?;
    }
    if !wait {
        return Ok(());
    }
    let start = Instant::now();
    loop {
        let mut pending = Vec::new();
        for (kind, name, _, replicas) in &list {
            let ar = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("apps", "v1", kind));
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            let ready = obj
                .data
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if ready < *replicas {
                pending.push(format!("{kind}/{name}"));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(format!(
                "context deadline exceeded (waiting for {})",
                pending.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
