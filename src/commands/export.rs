//! `deployctl export --format flux|argocd DIR`: the cluster side of the stack as a directory a
//! team commits to its GitOps repository, so Flux or Argo CD keeps the cluster as Git says
//! while deployctl keeps the AWS side (infrastructure, IRSA roles, Secrets Manager values,
//! the bastion, kubeconfig) and the checks.
//!
//! Everything comes from the tables a run uses: `helm-values/releases.yaml` (sources, pins,
//! timeouts), `releases` (the table: overlays, the ServiceAccounts applied first), our values files
//! and manifests, and `graph::STEPS` (the order). One step of the cluster side becomes one unit
//! of the engine — a Flux `Kustomization` or an Argo CD `Application` — ordered by the step's
//! needs. No secret value is written: External Secrets keeps delivering them from AWS.
//!
//! The output is a pure function of the configuration: keys sorted, steps in graph order, no
//! timestamps; a re-export after a change differs exactly where the change does.
//!
//! Layout (DIR is the repository's root; several clusters share it):
//! - `deployctl/<cluster>/<step>/` — the step's objects (and, for Argo CD, `values.yaml`);
//! - Flux: `clusters/<cluster>/deployctl.yaml` — the Kustomizations (`flux bootstrap
//!   --path=clusters/<cluster>` applies them), sources in `deployctl/<cluster>/sources/`;
//! - Argo CD: `argocd/<cluster>/` — the AppProject and one Application per step; and
//!   `argocd/stacks.applicationset.yaml`, shared by every cluster exported there: one
//!   ApplicationSet making each cluster's parent Application.

use crate::context::Context;
use crate::error::{UserError, exit};
use crate::graph::{STEPS, StepId};
use crate::stack::releases;
use crate::stack::releases::{Release, Releases};
use crate::stack::render::values;
use anyhow::{Context as _, Result, anyhow};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which GitOps engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Flux,
    Argocd,
}

pub struct Args {
    pub format: Format,
    pub dir: PathBuf,
    /// The Git repository Argo CD reads (Flux uses the repository `flux bootstrap` made).
    pub repo_url: Option<String>,
    /// The API server Argo CD deploys to (default: the cluster Argo CD runs in).
    pub destination: Option<String>,
}

/// The cluster Argo CD runs in, as Argo CD names it.
const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// The namespace Flux's objects live in (`flux bootstrap`'s; `verify` looks there).
use crate::steps::verify::FLUX_NAMESPACE as FLUX_NS;
/// The namespace Argo CD's objects live in.
const ARGOCD_NS: &str = "argocd";
/// The GitRepository `flux bootstrap` creates for the repository it manages.
const FLUX_GIT: &str = "flux-system";

/// One step of the cluster side, ready to write.
struct Unit {
    step: StepId,
    /// The release (release steps only).
    release: Option<(Release, Value)>,
    /// Objects applied with it: our manifests, a ServiceAccount the chart's hooks run as.
    documents: Vec<Value>,
    /// Steps of the export it waits for.
    needs: Vec<StepId>,
}

pub async fn run(inv: super::Invocation, args: Args) -> Result<crate::error::ExitCode> {
    if args.format == Format::Argocd && args.repo_url.is_none() {
        return Err(UserError::usage(
            "`export --format argocd` needs --repo-url: Argo CD's Applications name the Git repository they read",
            "pass --repo-url https://<git host>/<org>/<repo>.git (the repository DIR is committed to)",
        )
        .into());
    }
    let (cx, _) = inv.context();
    let units = units(&cx).await?;
    let files = match args.format {
        Format::Flux => flux(&cx, &units)?,
        Format::Argocd => argocd(
            &cx,
            &units,
            args.repo_url.as_deref().unwrap_or_default(),
            args.destination.as_deref().unwrap_or(IN_CLUSTER),
        )?,
    };
    let text = readme(args.format, &cx.settings.cluster, &units);
    let mut written = write(&args.dir, &cx.settings.cluster, &files, &text)?;
    if let (Format::Argocd, Some(repo)) = (args.format, &args.repo_url) {
        written += write_shared(&args.dir, APPLICATIONSET, &[applicationset(repo)])?;
    }
    cx.ui.println(&format!(
        "Exported {} steps of cluster `{}` for {} to {} ({} files; {} changed).",
        units.len(),
        cx.settings.cluster,
        match args.format {
            Format::Flux => "Flux",
            Format::Argocd => "Argo CD",
        },
        args.dir.display(),
        files.len(),
        written
    ));
    cx.ui.println(&format!(
        "next: commit {} and bootstrap as its README says; deployctl keeps the AWS side (`deployctl infrastructure`, `irsa`, `secrets`) and the checks (`verify`, `outdated`)",
        args.dir.display()
    ));
    Ok(exit::OK)
}

