//! The `secrets` step's command-line input, checked before anything runs: which secrets
//! `--rotate` may name (salt-key, database-url and the OpenWebUI secrets have no rotation
//! path; master-key only with its acknowledgement), and the database URL from a file or
//! stdin — never from the command line, where the process list and the shell history would
//! show it.

use crate::config::Settings;
use crate::error::UserError;
use crate::stack::secret_names::SecretName;

/// The `secrets` flags as typed (the clap struct stays in `cli`).
#[derive(Debug, Clone, Default)]
pub struct SecretsFlags {
    pub rotate: Vec<SecretName>,
    pub i_understand_this_breaks_api_keys: bool,
    pub database_url: Option<String>,
    pub database_url_file: Option<std::path::PathBuf>,
    pub restore_deleted: bool,
}

/// Check the `secrets` flags; salt-key and database-url have no rotation path.
pub fn options(
    args: &SecretsFlags,
    settings: &mut Settings,
) -> anyhow::Result<crate::steps::secrets::SecretsOptions> {
    let SecretsFlags {
        rotate,
        i_understand_this_breaks_api_keys,
        database_url,
        database_url_file,
        restore_deleted,
    } = args;
    for name in rotate {
        match name {
            crate::stack::secret_names::SecretName::SaltKey => {
                return Err(UserError::usage(
                    "salt-key cannot be rotated: LiteLLM encrypts its stored credentials with it, and a new one makes them unreadable",
                    "leave salt-key as it is; there is no rotation path for it",
                )
                .into());
            }
            crate::stack::secret_names::SecretName::DatabaseUrl => {
                return Err(UserError::usage(
                    "database-url is not rotated: it names your database",
                    "change it interactively with `deployctl secrets` (Proceed, then confirm twice)",
                )
                .into());
            }
            crate::stack::secret_names::SecretName::OpenwebuiAdmin => {
                return Err(UserError::usage(
                    "openwebui-admin is not rotated: OpenWebUI made its admin from it once and keeps its own copy of the password",
                    "change the admin's password in OpenWebUI (Settings → Account); `deployctl secrets --reveal openwebui-admin` shows the first one",
                )
                .into());
            }
            crate::stack::secret_names::SecretName::OpenwebuiOidc => {
                return Err(UserError::usage(
                    "openwebui-oidc is not rotated: the identity provider issues it",
                    "change it interactively with `deployctl secrets` (Proceed), or with `aws secretsmanager put-secret-value`, then `deployctl openwebui`",
                )
                .into());
            }
            crate::stack::secret_names::SecretName::OpenwebuiDatabaseUrl => {
                return Err(UserError::usage(
                    "openwebui-database-url is not rotated by --rotate: deployctl made it from database-url, and OpenWebUI's database role follows it",
                    "to change OpenWebUI's database password, put a new URL with `aws secretsmanager put-secret-value` (same role, database and host), then `deployctl secret-stores openwebui` (the role is set from it, and OpenWebUI restarted)",
                )
                .into());
            }
            crate::stack::secret_names::SecretName::MasterKey
                if !i_understand_this_breaks_api_keys =>
            {
                return Err(UserError::usage(
                    "rotating master-key breaks every API key LiteLLM has issued",
                    "add --i-understand-this-breaks-api-keys to rotate it anyway",
                )
                .into());
            }
            _ => {}
        }
    }
    if database_url.is_some() {
        // Not echoed: the value is a secret.
        return Err(UserError::usage(
            "--database-url is no longer accepted: a URL on the command line is visible in the process list and the shell history",
            "pass it in a file with `--database-url-file FILE`, on stdin with `--database-url-file -`, or in DATABASE_URL",
        )
        .into());
    }
    if let Some(path) = database_url_file {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
                UserError::usage(
                    format!("cannot read the database URL from stdin: {e}"),
                    "pipe it in: `deployctl secrets --database-url-file - < url.txt`",
                )
            })?;
            s
        } else {
            std::fs::read_to_string(path).map_err(|e| {
                UserError::usage(
                    format!("cannot read the database URL file {}: {e}", path.display()),
                    "pass a readable file with --database-url-file FILE (or - for stdin)",
                )
            })?
        };
        let url = text.trim().to_string();
        if url.is_empty() {
            return Err(UserError::usage(
                format!(
                    "the database URL {} is empty",
                    if path.as_os_str() == "-" {
                        "on stdin".to_string()
                    } else {
                        format!("file {}", path.display())
                    }
                ),
                "write `postgresql://USER:PASSWORD@HOST:5432/DB` into it",
            )
            .into());
        }
        settings.database_url = Some(secrecy::SecretString::from(url));
    }
    Ok(crate::steps::secrets::SecretsOptions {
        rotate: rotate.clone(),
        restore_deleted: *restore_deleted,
    })
}
