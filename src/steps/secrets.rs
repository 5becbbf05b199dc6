//! `secrets`: the application secrets in AWS Secrets Manager, with their safety gates.
//!
//! - generated values come from the OS CSPRNG and live only in `SecretString` and the API
//!   request body;
//! - salt-key has no write path once it exists;
//! - master-key rotates only after a warning and a second confirmation (or, in CI,
//!   `--rotate master-key --i-understand-this-breaks-api-keys`);
//! - database-url is never changed silently; a missing one comes from DATABASE_URL /
//!   `--database-url-file` or stops the run before anything is created;
//! - non-interactive runs never rotate anything they were not told to.

use super::{Assessed, Findings, Prepared, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::error::UserError;
use crate::graph::StepId;
use crate::platform::aws::secrets::{self as sm, SecretMeta};
use crate::prompt::Prompter;
use crate::stack::database_url::{check_database_url, with_tls};
use crate::stack::secret_names::{SecretName, managed_names};
use anyhow::{Result, bail};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

/// How a secret's value comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `prefix` + `hex_bytes` random bytes in hex.
    Random {
        prefix: &'static str,
        hex_bytes: usize,
    },
    /// Given by the operator (database-url, the OIDC client secret).
    Given,
    /// OpenWebUI's database URL: database-url's host, role and database `openwebui`, a
    /// random password of `hex_bytes` bytes.
    OpenwebuiDatabase { hex_bytes: usize },
}

#[derive(Debug, Clone, Copy)]
struct Def {
    /// The name is `<SECRETS_PREFIX>/<kind's name>`.
    kind: SecretName,
    /// The name the original scripts used, outside the prefix: when the secret is missing and
    /// this one exists, its value is carried over (OpenWebUI sessions survive the move).
    legacy: Option<&'static str>,
    source: Source,
    description: &'static str,
}

const DEFS: &[Def] = &[
    Def {
        kind: SecretName::MasterKey,
        legacy: None,
        source: Source::Random {
            prefix: "sk-",
            hex_bytes: 32,
        },
        description: "LiteLLM master key (managed by deployctl)",
    },
    Def {
        kind: SecretName::SaltKey,
        legacy: None,
        source: Source::Random {
            prefix: "",
            hex_bytes: 32,
        },
        description: "LiteLLM salt key: never rotate, it encrypts stored credentials (managed by deployctl)",
    },
    Def {
        kind: SecretName::RedisPassword,
        legacy: None,
        source: Source::Random {
            prefix: "",
            hex_bytes: 16,
        },
        description: "Redis password (managed by deployctl)",
    },
    Def {
        kind: SecretName::DatabaseUrl,
        legacy: None,
        source: Source::Given,
        description: "LiteLLM database URL (managed by deployctl)",
    },
    Def {
        kind: SecretName::WebuiSecretKey,
        legacy: Some("openwebui/webui-secret-key"),
        source: Source::Random {
            prefix: "",
            hex_bytes: 32,
        },
        description: "OpenWebUI session secret (managed by deployctl)",
    },
    Def {
        kind: SecretName::OpenwebuiAdmin,
        legacy: None,
        source: Source::Random {
            prefix: "",
            hex_bytes: 24,
        },
        description: "OpenWebUI's first admin password, used once at its start-up (managed by deployctl)",
    },
    Def {
        kind: SecretName::OpenwebuiOidc,
        legacy: None,
        source: Source::Given,
        description: "OpenWebUI's OIDC client secret, as the identity provider issued it (managed by deployctl)",
    },
    Def {
        kind: SecretName::OpenwebuiDatabaseUrl,
        legacy: None,
        source: Source::OpenwebuiDatabase { hex_bytes: 24 },
        description: "OpenWebUI's database URL, on LiteLLM's database server (managed by deployctl)",
    },
];

/// The secrets this configuration uses.
fn defs(access: &crate::config::access::Access) -> Vec<Def> {
    DEFS.iter()
        .copied()
        .filter(|d| d.kind.used(access))
        .collect()
}

impl Def {
    fn name(&self, prefix: &str) -> String {
        format!("{prefix}/{}", self.kind.name())
    }
}

/// The operator's value for a `Given` secret: the database URL (with TLS required) or the
/// OIDC client secret.
fn given_value(kind: SecretName, plan: &Plan) -> Option<SecretString> {
    match kind {
        SecretName::DatabaseUrl => plan.database_url.as_ref().map(with_tls),
        SecretName::OpenwebuiOidc => plan
            .oidc_client_secret
            .as_ref()
            .map(|v| SecretString::from(v.expose_secret().to_string())),
        _ => None,
    }
}

