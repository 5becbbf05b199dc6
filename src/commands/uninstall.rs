//! `deployctl uninstall [STEP…]`: the application stack comes off the cluster — helm
//! releases and the objects deployctl applied — in reverse graph order (dependents first),
//! behind the same gate as `infrastructure-destroy`: the proven cluster's name, typed in a
//! terminal or given as `--confirm-destroy` in CI. What holds data or lives in AWS stays,
//! and the screen says what stays by name, read from the cluster before and after.
//!
//! Phases: `gate` → `survey` (what goes, what stays) → `confirm` → `remove_all` → `report`.

use super::destroy_gate::DestroyGate;
use crate::context::Context;
use crate::error::UserError;
use crate::graph::{self, StepId};
use crate::prompt::Prompter;
use crate::results::{Again, Ending, Outcome, Row};
use crate::steps::Step;
use anyhow::Result;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What stays in AWS whatever is uninstalled.
pub const KEPT_IN_AWS: &str = "the AWS Secrets Manager secrets, the IAM roles, the database (LiteLLM's and OpenWebUI's data), the uploads bucket and all Terraform infrastructure";

/// The steps to remove, in removal order (the reverse of the graph's order).
pub fn removal_order(cx: &Context, names: &[String]) -> Result<Vec<StepId>> {
    let removable = |id: StepId| crate::steps::build(id).removes(cx).is_some();
    let selected: Vec<StepId> = if names.is_empty() {
        graph::all_steps()
            .into_iter()
            .filter(|s| removable(*s))
            .collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            let id = StepId::parse(n)?;
            if !removable(id) {
                return Err(UserError::usage(
                    format!(
                        "`{n}` is not removed by uninstall: it creates AWS resources, namespaces or only checks (those stay)"
                    ),
                    format!(
                        "uninstall removes helm releases and deployctl's objects: {}",
                        graph::all_steps()
                            .into_iter()
                            .filter(|s| removable(*s))
                            .map(|s| s.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .into());
            }
            v.push(id);
        }
        v
    };
    let mut order: Vec<StepId> = graph::all_steps()
        .into_iter()
        .filter(|s| selected.contains(s))
        .collect();
    order.reverse();
    Ok(order)
}

/// What `deployctl uninstall` was given.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Steps to remove (empty: every removable step).
    pub steps: Vec<String>,
    /// The cluster name, for an uninstall nothing can ask about.
    pub confirm_destroy: Option<String>,
}

pub async fn run(inv: super::Invocation, args: Args) -> Result<crate::error::ExitCode> {
    let (cx, prompter) = inv.context();
    let cx = Arc::new(cx);
    let done = uninstall(cx.clone(), prompter.as_ref(), &args).await;
    cx.close().await;
    done
}

/// The command as typed, for "run it again" hints (no stray space without steps).
fn command_line(names: &[String]) -> String {
    std::iter::once("deployctl uninstall".to_string())
        .chain(names.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn uninstall(
    cx: Arc<Context>,
    prompter: &dyn Prompter,
    args: &Args,
) -> Result<crate::error::ExitCode> {
    gate(&cx, prompter, args.confirm_destroy.as_deref())?;
    let order = removal_order(&cx, &args.steps)?;
    // The cluster is proven (context guard) and helm is there before anything is shown.
    crate::preflight::preflight(&cx, &order, crate::preflight::Purpose::Remove).await?;
    let survey = survey(&cx, &order, &args.steps).await?;
    cx.ui
        .println(&plan_text(&cx, &survey.steps, &order, &survey.before));
    confirm(&cx, prompter, &args.steps)?;
    let rows = remove_all(&cx, &survey.steps).await;
    let after = kept(&cx, &order, &survey.goes)
        .await
        .unwrap_or(survey.before);
    Ok(report(&cx, &args.steps, &rows, &after))
}

/// What an uninstall would do, read before anything is asked or removed.
struct Survey {
    steps: Vec<(StepId, Arc<dyn Step>)>,
    /// What helm deletes with the releases.
    goes: Goes,
    /// What stays, as the cluster has it now.
    before: Kept,
}

/// What goes and what stays; refused (nothing removed) when the removal would delete data
/// or leave a load balancer behind.
async fn survey(cx: &Context, order: &[StepId], names: &[String]) -> Result<Survey> {
    let steps: Vec<(StepId, Arc<dyn Step>)> = order
        .iter()
        .map(|id| (*id, crate::steps::build(*id)))
        .collect();
    let goes = going_with_releases(cx, order).await?;
    refuse_orphaned_load_balancers(cx, order, names).await?;
    let before = kept(cx, order, &goes).await?;
    if !goes.data_claims.is_empty() {
        return Err(UserError::failed(
            format!(
                "uninstall would delete data: {} belong to a release installed before deployctl kept data volumes, so helm would delete them with it; nothing was removed",
                goes.data_claims.join(", ")
            ),
            format!(
                "run `deployctl {}` first (it upgrades the release so its data volume is kept), then `{}` again",
                goes.data_steps.join("`, `deployctl "),
                command_line(names)
            ),
        )
        .into());
    }
    Ok(Survey {
        steps,
        goes,
        before,
    })
}

/// Only a running load balancer controller deletes an Ingress's load balancer (and lets the
/// Ingress go): removing the controller while an `alb` Ingress stays would leave the load
/// balancer, its target groups and security groups in AWS (and the Ingress stuck
/// Terminating once deleted). Refused before anything is removed.
async fn refuse_orphaned_load_balancers(
    cx: &Context,
    order: &[StepId],
    names: &[String],
) -> Result<()> {
    if !order.contains(&StepId::LoadBalancerController) {
        return Ok(());
    }
    let ours: Vec<(&str, &str)> = if order.contains(&StepId::Ingress) {
        crate::stack::entry_point::INGRESSES
            .iter()
            .map(|(ns, name, ..)| (*ns, *name))
            .collect()
    } else {
        Vec::new()
    };
    let left = crate::steps::ingress::alb_ingresses(&cx.kube()?, &ours).await?;
    if left.is_empty() {
        return Ok(());
    }
    Err(UserError::failed(
        format!(
            "uninstall would remove the load balancer controller while Ingresses of class alb remain ({}): their load balancers would be left in AWS with nothing to delete them; nothing was removed",
            left.join(", ")
        ),
        if left.iter().all(|l| {
            crate::stack::entry_point::INGRESSES
                .iter()
                .any(|(ns, name, ..)| *l == format!("{ns}/{name}"))
        }) {
            format!(
                "remove the entry point with it: `{} ingress`",
                command_line(names)
            )
        } else {
            "delete those Ingresses first (`kubectl delete ingress -n <namespace> <name>`: the controller then deletes their load balancers), then run uninstall again".to_string()
        },
    )
    .into())
}

const GATE: DestroyGate = DestroyGate {
    command: "uninstall",
    done: "removed",
};

/// CI without the name, or with another cluster's, changes nothing and asks nothing.
fn gate(cx: &Context, prompter: &dyn Prompter, confirm_destroy: Option<&str>) -> Result<()> {
    if prompter.interactive() {
        return Ok(());
    }
    let cluster = &cx.settings.cluster;
    GATE.needs_name(
        false,
        confirm_destroy,
        format!("run it in a terminal, or pass --confirm-destroy {cluster}"),
    )?;
    GATE.matches(
        confirm_destroy,
        cluster,
        "",
        format!("pass --confirm-destroy {cluster} (or select the cluster with --cluster)"),
    )
}

/// In a terminal, the cluster's name typed out.
fn confirm(cx: &Context, prompter: &dyn Prompter, names: &[String]) -> Result<()> {
    let cluster = &cx.settings.cluster;
    GATE.typed(
        &cx.ui,
        prompter,
        "This removes the releases and objects listed above.",
        cluster,
        format!("run `{}` again and type `{cluster}`", command_line(names)),
    )
}

/// What helm deletes with the releases being removed: the objects of their records, and the
/// data claims among them that carry no keep policy (releases installed by an older
/// deployctl).
struct Goes {
    /// (kind, namespace, name) of every object helm deletes.
    objects: BTreeSet<(String, String, String)>,
    /// "namespace/name" of data claims helm would delete.
    data_claims: Vec<String>,
    /// The steps whose run re-installs those releases with the keep policy.
    data_steps: Vec<String>,
}

async fn going_with_releases(cx: &Context, order: &[StepId]) -> Result<Goes> {
    let mut goes = Goes {
        objects: BTreeSet::new(),
        data_claims: Vec::new(),
        data_steps: Vec::new(),
    };
    let rels = crate::stack::releases::Releases::load(&cx.settings.project_dir)?;
    let scopes = ClusterScoped::read(cx).await?;
    for id in order {
        let Some(row) = crate::stack::releases::RELEASES
            .iter()
            .find(|r| r.step == *id)
        else {
            continue;
        };
        let Some(rel) = rels.pin(row.release) else {
            continue;
        };
        let Some(manifest) = release_manifest(cx, &rel.name, &rel.namespace).await? else {
            continue;
        };
        let docs =
            crate::stack::manifest::parse_documents(std::path::Path::new(&rel.name), &manifest)
                .map_err(|p| {
                    anyhow::anyhow!("reading the manifest of release {}: {p}", rel.name)
                })?;
        for doc in docs {
            let keep = doc.str_at("/metadata/annotations/helm.sh~1resource-policy") == Some("keep");
            if keep {
                continue;
            }
            // A cluster-scoped object has no namespace (its key's namespace is ""); a
            // namespaced one without metadata.namespace goes where helm put the release.
            let ns = if scopes.contains(doc.api_version(), doc.kind()) {
                String::new()
            } else {
                doc.namespace().unwrap_or(&rel.namespace).to_string()
            };
            if doc.kind() == "PersistentVolumeClaim" {
                goes.data_claims.push(format!("PVC {ns}/{}", doc.name()));
                if !goes.data_steps.contains(&id.name().to_string()) {
                    goes.data_steps.push(id.name().to_string());
                }
            }
            goes.objects
                .insert((doc.kind().to_string(), ns, doc.name().to_string()));
        }
    }
    Ok(goes)
}

/// Which kinds are cluster-scoped: the built-in ones a chart may hold, and every kind a
/// CustomResourceDefinition in the cluster defines with `scope: Cluster`.
struct ClusterScoped {
    kinds: BTreeSet<(String, String)>,
}

impl ClusterScoped {
    async fn read(cx: &Context) -> Result<ClusterScoped> {
        let mut kinds: BTreeSet<(String, String)> =
            crate::platform::kubeapi::BUILTIN_CLUSTER_SCOPED
                .iter()
                .map(|(g, k)| (g.to_string(), k.to_string()))
                .collect();
        let crds: Api<CustomResourceDefinition> = Api::all(cx.kube()?);
        let lp = ListParams::default();
        let list =
            crate::platform::kubeapi::errors::retry("listing CustomResourceDefinitions", || {
                crds.list(&lp)
            })
            .await?;
        for crd in list.items {
            if crd.spec.scope == "Cluster" {
                kinds.insert((crd.spec.group.clone(), crd.spec.names.kind.clone()));
            }
        }
        Ok(ClusterScoped { kinds })
    }

    fn contains(&self, api_version: &str, kind: &str) -> bool {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        self.kinds.contains(&(group.to_string(), kind.to_string()))
    }
}

/// The manifest of a release's latest revision (None: not installed).
async fn release_manifest(cx: &Context, name: &str, namespace: &str) -> Result<Option<String>> {
    let client = cx.kube()?;
    match crate::platform::kubeapi::helm_storage::release_record(&client, name, namespace).await? {
        Some(record) => Ok(record.map(|r| r.manifest)),
        None => {
            if cx
                .helm
                .status(name, namespace, cx.kube_context())
                .await?
                .is_none()
            {
                return Ok(None);
            }
            Ok(Some(
                cx.helm.manifest(name, namespace, cx.kube_context()).await?,
            ))
        }
    }
}

/// What stays, read from the cluster: by name.
#[derive(Debug, Clone, Default)]
struct Kept {
    namespaces: Vec<String>,
    claims: Vec<String>,
    crds: Vec<String>,
    secrets: Vec<String>,
}

/// The objects that stay when `order` is removed: the stack's namespaces, every claim in them
/// that no removed release deletes, the removed releases' CRDs that helm does not delete (a
/// chart's `crds/` directory, which helm installs but never removes; CRDs a chart *templates*
/// are in its manifest and go with it),
/// and the Secrets nothing removed takes with it.
async fn kept(cx: &Context, order: &[StepId], goes: &Goes) -> Result<Kept> {
    let client = cx.kube()?;
    let gone = |kind: &str, ns: &str, name: &str| {
        goes.objects
            .contains(&(kind.to_string(), ns.to_string(), name.to_string()))
    };
    let mut kept = Kept::default();
    let lp = ListParams::default();
    // ExternalSecrets go when their step is removed, or with their CRD.
    let external_secrets_go = order.contains(&StepId::SecretStores)
        || gone(
            "CustomResourceDefinition",
            "",
            "externalsecrets.external-secrets.io",
        );
    for ns in crate::steps::verify::NAMESPACES {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        if crate::platform::kubeapi::errors::retry("reading the namespaces", || {
            namespaces.get_opt(ns)
        })
        .await?
        .is_none()
        {
            continue;
        }
        kept.namespaces.push(ns.to_string());
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        let list =
            crate::platform::kubeapi::errors::retry("listing PersistentVolumeClaims", || {
                claims.list(&lp)
            })
            .await?;
        for c in list.items {
            let name = c.metadata.name.unwrap_or_default();
            if !gone("PersistentVolumeClaim", ns, &name) {
                kept.claims.push(format!("{ns}/{name}"));
            }
        }
        let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
        let list = crate::platform::kubeapi::errors::retry("listing Secrets", || secrets.list(&lp))
            .await?;
        for s in list.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            let kind = s.type_.as_deref().unwrap_or("Opaque");
            if kind == "helm.sh/release.v1"
                || kind == "kubernetes.io/service-account-token"
                || gone("Secret", ns, &name)
            {
                continue;
            }
            // A Secret an ExternalSecret owns goes with it (garbage collection) when the
            // ExternalSecrets are removed; one owned by anything else goes with its owner.
            let owners = s.metadata.owner_references.unwrap_or_default();
            let goes_with_owner = owners
                .iter()
                .any(|o| o.kind != "ExternalSecret" || external_secrets_go);
            if !goes_with_owner {
                kept.secrets.push(format!("{ns}/{name}"));
            }
        }
    }
    let groups: Vec<&str> = crate::stack::releases::RELEASES
        .iter()
        .filter(|r| order.contains(&r.step))
        .flat_map(|r| r.crd_groups.iter().copied())
        .collect();
    if !groups.is_empty() {
        let crds: Api<CustomResourceDefinition> = Api::all(client);
        let list =
            crate::platform::kubeapi::errors::retry("listing CustomResourceDefinitions", || {
                crds.list(&lp)
            })
            .await?;
        for crd in list.items {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let group = &crd.spec.group;
            let ours = groups
                .iter()
                .any(|g| group == g || group.ends_with(&format!(".{g}")));
            // Owned CRDs (Gatekeeper's constraint kinds, made from their templates) go with
            // their owner.
            let owned = crd
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty());
            if ours && !owned && !gone("CustomResourceDefinition", "", &name) {
                kept.crds.push(name);
            }
        }
        kept.crds.sort();
    }
    Ok(kept)
}

/// "Kept: …" by name.
fn kept_text(k: &Kept) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut lines = vec!["Kept (uninstall does not remove these):".to_string()];
    lines.push(format!("  namespaces: {}", list(&k.namespaces)));
    lines.push(format!(
        "  PersistentVolumeClaims (data, with their volumes): {}",
        list(&k.claims)
    ));
    lines.push(format!("  Secrets: {}", list(&k.secrets)));
    if !k.crds.is_empty() {
        lines.push(format!(
            "  CustomResourceDefinitions ({}, installed from the charts' crds/ directories, which helm never deletes): {}",
            k.crds.len(),
            list(&k.crds)
        ));
    }
    lines.push(format!("  in AWS: {KEPT_IN_AWS}"));
    lines.join("\n")
}

