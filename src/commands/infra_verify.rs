//! `infrastructure-verify`: a read-only check of what the application needs from AWS and
//! the cluster, every call made concurrently; ✓/✗ per line; exit 1 when anything is missing.

use crate::config::ApiAccess;
use crate::context::Context;
use crate::error::exit;
use crate::platform::aws::ec2::Subnets;
use crate::platform::aws::{self, Aws, iam, secrets as sm};
use crate::platform::postgres::{SignIn, sign_in};
use crate::stack::database_url::{
    OPENWEBUI_DB, Parts, database_address, database_host, database_sslmode, parts,
};
use crate::stack::secret_names::SecretName;
use crate::stack::secret_names::managed_names;
use anyhow::Result;
use secrecy::SecretString;
use std::net::IpAddr;
use std::time::Duration;

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub section: &'static str,
    pub ok: bool,
    /// Could not be checked from here (said with ⚠; does not fail the run).
    pub unproven: bool,
    pub text: String,
    pub details: Vec<String>,
}

fn check(section: &'static str, ok: bool, text: impl Into<String>) -> Check {
    Check {
        section,
        ok,
        unproven: false,
        text: text.into(),
        details: Vec::new(),
    }
}

fn unproven(section: &'static str, text: impl Into<String>, why: impl Into<String>) -> Check {
    Check {
        unproven: true,
        details: vec![why.into()],
        ..check(section, true, text)
    }
}

/// The running version against EKS's own calendar (DescribeClusterVersions), or against
/// `terraform/eks-versions.json` when EKS does not answer (said): past extended support
/// fails; extended support passes with the fees and the end date said. Where the file and
/// EKS disagree, the check says so.
fn version_check(
    version: &str,
    live: &Result<Vec<crate::stack::eks_versions::VersionInfo>, String>,
) -> Check {
    use crate::stack::eks_versions::{
        Support, describe_support, disagreements, in_standard_support, in_standard_support_live,
        support, support_live, today,
    };
    let today = today();
    let (state, newest, source) = match live {
        Ok(l) => (
            support_live(version, today, l),
            in_standard_support_live(l),
            "EKS's calendar".to_string(),
        ),
        Err(why) => (
            support(version, today),
            in_standard_support(today),
            format!("terraform/eks-versions.json; EKS's calendar could not be read: {why}"),
        ),
    };
    let ok = !matches!(state, Support::Ended { .. } | Support::Unknown);
    let text = describe_support(version, &state);
    let mut c = check(
        "Kubernetes version",
        ok,
        format!("Kubernetes {text} ({source})"),
    );
    if let Support::Extended { .. } | Support::Ended { .. } = state
        && let Some(v) = newest.last()
    {
        c.details.push(format!(
            "upgrade one minor version at a time towards {v} (`aws eks update-cluster-version`, then `deployctl infrastructure` with kubernetes_version updated)"
        ));
    }
    if let Ok(l) = live {
        c.details.extend(disagreements(l));
    }
    c
}

