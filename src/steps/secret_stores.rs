//! `secret-stores`: the ClusterSecretStore (wait for Ready), then the ExternalSecrets (wait for
//! each to sync; a timeout names the ExternalSecret and its condition message). Also the
//! follow-through of a redis-password rotation: force a re-sync, restart Redis and LiteLLM.

use super::{Findings, Step, load_manifests};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::kubeapi::apply::apply_documents;
use crate::platform::kubeapi::dynamic_api;
use crate::platform::kubeapi::errors::retry;
use crate::platform::kubeapi::wait::{self, Ready, Workload};
use crate::stack::manifest::Document;
use anyhow::{Result, anyhow};
use async_trait::async_trait;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

pub const STORE_FILE: &str = "manifests/secret-store.yaml";
pub const EXTERNAL_SECRETS_FILE: &str = "manifests/external-secrets.yaml";
/// The OIDC client secret's ExternalSecret: applied only with single sign-on configured.
pub use crate::stack::manifest::OIDC_FILE;

/// The ExternalSecrets this configuration wants (the OIDC one only with single sign-on).
pub fn external_secret_docs(cx: &Context) -> Result<Vec<crate::stack::manifest::Document>> {
    let mut docs = load_manifests(cx, EXTERNAL_SECRETS_FILE)?;
    if cx.settings.access.oidc.is_some() {
        docs.extend(load_manifests(cx, OIDC_FILE)?);
    }
    Ok(docs)
}
pub const STORE_NAME: &str = "aws-secrets-manager";

fn store_api(client: &kube::Client) -> Api<DynamicObject> {
    dynamic_api(
        client,
        "external-secrets.io/v1",
        "ClusterSecretStore",
        "clustersecretstores",
        None,
    )
}

fn es_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    dynamic_api(
        client,
        "external-secrets.io/v1",
        "ExternalSecret",
        "externalsecrets",
        Some(ns),
    )
}

/// The Ready condition: (status, reason, message).
fn ready_condition(obj: &DynamicObject) -> Option<(String, String, String)> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_string(),
                c["reason"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
}

/// A store or ExternalSecret is ready when its Ready condition is True — and, for an
/// ExternalSecret that reports what it synced, for its current generation.
pub fn object_ready(what: &str, obj: Option<&DynamicObject>) -> Ready {
    let Some(obj) = obj else {
        return Ready::No(format!("{what} does not exist"));
    };
    let generation = obj.metadata.generation.unwrap_or(0);
    if let Some(synced) = obj.data["status"]["syncedResourceVersion"].as_str()
        && !synced.starts_with(&format!("{generation}-"))
    {
        return Ready::No(format!("{what} has not synced its latest spec yet"));
    }
    match ready_condition(obj) {
        Some((s, _, _)) if s == "True" => Ready::Yes(format!("{what} ready")),
        Some((s, reason, message)) => Ready::No(format!(
            "{what} is not ready (Ready={s}{}{})",
            if reason.is_empty() {
                String::new()
            } else {
                format!(", {reason}")
            },
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        )),
        None => Ready::No(format!("{what} reports no Ready condition yet")),
    }
}

async fn wait_object(
    api: Api<DynamicObject>,
    name: &str,
    what: &str,
    timeout: std::time::Duration,
) -> Result<String> {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let get_api = api.clone();
    wait::until(api, cfg, what, timeout, || {
        let api = get_api.clone();
        async move {
            let obj = retry(&format!("reading {what}"), || api.get_opt(name)).await?;
            Ok(object_ready(what, obj.as_ref()))
        }
    })
    .await
}

fn describe_es(doc: &Document) -> String {
    format!(
        "ExternalSecret {}/{}",
        doc.namespace().unwrap_or("default"),
        doc.name()
    )
}

