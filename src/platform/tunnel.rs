//! How deployctl reaches the cluster's API server. The private endpoint is the safe default
//! (Terraform's `endpoint_public_access = false`), and a laptop is not in the VPC, so when EKS
//! says the endpoint is private deployctl opens an SSM port-forwarding tunnel
//! (`AWS-StartPortForwardingSessionToRemoteHost`) through the cluster's bastion for the run:
//! `127.0.0.1:<free port>` → the endpoint's host, port 443, as the bastion resolves it. The
//! kube client and helm connect to the local end and still verify the API server's
//! certificate for the EKS endpoint's name (`tls-server-name`). The tunnel is closed when the
//! run ends — normally, on failure, or on an interrupt.
//!
//! A public endpoint (opted into with `endpoint_public_access` and an allow-list in
//! `public_access_cidrs`) is reached directly. `API_ACCESS` overrides the choice.

use crate::config::{ApiAccess, Settings};
use crate::error::UserError;
use crate::platform::aws::ssm::{self, StartError};
use crate::platform::aws::{Aws, ClusterInfo};
use crate::platform::kubeapi::{Route, Target};
use crate::platform::tools::Background;
use crate::ui::Ui;
use anyhow::{Result, anyhow};
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// Which way to the API, and why (for the operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    Direct(Route),
    /// Through the bastion; the reason for the route line.
    Tunnel(String),
}

/// The EKS endpoint's parts: scheme, host, port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

pub fn parse_endpoint(url: &str) -> Result<Endpoint> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("EKS endpoint `{url}` is not a URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let default = if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        443
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_string(),
            p.parse()
                .map_err(|_| anyhow!("EKS endpoint `{url}` has a bad port"))?,
        ),
        _ => (authority.to_string(), default),
    };
    if host.is_empty() {
        return Err(anyhow!("EKS endpoint `{url}` has no host"));
    }
    Ok(Endpoint {
        scheme: scheme.to_ascii_lowercase(),
        host,
        port,
    })
}

/// What to do when the public endpoint (or API_ACCESS=direct) does not answer.
fn direct_help(c: &ClusterInfo) -> String {
    let tunnel = "or go through the cluster's bastion with API_ACCESS=tunnel (`deployctl bastion create` if it has none)";
    if c.endpoint_public_access {
        let open = c.public_access_cidrs.iter().any(|r| r == "0.0.0.0/0");
        if open || c.public_access_cidrs.is_empty() {
            format!(
                "check the network path to the endpoint and your credentials with `kubectl cluster-info`, {tunnel}"
            )
        } else {
            format!(
                "the public endpoint admits only {}: add this machine's address to `public_access_cidrs` in the tfvars and run `deployctl infrastructure`, {tunnel}",
                c.public_access_cidrs.join(", ")
            )
        }
    } else {
        "the endpoint is private: run from inside the VPC (or a network routed to it), or unset API_ACCESS so deployctl tunnels through the cluster's bastion".to_string()
    }
}

/// Decide the way to the API from the setting and what EKS says about the endpoint (pure).
pub fn choose(s: &Settings, c: &ClusterInfo) -> Path {
    let direct = |describe: String| {
        Path::Direct(Route {
            url: None,
            tls_server_name: None,
            describe,
            unreachable_help: direct_help(c),
        })
    };
    let public = || {
        let who = if c.public_access_cidrs.is_empty()
            || c.public_access_cidrs.iter().any(|r| r == "0.0.0.0/0")
        {
            "open to any address".to_string()
        } else {
            format!("allowed from {}", c.public_access_cidrs.join(", "))
        };
        format!("direct to the public endpoint ({who})")
    };
    match s.api_access {
        ApiAccess::Tunnel => Path::Tunnel("API_ACCESS=tunnel".into()),
        ApiAccess::Direct if c.endpoint_public_access => direct(public()),
        ApiAccess::Direct => direct(
            "direct to the endpoint (API_ACCESS=direct: this machine must be inside the VPC or on a network routed to it)"
                .into(),
        ),
        ApiAccess::Auto if c.endpoint_public_access => direct(public()),
        ApiAccess::Auto if c.endpoint_private_access => {
            Path::Tunnel("the endpoint is private".into())
        }
        // Real EKS always enables one of the two; an answer with neither says nothing.
        ApiAccess::Auto => direct("direct (EKS reports no endpoint access settings)".into()),
    }
}

