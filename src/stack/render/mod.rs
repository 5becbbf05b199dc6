//! The stack rendered offline: every release's chart (from a charts directory) through the
//! real `helm template` with our values file and the overlay deployctl generates, then the
//! checks a deploy cannot afford to learn about on the cluster: unknown values keys
//! (`keys`) and the wiring between releases, our manifests and deployctl (`wiring`).

pub mod keys;
pub mod manifest_diff;
pub mod values;
pub mod wiring;

use crate::platform::kubeapi::wait::Workload;
use crate::platform::tools::helm::{ChartRef, Helm};
use crate::stack::charts::{self, Chart};
use crate::stack::manifest;
use crate::stack::releases::{self as rel_step, OverlayInputs};
use crate::stack::releases::{Release, Releases};
use anyhow::{Context as _, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use wiring::{Object, PortRef, ServiceRef};

/// What rendering needs besides the charts.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub project_dir: PathBuf,
    pub charts_dir: PathBuf,
    pub region: String,
    pub secrets_prefix: String,
    /// The cluster (the IRSA role names carry it).
    pub cluster: String,
    /// The account in the role ARNs of the overlay (a sample when unknown offline).
    pub account: String,
    /// Who reaches the stack (the entry point, OpenWebUI's admin and single sign-on).
    pub access: crate::config::access::Access,
}

impl Inputs {
    /// The inputs of this run: its project, region, prefix, and account when known (a sample
    /// account otherwise: rendering is offline).
    pub fn from_settings(settings: &crate::config::Settings, charts_dir: &Path) -> Inputs {
        Inputs {
            project_dir: settings.project_dir.clone(),
            charts_dir: charts_dir.to_path_buf(),
            region: settings.region.clone(),
            secrets_prefix: settings.secrets_prefix.clone(),
            cluster: settings.cluster.clone(),
            account: settings
                .account_id
                .clone()
                .unwrap_or_else(|| SAMPLE_ACCOUNT.to_string()),
            access: settings.access.clone(),
        }
    }
}

/// The VPC in overlays when rendering offline (the real one comes from EKS at install).
pub const SAMPLE_VPC: &str = "vpc-00000000000000000";

/// The account used in overlays when none is known (validate runs offline).
pub const SAMPLE_ACCOUNT: &str = "000000000000";

/// One release, rendered.
#[derive(Debug, Clone)]
pub struct RenderedRelease {
    pub release: Release,
    pub chart_path: PathBuf,
    pub objects: Vec<Object>,
    /// The rendered YAML as helm printed it.
    pub yaml: String,
}

/// Everything `render_stack` found.
#[derive(Debug, Default)]
pub struct Report {
    pub releases: Vec<RenderedRelease>,
    /// Each names a file and line, or the release, object and field.
    pub problems: Vec<String>,
}

fn overlay_inputs(i: &Inputs) -> OverlayInputs {
    OverlayInputs {
        partition: crate::platform::aws::partition_of(&i.region).to_string(),
        account: i.account.clone(),
        region: i.region.clone(),
        cluster: i.cluster.clone(),
        vpc_id: SAMPLE_VPC.into(),
        access: i.access.clone(),
    }
}

