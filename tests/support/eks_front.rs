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
    catalog: Arc<Mutex<Catalog>>,
    task: tokio::task::JoinHandle<()>,
}

/// What moto lacks and real EKS answers: its version calendar (DescribeClusterVersions) and
/// the cluster's add-ons (ListAddons, DescribeAddon, DescribeAddonVersions). Unset: the call
/// goes to moto, which does not implement it (as an endpoint without the API).
#[derive(Clone, Default)]
struct Catalog {
    /// `clusterVersions` entries as EKS writes them.
    versions: Option<Vec<Value>>,
    /// name → (installed version, [(version, [(cluster version, default)])]).
    addons: Option<Vec<Addon>>,
}

#[derive(Clone)]
pub struct Addon {
    pub name: String,
    pub installed: String,
    pub versions: Vec<(String, Vec<(String, bool)>)>,
}

/// EKS's answer, for the paths the catalog knows; `None` to ask moto.
fn from_catalog(catalog: &Catalog, method: &Method, uri: &Uri) -> Option<(u16, Value)> {
    if method != Method::GET {
        return None;
    }
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.to_string())
    };
    if path == "/cluster-versions" {
        let versions = catalog.versions.clone()?;
        return Some((200, serde_json::json!({"clusterVersions": versions})));
    }
    let addons = catalog.addons.as_ref()?;
    if path == "/addons/supported-versions" {
        let name = param("addonName")?;
        let k8s = param("kubernetesVersion");
        let a = addons.iter().find(|a| a.name == name)?;
        let versions: Vec<Value> = a
            .versions
            .iter()
            .filter(|(_, compat)| {
                k8s.as_ref()
                    .is_none_or(|k| compat.iter().any(|(c, _)| c == k))
            })
            .map(|(v, compat)| {
                serde_json::json!({
                    "addonVersion": v,
                    "architecture": ["amd64", "arm64"],
                    "compatibilities": compat.iter().map(|(c, d)| serde_json::json!({
                        "clusterVersion": c, "platformVersions": ["*"], "defaultVersion": d
                    })).collect::<Vec<_>>(),
                    "requiresConfiguration": false,
                })
            })
            .collect();
        return Some((
            200,
            serde_json::json!({"addons": [{"addonName": name, "type": "networking", "addonVersions": versions}]}),
        ));
    }
    let rest = path.strip_prefix("/clusters/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [cluster, "addons"] => Some((
            200,
            serde_json::json!({"addons": addons.iter().map(|a| a.name.clone()).collect::<Vec<_>>(), "clusterName": cluster}),
        )),
        [cluster, "addons", name] => match addons.iter().find(|a| a.name == *name) {
            Some(a) => Some((
                200,
                serde_json::json!({"addon": {"addonName": a.name, "clusterName": cluster, "addonVersion": a.installed, "status": "ACTIVE"}}),
            )),
            None => Some((
                404,
                serde_json::json!({"message": format!("No addon: {name} found in cluster: {cluster}")}),
            )),
        },
        _ => None,
    }
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
        let catalog: Arc<Mutex<Catalog>> = Arc::default();
        let catalog_of_eks = catalog.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let moto = to.lock().unwrap().clone();
                let api_server = served_at.lock().unwrap().clone();
                let cluster_sg = sg_of_cluster.lock().unwrap().clone();
                let vpc_id = vpc_of_cluster.lock().unwrap().clone();
                let access = access_of_cluster.lock().unwrap().clone();
                let answer = from_catalog(&catalog_of_eks.lock().unwrap(), &method, &uri);
                async move {
                    if let Some((status, body)) = answer {
                        let mut r =
                            axum::response::Response::new(axum::body::Body::from(body.to_string()));
                        *r.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                        r.headers_mut().insert(
                            "content-type",
                            axum::http::HeaderValue::from_static("application/json"),
                        );
                        if status == 404 {
                            r.headers_mut().insert(
                                "x-amzn-errortype",
                                axum::http::HeaderValue::from_static("ResourceNotFoundException"),
                            );
                        }
                        return r;
                    }
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
            catalog,
            task,
        }
    }

    /// EKS's calendar: `(version, status, end of standard support, end of extended support)`,
    /// dates as `YYYY-MM-DD` (sent as epoch seconds, as EKS does).
    pub fn set_calendar(&self, versions: &[(&str, &str, &str, &str)]) {
        let epoch = |d: &str| {
            d.parse::<jiff::civil::Date>()
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_second()
        };
        let list = versions
            .iter()
            .map(|(v, status, std_end, ext_end)| {
                serde_json::json!({
                    "clusterVersion": v, "clusterType": "eks", "defaultVersion": false,
                    "status": status, "versionStatus": status,
                    "endOfStandardSupportDate": epoch(std_end),
                    "endOfExtendedSupportDate": epoch(ext_end),
                })
            })
            .collect();
        self.catalog.lock().unwrap().versions = Some(list);
    }

    /// DescribeClusterVersions goes to moto again (which lacks it).
    pub fn clear_calendar(&self) {
        self.catalog.lock().unwrap().versions = None;
    }

    /// The cluster's add-ons with the versions EKS offers for them.
    pub fn set_addons(&self, addons: Vec<Addon>) {
        self.catalog.lock().unwrap().addons = Some(addons);
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