/// The access line `deployctl kubeconfig` prints: which path kubectl and deployctl take.
pub fn kubeconfig_note(s: &Settings, c: &ClusterInfo) -> String {
    match choose(s, c) {
        Path::Direct(r) => format!("API access: {}", r.describe),
        Path::Tunnel(why) => format!(
            "API access: {why}, so kubectl reaches it only from inside the VPC; deployctl's own runs tunnel through the cluster's bastion              (`deployctl bastion create` if it has none), and `deployctl bastion connect` opens a shell with kubectl there"
        ),
    }
}

/// An open tunnel: the plugin, its SSM session, and the kubeconfig helm uses to reach the
/// local end (a cluster entry and a context only; the user entry stays in the operator's
/// kubeconfig and is referred to by name, so no credential is copied).
pub struct Tunnel {
    forward: Forward,
    endpoint: Endpoint,
    why: String,
    _dir: tempfile::TempDir,
    /// KUBECONFIG for children: the tunnel's file first, then the operator's.
    pub kubeconfig: OsString,
    /// The context in that file.
    pub context: String,
}

/// How long a bastion's SSM agent may take to register (a bastion Terraform just made).
const AGENT_WAIT: Duration = Duration::from_secs(300);
/// How long the plugin may take to listen.
const LISTEN_WAIT: Duration = Duration::from_secs(30);

fn no_path(s: &Settings, c: &ClusterInfo, why: String) -> anyhow::Error {
    UserError::failed(
        format!(
            "cannot reach EKS cluster `{}`'s API from here: {why}",
            c.name
        ),
        format!(
            "create a bastion with `deployctl bastion create --cluster {cl}` (deployctl then tunnels through it by itself); \
             or open the public endpoint to this machine: `endpoint_public_access = true` and `public_access_cidrs = [\"<your address>/32\"]` \
             in the tfvars, then `deployctl infrastructure`; from inside the VPC, set API_ACCESS=direct",
            cl = s.cluster
        ),
    )
    .into()
}

/// An SSM port forward through a running bastion of the cluster (`AWS-StartPortForwardingSessionToRemoteHost`):
/// `127.0.0.1:<local_port>` → `host:port` as the bastion resolves it. The session response
/// (and its token) reaches the plugin in its environment, never in argv.
pub struct Forward {
    plugin: Background,
    session_id: String,
    pub instance: String,
    pub local_port: u16,
}

/// Whether a bastion of the cluster is running (so a forward can be tried).
pub async fn bastion_running(aws: &Aws, cluster: &str) -> Result<Option<String>> {
    let mut bastions = crate::platform::aws::ec2::find_bastions(aws, cluster).await?;
    bastions.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(bastions
        .into_iter()
        .find(|i| i.state == aws_sdk_ec2::types::InstanceStateName::Running)
        .map(|i| i.id))
}