/// Render one release; unknown values keys are added to `problems`.
async fn render_release(
    helm: &Helm,
    inputs: &Inputs,
    rel: &Release,
    problems: &mut Vec<String>,
) -> Result<Option<RenderedRelease>> {
    let local = match charts::find_local(&inputs.charts_dir, rel) {
        Ok(l) => l,
        Err(e) => {
            problems.push(format!("release {}: {e:#}", rel.name));
            return Ok(None);
        }
    };
    let missing = local.chart.missing_dependencies();
    if !missing.is_empty() {
        problems.push(format!(
            "release {}: chart {} lacks its subcharts {} in charts/, so helm cannot render or install it (`deployctl charts pull` fetches the packaged chart, which has them)",
            rel.name,
            local.path.display(),
            missing.join(", ")
        ));
        return Ok(None);
    }
    let values_path = inputs.project_dir.join("helm-values").join(&rel.values);
    let text = std::fs::read_to_string(&values_path)
        .with_context(|| format!("cannot read {}", values_path.display()))?;
    let values: Value = serde_saphyr::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(1);
        anyhow::anyhow!("{}:{line}: {e}", values_path.display())
    })?;
    for u in keys::unknown_keys(&local.chart, &values, &text) {
        problems.push(format!(
            "{}:{}: unknown key `{}`: chart {} {} neither defines it in values.yaml nor reads it in a template (helm would ignore it)",
            values_path.display(),
            u.line,
            u.key,
            local.chart.name,
            local.chart.version
        ));
    }
    let overlay = rel_step::overlay(&rel.name, &overlay_inputs(inputs))?;
    for u in keys::unknown_keys(&local.chart, &overlay, "") {
        problems.push(format!(
            "the overlay deployctl generates for release {}: unknown key `{}` for chart {} {}",
            rel.name, u.key, local.chart.name, local.chart.version
        ));
    }
    let (dir, overlay_path) = rel_step::write_overlay(&rel.name, &overlay)?;
    let rendered = helm
        .template(
            &rel.name,
            &rel.namespace,
            &ChartRef::Local(&local.path),
            &[&values_path, &overlay_path],
        )
        .await;
    drop(dir);
    let yaml = match rendered {
        Ok(y) => y,
        Err(e) => {
            problems.push(format!("release {}: helm template failed: {e:#}", rel.name));
            return Ok(None);
        }
    };
    let origin = format!("release {}", rel.name);
    let docs = manifest::parse_documents(Path::new(&origin), &yaml)
        .map_err(|p| anyhow::anyhow!("helm template of {} printed invalid YAML: {p}", rel.name))?;
    let objects = docs
        .into_iter()
        .filter(|d| d.value.is_object())
        .map(|d| Object {
            origin: origin.clone(),
            namespace: d.namespace().unwrap_or(&rel.namespace).to_string(),
            value: d.value,
        })
        .collect();
    Ok(Some(RenderedRelease {
        release: rel.clone(),
        chart_path: local.path,
        objects,
        yaml,
    }))
}

/// Our manifests, with the run's values filled in, as objects.
fn our_manifests(inputs: &Inputs) -> Result<Vec<Object>> {
    let mut out = Vec::new();
    let mut files = vec![
        "manifests/secret-store.yaml",
        "manifests/external-secrets.yaml",
        "manifests/monitoring/servicemonitors.yaml",
    ];
    // The OIDC client secret's ExternalSecret, when single sign-on is configured.
    if inputs.access.oidc.is_some() {
        files.push(crate::stack::manifest::OIDC_FILE);
    }
    // The entry point's Ingresses, when one is configured.
    out.extend(
        crate::stack::entry_point::documents(&inputs.access, &inputs.cluster)
            .into_iter()
            .map(|d| Object {
                origin: format!("{} (the ingress step)", crate::config::access::FILE),
                namespace: d.namespace().unwrap_or("default").to_string(),
                value: d.value,
            }),
    );
    for rel in files {
        let docs = crate::stack::manifest::fill(
            &inputs.project_dir,
            rel,
            &inputs.region,
            &inputs.secrets_prefix,
        )?;
        out.extend(docs.into_iter().map(|d| Object {
            origin: format!("{rel}:{}", d.line),
            namespace: d.namespace().unwrap_or("default").to_string(),
            value: d.value,
        }));
    }
    Ok(out)
}

/// Secrets deployctl itself creates: (namespace, name, keys).
pub const MADE_BY_DEPLOYCTL: &[(&str, &str, &[&str])] = &[(
    "monitoring",
    rel_step::GRAFANA_ADMIN_SECRET,
    &["admin-user", "admin-password"],
)];

