//! Database URLs: what deployctl accepts and stores (postgres, a host, TLS), read by the
//! `secrets` step and `infrastructure-verify`. Nothing here ever prints the value.

use secrecy::{ExposeSecret, SecretString};

/// A database URL must be postgres with a host and TLS; the error never repeats the value.
pub fn check_database_url(url: &SecretString) -> Result<(), String> {
    let v = url.expose_secret();
    if !(v.starts_with("postgresql://") || v.starts_with("postgres://")) {
        return Err("it must start with postgresql:// (the value is not shown)".into());
    }
    if database_host(url).is_none() {
        return Err(
            "it has no valid host (postgresql://USER:PASSWORD@HOST:PORT/DB; the value is not shown)"
                .into(),
        );
    }
    match sslmode(v) {
        None | Some("require" | "verify-ca" | "verify-full") => Ok(()),
        Some(mode) => Err(format!(
            "its sslmode={mode} lets the password travel without TLS (the RDS database forces TLS): use sslmode=require or verify-full, or leave sslmode out and deployctl adds sslmode=require"
        )),
    }
}

/// The `sslmode` query parameter of a database URL (never logged).
fn sslmode(v: &str) -> Option<&str> {
    let end = v.find('#').unwrap_or(v.len());
    let query = v[..end].split_once('?')?.1;
    query.split('&').find_map(|kv| kv.strip_prefix("sslmode="))
}

/// The sslmode a stored URL names (for reports; the value itself is never shown).
pub fn database_sslmode(url: &SecretString) -> Option<String> {
    sslmode(url.expose_secret()).map(str::to_string)
}

/// The URL as stored: `sslmode=require` added when it names no sslmode, so LiteLLM always
/// connects with TLS (RDS forces it with rds.force_ssl; Terraform's URL carries it too).
pub fn with_tls(url: &SecretString) -> SecretString {
    let v = url.expose_secret();
    if sslmode(v).is_some() {
        return SecretString::from(v.to_string());
    }
    let (body, fragment) = v.split_at(v.find('#').unwrap_or(v.len()));
    let sep = if body.contains('?') { '&' } else { '?' };
    SecretString::from(format!("{body}{sep}sslmode=require{fragment}"))
}

/// host\[:port\] of a database URL, without user or password — or None when the authority is
/// not `[userinfo@]host[:port]` with a plain host name (or \[IPv6\]) and a numeric port. So
/// `postgresql://litellm:S3cretPass` (user and password, no `@`, no host) has no host, and
/// nothing of it is ever shown.
pub fn database_host(url: &SecretString) -> Option<String> {
    let v = url.expose_secret();
    let rest = v.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let (ip, after) = inner.split_once(']')?;
        (format!("[{ip}]"), after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (host_port.to_string(), None),
        }
    };
    let plain = |h: &str| {
        !h.is_empty()
            && (h.starts_with('[')
                || h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    };
    if !plain(&host) || port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    Some(host_port.to_string())
}

/// The host name of a database URL, without port (what RDS calls the endpoint's address).
pub fn database_address(url: &SecretString) -> Option<String> {
    let host = database_host(url)?;
    Some(match host.rsplit_once(':') {
        Some((h, _)) if !host.ends_with(']') => h.to_string(),
        _ => host,
    })
}

pub use crate::platform::postgres::Parts;

/// The URL's parts (user, password and database percent-decoded; port 5432 and database =
/// user when left out, as libpq does), or None when it has no host or no user.
pub fn parts(url: &SecretString) -> Option<Parts> {
    let host_port = database_host(url)?;
    let v = url.expose_secret();
    let rest = v.split_once("://")?.1;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (userinfo, _) = rest[..authority_end].rsplit_once('@')?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (decode(u)?, decode(p)?),
        None => (decode(userinfo)?, String::new()),
    };
    if user.is_empty() {
        return None;
    }
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !host_port.ends_with(']') => (h.to_string(), p.parse().ok()?),
        _ => (host_port.clone(), 5432),
    };
    let after = &rest[authority_end..];
    let path = after
        .strip_prefix('/')
        .map(|p| &p[..p.find(['?', '#']).unwrap_or(p.len())])
        .unwrap_or("");
    let database = if path.is_empty() {
        user.clone()
    } else {
        decode(path)?
    };
    Some(Parts {
        host,
        port,
        user,
        password: SecretString::from(password),
        database,
        sslmode: sslmode(v).map(str::to_string),
    })
}

