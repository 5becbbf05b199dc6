//! SSM sessions: a shell on the bastion (`bastion connect`) and a port forward through it to
//! the cluster's private API endpoint (the tunnel), both handed to AWS's
//! `session-manager-plugin` the way the current aws CLI hands them: the session response —
//! which carries the session token — in the `AWS_SSM_START_SESSION_RESPONSE` environment
//! variable, never in argv where `ps` shows it.

use super::{Aws, describe};
use crate::error::UserError;
use crate::platform::tools::{Process, ProcessError};
use anyhow::Result;
use serde_json::{Value, json};

/// The SSM document that forwards a local port to a host the instance can reach
/// (`aws ssm start-session --document-name AWS-StartPortForwardingSessionToRemoteHost`).
pub const PORT_FORWARD_DOCUMENT: &str = "AWS-StartPortForwardingSessionToRemoteHost";

pub const PLUGIN: &str = "session-manager-plugin";

/// Where the Session Manager plugin comes from.
pub const PLUGIN_INSTALL: &str = "install the Session Manager plugin: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html";

/// A started session: its id, and what the plugin needs to attach to it.
pub struct Session {
    pub id: String,
    /// The StartSession request (target, document, parameters), as the plugin gets it.
    request: Value,
    /// SessionId, StreamUrl and TokenValue: secret, only ever in the plugin's environment.
    response: String,
}

/// Why a session could not start.
pub enum StartError {
    /// The instance's SSM agent is not connected (yet: a new instance registers within
    /// minutes; or its role, network path or agent is broken).
    NotConnected(String),
    Other(anyhow::Error),
}

/// The first plugin that reads the session response from the environment variable named in
/// its argv (AWS's session-manager-plugin release notes, 1.2.536.0: the aws CLI passes
/// `AWS_SSM_START_SESSION_RESPONSE` to it from then on). Older plugins want the response, and
/// its session token, in argv -- where every user of the machine can read it with `ps` -- so
/// deployctl refuses them rather than hand the token over the old way.
pub const PLUGIN_MIN_VERSION: [u32; 4] = [1, 2, 536, 0];

/// A plugin version such as `1.2.650.0` (what `--version` prints).
pub fn parse_plugin_version(text: &str) -> Option<[u32; 4]> {
    let word = text.split_whitespace().find(|w| w.contains('.'))?;
    let mut parts = word.trim().split('.').map(|p| p.parse::<u32>().ok());
    let mut v = [0u32; 4];
    for slot in &mut v {
        *slot = match parts.next() {
            Some(Some(n)) => n,
            Some(None) => return None,
            None => 0,
        };
    }
    Some(v)
}

/// What is wrong with the installed plugin, if anything.
pub enum PluginProblem {
    Missing,
    /// Older than PLUGIN_MIN_VERSION: the version found.
    TooOld(String),
    Other(anyhow::Error),
}

/// Ask the plugin its version (`--version`): `None` when it is installed and new enough to
/// take the session response from its environment. A version deployctl cannot read (a future
/// format) passes: the plugin's own error, if any, says more than a guess would.
pub async fn plugin_problem() -> Option<PluginProblem> {
    match Process::new(PLUGIN).arg("--version").output().await {
        Err(ProcessError::NotFound { .. }) => Some(PluginProblem::Missing),
        Err(e) => Some(PluginProblem::Other(e.into())),
        Ok(out) => match parse_plugin_version(&out.stdout) {
            Some(v) if v < PLUGIN_MIN_VERSION => {
                Some(PluginProblem::TooOld(v.map(|n| n.to_string()).join(".")))
            }
            _ => None,
        },
    }
}

/// The error for a plugin older than PLUGIN_MIN_VERSION.
pub fn too_old(found: &str, needed_for: &str) -> UserError {
    UserError::failed(
        format!(
            "`{PLUGIN}` is version {found}; {needed_for} needs 1.2.536.0 or later, the first that reads the session from its environment (older ones want the session token in argv, visible to every user through `ps`, which deployctl does not do); no session was started"
        ),
        format!(
            "upgrade the plugin, then run the command again: {PLUGIN_INSTALL} (`{PLUGIN} --version` shows the version)"
        ),
    )
}

/// The plugin is installed and new enough (see `plugin_problem`); else a clear error that
/// says how to get or upgrade it. Checked before any session is started.
pub async fn check_plugin(needed_for: &str) -> Result<()> {
    match plugin_problem().await {
        None => Ok(()),
        Some(PluginProblem::Missing) => Err(UserError::failed(
            format!("`{PLUGIN}` was not found on PATH; {needed_for} needs it"),
            PLUGIN_INSTALL,
        )
        .into()),
        Some(PluginProblem::TooOld(found)) => Err(too_old(&found, needed_for).into()),
        Some(PluginProblem::Other(e)) => Err(e),
    }
}

/// StartSession for a shell on `instance`.
pub async fn start_shell(aws: &Aws, instance: &str) -> Result<Session, StartError> {
    start(aws, json!({"Target": instance}), |b| b).await
}

