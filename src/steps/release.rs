//! The helm release steps: external-secrets, gatekeeper, monitoring, jaeger, redis, litellm,
//! openwebui. Healthy = helm status `deployed` with the pinned chart version AND the
//! workloads of the readiness table ready.
//!
//! Install: `helm upgrade --install <rel> <chart> -n <ns> --version <pinned> -f <values>
//! -f <overlay> --wait --timeout <t>`, where the overlay carries the dynamic values (role
//! ARNs, region) as generated YAML in a private temp dir (0700, file 0600) removed right after
//! the call; then a watch-based wait for the workloads and the release's own checks.

use super::{Findings, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::error::UserError;
use crate::graph::StepId;
use crate::platform::kubeapi::errors::retry;
use crate::platform::kubeapi::wait::{self, Ready};
use crate::platform::tools::helm::{ChartRef, Install, parse_duration};
use crate::stack::releases::{Release, Releases};
use anyhow::{Context as _, Result, anyhow, bail};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Secret};
use kube::Api;
use std::time::Duration;

pub use crate::stack::releases::{
    Extra, GRAFANA_ADMIN_SECRET, LITELLM_PORT, LITELLM_SERVICE, OverlayInputs, RELEASES,
    ReleaseDef, of, overlay, write_overlay,
};

pub struct ReleaseStep(pub ReleaseDef);

/// The release's chart in the charts directory (checked against the pin), when one is given.
fn local_chart(cx: &Context, rel: &Release) -> Result<Option<crate::stack::charts::LocalChart>> {
    match &cx.settings.charts_dir {
        Some(dir) => Ok(Some(crate::stack::charts::find_local(dir, rel)?)),
        None => Ok(None),
    }
}

/// Where helm takes the chart from: the charts directory's copy, or the repository at the pin.
fn chart_ref<'a>(
    rel: &'a Release,
    local: Option<&'a crate::stack::charts::LocalChart>,
) -> ChartRef<'a> {
    match local {
        Some(l) => ChartRef::Local(&l.path),
        None => ChartRef::Remote {
            chart: &rel.chart,
            version: &rel.version,
        },
    }
}

/// What a run would change in a release: chart and app versions, values, objects.
#[derive(Debug, Clone)]
pub struct ReleaseDiff {
    pub release: String,
    pub namespace: String,
    /// The live release's chart version and appVersion; `None` when it is not installed.
    pub live: Option<(String, String)>,
    /// What a run would install: the pinned chart version and its appVersion.
    pub desired: (String, String),
    pub values: Vec<crate::stack::render::values::Change>,
    pub objects: Vec<crate::stack::render::manifest_diff::Change>,
}

impl ReleaseDiff {
    pub fn unchanged(&self) -> bool {
        self.live.as_ref() == Some(&self.desired)
            && self.values.is_empty()
            && self.objects.is_empty()
    }

    /// A release's difference as text: one line when unchanged or not installed, otherwise the
    /// versions, the values keys and the objects.
    pub fn lines(&self, step: &str) -> Vec<String> {
        let d = self;
        let head = format!("{step} (release {}, namespace {})", d.release, d.namespace);
        let Some(live) = &d.live else {
            return vec![format!(
                "{head}: not installed: an install creates {} object{} (chart {}, app {})",
                d.objects.len(),
                if d.objects.len() == 1 { "" } else { "s" },
                d.desired.0,
                d.desired.1
            )];
        };
        if d.unchanged() {
            return vec![format!(
                "{head}: no change (chart {}, app {})",
                live.0, live.1
            )];
        }
        let mut out = vec![format!("{head}:")];
        if live.0 != d.desired.0 || live.1 != d.desired.1 {
            out.push(format!(
                "  chart {} → {}, app {} → {}",
                live.0, d.desired.0, live.1, d.desired.1
            ));
        }
        for c in &d.values {
            out.push(format!(
                "  values {}: {} → {}",
                c.path,
                crate::stack::render::values::show(&c.path, &c.live),
                crate::stack::render::values::show(&c.path, &c.desired)
            ));
        }
        out.extend(
            crate::stack::render::manifest_diff::lines(&d.objects)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        out
    }
}

/// What `repair_pending` did, and whether the release has no record now.
struct Repair {
    note: Option<String>,
    fresh: bool,
}

impl ReleaseStep {
    fn release(&self, cx: &Context) -> Result<Release> {
        let all = Releases::load(&cx.settings.project_dir)?;
        all.pin(self.0.release).cloned().ok_or_else(|| {
            anyhow!(
                "helm-values/releases.yaml has no release `{}`",
                self.0.release
            )
        })
    }

