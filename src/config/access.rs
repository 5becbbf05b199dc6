//! Who reaches the stack and how they sign in, in one place: `access.yaml` of the project
//! directory (every key optional), with environment variables that override it. Read once
//! per run by `config::Settings::resolve`, checked there (half a configuration is refused,
//! with the file's line or the variable), and read by the steps that act on it: the load
//! balancer controller and the Ingresses (the entry point), `secrets` (the OpenWebUI admin
//! password, the OIDC client secret), OpenWebUI's overlay (admin, single sign-on), `verify`.
//!
//! No certificate, no entry point: the load balancer controller and the Ingresses are skipped
//! and `plan`/`verify` say how to add one.

use crate::error::UserError;
use serde::Deserialize;
use std::path::Path;

/// The file, relative to the project directory.
pub const FILE: &str = "access.yaml";

/// Where an ALB is reachable from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Only from inside the VPC (and networks routed to it).
    Internal,
    /// From the internet, limited to `allowed_cidrs`.
    InternetFacing,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Internal => "internal",
            Scheme::InternetFacing => "internet-facing",
        }
    }
}

/// Single sign-on for OpenWebUI through an OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// The provider's discovery document (`…/.well-known/openid-configuration`).
    pub provider_url: String,
    pub client_id: String,
    pub scopes: String,
    /// What the sign-in button says.
    pub provider_name: String,
    /// E-mail domains allowed to sign in (comma-separated); empty: any the provider vouches for.
    pub allowed_domains: String,
    /// The claim holding roles; set: OpenWebUI roles follow the provider's.
    pub roles_claim: String,
    pub allowed_roles: String,
    pub admin_roles: String,
    /// The claim holding groups; set: OpenWebUI groups follow the provider's.
    pub groups_claim: String,
}

/// The way in, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The ACM certificate (ARN) the load balancer presents; `None`: no entry point.
    pub certificate_arn: Option<String>,
    /// OpenWebUI's hostname (the certificate covers it).
    pub openwebui_host: Option<String>,
    /// The LiteLLM API's hostname; `None`: the API gets no entry point.
    pub api_host: Option<String>,
    pub scheme: Scheme,
    /// Who may reach the load balancer (`alb.ingress.kubernetes.io/inbound-cidrs`).
    pub allowed_cidrs: Vec<String>,
    /// Long enough for a streamed answer (ALB allows 1–4000 s).
    pub idle_timeout_seconds: u32,
    pub ssl_policy: String,
    /// The OpenWebUI admin made at start-up (its password: `<prefix>/openwebui-admin`).
    pub admin_email: String,
    /// The role of users signing in for the first time through single sign-on.
    pub default_role: String,
    /// E-mail and password sign-in (off only with single sign-on on).
    pub password_login: bool,
    pub oidc: Option<Oidc>,
}

/// The TLS policy of the listeners: TLS 1.3 and 1.2 with post-quantum key exchange, AWS's
/// recommended policy for ALBs (Elastic Load Balancing user guide, "Security policies for
/// your Application Load Balancer", read 2026-12-06).
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09";

impl Default for Access {
    fn default() -> Self {
        Access {
            certificate_arn: None,
            openwebui_host: None,
            api_host: None,
            scheme: Scheme::Internal,
            allowed_cidrs: Vec::new(),
            idle_timeout_seconds: 600,
            ssl_policy: DEFAULT_SSL_POLICY.into(),
            // OpenWebUI accepts `@localhost` addresses (utils/misc.py validate_email_format).
            admin_email: "admin@localhost".into(),
            default_role: "user".into(),
            password_login: true,
            oidc: None,
        }
    }
}

/// An entry point that is configured: certificate and hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint<'a> {
    pub certificate_arn: &'a str,
    pub openwebui_host: &'a str,
    pub api_host: Option<&'a str>,
}

/// How to add an entry point, for `plan`, `verify` and the skipped steps.
pub const HOW_TO_ADD: &str = "no entry point is configured: set entry_point.certificate_arn (an ACM certificate in the deploy region) and entry_point.openwebui_host in access.yaml, or ENTRY_CERTIFICATE_ARN and OPENWEBUI_HOST, then run `deployctl all`";