/// Open a forward to `host:port` — `what` names the far end for messages ("EKS cluster `x`'s
/// API", "the database db:5432"), `why` says why a forward is needed. When the cluster has no
/// bastion at all, the error is `no_bastion(reason)`.
pub async fn forward(
    aws: &Aws,
    s: &Settings,
    ui: &Ui,
    (host, port): (&str, u16),
    what: &str,
    why: &str,
    no_bastion: impl FnOnce(String) -> anyhow::Error,
) -> Result<Forward> {
    match ssm::plugin_problem().await {
        None => {}
        Some(ssm::PluginProblem::Missing) => {
            return Err(UserError::failed(
                format!(
                    "cannot reach {what} from here ({why}): `{}` is not installed, and deployctl tunnels through the bastion with it",
                    ssm::PLUGIN
                ),
                format!(
                    "{}; or open the public endpoint to this machine (`endpoint_public_access`, `public_access_cidrs` in the tfvars)",
                    ssm::PLUGIN_INSTALL
                ),
            )
            .into());
        }
        Some(ssm::PluginProblem::TooOld(found)) => {
            return Err(ssm::too_old(&found, &format!("the tunnel to {what}")).into());
        }
        Some(ssm::PluginProblem::Other(e)) => return Err(e),
    }
    let mut bastions = crate::platform::aws::ec2::find_bastions(aws, &s.cluster).await?;
    bastions.sort_by(|a, b| a.id.cmp(&b.id));
    let running: Vec<_> = bastions
        .iter()
        .filter(|i| i.state == aws_sdk_ec2::types::InstanceStateName::Running)
        .collect();
    let Some(bastion) = running.first() else {
        let stopped: Vec<&str> = bastions.iter().map(|i| i.id.as_str()).collect();
        if !stopped.is_empty() {
            return Err(UserError::failed(
                format!(
                    "cannot reach {what} from here ({why}): its bastion {} is not running",
                    stopped.join(", ")
                ),
                format!(
                    "start it with `aws ec2 start-instances --instance-ids {}` and run again",
                    stopped.join(" ")
                ),
            )
            .into());
        }
        return Err(no_bastion(format!(
            "{why}, and no bastion of it is running to tunnel through"
        )));
    };
    let local_port = free_port()?;
    let started = Instant::now();
    let mut said = false;
    let session = loop {
        match ssm::start_port_forward(aws, &bastion.id, host, port, local_port).await {
            Ok(session) => break session,
            Err(StartError::NotConnected(detail)) if started.elapsed() < AGENT_WAIT => {
                if !said {
                    ui.info(&format!(
                        "waiting for the SSM agent of bastion {} to connect ({detail})",
                        bastion.id
                    ));
                    said = true;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(StartError::NotConnected(detail)) => {
                return Err(UserError::failed(
                    format!(
                        "cannot open the tunnel to {what}: the SSM agent of bastion {} did not connect within {}s ({detail})",
                        bastion.id,
                        AGENT_WAIT.as_secs()
                    ),
                    format!(
                        "check it with `aws ssm describe-instance-information --filters Key=InstanceIds,Values={}`; a bastion needs the AmazonSSMManagedInstanceCore policy and a way to SSM (NAT or VPC endpoints)",
                        bastion.id
                    ),
                )
                .into());
            }
            Err(StartError::Other(e)) => return Err(e),
        }
    };
    let mut plugin = match session.plugin(aws, s.aws_profile.as_deref()).start() {
        Ok(p) => p,
        Err(e) => {
            let _ = ssm::terminate(aws, &session.id).await;
            return Err(e.into());
        }
    };
    // Ready when the local end accepts a connection; failing stops the plugin and ends the
    // session, here and only here.
    if let Err(e) = wait_listening(&mut plugin, local_port).await {
        plugin.stop(Duration::from_secs(2)).await;
        let _ = ssm::terminate(aws, &session.id).await;
        return Err(e);
    }
    Ok(Forward {
        plugin,
        session_id: session.id,
        instance: bastion.id.clone(),
        local_port,
    })
}

impl Forward {
    /// Close it: stop the plugin, end the SSM session.
    pub async fn close(self, aws: &Aws, ui: &Ui) {
        self.plugin.stop(Duration::from_secs(3)).await;
        match ssm::terminate(aws, &self.session_id).await {
            Ok(()) => ui.detail(&format!(
                "closed the tunnel via bastion {} (session {})",
                self.instance, self.session_id
            )),
            Err(e) => ui.warn(&format!(
                "the tunnel's plugin is stopped, but ending its SSM session failed ({e:#}); it ends by itself when idle"
            )),
        }
    }
}

/// Open the tunnel to the cluster's API through a running bastion of the cluster.
pub async fn open(
    aws: &Aws,
    s: &Settings,
    ui: &Ui,
    c: &ClusterInfo,
    t: &Target,
    why: String,
) -> Result<Tunnel> {
    let endpoint = parse_endpoint(&c.endpoint)?;
    let what = format!("EKS cluster `{}`'s API", c.name);
    let forward = forward(
        aws,
        s,
        ui,
        (&endpoint.host, endpoint.port),
        &what,
        &why,
        |reason| no_path(s, c, reason),
    )
    .await?;
    // Then the kubeconfig for children; failing closes the forward.
    let context = format!("deployctl-tunnel-{}", s.cluster);
    let (dir, kubeconfig) = match write_kubeconfig(s, c, t, &endpoint, forward.local_port, &context)
    {
        Ok(v) => v,
        Err(e) => {
            forward.close(aws, ui).await;
            return Err(e);
        }
    };
    Ok(Tunnel {
        forward,
        endpoint,
        why,
        _dir: dir,
        kubeconfig,
        context,
    })
}

/// Wait until the plugin listens on the local port (it may exit, or never listen).
async fn wait_listening(plugin: &mut Background, local_port: u16) -> Result<()> {
    let deadline = Instant::now() + LISTEN_WAIT;
    loop {
        if let Some(code) = plugin.exited() {
            return Err(anyhow!(
                "`{}` exited ({}) before the tunnel opened:\n{}",
                ssm::PLUGIN,
                code.map(|c| format!("code {c}"))
                    .unwrap_or_else(|| "by a signal".into()),
                plugin.output_tail()
            ));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", local_port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "`{}` did not listen on 127.0.0.1:{local_port} within {}s:\n{}",
                ssm::PLUGIN,
                LISTEN_WAIT.as_secs(),
                plugin.output_tail()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port nobody listens on now (the plugin binds it next).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| anyhow!("cannot find a free local port for the tunnel: {e}"))?;
    Ok(l.local_addr()?.port())
}

/// The tunnel's kubeconfig for children (helm): one cluster entry at the local end with the
/// EKS endpoint's name for TLS, and one context with the operator's user entry (by name) and
/// namespace. KUBECONFIG lists it before the operator's files, so kubectl and helm merge it.
fn write_kubeconfig(
    s: &Settings,
    c: &ClusterInfo,
    t: &Target,
    endpoint: &Endpoint,
    local_port: u16,
    context: &str,
) -> Result<(tempfile::TempDir, OsString)> {
    let dir = crate::platform::tools::private_tempdir("deployctl-tunnel-")?;
    let file = dir.path().join("kubeconfig");
    let doc = tunnel_kubeconfig(c, t, endpoint, local_port, context);
    let text = serde_saphyr::to_string(&doc)?;
    {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(&file)?.write_all(text.as_bytes())?;
    }
    let theirs = s
        .kubeconfig
        .clone()
        .or_else(|| {
            s.home
                .as_ref()
                .map(|h| h.join(".kube/config").display().to_string())
        })
        .unwrap_or_default();
    let mut list = OsString::from(file);
    if !theirs.is_empty() {
        list.push(":");
        list.push(theirs);
    }
    Ok((dir, list))
}

pub fn tunnel_kubeconfig(
    c: &ClusterInfo,
    t: &Target,
    endpoint: &Endpoint,
    local_port: u16,
    context: &str,
) -> serde_json::Value {
    let mut cluster = serde_json::json!({
        "server": format!("{}://127.0.0.1:{local_port}", endpoint.scheme),
    });
    if endpoint.scheme == "https" {
        cluster["tls-server-name"] = endpoint.host.clone().into();
    }
    if let Some(ca) = &c.certificate_authority {
        cluster["certificate-authority-data"] = ca.clone().into();
    }
    let mut ctx = serde_json::json!({"cluster": context, "user": t.user});
    if let Some(ns) = &t.namespace {
        ctx["namespace"] = ns.clone().into();
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "contexts": [{"name": context, "context": ctx}],
    })
}

impl Tunnel {
    /// The route the kube client takes: the local end, verified as the EKS endpoint.
    pub fn route(&self) -> Route {
        Route {
            url: Some(format!(
                "{}://127.0.0.1:{}",
                self.endpoint.scheme, self.forward.local_port
            )),
            tls_server_name: (self.endpoint.scheme == "https").then(|| self.endpoint.host.clone()),
            describe: format!(
                "through an SSM tunnel via bastion {} ({}), local end 127.0.0.1:{}",
                self.forward.instance, self.why, self.forward.local_port
            ),
            unreachable_help: format!(
                "the tunnel via bastion {b} is open but the API does not answer through it: the cluster security group must admit 443 from the bastion's group \
                 (`deployctl bastion create` adds that rule); check the bastion with `deployctl bastion connect`",
                b = self.forward.instance
            ),
        }
    }

    /// Close it: stop the plugin, end the SSM session.
    pub async fn close(self, aws: &Aws, ui: &Ui) {
        self.forward.close(aws, ui).await
    }

    /// The bastion it runs through.
    pub fn instance(&self) -> &str {
        &self.forward.instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(public: bool, private: bool, cidrs: &[&str]) -> ClusterInfo {
        ClusterInfo {
            name: "prod".into(),
            arn: "arn:aws:eks:us-east-1:111122223333:cluster/prod".into(),
            status: "ACTIVE".into(),
            version: "1.35".into(),
            endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com".into(),
            oidc_issuer: None,
            vpc_id: None,
            subnet_ids: vec![],
            security_group_ids: vec![],
            cluster_security_group_id: None,
            authentication_mode: None,
            certificate_authority: Some("Q0E=".into()),
            endpoint_public_access: public,
            endpoint_private_access: private,
            public_access_cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn settings(access: &str) -> Settings {
        let env = crate::config::Env::from_pairs([("API_ACCESS", access)]);
        Settings::resolve(
            &Default::default(),
            &env,
            crate::config::Terminal {
                stdin: false,
                stdout: false,
                stderr: false,
            },
        )
        .unwrap()
    }

    #[test]
    fn the_path_follows_the_endpoint_and_the_setting() {
        let private = cluster(false, true, &[]);
        let allowed = cluster(true, true, &["203.0.113.7/32"]);
        let open = cluster(true, false, &["0.0.0.0/0"]);
        assert_eq!(
            choose(&settings("auto"), &private),
            Path::Tunnel("the endpoint is private".into())
        );
        let Path::Direct(r) = choose(&settings("auto"), &allowed) else {
            panic!("a public endpoint is reached directly")
        };
        assert!(
            r.describe.contains("allowed from 203.0.113.7/32"),
            "{}",
            r.describe
        );
        assert!(r.unreachable_help.contains("public_access_cidrs"));
        assert_eq!(r.url, None);
        let Path::Direct(r) = choose(&settings("auto"), &open) else {
            panic!()
        };
        assert!(r.describe.contains("open to any address"));
        // The operator's word wins both ways.
        assert!(matches!(
            choose(&settings("tunnel"), &open),
            Path::Tunnel(_)
        ));
        let Path::Direct(r) = choose(&settings("direct"), &private) else {
            panic!()
        };
        assert!(r.describe.contains("inside the VPC"), "{}", r.describe);
        assert!(r.unreachable_help.contains("unset API_ACCESS"));
        // Neither reported (not a real EKS answer): try the endpoint.
        assert!(matches!(
            choose(&settings("auto"), &cluster(false, false, &[])),
            Path::Direct(_)
        ));
    }

    #[test]
    fn endpoints_split_into_scheme_host_and_port() {
        let e = parse_endpoint("https://ABC.gr7.us-east-1.eks.amazonaws.com").unwrap();
        assert_eq!(
            (e.scheme.as_str(), e.host.as_str(), e.port),
            ("https", "ABC.gr7.us-east-1.eks.amazonaws.com", 443)
        );
        let e = parse_endpoint("http://127.0.0.1:8080/").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8080));
        assert!(parse_endpoint("no-scheme").is_err());
        assert!(parse_endpoint("https://:443").is_err());
    }

    #[test]
    fn the_tunnel_kubeconfig_keeps_the_endpoint_name_for_tls_and_copies_no_credential() {
        let c = cluster(false, true, &[]);
        let t = Target {
            kubeconfig: "kc".into(),
            context: "ctx".into(),
            cluster_entry: c.arn.clone(),
            server: c.endpoint.clone(),
            ca: None,
            user: "me".into(),
            namespace: Some("ops".into()),
            access: String::new(),
        };
        let e = parse_endpoint(&c.endpoint).unwrap();
        let doc = tunnel_kubeconfig(&c, &t, &e, 40123, "deployctl-tunnel-prod");
        let cl = &doc["clusters"][0]["cluster"];
        assert_eq!(cl["server"], "https://127.0.0.1:40123");
        assert_eq!(cl["tls-server-name"], "ABC.gr7.us-east-1.eks.amazonaws.com");
        assert_eq!(cl["certificate-authority-data"], "Q0E=");
        assert_eq!(doc["contexts"][0]["context"]["user"], "me");
        assert_eq!(doc["contexts"][0]["context"]["namespace"], "ops");
        assert!(doc.get("users").is_none(), "no user entry: {doc}");
    }
}
