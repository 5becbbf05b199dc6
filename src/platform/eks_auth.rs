//! `deployctl eks-token`: the bearer token EKS accepts, made without the aws CLI — a
//! presigned STS GetCallerIdentity URL with the cluster name in the signed `x-k8s-aws-id`
//! header, `k8s-aws-v1.` + base64url, as aws-iam-authenticator makes it — printed as a
//! client.authentication.k8s.io ExecCredential for kubeconfig's exec plugin.

use crate::error::UserError;
use crate::platform::aws::Aws;
use anyhow::{Result, anyhow};
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// How long EKS accepts the token.
pub const VALIDITY: Duration = Duration::from_secs(15 * 60);

/// RFC 3986 unreserved characters stay as they are.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The presigned URL for `cluster`, signed for `region` at `now`.
pub fn presigned_url(
    identity: &aws_smithy_runtime_api::client::identity::Identity,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String> {
    // The regional STS host of the region's partition (sts.cn-north-1.amazonaws.com.cn in China).
    let host = format!(
        "sts.{region}.{}",
        crate::platform::aws::dns_suffix_of(region)
    );
    let base = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(VALIDITY);
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| anyhow!("cannot sign the EKS token: {e}"))?
        .into();
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let request = SignableRequest::new(
        "GET",
        base.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| anyhow!("cannot sign the EKS token: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| anyhow!("cannot sign the EKS token: {e}"))?
        .into_parts();
    let mut url = base;
    for (name, value) in instructions.params() {
        url.push('&');
        url.push_str(&utf8_percent_encode(name, QUERY).to_string());
        url.push('=');
        url.push_str(&utf8_percent_encode(value, QUERY).to_string());
    }
    Ok(url)
}

/// The token for a presigned URL.
pub fn token_of(url: &str) -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        crate::platform::encoding::base64url(url.as_bytes())
    )
}

/// The ExecCredential kubectl, helm and kube-rs read from an exec plugin.
pub fn exec_credential(token: &str, expires: SystemTime) -> Result<Value> {
    let ts = jiff::Timestamp::try_from(expires).map_err(|e| anyhow!("bad expiry: {e}"))?;
    Ok(json!({
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {},
        "status": {
            "expirationTimestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "token": token,
        }
    }))
}

/// Make the ExecCredential for the settings' cluster and region.
pub async fn run(aws: &Aws, cluster: &str) -> Result<Value> {
    let provider = aws.config.credentials_provider().ok_or_else(|| {
        UserError::failed(
            "no AWS credentials provider is configured",
            "configure credentials (`aws configure`, `aws sso login`, or AWS_PROFILE)",
        )
    })?;
    let creds = provider.provide_credentials().await.map_err(|e| {
        UserError::failed(
            format!(
                "cannot load AWS credentials for the EKS token (region `{}`): {e}",
                aws.region
            ),
            "check them with `aws sts get-caller-identity`",
        )
    })?;
    let identity = creds.into();
    let now = SystemTime::now();
    let url = presigned_url(&identity, &aws.region, cluster, now)?;
    // Expire a minute early so a client never sends a token EKS just stopped accepting.
    exec_credential(&token_of(&url), now + VALIDITY - Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_a_presigned_get_caller_identity_url_for_the_cluster() {
        let creds =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "t");
        let identity = creds.into();
        let url = presigned_url(&identity, "eu-west-1", "prod", SystemTime::now()).unwrap();
        let token = token_of(&url);
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(!token.contains('='), "base64url without padding");
        let decoded = String::from_utf8(
            crate::platform::encoding::decode(&token[TOKEN_PREFIX.len()..]).unwrap(),
        )
        .unwrap();
        assert_eq!(decoded, url);
        assert!(url.starts_with(
            "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ));
        assert!(url.contains("X-Amz-Expires=900"), "{url}");
        assert!(
            url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
            "{url}"
        );
        assert!(url.contains("%2Feu-west-1%2Fsts%2Faws4_request"), "{url}");
        assert!(url.contains("X-Amz-Signature="));
        assert!(!url.contains("secret"));
    }
}