/// Service references deployctl, its access hints and the bastion's aliases rely on.
fn deployctl_refs(project_dir: &Path) -> Vec<ServiceRef> {
    let mut out = Vec::new();
    for (what, ns, svc, ports) in crate::stack::releases::ACCESS {
        if let Some(remote) = ports.split(':').nth(1).and_then(|p| p.parse().ok()) {
            out.push(ServiceRef {
                from: format!("deployctl verify's access hint for {what}"),
                namespace: ns.to_string(),
                service: svc.to_string(),
                port: PortRef::Number(remote),
            });
        }
    }
    for (ns, name, svc, port, _) in crate::stack::entry_point::INGRESSES {
        out.push(ServiceRef {
            from: format!("deployctl ingress (Ingress {ns}/{name})"),
            namespace: ns.to_string(),
            service: svc.to_string(),
            port: PortRef::Number(*port),
        });
    }
    out.push(ServiceRef {
        from: "deployctl litellm (liveliness through the service proxy)".into(),
        namespace: "litellm".into(),
        service: rel_step::LITELLM_SERVICE.into(),
        port: PortRef::Number(rel_step::LITELLM_PORT),
    });
    // `alias llm-x='kubectl port-forward svc/NAME L:R -n NS …'` in the bastion's user data.
    let user_data = project_dir.join("terraform/modules/bastion/user-data.sh.tmpl");
    if let Ok(text) = std::fs::read_to_string(&user_data) {
        for line in text.lines().filter(|l| l.contains("port-forward svc/")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let svc = words.iter().find_map(|w| w.strip_prefix("svc/"));
            let ns = words
                .iter()
                .position(|w| *w == "-n")
                .and_then(|i| words.get(i + 1));
            let port = words
                .iter()
                .find_map(|w| {
                    w.split_once(':')
                        .filter(|(a, b)| a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok())
                })
                .and_then(|(_, r)| r.parse().ok());
            if let (Some(svc), Some(ns), Some(port)) = (svc, ns, port) {
                let alias = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|a| a.split('=').next())
                    .unwrap_or("alias");
                out.push(ServiceRef {
                    from: format!("the bastion's {alias} alias (user-data.sh.tmpl)"),
                    namespace: ns.to_string(),
                    service: svc.to_string(),
                    port: PortRef::Number(port),
                });
            }
        }
    }
    out
}

/// The readiness table (what deployctl waits for) must name rendered workloads.
fn readiness_problems(r: &RenderedRelease) -> Vec<String> {
    let Some(def) = rel_step::RELEASES
        .iter()
        .find(|d| d.release == r.release.name)
    else {
        return Vec::new();
    };
    let ns = &r.release.namespace;
    let mut problems = Vec::new();
    for w in def.workloads {
        let ok = match w {
            Workload::Deployment(name) => {
                wiring::find(&r.objects, "Deployment", ns, name).is_some()
            }
            Workload::StatefulSet(name) => {
                wiring::find(&r.objects, "StatefulSet", ns, name).is_some()
            }
            Workload::DaemonSet(name) => wiring::find(&r.objects, "DaemonSet", ns, name).is_some(),
            Workload::Pods(sel) => {
                !wiring::pods_matching(&r.objects, ns, &wiring::parse_selector(sel)).is_empty()
                    || made_by_an_operator(r, sel)
            }
            Workload::Container {
                selector,
                container,
            } => {
                let pods = wiring::pods_matching(&r.objects, ns, &wiring::parse_selector(selector));
                !pods.is_empty()
                    && pods.iter().all(|p| {
                        p.containers()
                            .iter()
                            .any(|c| c["name"].as_str() == Some(container))
                    })
            }
        };
        if !ok {
            problems.push(format!(
                "deployctl waits for {} of release {} in {ns}, which its chart does not render",
                w.describe(),
                r.release.name
            ));
        }
    }
    problems
}