/// The steps that run in the cluster (objects and releases), with what each applies.
async fn units(cx: &Context) -> Result<Vec<Unit>> {
    let s = &cx.settings;
    let table = Releases::load(&s.project_dir)?;
    let entry = s.access.entry_point().is_some();
    let exported: Vec<StepId> = STEPS
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                crate::graph::ResourceKind::KubeObjects | crate::graph::ResourceKind::HelmRelease
            )
        })
        .filter(|d| entry || !(d.id == StepId::Ingress || entry_point_only(d.id)))
        .map(|d| d.id)
        .collect();
    let overlay_inputs = crate::steps::release::overlay_inputs(cx, true, entry).await?;
    let mut out = Vec::new();
    for &step in &exported {
        let needs = step
            .def()
            .needs
            .iter()
            .copied()
            .filter(|n| exported.contains(n))
            .collect();
        let mut unit = Unit {
            step,
            release: None,
            documents: Vec::new(),
            needs,
        };
        if step.def().kind == crate::graph::ResourceKind::HelmRelease {
            let row = releases::of(step);
            let rel = table
                .pin(row.release)
                .ok_or_else(|| {
                    anyhow!(
                        "release {} is not in {}",
                        row.release,
                        crate::stack::releases::FILE
                    )
                })?
                .clone();
            let overlay = (row.overlay)(&overlay_inputs)?;
            let values_file = s.project_dir.join("helm-values").join(&rel.values);
            let wanted = values::desired(&values_file, &overlay)?;
            if let Some(sa) = row.service_account_first {
                unit.documents
                    .push(service_account(&rel.namespace, sa, &overlay));
            }
            unit.release = Some((rel, wanted));
        } else {
            unit.documents = step_documents(cx, step)?;
        }
        out.push(unit);
    }
    Ok(out)
}

fn entry_point_only(step: StepId) -> bool {
    releases::RELEASES
        .iter()
        .any(|r| r.step == step && r.entry_point_only)
}

/// What an object step applies: its step's own documents.
fn step_documents(cx: &Context, step: StepId) -> Result<Vec<Value>> {
    use crate::steps::{load_manifests, namespaces, opa, secret_stores};
    let docs = match step {
        StepId::Namespaces => namespaces::documents(cx)?,
        StepId::SecretStores => {
            let mut d = load_manifests(cx, secret_stores::STORE_FILE)?;
            d.extend(secret_stores::external_secret_docs(cx)?);
            d
        }
        StepId::OpaPolicies => {
            let mut d = load_manifests(cx, opa::TEMPLATES_FILE)?;
            d.extend(load_manifests(cx, opa::CONSTRAINTS_FILE)?);
            d
        }
        StepId::Dashboards => {
            crate::steps::objects::DASHBOARDS.documents(&cx.settings.project_dir)?
        }
        StepId::Ingress => {
            crate::stack::entry_point::documents(&cx.settings.access, &cx.settings.cluster)
        }
        other => return Err(anyhow!("internal error: step {other} applies no manifests")),
    };
    Ok(docs.into_iter().map(|d| d.value).collect())
}

fn service_account(ns: &str, name: &str, overlay: &Value) -> Value {
    let annotations = overlay["serviceAccount"]["annotations"].clone();
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app.kubernetes.io/part-of": "litellm-stack"},
            "annotations": if annotations.is_object() { annotations } else { json!({}) },
        },
    })
}

