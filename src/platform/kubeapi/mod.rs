//! Kubernetes access: loading the kubeconfig, the context guard (never touch a cluster other
//! than EKS_CLUSTER_NAME), reachability, and server-side apply of manifest files.

pub mod apply;
pub mod document;
pub mod errors;
pub mod helm_storage;
pub mod wait;

/// Built-in cluster-scoped kinds, by API group ("" is the core group).
pub const BUILTIN_CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("networking.k8s.io", "IngressClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("apiregistration.k8s.io", "APIService"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
];

/// A typed-by-name API for a kind deployctl knows statically (CRD kinds of the stack, apps
/// workloads it patches): `api_version` like `external-secrets.io/v1`, cluster-wide when
/// `namespace` is None.
pub fn dynamic_api(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    namespace: Option<&str>,
) -> kube::Api<kube::api::DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = kube::discovery::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk(group, version, kind),
        plural,
    );
    match namespace {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &ar),
        None => kube::Api::all_with(client.clone(), &ar),
    }
}

use crate::config::Settings;
use crate::error::UserError;
use anyhow::Result;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::time::Duration;

/// Which cluster a kubeconfig context points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where the kubeconfig came from, for messages.
    pub kubeconfig: String,
    pub context: String,
    /// The context's cluster entry name (an EKS ARN for `aws eks update-kubeconfig`).
    pub cluster_entry: String,
    pub server: String,
    /// The cluster entry's certificate authority (PEM bytes), inline or from its file.
    pub ca: Option<Vec<u8>>,
    /// The context's user entry (its name only: credentials are never copied).
    pub user: String,
    /// The context's namespace, when it sets one.
    pub namespace: Option<String>,
    /// How the API is reached (`Route::describe`), once connected.
    pub access: String,
}

/// How to reach the API server, when not at the kubeconfig's server (the tunnel): the local
/// address, with TLS still verified for the EKS endpoint's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Connect here instead (`https://127.0.0.1:PORT`); None: the kubeconfig's server.
    pub url: Option<String>,
    /// The name the server's certificate must carry (the EKS endpoint's host).
    pub tls_server_name: Option<String>,
    /// One line for the operator: which path, and why.
    pub describe: String,
    /// What to do when the API does not answer on this path.
    pub unreachable_help: String,
}

/// What EKS says the cluster is: the proof a context must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub cluster: String,
    pub region: String,
    pub arn: String,
    pub endpoint: String,
    /// Base64 PEM, as DescribeCluster returns it.
    pub ca: Option<String>,
}

fn update_kubeconfig_hint(s: &Settings) -> String {
    format!(
        "run `deployctl kubeconfig --cluster {c} --region {r}` (or `aws eks update-kubeconfig --name {c} --region {r}`), or pass --context <name> (see `kubectl config get-contexts`)",
        c = s.cluster,
        r = s.region
    )
}

fn kubeconfig_label(s: &Settings) -> String {
    s.kubeconfig
        .clone()
        .unwrap_or_else(|| "~/.kube/config".to_string())
}

/// kube's reading errors in the operator's words: the file as they named it, the OS reason,
/// the YAML problem with its line (never kube-rs's Debug-quoted path).
fn kubeconfig_error(label: &str, e: &kube::config::KubeconfigError) -> String {
    use kube::config::KubeconfigError as K;
    match e {
        K::ReadConfig(io, path) => format!("cannot read kubeconfig `{}`: {io}", path.display()),
        K::Parse(yaml) => format!("kubeconfig `{label}` is not valid YAML: {yaml}"),
        K::FindPath => "cannot find a kubeconfig: neither KUBECONFIG nor HOME is set".into(),
        other => format!("cannot read kubeconfig `{label}`: {other}"),
    }
}

/// Read the kubeconfig and work out which context and cluster are in use.
pub fn target(s: &Settings) -> Result<(Kubeconfig, Target), UserError> {
    let label = kubeconfig_label(s);
    let kc = Kubeconfig::read()
        .map_err(|e| UserError::failed(kubeconfig_error(&label, &e), update_kubeconfig_hint(s)))?;
    let context = match s.context.clone().or_else(|| kc.current_context.clone()) {
        Some(c) => c,
        None => {
            return Err(UserError::failed(
                format!("kubeconfig `{label}` has no current context"),
                update_kubeconfig_hint(s),
            ));
        }
    };
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| {
            UserError::usage(
                format!("context `{context}` is not in kubeconfig `{label}`"),
                "list the contexts with `kubectl config get-contexts` and pass one with --context",
            )
        })?;
    let cluster_entry = ctx.cluster.clone();
    let user = ctx.user.clone().unwrap_or_default();
    let namespace = ctx.namespace.clone();
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_entry)
        .and_then(|c| c.cluster.as_ref());
    let server = cluster.and_then(|c| c.server.clone()).unwrap_or_default();
    let ca = cluster.and_then(|c| {
        if let Some(data) = &c.certificate_authority_data {
            crate::platform::encoding::decode(data.trim())
        } else {
            c.certificate_authority
                .as_ref()
                .and_then(|p| std::fs::read(p).ok())
        }
    });
    Ok((
        kc,
        Target {
            kubeconfig: label,
            context,
            cluster_entry,
            server,
            ca,
            user,
            namespace,
            access: String::new(),
        },
    ))
}

