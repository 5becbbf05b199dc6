//! AWS through aws-sdk-rust: one `SdkConfig` per run from the standard sources (profile,
//! region, `AWS_ENDPOINT_URL` — no special path for tests), thin per-service clients, and
//! "not found" as `Ok(None)` decided from each operation's service error.

pub mod bedrock;
pub mod ec2;
pub mod eks;
pub mod iam;
pub mod policy;
pub mod secrets;
pub mod ssm;

use crate::config::Settings;
use crate::error::UserError;
use anyhow::Result;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::sync::OnceCell;

pub use aws_sdk_sts::error::SdkError;
pub type HttpResponse = aws_sdk_sts::config::http::HttpResponse;

/// One readable line for an SDK error: the service's code and message (with the HTTP
/// status), or the whole chain for failures before a response (credentials, network).
pub fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("error");
            let message = err.message().unwrap_or("no message");
            format!("{code}: {message} (HTTP {})", se.raw().status().as_u16())
        }
        other => error_chain(other),
    }
}

/// The one mapping from an SDK error to deployctl's: `.map_err(aws::failed("EC2 DescribeSubnets"))`
/// → "EC2 DescribeSubnets failed: <code>: <message> (HTTP <status>)".
pub fn failed<E>(what: impl Into<String>) -> impl FnOnce(SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let what = what.into();
    move |e| anyhow::anyhow!("{what} failed: {}", describe(&e))
}

/// An operation's answer with "not found" as `Ok(None)`: `absent` says, from the operation's
/// service error, whether the thing does not exist (`is_no_such_entity_exception`,
/// `is_resource_not_found_exception`, …); any other error is `failed(what)`.
pub fn or_not_found<T, E>(
    answer: Result<T, SdkError<E, HttpResponse>>,
    absent: impl FnOnce(&E) -> bool,
    what: impl Into<String>,
) -> anyhow::Result<Option<T>>
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.as_service_error().is_some_and(absent) => Ok(None),
        Err(e) => Err(failed(what)(e)),
    }
}

/// Whether the endpoint does not implement the operation (moto lacks some: EKS access
/// entries, SSM DescribeInstanceInformation): an unmodeled answer, or HTTP 404/405/501, or
/// 500 after the SDK's retries. Decided from the status, never from message text.
pub fn not_implemented<E>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(se) => matches!(se.raw().status().as_u16(), 404 | 405 | 500 | 501),
        SdkError::ResponseError(_) => true,
        _ => false,
    }
}

/// The service's error code of an SDK error (`DependencyViolation`, …), when it has one.
pub fn error_code<E>(e: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: aws_sdk_sts::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|s| s.code())
}

/// The Display text of an error and its sources, without repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// Whether the request never reached AWS (network, timeout) — as opposed to credentials.
fn unreachable<E>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(e, SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout())
        || matches!(e, SdkError::TimeoutError(_))
}

pub struct Aws {
    pub config: SdkConfig,
    pub region: String,
    profile: Option<String>,
    account: OnceCell<String>,
    preset_account: Option<String>,
}