/// The AWS secret names an ExternalSecret document reads.
pub fn remote_keys(doc: &Document) -> Vec<String> {
    doc.value["spec"]["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["remoteRef"]["key"].as_str().map(str::to_string))
        .collect()
}

pub struct SecretStores;

#[async_trait]
impl Step for SecretStores {
    fn id(&self) -> StepId {
        StepId::SecretStores
    }
    fn resource(&self, cx: &Context) -> String {
        let names = external_secret_docs(cx)
            .map(|d| d.iter().map(|d| d.name().to_string()).collect::<Vec<_>>())
            .unwrap_or_default();
        format!(
            "ClusterSecretStore {STORE_NAME} and ExternalSecrets {}",
            names.join(", ")
        )
    }
    fn exists(&self) -> &'static str {
        "exist"
    }

    async fn assess(&self, cx: &Context) -> Result<State> {
        let client = cx.kube()?;
        let docs = external_secret_docs(cx)?;
        let sapi = store_api(&client);
        let store = retry("reading the ClusterSecretStore", || {
            sapi.get_opt(STORE_NAME)
        })
        .await?;
        let found = futures::future::try_join_all(docs.iter().map(|d| {
            let api = es_api(&client, d.namespace().unwrap_or("default"));
            async move {
                retry(&format!("reading {}", describe_es(d)), || {
                    api.get_opt(d.name())
                })
                .await
            }
        }))
        .await?;
        if store.is_none() && found.iter().all(Option::is_none) {
            return Ok(State::Missing);
        }
        let mut problems = Vec::new();
        let store_ready = object_ready(&format!("ClusterSecretStore {STORE_NAME}"), store.as_ref());
        if !store_ready.is_ready() {
            problems.push(store_ready.text().to_string());
        }
        if let Some(s) = &store
            && s.data["spec"]["provider"]["aws"]["region"] != cx.settings.region.as_str()
        {
            problems.push(format!(
                "the store reads region {}, this run deploys to {}",
                s.data["spec"]["provider"]["aws"]["region"], cx.settings.region
            ));
        }
        for (d, obj) in docs.iter().zip(&found) {
            let r = object_ready(&describe_es(d), obj.as_ref());
            if !r.is_ready() {
                problems.push(r.text().to_string());
            }
            if let Some(o) = obj {
                let have: Vec<String> = o.data["spec"]["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x["remoteRef"]["key"].as_str().map(str::to_string))
                    .collect();
                if have != remote_keys(d) {
                    problems.push(format!(
                        "{} reads {}, the manifest says {}",
                        describe_es(d),
                        have.join(", "),
                        remote_keys(d).join(", ")
                    ));
                }
            }
        }
        if problems.is_empty() {
            // Ready and reading the right keys: what an apply would still change (an edited
            // refresh interval, a target changed in the manifests) makes it unhealthy.
            let mut all = load_manifests(cx, STORE_FILE)?;
            all.extend(docs.iter().cloned());
            let drift = crate::platform::kubeapi::apply::drift(&client, &all).await?;
            if !drift.is_empty() {
                problems.push(format!("an apply would change {}", drift.join("; ")));
            }
        }
        Ok(if problems.is_empty() {
            State::Healthy(format!(
                "store ready; {} ExternalSecrets synced",
                docs.len()
            ))
        } else {
            State::Unhealthy(problems.join("; "))
        })
    }

    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let client = cx.kube()?;
        let timeout = cx.settings.sync_timeout;
        let store = load_manifests(cx, STORE_FILE)?;
        apply_documents(&client, &store).await?;
        wait_object(
            store_api(&client),
            STORE_NAME,
            &format!("ClusterSecretStore {STORE_NAME}"),
            timeout,
        )
        .await?;
        let docs = external_secret_docs(cx)?;
        apply_documents(&client, &docs).await?;
        let waits = docs.iter().map(|d| {
            let api = es_api(&client, d.namespace().unwrap_or("default"));
            let what = describe_es(d);
            async move { wait_object(api, d.name(), &what, timeout).await }
        });
        futures::future::try_join_all(waits).await?;
        Ok(format!(
            "store {STORE_NAME} ready; {} ExternalSecrets synced",
            docs.len()
        ))
    }

    fn removes(&self, _cx: &Context) -> Option<String> {
        Some(format!(
            "ClusterSecretStore and ExternalSecrets ({STORE_FILE}, {EXTERNAL_SECRETS_FILE}); the Kubernetes Secrets they made go with them"
        ))
    }

    async fn remove(&self, cx: &Context) -> Result<String> {
        let mut docs = load_manifests(cx, STORE_FILE)?;
        docs.extend(load_manifests(cx, EXTERNAL_SECRETS_FILE)?);
        // An earlier configuration's OIDC ExternalSecret goes too (absent: nothing to do).
        docs.extend(load_manifests(cx, OIDC_FILE)?);
        let deleted = crate::platform::kubeapi::apply::delete_documents(&cx.kube()?, &docs).await?;
        Ok(super::objects::removed_summary(&deleted))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let client = cx.kube()?;
        let mut lines = Vec::new();
        let sapi = store_api(&client);
        let store = retry("reading the ClusterSecretStore", || {
            sapi.get_opt(STORE_NAME)
        })
        .await?;
        lines.push(format!(
            "  {}",
            object_ready(&format!("ClusterSecretStore {STORE_NAME}"), store.as_ref()).text()
        ));
        for d in external_secret_docs(cx)? {
            let api = es_api(&client, d.namespace().unwrap_or("default"));
            let obj = retry("reading ExternalSecrets", || api.get_opt(d.name())).await?;
            lines.push(format!(
                "  {} ← {}",
                object_ready(&describe_es(&d), obj.as_ref()).text(),
                remote_keys(&d).join(", ")
            ));
        }
        Ok(lines.join("\n"))
    }
}

