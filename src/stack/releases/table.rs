//! The releases' rows (the pins are `super::Releases`): which step installs which release, the workloads
//! that must be ready, what else it needs, the overlay of run values it gets (role ARNs,
//! region) and the Services it exposes. The release steps install from this table; `render`
//! renders and checks the same rows offline.

use crate::graph::StepId;
use crate::platform::kubeapi::wait::Workload;
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
    /// Before install: OpenWebUI moves to PostgreSQL only when the SQLite data of an earlier
    /// install (PVC `open-webui`) was migrated (OPENWEBUI_SQLITE_MIGRATED): refused otherwise,
    /// so nobody finds an empty OpenWebUI.
    OpenwebuiSqlite,
}

#[derive(Debug, Clone, Copy)]
pub struct ReleaseDef {
    pub step: StepId,
    /// The release name in helm-values/releases.yaml.
    pub release: &'static str,
    pub workloads: &'static [Workload],
    pub extra: Extra,
    /// PersistentVolumeClaims the chart templates that hold what people made (chats,
    /// dashboards): the values keep them through `uninstall` (`helm.sh/resource-policy:
    /// keep`) and the release step sets their volumes' reclaim policy to Retain.
    pub data_claims: &'static [&'static str],
    /// API groups of the CRDs the release installs (they stay after `uninstall`; helm never
    /// deletes CRDs).
    pub crd_groups: &'static [&'static str],
    /// The run values layered over helm-values/<release>.yaml. One that names IAM roles
    /// needs the account: its step's row says `uses_aws` (tested below).
    pub overlay: fn(&OverlayInputs) -> Result<Value>,
    /// Installed only when an entry point is configured (`access::Access::entry_point`);
    /// otherwise the step is skipped, saying how to add one.
    pub entry_point_only: bool,
    /// A ServiceAccount deployctl applies before helm runs (the values say
    /// `serviceAccount.create: false`): the chart's pre-install hooks run as it, before any
    /// object of the chart exists. Its annotations come from the overlay's
    /// `serviceAccount.annotations`; `uninstall` deletes it after the release.
    pub service_account_first: Option<&'static str>,
}

impl ReleaseDef {
    /// Whether the overlay needs the AWS account (role ARNs): the step's row says so.
    pub fn needs_account(&self) -> bool {
        self.step.def().uses_aws
    }
}

/// The release row of a release step.
pub fn of(step: StepId) -> ReleaseDef {
    *RELEASES
        .iter()
        .find(|r| r.step == step)
        .unwrap_or_else(|| unreachable!("step {step} has no release row"))
}