/// What goes, in order; what stays; which steps left behind stop working.
fn plan_text(
    cx: &Context,
    steps: &[(StepId, Arc<dyn Step>)],
    order: &[StepId],
    kept: &Kept,
) -> String {
    let context = cx
        .kube_context()
        .unwrap_or("the current context")
        .to_string();
    let mut text = format!(
        "Uninstall from cluster `{}` (kube context `{context}`), in this order:",
        cx.settings.cluster
    );
    for (id, step) in steps {
        text.push_str(&format!(
            "\n  {id}: {}",
            step.removes(cx).unwrap_or_default()
        ));
    }
    text.push('\n');
    text.push_str(&kept_text(kept));
    // Steps left installed that need one being removed stop working.
    for id in graph::all_steps() {
        let needs_removed: Vec<&str> = id
            .def()
            .needs
            .iter()
            .filter(|n| order.contains(n))
            .map(|n| n.name())
            .collect();
        let left = crate::steps::build(id).removes(cx).is_some() && !order.contains(&id);
        if left && !needs_removed.is_empty() {
            text.push_str(&format!(
                "\nwarning: {id} stays and needs {}: it stops working (add it to the list to remove it too)",
                needs_removed.join(", ")
            ));
        }
    }
    text
}

/// One step after another, stopping at the first failure or an interrupt (a running helm
/// uninstall is left to finish: half an uninstall is worse than a whole one).
async fn remove_all(cx: &Context, steps: &[(StepId, Arc<dyn Step>)]) -> Vec<Row> {
    let _graceful = crate::interrupt::graceful();
    crate::interrupt::changes_begin();
    let mut rows: Vec<Row> = Vec::new();
    let mut stopped: Option<String> = None;
    for (id, step) in steps {
        if stopped.is_none() && crate::interrupt::requested() {
            stopped = Some("interrupted".into());
        }
        if let Some(why) = &stopped {
            rows.push(row(*id, Outcome::NotRun(why.clone()), Duration::ZERO));
            continue;
        }
        let started = Instant::now();
        let progress = cx.ui.step_started(id.name(), "uninstall");
        let removal = step.remove(cx);
        tokio::pin!(removal);
        let (mut told, mut hard_since) = (false, None::<Instant>);
        let result = loop {
            tokio::select! {
                r = &mut removal => break r,
                _ = crate::interrupt::wait(), if !told => {
                    told = true;
                    cx.ui.warn(&crate::interrupt::first_notice());
                }
                _ = crate::interrupt::wait_hard(), if told && hard_since.is_none() => {
                    hard_since = Some(Instant::now());
                    cx.ui.warn(&crate::interrupt::hard_notice());
                }
                // After the second interrupt: once its children are gone (or their grace is
                // over), what is left waits on the cluster and is stopped.
                _ = tokio::time::sleep(Duration::from_millis(100)), if hard_since.is_some() => {
                    let waited = hard_since.map(|t| t.elapsed()).unwrap_or_default();
                    if crate::interrupt::running().is_empty()
                        || waited > crate::interrupt::GRACE + Duration::from_secs(2)
                    {
                        break Err(anyhow::anyhow!("stopped by the second interrupt"));
                    }
                }
            }
        };
        progress.finish();
        let took = started.elapsed();
        match result {
            Ok(message) => {
                cx.ui.step_finished(id.name(), true, &message, took);
                rows.push(row(*id, Outcome::Succeeded(message), took));
            }
            Err(e) => {
                let interrupted = crate::interrupt::requested();
                let message = format!("{e:#}");
                let word = if interrupted { "interrupted" } else { "failed" };
                cx.ui
                    .step_finished(id.name(), false, &format!("{word}: {message}"), took);
                stopped = Some(if interrupted {
                    "interrupted".to_string()
                } else {
                    format!("{id} failed to uninstall")
                });
                let outcome = if interrupted {
                    Outcome::Interrupted(message)
                } else {
                    Outcome::Failed(message)
                };
                rows.push(row(*id, outcome, took));
            }
        }
    }
    rows
}

fn row(step: StepId, outcome: Outcome, took: Duration) -> Row {
    Row {
        step,
        decision: "uninstall".into(),
        outcome,
        took,
    }
}

/// The summary (JSON event and table), what stayed, and the next command.
fn report(cx: &Context, names: &[String], rows: &[Row], kept: &Kept) -> crate::error::ExitCode {
    let line = command_line(names);
    Ending {
        command: "uninstall",
        rows,
        interrupted: crate::interrupt::requested(),
        again: Again::Repeat(&line),
        aside: Some(kept_text(kept)),
    }
    .report(&cx.ui)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_has_no_stray_space() {
        assert_eq!(command_line(&[]), "deployctl uninstall");
        assert_eq!(
            command_line(&["jaeger".into(), "redis".into()]),
            "deployctl uninstall jaeger redis"
        );
    }
}
