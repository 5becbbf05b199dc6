//! Kubernetes access: loading the kubeconfig, the context guard (never touch a cluster other
//! than EKS_CLUSTER_NAME), reachability, and server-side apply of manifest files.

pub mod apply;
pub mod errors;
pub mod wait;

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

/// Read the kubeconfig and work out which context and cluster are in use.
pub fn target(s: &Settings) -> Result<(Kubeconfig, Target), UserError> {
    let label = kubeconfig_label(s);
    let kc = Kubeconfig::read().map_err(|e| {
        UserError::failed(
            format!("cannot read kubeconfig `{label}`: {e}"),
            update_kubeconfig_hint(s),
        )
    })?;
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
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_entry)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    Ok((
        kc,
        Target {
            kubeconfig: label,
            context,
            cluster_entry,
            server,
        },
    ))
}

/// The context guard: the context must point at `cluster` — its cluster entry is the
/// cluster's name or EKS ARN, or its server is the endpoint EKS reports for the cluster.
pub fn guard(t: &Target, cluster: &str, eks_endpoint: Option<&str>) -> Result<(), UserError> {
    let entry = t.cluster_entry.as_str();
    let by_name = entry == cluster
        || (entry.starts_with("arn:") && entry.ends_with(&format!(":cluster/{cluster}")));
    let by_endpoint = eks_endpoint.is_some_and(|ep| {
        !ep.is_empty() && ep.trim_end_matches('/') == t.server.trim_end_matches('/')
    });
    if by_name || by_endpoint {
        return Ok(());
    }
    Err(UserError::usage(
        format!(
            "refusing to change the cluster: kube context `{}` points at cluster `{}` ({}), not at EKS cluster `{cluster}`",
            t.context, entry, t.server
        ),
        format!(
            "pass --context <name> for a context of `{cluster}` (see `kubectl config get-contexts`), \
             or set EKS_CLUSTER_NAME / --cluster to the cluster you mean"
        ),
    ))
}

/// Preflight: load the kubeconfig, apply the context guard, and check the API answers.
pub async fn connect(s: &Settings, eks_endpoint: Option<&str>) -> Result<(kube::Client, Target)> {
    let (kc, t) = target(s)?;
    guard(&t, &s.cluster, eks_endpoint)?;
    let opts = KubeConfigOptions {
        context: Some(t.context.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts)
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
                "cannot reach the Kubernetes API at {} (kubeconfig `{}`, context `{}`): {why}",
                t.server, t.kubeconfig, t.context
            ),
            format!(
                "check the cluster and your credentials with `kubectl --context {} cluster-info`, or choose another context with --context",
                t.context
            ),
        )
    };
    match tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await {
        Err(_) => return Err(unreachable("no answer within 15s".into()).into()),
        Ok(Err(e)) => return Err(unreachable(e.to_string()).into()),
        Ok(Ok(_)) => {}
    }
    Ok((client, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(entry: &str, server: &str) -> Target {
        Target {
            kubeconfig: "kc".into(),
            context: "ctx".into(),
            cluster_entry: entry.into(),
            server: server.into(),
        }
    }

    #[test]
    fn guard_accepts_name_arn_or_endpoint() {
        assert!(guard(&t("prod", "https://x"), "prod", None).is_ok());
        assert!(
            guard(
                &t(
                    "arn:aws:eks:us-east-1:111122223333:cluster/prod",
                    "https://x"
                ),
                "prod",
                None
            )
            .is_ok()
        );
        assert!(
            guard(
                &t("weird", "https://abc.eks/"),
                "prod",
                Some("https://abc.eks")
            )
            .is_ok()
        );
    }

    #[test]
    fn guard_refuses_another_cluster_and_says_how_to_switch() {
        let err = guard(
            &t(
                "arn:aws:eks:us-east-1:111122223333:cluster/staging",
                "https://s",
            ),
            "prod",
            None,
        )
        .unwrap_err();
        assert!(
            err.message.contains("`ctx`") && err.message.contains("staging"),
            "{}",
            err.message
        );
        assert!(err.help.unwrap().contains("--context"));
        // A name that merely ends the same way is not the cluster.
        assert!(guard(&t("arn:aws:eks:r:1:cluster/notprod", "s"), "prod", None).is_err());
        assert!(guard(&t("kind-prod", "s"), "prod", Some("")).is_err());
    }
}
