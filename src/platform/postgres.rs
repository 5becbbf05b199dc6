//! Signing in to PostgreSQL with a stored database URL, to prove that its credentials are the
//! ones the server holds (`infrastructure-verify`). Always over TLS with `sslmode=require`'s
//! meaning (encrypted, the certificate chain not checked — RDS's CA is in no public root
//! store, and LiteLLM's own connection does the same), and only by SCRAM with channel binding
//! (`SCRAM-SHA-256-PLUS`), so the password never crosses, not even to a man in the middle.
//! It is never printed: a refusal is reported by its SQLSTATE and deployctl's own words.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use secrecy::{ExposeSecret, SecretString};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a client needs of a database URL to sign in. `Debug` shows no credential.
pub struct Parts {
    /// The host name (or `[IPv6]`) as written.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: SecretString,
    pub database: String,
    pub sslmode: Option<String>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Parts {{ {}:{}/{} }}",
            self.host, self.port, self.database
        )
    }
}

/// What signing in came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The server accepted the credentials; whether the role asked about exists (when asked).
    Accepted { role_exists: Option<bool> },
    /// The server answered and refused: its SQLSTATE and what it means here.
    Refused { code: String, meaning: String },
    /// No session: nothing answered, or not as PostgreSQL (why, without any credential).
    Unreachable(String),
}

/// Sign in as the URL says, connecting to `via` (a tunnel's local end) when given, else to
/// the URL's host; the TLS name is always the URL's host. Asks whether `role` exists (any
/// role may read `pg_roles`), or runs `SELECT 1`, and disconnects.
pub async fn sign_in(
    p: &Parts,
    via: Option<(IpAddr, u16)>,
    timeout: Duration,
    role: Option<&str>,
) -> SignIn {
    let mut config = tokio_postgres::Config::new();
    let host = p.host.trim_start_matches('[').trim_end_matches(']');
    config
        .host(host)
        .port(via.map(|(_, port)| port).unwrap_or(p.port))
        .user(&p.user)
        .password(p.password.expose_secret())
        .dbname(&p.database)
        .application_name("deployctl-infrastructure-verify")
        .connect_timeout(timeout)
        // Always TLS (deployctl stores every URL with it; RDS forces it), and SCRAM bound to
        // that TLS channel: the certificate is not checked (see the module doc), so the
        // binding is what keeps a man in the middle from relaying the exchange — and
        // tokio-postgres then never answers a cleartext or MD5 password request.
        .ssl_mode(tokio_postgres::config::SslMode::Require)
        .channel_binding(tokio_postgres::config::ChannelBinding::Require);
    if let Some((ip, _)) = via {
        config.hostaddr(ip);
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config());
    let attempt = async {
        let (client, connection) = config.connect(tls).await?;
        let driver = tokio::spawn(connection);
        let answered = match role {
            Some(role) => client
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
                .await
                .map(|row| Some(row.is_some())),
            None => client.simple_query("SELECT 1").await.map(|_| None),
        };
        drop(client);
        let _ = driver.await;
        answered
    };
    let limit = timeout + Duration::from_secs(5);
    match tokio::time::timeout(limit, attempt).await {
        Err(_) => SignIn::Unreachable(format!("no answer within {}s", limit.as_secs())),
        Ok(Ok(role_exists)) => SignIn::Accepted { role_exists },
        Ok(Err(e)) => judge(&e),
    }
}

fn judge(e: &tokio_postgres::Error) -> SignIn {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_string();
        let meaning = match code.as_str() {
            "28P01" => {
                "password authentication failed: the stored password is not the one the database holds"
            }
            "28000" => {
                "the server does not admit this user from here (no pg_hba.conf entry, or TLS required)"
            }
            "3D000" => "the database the URL names does not exist",
            "42501" => "the role may not connect to the database the URL names",
            "53300" => "the server has no connection left for this role",
            _ => "the server refused the session",
        };
        return SignIn::Refused {
            code,
            meaning: meaning.to_string(),
        };
    }
    // Transport errors name the host or the TLS failure, never the credentials; the
    // source chain carries the detail (e.g. "Connection refused").
    let mut text = e.to_string();
    if text.contains("channel binding") {
        return SignIn::Unreachable(
            "the server did not offer SCRAM with channel binding over TLS, so deployctl did not send the password (RDS for PostgreSQL 14 and later stores SCRAM passwords by default)".into(),
        );
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    SignIn::Unreachable(text)
}

/// TLS as `sslmode=require`: encrypted, the server's signatures checked, its certificate chain
/// not (see the module doc).
fn client_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
        .with_no_client_auth()
}

#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