async fn cluster_checks(aws: &Aws, cx: &Context) -> Vec<Check> {
    let name = &cx.settings.cluster;
    let mut out = Vec::new();
    let cluster = match aws::describe_cluster(aws, name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            out.push(check(
                "EKS cluster",
                false,
                format!("EKS cluster '{name}' does not exist in {}", aws.region),
            ));
            out.push(check("VPC", false, "VPC unknown (no cluster)"));
            out.push(check(
                "OIDC provider",
                false,
                "OIDC issuer unknown (no cluster)",
            ));
            return out;
        }
        Err(e) => {
            out.push(check(
                "EKS cluster",
                false,
                format!("cannot describe EKS cluster '{name}': {e:#}"),
            ));
            return out;
        }
    };
    let mut c = check(
        "EKS cluster",
        cluster.status == "ACTIVE",
        format!("EKS cluster '{name}' exists"),
    );
    c.details = vec![
        format!("Status: {}", cluster.status),
        format!("Version: {}", cluster.version),
        format!("Endpoint: {}", cluster.endpoint),
    ];
    out.push(c);
    let live = crate::platform::aws::eks::live_calendar(aws).await;
    out.push(version_check(&cluster.version, &live));

    // VPC: the cluster's, else the VPC of its subnets.
    let vpc_id = match cluster.vpc_id.clone() {
        Some(v) => Some(v),
        None if !cluster.subnet_ids.is_empty() => {
            aws::ec2::subnets(aws, Subnets::Ids(&cluster.subnet_ids))
                .await
                .ok()
                .and_then(|s| s.first()?.vpc_id.clone())
        }
        None => None,
    };
    let vpc_check = async {
        match &vpc_id {
            None => check("VPC", false, "the cluster's VPC cannot be found"),
            Some(vpc) => match aws::ec2::subnets(aws, Subnets::InVpc(vpc)).await {
                Ok(subnets) => {
                    let n = subnets.len();
                    let mut c = check("VPC", n > 0, format!("VPC {vpc}"));
                    c.details.push(format!("Subnets: {n}"));
                    c
                }
                Err(e) => check("VPC", false, format!("cannot list subnets of {vpc}: {e:#}")),
            },
        }
    };
    let oidc_check = async {
        let issuer = cx
            .settings
            .oidc_provider
            .clone()
            .or(cluster.oidc_issuer.clone());
        match issuer {
            None => vec![check(
                "OIDC provider",
                false,
                "the cluster reports no OIDC issuer",
            )],
            Some(issuer) => {
                let issuer_line = check("OIDC provider", true, format!("OIDC issuer {issuer}"));
                let provider = match iam::oidc_provider_exists(aws, &issuer).await {
                    Ok(true) => check(
                        "OIDC provider",
                        true,
                        "IAM OIDC provider exists (IRSA works)",
                    ),
                    Ok(false) => check(
                        "OIDC provider",
                        false,
                        "IAM OIDC provider for the issuer is missing",
                    ),
                    Err(e) => check(
                        "OIDC provider",
                        false,
                        format!("cannot list IAM OIDC providers: {e:#}"),
                    ),
                };
                vec![issuer_line, provider]
            }
        }
    };
    let (v, o) = tokio::join!(vpc_check, oidc_check);
    out.push(v);
    out.extend(o);
    out
}

async fn role_checks(
    aws: &Aws,
    cluster: &str,
    access: &crate::config::access::Access,
) -> Vec<Check> {
    futures::future::join_all(
        crate::stack::roles::active(access)
            .into_iter()
            .map(|r| async move {
                let name = r.name(cluster);
                match iam::get_role(aws, &name, r.inline_name).await {
                    Ok(Some(role)) => check("IAM roles", true, format!("{name} ({})", role.arn)),
                    Ok(None) => check(
                        "IAM roles",
                        false,
                        format!("{name} is missing (run `deployctl irsa`)"),
                    ),
                    Err(e) => check("IAM roles", false, format!("{name}: {e:#}")),
                }
            }),
    )
    .await
}

async fn secret_checks(
    aws: &Aws,
    prefix: &str,
    access: &crate::config::access::Access,
) -> Vec<Check> {
    futures::future::join_all(
        managed_names(prefix, access)
            .into_iter()
            .map(|name| async move {
                match sm::describe_secret(aws, &name).await {
                    Ok(Some(_)) => check("AWS secrets", true, name),
                    Ok(None) => check(
                        "AWS secrets",
                        false,
                        format!("{name} is missing (run `deployctl secrets`)"),
                    ),
                    Err(e) => check("AWS secrets", false, format!("{name}: {e:#}")),
                }
            }),
    )
    .await
}

/// The database's endpoint against RDS, then whether the stored credentials sign in.
async fn database_checks(cx: &Context, aws: &Aws, prefix: &str) -> Vec<Check> {
    let name = format!("{prefix}/{}", SecretName::DatabaseUrl.name());
    let stored = sm::get_value(aws, &name).await;
    let (endpoint, rds) = database_check(aws, &name, &stored).await;
    let mut checks = vec![endpoint];
    if let Ok(Some(url)) = &stored {
        checks.extend(credential_checks(cx, aws, prefix, url, rds).await);
    }
    checks
}

