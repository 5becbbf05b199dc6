//! `ingress`: the HTTPS entry point — an Ingress of class `alb` for OpenWebUI and, when a
//! hostname is configured for it, one for the LiteLLM API, both in one load balancer
//! (`alb.ingress.kubernetes.io/group.name`). Made from `access.yaml` (see `access`): HTTPS
//! only with the named ACM certificate, HTTP redirected, `internal` or `internet-facing`, the
//! allowed source CIDRs, an idle timeout long enough for streamed answers, health checks on
//! the apps' own health paths. Without a certificate there is no entry point: the step is
//! skipped, saying how to add one.
//!
//! It is never created while OpenWebUI would make the first visitor its admin: apply first
//! asks OpenWebUI itself (`/api/config` through the API server's service proxy) and stops when
//! it still offers the first sign-up.

use super::{Findings, Prepared, Step};
use crate::config::access::HOW_TO_ADD;
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::kubeapi::errors::retry;
use crate::stack::entry_point::{INGRESSES, documents};
use anyhow::{Context as _, Result, bail};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::networking::v1::Ingress as K8sIngress;
use kube::api::{Api, ListParams};
use std::time::Duration;

/// How long uninstall waits for the load balancer controller to delete a load balancer (AWS
/// takes seconds to a few minutes).
pub const LOAD_BALANCER_DELETION: Duration = Duration::from_secs(300);

/// Ingresses of class `alb` in the cluster other than `except` (namespace, name): each one's
/// load balancer is deleted only by a running controller.
pub async fn alb_ingresses(client: &kube::Client, except: &[(&str, &str)]) -> Result<Vec<String>> {
    let api: Api<K8sIngress> = Api::all(client.clone());
    let lp = ListParams::default();
    let list = retry("listing Ingresses", || api.list(&lp)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|i| {
            i.spec
                .as_ref()
                .and_then(|s| s.ingress_class_name.as_deref())
                == Some("alb")
        })
        .map(|i| {
            (
                i.metadata.namespace.unwrap_or_default(),
                i.metadata.name.unwrap_or_default(),
            )
        })
        .filter(|(ns, name)| !except.iter().any(|(n, m)| n == ns && m == name))
        .map(|(ns, name)| format!("{ns}/{name}"))
        .collect())
}

/// How long the load balancer may take to get its address (an ALB is usually ready in two
/// to three minutes).
const ADDRESS_WAIT: Duration = Duration::from_secs(300);

/// The address of a live Ingress (its load balancer's hostname), if it has one.
pub fn address(ing: &K8sIngress) -> Option<String> {
    ing.status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .iter()
        .find_map(|i| i.hostname.clone().or_else(|| i.ip.clone()))
}

/// Why the controller has not given this Ingress an address: its latest warning event about
/// *this* Ingress (by uid: an earlier Ingress of the same name had its own events, which live
/// an hour), at or after `since` when given (e.g. `FailedBuildModel: Failed build model due to
/// couldn't auto-discover subnets…`).
pub async fn controller_reason(
    client: &kube::Client,
    ing: &K8sIngress,
    since: Option<jiff::Timestamp>,
) -> Option<String> {
    let ns = ing.metadata.namespace.as_deref()?;
    let name = ing.metadata.name.as_deref()?;
    let uid = ing.metadata.uid.as_deref()?;
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().fields(&format!(
        "involvedObject.kind=Ingress,involvedObject.name={name},involvedObject.uid={uid}"
    ));
    let events = retry("reading the Ingress's events", || api.list(&lp))
        .await
        .ok()?;
    let when = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
    };
    events
        .items
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| match (since, when(e)) {
            (Some(since), Some(at)) => at >= since,
            _ => true,
        })
        .max_by_key(|e| when(e))
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.as_deref().unwrap_or("Warning"),
                e.message.as_deref().unwrap_or("")
            )
        })
}

/// How long a warning from the controller may stand without an address before the step
/// fails with it: the first reconcile can fail for a moment (a transient
/// `FailedDeployModel`) and the load balancer still appear.
const WARNING_STANDS: Duration = Duration::from_secs(60);

/// Whether OpenWebUI would make the first visitor its admin: `/api/config` through the API
/// server's service proxy carries `"onboarding": true` while it has no user.
async fn hands_admin_to_first_visitor(cx: &Context) -> Result<bool> {
    let client = cx.kube()?;
    let path = "/api/v1/namespaces/open-webui/services/open-webui:80/proxy/api/config";
    let req = http::Request::get(path)
        .body(Vec::new())
        .context("building OpenWebUI's config request")?;
    let body = retry("asking OpenWebUI whether it has an admin", || {
        client.request_text(req.clone())
    })
    .await?;
    let v: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| "OpenWebUI's /api/config did not answer JSON".to_string())?;
    Ok(v["onboarding"].as_bool() == Some(true))
}

pub struct Ingress;

