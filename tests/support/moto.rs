//! moto's standalone server, one per test process (the suite is one binary), reset between tests. Tests that use it
//! take `Moto::lock()` so they run one at a time against a clean account.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub struct Moto {
    pub url: String,
}

static SERVER: OnceLock<Moto> = OnceLock::new();
static IDENTITY: OnceLock<Moto> = OnceLock::new();
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn moto_server_bin() -> PathBuf {
    // The project venv first (scripts/test.sh), then PATH.
    let venv = super::repo_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    super::find_on_path("moto_server", &[]).unwrap_or_else(|| {
        panic!(
            "moto_server not found: run the tests with scripts/test.sh, which installs tests/requirements.txt into .venv"
        )
    })
}

fn start() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let bin = moto_server_bin();
    // moto dies with the test binary: a watcher ends it when our pid goes away.
    let script = format!(
        "MOTO_IAM_LOAD_MANAGED_POLICIES=true '{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
        bin.display(),
        std::process::id()
    );
    // The watcher outlives this handle on purpose; it reaps itself.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto_server did not listen on {url} within 60s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { url }
}

impl Moto {
    /// A second moto, never reset and needing no lock, that knows one thing: the EKS cluster
    /// `test-cluster` exists. Tests that only touch the cluster prove the kube context against
    /// it (see eks_front.rs).
    pub fn identity() -> &'static Moto {
        IDENTITY.get_or_init(|| {
            let moto = start();
            let body = r#"{"name":"test-cluster","roleArn":"arn:aws:iam::123456789012:role/eks-cluster","resourcesVpcConfig":{"subnetIds":[]}}"#;
            let resp = blocking_request(&moto.url, "POST", "/clusters", body);
            assert!(resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"), "moto CreateCluster failed: {resp}");
            moto
        })
    }

    /// A server of the test's own, never shared: for a test that keeps an account busy for
    /// minutes (real Terraform applies) without holding up every other test's `lock()`.
    pub fn dedicated() -> Moto {
        start()
    }

    /// moto makes a service's account backend on its first request, and two first requests at
    /// once can race (one's writes are then lost). A test that drives several clients at once
    /// touches each service first, one at a time: a read-only call per service.
    pub fn warm(&self, services: &[&str]) {
        for service in services {
            let (target, body) = match *service {
                "kms" => (Some("TrentService.ListKeys"), "{}"),
                "secretsmanager" => (Some("secretsmanager.ListSecrets"), "{}"),
                "rds" => (None, "Action=DescribeDBInstances&Version=2014-10-31"),
                "ec2" => (None, "Action=DescribeVpcs&Version=2016-11-15"),
                "iam" => (None, "Action=ListRoles&Version=2010-05-08"),
                "monitoring" => (None, "Action=DescribeAlarms&Version=2010-08-01"),
                "sts" => (None, "Action=GetCallerIdentity&Version=2011-06-15"),
                other => panic!("warm: no read-only call known for {other}"),
            };
            let addr = self.url.trim_start_matches("http://");
            let mut s = std::net::TcpStream::connect(addr).expect("connect moto");
            let (ctype, target) = match target {
                Some(t) => (
                    "application/x-amz-json-1.1",
                    format!("X-Amz-Target: {t}\r\n"),
                ),
                None => ("application/x-www-form-urlencoded", String::new()),
            };
            use std::io::{Read, Write};
            write!(
                s,
                "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ctype}\r\n{target}\
                 Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            assert!(
                resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
                "moto {service} warm-up failed: {resp}"
            );
        }
    }

    /// The server (started on first use), reset, and held for this test.
    pub async fn lock() -> (&'static Moto, tokio::sync::MutexGuard<'static, ()>) {
        let guard = LOCK.lock().await;
        let moto = tokio::task::spawn_blocking(|| SERVER.get_or_init(start))
            .await
            .expect("moto start");
        moto.reset().await;
        (moto, guard)
    }

    pub async fn reset(&self) {
        self.raw("POST", "/moto-api/reset").await;
    }

    /// Create an S3 bucket (path-style PUT; moto needs no signature).
    pub async fn create_bucket(&self, name: &str) {
        self.raw("PUT", &format!("/{name}")).await;
    }

    /// A bodiless request to moto that must answer 200.
    async fn raw(&self, method: &str, path: &str) {
        let addr = self.url.trim_start_matches("http://").to_string();
        let (method, path) = (method.to_string(), path.to_string());
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(&addr).expect("connect moto");
            write!(
                s,
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            assert!(
                resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
                "moto {method} {path} failed: {resp}"
            );
        })
        .await
        .unwrap();
    }

    /// An SDK configuration for seeding and inspecting the account.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await
    }
}

fn blocking_request(url: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect moto");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/eks/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp
}

/// What `seed_cluster` made.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub issuer: String,
    pub endpoint: String,
}

/// A VPC with two subnets, an EKS cluster in it, and (when `oidc_provider`) the IAM OIDC
/// provider for the cluster's issuer — what Terraform leaves behind.
/// A PostgreSQL RDS instance `id` with master `litellm` / `password` (`more` sets the rest:
/// version, encryption, groups); its endpoint's address.
pub async fn postgres_instance(
    sdk: &aws_config::SdkConfig,
    id: &str,
    password: &str,
    more: impl FnOnce(
        aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder,
    ) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder,
) -> String {
    let request = aws_sdk_rds::Client::new(sdk)
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.small")
        .engine("postgres")
        .master_username("litellm")
        .master_user_password(password)
        .allocated_storage(20);
    let db = more(request).send().await.unwrap().db_instance.unwrap();
    db.endpoint().unwrap().address().unwrap().to_string()
}

pub async fn seed_cluster(sdk: &aws_config::SdkConfig, name: &str, oidc_provider: bool) -> Seeded {
    seed_cluster_at(sdk, name, oidc_provider, KUBERNETES_VERSION).await
}

/// The version Terraform creates by default (terraform/variables.tf).
pub const KUBERNETES_VERSION: &str = "1.35";

/// `seed_cluster` with a given Kubernetes version.
pub async fn seed_cluster_at(
    sdk: &aws_config::SdkConfig,
    name: &str,
    oidc_provider: bool,
    version: &str,
) -> Seeded {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let vpc_id = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let mut subnet_ids = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let sn = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.0.{}.0/24", i + 1))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnet_ids.push(sn.subnet.unwrap().subnet_id.unwrap());
    }
    let eks = aws_sdk_eks::Client::new(sdk);
    let cluster = eks
        .create_cluster()
        .name(name)
        .version(version)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .set_subnet_ids(Some(subnet_ids.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    let issuer = cluster.identity.unwrap().oidc.unwrap().issuer.unwrap();
    if oidc_provider {
        aws_sdk_iam::Client::new(sdk)
            .create_open_id_connect_provider()
            .url(&issuer)
            .client_id_list("sts.amazonaws.com")
            .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
            .send()
            .await
            .unwrap();
    }
    Seeded {
        vpc_id,
        subnet_ids,
        issuer,
        endpoint: cluster.endpoint.unwrap_or_default(),
    }
}
