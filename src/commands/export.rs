//! `deployctl export --format flux|argocd DIR`: the cluster side of the stack as a directory a
//! team commits to its GitOps repository, so Flux or Argo CD keeps the cluster as Git says
//! while deployctl keeps the AWS side (infrastructure, IRSA roles, Secrets Manager values,
//! the bastion, kubeconfig) and the checks.
//!
//! Everything comes from the tables a run uses: `helm-values/releases.yaml` (sources, pins,
//! timeouts), `release_table` (overlays, the ServiceAccounts applied first), our values files
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
//! - Argo CD: `argocd/<cluster>/` — the AppProject and one Application per step.

use crate::context::Context;
use crate::error::{UserError, exit};
use crate::graph::{STEPS, StepId};
use crate::manifest;
use crate::release_table::{self, OverlayInputs};
use crate::releases::{Release, Releases};
use crate::render::values;
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
}

/// The namespace Flux's objects live in (`flux bootstrap`'s).
const FLUX_NS: &str = "flux-system";
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

pub async fn run(inv: super::Invocation, args: Args) -> Result<i32> {
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
        Format::Argocd => argocd(&cx, &units, args.repo_url.as_deref().unwrap_or_default())?,
    };
    let written = write(&args.dir, &cx.settings.cluster, &files)?;
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
    let overlay_inputs = overlay_inputs(cx, entry).await?;
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
            let row = release_table::of(step);
            let rel = table
                .releases
                .iter()
                .find(|r| r.name == row.release)
                .ok_or_else(|| {
                    anyhow!(
                        "release {} is not in {}",
                        row.release,
                        crate::releases::FILE
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
    release_table::RELEASES
        .iter()
        .any(|r| r.step == step && r.entry_point_only)
}

/// The overlay's inputs: the account from AWS (the role ARNs), the VPC from EKS when the
/// load balancer controller is exported.
async fn overlay_inputs(cx: &Context, entry: bool) -> Result<OverlayInputs> {
    let aws = cx.aws().await;
    let account = aws.account_id().await?;
    let vpc_id = if entry {
        crate::aws::describe_cluster(aws, &cx.settings.cluster)
            .await?
            .and_then(|c| c.vpc_id)
            .ok_or_else(|| {
                anyhow!(
                    "EKS reports no VPC for cluster {}: the load balancer controller's values need it",
                    cx.settings.cluster
                )
            })?
    } else {
        String::new()
    };
    Ok(OverlayInputs {
        partition: aws.partition().to_string(),
        account,
        region: cx.settings.region.clone(),
        cluster: cx.settings.cluster.clone(),
        vpc_id,
        access: cx.settings.access.clone(),
    })
}

/// What an object step applies, as its step does (files filled with region and prefix).
fn step_documents(cx: &Context, step: StepId) -> Result<Vec<Value>> {
    let s = &cx.settings;
    let fill = |rel: &str| manifest::fill(&s.project_dir, rel, &s.region, &s.secrets_prefix);
    let docs = match step {
        StepId::Namespaces => {
            let mut d = manifest::load(&s.project_dir.join(crate::steps::namespaces::FILE))?;
            d.extend(manifest::load(
                &s.project_dir
                    .join(crate::steps::namespaces::STORAGE_CLASS_FILE),
            )?);
            d
        }
        StepId::SecretStores => {
            let mut d = fill(crate::steps::secret_stores::STORE_FILE)?;
            d.extend(fill(crate::steps::secret_stores::EXTERNAL_SECRETS_FILE)?);
            if s.access.oidc.is_some() {
                d.extend(fill(crate::steps::secret_stores::OIDC_FILE)?);
            }
            d
        }
        StepId::OpaPolicies => {
            let mut d = fill(crate::steps::opa::TEMPLATES_FILE)?;
            d.extend(fill(crate::steps::opa::CONSTRAINTS_FILE)?);
            d
        }
        StepId::Dashboards => crate::steps::objects::DASHBOARDS.documents(&s.project_dir)?,
        StepId::Ingress => crate::steps::ingress::documents(&s.access, &s.cluster),
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
    let mut sources = Vec::new();
    for u in units {
        let Some((rel, _)) = &u.release else { continue };
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
                        crate::releases::FILE
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
            &timeout(u.release.as_ref().map(|(r, _)| r)),
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
        "install": {"remediation": {"retries": 0, "remediateLastFailure": true}},
        "upgrade": {"remediation": {"retries": 0, "remediateLastFailure": true, "strategy": "rollback"}},
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

fn argocd(cx: &Context, units: &[Unit], repo_url: &str) -> Result<Files> {
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
                                crate::releases::FILE
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
            files.insert(format!("{path}/manifests.yaml"), u.documents.clone());
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
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": format!("{cluster}-{}", u.step.name()),
                "namespace": ARGOCD_NS,
                "annotations": {"argocd.argoproj.io/sync-wave": wave.to_string()},
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            },
            "spec": {
                "project": project,
                "sources": sources,
                "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
                "syncPolicy": sync,
            },
        });
        files.insert(
            format!("argocd/{cluster}/{}.yaml", u.step.name()),
            vec![app],
        );
    }
    source_repos.sort();
    source_repos.dedup();
    destinations.push("default".into());
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
                "destinations": destinations.iter().map(|ns| json!({"server": "https://kubernetes.default.svc", "namespace": ns})).collect::<Vec<_>>(),
                // The stack installs CRDs, webhooks, cluster roles and a StorageClass.
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        })],
    );
    files.insert(format!("README.{cluster}.argocd.md"), Vec::new());
    Ok(files)
}