/// StartSession forwarding `127.0.0.1:local_port` to `host:remote_port` as `instance` sees it.
pub async fn start_port_forward(
    aws: &Aws,
    instance: &str,
    host: &str,
    remote_port: u16,
    local_port: u16,
) -> Result<Session, StartError> {
    let parameters = [
        ("host", host.to_string()),
        ("portNumber", remote_port.to_string()),
        ("localPortNumber", local_port.to_string()),
    ];
    let request = json!({
        "Target": instance,
        "DocumentName": PORT_FORWARD_DOCUMENT,
        "Parameters": parameters
            .iter()
            .map(|(k, v)| (k.to_string(), json!([v])))
            .collect::<serde_json::Map<_, _>>(),
    });
    start(aws, request, |b| {
        parameters
            .iter()
            .fold(b.document_name(PORT_FORWARD_DOCUMENT), |b, (k, v)| {
                b.parameters(*k, vec![v.clone()])
            })
    })
    .await
}

async fn start(
    aws: &Aws,
    request: Value,
    shape: impl FnOnce(
        aws_sdk_ssm::operation::start_session::builders::StartSessionFluentBuilder,
    )
        -> aws_sdk_ssm::operation::start_session::builders::StartSessionFluentBuilder,
) -> Result<Session, StartError> {
    let target = request["Target"].as_str().unwrap_or_default().to_string();
    let out = shape(aws.ssm().start_session().target(&target))
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_target_not_connected())
            {
                StartError::NotConnected(describe(&e))
            } else {
                StartError::Other(super::failed(format!("SSM StartSession {target}"))(e))
            }
        })?;
    let id = out.session_id().unwrap_or_default().to_string();
    let response = json!({
        "SessionId": id,
        "StreamUrl": out.stream_url(),
        "TokenValue": out.token_value(),
    })
    .to_string();
    Ok(Session {
        id,
        request,
        response,
    })
}

impl Session {
    /// The plugin attached to this session: the response in its environment; in argv the
    /// variable's name, region, operation, profile, the request and the SSM endpoint. None of
    /// deployctl's secret variables reach it.
    pub fn plugin(&self, aws: &Aws, profile: Option<&str>) -> Process {
        Process::new(PLUGIN)
            .env("AWS_SSM_START_SESSION_RESPONSE", self.response.clone())
            .args([
                "AWS_SSM_START_SESSION_RESPONSE".to_string(),
                aws.region.clone(),
                "StartSession".to_string(),
                profile.unwrap_or_default().to_string(),
                self.request.to_string(),
                format!("https://ssm.{}.{}", aws.region, aws.dns_suffix()),
            ])
    }
}

/// End a session on the SSM side (the plugin's exit alone leaves it open until it idles out).
pub async fn terminate(aws: &Aws, session_id: &str) -> Result<()> {
    aws.ssm()
        .terminate_session()
        .session_id(session_id)
        .send()
        .await
        .map(|_| ())
        .map_err(super::failed(format!("SSM TerminateSession {session_id}")))
}

/// A Parameter Store value (public parameters such as the latest AMI id included).
pub async fn parameter(aws: &Aws, name: &str) -> Result<Option<String>> {
    let out = aws
        .ssm()
        .get_parameter()
        .name(name)
        .send()
        .await
        .map_err(super::failed(format!("SSM GetParameter `{name}`")))?;
    Ok(out.parameter.and_then(|p| p.value))
}

/// Whether an instance's SSM agent is connected.
#[derive(Debug, PartialEq, Eq)]
pub enum Ping {
    Online,
    NotYet,
    /// The endpoint does not implement DescribeInstanceInformation (moto).
    Unsupported,
}

pub async fn ping(aws: &Aws, instance: &str) -> Result<Ping> {
    let filter = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
        .key("InstanceIds")
        .values(instance)
        .build()
        .map_err(|e| anyhow::anyhow!("invalid SSM filter: {e}"))?;
    match aws
        .ssm()
        .describe_instance_information()
        .filters(filter)
        .send()
        .await
    {
        Ok(out) => Ok(
            if out
                .instance_information_list()
                .iter()
                .any(|i| i.ping_status.as_ref().map(|p| p.as_str()) == Some("Online"))
            {
                Ping::Online
            } else {
                Ping::NotYet
            },
        ),
        Err(e) if super::not_implemented(&e) => Ok(Ping::Unsupported),
        Err(e) => Err(super::failed("SSM DescribeInstanceInformation")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_versions_are_read_and_compared() {
        assert_eq!(parse_plugin_version("1.2.536.0\n"), Some([1, 2, 536, 0]));
        assert_eq!(parse_plugin_version("1.2.707.0"), Some([1, 2, 707, 0]));
        assert!(parse_plugin_version("1.2.497.0").unwrap() < PLUGIN_MIN_VERSION);
        assert!(parse_plugin_version("1.2.536.0").unwrap() >= PLUGIN_MIN_VERSION);
        assert!(parse_plugin_version("1.10.0.0").unwrap() > PLUGIN_MIN_VERSION);
        assert_eq!(parse_plugin_version("no version here"), None);
        assert_eq!(parse_plugin_version("1.x.3"), None);
    }
}