/// `dandydev/redis-ha` → `redis-ha`; `oci://ghcr.io/berriai/litellm-helm` → `litellm-helm`.
fn chart_name(rel: &Release) -> &str {
    rel.chart.rsplit('/').next().unwrap_or(&rel.chart)
}

/// Where a step's objects go in the repository.
fn step_path(cluster: &str, step: StepId) -> String {
    format!("deployctl/{cluster}/{}", step.name())
}

fn kustomize(resources: &[&str]) -> Value {
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    })
}

/// helm's duration (`5m`) as it is; Flux and Argo CD take the same form.
fn timeout(rel: Option<&Release>) -> String {
    rel.map(|r| r.timeout.clone())
        .unwrap_or_else(|| "5m".into())
}

type Files = BTreeMap<String, Vec<Value>>;

fn flux(cx: &Context, units: &[Unit]) -> Result<Files> {
    let cluster = &cx.settings.cluster;
    let table = Releases::load(&cx.settings.project_dir)?;
    let mut files = Files::new();
    // Sources: one HelmRepository per repository a release uses, one OCIRepository per OCI
    // chart; a Kustomization of their own that the releases wait for.
    let mut sources: Vec<Value> = Vec::new();
    for u in units {
        let Some((rel, _)) = &u.release else { continue };
        // One source per repository, however many releases it serves.
        let name = rel.repo.as_deref().unwrap_or(&rel.name);
        if sources.iter().any(|s| s["metadata"]["name"] == name) {
            continue;
        }
        if let Some(url) = rel.chart.strip_prefix("oci://") {
            sources.push(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "OCIRepository",
                "metadata": {"name": rel.name, "namespace": FLUX_NS},
                "spec": {
                    "interval": "1h",
                    "url": format!("oci://{url}"),
                    "ref": {"tag": rel.version},
                    "layerSelector": {
                        "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                        "operation": "copy"
                    }
                }
            }));
        } else if let Some(repo) = &rel.repo {
            let r = table
                .repos
                .iter()
                .find(|r| &r.name == repo)
                .ok_or_else(|| {
                    anyhow!(
                        "release {} names repository {repo}, which {} does not list",
                        rel.name,
                        crate::stack::releases::FILE
                    )
                })?;
            sources.push(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "HelmRepository",
                "metadata": {"name": r.name, "namespace": FLUX_NS},
                "spec": {"interval": "1h", "url": r.url}
            }));
        }
    }
    let sources_path = format!("deployctl/{cluster}/sources");
    files.insert(format!("{sources_path}/sources.yaml"), sources);
    files.insert(
        format!("{sources_path}/kustomization.yaml"),
        vec![kustomize(&["sources.yaml"])],
    );
    let mut kustomizations = vec![kustomization("sources", &sources_path, &[], "2m", true)];
    for u in units {
        let path = step_path(cluster, u.step);
        let mut needs: Vec<String> = u.needs.iter().map(|n| n.name().to_string()).collect();
        let mut resources = Vec::new();
        if !u.documents.is_empty() {
            let name = if u.release.is_some() {
                "serviceaccount.yaml"
            } else {
                "manifests.yaml"
            };
            files.insert(format!("{path}/{name}"), u.documents.clone());
            resources.push(name);
        }
        if let Some((rel, wanted)) = &u.release {
            files.insert(
                format!("{path}/helmrelease.yaml"),
                vec![helm_release(rel, wanted)],
            );
            resources.push("helmrelease.yaml");
            needs.insert(0, "sources".into());
        }
        files.insert(
            format!("{path}/kustomization.yaml"),
            vec![kustomize(&resources)],
        );
        let needs: Vec<&str> = needs.iter().map(String::as_str).collect();
        // Namespaces are never pruned: removing one deletes everything in it.
        let prune = u.step != StepId::Namespaces;
        kustomizations.push(kustomization(
            u.step.name(),
            &path,
            &needs,
            &with_margin(&timeout(u.release.as_ref().map(|(r, _)| r))),
            prune,
        ));
    }
    files.insert(format!("clusters/{cluster}/deployctl.yaml"), kustomizations);
    files.insert(format!("README.{cluster}.flux.md"), Vec::new());
    Ok(files)
}