fn same_server(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    !a.trim().is_empty() && norm(a) == norm(b)
}

fn same_ca(kubeconfig: &[u8], eks_base64: &str) -> bool {
    let Some(eks) = crate::platform::encoding::decode(eks_base64.trim()) else {
        return false;
    };
    let norm = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .split_whitespace()
            .collect::<String>()
    };
    norm(kubeconfig) == norm(&eks)
}

/// The context guard: the context is the EKS cluster only when its server is the endpoint EKS
/// reports for the cluster in this account and region, and either its certificate authority is
/// the cluster's or its cluster entry is the cluster's exact ARN. A same-named cluster in
/// another account or region, or a context merely named like the cluster, is refused.
pub fn guard(t: &Target, expected: &Expected) -> Result<(), UserError> {
    let refuse = |why: String| {
        UserError::usage(
            format!("refusing to use kube context `{}`: {why}", t.context),
            format!(
                "run `deployctl kubeconfig --cluster {c} --region {r}` to write a context for it and pass that with --context, \
                 or set EKS_CLUSTER_NAME / --cluster and AWS_REGION / --region to the cluster the context is for",
                c = expected.cluster,
                r = expected.region
            ),
        )
    };
    let what = format!(
        "EKS cluster `{}` ({}) is served at {}",
        expected.cluster, expected.arn, expected.endpoint
    );
    if !same_server(&t.server, &expected.endpoint) {
        return Err(refuse(format!(
            "it points at {} (cluster entry `{}`), but {what}",
            if t.server.is_empty() {
                "no server"
            } else {
                &t.server
            },
            t.cluster_entry
        )));
    }
    if let (Some(have), Some(want)) = (&t.ca, &expected.ca) {
        if same_ca(have, want) {
            return Ok(());
        }
        return Err(refuse(format!(
            "its server is right but its certificate authority is not the cluster's ({what})"
        )));
    }
    if t.cluster_entry == expected.arn {
        return Ok(());
    }
    Err(refuse(format!(
        "its server matches, but it carries neither the cluster's certificate authority nor its ARN \
         (cluster entry `{}`; {what})",
        t.cluster_entry
    )))
}

