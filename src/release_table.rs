//! The helm releases of the stack as data: which step installs which release, the workloads
//! that must be ready, what else it needs, the overlay of run values it gets (role ARNs,
//! region) and the Services it exposes. The release steps install from this table; `render`
//! renders and checks the same rows offline.

use crate::graph::StepId;
use crate::kube::wait::Workload;
use anyhow::{Context as _, Result, anyhow};
use serde_json::{Value, json};
use std::io::Write;

/// What a release needs beyond helm and its workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    None,
    /// Before install: the Grafana admin Secret (random password, kept once made).
    GrafanaAdmin,
    /// After install: LiteLLM's /health/liveliness through the API server's service proxy.
    Liveliness,
}

#[derive(Debug, Clone, Copy)]
pub struct ReleaseDef {
    pub step: StepId,
    /// The release name in helm-values/releases.yaml.
    pub release: &'static str,
    pub workloads: &'static [Workload],
    pub extra: Extra,
}

pub const RELEASES: &[ReleaseDef] = &[
    ReleaseDef {
        step: StepId::ExternalSecrets,
        release: "external-secrets",
        workloads: &[
            Workload::Deployment("external-secrets"),
            Workload::Deployment("external-secrets-webhook"),
            Workload::Deployment("external-secrets-cert-controller"),
        ],
        extra: Extra::None,
    },
    ReleaseDef {
        step: StepId::Gatekeeper,
        release: "gatekeeper",
        workloads: &[
            Workload::Pods("control-plane=controller-manager"),
            Workload::Pods("control-plane=audit-controller"),
        ],
        extra: Extra::None,
    },
    ReleaseDef {
        step: StepId::Monitoring,
        release: "kube-prometheus",
        workloads: &[
            Workload::Pods("app.kubernetes.io/name=grafana"),
            Workload::Pods("app.kubernetes.io/name=prometheus"),
            Workload::Pods("app.kubernetes.io/name=alertmanager"),
        ],
        extra: Extra::GrafanaAdmin,
    },
    ReleaseDef {
        step: StepId::Jaeger,
        release: "jaeger",
        workloads: &[Workload::Pods("app.kubernetes.io/name=jaeger")],
        extra: Extra::None,
    },
    ReleaseDef {
        step: StepId::Redis,
        release: "redis",
        workloads: &[
            Workload::StatefulSet("redis-redis-ha-server"),
            // LiteLLM reaches the master through HAProxy (helm-values/redis.yaml).
            Workload::Deployment("redis-redis-ha-haproxy"),
            // The sentinel container's readiness probe pings sentinel on 26379.
            Workload::Container {
                selector: "app=redis-ha,release=redis",
                container: "sentinel",
            },
        ],
        extra: Extra::None,
    },
    ReleaseDef {
        step: StepId::Litellm,
        release: "litellm",
        workloads: &[Workload::Pods("app.kubernetes.io/name=litellm")],
        extra: Extra::Liveliness,
    },
    ReleaseDef {
        step: StepId::Openwebui,
        release: "open-webui",
        workloads: &[Workload::Pods("app.kubernetes.io/name=open-webui")],
        extra: Extra::None,
    },
];

pub const GRAFANA_ADMIN_SECRET: &str = "grafana-admin-credentials";
/// LiteLLM's Service and port (the chart's fullname for release `litellm`).
pub const LITELLM_SERVICE: &str = "litellm";
pub const LITELLM_PORT: u16 = 4000;

/// Inputs of the generated overlays.
#[derive(Debug, Clone)]
pub struct OverlayInputs {
    pub partition: String,
    pub account: String,
    pub region: String,
    /// The cluster: the IRSA role names carry it.
    pub cluster: String,
}

fn role_arn(i: &OverlayInputs, service_account: &str) -> Result<String> {
    let role = crate::roles::ROLES
        .iter()
        .find(|r| r.service_account == service_account)
        .ok_or_else(|| anyhow!("internal error: no IRSA role for {service_account}"))?;
    Ok(format!(
        "arn:{}:iam::{}:role/{}",
        i.partition,
        i.account,
        role.name(&i.cluster)
    ))
}

/// The dynamic values of a release, as a values document (JSON is YAML).
pub fn overlay(release: &str, i: &OverlayInputs) -> Result<Value> {
    let annotation = |sa: &str| -> Result<Value> {
        Ok(json!({"serviceAccount": {"annotations": {
            "eks.amazonaws.com/role-arn": role_arn(i, sa)?
        }}}))
    };
    Ok(match release {
        "external-secrets" => annotation("external-secrets")?,
        "litellm" => {
            let mut v = annotation("litellm-sa")?;
            // Bedrock is called in the deploy region (the original hard-wired us-east-1).
            v["envVars"] = json!({"AWS_REGION": i.region, "AWS_DEFAULT_REGION": i.region});
            v
        }
        _ => json!({}),
    })
}

/// Whether a release's overlay needs the AWS account (role ARNs).
pub fn overlay_needs_account(release: &str) -> bool {
    matches!(release, "external-secrets" | "litellm")
}

/// Write the overlay to a private directory: dir 0700, file 0600.
pub fn write_overlay(release: &str, v: &Value) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = crate::tools::private_tempdir("deployctl-values-")
        .context("creating a private directory for the values overlay")?;
    let path = dir.path().join(format!("{release}-overlay.yaml"));
    let mut f = {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(&path)
            .with_context(|| format!("writing {}", path.display()))?
    };
    writeln!(
        f,
        "# Generated by deployctl for release {release}; removed after the helm call."
    )?;
    writeln!(f, "{}", serde_json::to_string_pretty(v)?)?;
    Ok((dir, path))
}

/// How to reach the UIs: (what, namespace, service, local:remote port).
pub const ACCESS: &[(&str, &str, &str, &str)] = &[
    ("OpenWebUI", "open-webui", "open-webui", "8080:80"),
    (
        "Grafana",
        "monitoring",
        "kube-prometheus-grafana",
        "3000:80",
    ),
    (
        "Prometheus",
        "monitoring",
        "kube-prometheus-kube-prome-prometheus",
        "9090:9090",
    ),
    // Jaeger v2's one Service (release jaeger, chart 4.x): the query UI is port 16686.
    ("Jaeger", "monitoring", "jaeger", "16686:16686"),
    ("LiteLLM API", "litellm", "litellm", "4000:4000"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_carry_role_arns_of_irsa_roles_and_the_region() {
        let i = OverlayInputs {
            partition: "aws".into(),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            cluster: "prod-eks".into(),
        };
        let eso = overlay("external-secrets", &i).unwrap();
        assert_eq!(
            eso["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::111122223333:role/prod-eks-external-secrets"
        );
        let litellm = overlay("litellm", &i).unwrap();
        assert_eq!(litellm["envVars"]["AWS_DEFAULT_REGION"], "eu-west-1");
        assert_eq!(overlay("redis", &i).unwrap(), json!({}));
    }

    #[test]
    fn overlay_files_are_private_and_removed() {
        let (dir, path) = write_overlay("x", &json!({"a": 1})).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(parsed["a"], 1);
        drop(dir);
        assert!(!path.exists());
    }
}