/// A Flux Kustomization for one step: applied from the repository `flux bootstrap` made,
/// after the steps it needs are Ready, and Ready itself only when what it applied is healthy
/// (`wait`: a HelmRelease counts when helm-controller has it Ready).
fn kustomization(name: &str, path: &str, needs: &[&str], timeout: &str, prune: bool) -> Value {
    let mut spec = json!({
        "interval": "10m",
        "retryInterval": "1m",
        "path": format!("./{path}"),
        "prune": prune,
        "wait": true,
        "timeout": timeout,
        "sourceRef": {"kind": "GitRepository", "name": FLUX_GIT},
    });
    if !needs.is_empty() {
        spec["dependsOn"] = needs
            .iter()
            .map(|n| json!({"name": format!("stack-{n}")}))
            .collect();
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": format!("stack-{name}"), "namespace": FLUX_NS},
        "spec": spec,
    })
}

/// A HelmRelease as deployctl installs the release: same name, namespace and record
/// namespace, the pinned chart, our values with the overlay, and — as `helm upgrade
/// --install --rollback-on-failure` — a failed upgrade rolled back, a failed install removed.
fn helm_release(rel: &Release, wanted: &Value) -> Value {
    let mut spec = json!({
        "interval": "30m",
        "releaseName": rel.name,
        "targetNamespace": rel.namespace,
        "storageNamespace": rel.namespace,
        "timeout": rel.timeout,
        // No retry (deployctl does not retry a failed release either), but the failure
        // remediated: a failed install uninstalled, a failed upgrade rolled back.
        // Named, so a controller that defaults to RetryOnFailure does not skip remediation.
        "install": {
            "strategy": {"name": "RemediateOnFailure"},
            "remediation": {"retries": 0, "remediateLastFailure": true}
        },
        "upgrade": {
            "strategy": {"name": "RemediateOnFailure"},
            "remediation": {"retries": 0, "remediateLastFailure": true, "strategy": "rollback"}
        },
        // Drift in the cluster is corrected, not only drift in Git.
        "driftDetection": {"mode": "enabled"},
        "values": wanted,
    });
    if rel.chart.starts_with("oci://") {
        spec["chartRef"] = json!({"kind": "OCIRepository", "name": rel.name, "namespace": FLUX_NS});
    } else {
        spec["chart"] = json!({"spec": {
            "chart": chart_name(rel),
            "version": rel.version,
            "sourceRef": {"kind": "HelmRepository", "name": rel.repo.clone().unwrap_or_default(), "namespace": FLUX_NS},
            "interval": "1h",
        }});
    }
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": rel.name, "namespace": FLUX_NS},
        "spec": spec,
    })
}

/// The sync wave of each step: one more than the highest of the steps it needs.
pub fn waves(units: &[(StepId, Vec<StepId>)]) -> BTreeMap<StepId, usize> {
    let mut wave: BTreeMap<StepId, usize> = BTreeMap::new();
    for (step, needs) in units {
        let w = needs
            .iter()
            .filter_map(|n| wave.get(n))
            .max()
            .map(|m| m + 1)
            .unwrap_or(0);
        wave.insert(*step, w);
    }
    wave
}

