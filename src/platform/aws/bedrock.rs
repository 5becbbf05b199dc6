//! Amazon Bedrock's control plane: what the region offers (each model's lifecycle, the
//! inference profiles) and what the account may call (its Marketplace agreement per model,
//! Anthropic's use-case form). "Not offered" is `Ok(None)`, decided from the operation's
//! service error (ValidationException for a model ID the region does not know,
//! ResourceNotFoundException for a missing profile).

use super::{Aws, failed};
use anyhow::Result;

/// A foundation model as the region offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub id: String,
    /// ACTIVE or LEGACY.
    pub lifecycle: String,
}

/// GetFoundationModel; `Ok(None)` when the region does not offer it.
pub async fn foundation_model(aws: &Aws, id: &str) -> Result<Option<Offered>> {
    use aws_sdk_bedrock::operation::get_foundation_model::GetFoundationModelError as E;
    match aws
        .bedrock()
        .get_foundation_model()
        .model_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.model_details().map(|d| Offered {
            id: d.model_id().to_string(),
            lifecycle: d
                .model_lifecycle()
                .map(|l| l.status().as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
        })),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(E::ValidationException(_) | E::ResourceNotFoundException(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(failed(format!("Bedrock GetFoundationModel {id}"))(e)),
    }
}

/// GetInferenceProfile; `Ok(None)` when the region has no such profile.
pub async fn inference_profile(aws: &Aws, id: &str) -> Result<Option<String>> {
    use aws_sdk_bedrock::operation::get_inference_profile::GetInferenceProfileError as E;
    match aws
        .bedrock()
        .get_inference_profile()
        .inference_profile_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out.status().as_str().to_string())),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(E::ValidationException(_) | E::ResourceNotFoundException(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(failed(format!("Bedrock GetInferenceProfile {id}"))(e)),
    }
}

/// The models of `provider` the region offers (ListFoundationModels), ACTIVE first.
pub async fn offered(aws: &Aws, provider: &str) -> Result<Vec<Offered>> {
    let out = aws
        .bedrock()
        .list_foundation_models()
        .by_provider(provider)
        .send()
        .await
        .map_err(failed("Bedrock ListFoundationModels"))?;
    let mut list: Vec<Offered> = out
        .model_summaries()
        .iter()
        .map(|m| Offered {
            id: m.model_id().to_string(),
            lifecycle: m
                .model_lifecycle()
                .map(|l| l.status().as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
        })
        .collect();
    list.sort_by(|a, b| (a.lifecycle != "ACTIVE", &a.id).cmp(&(b.lifecycle != "ACTIVE", &b.id)));
    Ok(list)
}

/// The inference profiles of the region (ListInferenceProfiles, every page).
pub async fn profiles(aws: &Aws) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut pages = aws
        .bedrock()
        .list_inference_profiles()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("Bedrock ListInferenceProfiles"))?;
        out.extend(
            page.inference_profile_summaries()
                .iter()
                .map(|p| p.inference_profile_id().to_string()),
        );
    }
    out.sort();
    Ok(out)
}

/// GetFoundationModelAvailability: whether the account has agreed to the model's
/// Marketplace offer (`AVAILABLE`, `PENDING`, `NOT_AVAILABLE`, `ERROR`); `Ok(None)` when the
/// region does not know the model.
pub async fn agreement(aws: &Aws, id: &str) -> Result<Option<String>> {
    use aws_sdk_bedrock::operation::get_foundation_model_availability::GetFoundationModelAvailabilityError as E;
    match aws
        .bedrock()
        .get_foundation_model_availability()
        .model_id(id)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.agreement_availability()
                .map(|a| a.status().as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
        )),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(E::ValidationException(_) | E::ResourceNotFoundException(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(failed(format!(
            "Bedrock GetFoundationModelAvailability {id}"
        ))(e)),
    }
}

/// Agree to the model's Marketplace offer (ListFoundationModelAgreementOffers, then
/// CreateFoundationModelAgreement with the first offer): the subscription the first call of a
/// third-party model needs. The caller needs aws-marketplace:Subscribe.
pub async fn create_agreement(aws: &Aws, id: &str) -> Result<()> {
    let offers = aws
        .bedrock()
        .list_foundation_model_agreement_offers()
        .model_id(id)
        .send()
        .await
        .map_err(failed(format!(
            "Bedrock ListFoundationModelAgreementOffers {id}"
        )))?;
    let Some(offer) = offers.offers().first() else {
        anyhow::bail!("Bedrock offers no agreement for {id} in this region");
    };
    aws.bedrock()
        .create_foundation_model_agreement()
        .model_id(id)
        .offer_token(offer.offer_token())
        .send()
        .await
        .map_err(failed(format!(
            "Bedrock CreateFoundationModelAgreement {id}"
        )))?;
    Ok(())
}

/// Whether the account has submitted Anthropic's use-case form (GetUseCaseForModelAccess).
pub async fn use_case_submitted(aws: &Aws) -> Result<bool> {
    match aws.bedrock().get_use_case_for_model_access().send().await {
        Ok(_) => Ok(true),
        Err(e) if super::error_code(&e) == Some("ResourceNotFoundException") => Ok(false),
        Err(e) => Err(failed("Bedrock GetUseCaseForModelAccess")(e)),
    }
}
