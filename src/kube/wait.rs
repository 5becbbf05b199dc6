//! Readiness of workloads and watch-based waits: a check is re-evaluated whenever the API
//! server reports a change to what it looks at, until it passes or the timeout names what
//! was still missing. No fixed sleeps.

use super::errors::retry;
use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    Yes(String),
    No(String),
}

impl Ready {
    pub fn is_ready(&self) -> bool {
        matches!(self, Ready::Yes(_))
    }
    pub fn text(&self) -> &str {
        match self {
            Ready::Yes(t) | Ready::No(t) => t,
        }
    }
}

/// What "ready" means for one part of a release (STACK-FACTS' readiness table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A Deployment rolled out: every replica updated and ready.
    Deployment(&'static str),
    /// A StatefulSet with every replica ready.
    StatefulSet(&'static str),
    /// At least one pod with this label selector, and all of them Ready.
    Pods(&'static str),
    /// The named container Ready in every pod with this selector (its readiness probe is the
    /// check, e.g. redis-ha's sentinel container pings port 26379).
    Container {
        selector: &'static str,
        container: &'static str,
    },
}

impl Workload {
    pub fn describe(&self) -> String {
        match self {
            Workload::Deployment(n) => format!("Deployment {n}"),
            Workload::StatefulSet(n) => format!("StatefulSet {n}"),
            Workload::Pods(s) => format!("pods {s}"),
            Workload::Container {
                selector,
                container,
            } => format!("container {container} in pods {selector}"),
        }
    }
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The named container is ready. A pod's Ready condition already means every container's
/// readiness probe passed; when the kubelet reports per-container statuses the named one must
/// be among them and ready (a pod without that container is the wrong workload).
fn container_ready(p: &Pod, name: &str) -> bool {
    match p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .filter(|cs| !cs.is_empty())
    {
        Some(cs) => pod_ready(p) && cs.iter().any(|c| c.name == name && c.ready),
        None => pod_ready(p),
    }
}

/// Deployment readiness from its object.
pub fn deployment_ready(name: &str, d: Option<&Deployment>) -> Ready {
    let Some(d) = d else {
        return Ready::No(format!("Deployment {name} does not exist"));
    };
    let want = d.spec.replicas.unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let ready = st.ready_replicas.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let observed = st.observed_generation.unwrap_or(0);
    if observed >= generation && ready >= want && updated >= want {
        Ready::Yes(format!("Deployment {name} {ready}/{want} ready"))
    } else {
        Ready::No(format!(
            "Deployment {name} {ready}/{want} ready, {updated} updated"
        ))
    }
}

/// StatefulSet readiness from its object.
pub fn statefulset_ready(name: &str, s: Option<&StatefulSet>) -> Ready {
    let Some(s) = s else {
        return Ready::No(format!("StatefulSet {name} does not exist"));
    };
    let want = s.spec.replicas.unwrap_or(1);
    let st = s.status.clone().unwrap_or_default();
    let generation = s.metadata.generation.unwrap_or(0);
    let ready = st.ready_replicas.unwrap_or(0);
    let observed = st.observed_generation.unwrap_or(0);
    if observed >= generation && ready >= want {
        Ready::Yes(format!("StatefulSet {name} {ready}/{want} ready"))
    } else {
        Ready::No(format!("StatefulSet {name} {ready}/{want} ready"))
    }
}

/// Pods readiness from a list.
pub fn pods_ready(selector: &str, pods: &[Pod], container: Option<&str>) -> Ready {
    if pods.is_empty() {
        return Ready::No(format!("no pods match {selector}"));
    }
    let ok = pods
        .iter()
        .filter(|p| match container {
            Some(c) => container_ready(p, c),
            None => pod_ready(p),
        })
        .count();
    let what = match container {
        Some(c) => format!("container {c} ready in {ok}/{} pods {selector}", pods.len()),
        None => format!("{ok}/{} pods {selector} ready", pods.len()),
    };
    if ok == pods.len() {
        Ready::Yes(what)
    } else {
        Ready::No(what)
    }
}

/// Check one workload now.
pub async fn check(client: &kube::Client, ns: &str, w: Workload) -> Result<Ready> {
    Ok(match w {
        Workload::Deployment(name) => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
            let d = retry(&format!("reading Deployment {name}"), || api.get_opt(name)).await?;
            deployment_ready(name, d.as_ref())
        }
        Workload::StatefulSet(name) => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
            let s = retry(&format!("reading StatefulSet {name}"), || api.get_opt(name)).await?;
            statefulset_ready(name, s.as_ref())
        }
        Workload::Pods(selector) | Workload::Container { selector, .. } => {
            let api: Api<Pod> = Api::namespaced(client.clone(), ns);
            let lp = ListParams::default().labels(selector);
            let pods = retry(&format!("listing pods {selector}"), || api.list(&lp)).await?;
            let container = match w {
                Workload::Container { container, .. } => Some(container),
                _ => None,
            };
            pods_ready(selector, &pods.items, container)
        }
    })
}

/// Re-run `check` whenever `api` (narrowed by `config`) reports a change, until it says
/// ready; a timeout names `what` and the last reason.
pub async fn until<K, F, Fut>(
    api: Api<K>,
    config: watcher::Config,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<String>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Ready>>,
{
    let deadline = Instant::now() + timeout;
    let mut events = watcher(api, config).default_backoff().boxed();
    loop {
        let last = match check().await? {
            Ready::Yes(t) => return Ok(t),
            Ready::No(why) => why,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let timed_out = || {
            anyhow::anyhow!(
                "timed out after {}s waiting for {what}: {last}",
                timeout.as_secs()
            )
        };
        if remaining.is_zero() {
            return Err(timed_out());
        }
        match tokio::time::timeout(remaining, events.next()).await {
            Err(_) => {
                // One last look: the change may have landed with the deadline.
                if let Ready::Yes(t) = check().await? {
                    return Ok(t);
                }
                return Err(timed_out());
            }
            Ok(None) => bail!("the watch on {what} ended unexpectedly"),
            // Errors are retried by the watcher's backoff; changes trigger a re-check.
            Ok(Some(_)) => {}
        }
    }
}

/// Wait until a workload is ready (watching the objects it is judged by).
pub async fn workload(
    client: &kube::Client,
    ns: &str,
    w: Workload,
    timeout: Duration,
) -> Result<String> {
    let what = format!("{} in namespace {ns}", w.describe());
    match w {
        Workload::Deployment(name) => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
            let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
            until(api, cfg, &what, timeout, || check(client, ns, w)).await
        }
        Workload::StatefulSet(name) => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
            let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
            until(api, cfg, &what, timeout, || check(client, ns, w)).await
        }
        Workload::Pods(selector) | Workload::Container { selector, .. } => {
            let api: Api<Pod> = Api::namespaced(client.clone(), ns);
            let cfg = watcher::Config::default().labels(selector);
            until(api, cfg, &what, timeout, || check(client, ns, w)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_are_ready_when_rolled_out() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "litellm", "generation": 2},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2}
        }))
        .unwrap();
        assert!(deployment_ready("litellm", Some(&d)).is_ready());
        let old: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "litellm", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2}
        }))
        .unwrap();
        assert!(!deployment_ready("litellm", Some(&old)).is_ready());
        assert_eq!(
            deployment_ready("x", None),
            Ready::No("Deployment x does not exist".into())
        );
    }

    #[test]
    fn pods_and_containers() {
        let pod = |ready: bool, sentinel: bool| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "p"},
                "status": {
                    "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}],
                    "containerStatuses": [
                        {"name": "redis", "ready": true, "restartCount": 0, "image": "i", "imageID": ""},
                        {"name": "sentinel", "ready": sentinel, "restartCount": 0, "image": "i", "imageID": ""}
                    ]
                }
            }))
            .unwrap()
        };
        assert!(pods_ready("a=b", &[pod(true, true), pod(true, true)], None).is_ready());
        assert!(!pods_ready("a=b", &[pod(true, true), pod(false, true)], None).is_ready());
        assert!(!pods_ready("a=b", &[], None).is_ready());
        let r = pods_ready("app=redis-ha", &[pod(true, false)], Some("sentinel"));
        assert_eq!(
            r,
            Ready::No("container sentinel ready in 0/1 pods app=redis-ha".into())
        );
        assert!(pods_ready("app=redis-ha", &[pod(true, true)], Some("sentinel")).is_ready());
        // A pod without a sentinel container is not redis-ha's.
        assert!(!pods_ready("app=redis-ha", &[pod(true, true)], Some("proxy")).is_ready());
    }
}