/// Pods an operator creates from a rendered custom resource (the Prometheus Operator makes
/// the `prometheus` and `alertmanager` pods from the Prometheus and Alertmanager objects).
fn made_by_an_operator(r: &RenderedRelease, selector: &str) -> bool {
    let sel = wiring::parse_selector(selector);
    let Some(name) = sel.get("app.kubernetes.io/name").and_then(Value::as_str) else {
        return false;
    };
    r.objects.iter().any(|o| {
        o.value["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("monitoring.coreos.com/"))
            && o.kind().eq_ignore_ascii_case(name)
    })
}

/// OpenWebUI's pod must send its OpenAI-compatible calls to LiteLLM's Service (without a
/// base URL it calls api.openai.com with the LiteLLM master key).
fn openwebui_problems(webui: &RenderedRelease, litellm: &RenderedRelease) -> Vec<String> {
    let litellm_svcs: Vec<(&str, &str)> = litellm
        .objects
        .iter()
        .filter(|o| o.kind() == "Service")
        .map(|o| (o.name(), o.namespace.as_str()))
        .collect();
    let pods: Vec<&Object> = webui
        .objects
        .iter()
        .filter(|o| !o.is_test_hook() && o.kind() != "Pod" && o.pod_spec().is_some())
        .filter(|o| {
            o.containers()
                .iter()
                .any(|c| c["name"].as_str() == Some("open-webui"))
        })
        .collect();
    if pods.is_empty() {
        return vec!["release open-webui renders no workload with an open-webui container".into()];
    }
    let mut problems = Vec::new();
    for p in pods {
        let urls = wiring::env_value(p, "OPENAI_API_BASE_URLS")
            .or_else(|| wiring::env_value(p, "OPENAI_API_BASE_URL"));
        let to_litellm = urls.as_deref().is_some_and(|u| {
            wiring::cluster_hosts(u)
                .iter()
                .any(|(s, n, _)| litellm_svcs.contains(&(s.as_str(), n.as_str())))
        });
        if !to_litellm {
            problems.push(format!(
                "release open-webui {}/{}: OPENAI_API_BASE_URL(S) {} — OpenWebUI would call its default (api.openai.com) with the LiteLLM master key; set openaiBaseApiUrls to LiteLLM's Service",
                p.kind(),
                p.name(),
                match &urls {
                    Some(u) => format!("is `{u}`, not LiteLLM's Service"),
                    None => "is not set in the pod".to_string(),
                }
            ));
        }
    }
    problems
}

/// LiteLLM's Redis must be the master: a Service that does not pick the redis-ha server pods
/// directly (two of three are read-only replicas) but a proxy that routes to the master, and
/// the password must be the one Redis reads.
fn litellm_redis_problems(litellm: &RenderedRelease, redis: &RenderedRelease) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(dep) = litellm
        .objects
        .iter()
        .find(|o| o.kind() == "Deployment" && !o.is_test_hook())
    else {
        return vec!["release litellm renders no Deployment".into()];
    };
    let Some(host) = wiring::env_value(dep, "REDIS_HOST") else {
        return vec!["release litellm: the LiteLLM pod has no REDIS_HOST".into()];
    };
    let Some((svc_name, ns, _)) = wiring::cluster_hosts(&host).into_iter().next() else {
        return vec![format!(
            "release litellm: REDIS_HOST `{host}` is not a cluster Service name (<svc>.<ns>.svc.cluster.local)"
        )];
    };
    let Some(svc) = wiring::find(&redis.objects, "Service", &ns, &svc_name) else {
        return vec![format!(
            "release litellm: REDIS_HOST names Service {ns}/{svc_name}, which release redis does not render"
        )];
    };
    let selector = wiring::service_selector(svc);
    let servers = redis
        .objects
        .iter()
        .filter(|o| o.kind() == "StatefulSet")
        .collect::<Vec<_>>();
    let picked = wiring::pods_matching(&redis.objects, &ns, &selector);
    if picked
        .iter()
        .any(|p| servers.iter().any(|s| std::ptr::eq(*s, *p)))
    {
        problems.push(format!(
            "release litellm: REDIS_HOST names Service {ns}/{svc_name}, which selects the redis-ha server pods (two of three are read-only replicas: writes fail with READONLY); use the HAProxy Service (haproxy.enabled) or Sentinel settings"
        ));
    } else {
        let routes_to_master = redis.objects.iter().any(|o| {
            o.kind() == "ConfigMap"
                && o.value["data"].as_object().is_some_and(|d| {
                    d.values()
                        .any(|v| v.as_str().is_some_and(|t| t.contains("role:master")))
                })
        });
        if picked.is_empty() || !routes_to_master {
            problems.push(format!(
                "release litellm: REDIS_HOST names Service {ns}/{svc_name}, which selects {} — not a proxy that checks role:master",
                if picked.is_empty() { "no pods".to_string() } else { picked.iter().map(|p| format!("{}/{}", p.kind(), p.name())).collect::<Vec<_>>().join(", ") }
            ));
        }
    }
    let theirs = servers.iter().find_map(|s| wiring::env_secret(s, "AUTH"));
    let ours = wiring::env_secret(dep, "REDIS_PASSWORD");
    match (ours, theirs) {
        (Some(a), Some(b)) if a == b => {}
        (a, b) => problems.push(format!(
            "release litellm: REDIS_PASSWORD comes from {}, but Redis reads its password from {}",
            a.map(|(n, k)| format!("Secret {n} key {k}"))
                .unwrap_or_else(|| "nowhere".into()),
            b.map(|(n, k)| format!("Secret {n} key {k}"))
                .unwrap_or_else(|| "nowhere (auth off)".into()),
        )),
    }
    problems
}

