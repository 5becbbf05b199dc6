//! The stack's application secrets, by name: shared facts that the secrets step,
//! `infrastructure-verify` and the manifests' consistency test all read. Each lives in AWS
//! Secrets Manager as `<SECRETS_PREFIX>/<name>`.

/// The application secrets, by their short names (`secrets --rotate NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretName {
    MasterKey,
    /// Never rotated (LiteLLM's stored credentials would become unreadable).
    SaltKey,
    RedisPassword,
    /// Changed interactively (it points LiteLLM at another database), not by `--rotate`.
    DatabaseUrl,
    WebuiSecretKey,
}

impl SecretName {
    pub const ALL: [SecretName; 5] = [
        SecretName::MasterKey,
        SecretName::SaltKey,
        SecretName::RedisPassword,
        SecretName::DatabaseUrl,
        SecretName::WebuiSecretKey,
    ];

    /// The short name, as `--rotate` takes it and as the secret is named under the prefix.
    pub fn name(self) -> &'static str {
        match self {
            SecretName::MasterKey => "master-key",
            SecretName::SaltKey => "salt-key",
            SecretName::RedisPassword => "redis-password",
            SecretName::DatabaseUrl => "database-url",
            SecretName::WebuiSecretKey => "webui-secret-key",
        }
    }
}

/// The AWS secret names of the stack, for `prefix`.
pub fn managed_names(prefix: &str) -> Vec<String> {
    SecretName::ALL
        .iter()
        .map(|n| format!("{prefix}/{}", n.name()))
        .collect()
}