impl Access {
    /// The entry point, when a certificate and OpenWebUI's hostname are configured.
    pub fn entry_point(&self) -> Option<EntryPoint<'_>> {
        Some(EntryPoint {
            certificate_arn: self.certificate_arn.as_deref()?,
            openwebui_host: self.openwebui_host.as_deref()?,
            api_host: self.api_host.as_deref(),
        })
    }

    /// OpenWebUI's address, when there is an entry point.
    pub fn openwebui_url(&self) -> Option<String> {
        self.entry_point()
            .map(|e| format!("https://{}", e.openwebui_host))
    }

    /// The redirect URL the identity provider must allow (OpenWebUI's OIDC callback).
    pub fn redirect_url(&self) -> Option<String> {
        self.openwebui_url()
            .map(|u| format!("{u}/oauth/oidc/callback"))
    }
}

/// The file's shape. Unknown keys are refused (a misspelt key would silently do nothing).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct File {
    // Optional: a section whose keys are all commented out is empty (null) in YAML.
    entry_point: Option<FileEntry>,
    openwebui: Option<FileOpenwebui>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileEntry {
    certificate_arn: Option<String>,
    openwebui_host: Option<String>,
    api_host: Option<String>,
    scheme: Option<String>,
    allowed_cidrs: Option<Vec<String>>,
    idle_timeout_seconds: Option<u32>,
    ssl_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileOpenwebui {
    admin_email: Option<String>,
    default_role: Option<String>,
    password_login: Option<bool>,
    oidc: Option<FileOidc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileOidc {
    provider_url: Option<String>,
    client_id: Option<String>,
    scopes: Option<String>,
    provider_name: Option<String>,
    allowed_domains: Option<String>,
    roles_claim: Option<String>,
    allowed_roles: Option<String>,
    admin_roles: Option<String>,
    groups_claim: Option<String>,
}

/// A value that says something (empty strings are "not set").
fn given(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Read `access.yaml` (when the project has one) with `env` on top, and check it for
/// `region`. `env` answers a variable's value.
pub fn load(
    project_dir: &Path,
    region: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Access, UserError> {
    let path = project_dir.join(FILE);
    let file: File = match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => File::default(),
        Ok(text) => serde_saphyr::from_str(&text).map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(1);
            UserError::usage(
                format!(
                    "{}:{line}: {}",
                    path.display(),
                    crate::yaml::error_message(&e)
                ),
                format!(
                    "fix {FILE} (every key is optional; the example in the project's {FILE} lists them)"
                ),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
        Err(e) => {
            return Err(UserError::usage(
                format!("cannot read {}: {e}", path.display()),
                format!("make {FILE} readable, or remove it"),
            ));
        }
    };
    let var = |name: &str| given(env(name));
    let defaults = Access::default();
    let e = file.entry_point.unwrap_or_default();
    let o = file.openwebui.unwrap_or_default();
    let scheme_text = var("ENTRY_SCHEME").or(given(e.scheme));
    let scheme = match scheme_text.as_deref() {
        None | Some("internal") => Scheme::Internal,
        Some("internet-facing") => Scheme::InternetFacing,
        Some(other) => {
            return Err(UserError::usage(
                format!("entry point scheme `{other}` is not `internal` or `internet-facing`"),
                "set entry_point.scheme (or ENTRY_SCHEME) to internal (inside the VPC) or internet-facing",
            ));
        }
    };
    let allowed_cidrs = match var("ENTRY_ALLOWED_CIDRS") {
        Some(list) => list
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
        None => e.allowed_cidrs.unwrap_or_default(),
    };
    let password_login = match var("OPENWEBUI_PASSWORD_LOGIN") {
        Some(v) => crate::yes_no::parse_bool("OPENWEBUI_PASSWORD_LOGIN", &v)?,
        None => o.password_login.unwrap_or(true),
    };
    let f = o.oidc.unwrap_or_default();
    let provider_url = var("OIDC_PROVIDER_URL").or(given(f.provider_url));
    let client_id = var("OIDC_CLIENT_ID").or(given(f.client_id));
    let oidc = match (provider_url, client_id) {
        (None, None) => None,
        (Some(url), Some(id)) => Some(Oidc {
            provider_url: discovery_url(&url)?,
            client_id: id,
            scopes: given(f.scopes).unwrap_or_else(|| "openid email profile".into()),
            provider_name: given(f.provider_name).unwrap_or_else(|| "SSO".into()),
            allowed_domains: var("OIDC_ALLOWED_DOMAINS")
                .or(given(f.allowed_domains))
                .unwrap_or_default(),
            roles_claim: given(f.roles_claim).unwrap_or_default(),
            allowed_roles: given(f.allowed_roles).unwrap_or_default(),
            admin_roles: given(f.admin_roles).unwrap_or_default(),
            groups_claim: given(f.groups_claim).unwrap_or_default(),
        }),
        (Some(_), None) => {
            return Err(UserError::usage(
                "single sign-on is half configured: a provider URL but no client id",
                "set openwebui.oidc.client_id in access.yaml (or OIDC_CLIENT_ID), or remove the provider URL",
            ));
        }
        (None, Some(_)) => {
            return Err(UserError::usage(
                "single sign-on is half configured: a client id but no provider URL",
                "set openwebui.oidc.provider_url in access.yaml (or OIDC_PROVIDER_URL: the issuer, e.g. https://login.example.com/realms/acme), or remove the client id",
            ));
        }
    };
    let access = Access {
        certificate_arn: var("ENTRY_CERTIFICATE_ARN").or(given(e.certificate_arn)),
        openwebui_host: var("OPENWEBUI_HOST").or(given(e.openwebui_host)),
        api_host: var("LITELLM_API_HOST").or(given(e.api_host)),
        scheme,
        allowed_cidrs,
        idle_timeout_seconds: e
            .idle_timeout_seconds
            .unwrap_or(defaults.idle_timeout_seconds),
        ssl_policy: given(e.ssl_policy).unwrap_or(defaults.ssl_policy),
        admin_email: var("OPENWEBUI_ADMIN_EMAIL")
            .or(given(o.admin_email))
            .unwrap_or(defaults.admin_email),
        default_role: given(o.default_role).unwrap_or(defaults.default_role),
        password_login,
        oidc,
    };
    check(&access, region)?;
    Ok(access)
}

/// The provider's discovery document: an issuer URL gets `/.well-known/openid-configuration`
/// (what OpenWebUI's OPENID_PROVIDER_URL is); only https.
fn discovery_url(url: &str) -> Result<String, UserError> {
    let url = url.trim_end_matches('/');
    if !url.starts_with("https://") || url.len() <= "https://".len() {
        return Err(UserError::usage(
            format!("the OIDC provider URL `{url}` is not an https:// URL"),
            "set openwebui.oidc.provider_url (or OIDC_PROVIDER_URL) to the provider's issuer URL, https://…",
        ));
    }
    Ok(if url.ends_with("/.well-known/openid-configuration") {
        url.to_string()
    } else {
        format!("{url}/.well-known/openid-configuration")
    })
}

/// A DNS hostname (no scheme, no path, no wildcard).
fn valid_host(h: &str) -> bool {
    h.len() <= 253
        && h.contains('.')
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// An IPv4 or IPv6 CIDR block.
fn valid_cidr(c: &str) -> bool {
    let Some((ip, bits)) = c.split_once('/') else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 32),
        Ok(std::net::IpAddr::V6(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 128),
        Err(_) => false,
    }
}

/// `arn:<partition>:acm:<region>:<account>:certificate/<id>`, in the deploy region.
fn check_certificate(arn: &str, region: &str) -> Result<(), UserError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok_shape = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty());
    if !ok_shape {
        return Err(UserError::usage(
            format!("`{arn}` is not an ACM certificate ARN"),
            "set entry_point.certificate_arn (or ENTRY_CERTIFICATE_ARN) to arn:aws:acm:<region>:<account>:certificate/<id> (`aws acm list-certificates`)",
        ));
    }
    if parts[3] != region {
        return Err(UserError::usage(
            format!(
                "the certificate {arn} is in {}, the stack in {region}: a load balancer can only present a certificate of its own region",
                parts[3]
            ),
            format!("request or import the certificate in {region} (ACM), and name that one"),
        ));
    }
    Ok(())
}

/// Half a configuration, or one that would not work, is refused.
pub fn check(a: &Access, region: &str) -> Result<(), UserError> {
    if let Some(arn) = &a.certificate_arn {
        check_certificate(arn, region)?;
        if a.openwebui_host.is_none() {
            return Err(UserError::usage(
                "an entry point is half configured: a certificate but no hostname for OpenWebUI",
                "set entry_point.openwebui_host in access.yaml (or OPENWEBUI_HOST): the name the certificate covers, e.g. chat.example.com",
            ));
        }
    }
    for (what, host) in [
        (
            "entry_point.openwebui_host (OPENWEBUI_HOST)",
            &a.openwebui_host,
        ),
        ("entry_point.api_host (LITELLM_API_HOST)", &a.api_host),
    ] {
        if let Some(h) = host
            && !valid_host(h)
        {
            return Err(UserError::usage(
                format!("{what} `{h}` is not a hostname"),
                "give a DNS name such as chat.example.com (lower case, no scheme, no path, no wildcard)",
            ));
        }
    }
    if a.api_host.is_some() && a.api_host == a.openwebui_host {
        return Err(UserError::usage(
            "the LiteLLM API and OpenWebUI have the same hostname",
            "give the API a hostname of its own (entry_point.api_host / LITELLM_API_HOST), e.g. llm-api.example.com",
        ));
    }
    if let Some(bad) = a.allowed_cidrs.iter().find(|c| !valid_cidr(c)) {
        return Err(UserError::usage(
            format!("`{bad}` in the entry point's allowed_cidrs is not a CIDR block"),
            "list CIDR blocks such as 203.0.113.0/24 (entry_point.allowed_cidrs or ENTRY_ALLOWED_CIDRS, comma-separated)",
        ));
    }
    if a.scheme == Scheme::InternetFacing && a.allowed_cidrs.is_empty() {
        return Err(UserError::usage(
            "an internet-facing entry point without allowed_cidrs: say who may reach it",
            "set entry_point.allowed_cidrs (or ENTRY_ALLOWED_CIDRS) to your networks, or to 0.0.0.0/0 for anyone",
        ));
    }
    if !(1..=4000).contains(&a.idle_timeout_seconds) {
        return Err(UserError::usage(
            format!(
                "entry_point.idle_timeout_seconds {} is outside 1–4000 (the ALB's range)",
                a.idle_timeout_seconds
            ),
            "use e.g. 600: long enough for a streamed answer",
        ));
    }
    if !a.admin_email.contains('@') || a.admin_email.contains(char::is_whitespace) {
        return Err(UserError::usage(
            format!(
                "openwebui.admin_email `{}` is not an e-mail address",
                a.admin_email
            ),
            "set openwebui.admin_email (or OPENWEBUI_ADMIN_EMAIL) to the address the admin signs in with",
        ));
    }
    if !matches!(a.default_role.as_str(), "user" | "pending") {
        return Err(UserError::usage(
            format!(
                "openwebui.default_role `{}` is not `user` or `pending`",
                a.default_role
            ),
            "user: new sign-ins can chat at once; pending: an admin approves each",
        ));
    }
    if a.oidc.is_some() && a.entry_point().is_none() {
        return Err(UserError::usage(
            "single sign-on needs the HTTPS entry point: the provider redirects to https://<openwebui_host>/oauth/oidc/callback",
            "configure the entry point (certificate_arn and openwebui_host in access.yaml), or remove the OIDC settings",
        ));
    }
    if !a.password_login && a.oidc.is_none() {
        return Err(UserError::usage(
            "password sign-in is off and single sign-on is not configured: nobody could sign in",
            "configure openwebui.oidc in access.yaml, or set password_login back to true",
        ));
    }
    if let Some(o) = &a.oidc {
        if (!o.admin_roles.is_empty() || !o.allowed_roles.is_empty()) && o.roles_claim.is_empty() {
            return Err(UserError::usage(
                "openwebui.oidc lists admin_roles or allowed_roles but no roles_claim: OpenWebUI reads roles only from the claim roles_claim names, so they would be ignored",
                "set openwebui.oidc.roles_claim to the claim your provider puts roles in (e.g. `roles` or `groups`)",
            ));
        }
        // The start-up admin signs in with a password; with that off, only the provider's
        // roles can make an admin (OpenWebUI does not merge an SSO sign-in into the start-up
        // account: OAUTH_MERGE_ACCOUNTS_BY_EMAIL is off).
        if !a.password_login && (o.roles_claim.is_empty() || o.admin_roles.is_empty()) {
            return Err(UserError::usage(
                "password sign-in is off, and single sign-on names no admin role: the start-up admin could not sign in and every SSO user would be a plain user, so nobody could administer OpenWebUI",
                "set openwebui.oidc.roles_claim and admin_roles (the provider's role that makes an OpenWebUI admin), or keep password_login true",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(yaml: &str, env: &[(&str, &str)]) -> Result<Access, UserError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), yaml).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(dir.path(), "us-east-1", &|k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/abc-123";

    #[test]
    fn the_shipped_file_configures_nothing() {
        let text =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE))
                .unwrap();
        assert_eq!(load_with(&text, &[]).unwrap(), Access::default());
    }

    #[test]
    fn no_file_no_entry_point() {
        let a = load_with("", &[]).unwrap();
        assert_eq!(a, Access::default());
        assert!(a.entry_point().is_none());
        assert!(a.redirect_url().is_none());
    }

    #[test]
    fn the_file_configures_and_variables_override() {
        let yaml = format!(
            "entry_point:\n  certificate_arn: {CERT}\n  openwebui_host: chat.example.com\n  scheme: internet-facing\n  allowed_cidrs: [203.0.113.0/24]\nopenwebui:\n  admin_email: ops@example.com\n  oidc:\n    provider_url: https://login.example.com/realms/acme\n    client_id: openwebui\n"
        );
        let a = load_with(&yaml, &[]).unwrap();
        let e = a.entry_point().unwrap();
        assert_eq!(e.openwebui_host, "chat.example.com");
        assert_eq!(a.scheme, Scheme::InternetFacing);
        assert_eq!(
            a.redirect_url().unwrap(),
            "https://chat.example.com/oauth/oidc/callback"
        );
        let o = a.oidc.as_ref().unwrap();
        assert_eq!(
            o.provider_url,
            "https://login.example.com/realms/acme/.well-known/openid-configuration"
        );
        let a = load_with(
            &yaml,
            &[
                ("OPENWEBUI_HOST", "ai.example.org"),
                ("ENTRY_ALLOWED_CIDRS", "198.51.100.0/24, 192.0.2.7/32"),
            ],
        )
        .unwrap();
        assert_eq!(a.openwebui_host.as_deref(), Some("ai.example.org"));
        assert_eq!(a.allowed_cidrs, ["198.51.100.0/24", "192.0.2.7/32"]);
    }

    #[test]
    fn half_a_configuration_is_refused_naming_the_missing_part() {
        let refused =
            |yaml: &str, env: &[(&str, &str)]| load_with(yaml, env).expect_err(yaml).message;
        assert!(
            refused("", &[("ENTRY_CERTIFICATE_ARN", CERT)]).contains("no hostname for OpenWebUI")
        );
        assert!(
            refused("", &[("OIDC_CLIENT_ID", "x")]).contains("a client id but no provider URL")
        );
        assert!(
            refused(
                "",
                &[
                    ("OIDC_PROVIDER_URL", "https://idp"),
                    ("OIDC_CLIENT_ID", "x")
                ]
            )
            .contains("needs the HTTPS entry point")
        );
        assert!(
            refused("openwebui:\n  password_login: false\n", &[]).contains("nobody could sign in")
        );
        let sso = |extra: &str, password_login: bool| {
            format!(
                "entry_point:\n  certificate_arn: {CERT}\n  openwebui_host: chat.example.com\nopenwebui:\n  password_login: {password_login}\n  oidc:\n    provider_url: https://idp.example.com\n    client_id: openwebui\n{extra}"
            )
        };
        assert!(
            refused(&sso("", false), &[]).contains("names no admin role"),
            "SSO only, and no role makes an admin"
        );
        assert!(
            refused(&sso("    admin_roles: admins\n", true), &[]).contains("but no roles_claim")
        );
        assert!(
            load_with(
                &sso("    roles_claim: roles\n    admin_roles: admins\n", false),
                &[]
            )
            .is_ok()
        );
        assert!(load_with(&sso("", true), &[]).is_ok());
        assert!(
            refused(
                "",
                &[
                    ("ENTRY_CERTIFICATE_ARN", CERT),
                    ("OPENWEBUI_HOST", "chat.example.com"),
                    ("ENTRY_SCHEME", "internet-facing")
                ]
            )
            .contains("say who may reach it")
        );
        assert!(
            refused(
                "",
                &[
                    (
                        "ENTRY_CERTIFICATE_ARN",
                        "arn:aws:acm:eu-west-1:123456789012:certificate/x"
                    ),
                    ("OPENWEBUI_HOST", "chat.example.com")
                ]
            )
            .contains("in eu-west-1, the stack in us-east-1")
        );
        assert!(refused("", &[("OPENWEBUI_HOST", "https://chat")]).contains("is not a hostname"));
        assert!(
            refused(
                "",
                &[
                    ("OIDC_PROVIDER_URL", "http://idp.example.com"),
                    ("OIDC_CLIENT_ID", "x")
                ]
            )
            .contains("not an https:// URL")
        );
        // A misspelt key names the file and line.
        let e = refused("entry_point:\n  certifcate_arn: x\n", &[]);
        assert!(e.contains("access.yaml:2"), "{e}");
    }
}
