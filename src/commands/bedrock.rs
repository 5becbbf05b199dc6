//! `deployctl bedrock enable`: the one-time account-level steps a third-party model's first
//! call needs, done with the operator's credentials: the Marketplace agreement for each
//! configured model (ListFoundationModelAgreementOffers + CreateFoundationModelAgreement; the
//! caller needs aws-marketplace:Subscribe, ViewSubscriptions and Unsubscribe), and a check
//! that Anthropic's first-time-use form was submitted (it has company details only a person
//! can give: the console asks for them).
//!
//! Why not give LiteLLM's role the Marketplace actions: `aws-marketplace:Subscribe` can only
//! be narrowed by Marketplace product ID (the Bedrock user guide), which differs per model and
//! is not in the model list; a role that may subscribe the account to any paid Marketplace
//! product is too broad for a gateway that holds API keys. The subscription is needed once per
//! account and model, so the operator does it once.

use crate::error::{UserError, exit};
use anyhow::Result;

pub async fn enable(inv: super::Invocation) -> Result<crate::error::ExitCode> {
    let (cx, _) = inv.context();
    let aws = cx.aws().await;
    let models = crate::stack::bedrock::load(&cx.settings.project_dir)?;
    crate::stack::bedrock::check_region(&models, &aws.region)?;
    let mut bases: Vec<String> = models.iter().map(|m| m.base.clone()).collect();
    bases.dedup();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for base in &bases {
        let state = crate::platform::aws::bedrock::agreement(aws, base).await?;
        let result = match state.as_deref() {
            None => {
                problems.push(format!("{base} is not offered in {}", aws.region));
                "not offered in this region".to_string()
            }
            Some("AVAILABLE") => "already enabled".to_string(),
            Some("PENDING") => "subscription under way (a few minutes)".to_string(),
            Some(_) => match crate::platform::aws::bedrock::create_agreement(aws, base).await {
                Ok(()) => "subscribed (usable in a few minutes)".to_string(),
                Err(e) => {
                    problems.push(format!("{base}: {e:#}"));
                    "could not subscribe".to_string()
                }
            },
        };
        rows.push(vec![base.clone(), result]);
    }
    cx.ui.println(&crate::ui::table(
        &["model", "Marketplace agreement"],
        &rows,
    ));
    match crate::platform::aws::bedrock::use_case_submitted(aws).await {
        Ok(true) => cx
            .ui
            .println("Anthropic's first-time-use form: submitted for this account"),
        Ok(false) => problems.push(
            "Anthropic's first-time-use form has not been submitted for this account: submit it once in the Bedrock console (Model catalog → an Anthropic model → Submit use case details)".into(),
        ),
        Err(e) => cx.ui.warn(&format!(
            "could not check Anthropic's first-time-use form ({e:#})"
        )),
    }
    if problems.is_empty() {
        cx.ui.println(
            "Done: `deployctl verify` proves each model with a short chat (a new subscription can take a few minutes).",
        );
        return Ok(exit::OK);
    }
    Err(UserError::failed(
        format!(
            "Bedrock is not ready for every model:\n  {}",
            problems.join("\n  ")
        ),
        "fix the above (your credentials need aws-marketplace:Subscribe, ViewSubscriptions and Unsubscribe, and bedrock:*FoundationModelAgreement*), then run `deployctl bedrock enable` again",
    )
    .into())
}