    async fn readiness(&self, cx: &Context, ns: &str) -> Result<Vec<Ready>> {
        let client = cx.kube()?;
        futures::future::try_join_all(
            self.0
                .workloads
                .iter()
                .map(|w| wait::check(&client, ns, *w)),
        )
        .await
    }

    /// What a run would change: helm's record of the live release against what helm
    /// renders for the pinned chart with our values and the run's overlay, as an upgrade of
    /// that release (`--dry-run=server`). Reads only.
    pub async fn diff(&self, cx: &Context) -> Result<ReleaseDiff> {
        let rel = self.release(cx)?;
        let client = cx.kube()?;
        let record =
            crate::platform::kubeapi::helm_storage::release_record(&client, &rel.name, &rel.namespace)
                .await?
                .ok_or_else(|| {
                    UserError::failed(
                        format!(
                            "helm's record of release {} cannot be read through the Kubernetes API (another HELM_DRIVER, or no permission to list Secrets in {})",
                            rel.name, rel.namespace
                        ),
                        format!(
                            "compare by hand: `helm get manifest {} -n {}` against `deployctl charts render`",
                            rel.name, rel.namespace
                        ),
                    )
                })?;
        // A release helm is still working on (or left failed) is compared once a run has
        // repaired it: its record is not what is live.
        if let Some(r) = &record
            && r.status.status != "deployed"
        {
            return Err(UserError::failed(
                format!(
                    "release {} is {} (revision {}): there is no deployed revision to compare with",
                    rel.name, r.status.status, r.status.revision
                ),
                format!("`deployctl {}` repairs it first", self.0.step.name()),
            )
            .into());
        }
        let inputs = self.overlay_inputs(cx).await?;
        let values = cx
            .settings
            .project_dir
            .join("helm-values")
            .join(&rel.values);
        let overlay = (self.0.overlay)(&inputs)?;
        let (dir, overlay_path) = write_overlay(&rel.name, &overlay)?;
        let local = local_chart(cx, &rel)?;
        let chart = chart_ref(&rel, local.as_ref());
        let install = Install {
            name: &rel.name,
            namespace: &rel.namespace,
            chart,
            values: &values,
            overlay: &overlay_path,
            timeout: &rel.timeout,
            kube_context: cx.kube_context(),
            fresh: record.is_none(),
        };
        let dry = cx.helm.upgrade_dry_run(&install).await;
        drop(dir);
        let dry = dry?;
        let desired_manifest = format!(
            "{}\n{}",
            dry["manifest"].as_str().unwrap_or_default(),
            crate::platform::kubeapi::helm_storage::hooks_manifest(&dry)
        );
        let desired = (
            dry["chart"]["metadata"]["version"]
                .as_str()
                .unwrap_or(&rel.version)
                .to_string(),
            dry["chart"]["metadata"]["appVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let (live_manifest, live, live_values) = match &record {
            Some(r) => (
                format!("{}\n{}", r.manifest, r.hooks),
                Some((r.status.chart_version.clone(), r.app_version.clone())),
                r.config.clone(),
            ),
            None => (String::new(), None, serde_json::json!({})),
        };
        let desired_values = crate::stack::render::values::desired(&values, &overlay)?;
        let objects = crate::stack::render::manifest_diff::diff(
            &live_manifest,
            &desired_manifest,
            &rel.namespace,
        )
        .map_err(|e| anyhow!("reading the manifests of release {}: {e}", rel.name))?;
        Ok(ReleaseDiff {
            release: rel.name.clone(),
            namespace: rel.namespace.clone(),
            live,
            desired,
            values: if record.is_some() {
                crate::stack::render::values::diff(&live_values, &desired_values)
            } else {
                Vec::new()
            },
            objects,
        })
    }

    async fn overlay_inputs(&self, cx: &Context) -> Result<OverlayInputs> {
        overlay_inputs(
            cx,
            self.0.needs_account(),
            self.0.step == StepId::LoadBalancerController,
        )
        .await
    }

    /// helm's install or upgrade failed (or was ended by an interrupt): say which, and what it
    /// left. An install ended by force may leave objects without a release record (helm's
    /// cancel races its own clean-up): those are found and named with the command that
    /// installs over them. A helm ended by force is recorded, so the next run does not wait for
    /// its pending record as if it were still working.
    async fn install_failed(
        &self,
        cx: &Context,
        rel: &Release,
        verb: &str,
        fresh: bool,
        e: anyhow::Error,
    ) -> anyhow::Error {
        let e = e.context(format!("helm could not {verb} release {}", rel.name));
        if !crate::interrupt::requested() {
            return e;
        }
        if crate::interrupt::hard() {
            let _ = crate::journal::mark_helm_stopped(
                &cx.settings,
                cx.known_account().as_deref(),
                &format!("{}/{}", rel.namespace, rel.name),
            );
        }
        if !fresh {
            return e.context(format!(
                "helm was asked to stop and roll {} back to its last revision",
                rel.name
            ));
        }
        let Ok(client) = cx.kube() else { return e };
        let recorded = crate::platform::kubeapi::helm_storage::release_status(
            &client,
            &rel.name,
            &rel.namespace,
        )
        .await
        .ok()
        .flatten()
        .flatten();
        if recorded.is_some() {
            return e;
        }
        let left =
            crate::platform::kubeapi::helm_storage::leftovers(&client, &rel.name, &rel.namespace)
                .await;
        if left.is_empty() {
            return e;
        }
        anyhow::Error::new(UserError::failed(
            format!(
                "{e:#}; the install was ended part-way and left {} object(s) without a release record: {}",
                left.len(),
                left.join(", ")
            ),
            format!(
                "run `deployctl {}`: its install takes them over (helm adopts the objects it labelled)",
                self.0.step
            ),
        ))
    }

    /// The release's data claims that are bound, each with its volume and that volume's
    /// reclaim policy (`releases::ReleaseDef::data_claims`).
    async fn data_volumes(&self, cx: &Context, ns: &str) -> Result<Vec<(String, String, String)>> {
        if self.0.data_claims.is_empty() {
            return Ok(Vec::new());
        }
        let client = cx.kube()?;
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        let volumes: Api<PersistentVolume> = Api::all(client);
        let mut out = Vec::new();
        for claim in self.0.data_claims {
            let Some(pvc) = retry(&format!("reading PVC {ns}/{claim}"), || {
                claims.get_opt(claim)
            })
            .await?
            else {
                continue;
            };
            let Some(pv) = pvc
                .spec
                .and_then(|s| s.volume_name)
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            let Some(volume) = retry(&format!("reading PersistentVolume {pv}"), || {
                volumes.get_opt(&pv)
            })
            .await?
            else {
                continue;
            };
            let policy = volume
                .spec
                .and_then(|s| s.persistent_volume_reclaim_policy)
                .unwrap_or_else(|| "Delete".into());
            out.push((claim.to_string(), pv, policy));
        }
        Ok(out)
    }

    /// Set the data claims' volumes to Retain: deleting the claim (by mistake, or a
    /// `helm uninstall` outside deployctl) then leaves the disk and its data. Says what it
    /// changed.
    async fn retain_volumes(&self, cx: &Context, ns: &str) -> Result<Option<String>> {
        let volumes: Api<PersistentVolume> = Api::all(cx.kube()?);
        let mut changed = Vec::new();
        for (claim, pv, policy) in self.data_volumes(cx, ns).await? {
            if policy == "Retain" {
                continue;
            }
            let patch = kube::api::Patch::Merge(
                serde_json::json!({"spec": {"persistentVolumeReclaimPolicy": "Retain"}}),
            );
            let pp = kube::api::PatchParams::default();
            retry(&format!("setting PersistentVolume {pv} to Retain"), || {
                volumes.patch(&pv, &pp, &patch)
            })
            .await?;
            changed.push(format!("{ns}/{claim}"));
        }
        Ok((!changed.is_empty()).then(|| {
            format!(
                "volume of {} set to Retain (its data outlives the claim)",
                changed.join(", ")
            )
        }))
    }

    /// The values a run installs: the values file with this run's overlay on top.
    async fn desired_values(&self, cx: &Context, rel: &Release) -> Result<serde_json::Value> {
        let inputs = self.overlay_inputs(cx).await?;
        let values = cx
            .settings
            .project_dir
            .join("helm-values")
            .join(&rel.values);
        crate::stack::render::values::desired(&values, &(self.0.overlay)(&inputs)?)
    }

    /// The Grafana admin Secret: created once with a random password, never overwritten.
    async fn grafana_admin(&self, cx: &Context, ns: &str) -> Result<&'static str> {
        let api: Api<Secret> = Api::namespaced(cx.kube()?, ns);
        if retry("reading the Grafana admin Secret", || {
            api.get_opt(GRAFANA_ADMIN_SECRET)
        })
        .await?
        .is_some()
        {
            return Ok("kept the Grafana admin Secret");
        }
        let password = super::secrets::random_value("", 24)?;
        let mut data = std::collections::BTreeMap::new();
        data.insert("admin-user".to_string(), "admin".to_string());
        use secrecy::ExposeSecret;
        data.insert(
            "admin-password".to_string(),
            password.expose_secret().to_string(),
        );
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(GRAFANA_ADMIN_SECRET.into()),
                namespace: Some(ns.into()),
                labels: Some(
                    [(
                        "app.kubernetes.io/part-of".to_string(),
                        "litellm-stack".to_string(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            string_data: Some(data),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        let pp = kube::api::PostParams {
            field_manager: Some(crate::platform::kubeapi::apply::FIELD_MANAGER.into()),
            ..Default::default()
        };
        // Create-if-absent: a retry after a lost answer finds it there (409), which is fine.
        let created = retry("creating the Grafana admin Secret", || async {
            match api.create(&pp, &secret).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await?;
        Ok(if created {
            "created the Grafana admin Secret (random password)"
        } else {
            "kept the Grafana admin Secret"
        })
    }

    /// A release stuck in `pending-install`/`pending-upgrade`/`pending-rollback` refuses every
    /// upgrade ("another operation is in progress"). A pending record may belong to a helm
    /// that is still working (another operator, another run): one younger than the release's
    /// time limit is waited for, bounded and said, unless deployctl itself ended that helm. A
    /// dead one is rolled back to its last deployed revision; one that was never deployed is
    /// uninstalled (its StatefulSets' volumes stay: helm does not own them). Says what it did,
    /// and whether the release now has no record (the install that follows is a fresh one).
    async fn repair_pending(&self, cx: &Context, rel: &Release) -> Result<Repair> {
        let Some(mut status) = cx
            .helm
            .status(&rel.name, &rel.namespace, cx.kube_context())
            .await?
        else {
            return Ok(Repair {
                note: None,
                fresh: true,
            });
        };
        if !status.status.starts_with("pending-") {
            return Ok(Repair {
                note: None,
                fresh: false,
            });
        }
        let key = format!("{}/{}", rel.namespace, rel.name);
        let account = cx.known_account();
        let ours = crate::journal::helm_stopped(&cx.settings, account.as_deref()).contains(&key);
        if !ours && let Some(age) = self.pending_age(cx, rel).await {
            let limit = crate::platform::tools::helm::process_limit(&rel.timeout);
            if age < limit {
                let wait = limit - age;
                cx.ui.note(
                    self.0.step.name(),
                    &format!(
                        "release {} is {} since {} ago: another helm may still be working on it; waiting for it, at most {}",
                        rel.name,
                        status.status,
                        crate::ui::human_duration(age),
                        crate::ui::human_duration(wait)
                    ),
                );
                status = self.wait_not_pending(cx, rel, wait).await?;
                if !status.status.starts_with("pending-") {
                    return Ok(Repair {
                        note: Some(format!(
                            "waited for another helm operation on {} to end (it ended {})",
                            rel.name, status.status
                        )),
                        fresh: false,
                    });
                }
            }
        }
        let history = cx
            .helm
            .history(&rel.name, &rel.namespace, cx.kube_context())
            .await?;
        let last_good = history
            .iter()
            .rev()
            .find(|r| r.status == "deployed" || r.status == "superseded")
            .map(|r| r.revision);
        let repaired = match last_good {
            Some(rev) => {
                cx.helm
                    .rollback(
                        &rel.name,
                        &rel.namespace,
                        rev,
                        &rel.timeout,
                        cx.kube_context(),
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "release {} is {}; rolling it back to revision {rev} failed",
                            rel.name, status.status
                        )
                    })?;
                Repair {
                    note: Some(format!(
                        "repaired: release was {} (revision {}), rolled back to revision {rev}",
                        status.status, status.revision
                    )),
                    fresh: false,
                }
            }
            None => {
                cx.helm
                    .uninstall(&rel.name, &rel.namespace, &rel.timeout, cx.kube_context())
                    .await
                    .with_context(|| {
                        format!(
                            "release {} is {} and was never deployed; uninstalling it failed",
                            rel.name, status.status
                        )
                    })?;
                Repair {
                    note: Some(format!(
                        "repaired: release was {} and never deployed, uninstalled it before installing again",
                        status.status
                    )),
                    fresh: true,
                }
            }
        };
        let _ = crate::journal::clear_helm_stopped(&cx.settings, account.as_deref(), &key);
        Ok(repaired)
    }

    /// How long ago the pending operation started (`info.last_deployed` of helm's record).
    async fn pending_age(&self, cx: &Context, rel: &Release) -> Option<Duration> {
        let client = cx.kube().ok()?;
        let record = crate::platform::kubeapi::helm_storage::release_record(
            &client,
            &rel.name,
            &rel.namespace,
        )
        .await
        .ok()???;
        let started = record.last_deployed?;
        let age = jiff::Timestamp::now().duration_since(started);
        Some(Duration::from_secs(age.as_secs().max(0) as u64))
    }

    /// Poll helm's record until the release is no longer pending, at most `limit`.
    async fn wait_not_pending(
        &self,
        cx: &Context,
        rel: &Release,
        limit: Duration,
    ) -> Result<crate::platform::tools::helm::ReleaseStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let status = cx
                .helm
                .status(&rel.name, &rel.namespace, cx.kube_context())
                .await?;
            let Some(status) = status else {
                bail!(
                    "release {} disappeared while another helm operation ran on it; run `deployctl {}` again",
                    rel.name,
                    self.0.step
                )
            };
            if !status.status.starts_with("pending-") || std::time::Instant::now() >= deadline {
                return Ok(status);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = crate::interrupt::wait() => bail!(
                    "interrupted while waiting for another helm operation on {} to end",
                    rel.name
                ),
            }
        }
    }

    /// OpenWebUI's SQLite data from an install before PostgreSQL (the chart's PVC
    /// `open-webui`, kept by `uninstall` and by the keep policy), not declared migrated: why
    /// the step will not go on, and what to do.
    async fn unmigrated_sqlite(&self, cx: &Context, ns: &str) -> Result<Option<UserError>> {
        if cx.settings.openwebui_sqlite_migrated {
            return Ok(None);
        }
        let api: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
            Api::namespaced(cx.kube()?, ns);
        let Some(pvc) = retry("reading PVC open-webui", || api.get_opt("open-webui")).await? else {
            return Ok(None);
        };
        let size = pvc
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .map(|q| format!(" ({})", q.0))
            .unwrap_or_default();
        Ok(Some(UserError::failed(
            format!(
                "PVC {ns}/open-webui{size} holds OpenWebUI's data from an install before PostgreSQL (SQLite): OpenWebUI on PostgreSQL would start without its users and chats; nothing was changed"
            ),
            "move the data first (README, \"OpenWebUI: from SQLite to PostgreSQL\"), then run `OPENWEBUI_SQLITE_MIGRATED=true deployctl openwebui`; the claim and its volume are kept either way",
        )))
    }

    /// The release's ServiceAccount, applied before helm runs (its hooks run as it before any
    /// object of the chart exists), with the annotations the overlay gives it (the IRSA role).
    async fn service_account_first(
        &self,
        cx: &Context,
        ns: &str,
        name: &str,
        overlay: &serde_json::Value,
    ) -> Result<String> {
        let annotations = overlay["serviceAccount"]["annotations"].clone();
        let doc = crate::stack::manifest::Document::from_value(
            std::path::PathBuf::from(format!("serviceaccount {name}")),
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {
                        "app.kubernetes.io/managed-by": "deployctl",
                        "app.kubernetes.io/part-of": "litellm-stack",
                    },
                    "annotations": if annotations.is_object() { annotations } else { serde_json::json!({}) },
                },
            }),
        );
        crate::platform::kubeapi::apply::apply_documents(&cx.kube()?, &[doc]).await?;
        Ok(format!(
            "ServiceAccount {name} applied first (the chart's hooks run as it)"
        ))
    }