#[async_trait]
impl Step for Ingress {
    fn id(&self) -> StepId {
        StepId::Ingress
    }
    fn resource(&self, cx: &Context) -> String {
        match cx.settings.access.entry_point() {
            Some(e) => format!(
                "the entry point https://{}{}",
                e.openwebui_host,
                e.api_host
                    .map(|h| format!(" and https://{h}"))
                    .unwrap_or_default()
            ),
            None => "the entry point (not configured)".into(),
        }
    }
    fn exists(&self) -> &'static str {
        "exists"
    }

    async fn assess(&self, cx: &Context) -> Result<State> {
        let docs = documents(&cx.settings.access, &cx.settings.cluster);
        let client = cx.kube()?;
        if docs.is_empty() {
            // Not configured: say whether Ingresses of an earlier configuration remain.
            let mut left = Vec::new();
            for (ns, name, ..) in INGRESSES {
                let api: Api<K8sIngress> = Api::namespaced(client.clone(), ns);
                if retry("reading the entry point's Ingresses", || api.get_opt(name))
                    .await?
                    .is_some()
                {
                    left.push(format!("{ns}/{name}"));
                }
            }
            return Ok(if left.is_empty() {
                State::Missing
            } else {
                State::Unhealthy(format!(
                    "Ingress {} remain, but no entry point is configured (`deployctl uninstall ingress` removes them)",
                    left.join(", ")
                ))
            });
        }
        let mut present = 0;
        let mut problems = Vec::new();
        let mut addresses = Vec::new();
        for d in &docs {
            let ns = d.namespace().unwrap_or_default();
            let api: Api<K8sIngress> = Api::namespaced(client.clone(), ns);
            match retry("reading the entry point's Ingresses", || {
                api.get_opt(d.name())
            })
            .await?
            {
                None => problems.push(format!("Ingress {ns}/{} missing", d.name())),
                Some(ing) => {
                    present += 1;
                    match address(&ing) {
                        Some(a) => addresses.push(a),
                        None => problems.push(format!(
                            "Ingress {ns}/{} has no address yet{}",
                            d.name(),
                            controller_reason(&client, &ing, None)
                                .await
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        )),
                    }
                }
            }
        }
        if present == 0 {
            return Ok(State::Missing);
        }
        let drift = crate::platform::kubeapi::apply::drift(&client, &docs).await?;
        if !drift.is_empty() {
            problems.push(format!("an apply would change {}", drift.join("; ")));
        }
        addresses.dedup();
        Ok(if problems.is_empty() {
            State::Healthy(format!("load balancer {}", addresses.join(", ")))
        } else {
            State::Unhealthy(problems.join("; "))
        })
    }

    async fn prepare(
        &self,
        cx: &Context,
        _state: &State,
        found: &Findings,
        _prompter: Option<&dyn crate::prompt::Prompter>,
        _chose_proceed: bool,
    ) -> Result<Prepared> {
        if cx.settings.access.entry_point().is_none() {
            return Ok(Prepared::Skip(HOW_TO_ADD.into()));
        }
        Ok(Prepared::Run(found.clone()))
    }

    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let docs = documents(&cx.settings.access, &cx.settings.cluster);
        let client = cx.kube()?;
        // The first admin must exist before anyone but the operator can reach OpenWebUI.
        if hands_admin_to_first_visitor(cx).await? {
            bail!(crate::error::UserError::failed(
                "OpenWebUI has no user yet, so the first visitor would become its admin: the entry point was not created",
                "OpenWebUI makes its admin at start-up from WEBUI_ADMIN_EMAIL and WEBUI_ADMIN_PASSWORD (openwebui-secrets, key admin-password): check `deployctl plan secret-stores openwebui`, run `deployctl openwebui`, then `deployctl ingress`",
            ));
        }
        // Warnings from before this apply are about an earlier attempt.
        let applied_at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(2);
        let applied = crate::platform::kubeapi::apply::apply_documents(&client, &docs).await?;
        // The load balancer takes a few minutes; its address is what people are sent to.
        let mut addresses = Vec::new();
        for d in &docs {
            let ns = d.namespace().unwrap_or_default().to_string();
            let api: Api<K8sIngress> = Api::namespaced(client.clone(), &ns);
            let what = format!(
                "Ingress {ns}/{} to get its load balancer's address",
                d.name()
            );
            cx.ui.note(
                self.id().name(),
                &format!(
                    "waiting for the load balancer of {ns}/{} (at most {})",
                    d.name(),
                    crate::ui::human_duration(ADDRESS_WAIT)
                ),
            );
            let cfg = kube::runtime::watcher::Config::default()
                .fields(&format!("metadata.name={}", d.name()));
            let get = api.clone();
            let name = d.name().to_string();
            let reason_client = client.clone();
            let first_warning: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>> =
                Default::default();
            let found = crate::platform::kubeapi::wait::until(api, cfg, &what, ADDRESS_WAIT, || {
                let get = get.clone();
                let name = name.clone();
                let ns = ns.clone();
                let reason_client = reason_client.clone();
                let first_warning = first_warning.clone();
                async move {
                    let ing = retry(&format!("reading Ingress {name}"), || get.get_opt(&name)).await?;
                    if let Some(a) = ing.as_ref().and_then(address) {
                        return Ok(crate::platform::kubeapi::wait::Ready::Yes(a));
                    }
                    let reason = match &ing {
                        Some(i) => controller_reason(&reason_client, i, Some(applied_at)).await,
                        None => None,
                    };
                    // The controller said why it cannot build the load balancer: once that has
                    // stood for a while with no address, it does not pass by waiting (the
                    // controller retries, but the cause needs a change).
                    let stood = reason.is_some() && {
                        let mut first = first_warning.lock().unwrap_or_else(|e| e.into_inner());
                        first.get_or_insert_with(std::time::Instant::now).elapsed() >= WARNING_STANDS
                    };
                    if let (true, Some(reason)) = (stood, reason) {
                        anyhow::bail!(crate::error::UserError::failed(
                            format!("the load balancer controller cannot make the load balancer of Ingress {ns}/{name}: {reason}"),
                            "fix the cause (subnet tags kubernetes.io/role/elb or internal-elb, the certificate, the controller's IAM role), then `deployctl ingress`; `kubectl -n kube-system logs deploy/aws-load-balancer-controller` has the details",
                        ));
                    }
                    Ok(crate::platform::kubeapi::wait::Ready::No(
                        "the controller has not reported yet".into(),
                    ))
                }
            })
            .await?;
            addresses.push(found);
        }
        addresses.dedup();
        Ok(format!(
            "applied {}; load balancer {}",
            applied.join(", "),
            addresses.join(", ")
        ))
    }

    fn removes(&self, _cx: &Context) -> Option<String> {
        Some("the entry point's Ingresses, waiting until the load balancer controller has deleted their load balancer".into())
    }

    async fn remove(&self, cx: &Context) -> Result<String> {
        let client = cx.kube()?;
        let mut deleted = Vec::new();
        for (ns, name, ..) in INGRESSES {
            let api: Api<K8sIngress> = Api::namespaced(client.clone(), ns);
            let gone = retry(&format!("deleting Ingress {ns}/{name}"), || async {
                match api.delete(name, &Default::default()).await {
                    Ok(_) => Ok(false),
                    Err(e) if crate::platform::kubeapi::errors::is_not_found(&e) => Ok(true),
                    Err(e) => Err(e),
                }
            })
            .await?;
            if !gone {
                deleted.push((*ns, *name));
            }
        }
        // The load balancer controller deletes the load balancer, its target groups and
        // security groups, then lets the Ingress go (its finalizer). Until then the controller
        // must stay: uninstall removes it next, so this waits, bounded and interruptible.
        let started = std::time::Instant::now();
        let mut said = false;
        for (ns, name) in &deleted {
            let api: Api<K8sIngress> = Api::namespaced(client.clone(), ns);
            loop {
                let present = retry(&format!("reading Ingress {ns}/{name}"), || {
                    api.get_opt(name)
                })
                .await?
                .is_some();
                if !present {
                    break;
                }
                if started.elapsed() >= LOAD_BALANCER_DELETION {
                    bail!(
                        "Ingress {ns}/{name} is still there after {}s: the load balancer controller has not deleted its load balancer (see `kubectl -n kube-system logs deploy/aws-load-balancer-controller` and `kubectl -n {ns} describe ingress {name}`); the controller was left installed so it can finish",
                        started.elapsed().as_secs()
                    );
                }
                if crate::interrupt::requested() {
                    bail!(
                        "interrupted while the load balancer controller deletes Ingress {ns}/{name}'s load balancer; the controller was left installed so it can finish"
                    );
                }
                if !said && started.elapsed() >= Duration::from_secs(3) {
                    said = true;
                    cx.ui.note(
                        "ingress",
                        &format!(
                            "waiting for the load balancer controller to delete the load balancer (up to {}s)",
                            LOAD_BALANCER_DELETION.as_secs()
                        ),
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = crate::interrupt::wait() => {}
                }
            }
        }
        let names: Vec<String> = deleted
            .iter()
            .map(|(_, name)| format!("Ingress/{name}"))
            .collect();
        Ok(super::objects::removed_summary(&names))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let docs = documents(&cx.settings.access, &cx.settings.cluster);
        if docs.is_empty() {
            return Ok(format!("  {HOW_TO_ADD}"));
        }
        let client = cx.kube()?;
        let mut lines = Vec::new();
        for d in &docs {
            let ns = d.namespace().unwrap_or_default();
            let api: Api<K8sIngress> = Api::namespaced(client.clone(), ns);
            let host = d.value["spec"]["rules"][0]["host"].as_str().unwrap_or("");
            let state = match retry("reading Ingress", || api.get_opt(d.name())).await? {
                None => "missing".to_string(),
                Some(i) => address(&i).unwrap_or_else(|| "no address yet".into()),
            };
            lines.push(format!(
                "  https://{host}  Ingress {ns}/{}  {state}",
                d.name()
            ));
        }
        Ok(lines.join("\n"))
    }
}
