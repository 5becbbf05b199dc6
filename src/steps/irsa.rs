//! `irsa`: the IAM roles the stack's service accounts assume (IRSA), with the trust policy
//! built from the cluster's OIDC issuer and the inline policies of iam/.

use super::{Findings, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::error::UserError;
use crate::graph::StepId;
use crate::platform::aws::{self, Aws, iam, policy};
use anyhow::Result;
use async_trait::async_trait;
use serde_json::Value;

use crate::stack::roles::{CLUSTER_TAG, RoleDef};

pub struct Irsa;

/// What each role should look like.
struct Wanted {
    def: RoleDef,
    name: String,
    trust: Value,
    inline: Value,
}

/// deployctl rewrites a role only when it carries `deployctl-cluster=<this cluster>`.
fn check_owner(name: &str, role: &iam::RoleState, cluster: &str) -> Result<()> {
    let owner = role
        .tags
        .iter()
        .find(|(k, _)| k == CLUSTER_TAG)
        .map(|(_, v)| v.as_str());
    if owner == Some(cluster) {
        return Ok(());
    }
    let whose = match owner {
        Some(other) => {
            format!("it is tagged {CLUSTER_TAG}={other}: it belongs to cluster `{other}`")
        }
        None => {
            format!("it has no {CLUSTER_TAG} tag, so deployctl did not create it for a cluster")
        }
    };
    Err(UserError::failed(
        format!(
            "IAM role `{name}` exists but {whose}; deployctl changes no role it does not own, and nothing was changed"
        ),
        format!(
            "use another cluster name, or — if this role really is this cluster's — tag it: `aws iam tag-role --role-name {name} --tags Key={CLUSTER_TAG},Value={cluster}`"
        ),
    )
    .into())
}

async fn wanted(cx: &Context, aws: &Aws) -> Result<Vec<Wanted>> {
    let account = aws.account_id().await?;
    let issuer = aws::oidc_issuer(aws, &cx.settings).await?;
    if !iam::oidc_provider_exists(aws, &issuer).await? {
        return Err(UserError::failed(
            format!("the IAM OIDC provider for the cluster's issuer {issuer} does not exist"),
            format!(
                "create it with Terraform (`deployctl infrastructure`) or `eksctl utils associate-iam-oidc-provider --cluster {} --region {} --approve`",
                cx.settings.cluster, cx.settings.region
            ),
        )
        .into());
    }
    let vars: policy::Vars = [
        ("PARTITION", aws.partition().to_string()),
        ("REGION", aws.region.clone()),
        ("DNS_SUFFIX", aws.dns_suffix()),
        ("ACCOUNT_ID", account.clone()),
        ("SECRETS_PREFIX", cx.settings.secrets_prefix.clone()),
        ("CLUSTER", cx.settings.cluster.clone()),
        (
            "UPLOADS_BUCKET",
            crate::stack::roles::uploads_bucket(&account, &aws.region, &cx.settings.cluster),
        ),
    ]
    .into_iter()
    .collect();
    let models = crate::stack::bedrock::load(&cx.settings.project_dir)?;
    crate::stack::bedrock::check_region(&models, &aws.region)?;
    crate::stack::roles::active(&cx.settings.access)
        .into_iter()
        .map(|def| {
            let mut inline = policy::load(&cx.settings.project_dir.join(def.policy_file), &vars)?;
            if def.invokes_bedrock
                && let Some(list) = inline["Statement"].as_array_mut()
            {
                list.extend(crate::stack::bedrock::invoke_statements(
                    &models,
                    aws.partition(),
                    &aws.region,
                    &account,
                ));
            }
            Ok(Wanted {
                def: *def,
                name: def.name(&cx.settings.cluster),
                trust: policy::trust_policy(
                    aws.partition(),
                    &account,
                    &issuer,
                    def.namespace,
                    def.service_account,
                ),
                inline,
            })
        })
        .collect()
}

#[async_trait]
impl Step for Irsa {
    fn id(&self) -> StepId {
        StepId::Irsa
    }
    fn exists(&self) -> &'static str {
        "exist"
    }
    fn resource(&self, cx: &Context) -> String {
        format!(
            "IAM roles {}",
            crate::stack::roles::active(&cx.settings.access)
                .iter()
                .map(|r| r.name(&cx.settings.cluster))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn proceed_does(&self, state: &State) -> &'static str {
        match state {
            State::Unhealthy(_) => "create what is missing and restore the trust and policies",
            _ => "re-apply the trust and inline policies",
        }
    }

    async fn assess(&self, cx: &Context) -> Result<State> {
        let aws = cx.aws().await;
        let wanted = wanted(cx, aws).await?;
        let found = futures::future::try_join_all(
            wanted
                .iter()
                .map(|w| iam::get_role(aws, &w.name, w.def.inline_name)),
        )
        .await?;
        // A role of this name that deployctl did not create for this cluster is not ours to
        // rewrite: stop before anything changes.
        for (w, have) in wanted.iter().zip(&found) {
            if let Some(role) = have {
                check_owner(&w.name, role, &cx.settings.cluster)?;
            }
        }
        let mut missing = Vec::new();
        let mut drift = Vec::new();
        for (w, have) in wanted.iter().zip(&found) {
            match have {
                None => missing.push(w.name.clone()),
                Some(role) => {
                    if !policy::same(&role.trust, &w.trust) {
                        drift.push(format!(
                            "{}: trust policy differs from the cluster's service account",
                            w.name
                        ));
                    }
                    match &role.inline {
                        None => drift.push(format!(
                            "{}: inline policy `{}` is missing",
                            w.name, w.def.inline_name
                        )),
                        Some(p) if !policy::same(p, &w.inline) => drift.push(format!(
                            "{}: inline policy `{}` differs from {}",
                            w.name, w.def.inline_name, w.def.policy_file
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
        let total = wanted.len();
        Ok(if missing.len() == total {
            State::Missing
        } else if missing.is_empty() && drift.is_empty() {
            State::Healthy(format!("{total} of {total} roles match"))
        } else {
            let mut why = Vec::new();
            if !missing.is_empty() {
                why.push(format!("missing {}", missing.join(", ")));
            }
            why.extend(drift);
            State::Unhealthy(why.join("; "))
        })
    }

    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let aws = cx.aws().await;
        let wanted = wanted(cx, aws).await?;
        let mut arns = Vec::new();
        for w in &wanted {
            if let Some(role) = iam::get_role(aws, &w.name, w.def.inline_name).await? {
                check_owner(&w.name, &role, &cx.settings.cluster)?;
            }
            let arn = iam::ensure_role(
                aws,
                &w.name,
                w.def.description,
                &w.trust,
                w.def.inline_name,
                &w.inline,
                &[
                    ("app", "litellm-stack"),
                    ("managed-by", "deployctl"),
                    (CLUSTER_TAG, &cx.settings.cluster),
                ],
            )
            .await?;
            arns.push(arn);
        }
        Ok(format!("roles in place: {}", arns.join(", ")))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let aws = cx.aws().await;
        let mut lines = Vec::new();
        for def in crate::stack::roles::active(&cx.settings.access) {
            let name = def.name(&cx.settings.cluster);
            match iam::get_role(aws, &name, def.inline_name).await? {
                None => lines.push(format!("  {name:<24} missing")),
                Some(role) => {
                    let (attached, inline) = iam::role_policies(aws, &name).await?;
                    lines.push(format!("  {name:<24} {}", role.arn));
                    lines.push(format!(
                        "  {:<24} inline: {}; attached: {}",
                        "",
                        if inline.is_empty() {
                            "-".into()
                        } else {
                            inline.join(", ")
                        },
                        if attached.is_empty() {
                            "-".into()
                        } else {
                            attached.join(", ")
                        }
                    ));
                }
            }
        }
        Ok(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn role_names_carry_the_cluster_and_fit_iam() {
        let es = crate::stack::roles::ROLES
            .iter()
            .find(|r| r.suffix == "external-secrets")
            .unwrap();
        assert_eq!(es.name("litellm-dev"), "litellm-dev-external-secrets");
        let long_a = "a".repeat(100);
        let long_b = format!("{}b", "a".repeat(99));
        let (a, b) = (es.name(&long_a), es.name(&long_b));
        assert!(a.len() <= 64 && b.len() <= 64, "{a} {b}");
        assert_ne!(a, b, "two long cluster names share a role");
        assert!(a.ends_with("-external-secrets"), "{a}");
    }
}