/// The endpoint line, and whether it is an RDS instance of this account (so private); None
/// when RDS could not be asked.
async fn database_check(
    aws: &Aws,
    name: &str,
    stored: &Result<Option<SecretString>>,
) -> (Check, Option<bool>) {
    let c = match stored {
        Ok(Some(url)) => match database_host(url) {
            Some(host) => {
                let tls = match database_sslmode(url) {
                    Some(mode) => format!("TLS: sslmode={mode}"),
                    None => "TLS: the URL names no sslmode (TLS is not required by the client); a new URL gets sslmode=require — with Terraform, bump db_password_version and run `deployctl infrastructure`".to_string(),
                };
                let address = database_address(url).unwrap_or_default();
                match aws::db_instance_by_address(aws, &address).await {
                    Ok(Some(db)) => {
                        let mut c = check(
                            "RDS database",
                            db.status == "available",
                            format!("database endpoint {host} (RDS instance {})", db.id),
                        );
                        c.details = vec![
                            format!("Status: {}", db.status),
                            format!("Engine: {}", db.engine),
                            format!("Multi-AZ: {}, encrypted: {}", db.multi_az, db.encrypted),
                            tls,
                        ];
                        return (c, Some(true));
                    }
                    Ok(None) => {
                        let mut c =
                            check("RDS database", true, format!("database endpoint {host}"));
                        c.details
                            .push("not an RDS instance of this account and region".into());
                        c.details.push(tls);
                        return (c, Some(false));
                    }
                    Err(e) => {
                        return (
                            check(
                                "RDS database",
                                false,
                                format!("database endpoint {host}: {e:#}"),
                            ),
                            None,
                        );
                    }
                }
            }
            None => check(
                "RDS database",
                false,
                format!("{name} holds no usable URL (its value is not shown)"),
            ),
        },
        Ok(None) => check(
            "RDS database",
            false,
            format!("{name} is missing, so the database endpoint is unknown"),
        ),
        Err(e) => check("RDS database", false, format!("{e:#}")),
    };
    (c, Some(false))
}

