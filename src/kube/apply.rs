//! Server-side apply of manifest documents with the field manager `deployctl`, resolving
//! each kind through discovery (built-in kinds and CRDs alike).

use super::errors::{describe, retry};
use crate::manifest::Document;
use anyhow::{Context as _, Result, anyhow};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use std::collections::HashMap;

pub const FIELD_MANAGER: &str = "deployctl";

fn gvk_of(doc: &Document) -> Result<GroupVersionKind> {
    let (group, version) = match doc.api_version().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), doc.api_version().to_string()),
    };
    if version.is_empty() || doc.kind().is_empty() {
        return Err(anyhow!(
            "{}:{}: document has no apiVersion/kind",
            doc.path.display(),
            doc.line
        ));
    }
    Ok(GroupVersionKind::gvk(&group, &version, doc.kind()))
}

/// Resolves kinds once per apply batch.
#[derive(Default)]
pub struct Resolver {
    cache: HashMap<(String, String, String), (ApiResource, ApiCapabilities)>,
}

impl Resolver {
    pub async fn api(
        &mut self,
        client: &kube::Client,
        doc: &Document,
    ) -> Result<Api<DynamicObject>> {
        let gvk = gvk_of(doc)?;
        let key = (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone());
        if !self.cache.contains_key(&key) {
            let found = kube::discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|e| {
                    anyhow!(
                        "the cluster does not serve {} {} (is its CRD installed?): {}",
                        doc.api_version(),
                        doc.kind(),
                        describe(&e)
                    )
                })?;
            self.cache.insert(key.clone(), found);
        }
        let (ar, caps) = &self.cache[&key];
        Ok(match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), ar),
            Scope::Namespaced => match doc.namespace() {
                Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
                None => Api::default_namespaced_with(client.clone(), ar),
            },
        })
    }
}

/// Apply every document; returns "Kind/name" of each applied object.
pub async fn apply_documents(client: &kube::Client, docs: &[Document]) -> Result<Vec<String>> {
    let mut resolver = Resolver::default();
    let params = PatchParams::apply(FIELD_MANAGER);
    let mut applied = Vec::new();
    for doc in docs {
        let what = format!(
            "{} `{}` ({}:{})",
            doc.kind(),
            doc.name(),
            doc.path.display(),
            doc.line
        );
        let api = resolver
            .api(client, doc)
            .await
            .with_context(|| format!("cannot apply {what}"))?;
        let obj: DynamicObject = serde_json::from_value(doc.value.clone())
            .with_context(|| format!("{what} is not a Kubernetes object"))?;
        let patch = Patch::Apply(&obj);
        retry(&format!("server-side apply of {what}"), || {
            api.patch(doc.name(), &params, &patch)
        })
        .await?;
        applied.push(format!("{}/{}", doc.kind(), doc.name()));
    }
    Ok(applied)
}
