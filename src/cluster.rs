//! The cluster behind the context guard: EKS says where it is served and with which
//! certificate authority, the kube context must match it, and the API is reached the way
//! `tunnel` chooses (directly, or through the bastion). Used by the engine's preflight, the
//! steps that reconnect, and `infrastructure-verify`.

use crate::context::Context;
use crate::error::UserError;
use anyhow::Result;
use std::time::Duration;

/// Connect to the cluster behind the context guard: EKS's DescribeCluster (this account, this
/// region) says where the cluster is served and with which certificate authority, and the
/// context must match it (see `kube::guard`). Without that proof nothing touches the cluster.
pub async fn connect_kube(
    cx: &Context,
) -> Result<(kube::Client, crate::platform::kubeapi::Target)> {
    let s = &cx.settings;
    // The kubeconfig first: it is local, and without it there is nothing to prove.
    crate::platform::kubeapi::target(s)?;
    let lookup = crate::platform::aws::describe_cluster(cx.aws().await, &s.cluster);
    let cannot_prove = |why: String| {
        UserError::failed(
            format!(
                "cannot prove which cluster the kube context is: EKS DescribeCluster for `{}` in {} {why}",
                s.cluster, s.region
            ),
            format!(
                "check the AWS credentials with `aws sts get-caller-identity` and the cluster with `aws eks describe-cluster --name {} --region {}`",
                s.cluster, s.region
            ),
        )
    };
    let info = match tokio::time::timeout(Duration::from_secs(20), lookup).await {
        Err(_) => return Err(cannot_prove("gave no answer within 20s".into()).into()),
        Ok(Err(e)) => return Err(cannot_prove(format!("failed: {e:#}")).into()),
        Ok(Ok(None)) => {
            return Err(UserError::failed(
                format!(
                    "EKS cluster `{}` does not exist in region {} of this AWS account, so no kube context can be it",
                    s.cluster, s.region
                ),
                "create it with `deployctl infrastructure-apply` (or `deployctl complete`), or set EKS_CLUSTER_NAME / --cluster and AWS_REGION / --region to an existing cluster (`aws eks list-clusters`)",
            )
            .into());
        }
        Ok(Ok(Some(c))) => c,
    };
    if let Some(account) = info.arn.split(':').nth(4).filter(|a| !a.is_empty()) {
        cx.set_cluster_account(account.to_string());
    }
    let route = {
        let mut slot = cx.tunnel.lock().await;
        match slot.as_ref() {
            Some(open) => open.route(),
            None => match crate::platform::tunnel::choose(s, &info) {
                crate::platform::tunnel::Path::Direct(route) => route,
                crate::platform::tunnel::Path::Tunnel(why) => {
                    let (_, t) = crate::platform::kubeapi::target(s)?;
                    // The context must be the cluster before anything is opened for it.
                    crate::platform::kubeapi::guard(&t, &expected_of(s, &info))?;
                    let tunnel =
                        crate::platform::tunnel::open(cx.aws().await, s, &cx.ui, &info, &t, why)
                            .await?;
                    cx.helm
                        .route_through(tunnel.kubeconfig.clone(), tunnel.context.clone());
                    let route = tunnel.route();
                    *slot = Some(tunnel);
                    route
                }
            },
        }
    };
    cx.ui.info(&format!("API access: {}", route.describe));
    crate::platform::kubeapi::connect(s, &expected_of(s, &info), &route).await
}

fn expected_of(
    s: &crate::config::Settings,
    info: &crate::platform::aws::ClusterInfo,
) -> crate::platform::kubeapi::Expected {
    crate::platform::kubeapi::Expected {
        cluster: s.cluster.clone(),
        region: s.region.clone(),
        arn: info.arn.clone(),
        endpoint: info.endpoint.clone(),
        ca: info.certificate_authority.clone(),
    }
}