/// Render every release from `inputs.charts_dir` and check it. `Err` only for what stops
/// the whole check (no releases.yaml, an unreadable manifest).
pub async fn render_stack(helm: &Helm, inputs: &Inputs) -> Result<Report> {
    let all = Releases::load(&inputs.project_dir)?;
    let mut report = Report::default();
    let results = futures::future::join_all(all.releases.iter().map(|rel| async {
        let mut problems = Vec::new();
        let r = render_release(helm, inputs, rel, &mut problems).await;
        (r, problems)
    }))
    .await;
    for (r, problems) in results {
        report.problems.extend(problems);
        if let Some(r) = r? {
            report.releases.push(r);
        }
    }
    let manifests = our_manifests(inputs)?;
    let mut objects: Vec<Object> = report
        .releases
        .iter()
        .flat_map(|r| r.objects.iter().cloned())
        .collect();
    objects.extend(manifests);

    let rendered_all = report.releases.len() == all.releases.len();
    // Namespaces where a release did not render: references into them are not judged (that
    // release's own problem is reported already).
    let incomplete_ns: Vec<&str> = all
        .releases
        .iter()
        .filter(|r| !report.releases.iter().any(|x| x.release.name == r.name))
        .map(|r| r.namespace.as_str())
        .collect();
    let mut refs = wiring::env_service_refs(&objects);
    refs.extend(wiring::configmap_service_refs(&objects));
    refs.extend(deployctl_refs(&inputs.project_dir));
    refs.retain(|r| !incomplete_ns.contains(&r.namespace.as_str()));
    report
        .problems
        .extend(wiring::service_ref_problems(&objects, &refs));
    if rendered_all {
        report
            .problems
            .extend(wiring::service_monitor_problems(&objects));
    }
    let produced = wiring::produced_secrets(&objects, MADE_BY_DEPLOYCTL);
    let app_namespaces: Vec<&str> = all.releases.iter().map(|r| r.namespace.as_str()).collect();
    report.problems.extend(wiring::secret_ref_problems(
        &objects,
        &produced,
        &app_namespaces,
    ));
    for r in &report.releases {
        report.problems.extend(readiness_problems(r));
    }
    let by_name = |n: &str| report.releases.iter().find(|r| r.release.name == n);
    if let (Some(webui), Some(litellm)) = (by_name("open-webui"), by_name("litellm")) {
        report.problems.extend(openwebui_problems(webui, litellm));
    }
    if let (Some(litellm), Some(redis)) = (by_name("litellm"), by_name("redis")) {
        report
            .problems
            .extend(litellm_redis_problems(litellm, redis));
    }
    Ok(report)
}

/// The chart a release would be rendered from (for messages and `charts` commands).
pub fn chart_of(inputs: &Inputs, rel: &Release) -> Result<Chart> {
    Ok(charts::find_local(&inputs.charts_dir, rel)?.chart)
}