/// The row of the release called `release` (releases.yaml's name).
pub fn named(release: &str) -> Option<&'static ReleaseDef> {
    RELEASES.iter().find(|r| r.release == release)
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
        data_claims: &[],
        crd_groups: &["external-secrets.io"],
        overlay: external_secrets_overlay,
        entry_point_only: false,
        service_account_first: None,
    },
    ReleaseDef {
        step: StepId::Gatekeeper,
        release: "gatekeeper",
        workloads: &[
            Workload::Pods("control-plane=controller-manager"),
            Workload::Pods("control-plane=audit-controller"),
        ],
        extra: Extra::None,
        data_claims: &[],
        crd_groups: &["gatekeeper.sh"],
        overlay: no_overlay,
        entry_point_only: false,
        service_account_first: None,
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
        data_claims: &["kube-prometheus-grafana"],
        crd_groups: &["monitoring.coreos.com"],
        overlay: no_overlay,
        entry_point_only: false,
        service_account_first: None,
    },
    ReleaseDef {
        step: StepId::Jaeger,
        release: "jaeger",
        workloads: &[Workload::Pods("app.kubernetes.io/name=jaeger")],
        extra: Extra::None,
        data_claims: &[],
        crd_groups: &[],
        overlay: no_overlay,
        entry_point_only: false,
        service_account_first: None,
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
        data_claims: &[],
        crd_groups: &[],
        overlay: no_overlay,
        entry_point_only: false,
        service_account_first: None,
    },
    ReleaseDef {
        step: StepId::Litellm,
        release: "litellm",
        workloads: &[Workload::Pods("app.kubernetes.io/name=litellm")],
        extra: Extra::Liveliness,
        data_claims: &[],
        crd_groups: &[],
        overlay: litellm_overlay,
        entry_point_only: false,
        service_account_first: Some("litellm-sa"),
    },
    ReleaseDef {
        step: StepId::Openwebui,
        release: "open-webui",
        workloads: &[Workload::Pods("app.kubernetes.io/name=open-webui")],
        extra: Extra::OpenwebuiSqlite,
        // Its data is in PostgreSQL and S3: no claim (the PVC of an install from before is
        // kept, see Extra::OpenwebuiSqlite).
        data_claims: &[],
        crd_groups: &[],
        overlay: openwebui_overlay,
        entry_point_only: false,
        service_account_first: None,
    },
    ReleaseDef {
        step: StepId::LoadBalancerController,
        release: "aws-load-balancer-controller",
        workloads: &[Workload::Deployment("aws-load-balancer-controller")],
        extra: Extra::None,
        data_claims: &[],
        crd_groups: &["elbv2.k8s.aws", "aga.k8s.aws", "gateway.k8s.aws"],
        overlay: lb_controller_overlay,
        entry_point_only: true,
        service_account_first: None,
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
    /// The cluster's VPC (EKS DescribeCluster), for the load balancer controller.
    pub vpc_id: String,
    /// Who reaches the stack and how they sign in.
    pub access: crate::config::access::Access,
}