impl Aws {
    pub async fn load(s: &Settings) -> Aws {
        // Retries: the SDK's standard mode (BehaviorVersion::latest), 3 attempts, with
        // AWS_MAX_ATTEMPTS / AWS_RETRY_MODE or the profile able to change it. Every call is
        // bounded: 10 s to connect, 30 s per attempt, 90 s per operation.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .operation_attempt_timeout(std::time::Duration::from_secs(30))
            .operation_timeout(std::time::Duration::from_secs(90))
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .timeout_config(timeouts)
            .load()
            .await;
        Aws {
            config,
            region: s.region.clone(),
            profile: s.aws_profile.clone(),
            account: OnceCell::new(),
            preset_account: s.account_id.clone(),
        }
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }
    pub fn bedrock(&self) -> aws_sdk_bedrock::Client {
        aws_sdk_bedrock::Client::new(&self.config)
    }

    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.config)
    }
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.config)
    }
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config)
    }
    pub fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.config)
    }

    fn profile_label(&self) -> String {
        self.profile
            .clone()
            .map(|p| format!("profile `{p}`"))
            .unwrap_or_else(|| "the default credential chain".into())
    }

    /// The caller's account: AWS_ACCOUNT_ID, else STS GetCallerIdentity (once per run).
    /// Failing here means the credentials do not work: a clear error naming profile and
    /// region, before anything was changed.
    /// The account, if STS (or ACCOUNT_ID) already told it.
    pub fn known_account(&self) -> Option<String> {
        self.preset_account
            .clone()
            .or_else(|| self.account.get().cloned())
    }

    pub async fn account_id(&self) -> Result<String> {
        if let Some(a) = &self.preset_account {
            return Ok(a.clone());
        }
        if let Some(p) = &self.profile
            && let Some(files) = profile_missing(p)
        {
            return Err(UserError::usage(
                format!("AWS profile `{p}` is not defined (looked in {files})"),
                "list the profiles with `aws configure list-profiles`, then pass --profile <name> or set AWS_PROFILE; `aws configure --profile <name>` creates one",
            )
            .into());
        }
        let id = self
            .account
            .get_or_try_init(|| async {
                let out = self.sts().get_caller_identity().send().await.map_err(|e| {
                    if unreachable(&e) {
                        return UserError::failed(
                            format!(
                                "cannot reach AWS STS in region `{}`: {}",
                                self.region,
                                describe(&e)
                            ),
                            "check the network (or proxy), AWS_REGION and AWS_ENDPOINT_URL",
                        );
                    }
                    if self.profile.is_none()
                        && (no_credentials(&e) || (credentials_failed(&e) && !any_configured_source()))
                    {
                        return UserError::failed(
                            "no AWS credentials found: no AWS_PROFILE, no AWS_ACCESS_KEY_ID, no SSO or web-identity token, no instance role".to_string(),
                            "pass --profile <name> (see `aws configure list-profiles`), run `aws configure` or `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                        );
                    }
                    UserError::failed(
                        format!(
                            "cannot use AWS credentials ({}, region `{}`): {}",
                            self.profile_label(),
                            self.region,
                            describe(&e)
                        ),
                        format!(
                            "check them with `aws sts get-caller-identity{}`; configure them with `aws configure` or `aws sso login`",
                            self.profile.as_ref().map(|p| format!(" --profile {p}")).unwrap_or_default()
                        ),
                    )
                })?;
                match out.account {
                    Some(a) if !a.is_empty() => anyhow::Ok(a),
                    _ => Err(UserError::failed(
                        "STS GetCallerIdentity returned no account id",
                        "set AWS_ACCOUNT_ID explicitly",
                    )
                    .into()),
                }
            })
            .await?;
        Ok(id.clone())
    }

    /// The partition of the region (aws, aws-cn, aws-us-gov, ...), for ARNs.
    pub fn partition(&self) -> &'static str {
        partition_of(&self.region)
    }

    /// The DNS suffix of the region's partition, for AWS host names.
    pub fn dns_suffix(&self) -> String {
        dns_suffix_of(&self.region)
    }
}

/// The partition of a region, by the region-name patterns of the SDK's partition data
/// (`endpoint_lib` in every aws-sdk crate: `regionRegex` per partition). The unit test below
/// checks each against the DNS suffix the SDK itself resolves.
pub fn partition_of(region: &str) -> &'static str {
    const BY_PREFIX: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("eusc-", "aws-eusc"),
    ];
    BY_PREFIX
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, p)| p)
}

/// The DNS suffix of a region's partition (amazonaws.com, amazonaws.com.cn, ...), from the
/// SDK's own partition data: the regional STS endpoint the SDK resolves for the region, less
/// `sts.<region>.`.
pub fn dns_suffix_of(region: &str) -> String {
    use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    use futures::FutureExt;
    let url = Params::builder()
        .region(region)
        .use_global_endpoint(false)
        .build()
        .ok()
        .and_then(|params| {
            DefaultResolver::new()
                .resolve_endpoint(&params)
                .now_or_never()?
                .ok()
                .map(|e| e.url().to_string())
        });
    url.as_deref()
        .and_then(|u| u.strip_prefix(&format!("https://sts.{region}.")))
        .map(|s| s.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "amazonaws.com".to_string())
}

/// What EKS says about the cluster (the fields deployctl uses).
#[derive(Debug, Clone, Default)]
pub struct ClusterInfo {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub version: String,
    pub endpoint: String,
    pub oidc_issuer: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    /// The security group EKS made for the control plane and managed nodes.
    pub cluster_security_group_id: Option<String>,
    pub authentication_mode: Option<String>,
    /// Base64 PEM of the cluster CA.
    pub certificate_authority: Option<String>,
    /// Who can reach the API endpoint: from the internet (limited to `public_access_cidrs`)
    /// and/or from inside the VPC.
    pub endpoint_public_access: bool,
    pub endpoint_private_access: bool,
    pub public_access_cidrs: Vec<String>,
}