    /// GET /health/liveliness through the API server's service proxy (no exec).
    async fn liveliness(&self, cx: &Context, ns: &str) -> Result<String> {
        let client = cx.kube()?;
        let path = format!(
            "/api/v1/namespaces/{ns}/services/{LITELLM_SERVICE}:{LITELLM_PORT}/proxy/health/liveliness"
        );
        let mut last = String::new();
        for attempt in 0..5u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
            }
            let req = http::Request::get(&path)
                .body(Vec::new())
                .context("building the liveliness request")?;
            // Bounded (the service proxy is not timed out by the API server) and ended by
            // an interrupt.
            let answer = tokio::select! {
                a = tokio::time::timeout(Duration::from_secs(10), client.request_text(req)) => a,
                _ = crate::interrupt::wait() => bail!("interrupted while asking LiteLLM's /health/liveliness"),
            };
            match answer {
                Ok(Ok(body)) => return Ok(format!("/health/liveliness answered {}", body.trim())),
                Ok(Err(e)) => last = crate::platform::kubeapi::errors::describe(&e),
                Err(_) => last = "no answer within 10s".into(),
            }
        }
        bail!(
            "LiteLLM's /health/liveliness (service {LITELLM_SERVICE}:{LITELLM_PORT} in {ns}) did not answer: {last}"
        )
    }
}

