//! Readiness of workloads and watch-based waits: a check is re-evaluated whenever the API
//! server reports a change to what it looks at, until it passes or the timeout names what
//! was still missing. No fixed sleeps.

use super::errors::retry;
use anyhow::{Result, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
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

/// What "ready" means for one part of a release (the "Healthy when" column of README "The application stack").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A Deployment rolled out: every replica updated and ready.
    Deployment(&'static str),
    /// A StatefulSet rolled out: every replica ready and on the update revision.
    StatefulSet(&'static str),
    /// A DaemonSet rolled out: every scheduled pod updated and available.
    DaemonSet(&'static str),
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
            Workload::DaemonSet(n) => format!("DaemonSet {n}"),
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

/// Deployment readiness as `kubectl rollout status` judges it: the controller has seen the
/// latest spec, every replica is updated and available, and no old replica remains.
pub fn deployment_ready(name: &str, d: Option<&Deployment>) -> Ready {
    let Some(d) = d else {
        return Ready::No(format!("Deployment {name} does not exist"));
    };
    let want = d.spec.replicas.unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let observed = st.observed_generation.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    if let Some(c) = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Ready::No(format!(
            "Deployment {name} exceeded its progress deadline: {}",
            c.message.as_deref().unwrap_or("no progress")
        ));
    }
    if observed < generation {
        return Ready::No(format!(
            "Deployment {name}: the controller has not seen generation {generation} yet"
        ));
    }
    if updated < want {
        return Ready::No(format!(
            "Deployment {name}: {updated} of {want} replicas updated"
        ));
    }
    if total > updated {
        return Ready::No(format!(
            "Deployment {name}: {} old replica(s) pending termination",
            total - updated
        ));
    }
    if available < updated {
        return Ready::No(format!(
            "Deployment {name}: {available} of {updated} updated replicas available"
        ));
    }
    Ready::Yes(format!("Deployment {name} {available}/{want} ready"))
}

/// StatefulSet readiness as `kubectl rollout status` judges it: the controller has seen the
/// latest spec, every replica is ready and updated, and the current revision is the update
/// revision (for a partitioned rolling update, the replicas at or above the partition).
pub fn statefulset_ready(name: &str, s: Option<&StatefulSet>) -> Ready {
    let Some(s) = s else {
        return Ready::No(format!("StatefulSet {name} does not exist"));
    };
    let spec = &s.spec;
    let want = spec.replicas.unwrap_or(1);
    let partition = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let on_delete = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete");
    let st = s.status.clone().unwrap_or_default();
    let generation = s.metadata.generation.unwrap_or(0);
    let observed = st.observed_generation.unwrap_or(0);
    let ready = st.ready_replicas.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    if observed < generation {
        return Ready::No(format!(
            "StatefulSet {name}: the controller has not seen generation {generation} yet"
        ));
    }
    if ready < want {
        return Ready::No(format!("StatefulSet {name} {ready}/{want} ready"));
    }
    if !on_delete {
        if partition > 0 {
            if updated < want - partition {
                return Ready::No(format!(
                    "StatefulSet {name}: {updated} of {} replicas above partition {partition} updated",
                    want - partition
                ));
            }
        } else if updated < want || st.current_revision != st.update_revision {
            return Ready::No(format!(
                "StatefulSet {name}: {updated} of {want} replicas updated (revision {} → {})",
                st.current_revision.as_deref().unwrap_or("?"),
                st.update_revision.as_deref().unwrap_or("?")
            ));
        }
    }
    Ready::Yes(format!("StatefulSet {name} {ready}/{want} ready"))
}

/// DaemonSet readiness as `kubectl rollout status` judges it.
pub fn daemonset_ready(name: &str, d: Option<&DaemonSet>) -> Ready {
    let Some(d) = d else {
        return Ready::No(format!("DaemonSet {name} does not exist"));
    };
    let st = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if st.observed_generation.unwrap_or(0) < generation {
        return Ready::No(format!(
            "DaemonSet {name}: the controller has not seen generation {generation} yet"
        ));
    }
    let want = st.desired_number_scheduled;
    let updated = st.updated_number_scheduled.unwrap_or(0);
    let available = st.number_available.unwrap_or(0);
    if updated < want {
        return Ready::No(format!(
            "DaemonSet {name}: {updated} of {want} pods updated"
        ));
    }
    if available < want {
        return Ready::No(format!(
            "DaemonSet {name}: {available} of {want} updated pods available"
        ));
    }
    Ready::Yes(format!("DaemonSet {name} {available}/{want} ready"))
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
        Workload::DaemonSet(name) => {
            let api: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
            let d = retry(&format!("reading DaemonSet {name}"), || api.get_opt(name)).await?;
            daemonset_ready(name, d.as_ref())
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

/// How often `until` checks again when nothing it watches has changed.
const RECHECK: Duration = Duration::from_secs(5);

/// Re-run `check` whenever `api` (narrowed by `config`) reports a change (and every
/// `RECHECK`), until it says ready; a timeout names `what` and the last reason.
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
        // A read-only wait: an interrupt ends it at once (nothing is left half-done). The
        // check also runs every few seconds without a change: what it reads besides the
        // watched object (events, pods) changes without waking the watch.
        let tick = remaining.min(RECHECK);
        let next = tokio::select! {
            next = tokio::time::timeout(tick, events.next()) => next,
            _ = crate::interrupt::wait() => {
                bail!("interrupted while waiting for {what} (last seen: {last})")
            }
        };
        match next {
            Err(_) if remaining > tick => {}
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
        Workload::DaemonSet(name) => {
            let api: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
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

    fn deploy(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "litellm", "generation": generation},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn deployments_are_ready_when_rolled_out_as_kubectl_judges() {
        let done = json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 2,
            "availableReplicas": 2, "updatedReplicas": 2});
        assert!(deployment_ready("litellm", Some(&deploy(2, done.clone()))).is_ready());
        // The controller has not seen the new spec.
        assert!(!deployment_ready("litellm", Some(&deploy(3, done))).is_ready());
        // Mid-rollout: both replicas updated, but an old one still runs (surge).
        let r = deployment_ready(
            "litellm",
            Some(&deploy(
                2,
                json!({"observedGeneration": 2,
            "replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "updatedReplicas": 2}),
            )),
        );
        assert_eq!(
            r,
            Ready::No("Deployment litellm: 1 old replica(s) pending termination".into())
        );
        // Updated but the new pod is not available yet.
        let r = deployment_ready(
            "litellm",
            Some(&deploy(
                2,
                json!({"observedGeneration": 2,
            "replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 2}),
            )),
        );
        assert!(!r.is_ready(), "{r:?}");
        // One of two updated.
        let r = deployment_ready(
            "litellm",
            Some(&deploy(
                2,
                json!({"observedGeneration": 2,
            "replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 1}),
            )),
        );
        assert_eq!(
            r,
            Ready::No("Deployment litellm: 1 of 2 replicas updated".into())
        );
        // A stuck rollout says so.
        let r = deployment_ready(
            "litellm",
            Some(&deploy(
                2,
                json!({"observedGeneration": 2,
            "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1,
            "conditions": [{"type": "Progressing", "status": "False",
                "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet has timed out progressing."}]}),
            )),
        );
        assert!(r.text().contains("progress deadline"), "{r:?}");
        assert_eq!(
            deployment_ready("x", None),
            Ready::No("Deployment x does not exist".into())
        );
    }

    #[test]
    fn statefulsets_need_every_replica_updated_and_one_revision() {
        let sts = |status: serde_json::Value, strategy: serde_json::Value| -> StatefulSet {
            serde_json::from_value(json!({
                "metadata": {"name": "redis", "generation": 4},
                "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "r",
                    "updateStrategy": strategy},
                "status": status
            }))
            .unwrap()
        };
        let rolling = json!({"type": "RollingUpdate"});
        let done = json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3,
            "updatedReplicas": 3, "currentRevision": "redis-b", "updateRevision": "redis-b"});
        assert!(statefulset_ready("redis", Some(&sts(done, rolling.clone()))).is_ready());
        // All ready, but one pod still runs the old revision.
        let mid = json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3,
            "updatedReplicas": 2, "currentRevision": "redis-a", "updateRevision": "redis-b"});
        let r = statefulset_ready("redis", Some(&sts(mid.clone(), rolling)));
        assert!(r.text().contains("2 of 3 replicas updated"), "{r:?}");
        // A partition of 1: the two replicas above it are what must be updated.
        let partitioned = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
        assert!(statefulset_ready("redis", Some(&sts(mid.clone(), partitioned))).is_ready());
        // OnDelete: readiness only.
        assert!(
            statefulset_ready("redis", Some(&sts(mid, json!({"type": "OnDelete"})))).is_ready()
        );
        let not_ready = json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 2,
            "updatedReplicas": 3, "currentRevision": "redis-b", "updateRevision": "redis-b"});
        assert!(
            !statefulset_ready(
                "redis",
                Some(&sts(not_ready, json!({"type": "RollingUpdate"})))
            )
            .is_ready()
        );
    }

    #[test]
    fn daemonsets_need_every_pod_updated_and_available() {
        let ds = |updated: i32, available: i32| -> DaemonSet {
            serde_json::from_value(json!({
                "metadata": {"name": "node-exporter", "generation": 2},
                "spec": {"selector": {}, "template": {}},
                "status": {"observedGeneration": 2, "desiredNumberScheduled": 3,
                    "currentNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": available,
                    "updatedNumberScheduled": updated, "numberAvailable": available}
            }))
            .unwrap()
        };
        assert!(daemonset_ready("node-exporter", Some(&ds(3, 3))).is_ready());
        assert!(!daemonset_ready("node-exporter", Some(&ds(2, 3))).is_ready());
        assert!(!daemonset_ready("node-exporter", Some(&ds(3, 2))).is_ready());
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