/// How long one sign-in may take to connect.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the stored URLs' credentials are the ones the database holds: LiteLLM's, and
/// OpenWebUI's once its role exists. An RDS instance of this account is private, so it is
/// reached through the cluster's bastion (a port forward for this check alone) unless
/// API_ACCESS=direct says this machine is inside the VPC; a database elsewhere is reached
/// directly. Where no way leads there, the lines say "not proven" and why; nothing of a
/// credential is ever shown.
async fn credential_checks(
    cx: &Context,
    aws: &Aws,
    prefix: &str,
    url: &SecretString,
    rds: Option<bool>,
) -> Vec<Check> {
    const SECTION: &str = "RDS database";
    let Some(litellm) = parts(url) else {
        // A URL without host or user is reported by the endpoint line already.
        return Vec::new();
    };
    let openwebui_name = format!("{prefix}/{}", SecretName::OpenwebuiDatabaseUrl.name());
    // A secret that cannot be read is reported by the secrets section; here it is one
    // credential not proven, and LiteLLM's is still checked.
    let (openwebui, unread) = match sm::get_value(aws, &openwebui_name).await {
        Ok(v) => (v.as_ref().and_then(parts), None),
        Err(e) => (
            None,
            Some(unproven(
                SECTION,
                "OpenWebUI's stored database credentials: not proven from here",
                format!("{e:#}"),
            )),
        ),
    };
    let host = format!("{}:{}", litellm.host, litellm.port);
    let not_proven = |why: String| {
        let mut lines = vec![unproven(
            SECTION,
            "LiteLLM's stored database credentials: not proven from here",
            why.clone(),
        )];
        if openwebui.is_some() {
            lines.push(unproven(
                SECTION,
                "OpenWebUI's stored database credentials: not proven from here",
                why,
            ));
        }
        lines.extend(unread.clone());
        lines
    };
    let Some(rds) = rds else {
        return not_proven(
            "RDS could not be asked whether the database is a private instance of this account (see its line above), so deployctl does not guess a way there".into(),
        );
    };
    let mut forward = None;
    let direct = !rds || cx.settings.api_access == ApiAccess::Direct;
    if !direct {
        match crate::platform::tunnel::bastion_running(aws, &cx.settings.cluster).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return not_proven(format!(
                    "the RDS instance is private and no bastion of `{cl}` is running to reach it through: `deployctl bastion create --cluster {cl}`, or from inside the VPC API_ACCESS=direct",
                    cl = cx.settings.cluster
                ));
            }
            Err(e) => return not_proven(format!("cannot look for the bastion: {e:#}")),
        }
        match crate::platform::tunnel::forward(
            aws,
            &cx.settings,
            &cx.ui,
            (&litellm.host, litellm.port),
            &format!("the database {host}"),
            "the RDS instance is private",
            anyhow::Error::msg,
        )
        .await
        {
            Ok(f) => forward = Some(f),
            Err(e) => {
                let mut why = format!("{e:#}");
                if let Some(h) = crate::error::help_of(&e) {
                    why.push_str(&format!("; help: {h}"));
                }
                return not_proven(why);
            }
        }
    }
    let via = forward
        .as_ref()
        .map(|f| (IpAddr::from([127, 0, 0, 1]), f.local_port));
    let route = match &forward {
        Some(f) => format!("through bastion {}", f.instance),
        None => "directly".to_string(),
    };
    let mut checks = Vec::new();
    let first = sign_in(&litellm, via, SIGN_IN_TIMEOUT, Some(OPENWEBUI_DB)).await;
    let openwebui_role = match &first {
        SignIn::Accepted { role_exists } => *role_exists,
        _ => None,
    };
    let first_unreachable = matches!(first, SignIn::Unreachable(_));
    checks.push(credential_line(
        "LiteLLM",
        &litellm,
        &route,
        first,
        "give both sides one password: bump `db_password_version` in the tfvars and run `deployctl infrastructure`, then `deployctl litellm` (a URL entered by hand: `deployctl secrets` stores a new one)",
    ));
    if let Some(openwebui) = openwebui {
        if first_unreachable {
            // The same server: a second wait would end the same way.
            checks.push(unproven(
                SECTION,
                format!("OpenWebUI's stored database credentials: not proven from here ({route})"),
                "the database did not answer LiteLLM's sign-in either",
            ));
        } else if openwebui_role == Some(false) {
            checks.push(unproven(
                SECTION,
                "OpenWebUI's stored database credentials: its role does not exist yet",
                "`deployctl openwebui` makes role and database `openwebui` from the stored URL",
            ));
        } else {
            // Its role is on the same server (made from database-url's host).
            let same = openwebui.host == litellm.host && openwebui.port == litellm.port;
            let outcome = if same || forward.is_none() {
                sign_in(&openwebui, via.filter(|_| same), SIGN_IN_TIMEOUT, None).await
            } else {
                SignIn::Unreachable(format!(
                    "its URL names another server ({}:{}) than database-url",
                    openwebui.host, openwebui.port
                ))
            };
            checks.push(credential_line(
                "OpenWebUI",
                &openwebui,
                &route,
                outcome,
                "`deployctl openwebui` sets the role's password from the stored URL (its database Job runs before every upgrade)",
            ));
        }
    }
    if let Some(f) = forward {
        f.close(aws, &cx.ui).await;
    }
    checks.extend(unread);
    checks
}

fn credential_line(app: &str, p: &Parts, route: &str, outcome: SignIn, fix: &str) -> Check {
    const SECTION: &str = "RDS database";
    let database = &p.database;
    match outcome {
        SignIn::Accepted { .. } => check(
            SECTION,
            true,
            format!("{app}'s stored credentials sign in to database `{database}` ({route})"),
        ),
        SignIn::Refused { code, meaning } => {
            let mut c = check(
                SECTION,
                false,
                format!(
                    "{app}'s stored credentials are refused by the database ({route}): {meaning} (SQLSTATE {code})"
                ),
            );
            if code == "28P01" {
                c.details.push(format!("help: {fix}"));
            }
            c
        }
        SignIn::Unreachable(why) => {
            let mut c = unproven(
                SECTION,
                format!("{app}'s stored database credentials: not proven from here ({route})"),
                format!("the database did not answer: {why}"),
            );
            if route.starts_with("through bastion") {
                c.details.push(
                    "help: the database's security group must admit 5432 from the bastion's group: Terraform's bastion has that rule, `deployctl bastion create` adds it (run it again for a bastion made before)".into(),
                );
            }
            c
        }
    }
}