#[async_trait]
impl Step for ReleaseStep {
    fn id(&self) -> StepId {
        self.0.step
    }

    fn resource(&self, cx: &Context) -> String {
        match self.release(cx) {
            Ok(r) => format!("helm release {} (namespace {})", r.name, r.namespace),
            Err(_) => format!("helm release {}", self.0.release),
        }
    }

    /// With a charts directory, its chart must be there at the pinned version before
    /// anything is installed.
    async fn prepare(
        &self,
        cx: &Context,
        _state: &State,
        found: &Findings,
        prompter: Option<&dyn crate::prompt::Prompter>,
        _chose_proceed: bool,
    ) -> Result<super::Prepared> {
        // Off until an entry point is configured (access.yaml).
        if self.0.entry_point_only && cx.settings.access.entry_point().is_none() {
            return Ok(super::Prepared::Skip(
                crate::config::access::HOW_TO_ADD.into(),
            ));
        }
        let rel = self.release(cx)?;
        if let Some(dir) = &cx.settings.charts_dir {
            crate::stack::charts::find_local(dir, &rel)?;
        }
        // A release stuck in pending-install was never deployed: the repair uninstalls it.
        // That is asked for (or, without a terminal, allowed by a flag) before anything runs.
        if let Some(status) = cx
            .helm
            .status(&rel.name, &rel.namespace, cx.kube_context())
            .await?
            && status.status == "pending-install"
        {
            let what = format!(
                "helm release {} (namespace {}) is stuck in pending-install and was never deployed; to install it, deployctl uninstalls it first (its StatefulSets' volumes stay)",
                rel.name, rel.namespace
            );
            match prompter {
                Some(p) => {
                    if !p.confirm(&format!("{what}. Uninstall it and install again?"))? {
                        return Err(UserError::failed(
                            format!("{} left in pending-install; nothing was changed", rel.name),
                            format!(
                                "run `deployctl {}` again and confirm, or remove it yourself: `helm uninstall {} -n {}`",
                                self.0.step, rel.name, rel.namespace
                            ),
                        )
                        .into());
                    }
                }
                None if cx.settings.repair_pending_installs => {}
                None => {
                    return Err(UserError::failed(
                        what,
                        format!(
                            "allow it with `deployctl {} --repair-pending-installs`, or remove it yourself: `helm uninstall {} -n {}`",
                            self.0.step, rel.name, rel.namespace
                        ),
                    )
                    .into());
                }
            }
        }
        Ok(super::Prepared::Run(found.clone()))
    }