fn role_arn(i: &OverlayInputs, service_account: &str) -> Result<String> {
    let role = crate::stack::roles::ROLES
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

fn role_annotation(i: &OverlayInputs, service_account: &str) -> Result<Value> {
    Ok(json!({"serviceAccount": {"annotations": {
        "eks.amazonaws.com/role-arn": role_arn(i, service_account)?
    }}}))
}

fn no_overlay(_: &OverlayInputs) -> Result<Value> {
    Ok(json!({}))
}

fn external_secrets_overlay(i: &OverlayInputs) -> Result<Value> {
    role_annotation(i, "external-secrets")
}

fn lb_controller_overlay(i: &OverlayInputs) -> Result<Value> {
    let mut v = role_annotation(i, "aws-load-balancer-controller")?;
    v["clusterName"] = json!(i.cluster);
    v["region"] = json!(i.region);
    v["vpcId"] = json!(i.vpc_id);
    Ok(v)
}

/// `name=value` environment entries.
fn env(pairs: &[(&str, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect()
}

/// OpenWebUI's run values, as the chart's `commonEnvVars` (the values file keeps
/// `extraEnvVars`; a list in an overlay would replace the file's): the admin made at
/// start-up, and — with an entry point — its URL and single sign-on. Variable names as
/// OpenWebUI 0.11.0 reads them (`open_webui/env.py`, `open_webui/config.py`).
fn openwebui_overlay(i: &OverlayInputs) -> Result<Value> {
    let a = &i.access;
    // Uploads in the cluster's bucket (modules/uploads), through the IRSA role: the region's
    // S3 endpoint named (an empty one makes boto3 fail: config.py passes it as is).
    let mut vars = env(&[
        ("WEBUI_ADMIN_EMAIL", a.admin_email.clone()),
        ("DEFAULT_USER_ROLE", a.default_role.clone()),
        (
            "S3_BUCKET_NAME",
            crate::stack::roles::uploads_bucket(&i.account, &i.region, &i.cluster),
        ),
        ("S3_REGION_NAME", i.region.clone()),
        (
            "S3_ENDPOINT_URL",
            format!(
                "https://s3.{}.{}",
                i.region,
                crate::platform::aws::dns_suffix_of(&i.region)
            ),
        ),
    ]);
    if let Some(url) = a.openwebui_url() {
        vars.extend(env(&[("WEBUI_URL", url)]));
    }
    if let (Some(o), Some(redirect)) = (&a.oidc, a.redirect_url()) {
        vars.extend(env(&[
            ("ENABLE_OAUTH_SIGNUP", "true".into()),
            ("OAUTH_CLIENT_ID", o.client_id.clone()),
            ("OPENID_PROVIDER_URL", o.provider_url.clone()),
            ("OPENID_REDIRECT_URI", redirect),
            ("OAUTH_SCOPES", o.scopes.clone()),
            ("OAUTH_PROVIDER_NAME", o.provider_name.clone()),
        ]));
        if !o.allowed_domains.is_empty() {
            vars.extend(env(&[("OAUTH_ALLOWED_DOMAINS", o.allowed_domains.clone())]));
        }
        if !o.roles_claim.is_empty() {
            vars.extend(env(&[
                ("ENABLE_OAUTH_ROLE_MANAGEMENT", "true".into()),
                ("OAUTH_ROLES_CLAIM", o.roles_claim.clone()),
            ]));
            if !o.allowed_roles.is_empty() {
                vars.extend(env(&[("OAUTH_ALLOWED_ROLES", o.allowed_roles.clone())]));
            }
            if !o.admin_roles.is_empty() {
                vars.extend(env(&[("OAUTH_ADMIN_ROLES", o.admin_roles.clone())]));
            }
        }
        if !o.groups_claim.is_empty() {
            vars.extend(env(&[
                ("ENABLE_OAUTH_GROUP_MANAGEMENT", "true".into()),
                ("OAUTH_GROUPS_CLAIM", o.groups_claim.clone()),
            ]));
        }
        // The client secret from Secrets Manager, synced by External Secrets
        // (manifests/openwebui-oidc.yaml); never a value in the release.
        vars.push(
            json!({"name": "OAUTH_CLIENT_SECRET", "valueFrom": {"secretKeyRef": {
            "name": OIDC_SECRET, "key": "client-secret"}}}),
        );
        if !a.password_login {
            vars.extend(env(&[
                ("ENABLE_PASSWORD_AUTH", "false".into()),
                ("ENABLE_LOGIN_FORM", "false".into()),
            ]));
        }
    }
    let mut v = role_annotation(i, "open-webui")?;
    v["commonEnvVars"] = json!(vars);
    Ok(v)
}

/// The Kubernetes Secret (namespace open-webui) holding the OIDC client secret.
pub const OIDC_SECRET: &str = "openwebui-oidc";

fn litellm_overlay(i: &OverlayInputs) -> Result<Value> {
    let mut v = role_annotation(i, "litellm-sa")?;
    // Bedrock is called in the deploy region (the original hard-wired us-east-1).
    v["envVars"] = json!({"AWS_REGION": i.region, "AWS_DEFAULT_REGION": i.region});
    Ok(v)
}

/// The dynamic values of a release, as a values document (JSON is YAML); none for a release
/// without a row.
pub fn overlay(release: &str, i: &OverlayInputs) -> Result<Value> {
    named(release).map_or_else(|| no_overlay(i), |d| (d.overlay)(i))
}

/// Write the overlay to a private directory: dir 0700, file 0600.
pub fn write_overlay(release: &str, v: &Value) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = crate::platform::tools::private_tempdir("deployctl-values-")
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
            vpc_id: "vpc-1".into(),
            access: Default::default(),
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
    fn a_release_whose_overlay_names_the_account_says_it_uses_aws() {
        let i = OverlayInputs {
            partition: "aws".into(),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            cluster: "c".into(),
            vpc_id: "vpc-1".into(),
            access: Default::default(),
        };
        for def in RELEASES {
            let text = (def.overlay)(&i).unwrap().to_string();
            assert_eq!(
                text.contains("111122223333"),
                def.needs_account(),
                "release {}: overlay {text}",
                def.release
            );
            assert_eq!(of(def.step).release, def.release);
        }
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
