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
    /// OpenWebUI's first admin, made at its start-up: changing the secret later does not
    /// change the admin's password (OpenWebUI keeps its own), so it is not rotated.
    OpenwebuiAdmin,
    /// The OIDC client secret the identity provider issued (only with single sign-on).
    OpenwebuiOidc,
    /// OpenWebUI's database URL: role and database `openwebui` on LiteLLM's database server,
    /// made from database-url's host and a random password (deployctl sets the role's password
    /// from it on every `deployctl openwebui`); not rotated by `--rotate`.
    OpenwebuiDatabaseUrl,
}

impl SecretName {
    pub const ALL: [SecretName; 8] = [
        SecretName::MasterKey,
        SecretName::SaltKey,
        SecretName::RedisPassword,
        SecretName::DatabaseUrl,
        SecretName::WebuiSecretKey,
        SecretName::OpenwebuiAdmin,
        SecretName::OpenwebuiOidc,
        SecretName::OpenwebuiDatabaseUrl,
    ];

    /// The short name, as `--rotate` takes it and as the secret is named under the prefix.
    pub fn name(self) -> &'static str {
        match self {
            SecretName::MasterKey => "master-key",
            SecretName::SaltKey => "salt-key",
            SecretName::RedisPassword => "redis-password",
            SecretName::DatabaseUrl => "database-url",
            SecretName::WebuiSecretKey => "webui-secret-key",
            SecretName::OpenwebuiAdmin => "openwebui-admin",
            SecretName::OpenwebuiOidc => "openwebui-oidc",
            SecretName::OpenwebuiDatabaseUrl => "openwebui-database-url",
        }
    }

    /// Whether `--rotate` offers it (salt-key and database-url are accepted only to say why
    /// not; the OpenWebUI admin and the OIDC client secret are not rotated by deployctl).
    pub fn rotatable(self) -> bool {
        matches!(
            self,
            SecretName::MasterKey | SecretName::RedisPassword | SecretName::WebuiSecretKey
        )
    }

    /// Whether this configuration uses it (the OIDC client secret only with single sign-on).
    pub fn used(self, access: &crate::config::access::Access) -> bool {
        self != SecretName::OpenwebuiOidc || access.oidc.is_some()
    }
}

/// The AWS secret names of the stack, for `prefix`, that this configuration uses.
pub fn managed_names(prefix: &str, access: &crate::config::access::Access) -> Vec<String> {
    SecretName::ALL
        .iter()
        .filter(|n| n.used(access))
        .map(|n| format!("{prefix}/{}", n.name()))
        .collect()
}
