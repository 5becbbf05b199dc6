//! `verify`: the stack's pods and services with ready counts, and the access hints (bound to
//! 127.0.0.1). Fails when a pod of the stack is not ready.

use super::{Findings, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::kubeapi::errors::retry;
use anyhow::{Result, bail};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};

/// The namespaces of the stack (manifests/namespaces.yaml).
pub const NAMESPACES: &[&str] = &[
    "external-secrets",
    "gatekeeper-system",
    "monitoring",
    "litellm",
    "open-webui",
];

use crate::stack::releases::ACCESS;

/// Where people go: with an entry point, its addresses (each Ingress's load balancer; an
/// Ingress without one fails, with the controller's reason); without one, the port-forwards
/// and how to add an entry point.
pub async fn way_in(cx: &Context) -> Result<String> {
    let docs = crate::stack::entry_point::documents(&cx.settings.access, &cx.settings.cluster);
    if docs.is_empty() {
        return Ok(format!(
            "Access (from this machine):\n{}\n  To give others an address: {}",
            access_hints(),
            crate::config::access::HOW_TO_ADD
        ));
    }
    let client = cx.kube()?;
    let mut lines = vec!["Addresses:".to_string()];
    for d in &docs {
        let ns = d.namespace().unwrap_or_default();
        let host = d.value["spec"]["rules"][0]["host"].as_str().unwrap_or("");
        let api: Api<k8s_openapi::api::networking::v1::Ingress> =
            Api::namespaced(client.clone(), ns);
        let ing = retry("reading the entry point's Ingresses", || {
            api.get_opt(d.name())
        })
        .await?;
        let what = if d.name() == "open-webui" {
            "OpenWebUI"
        } else {
            "LiteLLM API"
        };
        match ing.as_ref().and_then(super::ingress::address) {
            Some(lb) => lines.push(format!(
                "  {what:<12} https://{host}{}  (load balancer {lb}: point {host} at it, a CNAME or an alias record)",
                if what == "OpenWebUI" { "" } else { "/v1" }
            )),
            None => {
                let why = match &ing {
                    None => "its Ingress does not exist: run `deployctl ingress`".to_string(),
                    Some(i) => super::ingress::controller_reason(&client, i, None)
                        .await
                        .map(|r| format!("the load balancer controller says {r}"))
                        .unwrap_or_else(|| {
                            "the load balancer controller has not reported yet (`kubectl -n kube-system logs deploy/aws-load-balancer-controller`)".into()
                        }),
                };
                bail!("{what} at https://{host} has no address: {why}");
            }
        }
    }
    Ok(lines.join("\n"))
}