/// A value from the OS CSPRNG: `prefix` + 2×`bytes` hex characters.
pub(crate) fn random_value(prefix: &str, bytes: usize) -> Result<SecretString> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    let value = format!("{prefix}{}", hex::encode(&buf));
    buf.iter_mut().for_each(|b| *b = 0);
    Ok(SecretString::from(value))
}

/// The journal's name for a redis-password rotation awaiting its follow-through.
const REDIS_PENDING: &str = "redis-password";

/// What `survey` found: each secret's metadata (None: missing), and the missing ones that are
/// scheduled for deletion, with the day they go.
#[derive(Debug, Clone)]
struct Found {
    secrets: Vec<(Def, Option<SecretMeta>)>,
    deleted: Vec<(Def, String)>,
}

/// What apply will do, decided in the decide phase from what `survey` found.
#[derive(Debug)]
struct Plan {
    found: Vec<(Def, Option<SecretMeta>)>,
    rotate: Vec<SecretName>,
    database_url: Option<SecretString>,
    /// The OIDC client secret to store (missing, or changed at the operator's request).
    oidc_client_secret: Option<SecretString>,
    /// Scheduled for deletion, to be restored (RestoreSecret) instead of created.
    restore: Vec<SecretName>,
}

/// Options of the `secrets` command.
#[derive(Debug, Clone, Default)]
pub struct SecretsOptions {
    /// Secrets to rotate without asking (validated: no salt-key, no database-url, master-key
    /// only with the acknowledgement flag).
    pub rotate: Vec<SecretName>,
    /// `--restore-deleted`: a stack secret scheduled for deletion is restored, not refused.
    pub restore_deleted: bool,
}

/// The `secrets` step, with what the command line asked of it.
#[derive(Debug, Default)]
pub struct Secrets {
    pub options: SecretsOptions,
}

fn exists(found: &[(Def, Option<SecretMeta>)], kind: SecretName) -> bool {
    found.iter().any(|(d, m)| d.kind == kind && m.is_some())
}

fn create_db_hint(prefix: &str) -> String {
    format!(
        "create it with Terraform (`deployctl infrastructure`), or run `DATABASE_URL='postgresql://USER:PASSWORD@HOST:5432/litellm' deployctl secrets` (or `aws secretsmanager create-secret --name {prefix}/database-url --secret-string file://url.txt`)"
    )
}