/// EKS DescribeCluster; `Ok(None)` when there is no such cluster.
pub async fn describe_cluster(aws: &Aws, name: &str) -> Result<Option<ClusterInfo>> {
    let answer = aws.eks().describe_cluster().name(name).send().await;
    let absent =
        aws_sdk_eks::operation::describe_cluster::DescribeClusterError::is_resource_not_found_exception;
    match or_not_found(answer, absent, format!("EKS DescribeCluster `{name}`"))? {
        None => Ok(None),
        Some(out) => {
            let Some(c) = out.cluster else {
                return Ok(None);
            };
            let vpc = c
                .resources_vpc_config
                .clone()
                .unwrap_or_else(|| aws_sdk_eks::types::VpcConfigResponse::builder().build());
            Ok(Some(ClusterInfo {
                name: c.name.clone().unwrap_or_default(),
                arn: c.arn.clone().unwrap_or_default(),
                status: c
                    .status
                    .as_ref()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                version: c.version.clone().unwrap_or_default(),
                endpoint: c.endpoint.clone().unwrap_or_default(),
                oidc_issuer: c
                    .identity
                    .as_ref()
                    .and_then(|i| i.oidc.as_ref())
                    .and_then(|o| o.issuer.clone()),
                vpc_id: vpc.vpc_id.clone().filter(|v| !v.is_empty()),
                subnet_ids: vpc.subnet_ids.clone().unwrap_or_default(),
                security_group_ids: vpc.security_group_ids.clone().unwrap_or_default(),
                endpoint_public_access: vpc.endpoint_public_access,
                endpoint_private_access: vpc.endpoint_private_access,
                public_access_cidrs: vpc.public_access_cidrs.clone().unwrap_or_default(),
                cluster_security_group_id: vpc
                    .cluster_security_group_id
                    .clone()
                    .filter(|g| !g.is_empty()),
                certificate_authority: c
                    .certificate_authority
                    .as_ref()
                    .and_then(|ca| ca.data.clone()),
                authentication_mode: c
                    .access_config
                    .as_ref()
                    .and_then(|a| a.authentication_mode.as_ref())
                    .map(|m| m.as_str().to_string()),
            }))
        }
    }
}

/// The cluster, or a clear error when it does not exist.
pub async fn require_cluster(aws: &Aws, name: &str) -> Result<ClusterInfo> {
    describe_cluster(aws, name).await?.ok_or_else(|| {
        UserError::failed(
            format!("EKS cluster `{name}` does not exist in region `{}`", aws.region),
            "create it with `deployctl infrastructure`, or set EKS_CLUSTER_NAME / --cluster and AWS_REGION / --region",
        )
        .into()
    })
}

/// An RDS instance of the account, by its endpoint address.
#[derive(Debug, Clone)]
pub struct DbInstance {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub multi_az: bool,
    pub encrypted: bool,
    /// Its VPC security groups.
    pub security_groups: Vec<String>,
}

/// The RDS instance whose endpoint is `address`; `Ok(None)` when no instance of the account
/// and region has it (an external database, say).
pub async fn db_instance_by_address(aws: &Aws, address: &str) -> Result<Option<DbInstance>> {
    let mut pages = aws.rds().describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| anyhow::anyhow!("RDS DescribeDBInstances failed: {}", describe(&e)))?;
        for db in page.db_instances() {
            if db.endpoint().and_then(|e| e.address()) == Some(address) {
                return Ok(Some(DbInstance {
                    id: db.db_instance_identifier().unwrap_or_default().to_string(),
                    status: db.db_instance_status().unwrap_or_default().to_string(),
                    engine: format!(
                        "{} {}",
                        db.engine().unwrap_or_default(),
                        db.engine_version().unwrap_or_default()
                    ),
                    multi_az: db.multi_az().unwrap_or(false),
                    encrypted: db.storage_encrypted().unwrap_or(false),
                    security_groups: db
                        .vpc_security_groups()
                        .iter()
                        .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                        .collect(),
                }));
            }
        }
    }
    Ok(None)
}