/// Preflight: load the kubeconfig, prove the context is the cluster, and check the API answers.
pub async fn connect(
    s: &Settings,
    expected: &Expected,
    route: &Route,
) -> Result<(kube::Client, Target)> {
    let (kc, mut t) = target(s)?;
    guard(&t, expected)?;
    t.access = route.describe.clone();
    let opts = KubeConfigOptions {
        context: Some(t.context.clone()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| {
            UserError::failed(
                format!(
                    "cannot use context `{}` of kubeconfig `{}`: {e}",
                    t.context, t.kubeconfig
                ),
                update_kubeconfig_hint(s),
            )
        })?;
    // The tunnel: connect to its local end, and still verify the certificate for the EKS
    // endpoint's name (and send it as SNI), as the kubeconfig's server would be verified.
    if let Some(url) = &route.url {
        config.cluster_url = url
            .parse()
            .map_err(|e| anyhow::anyhow!("tunnel address {url}: {e}"))?;
        config.tls_server_name = route.tls_server_name.clone();
    }
    // One retry layer: deployctl's (`errors::retry`, bounded, Retry-After aware). The
    // client's own would retry 429/503/504 underneath it, with backoff growing to minutes.
    config.default_retry = false;
    let client = kube::Client::try_from(config).map_err(|e| {
        UserError::failed(
            format!(
                "cannot build a Kubernetes client for context `{}`: {e}",
                t.context
            ),
            update_kubeconfig_hint(s),
        )
    })?;
    let unreachable = |why: String| {
        UserError::failed(
            format!(
                "cannot reach the Kubernetes API at {} (kubeconfig `{}`, context `{}`; {}): {why}",
                t.server, t.kubeconfig, t.context, route.describe
            ),
            if route.unreachable_help.is_empty() {
                format!(
                    "check the cluster and your credentials with `kubectl --context {} cluster-info`, or choose another context with --context",
                    t.context
                )
            } else {
                route.unreachable_help.clone()
            },
        )
    };
    // The first call goes through the same bounded retry as every other: a control plane
    // that answers 503 for a few seconds (an upgrade, a busy API server) is ridden out.
    let first = errors::retry_within("GET /version", PREFLIGHT_BUDGET, || {
        client.apiserver_version()
    })
    .await;
    if let Err(e) = first {
        let Some(f) = e.downcast_ref::<errors::RetryFailure>() else {
            return Err(unreachable(e.to_string()).into());
        };
        return Err(match (f.answered(), &f.last) {
            (Some(code), Some(last)) => answered_with_error(&t, code, last, f, s),
            // Nothing answered: a network path, a private endpoint, a black hole.
            (_, Some(last)) => unreachable(format!("{} ({})", last, f.tries())),
            (_, None) => unreachable(format!("no answer within {}s", f.elapsed.as_secs())),
        }
        .into());
    }
    Ok((client, t))
}

/// How long the first call to the API server may keep retrying.
const PREFLIGHT_BUDGET: Duration = errors::RETRY_BUDGET;

/// The API server answered, with an error: named as such, with a hint that fits the answer
/// (the private-endpoint hint is for no answer at all).
fn answered_with_error(
    t: &Target,
    code: u16,
    last: &kube::Error,
    f: &errors::RetryFailure,
    s: &Settings,
) -> UserError {
    let what = format!(
        "the API server at {} (context `{}`) answered {code}: {}",
        t.server,
        t.context,
        errors::describe(last)
    );
    match code {
        401 | 403 => UserError::failed(
            what,
            format!(
                "your AWS identity is not admitted to the cluster: check `aws sts get-caller-identity`, then the cluster's access entries (`aws eks list-access-entries --cluster-name {} --region {}`), or refresh the kubeconfig with `aws eks update-kubeconfig --name {} --region {}`",
                s.cluster, s.region, s.cluster, s.region
            ),
        ),
        429 | 500..=599 => UserError::failed(
            format!("{what}; retried {}", f.tries()),
            format!(
                "the control plane is busy or being upgraded: check `aws eks describe-cluster --name {} --region {} --query cluster.status` and `aws eks list-updates --name {} --region {}`, then run the command again",
                s.cluster, s.region, s.cluster, s.region
            ),
        ),
        _ => UserError::failed(
            what,
            format!(
                "check the cluster with `kubectl --context {} cluster-info`, or choose another context with --context",
                t.context
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:eks:us-east-1:111122223333:cluster/prod";
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    fn t(entry: &str, server: &str, ca: Option<&str>) -> Target {
        Target {
            kubeconfig: "kc".into(),
            context: "ctx".into(),
            cluster_entry: entry.into(),
            server: server.into(),
            ca: ca.map(|c| c.as_bytes().to_vec()),
            user: "u".into(),
            namespace: None,
            access: String::new(),
        }
    }

    fn eks() -> Expected {
        Expected {
            cluster: "prod".into(),
            region: "us-east-1".into(),
            arn: ARN.into(),
            endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com".into(),
            ca: Some(crate::platform::encoding::base64(PEM.as_bytes())),
        }
    }

    #[test]
    fn guard_accepts_the_endpoint_with_the_ca_or_the_exact_arn() {
        let ep = "https://abc.gr7.us-east-1.eks.amazonaws.com/";
        // Any context name, any entry name: the server and the CA prove it.
        assert!(guard(&t("anything", ep, Some(PEM)), &eks()).is_ok());
        // No CA in the kubeconfig: the exact ARN with that server.
        assert!(guard(&t(ARN, ep, None), &eks()).is_ok());
    }

    #[test]
    fn guard_refuses_same_named_clusters_elsewhere_and_bare_names() {
        // Same name in another account and region, at another endpoint.
        let err = guard(
            &t(
                "arn:aws:eks:eu-west-1:999999999999:cluster/prod",
                "https://other.eks.amazonaws.com",
                Some(PEM),
            ),
            &eks(),
        )
        .unwrap_err();
        assert!(
            err.message.contains("`ctx`")
                && err.message.contains("https://other.eks.amazonaws.com")
                && err.message.contains(ARN),
            "{}",
            err.message
        );
        assert!(
            err.help
                .unwrap()
                .contains("deployctl kubeconfig --cluster prod")
        );
        // A bare context named like the cluster, pointing anywhere.
        assert!(guard(&t("prod", "https://127.0.0.1:6443", None), &eks()).is_err());
        // The right address but neither the CA nor the ARN.
        let ep = "https://abc.gr7.us-east-1.eks.amazonaws.com";
        assert!(guard(&t("prod", ep, None), &eks()).is_err());
        // The right address and ARN but another certificate authority.
        let other = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        let err = guard(&t(ARN, ep, Some(other)), &eks()).unwrap_err();
        assert!(
            err.message.contains("certificate authority"),
            "{}",
            err.message
        );
        // An ARN that merely ends the same way is not the cluster.
        assert!(
            guard(
                &t(
                    "arn:aws:eks:us-east-1:111122223333:cluster/notprod",
                    ep,
                    None
                ),
                &eks()
            )
            .is_err()
        );
    }
}
