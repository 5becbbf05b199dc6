//! Server-side apply of manifest documents with the field manager `deployctl`, resolving
//! each kind through discovery (built-in kinds and CRDs alike).

use super::document::Document;
use super::errors::{is_not_found, retry};
use anyhow::{Context as _, Result, anyhow};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// How long a kind missing from discovery is waited for: a real API server publishes a new
/// CRD's resource a moment after the CRD reports Established.
pub const DISCOVERY_LAG: Duration = Duration::from_secs(30);

/// Find the API resource of a kind. Transient failures are retried (`retry`); a kind the
/// cluster does not serve (yet) is looked for again until `DISCOVERY_LAG` has passed, saying
/// so; only then is it reported as not served.
pub async fn discover(
    client: &kube::Client,
    gvk: &GroupVersionKind,
    api_version: &str,
    kind: &str,
) -> Result<(ApiResource, ApiCapabilities)> {
    let started = Instant::now();
    let mut said = false;
    loop {
        let what = format!("discovering {api_version} {kind}");
        let found = retry(&what, || async {
            match kube::discovery::pinned_kind(client, gvk).await {
                Ok(f) => Ok(Some(f)),
                // The group/version is not served, or it is but without this kind.
                Err(e) if is_not_found(&e) => Ok(None),
                Err(kube::Error::Discovery(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        if let Some(f) = found {
            return Ok(f);
        }
        // Built-in kinds and kinds no CRD defines will not appear: say so at once.
        if gvk.group.is_empty() || !crd_defines(client, gvk).await? {
            return Err(anyhow!(
                "the cluster does not serve {api_version} {kind}: no CustomResourceDefinition defines it (is its chart installed?)"
            ));
        }
        if started.elapsed() >= DISCOVERY_LAG {
            return Err(anyhow!(
                "the cluster does not serve {api_version} {kind}: its CustomResourceDefinition exists, but the kind did not appear in discovery within {}s (check it with `kubectl get crd` and `kubectl api-resources --api-group={}`)",
                DISCOVERY_LAG.as_secs(),
                gvk.group
            ));
        }
        if !said && started.elapsed() >= Duration::from_secs(2) {
            said = true;
            crate::ui::err_line(&format!(
                "  … waiting for the cluster to serve {api_version} {kind}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether a CustomResourceDefinition in the cluster defines this group, version and kind.
async fn crd_defines(client: &kube::Client, gvk: &GroupVersionKind) -> Result<bool> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let lp = kube::api::ListParams::default();
    let crds = retry("listing CustomResourceDefinitions", || api.list(&lp)).await?;
    Ok(crds.items.iter().any(|c| {
        c.spec.group == gvk.group
            && c.spec.names.kind == gvk.kind
            && c.spec.versions.iter().any(|v| v.name == gvk.version)
    }))
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
            let found = discover(client, &gvk, doc.api_version(), doc.kind()).await?;
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
    // Forced: the files are the source of truth; a field changed by hand is drift, which
    // `plan` shows and the step takes back (without force it would be a 409 on every run).
    let params = PatchParams::apply(FIELD_MANAGER).force();
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

/// Delete every document's object, last document first (so a constraint goes before its
/// template, an ExternalSecret before its store). An object or a kind that is not there is
/// fine. Returns "Kind/name" of each object deleted.
pub async fn delete_documents(client: &kube::Client, docs: &[Document]) -> Result<Vec<String>> {
    let mut resolver = Resolver::default();
    let mut deleted = Vec::new();
    for doc in docs.iter().rev() {
        let what = format!("{} `{}`", doc.kind(), doc.name());
        // The kind is gone (its chart, and with it the CRD, was removed): so is the object.
        let gvk = gvk_of(doc)?;
        match kube::discovery::pinned_kind(client, &gvk).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => continue,
            Err(kube::Error::Discovery(_)) => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot delete {what}")),
        }
        let api = resolver
            .api(client, doc)
            .await
            .with_context(|| format!("cannot delete {what}"))?;
        let gone = retry(&format!("deleting {what}"), || async {
            match api.delete(doc.name(), &Default::default()).await {
                Ok(_) => Ok(false),
                Err(e) if is_not_found(&e) => Ok(true),
                Err(e) => Err(e),
            }
        })
        .await?;
        if !gone {
            deleted.push(format!("{}/{}", doc.kind(), doc.name()));
        }
    }
    Ok(deleted)
}

/// What a server-side apply of `docs` would change in the objects that exist: a dry run
/// (`dryRun=All`) of each, compared with the live object — metadata the server keeps for
/// itself (managed fields, versions, timestamps) and `status` left out. "Kind/name: the
/// changed field paths" for each object that would change; objects that do not exist yet
/// are not drift (the caller reports them missing). Values are never shown: paths only.
pub async fn drift(client: &kube::Client, docs: &[Document]) -> Result<Vec<String>> {
    // Resolve each kind once, then look at the objects eight at a time.
    let mut resolver = Resolver::default();
    let mut apis = Vec::new();
    for doc in docs {
        if let Ok(api) = resolver.api(client, doc).await {
            apis.push((doc.clone(), api));
        }
    }
    let mut out = Vec::new();
    for chunk in apis.chunks(8) {
        let found = futures::future::join_all(
            chunk
                .iter()
                .cloned()
                .map(|(doc, api)| async move { drift_of(doc, api).await }),
        )
        .await;
        for f in found {
            out.extend(f?);
        }
    }
    Ok(out)
}

/// One document's drift: "Kind/name (paths)" when an apply would change it.
async fn drift_of(doc: Document, api: Api<DynamicObject>) -> Result<Option<String>> {
    let what = format!("{} {}", doc.kind(), doc.name());
    // Forced, as the apply itself is: a field someone changed by hand (`kubectl edit`) is
    // drift to report, not a conflict that stops the plan.
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let Some(live) = retry(&format!("reading {what}"), || api.get_opt(doc.name())).await? else {
        return Ok(None);
    };
    let obj: DynamicObject = serde_json::from_value(doc.value.clone())
        .with_context(|| format!("{what} is not a Kubernetes object"))?;
    let patch = Patch::Apply(&obj);
    let would = retry(&format!("dry-run apply of {what}"), || {
        api.patch(doc.name(), &params, &patch)
    })
    .await?;
    let comparable = |o: &DynamicObject| {
        let mut v = serde_json::to_value(o).unwrap_or_default();
        if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for k in [
                "managedFields",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "uid",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
        }
        v
    };
    let changes = crate::json_diff::diff(&comparable(&live), &comparable(&would));
    if changes.is_empty() {
        return Ok(None);
    }
    let paths: Vec<&str> = changes.iter().take(4).map(|c| c.path.as_str()).collect();
    let more = if changes.len() > 4 {
        format!(" and {} more", changes.len() - 4)
    } else {
        String::new()
    };
    Ok(Some(format!("{what} ({}{more})", paths.join(", "))))
}