/// Before redis-password is rotated in AWS: the cluster that must follow is proven (the
/// context guard) and answers (the ExternalSecret and the workloads can be read). Anything
/// else refuses the rotation before a value changes.
pub async fn prove_redis_follow_through(cx: &Context) -> Result<()> {
    let client = match cx.kube() {
        Ok(c) => c,
        Err(_) => {
            let (c, target) = crate::cluster::connect_kube(cx).await?;
            cx.set_kube(c.clone());
            cx.set_kube_context(target.context);
            c
        }
    };
    let ns = "litellm";
    let api = es_api(&client, ns);
    retry("reading ExternalSecret redis-credentials", || {
        api.get_opt("redis-credentials")
    })
    .await?;
    for (kind, plural, name) in [
        ("StatefulSet", "statefulsets", "redis-redis-ha-server"),
        ("Deployment", "deployments", "litellm"),
    ] {
        let wapi = dynamic_api(&client, "apps/v1", kind, plural, Some(ns));
        retry(&format!("reading {kind} {name}"), || wapi.get_opt(name)).await?;
    }
    Ok(())
}

/// Force ExternalSecret `ns/name` to re-sync and wait until it has (false: not deployed).
async fn force_sync(cx: &Context, client: &kube::Client, ns: &str, name: &str) -> Result<bool> {
    let api = es_api(client, ns);
    if retry(&format!("reading ExternalSecret {name}"), || {
        api.get_opt(name)
    })
    .await?
    .is_none()
    {
        return Ok(false);
    }
    let stamp = jiff::Timestamp::now();
    let patch = json!({"metadata": {"annotations": {"force-sync": stamp.as_second().to_string()}}});
    let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
    retry(&format!("forcing ExternalSecret {name} to re-sync"), || {
        api.patch(name, &params, &merge)
    })
    .await?;
    let what = format!("ExternalSecret {ns}/{name} to re-sync");
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let get_api = api.clone();
    let label = format!("ExternalSecret {name}");
    wait::until(api.clone(), cfg, &what, cx.settings.sync_timeout, || {
        let api = get_api.clone();
        let label = label.clone();
        async move {
            let obj = retry(&format!("reading {label}"), || api.get_opt(name)).await?;
            let refreshed = obj
                .as_ref()
                .and_then(|o| o.data["status"]["refreshTime"].as_str())
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t.as_second() >= stamp.as_second());
            Ok(match object_ready(&label, obj.as_ref()) {
                Ready::Yes(t) if refreshed => Ready::Yes(t),
                Ready::Yes(_) => Ready::No("not refreshed since the rotation".into()),
                no => no,
            })
        }
    })
    .await?;
    Ok(true)
}