/// The OIDC issuer of the cluster: OIDC_PROVIDER, else EKS.
pub async fn oidc_issuer(aws: &Aws, s: &Settings) -> Result<String> {
    if let Some(p) = &s.oidc_provider {
        return Ok(if p.starts_with("https://") {
            p.clone()
        } else {
            format!("https://{p}")
        });
    }
    let cluster = require_cluster(aws, &s.cluster).await?;
    cluster.oidc_issuer.ok_or_else(|| {
        UserError::failed(
            format!("EKS cluster `{}` reports no OIDC issuer", s.cluster),
            "set OIDC_PROVIDER to the cluster's issuer URL",
        )
        .into()
    })
}

/// Whether no credential source produced credentials (the SDK then ends at IMDS and says so).
fn no_credentials<E: std::error::Error + 'static>(e: &E) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some_and(|c| {
                matches!(
                    c,
                    aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(
                        _
                    )
                )
            })
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether loading credentials failed (any provider error in the chain).
fn credentials_failed<E: std::error::Error + 'static>(e: &E) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether any credential source other than the instance metadata service is configured:
/// keys or a web-identity/container source in the environment, or a default profile in the
/// shared files. Without one, a credentials failure is "no credentials", whatever IMDS said.
fn any_configured_source() -> bool {
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    if [
        "AWS_ACCESS_KEY_ID",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .iter()
    .any(|v| set(v))
    {
        return true;
    }
    profile_missing("default").is_none()
}

/// When the profile is in neither shared file: the files looked in (the SDK would only say
/// that IMDS did not answer). `None` when it exists or the files cannot be read (then the
/// SDK's own error is the better one).
fn profile_missing(profile: &str) -> Option<String> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let config = file("AWS_CONFIG_FILE", ".aws/config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let mut looked = Vec::new();
    for (path, in_config) in [(config, true), (credentials, false)] {
        let Some(path) = path else { continue };
        looked.push(path.display().to_string());
        match std::fs::read_to_string(&path) {
            Ok(text) if defines_profile(&text, profile, in_config) => return None,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
    }
    Some(looked.join(" and "))
}

/// Whether an INI text has the profile's section: `[profile NAME]` (or `[default]`) in the
/// config file, `[NAME]` in the credentials file.
fn defines_profile(text: &str, profile: &str, in_config: bool) -> bool {
    text.lines().any(|l| {
        let Some(inner) = l.trim().strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
            return false;
        };
        let words: Vec<&str> = inner.split_whitespace().collect();
        match (in_config, words.as_slice()) {
            (true, ["profile", name]) => *name == profile,
            (true, [name]) => *name == profile && profile == "default",
            (false, [name]) => *name == profile,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_as_the_cli_writes_them() {
        let config = "[default]\nregion = us-east-1\n[profile dev]\nregion = eu-west-1\n[sso-session corp]\n";
        assert!(defines_profile(config, "dev", true));
        assert!(defines_profile(config, "default", true));
        assert!(!defines_profile(config, "corp", true));
        assert!(!defines_profile(config, "nope", true));
        let creds = "[dev]\naws_access_key_id = x\n";
        assert!(defines_profile(creds, "dev", false));
        assert!(!defines_profile(creds, "profile dev", false));
    }

    /// The partitions and suffixes match the SDK's partition data: one region of each.
    #[test]
    fn partitions_and_dns_suffixes_come_from_the_sdks_partition_data() {
        let cases = [
            ("us-east-1", "aws", "amazonaws.com"),
            ("eu-west-1", "aws", "amazonaws.com"),
            ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
            ("cn-northwest-1", "aws-cn", "amazonaws.com.cn"),
            ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
            ("us-iso-east-1", "aws-iso", "c2s.ic.gov"),
            ("us-isob-east-1", "aws-iso-b", "sc2s.sgov.gov"),
            ("eu-isoe-west-1", "aws-iso-e", "cloud.adc-e.uk"),
            ("us-isof-south-1", "aws-iso-f", "csp.hci.ic.gov"),
            ("eusc-de-east-1", "aws-eusc", "amazonaws.eu"),
        ];
        for (region, partition, suffix) in cases {
            assert_eq!(partition_of(region), partition, "{region}");
            assert_eq!(dns_suffix_of(region), suffix, "{region}");
        }
    }
}
