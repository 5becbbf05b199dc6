//! `namespaces`: server-side apply of manifests/namespaces.yaml.

use super::Step;
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::kube::apply::apply_documents;
use crate::kube::errors::retry;
use crate::manifest::{self, Document};
use anyhow::Result;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use std::collections::BTreeMap;

pub const FILE: &str = "manifests/namespaces.yaml";

pub struct Namespaces;

fn wanted(cx: &Context) -> Result<Vec<Document>> {
    manifest::load(&cx.settings.project_dir.join(FILE))
}

fn wanted_labels(doc: &Document) -> BTreeMap<String, String> {
    doc.value
        .pointer("/metadata/labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Step for Namespaces {
    fn id(&self) -> StepId {
        StepId::Namespaces
    }

    fn exists(&self) -> &'static str {
        "exist"
    }
    fn resource(&self, cx: &Context) -> String {
        match wanted(cx) {
            Ok(docs) => format!(
                "namespaces {}",
                docs.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
            ),
            Err(_) => "namespaces".into(),
        }
    }

    async fn assess(&self, cx: &Context) -> Result<State> {
        let docs = wanted(cx)?;
        let api: Api<Namespace> = Api::all(cx.kube()?);
        let found = futures::future::try_join_all(docs.iter().map(|d| {
            let api = api.clone();
            async move {
                retry(&format!("reading namespace `{}`", d.name()), || {
                    api.get_opt(d.name())
                })
                .await
            }
        }))
        .await?;
        let mut missing = Vec::new();
        let mut problems = Vec::new();
        for (doc, ns) in docs.iter().zip(&found) {
            let Some(ns) = ns else {
                missing.push(doc.name());
                continue;
            };
            if ns.metadata.deletion_timestamp.is_some() {
                problems.push(format!("{} is terminating", doc.name()));
                continue;
            }
            let have = ns.metadata.labels.clone().unwrap_or_default();
            let differs: Vec<String> = wanted_labels(doc)
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(v))
                .map(|(k, _)| k.clone())
                .collect();
            if !differs.is_empty() {
                problems.push(format!("{} lacks label {}", doc.name(), differs.join(", ")));
            }
        }
        let total = docs.len();
        Ok(if missing.len() == total {
            State::Missing
        } else if missing.is_empty() && problems.is_empty() {
            State::Healthy(format!("{total} of {total} exist with their labels"))
        } else {
            let mut why = Vec::new();
            if !missing.is_empty() {
                why.push(format!(
                    "{} of {total} exist; missing {}",
                    total - missing.len(),
                    missing.join(", ")
                ));
            }
            why.extend(problems);
            State::Unhealthy(why.join("; "))
        })
    }

    async fn apply(&self, cx: &Context, _action: Action) -> Result<String> {
        let docs = wanted(cx)?;
        let applied = apply_documents(&cx.kube()?, &docs).await?;
        Ok(format!("applied {} namespaces", applied.len()))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let docs = wanted(cx)?;
        let api: Api<Namespace> = Api::all(cx.kube()?);
        let mut lines = Vec::new();
        for doc in &docs {
            match retry("reading namespaces", || api.get_opt(doc.name())).await? {
                None => lines.push(format!("  {:<20} missing", doc.name())),
                Some(ns) => {
                    let phase = ns
                        .status
                        .and_then(|s| s.phase)
                        .unwrap_or_else(|| "Active".into());
                    let created = ns
                        .metadata
                        .creation_timestamp
                        .map(|t| t.0.to_string())
                        .unwrap_or_default();
                    let labels = ns
                        .metadata
                        .labels
                        .unwrap_or_default()
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    lines.push(format!(
                        "  {:<20} {phase:<12} created {created}  {labels}",
                        doc.name()
                    ));
                }
            }
        }
        Ok(lines.join("\n"))
    }
}
