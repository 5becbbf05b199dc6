//! The helm releases of the stack, in one home: their pins — `helm-values/releases.yaml`,
//! the Helm repositories and each release's chart with its pinned version, read by
//! [`Releases::load`] — and their rows ([`table`], re-exported here: [`RELEASES`], one per
//! release: the step that installs it, the workloads that must be ready, what else it
//! needs, the overlay of run values it gets and the Services it exposes). A release is
//! named the same in both, and the unit test below holds the two to each other.

pub mod table;

pub use table::*;

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

pub const FILE: &str = "helm-values/releases.yaml";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Repo {
    /// The alias (`helm repo add <name> <url>`).
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    /// `alias/chart` or an `oci://` reference.
    pub chart: String,
    /// The repository alias the chart comes from (none for `oci://` charts).
    #[serde(default)]
    pub repo: Option<String>,
    pub version: String,
    pub timeout: String,
    /// Relative to helm-values/.
    pub values: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Releases {
    pub repos: Vec<Repo>,
    #[serde(default)]
    pub releases: Vec<Release>,
}

impl Releases {
    /// The pin of the release named `name`.
    pub fn pin(&self, name: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.name == name)
    }

    pub fn parse(text: &str) -> Result<Releases, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }

    pub fn load(project_dir: &Path) -> Result<Releases> {
        let path = project_dir.join(FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        Releases::parse(&text).map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(1);
            anyhow::anyhow!(
                "{}:{line}: {}",
                path.display(),
                crate::yaml::error_message(&e)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_file_lists_the_seven_repos() {
        let r = Releases::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let names: Vec<_> = r.repos.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "external-secrets",
                "gatekeeper",
                "prometheus-community",
                "jaegertracing",
                "dandydev",
                "open-webui",
                "eks"
            ]
        );
        assert!(r.repos.iter().all(|r| r.url.starts_with("https://")));
    }

    #[test]
    fn every_row_has_its_pin_and_every_pin_its_row() {
        let r = Releases::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        for row in RELEASES {
            assert!(
                r.pin(row.release).is_some(),
                "{} has no pin in {FILE}",
                row.release
            );
        }
        for pin in &r.releases {
            assert!(
                named(&pin.name).is_some(),
                "{} has no row in RELEASES",
                pin.name
            );
        }
        assert_eq!(r.releases.len(), RELEASES.len());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(Releases::parse("repos: []\nrepoz: []\n").is_err());
    }
}