/// Write the files (YAML documents, or the README for an empty entry); returns how many
/// changed. Files of this cluster's export that are no longer produced are removed.
fn write(dir: &Path, cluster: &str, files: &Files) -> Result<usize> {
    let mut changed = 0;
    for (rel, docs) in files {
        let path = dir.join(rel);
        let text = if rel.ends_with(".md") {
            readme(rel, cluster, files)
        } else {
            yaml_documents(docs)?
        };
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        changed += 1;
    }
    // A step that is no longer exported (an entry point removed) leaves nothing behind.
    let ours = dir.join("deployctl").join(cluster);
    if ours.is_dir() {
        for entry in walk(&ours)? {
            let rel = entry
                .strip_prefix(dir)
                .unwrap_or(&entry)
                .to_string_lossy()
                .into_owned();
            if !files.contains_key(&rel) {
                std::fs::remove_file(&entry)
                    .with_context(|| format!("cannot remove {}", entry.display()))?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
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

fn readme(rel: &str, cluster: &str, files: &Files) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let flux = rel.ends_with(".flux.md");
    let steps: Vec<String> = files
        .keys()
        .filter_map(|k| k.strip_prefix(&format!("deployctl/{cluster}/")))
        .filter_map(|k| k.split('/').next())
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let bootstrap = if flux {
        format!(
            "## Bootstrap\n\nCommit this directory as the repository's root, then, with Flux's CLI against cluster `{cluster}`:\n\n    flux bootstrap git --url=<this repository> --branch=main --path=clusters/{cluster}\n\n`clusters/{cluster}/deployctl.yaml` holds one Kustomization per step (`stack-<step>`), each\nwaiting (`dependsOn`) for the steps it needs and Ready only when what it applied is healthy;\nthe releases' sources are in `deployctl/{cluster}/sources/`. Each HelmRelease keeps\ndeployctl's release name and namespace, so `deployctl verify` reads the same releases.\n"
        )
    } else {
        format!(
            "## Bootstrap\n\nCommit this directory to the repository named in the Applications, then, with Argo CD's CLI:\n\n    kubectl apply -n argocd -f argocd/{cluster}/project.yaml\n    argocd app create {cluster}-stack --project {cluster}-stack --repo <this repository> \\\n      --path argocd/{cluster} --dest-server https://kubernetes.default.svc --dest-namespace argocd --sync-policy automated\n\nThe parent Application syncs one Application per step; their sync waves follow deployctl's\nstep graph. A release's Application has two sources: the pinned chart and this repository's\n`deployctl/{cluster}/<step>/values.yaml` (our values with the cluster's overlay).\n"
        )
    };
    format!(
        "# The LiteLLM stack on `{cluster}`, for {engine}\n\nGenerated by deployctl {version} from `helm-values/releases.yaml` (chart pins), `helm-values/`\n(values), `manifests/` and the cluster's overlay (IAM role ARNs, region, secrets prefix).\nDo not edit these files: change the project and run `deployctl export` again — the diff of\nthe re-export is the change.\n\nSteps: {steps}.\n\n{bootstrap}\n## What stays with deployctl\n\n- The AWS side, per cluster: `deployctl infrastructure`, `deployctl irsa` (the roles the\n  ServiceAccounts name), `deployctl secrets` (Secrets Manager values, with their gates),\n  `deployctl bastion create`, `deployctl kubeconfig`.\n- The checks: `deployctl verify`, `deployctl outdated`, `deployctl infrastructure-verify`.\n- The Grafana admin Secret (`monitoring/{grafana}`) is made by deployctl's `monitoring`\n  step with a random password; before the first sync, make it once without printing the\n  password (`kubectl -n monitoring create secret generic {grafana}\n  --from-literal=admin-user=admin --from-file=admin-password=<file>`).\n- No secret value is in this directory: External Secrets delivers them from AWS Secrets\n  Manager, as with deployctl.\n",
        engine = if flux { "Flux" } else { "Argo CD" },
        grafana = release_table::GRAFANA_ADMIN_SECRET,
        steps = steps.join(", "),
    )
}