fn argocd(cx: &Context, units: &[Unit], repo_url: &str, server: &str) -> Result<Files> {
    let cluster = &cx.settings.cluster;
    let table = Releases::load(&cx.settings.project_dir)?;
    let project = format!("{cluster}-stack");
    let mut files = Files::new();
    let waves = waves(
        &units
            .iter()
            .map(|u| (u.step, u.needs.clone()))
            .collect::<Vec<_>>(),
    );
    let mut source_repos = vec![repo_url.to_string()];
    let mut destinations: Vec<String> = Vec::new();
    for u in units {
        let path = step_path(cluster, u.step);
        let wave = waves[&u.step];
        let mut sources = Vec::new();
        if let Some((rel, wanted)) = &u.release {
            files.insert(format!("{path}/values.yaml"), vec![wanted.clone()]);
            let (repo, chart) = match rel.chart.strip_prefix("oci://") {
                // Argo CD takes an OCI Helm registry as repoURL without the scheme.
                Some(r) => {
                    let (registry, _) = r.rsplit_once('/').unwrap_or((r, ""));
                    (registry.to_string(), chart_name(rel).to_string())
                }
                None => {
                    let alias = rel.repo.clone().unwrap_or_default();
                    let url = table
                        .repos
                        .iter()
                        .find(|r| r.name == alias)
                        .map(|r| r.url.clone())
                        .ok_or_else(|| {
                            anyhow!(
                                "release {} names repository {alias}, which {} does not list",
                                rel.name,
                                crate::stack::releases::FILE
                            )
                        })?;
                    (url, chart_name(rel).to_string())
                }
            };
            source_repos.push(repo.clone());
            sources.push(json!({
                "repoURL": repo,
                "chart": chart,
                "targetRevision": rel.version,
                "helm": {
                    "releaseName": rel.name,
                    "valueFiles": [format!("$values/{path}/values.yaml")],
                },
            }));
            sources.push(json!({"repoURL": repo_url, "targetRevision": "HEAD", "ref": "values"}));
            if !u.documents.is_empty() {
                files.insert(format!("{path}/serviceaccount.yaml"), u.documents.clone());
                sources.push(json!({"repoURL": repo_url, "targetRevision": "HEAD", "path": path, "directory": {"include": "serviceaccount.yaml"}}));
            }
            destinations.push(rel.namespace.clone());
        } else {
            let mut docs = u.documents.clone();
            if u.step == StepId::Namespaces {
                // Never deleted by Argo CD: not when pruning, not when the Application goes.
                for d in docs.iter_mut().filter(|d| d["kind"] == "Namespace") {
                    d["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] =
                        json!("Delete=false,Prune=false");
                }
            }
            files.insert(format!("{path}/manifests.yaml"), docs);
            sources.push(json!({"repoURL": repo_url, "targetRevision": "HEAD", "path": path}));
            for d in &u.documents {
                if let Some(ns) = d["metadata"]["namespace"].as_str() {
                    destinations.push(ns.to_string());
                }
            }
        }
        let namespace = u
            .release
            .as_ref()
            .map(|(r, _)| r.namespace.clone())
            .unwrap_or_else(|| "default".into());
        let mut sync = json!({
            "automated": {"prune": u.step != StepId::Namespaces, "selfHeal": true},
            "syncOptions": ["ServerSideApply=true"],
            "retry": {"limit": 5, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "5m"}},
        });
        if u.step == StepId::Namespaces {
            sync["syncOptions"] = json!(["ServerSideApply=true", "PruneLast=true"]);
        }
        let mut app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": format!("{cluster}-{}", u.step.name()),
                "namespace": ARGOCD_NS,
                "annotations": {"argocd.argoproj.io/sync-wave": wave.to_string()},
            },
            "spec": {
                "project": project,
                "sources": sources,
                "destination": {"server": server, "namespace": namespace},
                "syncPolicy": sync,
            },
        });
        // Deleting an Application deletes what it made — except the namespaces (and all in
        // them), which stay.
        if u.step != StepId::Namespaces {
            app["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
        }
        files.insert(
            format!("argocd/{cluster}/{}.yaml", u.step.name()),
            vec![app],
        );
    }
    source_repos.sort();
    source_repos.dedup();
    // The parent Application lives in Argo CD's namespace; kube-prometheus-stack's exporters
    // put Services in kube-system; the load balancer controller runs there.
    destinations.extend(["default".into(), ARGOCD_NS.into(), "kube-system".into()]);
    destinations.sort();
    destinations.dedup();
    files.insert(
        format!("argocd/{cluster}/project.yaml"),
        vec![json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": project, "namespace": ARGOCD_NS},
            "spec": {
                "description": format!("The LiteLLM stack on {cluster}, exported by deployctl"),
                "sourceRepos": source_repos,
                "destinations": destinations
                    .iter()
                    .map(|ns| {
                        // The parent Application is in the cluster Argo CD runs in.
                        let s = if ns == ARGOCD_NS { IN_CLUSTER } else { server };
                        json!({"server": s, "namespace": ns})
                    })
                    .collect::<Vec<_>>(),
                // The stack installs CRDs, webhooks, cluster roles and a StorageClass.
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        })],
    );
    files.insert(format!("README.{cluster}.argocd.md"), Vec::new());
    Ok(files)
}

