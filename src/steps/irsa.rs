//! `irsa`: the IAM roles the stack's service accounts assume (IRSA), with the trust policy
//! built from the cluster's OIDC issuer and the inline policies of iam/.

use super::Step;
use crate::aws::{self, Aws, iam, policy};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::error::UserError;
use crate::graph::StepId;
use anyhow::Result;
use async_trait::async_trait;
use serde_json::Value;

/// One IRSA role.
#[derive(Debug, Clone, Copy)]
pub struct RoleDef {
    pub name: &'static str,
    pub namespace: &'static str,
    pub service_account: &'static str,
    /// Inline policy file under the project directory.
    pub policy_file: &'static str,
    pub inline_name: &'static str,
    pub description: &'static str,
}

pub const ROLES: &[RoleDef] = &[
    RoleDef {
        name: "litellm-bedrock-role",
        namespace: "litellm",
        service_account: "litellm-sa",
        policy_file: "iam/litellm-bedrock-policy.json",
        inline_name: "litellm-bedrock",
        description: "LiteLLM calls Amazon Bedrock (managed by deployctl)",
    },
    RoleDef {
        name: "external-secrets-role",
        namespace: "external-secrets",
        service_account: "external-secrets",
        policy_file: "iam/external-secrets-policy.json",
        inline_name: "external-secrets-read",
        description: "External Secrets Operator reads the stack's secrets (managed by deployctl)",
    },
];

pub struct Irsa;

/// What each role should look like.
struct Wanted {
    def: RoleDef,
    trust: Value,
    inline: Value,
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
        ("ACCOUNT_ID", account.clone()),
        ("SECRETS_PREFIX", cx.settings.secrets_prefix.clone()),
    ]
    .into_iter()
    .collect();
    ROLES
        .iter()
        .map(|def| {
            Ok(Wanted {
                def: *def,
                trust: policy::trust_policy(
                    aws.partition(),
                    &account,
                    &issuer,
                    def.namespace,
                    def.service_account,
                ),
                inline: policy::load(&cx.settings.project_dir.join(def.policy_file), &vars)?,
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
    fn resource(&self, _cx: &Context) -> String {
        format!(
            "IAM roles {}",
            ROLES.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
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
                .map(|w| iam::get_role(aws, w.def.name, w.def.inline_name)),
        )
        .await?;
        let mut missing = Vec::new();
        let mut drift = Vec::new();
        for (w, have) in wanted.iter().zip(&found) {
            match have {
                None => missing.push(w.def.name),
                Some(role) => {
                    if !policy::same(&role.trust, &w.trust) {
                        drift.push(format!(
                            "{}: trust policy differs from the cluster's service account",
                            w.def.name
                        ));
                    }
                    match &role.inline {
                        None => drift.push(format!(
                            "{}: inline policy `{}` is missing",
                            w.def.name, w.def.inline_name
                        )),
                        Some(p) if !policy::same(p, &w.inline) => drift.push(format!(
                            "{}: inline policy `{}` differs from {}",
                            w.def.name, w.def.inline_name, w.def.policy_file
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(if missing.len() == ROLES.len() {
            State::Missing
        } else if missing.is_empty() && drift.is_empty() {
            State::Healthy(format!("{} of {} roles match", ROLES.len(), ROLES.len()))
        } else {
            let mut why = Vec::new();
            if !missing.is_empty() {
                why.push(format!("missing {}", missing.join(", ")));
            }
            why.extend(drift);
            State::Unhealthy(why.join("; "))
        })
    }

    async fn apply(&self, cx: &Context, _action: Action) -> Result<String> {
        let aws = cx.aws().await;
        let wanted = wanted(cx, aws).await?;
        let mut arns = Vec::new();
        for w in &wanted {
            let arn = iam::ensure_role(
                aws,
                w.def.name,
                w.def.description,
                &w.trust,
                w.def.inline_name,
                &w.inline,
            )
            .await?;
            arns.push(arn);
        }
        Ok(format!("roles in place: {}", arns.join(", ")))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let aws = cx.aws().await;
        let mut lines = Vec::new();
        for def in ROLES {
            match iam::get_role(aws, def.name, def.inline_name).await? {
                None => lines.push(format!("  {:<24} missing", def.name)),
                Some(role) => {
                    let (attached, inline) = iam::role_policies(aws, def.name).await?;
                    lines.push(format!("  {:<24} {}", def.name, role.arn));
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