impl Secrets {
    /// Ask the operator, secret by secret, what to change. `None`: quit.
    fn ask(
        &self,
        cx: &Context,
        p: &dyn Prompter,
        found: &[(Def, Option<SecretMeta>)],
        plan: &mut Plan,
    ) -> Result<()> {
        let prefix = &cx.settings.secrets_prefix;
        for (def, meta) in found {
            if meta.is_none() || plan.rotate.contains(&def.kind) {
                continue;
            }
            let name = def.name(prefix);
            match def.kind {
                SecretName::SaltKey => p.say(&format!(
                    "  {name} stays as it is: LiteLLM encrypts the credentials it stores with it, \
                     and a new salt key would make them unreadable. It cannot be rotated."
                )),
                SecretName::MasterKey => {
                    if p.confirm(&format!("Rotate {name}?"))? {
                        p.say(&format!(
                            "  warning: rotating {name} breaks every API key LiteLLM has issued; \
                             every client needs a new key."
                        ));
                        if p.confirm(&format!("Rotate {name} anyway?"))? {
                            plan.rotate.push(def.kind);
                        } else {
                            p.say(&format!("  {name} is kept."));
                        }
                    }
                }
                SecretName::RedisPassword => {
                    if p.confirm(&format!(
                        "Rotate {name}? (Redis and LiteLLM are restarted to pick it up)"
                    ))? {
                        plan.rotate.push(def.kind);
                    }
                }
                SecretName::WebuiSecretKey => {
                    if p.confirm(&format!("Rotate {name}? (every OpenWebUI user is logged out)"))? {
                        plan.rotate.push(def.kind);
                    }
                }
                SecretName::OpenwebuiAdmin => p.say(&format!(
                    "  {name} stays as it is: OpenWebUI made its admin from it once and keeps its own copy; change the password in OpenWebUI."
                )),
                SecretName::OpenwebuiDatabaseUrl => p.say(&format!(
                    "  {name} stays as it is: `deployctl openwebui` sets OpenWebUI's database role from it."
                )),
                SecretName::OpenwebuiOidc => {
                    if p.confirm(&format!(
                        "Change {name}? (the client secret your identity provider issued; OpenWebUI is restarted by `deployctl openwebui`)"
                    ))? {
                        match p.secret("New OIDC client secret (input hidden)")? {
                            None => p.say(&format!("  nothing entered: {name} is kept.")),
                            Some(v) => {
                                plan.oidc_client_secret = Some(v);
                                plan.rotate.push(def.kind);
                            }
                        }
                    }
                }
                SecretName::DatabaseUrl => {
                    if p.confirm(&format!("Change {name}? (LiteLLM will use another database)"))?
                        && p.confirm(
                            "Really point LiteLLM at another database? Its current data stays behind, unused",
                        )?
                    {
                        match ask_database_url(p, "New database URL (input hidden)", &name)? {
                            None => p.say(&format!("  nothing entered: {name} is kept.")),
                            Some(url) => {
                                plan.database_url = Some(url);
                                plan.rotate.push(def.kind);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A database URL typed without echo, asked again when it is not usable (the reason is shown,
/// never the value), up to `HIDDEN_TRIES` times. `None` when nothing was entered.
fn ask_database_url(p: &dyn Prompter, message: &str, name: &str) -> Result<Option<SecretString>> {
    let tries = crate::prompt::HIDDEN_TRIES;
    for attempt in 1..=tries {
        let Some(url) = p.secret(message)? else {
            return Ok(None);
        };
        match check_database_url(&url) {
            Ok(()) => return Ok(Some(url)),
            Err(why) if attempt < tries => p.say(&format!(
                "  not usable: {why}; try again ({} {} left)",
                tries - attempt,
                if tries - attempt == 1 { "try" } else { "tries" }
            )),
            Err(why) => bail!(UserError::usage(
                format!(
                    "the database URL for {name} is not usable: {why} ({tries} tries); nothing was changed"
                ),
                "run `deployctl secrets` again and enter a postgresql:// URL, or pass --database-url-file",
            )),
        }
    }
    Ok(None)
}

#[async_trait]
impl Step for Secrets {
    fn id(&self) -> StepId {
        StepId::Secrets
    }
    fn exists(&self) -> &'static str {
        "exist"
    }
    fn resource(&self, cx: &Context) -> String {
        format!(
            "secrets {}",
            managed_names(&cx.settings.secrets_prefix, &cx.settings.access).join(", ")
        )
    }
    fn proceed_does(&self, state: &State) -> &'static str {
        match state {
            State::Unhealthy(_) => "create the missing ones, then choose which to rotate",
            _ => "choose, one by one, which to rotate",
        }
    }

    async fn survey(&self, cx: &Context) -> Result<Assessed> {
        let aws = cx.aws().await;
        let prefix = cx.settings.secrets_prefix.clone();
        let wanted = defs(&cx.settings.access);
        let names: Vec<String> = wanted.iter().map(|d| d.name(&prefix)).collect();
        let metas =
            futures::future::try_join_all(names.iter().map(|n| sm::describe_secret(aws, n)))
                .await?;
        let found: Vec<(Def, Option<SecretMeta>)> = wanted.iter().copied().zip(metas).collect();
        // A missing secret may be scheduled for deletion: CreateSecret of its name is then
        // refused for up to 30 days, so it has to be restored instead.
        let deleted: Vec<(Def, String)> =
            futures::future::try_join_all(found.iter().filter(|(_, m)| m.is_none()).map(
                |(d, _)| async move {
                    let when =
                        sm::scheduled_deletion(aws, &d.name(&cx.settings.secrets_prefix)).await?;
                    anyhow::Ok(when.map(|w| (*d, w)))
                },
            ))
            .await?
            .into_iter()
            .flatten()
            .collect();
        let missing: Vec<String> = found
            .iter()
            .filter(|(_, m)| m.is_none())
            .map(|(d, _)| {
                let name = d.name(&prefix);
                match deleted.iter().find(|(x, _)| x.kind == d.kind) {
                    Some((_, when)) => {
                        format!("{name} (deleted, recoverable until {when})")
                    }
                    None => name,
                }
            })
            .collect();
        let total = wanted.len();
        let state = if missing.len() == total {
            State::Missing
        } else if missing.is_empty() {
            State::Healthy(format!("{total} of {total} exist"))
        } else {
            State::Unhealthy(format!(
                "{} of {total} exist; missing {}",
                total - missing.len(),
                missing.join(", ")
            ))
        };
        let pending = crate::journal::pending(&cx.settings, cx.known_account().as_deref());
        let state = if pending.is_empty() {
            state
        } else {
            State::Unhealthy(format!(
                "{} rotated in AWS, but the cluster has not followed yet (pending follow-through: a run finishes it first)",
                pending.join(", ")
            ))
        };
        Ok(Assessed {
            state,
            found: Findings::new(Found {
                secrets: found,
                deleted,
            }),
        })
    }

    async fn prepare(
        &self,
        cx: &Context,
        _state: &State,
        found: &Findings,
        prompter: Option<&dyn Prompter>,
        chose_proceed: bool,
    ) -> Result<Prepared> {
        let Found {
            secrets: found,
            deleted,
        } = found
            .get::<Found>()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("internal error: secrets prepared without a survey"))?;
        let prefix = &cx.settings.secrets_prefix;
        let mut plan = Plan {
            rotate: self
                .options
                .rotate
                .iter()
                .copied()
                .filter(|k| exists(&found, *k))
                .collect(),
            database_url: None,
            oidc_client_secret: None,
            restore: Vec::new(),
            found: Vec::new(),
        };
        // Deleted but recoverable: restored (asked, or --restore-deleted), never re-created.
        for (def, when) in &deleted {
            let name = def.name(prefix);
            let restore = self.options.restore_deleted
                || match prompter {
                    Some(p) => p.confirm(&format!(
                        "{name} was deleted and can be restored, with its old value, until {when}. Restore it? (No stops here: no new secret of that name can be created before then)"
                    ))?,
                    None => false,
                };
            if !restore {
                return Err(UserError::failed(
                    format!(
                        "{name} was deleted and is scheduled to go on {when}: Secrets Manager refuses a new secret of that name until then; nothing was created"
                    ),
                    format!(
                        "restore it (its old value comes back): `deployctl secrets --restore-deleted`, or `aws secretsmanager restore-secret --secret-id {name}`"
                    ),
                )
                .into());
            }
            plan.restore.push(def.kind);
        }
        // A missing database URL must be known before anything is created.
        if !exists(&found, SecretName::DatabaseUrl)
            && !plan.restore.contains(&SecretName::DatabaseUrl)
        {
            let url = match (&cx.settings.database_url, prompter) {
                (Some(url), _) => Some(SecretString::from(url.expose_secret().to_string())),
                (None, Some(p)) => ask_database_url(
                    p,
                    &format!(
                        "{prefix}/database-url does not exist. Database URL (postgresql://…, input hidden)"
                    ),
                    &format!("{prefix}/database-url"),
                )?,
                (None, None) => None,
            };
            let Some(url) = url else {
                return Err(UserError::failed(
                    format!(
                        "{prefix}/database-url does not exist and no value was given (DATABASE_URL or --database-url-file); nothing was created"
                    ),
                    create_db_hint(prefix),
                )
                .into());
            };
            if let Err(why) = check_database_url(&url) {
                return Err(UserError::usage(
                    format!("the database URL for {prefix}/database-url is not usable: {why}"),
                    create_db_hint(prefix),
                )
                .into());
            }
            plan.database_url = Some(url);
        }
        // A missing OIDC client secret, likewise (only with single sign-on configured).
        if found
            .iter()
            .any(|(d, m)| d.kind == SecretName::OpenwebuiOidc && m.is_none())
            && !plan.restore.contains(&SecretName::OpenwebuiOidc)
        {
            let name = format!("{prefix}/openwebui-oidc");
            let value = match (&cx.settings.oidc_client_secret, prompter) {
                (Some(v), _) => Some(SecretString::from(v.expose_secret().to_string())),
                (None, Some(p)) => p.secret(&format!(
                    "{name} does not exist. The OIDC client secret your identity provider issued for client `{}` (input hidden)",
                    cx.settings.access.oidc.as_ref().map(|o| o.client_id.as_str()).unwrap_or("")
                ))?,
                (None, None) => None,
            };
            let Some(value) = value else {
                return Err(UserError::failed(
                    format!(
                        "{name} does not exist and no value was given (OIDC_CLIENT_SECRET); nothing was created"
                    ),
                    format!(
                        "run `OIDC_CLIENT_SECRET=… deployctl secrets` (or interactively, it asks), or `aws secretsmanager create-secret --name {name} --secret-string file://secret.txt`"
                    ),
                )
                .into());
            };
            plan.oidc_client_secret = Some(value);
        }
        if let Some(p) = prompter.filter(|_| chose_proceed) {
            self.ask(cx, p, &found, &mut plan)?;
        }
        let nothing_missing = found.iter().all(|(_, m)| m.is_some());
        let untagged = found
            .iter()
            .any(|(_, m)| m.as_ref().is_some_and(|m| m.needs_tags()));
        let pending =
            !crate::journal::pending(&cx.settings, cx.known_account().as_deref()).is_empty();
        let skip =
            nothing_missing && plan.rotate.is_empty() && !untagged && !pending && chose_proceed;
        plan.found = found;
        Ok(if skip {
            Prepared::Skip("every secret kept as it is".into())
        } else {
            Prepared::Run(Findings::new(plan))
        })
    }

    async fn apply(&self, cx: &Context, _action: Action, found: Findings) -> Result<String> {
        let aws = cx.aws().await;
        let prefix = cx.settings.secrets_prefix.clone();
        let plan = found
            .get::<Plan>()
            .ok_or_else(|| anyhow::anyhow!("internal error: secrets applied without a plan"))?;
        let found = &plan.found;
        let mut created = Vec::new();
        let mut carried = Vec::new();
        let mut rotated = Vec::new();
        let mut tagged = 0;
        let mut parts = Vec::new();
        // A rotation an earlier run could not follow through is finished first.
        if crate::journal::pending(&cx.settings, cx.known_account().as_deref())
            .iter()
            .any(|p| p == REDIS_PENDING)
        {
            cx.ui
                .warn("finishing the redis-password rotation an earlier run left pending");
            let done = super::secret_stores::follow_redis_rotation(cx)
                .await
                .map_err(|e| anyhow::anyhow!("{e:#} (the redis-password rotation is still pending; the next `deployctl secrets` tries again)"))?;
            crate::journal::clear_pending(
                &cx.settings,
                cx.known_account().as_deref(),
                REDIS_PENDING,
            )?;
            parts.push(format!(
                "finished the pending redis-password rotation: {done}"
            ));
        }
        // Rotating redis-password is a transaction: prove that the cluster can follow, record
        // the rotation as pending, write the value, follow through, clear the record.
        if plan.rotate.contains(&SecretName::RedisPassword) {
            super::secret_stores::prove_redis_follow_through(cx)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "refusing to rotate redis-password: the cluster that must follow it cannot be reached or proven ({e:#}); nothing was rotated"
                    )
                })?;
            crate::journal::mark_pending(
                &cx.settings,
                cx.known_account().as_deref(),
                REDIS_PENDING,
            )?;
        }
        // The stack's key: the one that encrypts Terraform's database-url, when it exists.
        let stack_key = found
            .iter()
            .find(|(d, _)| d.kind == SecretName::DatabaseUrl)
            .and_then(|(_, m)| m.as_ref())
            .and_then(|m| m.kms_key_id.clone());
        let mut restored = Vec::new();
        for (def, meta) in found {
            let name = def.name(&prefix);
            if meta.is_none() && plan.restore.contains(&def.kind) {
                sm::restore(aws, &name).await?;
                restored.push(def.kind.name());
                continue;
            }
            match meta {
                None => {
                    let legacy = match def.legacy {
                        Some(old) => sm::get_value(aws, old).await?.map(|v| (old, v)),
                        None => None,
                    };
                    let value = match def.source {
                        _ if legacy.is_some() => {
                            let (old, v) = legacy.expect("checked");
                            carried.push(format!("{} from {old}", def.kind.name()));
                            v
                        }
                        Source::Random { prefix, hex_bytes } => random_value(prefix, hex_bytes)?,
                        Source::Given => match given_value(def.kind, plan) {
                            Some(v) => v,
                            None => bail!("internal error: no value for a missing {name}"),
                        },
                        Source::OpenwebuiDatabase { hex_bytes } => {
                            // database-url comes first in DEFS: given this run, or stored.
                            let master = match &plan.database_url {
                                Some(u) => Some(with_tls(u)),
                                None => {
                                    sm::get_value(aws, &format!("{prefix}/database-url")).await?
                                }
                            };
                            let password = random_value("", hex_bytes)?;
                            match master.as_ref().and_then(|m| {
                                crate::stack::database_url::openwebui_url(m, &password)
                            }) {
                                Some(v) => v,
                                None => bail!(UserError::failed(
                                    format!(
                                        "{name} is made from {prefix}/database-url's host, and that URL has none; nothing more was created"
                                    ),
                                    create_db_hint(&prefix),
                                )),
                            }
                        }
                    };
                    sm::create_secret(aws, &name, def.description, &value, stack_key.as_deref())
                        .await?;
                    created.push(def.kind.name());
                }
                Some(meta) => {
                    if plan.rotate.contains(&def.kind) {
                        let value = match def.source {
                            // There is no code path that writes an existing salt-key.
                            _ if def.kind == SecretName::SaltKey => {
                                bail!("{name} cannot be rotated")
                            }
                            Source::Random { prefix, hex_bytes } => {
                                random_value(prefix, hex_bytes)?
                            }
                            Source::Given => match given_value(def.kind, plan) {
                                Some(v) => v,
                                None => continue,
                            },
                            Source::OpenwebuiDatabase { .. } => continue,
                        };
                        sm::put_value(aws, &name, &value).await?;
                        rotated.push(def.kind.name());
                    }
                    if sm::ensure_tags(aws, meta).await? {
                        tagged += 1;
                    }
                }
            }
        }
        if !created.is_empty() {
            parts.push(format!(
                "created {}{}",
                created.join(", "),
                if stack_key.is_some() {
                    " (with the KMS key of the database-url secret)"
                } else {
                    ""
                }
            ));
        }
        if !restored.is_empty() {
            parts.push(format!(
                "restored {} (deleted, now back with the value from before)",
                restored.join(", ")
            ));
        }
        if !carried.is_empty() {
            parts.push(format!(
                "carried over the value of {} (the old secret is left in place; delete it once no other stack uses it)",
                carried.join(", ")
            ));
        }
        if !rotated.is_empty() {
            parts.push(format!("rotated {}", rotated.join(", ")));
        }
        if tagged > 0 {
            parts.push(format!("tagged {tagged}"));
        }
        if rotated.contains(&"redis-password") {
            // The cluster must follow: re-sync the Kubernetes Secret, restart Redis and
            // LiteLLM (in that order) so both use the new password.
            let done = super::secret_stores::follow_redis_rotation(cx)
                .await
                .map_err(|e| anyhow::anyhow!("{e:#}; redis-password was rotated in AWS and the follow-through is recorded as pending: the next `deployctl secrets` finishes it"))?;
            crate::journal::clear_pending(
                &cx.settings,
                cx.known_account().as_deref(),
                REDIS_PENDING,
            )?;
            parts.push(done);
        } else if plan.rotate.contains(&SecretName::RedisPassword) {
            // Not rotated after all (nothing written): nothing to follow.
            crate::journal::clear_pending(
                &cx.settings,
                cx.known_account().as_deref(),
                REDIS_PENDING,
            )?;
        }
        if parts.is_empty() {
            parts.push("nothing to change".into());
        }
        Ok(parts.join("; "))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let aws = cx.aws().await;
        let mut lines = Vec::new();
        for def in defs(&cx.settings.access) {
            let name = def.name(&cx.settings.secrets_prefix);
            match sm::describe_secret(aws, &name).await? {
                None => lines.push(format!("  {name:<32} missing")),
                Some(m) => lines.push(format!(
                    "  {name:<32} created {}  last changed {}",
                    m.created.as_deref().unwrap_or("?"),
                    m.last_changed.as_deref().unwrap_or("?")
                )),
            }
        }
        Ok(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_the_documented_shapes() {
        let mk = random_value("sk-", 32).unwrap();
        let v = mk.expose_secret();
        assert!(v.starts_with("sk-") && v.len() == 67, "{}", v.len());
        assert!(v[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(random_value("", 16).unwrap().expose_secret().len(), 32);
        assert_ne!(
            random_value("", 32).unwrap().expose_secret(),
            random_value("", 32).unwrap().expose_secret()
        );
    }

    #[test]
    fn one_def_per_secret_name() {
        let kinds: Vec<SecretName> = DEFS.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, SecretName::ALL);
    }

    #[test]
    fn every_name_follows_the_prefix() {
        assert_eq!(
            managed_names("acme", &Default::default()),
            [
                "acme/master-key",
                "acme/salt-key",
                "acme/redis-password",
                "acme/database-url",
                "acme/webui-secret-key",
                "acme/openwebui-admin",
                "acme/openwebui-database-url"
            ]
        );
    }
}
