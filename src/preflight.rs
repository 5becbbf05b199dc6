//! Preflight: everything the given steps need (helm, the cluster, AWS, the charts
//! directory) checked at once, every problem reported together.

use crate::context::Context;
use crate::error::UserError;
use crate::graph::StepId;
use anyhow::Result;

/// What the steps are checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Installing or checking them: everything, Bedrock's models included.
    Deploy,
    /// Removing them (`uninstall`): what removal uses, and nothing about what they would
    /// serve (a model gone LEGACY must not block a teardown).
    Remove,
    /// Comparing them with what a run would apply (`diff`): read-only, like `Remove`.
    Compare,
}

pub async fn preflight(cx: &Context, assessed: &[StepId], purpose: Purpose) -> Result<()> {
    let helm = assessed.iter().any(|s| s.def().uses_helm);
    let kube = assessed.iter().any(|s| s.def().uses_kube);
    let aws = assessed.iter().any(|s| s.def().uses_aws);
    // The steps that call or grant Bedrock: their models must be offered, ACTIVE, with their
    // profiles, before anything changes.
    let bedrock = purpose == Purpose::Deploy
        && assessed
            .iter()
            .any(|s| matches!(s, StepId::Litellm | StepId::Irsa));
    let aws_check = async {
        if aws {
            let account = cx.aws().await.account_id().await?;
            cx.ui.detail(&format!(
                "AWS account {account}, region {}",
                cx.settings.region
            ));
        }
        anyhow::Ok(())
    };
    let bedrock_check = async {
        if aws && bedrock {
            let models = crate::stack::bedrock::load(&cx.settings.project_dir)?;
            for w in crate::stack::bedrock::check_offered(cx.aws().await, &models).await? {
                cx.ui.warn(&w);
            }
        }
        anyhow::Ok(())
    };
    let helm_check = async {
        if helm {
            let v = cx.helm.check_installed().await?;
            cx.ui.detail(&format!("helm {v}"));
        }
        anyhow::Ok(())
    };
    let kube_check = async {
        if kube {
            let (client, target) = crate::cluster::connect_kube(cx).await?;
            cx.ui.detail(&format!(
                "kube context `{}` → {} ({})",
                target.context, target.cluster_entry, target.server
            ));
            cx.set_kube(client);
            cx.set_kube_context(target.context.clone());
        }
        anyhow::Ok(())
    };
    // With a charts directory, every release to assess must be there at its pinned version
    // before anything starts (a mismatch names both versions; nothing is installed).
    let charts_check = async {
        let Some(dir) = &cx.settings.charts_dir else {
            return anyhow::Ok(());
        };
        let all = crate::stack::releases::Releases::load(&cx.settings.project_dir)?;
        let mut problems = Vec::new();
        let mut help = None;
        let entry = cx.settings.access.entry_point().is_some();
        for def in crate::stack::releases::RELEASES
            .iter()
            .filter(|d| assessed.contains(&d.step) && (entry || !d.entry_point_only))
        {
            let Some(rel) = all.pin(def.release) else {
                continue;
            };
            if let Err(e) = crate::stack::charts::find_local(dir, rel) {
                help = help.or_else(|| crate::error::help_of(&e).map(str::to_string));
                problems.push(format!("{e:#}"));
            }
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(UserError::failed(problems.remove(0), help.unwrap_or_default()).into()),
            _ => Err(UserError::failed(
                format!(
                    "the charts directory does not match the pins:\n    {}",
                    problems.join("\n    ")
                ),
                help.unwrap_or_default(),
            )
            .into()),
        }
    };
    let (h, k, a, c, b) = tokio::join!(
        helm_check,
        kube_check,
        aws_check,
        charts_check,
        bedrock_check
    );
    // Bedrock is looked at only with working credentials (its errors would repeat them).
    let b = if a.is_err() { Ok(()) } else { b };
    crate::error::problems_before_start(
        [
            ("aws", a),
            ("kube", k),
            ("helm", h),
            ("charts", c),
            ("bedrock", b),
        ]
        .into_iter()
        .filter_map(|(name, r)| r.err().map(|e| (name, e)))
        .collect(),
    )
}
