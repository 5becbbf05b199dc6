//! A helm release's record read straight from helm's storage (the `sh.helm.release.v1.*`
//! Secrets, helm's default driver in helm 3 and 4) through the API client deployctl already
//! holds: one list call instead of a helm process per release, which is most of what a
//! healthy re-run costs. When the storage cannot be read this way (another `HELM_DRIVER`, no
//! permission to list Secrets, an encoding not recognised) the caller asks helm itself.
//!
//! The record also carries what the release was installed *with* (`config`: the values
//! given with `-f`, merged) and what helm applied (`manifest`): the drift check compares the
//! first with what a run would install, `uninstall` reads the second for what goes with it.
//! `leftovers` finds the objects of an install whose record is gone (helm's cancel raced its
//! own clean-up).

use crate::platform::kubeapi::errors::retry;
use crate::platform::tools::helm::ReleaseStatus;
use anyhow::Result;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use std::io::Read;

/// The latest revision of a release as helm stored it.
#[derive(Debug, Clone)]
pub struct Record {
    pub status: ReleaseStatus,
    /// The user-supplied values (`-f` files merged), as helm keeps them (`config`).
    pub config: serde_json::Value,
    /// The rendered objects helm applied, as multi-document YAML.
    pub manifest: String,
    /// The hooks' objects (helm keeps them apart from the manifest), as multi-document YAML.
    pub hooks: String,
    /// The chart's appVersion.
    pub app_version: String,
    /// When this revision's operation started (`info.last_deployed`).
    pub last_deployed: Option<jiff::Timestamp>,
}

/// `Some(None)`: not installed; `Some(Some(s))`: its latest revision; `None`: not readable
/// this way (ask helm).
pub async fn release_status(
    client: &kube::Client,
    name: &str,
    namespace: &str,
) -> Result<Option<Option<ReleaseStatus>>> {
    Ok(release_record(client, name, namespace)
        .await?
        .map(|r| r.map(|r| r.status)))
}

/// The latest revision's whole record; `None` when it cannot be read this way.
pub async fn release_record(
    client: &kube::Client,
    name: &str,
    namespace: &str,
) -> Result<Option<Option<Record>>> {
    if std::env::var("HELM_DRIVER").is_ok_and(|d| !matches!(d.as_str(), "" | "secret" | "secrets"))
    {
        return Ok(None);
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default().labels(&format!("owner=helm,name={name}"));
    let list = match retry(&format!("reading helm's record of `{name}`"), || {
        api.list(&lp)
    })
    .await
    {
        Ok(l) => l,
        // Not allowed to list Secrets here: helm (with its own access) decides.
        Err(_) => return Ok(None),
    };
    let latest = list
        .items
        .iter()
        .filter(|s| s.type_.as_deref() == Some("helm.sh/release.v1"))
        .max_by_key(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("version"))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        });
    let Some(secret) = latest else {
        return Ok(Some(None));
    };
    Ok(decode(secret).map(Some))
}

