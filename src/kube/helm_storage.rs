//! A helm release's status read straight from helm's storage (the `sh.helm.release.v1.*`
//! Secrets, helm's default driver in helm 3 and 4) through the API client deployctl already
//! holds: one list call instead of a helm process per release, which is most of what a
//! healthy re-run costs. When the storage cannot be read this way (another `HELM_DRIVER`, no
//! permission to list Secrets, an encoding not recognised) the caller asks helm itself.

use crate::kube::errors::retry;
use crate::tools::helm::ReleaseStatus;
use anyhow::Result;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use std::io::Read;

/// `Some(None)`: not installed; `Some(Some(s))`: its latest revision; `None`: not readable
/// this way (ask helm).
pub async fn release_status(
    client: &kube::Client,
    name: &str,
    namespace: &str,
) -> Result<Option<Option<ReleaseStatus>>> {
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
fn decode(secret: &Secret) -> Option<ReleaseStatus> {
    let raw = secret.data.as_ref()?.get("release")?;
    let text = std::str::from_utf8(&raw.0).ok()?;
    let bytes = crate::encoding::decode(text.trim())?;
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
    Some(ReleaseStatus {
        status: v["info"]["status"].as_str()?.to_string(),
        revision: v["version"].as_i64().unwrap_or(0),
        chart_version: v["chart"]["metadata"]["version"].as_str()?.to_string(),
        description: v["info"]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn secret(release: &serde_json::Value) -> Secret {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        let b64 = crate::encoding::base64(&gz.finish().unwrap());
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
        let st = decode(&s).unwrap();
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