async fn kube_check(cx: &Context) -> Check {
    match crate::cluster::connect_kube(cx).await {
        Ok((_, t)) => {
            let mut c = check(
                "kubectl",
                true,
                format!("connected through context '{}'", t.context),
            );
            c.details
                .push(format!("Cluster: {} ({})", t.cluster_entry, t.server));
            c.details.push(format!("API access: {}", t.access));
            c
        }
        Err(e) => {
            let mut c = check("kubectl", false, format!("{e:#}"));
            if let Some(h) = crate::error::help_of(&e) {
                c.details.push(format!("help: {h}"));
            }
            c
        }
    }
}

pub async fn run(inv: super::Invocation) -> Result<crate::error::ExitCode> {
    let (cx, _) = inv.context();
    let done = checks(&cx).await;
    // The tunnel (a private endpoint) closes whatever the checks found.
    cx.close().await;
    done
}

async fn checks(cx: &Context) -> Result<crate::error::ExitCode> {
    let aws = cx.aws().await;
    // Credentials first: without them every line would say the same thing.
    aws.account_id().await?;
    let prefix = cx.settings.secrets_prefix.clone();
    let (cluster, roles, secrets, db, kube) = tokio::join!(
        cluster_checks(aws, cx),
        role_checks(aws, &cx.settings.cluster, &cx.settings.access),
        secret_checks(aws, &prefix, &cx.settings.access),
        database_checks(cx, aws, &prefix),
        kube_check(cx),
    );
    let mut checks = cluster;
    checks.extend(roles);
    checks.extend(secrets);
    checks.extend(db);
    checks.push(kube);

    let rule = "━".repeat(54);
    let mut section = "";
    for c in &checks {
        if c.section != section {
            section = c.section;
            cx.ui.println(&format!("{rule}\n{section}:\n{rule}"));
        }
        let mark = match (c.ok, c.unproven) {
            (true, false) => "✓",
            (true, true) => "⚠",
            (false, _) => "✗",
        };
        cx.ui.println(&format!("{mark} {}", c.text));
        for d in &c.details {
            cx.ui.println(&format!("  {d}"));
        }
        cx.ui.emit(&crate::events::Event::Check {
            section: c.section.to_string(),
            ok: c.ok,
            unproven: c.unproven,
            text: c.text.clone(),
            details: c.details.clone(),
        });
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let open = checks.iter().filter(|c| c.unproven).count();
    cx.ui.println(&format!("{rule}\nSummary:\n{rule}"));
    let code = if failed == 0 {
        if open == 0 {
            cx.ui.println("✓ All infrastructure components verified");
        } else {
            cx.ui.println(&format!(
                "✓ No check failed; {open} could not be proven from here (⚠ above says why)"
            ));
        }
        exit::OK
    } else {
        cx.ui.println(&format!("✗ {failed} check(s) failed"));
        cx.ui.println("next: `deployctl infrastructure` creates the infrastructure; `deployctl irsa` and `deployctl secrets` create roles and secrets");
        exit::FAILED
    };
    let error = (failed > 0).then(|| {
        let names: Vec<&str> = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.text.as_str())
            .collect();
        crate::events::ErrorReport {
            message: format!("{failed} check(s) failed"),
            help: Some("`deployctl infrastructure` creates the infrastructure; `deployctl irsa` and `deployctl secrets` create roles and secrets".into()),
            check: Some(names.join("; ")),
        }
    });
    cx.ui.summarize(crate::events::Summary {
        failed: Some(failed),
        ..crate::events::Summary::new("infrastructure-verify", code, error)
    });
    Ok(code)
}