    async fn assess(&self, cx: &Context) -> Result<State> {
        let rel = self.release(cx)?;
        // helm's own record through the API client (no helm process); helm itself when that
        // record cannot be read this way (then the recorded values are not compared).
        let client = cx.kube().ok();
        let stored = match &client {
            Some(client) => {
                crate::platform::kubeapi::helm_storage::release_record(
                    client,
                    &rel.name,
                    &rel.namespace,
                )
                .await?
            }
            None => None,
        };
        let (status, config) = match stored {
            Some(Some(r)) => (Some(r.status), Some(r.config)),
            Some(None) => (None, None),
            None => (
                cx.helm
                    .status(&rel.name, &rel.namespace, cx.kube_context())
                    .await?,
                None,
            ),
        };
        let Some(status) = status else {
            // No record; objects of an interrupted install may still run (its cancel raced
            // helm's clean-up). An install adopts them.
            if let Some(client) = &client {
                let left = crate::platform::kubeapi::helm_storage::leftovers(
                    client,
                    &rel.name,
                    &rel.namespace,
                )
                .await;
                if !left.is_empty() {
                    return Ok(State::Unhealthy(format!(
                        "no helm release record, but {} object(s) of release {} remain from an interrupted install ({}); a run installs over them (helm adopts what it labelled), `deployctl uninstall` cannot see them",
                        left.len(),
                        rel.name,
                        left.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            // Not installed, over data an install before PostgreSQL left: a plan says so.
            if self.0.extra == Extra::OpenwebuiSqlite
                && let Some(why) = self.unmigrated_sqlite(cx, &rel.namespace).await?
            {
                return Ok(State::Unhealthy(format!(
                    "not installed, and {}",
                    why.message
                )));
            }
            return Ok(State::Missing);
        };
        if status.status != "deployed" {
            let why = if status.description.is_empty() {
                String::new()
            } else {
                format!(" ({})", status.description)
            };
            return Ok(State::Unhealthy(format!(
                "helm release is {}{why}",
                status.status
            )));
        }
        let mut problems = Vec::new();
        if status.chart_version != rel.version {
            problems.push(format!(
                "chart {} installed, releases.yaml pins {}",
                status.chart_version, rel.version
            ));
        }
        // Installed with other values than a run would install: not healthy (the drift is
        // named, so Skip is a choice made knowingly).
        if let Some(live) = &config {
            let desired = self.desired_values(cx, &rel).await?;
            let changes = crate::stack::render::values::diff(live, &desired);
            if !changes.is_empty() {
                problems.push(crate::stack::render::values::describe(&changes, 6));
            }
        }
        if !problems.is_empty() {
            problems.push(format!(
                "`deployctl diff {}` shows what an upgrade would change",
                self.0.step.name()
            ));
        }
        if self.0.extra == Extra::GrafanaAdmin {
            let api: Api<Secret> = Api::namespaced(cx.kube()?, &rel.namespace);
            if retry("reading the Grafana admin Secret", || {
                api.get_opt(GRAFANA_ADMIN_SECRET)
            })
            .await?
            .is_none()
            {
                problems.push(format!(
                    "the Grafana admin Secret {GRAFANA_ADMIN_SECRET} is missing (Grafana cannot start without it)"
                ));
            }
        }
        if self.0.extra == Extra::OpenwebuiSqlite
            && let Some(why) = self.unmigrated_sqlite(cx, &rel.namespace).await?
        {
            problems.push(why.message);
        }
        for (claim, _, policy) in self.data_volumes(cx, &rel.namespace).await? {
            if policy != "Retain" {
                problems.push(format!(
                    "the volume of PVC {}/{claim} has reclaim policy {policy}: its data would go with the claim",
                    rel.namespace
                ));
            }
        }
        let ready = self.readiness(cx, &rel.namespace).await?;
        problems.extend(
            ready
                .iter()
                .filter(|r| !r.is_ready())
                .map(|r| r.text().to_string()),
        );
        if problems.is_empty() {
            Ok(State::Healthy(format!(
                "deployed, chart {} (revision {}), values as configured; {}",
                status.chart_version,
                status.revision,
                ready
                    .iter()
                    .map(|r| r.text().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        } else {
            Ok(State::Unhealthy(problems.join("; ")))
        }
    }

    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let rel = self.release(cx)?;
        let mut notes = Vec::new();
        if self.0.extra == Extra::GrafanaAdmin {
            notes.push(self.grafana_admin(cx, &rel.namespace).await?.to_string());
        }
        if self.0.extra == Extra::OpenwebuiSqlite
            && let Some(refusal) = self.unmigrated_sqlite(cx, &rel.namespace).await?
        {
            return Err(refusal.into());
        }
        let inputs = self.overlay_inputs(cx).await?;
        let values = cx
            .settings
            .project_dir
            .join("helm-values")
            .join(&rel.values);
        let overlay = (self.0.overlay)(&inputs)?;
        if let Some(sa) = self.0.service_account_first {
            notes.push(
                self.service_account_first(cx, &rel.namespace, sa, &overlay)
                    .await?,
            );
        }
        let (dir, overlay_path) = write_overlay(&rel.name, &overlay)?;
        // From the charts directory (checked against the pin again: it may have changed
        // since prepare), or from the repository.
        let local = local_chart(cx, &rel)?;
        let chart = chart_ref(&rel, local.as_ref());
        let repair = self.repair_pending(cx, &rel).await?;
        notes.extend(repair.note);
        let verb = if repair.fresh { "install" } else { "upgrade" };
        let install = Install {
            name: &rel.name,
            namespace: &rel.namespace,
            chart,
            values: &values,
            overlay: &overlay_path,
            timeout: &rel.timeout,
            kube_context: cx.kube_context(),
            fresh: repair.fresh,
        };
        // The repair above can take minutes (a live operation waited out, a rollback): an
        // interrupt that arrived meanwhile starts no new helm operation.
        if crate::interrupt::requested() {
            bail!(
                "interrupted before helm {verb} of {} began (the release was left as the repair made it)",
                rel.name
            );
        }
        let mut installed = cx.helm.upgrade_install(&install).await;
        // helm makes a chart's CRDs, waits for them to be established, then looks the new
        // kinds up once: an API server whose discovery lags a moment behind ("no matches for
        // kind") fails the first try. Nothing of the release was made; the next finds them.
        if let Err(e) = &installed
            && format!("{e:#}").contains("no matches for kind")
            && !crate::interrupt::requested()
        {
            cx.ui.note(
                self.0.step.name(),
                "the cluster's discovery lagged behind the chart's new CRDs: trying again",
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
            installed = cx.helm.upgrade_install(&install).await;
        }
        drop(dir);
        if let Err(e) = installed {
            return Err(self.install_failed(cx, &rel, verb, repair.fresh, e).await);
        }
        let timeout = parse_duration(&rel.timeout).unwrap_or(Duration::from_secs(300));
        let client = cx.kube()?;
        for w in self.0.workloads {
            wait::workload(&client, &rel.namespace, *w, timeout).await?;
        }
        if self.0.extra == Extra::Liveliness {
            notes.push(self.liveliness(cx, &rel.namespace).await?);
        }
        notes.extend(self.retain_volumes(cx, &rel.namespace).await?);
        let from = match &local {
            Some(l) => l.path.display().to_string(),
            None => rel.chart.clone(),
        };
        let mut summary = format!("chart {from} {}, workloads ready", rel.version);
        for n in notes {
            summary.push_str("; ");
            summary.push_str(&n);
        }
        Ok(summary)
    }

    fn removes(&self, cx: &Context) -> Option<String> {
        Some(match self.release(cx) {
            Ok(rel) => format!("helm release `{}` (namespace {})", rel.name, rel.namespace),
            Err(_) => format!("helm release `{}`", self.0.release),
        })
    }

    async fn remove(&self, cx: &Context) -> Result<String> {
        let rel = self.release(cx)?;
        if cx
            .helm
            .status(&rel.name, &rel.namespace, cx.kube_context())
            .await?
            .is_none()
        {
            return Ok("not installed".into());
        }
        cx.helm
            .uninstall(&rel.name, &rel.namespace, &rel.timeout, cx.kube_context())
            .await?;
        let mut said = format!(
            "uninstalled helm release {} (namespace {})",
            rel.name, rel.namespace
        );
        if let Some(sa) = self.0.service_account_first {
            let api: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
                kube::Api::namespaced(cx.kube()?, &rel.namespace);
            let deleted = crate::platform::kubeapi::errors::retry(
                &format!("deleting ServiceAccount {sa}"),
                || async {
                    match api.delete(sa, &Default::default()).await {
                        Ok(_) => Ok(true),
                        Err(e) if crate::platform::kubeapi::errors::is_not_found(&e) => Ok(false),
                        Err(e) => Err(e),
                    }
                },
            )
            .await?;
            if deleted {
                said.push_str(&format!(" and its ServiceAccount {sa}"));
            }
        }
        Ok(said)
    }

    async fn preview(&self, cx: &Context) -> Option<Vec<String>> {
        match self.diff(cx).await {
            Ok(d) if d.live.is_some() && !d.unchanged() => Some(d.lines(self.0.step.name())),
            Ok(_) => None,
            Err(e) => Some(vec![format!(
                "{}: what a run would change could not be computed: {e:#}",
                self.0.step.name()
            )]),
        }
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let rel = self.release(cx)?;
        let mut lines = vec![format!(
            "  chart {} (pinned {}), namespace {}, values helm-values/{}",
            rel.chart, rel.version, rel.namespace, rel.values
        )];
        match cx
            .helm
            .status(&rel.name, &rel.namespace, cx.kube_context())
            .await?
        {
            Some(s) => lines.push(format!(
                "  helm: {} revision {}, chart {} — {}",
                s.status, s.revision, s.chart_version, s.description
            )),
            None => lines.push("  helm: not installed".into()),
        }
        for r in self.readiness(cx, &rel.namespace).await? {
            lines.push(format!(
                "  {} {}",
                if r.is_ready() { "ready" } else { "NOT READY" },
                r.text()
            ));
        }
        // What Proceed would change (an upgrade dry run against the live release).
        match self.diff(cx).await {
            Ok(d) if d.live.is_some() => {
                lines.push("  what a run would change:".into());
                lines.extend(
                    d.lines(self.0.step.name())
                        .into_iter()
                        .map(|l| format!("    {l}")),
                );
            }
            Ok(_) => {}
            Err(e) => lines.push(format!(
                "  what a run would change could not be computed: {e:#}"
            )),
        }
        if self.0.extra == Extra::GrafanaAdmin {
            lines.push(format!(
                "  admin password: kubectl -n {} get secret {GRAFANA_ADMIN_SECRET} -o jsonpath='{{.data.admin-password}}' | base64 -d",
                rel.namespace
            ));
        }
        Ok(lines.join("\n"))
    }
}

/// The run values an overlay is made from: the account (role ARNs) when `account`, the VPC
/// (EKS DescribeCluster) when `vpc` — only the load balancer controller needs it. `export`
/// makes the same overlays from it.
pub async fn overlay_inputs(cx: &Context, account: bool, vpc: bool) -> Result<OverlayInputs> {
    let (partition, account) = if account {
        let aws = cx.aws().await;
        (aws.partition().to_string(), aws.account_id().await?)
    } else {
        (
            crate::platform::aws::partition_of(&cx.settings.region).to_string(),
            String::new(),
        )
    };
    let vpc_id = if vpc {
        let aws = cx.aws().await;
        crate::platform::aws::describe_cluster(aws, &cx.settings.cluster)
            .await?
            .and_then(|c| c.vpc_id)
            .ok_or_else(|| {
                anyhow!(
                    "EKS reports no VPC for cluster {}: the load balancer controller needs it",
                    cx.settings.cluster
                )
            })?
    } else {
        String::new()
    };
    Ok(OverlayInputs {
        partition,
        account,
        region: cx.settings.region.clone(),
        cluster: cx.settings.cluster.clone(),
        vpc_id,
        access: cx.settings.access.clone(),
    })
}