pub fn access_hints() -> String {
    ACCESS
        .iter()
        .map(|(what, ns, svc, ports)| {
            format!(
                "  {what:<12} kubectl port-forward -n {ns} svc/{svc} {ports} --address 127.0.0.1"
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn running_or_done(p: &Pod) -> (bool, bool) {
    let phase = p
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let ready = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    (ready, phase == "Succeeded")
}

/// Where Flux's objects of the stack live (`flux bootstrap`'s namespace; `export` puts them
/// there).
pub const FLUX_NAMESPACE: &str = "flux-system";

/// The GitOps engine's own word on the stack, when one manages it (`deployctl export`): each
/// Flux HelmRelease of our releases and Kustomization `stack-*`, and each Argo CD Application
/// of the cluster's project, with whether it is reconciled (the engine's message when not)
/// and the chart version it last applied. A cluster without the engine's CRDs has none; one
/// whose objects this identity may not list (403) gives a note instead of a verdict. `verify`
/// fails on its problems; `outdated` puts them on the release's row.
pub struct GitopsStatus {
    pub objects: Vec<EngineObject>,
    pub notes: Vec<String>,
}

/// One object of the engine that manages part of the stack.
pub struct EngineObject {
    /// `Flux HelmRelease flux-system/litellm`, `Argo CD Application dev-redis`.
    pub label: String,
    /// The release of ours it installs, when it installs one.
    pub release: Option<String>,
    /// Why it is not reconciled, in the engine's words; `None` when it is.
    pub problem: Option<String>,
    /// The chart version the engine last applied (Flux's newest history entry, Argo CD's
    /// synced revision of the chart source).
    pub applied: Option<String>,
}

impl GitopsStatus {
    /// Each object not reconciled: `<label> is <state>: <the engine's message>`.
    pub fn problems(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter_map(|o| o.problem.as_ref().map(|p| format!("{} {p}", o.label)))
            .collect()
    }
}

pub async fn gitops_status(cx: &Context) -> Result<GitopsStatus> {
    let client = cx.kube()?;
    // Ours: in flux-system (where `export` puts them), by release name and namespace.
    let ours: Vec<(String, String)> =
        crate::stack::releases::Releases::load(&cx.settings.project_dir)?
            .releases
            .into_iter()
            .map(|r| (r.name, r.namespace))
            .collect();
    let list = |api_version: &'static str, kind: &'static str, plural: &'static str| {
        let api = crate::platform::kubeapi::dynamic_api(&client, api_version, kind, plural, None);
        async move {
            let lp = ListParams::default();
            let answered = |e: &anyhow::Error| {
                e.downcast_ref::<crate::platform::kubeapi::errors::RetryFailure>()
                    .and_then(|f| f.answered())
            };
            match retry(&format!("listing {kind}s"), || api.list(&lp)).await {
                Ok(l) => Ok((l.items, None)),
                // Not served: no such engine on this cluster.
                Err(e) if answered(&e) == Some(404) => Ok((Vec::new(), None)),
                Err(e) if answered(&e) == Some(403) => Ok((
                    Vec::new(),
                    Some(format!(
                        "{kind}s could not be read (403: this identity may not list {plural}.{}); a GitOps engine's verdict on the stack is not included",
                        api_version.split('/').next().unwrap_or_default()
                    )),
                )),
                Err(e) => Err(e),
            }
        }
    };
    let (releases, kustomizations, applications) = tokio::try_join!(
        list("helm.toolkit.fluxcd.io/v2", "HelmRelease", "helmreleases"),
        list(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "kustomizations"
        ),
        list("argoproj.io/v1alpha1", "Application", "applications"),
    )?;
    let notes: Vec<String> = [&releases.1, &kustomizations.1, &applications.1]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let (releases, kustomizations, applications) = (releases.0, kustomizations.0, applications.0);
    let mut objects = Vec::new();
    let in_flux_system =
        |o: &kube::api::DynamicObject| o.metadata.namespace.as_deref() == Some(FLUX_NAMESPACE);
    for o in releases.iter().filter(|o| in_flux_system(o)) {
        let release = o.data["spec"]["releaseName"].as_str().unwrap_or_default();
        let target = o.data["spec"]["targetNamespace"]
            .as_str()
            .unwrap_or_default();
        if ours.iter().any(|(r, ns)| r == release && ns == target) {
            objects.push(EngineObject {
                release: Some(release.to_string()),
                // Newest first (helm-controller's status.history).
                applied: o.data["status"]["history"][0]["chartVersion"]
                    .as_str()
                    .map(str::to_string),
                ..flux_object(o, "HelmRelease")
            });
        }
    }
    for o in kustomizations.iter().filter(|o| in_flux_system(o)) {
        if o.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("stack-"))
        {
            objects.push(flux_object(o, "Kustomization"));
        }
    }
    let project = format!("{}-stack", cx.settings.cluster);
    for o in &applications {
        if o.data["spec"]["project"].as_str() != Some(project.as_str()) {
            continue;
        }
        objects.push(argo_object(o, &ours));
    }
    Ok(GitopsStatus { objects, notes })
}

/// A Flux object by its Ready condition.
fn flux_object(o: &kube::api::DynamicObject, what: &str) -> EngineObject {
    let name = format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        o.metadata.name.as_deref().unwrap_or_default()
    );
    let ready = o.data["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let problem = match ready {
        Some(c) if c["status"] == "True" => None,
        Some(c) => Some(format!(
            "is {} ({}): {}",
            if c["status"] == "False" {
                "not Ready"
            } else {
                "still reconciling"
            },
            c["reason"].as_str().unwrap_or("no reason"),
            c["message"].as_str().unwrap_or("no message")
        )),
        None => Some("has not been reconciled yet".into()),
    };
    EngineObject {
        label: format!("Flux {what} {name}"),
        release: None,
        problem,
        applied: None,
    }
}

/// An Argo CD Application by its sync and health status; the release it installs is its
/// chart source's `helm.releaseName` (as `export` writes it) into one of our namespaces.
fn argo_object(o: &kube::api::DynamicObject, ours: &[(String, String)]) -> EngineObject {
    let st = &o.data["status"];
    let health = st["health"]["status"].as_str().unwrap_or("Unknown");
    let sync = st["sync"]["status"].as_str().unwrap_or("Unknown");
    let problem = if health == "Healthy" && sync == "Synced" {
        None
    } else {
        let message = st["operationState"]["message"]
            .as_str()
            .filter(|m| !m.is_empty())
            .or_else(|| {
                st["conditions"]
                    .as_array()
                    .and_then(|c| c.iter().find_map(|c| c["message"].as_str()))
            })
            .or(st["health"]["message"].as_str())
            .unwrap_or("no message");
        Some(format!("is {sync} and {health}: {message}"))
    };
    let namespace = o.data["spec"]["destination"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let sources = o.data["spec"]["sources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let chart = sources.iter().position(|s| s.get("chart").is_some());
    let release = chart
        .and_then(|i| sources[i]["helm"]["releaseName"].as_str())
        .filter(|r| ours.iter().any(|(n, ns)| n == r && ns == namespace))
        .map(str::to_string);
    // Multi-source Applications report one revision per source, in order.
    let applied = chart
        .and_then(|i| st["sync"]["revisions"][i].as_str())
        .map(str::to_string);
    EngineObject {
        label: format!(
            "Argo CD Application {}",
            o.metadata.name.as_deref().unwrap_or_default()
        ),
        release,
        problem,
        applied,
    }
}

pub struct Verify;

#[async_trait]
impl Step for Verify {
    fn id(&self) -> StepId {
        StepId::Verify
    }
    fn resource(&self, _cx: &Context) -> String {
        "the deployed stack".into()
    }
    async fn assess(&self, _cx: &Context) -> Result<State> {
        Ok(State::Stateless)
    }
    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let client = cx.kube()?;
        // A GitOps engine that failed to apply the stack says why better than the pods do.
        let status = gitops_status(cx).await?;
        let (gitops, gitops_notes) = (status.problems(), status.notes);
        if !gitops.is_empty() {
            bail!(
                "the GitOps engine has not reconciled the stack:\n  {}\nnext: fix the cause in the repository it reads (`deployctl export` again after a project change), or ask the engine (`flux get helmreleases -A`, `argocd app get <name>`)",
                gitops.join("\n  ")
            );
        }
        let mut lines = Vec::new();
        let mut not_ready = Vec::new();
        for ns in NAMESPACES {
            let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
            let svcs: Api<Service> = Api::namespaced(client.clone(), ns);
            let lp = ListParams::default();
            let (pw, sw) = (
                format!("listing pods in {ns}"),
                format!("listing services in {ns}"),
            );
            let (pods, svcs) =
                tokio::try_join!(retry(&pw, || pods.list(&lp)), retry(&sw, || svcs.list(&lp)),)?;
            let mut ready = 0;
            let mut counted = 0;
            for p in &pods.items {
                let (ok, done) = running_or_done(p);
                if done {
                    continue;
                }
                counted += 1;
                if ok {
                    ready += 1;
                } else {
                    not_ready.push(format!(
                        "{ns}/{}",
                        p.metadata.name.as_deref().unwrap_or("?")
                    ));
                }
            }
            let names: Vec<&str> = svcs
                .items
                .iter()
                .filter_map(|s| s.metadata.name.as_deref())
                .collect();
            lines.push(format!(
                "  {ns:<18} pods {ready}/{counted} ready; services {}",
                if names.is_empty() {
                    "-".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        let table = lines.join("\n");
        // Every access hint must point at a Service that exists.
        let mut missing = Vec::new();
        for (what, ns, svc, _) in ACCESS {
            let api: Api<Service> = Api::namespaced(client.clone(), ns);
            if retry(&format!("reading service {svc}"), || api.get_opt(svc))
                .await?
                .is_none()
            {
                missing.push(format!("{what} (svc/{svc} in {ns})"));
            }
        }
        if !missing.is_empty() {
            bail!(
                "not deployed: {}; run `deployctl all`\n{table}",
                missing.join(", ")
            );
        }
        if !not_ready.is_empty() {
            bail!(
                "{} pods not ready: {}\n{table}",
                not_ready.len(),
                not_ready.join(", ")
            );
        }
        // The way in: the entry point's addresses, or how to reach the UIs without one.
        let way_in = way_in(cx).await?;
        // A chat, as a user would have it.
        let chat = super::chat::prove(cx, cx.settings.model_calls)
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}\n{table}\n{way_in}"))?;
        let notes: String = gitops_notes
            .iter()
            .map(|n| format!("\n  note: {n}"))
            .collect();
        Ok(format!(
            "every pod ready, a chat works\n{table}\n{}\n{way_in}{notes}",
            chat.iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }

    async fn view(&self, _cx: &Context) -> Result<String> {
        Ok(access_hints())
    }
}
