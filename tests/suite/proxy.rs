//! Behind a proxy (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as on a corporate laptop): the
//! Kubernetes client, the AWS SDK, helm and terraform all go through it, and NO_PROXY is
//! honoured. The proxy is a real forward proxy on a local port (tests/support/http_proxy.rs).

use crate::support;

use support::http_proxy::HttpProxy;
use support::kube_server::FakeKube;
use support::moto::Moto;
use support::{NAMESPACES, REPOS, Sandbox};

fn port_of(url: &str) -> String {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_aws_and_helm_go_through_the_proxy() {
    let proxy = HttpProxy::start().await;
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.set("HTTPS_PROXY", &proxy.url);
    sb.set("HTTP_PROXY", &proxy.url);
    sb.set_helm_repos(REPOS);
    let run = sb.run(&["run", "namespaces", "helm-repos"]).await;
    run.assert_code(0);
    for ns in NAMESPACES {
        assert!(kube.get("v1", "Namespace", None, ns).is_some(), "{ns}");
    }
    let seen = proxy.seen();
    // kube-rs tunnels to the API server with CONNECT...
    let api = format!("CONNECT 127.0.0.1:{}", port_of(&kube.url()));
    assert!(seen.contains(&api), "no {api:?} in {seen:?}");
    // ...and the AWS SDK (EKS DescribeCluster for the context proof) sends its plain-http
    // requests to the proxy in absolute form.
    let eks = sb.eks.as_ref().expect("the EKS front").url.clone();
    assert!(
        seen.iter()
            .any(|s| !s.starts_with("CONNECT") && s.ends_with(&format!(":{}", port_of(&eks)))),
        "the EKS call did not use the proxy: {seen:?}"
    );
    // helm gets the proxy settings (its repo and OCI downloads go through them).
    let entries = sb.helm_log_entries();
    assert!(!entries.is_empty(), "helm never ran");
    for e in &entries {
        assert_eq!(e["env"]["HTTPS_PROXY"], proxy.url.as_str(), "{}", e["argv"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_proxy_is_honoured() {
    let proxy = HttpProxy::start().await;
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.set("HTTPS_PROXY", &proxy.url);
    sb.set("HTTP_PROXY", &proxy.url);
    sb.set("NO_PROXY", "127.0.0.1,localhost");
    sb.run(&["namespaces"]).await.assert_code(0);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_steps_go_through_the_proxy() {
    let (moto, _guard) = Moto::lock().await;
    let proxy = HttpProxy::start().await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.set("HTTP_PROXY", &proxy.url);
    sb.set("HTTPS_PROXY", &proxy.url);
    sb.set("DATABASE_URL", "postgresql://u:p@db.example:5432/litellm");
    sb.run(&["secrets"]).await.assert_code(0);
    let moto_port = port_of(&moto.url);
    assert!(
        proxy
            .seen()
            .iter()
            .any(|s| s.ends_with(&format!(":{moto_port}"))),
        "{:?}",
        proxy.seen()
    );
}
