//! `namespaces`: server-side apply of manifests/namespaces.yaml and of the cluster's
//! encrypted default StorageClass (manifests/storage-class.yaml).

use super::{Findings, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::kubeapi::apply::apply_documents;
use crate::platform::kubeapi::errors::retry;
use crate::stack::manifest::{self, Document};
use anyhow::Result;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use std::collections::BTreeMap;

pub const FILE: &str = "manifests/namespaces.yaml";
pub const STORAGE_CLASS_FILE: &str = "manifests/storage-class.yaml";

pub struct Namespaces;

fn wanted(cx: &Context) -> Result<Vec<Document>> {
    manifest::load(&cx.settings.project_dir.join(FILE))
}

/// Everything the step applies: the namespaces, then the StorageClass (`export` writes these).
pub fn documents(cx: &Context) -> Result<Vec<Document>> {
    let mut d = wanted(cx)?;
    d.push(wanted_storage_class(cx)?);
    Ok(d)
}

fn wanted_storage_class(cx: &Context) -> Result<Document> {
    let mut docs = manifest::load(&cx.settings.project_dir.join(STORAGE_CLASS_FILE))?;
    anyhow::ensure!(
        docs.len() == 1,
        "{STORAGE_CLASS_FILE} must hold exactly one StorageClass"
    );
    Ok(docs.remove(0))
}

/// What is wrong with the StorageClass as it exists (None: as wanted).
fn storage_class_problem(want: &Document, have: Option<&StorageClass>) -> Option<String> {
    let name = want.name();
    let Some(have) = have else {
        return Some(format!("StorageClass {name} is missing"));
    };
    let params = have.parameters.clone().unwrap_or_default();
    if params.get("encrypted").map(String::as_str) != Some("true") {
        return Some(format!(
            "StorageClass {name} does not encrypt its volumes (parameters cannot change: delete it, then run `deployctl namespaces`)"
        ));
    }
    let default = have
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
        .map(String::as_str);
    if default != Some("true") {
        return Some(format!("StorageClass {name} is not the default"));
    }
    None
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
        let sc = wanted_storage_class(cx)?;
        let sc_api: Api<StorageClass> = Api::all(cx.kube()?);
        let have_sc = retry(&format!("reading StorageClass `{}`", sc.name()), || {
            sc_api.get_opt(sc.name())
        })
        .await?;
        let sc_problem = storage_class_problem(&sc, have_sc.as_ref());
        if let Some(p) = &sc_problem
            && missing.len() < docs.len()
        {
            problems.push(p.clone());
        }
        let total = docs.len();
        Ok(if missing.len() == total {
            State::Missing
        } else if missing.is_empty() && problems.is_empty() {
            State::Healthy(format!(
                "{total} of {total} exist with their labels; StorageClass {} encrypted, default",
                sc.name()
            ))
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

    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let mut docs = wanted(cx)?;
        let namespaces = docs.len();
        let sc = wanted_storage_class(cx)?;
        let sc_name = sc.name().to_string();
        docs.push(sc);
        apply_documents(&cx.kube()?, &docs).await?;
        Ok(format!(
            "applied {namespaces} namespaces and the encrypted default StorageClass {sc_name}"
        ))
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
