//! A private API endpoint reached from a laptop: deployctl opens an SSM port-forwarding
//! tunnel through the cluster's bastion (`session-manager-plugin`, here a stand-in that
//! forwards as the bastion would), runs against it — its own kube client and the real helm —
//! with TLS verified for the EKS endpoint's name, and closes it at the end of the run: after
//! success, after a failure, and after Ctrl-C.

use crate::support;

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use support::kube_server::FakeKube;
use support::moto::{Moto, seed_cluster};
use support::ssm_proxy::SsmProxy;
use support::{CLUSTER, CLUSTER_ARN, NAMESPACES, Sandbox};

/// The endpoint name EKS gives a cluster; nothing outside the "VPC" resolves it.
const HOST: &str = "0123456789ABCDEF0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com";
const TOKEN: &str = "session-token-for-tests";

/// The endpoint's TLS side (tests/support/tls_front.py) in front of the fake API server.
struct TlsFront {
    child: std::process::Child,
    port: u16,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_front(backend: &str) -> TlsFront {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(support::python())
        .arg(support::repo_root().join("tests/support/tls_front.py"))
        .args([HOST, backend, dir.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start tls_front.py");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("tls_front.py prints its port");
    let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    TlsFront {
        child,
        port,
        ca_pem,
        _dir: dir,
    }
}

struct Scene {
    kube: FakeKube,
    sb: Sandbox,
    ssm: SsmProxy,
    bastion: String,
    plugin_log: PathBuf,
    _tls: TlsFront,
    _charts: support::charts::ChartsDir,
}

impl Scene {
    fn plugin_events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.plugin_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A cluster whose endpoint is private (EKS says so), a running bastion of it, the plugin
/// stand-in on PATH, and a kubeconfig for the cluster as `deployctl kubeconfig` writes it:
/// the EKS endpoint name, its CA.
async fn private_cluster(moto: &Moto) -> Scene {
    let sdk = moto.sdk().await;
    let seeded = seed_cluster(&sdk, CLUSTER, true).await;
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(30));
    let tls = tls_front(kube.url().trim_start_matches("http://"));
    let mut sb = Sandbox::new(&kube);
    sb.with_moto(moto);
    let front = sb.eks.as_ref().unwrap();
    front.set_api_server(&format!("https://{HOST}"));
    front.set_certificate_authority(&deployctl::platform::encoding::base64(
        tls.ca_pem.as_bytes(),
    ));
    front.set_endpoint_access(false, true, &[]);
    sb.write_kubeconfig(&format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test-ctx\nclusters:\n- name: {CLUSTER_ARN}\n  cluster:\n    server: https://{HOST}\n    certificate-authority-data: {ca}\ncontexts:\n- name: test-ctx\n  context:\n    cluster: {CLUSTER_ARN}\n    user: tester\n    namespace: default\nusers:\n- name: tester\n  user:\n    token: fake-token\n",
        ca = deployctl::platform::encoding::base64(tls.ca_pem.as_bytes())
    ));

    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let tag = |k: &str, v: &str| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build();
    let bastion = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(&seeded.subnet_ids[0])
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(tag("Name", "llm-bastion"))
                .tags(tag("Purpose", "llm-bastion"))
                .tags(tag("Cluster", CLUSTER))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();

    let ssm = SsmProxy::start(&moto.url).await;
    sb.set("AWS_ENDPOINT_URL_SSM", &ssm.url.clone());
    let plugin = sb.bin.join("session-manager-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            support::python().display(),
            support::repo_root()
                .join("tests/support/ssm_plugin.py")
                .display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plugin_log = sb.path().join("plugin.jsonl");
    sb.set("TEST_PLUGIN_LOG", plugin_log.to_str().unwrap());
    // Inside the VPC the endpoint's name resolves to the API server (here: its TLS side).
    sb.set(
        "TEST_VPC_HOSTS",
        &json!({format!("{HOST}:443"): format!("127.0.0.1:{}", tls.port)}).to_string(),
    );
    let charts = support::charts::charts_dir();
    sb.with_charts(&charts);
    Scene {
        kube,
        sb,
        ssm,
        bastion,
        plugin_log,
        _tls: tls,
        _charts: charts,
    }
}

fn alive(pid: i64) -> bool {
    // A zombie is not a tunnel: only a running or sleeping process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// The plugin got the port-forward document for the endpoint, the token only in its
/// environment, and was stopped; SSM was told the session ended.
fn assert_opened_and_closed(s: &Scene, runs: usize) {
    let sessions = s.ssm.sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), runs, "one session per run: {sessions:?}");
    let events = s.plugin_events();
    let starts: Vec<&Value> = events.iter().filter(|e| e["event"] == "start").collect();
    assert_eq!(starts.len(), runs, "{events:?}");
    for (req, start) in sessions.iter().zip(&starts) {
        assert_eq!(req["Target"], s.bastion.as_str());
        assert_eq!(
            req["DocumentName"],
            "AWS-StartPortForwardingSessionToRemoteHost"
        );
        assert_eq!(req["Parameters"]["host"], json!([HOST]));
        assert_eq!(req["Parameters"]["portNumber"], json!(["443"]));
        // The plugin was handed exactly the request SSM received.
        let argv: Vec<String> = start["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(argv[0], "AWS_SSM_START_SESSION_RESPONSE");
        assert_eq!(argv[2], "StartSession");
        let handed: Value = serde_json::from_str(&argv[4]).unwrap();
        assert_eq!(handed["Parameters"], req["Parameters"]);
        assert!(
            !argv.iter().any(|a| a.contains(TOKEN)),
            "the session token is never in argv: {argv:?}"
        );
        let pid = start["pid"].as_i64().unwrap();
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "stop" && e["pid"] == pid),
            "the plugin {pid} was stopped: {events:?}"
        );
        assert!(
            !alive(pid),
            "the plugin {pid} still runs after deployctl ended"
        );
    }
    let terminated = s.ssm.terminated.lock().unwrap().clone();
    assert_eq!(terminated.len(), runs, "SSM TerminateSession per run");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_endpoint_is_reached_through_the_bastion_and_the_tunnel_closes_after_the_run() {
    let (moto, _guard) = Moto::lock().await;
    let s = private_cluster(moto).await;

    // kubeconfig says which path kubectl and deployctl take.
    let run = s.sb.run(&["kubeconfig"]).await;
    run.assert_code(0);
    let said = run.all();
    assert!(
        said.contains("the endpoint is private")
            && said.contains("tunnel through the cluster's bastion")
            && said.contains("deployctl bastion connect"),
        "{said}"
    );

    // A kube step and a helm release (the real helm, through the tunnel's kubeconfig).
    let run =
        s.sb.run(&["run", "namespaces", "helm-repos", "jaeger"])
            .await;
    run.assert_code(0);
    assert!(
        run.all().contains(&format!(
            "API access: through an SSM tunnel via bastion {} (the endpoint is private)",
            s.bastion
        )),
        "{}",
        run.all()
    );
    for ns in NAMESPACES {
        assert!(s.kube.get("v1", "Namespace", None, ns).is_some(), "{ns}");
    }
    // The real helm installed jaeger through the tunnel: its release record and workloads.
    let secrets = s.kube.list("v1", "Secret");
    assert!(
        secrets
            .iter()
            .any(|o| o["metadata"]["name"] == "sh.helm.release.v1.jaeger.v1"),
        "helm's release record for jaeger"
    );
    assert!(
        s.kube
            .list("apps/v1", "Deployment")
            .iter()
            .any(|o| o["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .contains("jaeger")),
        "jaeger's Deployment"
    );
    let upgrade =
        s.sb.helm_log_entries()
            .into_iter()
            .find(|e| e["argv"][0] == "upgrade")
            .expect("helm upgrade ran");
    let argv = upgrade["argv"].to_string();
    assert!(
        argv.contains(&format!("deployctl-tunnel-{CLUSTER}")),
        "helm is pointed at the tunnel's context: {argv}"
    );
    assert!(!run.all().contains(TOKEN));
    assert_opened_and_closed(&s, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tunnel_closes_after_a_failed_run_and_after_ctrl_c() {
    let (moto, _guard) = Moto::lock().await;
    let s = private_cluster(moto).await;

    // A release that fails: exit 1, and the tunnel is gone.
    s.sb.fail_release("jaeger");
    let run =
        s.sb.run(&["run", "namespaces", "helm-repos", "jaeger"])
            .await;
    run.assert_code(1);
    assert!(run.all().contains("injected failure"), "{}", run.all());
    assert_opened_and_closed(&s, 1);

    // Ctrl-C while a release installs: the run stops cleanly (130) and the tunnel closes.
    s.sb.fail_releases(&[]);
    let mut cmd = s.sb.command(&["run", "namespaces", "helm-repos", "jaeger"]);
    cmd.env("FAKE_HELM_RELEASE_MS", "jaeger=20000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let jaeger_upgrades = |sb: &Sandbox| {
        sb.helm_log_entries()
            .iter()
            .filter(|e| e["argv"][0] == "upgrade" && e["argv"][2] == "jaeger")
            .count()
    };
    let before = jaeger_upgrades(&s.sb);
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while jaeger_upgrades(&s.sb) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "jaeger never started: {:?}",
            s.sb.helm_calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unsafe { libc::kill(pid, libc::SIGINT) };
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert_opened_and_closed(&s, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_bastion_or_the_plugin_the_error_names_both_ways_in() {
    let (moto, _guard) = Moto::lock().await;
    let s = private_cluster(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk().await);
    ec2.terminate_instances()
        .instance_ids(&s.bastion)
        .send()
        .await
        .unwrap();
    let before = s.kube.resource_version();
    let run = s.sb.run(&["namespaces"]).await;
    run.assert_code(1);
    for needle in [
        "cannot reach EKS cluster `test-cluster`'s API from here",
        "no bastion of it is running",
        "deployctl bastion create",
        "public_access_cidrs",
        "API_ACCESS=direct",
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
    assert_eq!(s.kube.resource_version(), before, "nothing was changed");
    assert!(s.ssm.sessions.lock().unwrap().is_empty());

    // No plugin: says so and how to install it.
    std::fs::remove_file(s.sb.bin.join("session-manager-plugin")).unwrap();
    let run = s.sb.run(&["namespaces"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("session-manager-plugin") && run.stderr.contains("install"),
        "{}",
        run.stderr
    );

    // Straight to a private endpoint (API_ACCESS=direct) from outside the VPC: the name does
    // not resolve, and the help says how to get in.
    let mut sb = s.sb;
    sb.set("API_ACCESS", "direct");
    let run = sb.run(&["namespaces"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("the endpoint is private") && run.stderr.contains("unset API_ACCESS"),
        "{}",
        run.stderr
    );
}

/// The aws CLI hands the session to session-manager-plugin in an environment variable only
/// from 1.2.536.0 on; an older plugin is refused before any session is started, naming the
/// version found and the upgrade; a new enough one opens the tunnel.
#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_too_old_for_the_session_in_its_environment_is_refused_before_any_session() {
    let (moto, _guard) = Moto::lock().await;
    let mut s = private_cluster(moto).await;
    let before = s.kube.resource_version();
    s.sb.set("TEST_PLUGIN_VERSION", "1.2.497.0");
    let run = s.sb.run(&["namespaces"]).await;
    run.assert_code(1);
    for needle in [
        "version 1.2.497.0",
        "1.2.536.0",
        "upgrade the plugin",
        "no session was started",
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
    assert!(
        s.ssm.sessions.lock().unwrap().is_empty(),
        "a session was started"
    );
    assert_eq!(s.kube.resource_version(), before, "nothing was changed");

    // The first version that reads its environment: the tunnel opens and closes.
    s.sb.set("TEST_PLUGIN_VERSION", "1.2.536.0");
    let run = s.sb.run(&["namespaces"]).await;
    run.assert_code(0);
    assert_opened_and_closed(&s, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn infrastructure_verify_proves_the_stored_database_credentials_through_the_bastion() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let mut s = private_cluster(moto).await;
    // The stack's RDS instance: private, so only the bastion reaches it. Inside the "VPC"
    // its address is a real PostgreSQL (TLS, SCRAM) holding LiteLLM's role.
    let pg = support::postgres::Postgres::start("Vpc-Only-Pw");
    let address = support::moto::postgres_instance(&sdk, "llm-db", "Vpc-Only-Pw", |r| r).await;
    s.sb.set(
        "TEST_VPC_HOSTS",
        &json!({
            format!("{HOST}:443"): format!("127.0.0.1:{}", s._tls.port),
            format!("{address}:5432"): format!("127.0.0.1:{}", pg.port),
        })
        .to_string(),
    );
    s.sb.set(
        "DATABASE_URL",
        &format!("postgresql://litellm:Vpc-Only-Pw@{address}:5432/litellm"),
    );
    s.sb.run(&["irsa"]).await.assert_code(0);
    s.sb.run(&["secrets"]).await.assert_code(0);
    let sessions_before = s.ssm.sessions.lock().unwrap().len();

    let run = s.sb.run(&["infrastructure-verify"]).await;
    run.assert_code(0);
    let line = format!(
        "✓ LiteLLM's stored credentials sign in to database `litellm` (through bastion {})",
        s.bastion
    );
    assert!(run.stdout.contains(&line), "{}", run.all());
    // One forward to the database (besides the API's tunnel), through the bastion, closed.
    let sessions = s.ssm.sessions.lock().unwrap().clone();
    let to_db: Vec<&Value> = sessions[sessions_before..]
        .iter()
        .filter(|r| r["Parameters"]["host"] == json!([address]))
        .collect();
    assert_eq!(to_db.len(), 1, "{sessions:?}");
    assert_eq!(to_db[0]["Target"], s.bastion.as_str());
    assert_eq!(to_db[0]["Parameters"]["portNumber"], json!(["5432"]));
    let events = s.plugin_events();
    for start in events.iter().filter(|e| e["event"] == "start") {
        let pid = start["pid"].as_i64().unwrap();
        assert!(!alive(pid), "a plugin still runs after deployctl ended");
    }

    // The password changes on the database alone: the stored one is refused, through the
    // same way, and the run fails naming the fix.
    pg.psql_as_superuser(
        "postgres",
        "SET log_statement = 'none';\nALTER ROLE litellm PASSWORD 'Rotated-By-Hand';\n",
    );
    let run = s.sb.run(&["infrastructure-verify"]).await;
    run.assert_code(1);
    assert!(
        run.stdout.contains(&format!(
            "✗ LiteLLM's stored credentials are refused by the database (through bastion {}): password authentication failed",
            s.bastion
        )),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("bump `db_password_version`"),
        "{}",
        run.stdout
    );
    let log = std::fs::read_to_string(&s.plugin_log).unwrap();
    for shown in [run.all(), log, pg.log()] {
        assert!(!shown.contains("Vpc-Only-Pw"), "the password was shown");
        assert!(!shown.contains(TOKEN));
    }
}
