//! A front for moto's EKS. moto's DescribeCluster answers with an endpoint of its own making;
//! in the tests the cluster's API server is the in-process fake, so the front replaces the
//! endpoint in that one answer with the fake's URL — what a real DescribeCluster returns for the
//! cluster whose API server it is. Every other call passes to moto unchanged. deployctl reaches
//! it through the standard `AWS_ENDPOINT_URL_EKS`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;
use std::sync::{Arc, Mutex};

pub struct EksFront {
    pub url: String,
    backend: Arc<Mutex<String>>,
    api_server: Arc<Mutex<String>>,
    cluster_sg: Arc<Mutex<Option<String>>>,
    vpc: Arc<Mutex<Option<String>>>,
    access: Arc<Mutex<Access>>,
    task: tokio::task::JoinHandle<()>,
}

/// What DescribeCluster says about the endpoint and its certificate.
#[derive(Clone)]
struct Access {
    public: bool,
    private: bool,
    cidrs: Vec<String>,
    ca: Option<String>,
}

impl Drop for EksFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EksFront {
    /// Forward to `moto_url`; DescribeCluster says the cluster is served at `api_server`.
    pub fn start(moto_url: &str, api_server: &str) -> EksFront {
        let backend = Arc::new(Mutex::new(moto_url.to_string()));
        let api_server = Arc::new(Mutex::new(api_server.to_string()));
        let cluster_sg: Arc<Mutex<Option<String>>> = Arc::default();
        let vpc: Arc<Mutex<Option<String>>> = Arc::default();
        let vpc_of_cluster = vpc.clone();
        let to = backend.clone();
        let served_at = api_server.clone();
        let sg_of_cluster = cluster_sg.clone();
        // EKS's defaults for a cluster created without endpoint settings (CreateCluster:
        // public access on, from 0.0.0.0/0; private access off); moto leaves them out.
        let access = Arc::new(Mutex::new(Access {
            public: true,
            private: false,
            cidrs: vec!["0.0.0.0/0".into()],
            ca: None,
        }));
        let access_of_cluster = access.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let moto = to.lock().unwrap().clone();
                let api_server = served_at.lock().unwrap().clone();
                let cluster_sg = sg_of_cluster.lock().unwrap().clone();
                let vpc_id = vpc_of_cluster.lock().unwrap().clone();
                let access = access_of_cluster.lock().unwrap().clone();
                async move {
                    let resp =
                        super::ssm_proxy::forward(&moto, &method, &uri, &headers, &body).await;
                    let describe = method == Method::GET
                        && uri.path().starts_with("/clusters/")
                        && uri.path().matches('/').count() == 2;
                    if !describe || !resp.status().is_success() {
                        return resp;
                    }
                    let (parts, body) = resp.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_default();
                    let mut doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if let Some(c) = doc.get_mut("cluster").and_then(Value::as_object_mut) {
                        c.insert("endpoint".into(), Value::String(api_server));
                        if let Some(ca) = &access.ca {
                            c.insert(
                                "certificateAuthority".into(),
                                serde_json::json!({"data": ca}),
                            );
                        }
                        if let Some(vpc) = c
                            .get_mut("resourcesVpcConfig")
                            .and_then(Value::as_object_mut)
                        {
                            vpc.insert("endpointPublicAccess".into(), access.public.into());
                            vpc.insert("endpointPrivateAccess".into(), access.private.into());
                            vpc.insert("publicAccessCidrs".into(), access.cidrs.clone().into());
                        }
                        // moto leaves out the VPC its subnets are in, which EKS reports.
                        if let (Some(id), Some(vpc)) = (
                            vpc_id,
                            c.get_mut("resourcesVpcConfig")
                                .and_then(Value::as_object_mut),
                        ) && vpc
                            .get("vpcId")
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                        {
                            vpc.insert("vpcId".into(), Value::String(id));
                        }
                        // moto leaves out the group EKS makes for every cluster.
                        if let (Some(sg), Some(vpc)) = (
                            cluster_sg,
                            c.get_mut("resourcesVpcConfig")
                                .and_then(Value::as_object_mut),
                        ) {
                            vpc.insert("clusterSecurityGroupId".into(), Value::String(sg));
                        }
                    }
                    axum::response::Response::from_parts(
                        parts,
                        axum::body::Body::from(doc.to_string()),
                    )
                }
            },
        );
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        EksFront {
            url,
            backend,
            api_server,
            cluster_sg,
            vpc,
            access,
            task,
        }
    }

    /// The cluster's VPC, as DescribeCluster reports it (moto leaves it out).
    pub fn set_vpc_id(&self, id: &str) {
        *self.vpc.lock().unwrap() = Some(id.to_string());
    }

    /// Who may reach the endpoint, as DescribeCluster reports it.
    pub fn set_endpoint_access(&self, public: bool, private: bool, cidrs: &[&str]) {
        let mut a = self.access.lock().unwrap();
        a.public = public;
        a.private = private;
        a.cidrs = cidrs.iter().map(|c| c.to_string()).collect();
    }

    /// The cluster's certificate authority (base64 PEM), as DescribeCluster reports it.
    pub fn set_certificate_authority(&self, base64_pem: &str) {
        self.access.lock().unwrap().ca = Some(base64_pem.to_string());
    }

    /// The cluster's API server is now at `url` (as after a re-create).
    pub fn set_api_server(&self, url: &str) {
        *self.api_server.lock().unwrap() = url.to_string();
    }

    /// DescribeCluster names this cluster security group (as EKS does; moto does not).
    pub fn set_cluster_security_group(&self, id: &str) {
        *self.cluster_sg.lock().unwrap() = Some(id.to_string());
    }

    /// Answer from another moto (a test's own, seeded account).
    pub fn set_backend(&self, moto_url: &str) {
        *self.backend.lock().unwrap() = moto_url.to_string();
    }
}