/// OpenWebUI's own database on the same server as `master` (LiteLLM's URL): role and database
/// `openwebui`, `password` (hex: URL-safe), TLS required. None when `master` has no host.
pub fn openwebui_url(master: &SecretString, password: &SecretString) -> Option<SecretString> {
    let host = database_host(master)?;
    Some(SecretString::from(format!(
        "postgresql://{OPENWEBUI_DB}:{}@{host}/{OPENWEBUI_DB}?sslmode=require",
        password.expose_secret()
    )))
}

/// The role and database OpenWebUI gets.
pub const OPENWEBUI_DB: &str = "openwebui";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_checked_without_echoing_them() {
        let ok = SecretString::from("postgresql://u:p%40ss@db.example:5432/litellm".to_string());
        assert!(check_database_url(&ok).is_ok());
        for (url, stored) in [
            (
                "postgresql://u:p@h:5432/db",
                "postgresql://u:p@h:5432/db?sslmode=require",
            ),
            (
                "postgresql://u:p@h/db?connect_timeout=5",
                "postgresql://u:p@h/db?connect_timeout=5&sslmode=require",
            ),
            (
                "postgresql://u:p@h/db?sslmode=verify-full",
                "postgresql://u:p@h/db?sslmode=verify-full",
            ),
        ] {
            let url = SecretString::from(url.to_string());
            assert!(check_database_url(&url).is_ok());
            assert_eq!(with_tls(&url).expose_secret(), stored);
        }
        for weak in ["disable", "allow", "prefer"] {
            let url = SecretString::from(format!("postgresql://u:S3cret@h/db?sslmode={weak}"));
            let err = check_database_url(&url).unwrap_err();
            assert!(err.contains(&format!("sslmode={weak}")), "{err}");
            assert!(!err.contains("S3cret"), "{err}");
        }
        assert_eq!(database_host(&ok).as_deref(), Some("db.example:5432"));
        let p = parts(&ok).unwrap();
        assert_eq!(
            (
                p.host.as_str(),
                p.port,
                p.user.as_str(),
                p.database.as_str()
            ),
            ("db.example", 5432, "u", "litellm")
        );
        assert_eq!(p.password.expose_secret(), "p@ss");
        assert!(!format!("{p:?}").contains("p@ss"));
        let bare = parts(&SecretString::from(
            "postgresql://lite%20llm:pw@[::1]?sslmode=require".to_string(),
        ))
        .unwrap();
        assert_eq!(
            (bare.host.as_str(), bare.port, bare.database.as_str()),
            ("[::1]", 5432, "lite llm")
        );
        assert_eq!(bare.sslmode.as_deref(), Some("require"));
        assert!(
            parts(&SecretString::from(
                "postgresql://db.internal/x".to_string()
            ))
            .is_none()
        );
        let bad = SecretString::from("mysql://u:hunter2@h/db".to_string());
        let err = check_database_url(&bad).unwrap_err();
        assert!(!err.contains("hunter2"));
        let nohost = SecretString::from("postgresql://u:hunter2@/db".to_string());
        assert!(check_database_url(&nohost).is_err());
        // User and password without `@`: no host, and never shown as one.
        let creds_only = SecretString::from("postgresql://litellm:S3cretPass".to_string());
        assert_eq!(database_host(&creds_only), None);
        let err = check_database_url(&creds_only).unwrap_err();
        assert!(!err.contains("S3cretPass"), "{err}");
        for (url, host) in [
            ("postgresql://db.internal/litellm", Some("db.internal")),
            ("postgresql://u:p@[::1]:5432/x", Some("[::1]:5432")),
            ("postgresql://u:p@db:54x2/x", None),
            ("postgresql://u:p@db b/x", None),
        ] {
            assert_eq!(
                database_host(&SecretString::from(url.to_string())).as_deref(),
                host,
                "{url}"
            );
        }
    }
}