/// The ApplicationSet every cluster's Argo CD export shares (see `applicationset`).
const APPLICATIONSET: &str = "argocd/stacks.applicationset.yaml";

/// One ApplicationSet for every cluster exported to the repository: Argo CD's git directory
/// generator makes, for each `argocd/<cluster>/` directory, the parent Application
/// `<cluster>-stack` that `argocd app create` makes by hand (in the cluster's project, syncing
/// that directory). It only creates and updates them (`create-update`) and keeps their
/// resources if it is deleted, so neither a removed directory nor a deleted ApplicationSet
/// takes a cluster's stack with it.
fn applicationset(repo_url: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "deployctl-stacks", "namespace": ARGOCD_NS},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {
                "repoURL": repo_url,
                "revision": "HEAD",
                "directories": [{"path": "argocd/*"}],
            }}],
            "syncPolicy": {"applicationsSync": "create-update", "preserveResourcesOnDeletion": true},
            "template": {
                "metadata": {"name": "{{.path.basename}}-stack"},
                "spec": {
                    "project": "{{.path.basename}}-stack",
                    "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": "{{.path.path}}"},
                    "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NS},
                    "syncPolicy": {"automated": {}},
                },
            },
        },
    })
}

/// Write a file several clusters' exports share: never in a cluster's list (another cluster
/// may still need it), so never removed by an export; returns 1 when it changed.
fn write_shared(dir: &Path, rel: &str, docs: &[Value]) -> Result<usize> {
    let text = yaml_documents(docs)?;
    let path = dir.join(rel);
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(0);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(1)
}

/// The list of files the last export of a cluster wrote (relative to DIR), so the next one
/// removes those it no longer produces — and nothing else of the repository.
fn list_path(cluster: &str) -> String {
    format!("deployctl/{cluster}/.exported-files")
}

/// Write the files (YAML documents; the README entry gets `readme`); returns how many changed.
/// Files the previous export of this cluster wrote that this one does not (an entry point
/// removed, the other format) are removed; a symlink is never followed.
fn write(dir: &Path, cluster: &str, files: &Files, readme: &str) -> Result<usize> {
    let mut changed = 0;
    let list = list_path(cluster);
    let mut texts: BTreeMap<&str, String> = BTreeMap::new();
    for (rel, docs) in files {
        let text = if rel.ends_with(".md") {
            readme.to_string()
        } else {
            yaml_documents(docs)?
        };
        texts.insert(rel, text);
    }
    let listing: String = texts.keys().map(|k| format!("{k}\n")).collect();
    texts.insert(&list, listing);
    let previous = std::fs::read_to_string(dir.join(&list)).unwrap_or_default();
    for old in previous.lines().filter(|l| !l.is_empty()) {
        if texts.contains_key(old) || old.split('/').any(|p| p == ".." || p.is_empty()) {
            continue;
        }
        let path = dir.join(old);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            changed += 1;
        }
    }
    for (rel, text) in &texts {
        let path = dir.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        if *rel != list.as_str() {
            changed += 1;
        }
    }
    Ok(changed)
}

/// A Kustomization waits for its HelmRelease a little longer than helm may take (the chart's
/// fetch comes first), so a slow install does not flap the step.
fn with_margin(timeout: &str) -> String {
    match timeout
        .strip_suffix('m')
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(n) => format!("{}m", n + 5),
        None => timeout.to_string(),
    }
}

const HEADER: &str = "# Generated by `deployctl export`; edit the project (helm-values/, manifests/) and export again.\n";

fn yaml_documents(docs: &[Value]) -> Result<String> {
    let mut out = String::from(HEADER);
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_saphyr::to_string(d).map_err(|e| anyhow!("{e}"))?);
    }
    Ok(out)
}

