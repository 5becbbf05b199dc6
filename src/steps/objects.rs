//! Steps that server-side apply a set of manifest files: `dashboards` (Grafana dashboard
//! ConfigMaps and the ServiceMonitors that feed them).

use super::{Findings, Step};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::kubeapi::apply::{Resolver, apply_documents};
use crate::platform::kubeapi::errors::retry;
use crate::stack::manifest::Document;
use anyhow::Result;
use async_trait::async_trait;

pub struct Objects {
    pub id: StepId,
    pub what: &'static str,
    /// Manifest files or directories (every .yaml below) under the project directory.
    pub paths: &'static [&'static str],
}

pub const DASHBOARDS: Objects = Objects {
    id: StepId::Dashboards,
    what: "Grafana dashboards and ServiceMonitors",
    paths: &["manifests/dashboards", "manifests/monitoring"],
};

impl Objects {
    fn docs(&self, cx: &Context) -> Result<Vec<Document>> {
        self.documents(&cx.settings.project_dir)
    }

    /// The documents it applies, in file order (`export` writes the same).
    pub fn documents(&self, project_dir: &std::path::Path) -> Result<Vec<Document>> {
        let mut out = Vec::new();
        for p in self.paths {
            let full = project_dir.join(p);
            let files: Vec<String> = if full.is_dir() {
                let mut f: Vec<String> = std::fs::read_dir(&full)?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
                    .map(|n| format!("{p}/{n}"))
                    .collect();
                f.sort();
                f
            } else {
                vec![p.to_string()]
            };
            for f in files {
                // Taken as written: dashboards carry Grafana's own `${…}` variables.
                out.extend(crate::stack::manifest::load(&project_dir.join(&f))?);
            }
        }
        Ok(out)
    }

    /// Which documents exist in the cluster (a kind the cluster does not serve: none).
    async fn present(&self, cx: &Context, docs: &[Document]) -> Result<Vec<bool>> {
        let client = cx.kube()?;
        let mut resolver = Resolver::default();
        let mut out = Vec::new();
        for d in docs {
            let Ok(api) = resolver.api(&client, d).await else {
                out.push(false);
                continue;
            };
            let found = retry(&format!("reading {} {}", d.kind(), d.name()), || {
                api.get_opt(d.name())
            })
            .await?;
            out.push(found.is_some());
        }
        Ok(out)
    }
}

#[async_trait]
impl Step for Objects {
    fn id(&self) -> StepId {
        self.id
    }
    fn resource(&self, _cx: &Context) -> String {
        self.what.into()
    }
    fn exists(&self) -> &'static str {
        "exist"
    }
    async fn assess(&self, cx: &Context) -> Result<State> {
        let docs = self.docs(cx)?;
        let present = self.present(cx, &docs).await?;
        let n = present.iter().filter(|p| **p).count();
        Ok(if n == 0 {
            State::Missing
        } else if n == docs.len() {
            // Present is not enough: what an apply would change (an edited dashboard, a
            // manifest changed since) makes it unhealthy.
            let drift = crate::platform::kubeapi::apply::drift(&cx.kube()?, &docs).await?;
            if drift.is_empty() {
                State::Healthy(format!("{n} of {n} objects exist, as the manifests say"))
            } else {
                State::Unhealthy(format!("an apply would change {}", drift.join("; ")))
            }
        } else {
            let missing: Vec<String> = docs
                .iter()
                .zip(&present)
                .filter(|(_, p)| !**p)
                .map(|(d, _)| format!("{} {}", d.kind(), d.name()))
                .collect();
            State::Unhealthy(format!("missing {}", missing.join(", ")))
        })
    }
    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let docs = self.docs(cx)?;
        let applied = apply_documents(&cx.kube()?, &docs).await?;
        Ok(format!("applied {}", applied.join(", ")))
    }
    fn removes(&self, _cx: &Context) -> Option<String> {
        Some(format!("{} ({})", self.what, self.paths.join(", ")))
    }

    async fn remove(&self, cx: &Context) -> Result<String> {
        let docs = self.docs(cx)?;
        let deleted = crate::platform::kubeapi::apply::delete_documents(&cx.kube()?, &docs).await?;
        Ok(removed_summary(&deleted))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        let docs = self.docs(cx)?;
        let present = self.present(cx, &docs).await?;
        Ok(docs
            .iter()
            .zip(present)
            .map(|(d, p)| {
                format!(
                    "  {} {}/{} {}",
                    d.kind(),
                    d.namespace().unwrap_or("-"),
                    d.name(),
                    if p { "exists" } else { "missing" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// "deleted N objects: …", or "not present".
pub fn removed_summary(deleted: &[String]) -> String {
    if deleted.is_empty() {
        "not present".into()
    } else {
        format!(
            "deleted {} object(s): {}",
            deleted.len(),
            deleted.join(", ")
        )
    }
}