/// After redis-password rotated in AWS: force the ExternalSecrets made from it to re-sync,
/// then restart Redis, LiteLLM and OpenWebUI so they use the new password. Says what it did.
pub async fn follow_redis_rotation(cx: &Context) -> Result<String> {
    let client = match cx.kube() {
        Ok(c) => c,
        Err(_) => {
            let (c, target) = crate::cluster::connect_kube(cx).await.map_err(|e| {
                anyhow!(
                    "rotated redis-password in AWS, but cannot reach the cluster to refresh it: {e:#}. \
                     Refresh by hand: kubectl -n litellm annotate externalsecret redis-credentials force-sync=$(date +%s) --overwrite; \
                     kubectl -n open-webui annotate externalsecret openwebui-redis force-sync=$(date +%s) --overwrite; \
                     kubectl -n litellm rollout restart statefulset/redis-redis-ha-server deployment/litellm; \
                     kubectl -n open-webui rollout restart deployment/open-webui"
                )
            })?;
            cx.set_kube(c.clone());
            cx.set_kube_context(target.context);
            c
        }
    };
    let mut done = Vec::new();
    // Every Secret made from redis-password: LiteLLM's and Redis's, and OpenWebUI's Redis URL.
    let mut synced = 0;
    for (ns, name) in [
        ("litellm", "redis-credentials"),
        ("open-webui", "openwebui-redis"),
    ] {
        if force_sync(cx, &client, ns, name).await? {
            done.push(format!("re-synced ExternalSecret {name}"));
            synced += 1;
        }
    }
    if synced == 0 {
        return Ok(
            "ExternalSecret redis-credentials is not deployed yet; nothing to refresh".into(),
        );
    }
    let restarted_at = jiff::Timestamp::now().to_string();
    for (ns, kind, plural, wname, workload) in [
        (
            "litellm",
            "StatefulSet",
            "statefulsets",
            "redis-redis-ha-server",
            Workload::StatefulSet("redis-redis-ha-server"),
        ),
        (
            "litellm",
            "Deployment",
            "deployments",
            "litellm",
            Workload::Deployment("litellm"),
        ),
        (
            "open-webui",
            "Deployment",
            "deployments",
            "open-webui",
            Workload::Deployment("open-webui"),
        ),
    ] {
        let wapi = dynamic_api(&client, "apps/v1", kind, plural, Some(ns));
        if retry(&format!("reading {kind} {wname}"), || wapi.get_opt(wname))
            .await?
            .is_none()
        {
            continue;
        }
        let patch: Value = json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": restarted_at
        }}}}});
        let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
        retry(&format!("restarting {kind} {wname}"), || {
            wapi.patch(wname, &params, &merge)
        })
        .await?;
        wait::workload(&client, ns, workload, std::time::Duration::from_secs(300)).await?;
        done.push(format!("restarted {kind} {wname}"));
    }
    Ok(done.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ready_needs_the_condition_and_the_current_generation() {
        let ok = obj(
            json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "a", "generation": 2},
            "status": {"syncedResourceVersion": "2-abc", "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert!(object_ready("es", Some(&ok)).is_ready());
        let stale = obj(
            json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "a", "generation": 3},
            "status": {"syncedResourceVersion": "2-abc", "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert!(!object_ready("es", Some(&stale)).is_ready());
        let failing = obj(
            json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "a"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretSyncedError",
              "message": "could not get secret data from provider"}]}}),
        );
        assert_eq!(
            object_ready("ExternalSecret litellm/a", Some(&failing)).text(),
            "ExternalSecret litellm/a is not ready (Ready=False, SecretSyncedError: could not get secret data from provider)"
        );
    }
}