/// helm's encoding: the release as JSON, gzip-compressed, base64 (inside the Secret's own
/// base64, which the client already undid).
fn decode(secret: &Secret) -> Option<Record> {
    let raw = secret.data.as_ref()?.get("release")?;
    let text = std::str::from_utf8(&raw.0).ok()?;
    let bytes = crate::platform::encoding::decode(text.trim())?;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        bytes
    };
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    Some(Record {
        status: ReleaseStatus {
            status: v["info"]["status"].as_str()?.to_string(),
            revision: v["version"].as_i64().unwrap_or(0),
            chart_version: v["chart"]["metadata"]["version"].as_str()?.to_string(),
            description: v["info"]["description"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        },
        config: match &v["config"] {
            serde_json::Value::Null => serde_json::json!({}),
            c => c.clone(),
        },
        manifest: v["manifest"].as_str().unwrap_or_default().to_string(),
        hooks: hooks_manifest(&v),
        app_version: v["chart"]["metadata"]["appVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        last_deployed: v["info"]["last_deployed"]
            .as_str()
            .and_then(|t| t.parse().ok()),
    })
}

/// A release's hooks (`hooks[].manifest`, as helm stores them and as `--dry-run -o json`
/// prints them) as one multi-document YAML.
pub fn hooks_manifest(release: &serde_json::Value) -> String {
    release["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["manifest"].as_str())
        .map(|m| format!("---\n{}\n", m.trim()))
        .collect()
}

/// The kinds `leftovers` looks at: what the stack's charts create that keeps running or
/// keeps intercepting requests (workloads, Services, webhooks) and what they need.
const LEFTOVER_KINDS: &[(&str, &str, &str, bool)] = &[
    ("apps", "v1", "Deployment", true),
    ("apps", "v1", "StatefulSet", true),
    ("apps", "v1", "DaemonSet", true),
    ("batch", "v1", "Job", true),
    ("", "v1", "Service", true),
    ("", "v1", "ConfigMap", true),
    ("", "v1", "ServiceAccount", true),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        false,
    ),
];

/// Objects helm made for `release` (its label `app.kubernetes.io/managed-by=Helm` and its
/// release annotations) — for a release that has no record: what an interrupted install
/// left behind. A re-install adopts them (helm takes over objects that carry its own
/// ownership metadata). "Kind/name" each, sorted.
pub async fn leftovers(client: &kube::Client, release: &str, namespace: &str) -> Vec<String> {
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=Helm");
    let lists = LEFTOVER_KINDS
        .iter()
        .map(|(group, version, kind, namespaced)| {
            let lp = lp.clone();
            async move {
                let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
                let ar = ApiResource::from_gvk(&gvk);
                let api: Api<DynamicObject> = if *namespaced {
                    Api::namespaced_with(client.clone(), namespace, &ar)
                } else {
                    Api::all_with(client.clone(), &ar)
                };
                // A kind that cannot be listed is not evidence of anything: skipped.
                let Ok(list) = api.list(&lp).await else {
                    return Vec::new();
                };
                list.items
                    .into_iter()
                    .filter(|o| {
                        let a = o.metadata.annotations.clone().unwrap_or_default();
                        a.get("meta.helm.sh/release-name").map(String::as_str) == Some(release)
                            && a.get("meta.helm.sh/release-namespace").map(String::as_str)
                                == Some(namespace)
                    })
                    .map(|o| format!("{kind}/{}", o.metadata.name.unwrap_or_default()))
                    .collect::<Vec<_>>()
            }
        });
    let mut found: Vec<String> = futures::future::join_all(lists)
        .await
        .into_iter()
        .flatten()
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn secret(release: &serde_json::Value) -> Secret {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        let b64 = crate::platform::encoding::base64(&gz.finish().unwrap());
        Secret {
            data: Some(
                [(
                    "release".to_string(),
                    k8s_openapi::ByteString(b64.into_bytes()),
                )]
                .into(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn decodes_helms_record() {
        let s = secret(&serde_json::json!({
            "name": "redis", "version": 3,
            "info": {"status": "failed", "description": "Upgrade \"redis\" failed: timed out"},
            "chart": {"metadata": {"name": "redis-ha", "version": "4.35.5"}},
        }));
        let st = decode(&s).unwrap().status;
        assert_eq!(st.status, "failed");
        assert_eq!(st.revision, 3);
        assert_eq!(st.chart_version, "4.35.5");
        assert!(st.description.contains("timed out"));
        // Not helm's encoding: not decoded (the caller asks helm).
        let bad = Secret {
            data: Some(
                [(
                    "release".to_string(),
                    k8s_openapi::ByteString(b"%%%".to_vec()),
                )]
                .into(),
            ),
            ..Default::default()
        };
        assert!(decode(&bad).is_none());
    }
}