fn readme(format: Format, cluster: &str, units: &[Unit]) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let flux = format == Format::Flux;
    let steps: Vec<&str> = units.iter().map(|u| u.step.name()).collect();
    let pins: String = units
        .iter()
        .filter_map(|u| u.release.as_ref())
        .map(|(r, _)| {
            format!(
                "- `{}` in `{}`: chart `{}` {}\n",
                r.name, r.namespace, r.chart, r.version
            )
        })
        .collect();
    let bootstrap = if flux {
        format!(
            "## Bootstrap\n\nCommit this directory as the repository's root, then, with Flux's CLI against cluster `{cluster}`:\n\n    flux bootstrap git --url=<this repository> --branch=main --path=clusters/{cluster}\n\n`clusters/{cluster}/deployctl.yaml` holds one Kustomization per step (`stack-<step>`), each\nwaiting (`dependsOn`) for the steps it needs and Ready only when what it applied is healthy;\nthe releases' sources are in `deployctl/{cluster}/sources/`. Each HelmRelease keeps\ndeployctl's release name and namespace, so `deployctl verify` reads the same releases.\n"
        )
    } else {
        format!(
            "## Bootstrap\n\nCommit this directory to the repository named in the Applications, then, with Argo CD's CLI:\n\n    kubectl apply -n argocd -f argocd/{cluster}/project.yaml\n    argocd app create {cluster}-stack --project {cluster}-stack --repo <this repository> \\\n      --path argocd/{cluster} --dest-server https://kubernetes.default.svc --dest-namespace argocd --sync-policy automated\n\nOr, for every cluster exported to this repository at once, the ApplicationSet\n`argocd/stacks.applicationset.yaml` instead of `argocd app create` (it makes `<cluster>-stack`\nfor each `argocd/<cluster>/`, only creates and updates them, and keeps their resources if it is\ndeleted); apply each cluster's project first:\n\n    kubectl apply -n argocd -f argocd/{cluster}/project.yaml\n    kubectl apply -n argocd -f argocd/stacks.applicationset.yaml\n\nThe parent Application syncs one Application per step; their sync waves follow deployctl's\nstep graph. Argo CD waits between waves only for resources with a health check, and it has\nnone for Applications since 1.8: add it to `argocd-cm` first (Argo CD's documentation,\n\"Application health\"), as `resource.customizations.health.argoproj.io_Application`.\nA release's Application has two sources: the pinned chart and this repository's\n`deployctl/{cluster}/<step>/values.yaml` (our values with the cluster's overlay).\n\nArgo CD renders charts itself and keeps no helm release records: `deployctl diff` has nothing\nto compare on this cluster (use `argocd app diff`); `deployctl verify` reads the\nApplications' status. deployctl's own checks around a release (LiteLLM's liveliness, the\nOpenWebUI SQLite gate, Retain on the data volumes) do not run under Argo CD; `verify` proves\nthe chat end to end.\n"
        )
    };
    format!(
        "# The LiteLLM stack on `{cluster}`, for {engine}\n\nGenerated by deployctl {version} from `helm-values/releases.yaml` (chart pins), `helm-values/`\n(values), `manifests/` and the cluster's overlay (IAM role ARNs, region, secrets prefix).\nDo not edit these files: change the project and run `deployctl export` again — the diff of\nthe re-export is the change.\n\nSteps: {steps}.\n\nReleases and their pins:\n\n{pins}\n{bootstrap}\n## What stays with deployctl\n\n- The AWS side, per cluster: `deployctl infrastructure`, `deployctl irsa` (the roles the\n  ServiceAccounts name), `deployctl secrets` (Secrets Manager values, with their gates),\n  `deployctl bastion create`, `deployctl kubeconfig`.\n- The checks: `deployctl verify`, `deployctl outdated`, `deployctl infrastructure-verify`.\n- The Grafana admin Secret (`monitoring/{grafana}`) is made by deployctl's `monitoring`\n  step with a random password; before the first sync, make it once without printing the\n  password (`kubectl -n monitoring create secret generic {grafana}\n  --from-literal=admin-user=admin --from-file=admin-password=<file>`).\n- No secret value is in this directory: External Secrets delivers them from AWS Secrets\n  Manager, as with deployctl.\n",
        engine = if flux { "Flux" } else { "Argo CD" },
        grafana = releases::GRAFANA_ADMIN_SECRET,
        steps = steps.join(", "),
    )
}
