//! The helm CLI: repo list/add/update (releases come with the cluster-stack work), with pure
//! parsers for its JSON output.

use super::{Process, ProcessError};
use crate::error::UserError;
use anyhow::{Context, Result};
use serde::Deserialize;

pub const INSTALL_HINT: &str = "install helm 3 (https://helm.sh/docs/intro/install/, e.g. `brew install helm` or your \
     distribution's package) and make sure `helm` is on PATH";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RepoEntry {
    pub name: String,
    pub url: String,
}

/// `helm repo list -o json`.
pub fn parse_repo_list(json: &str) -> Result<Vec<RepoEntry>> {
    serde_json::from_str(json).context("unexpected output from `helm repo list -o json`")
}

#[derive(Debug, Clone, Default)]
pub struct Helm {
    program: String,
}

impl Helm {
    pub fn new() -> Self {
        Helm {
            program: "helm".into(),
        }
    }

    fn cmd(&self) -> Process {
        Process::new(&self.program)
    }

    /// Preflight: helm runs. A missing binary is a clear error with install instructions.
    pub async fn check_installed(&self) -> Result<String> {
        match self.cmd().args(["version", "--short"]).run().await {
            Ok(out) => Ok(out.stdout.trim().to_string()),
            Err(ProcessError::NotFound { .. }) => Err(UserError::failed(
                "`helm` was not found on PATH, and the selected steps need it",
                INSTALL_HINT,
            )
            .into()),
            Err(e) => Err(anyhow::Error::new(e).context("helm is installed but does not run")),
        }
    }

    pub async fn repo_list(&self) -> Result<Vec<RepoEntry>> {
        let p = self.cmd().args(["repo", "list", "-o", "json"]);
        let out = p.output().await?;
        if out.success() {
            return parse_repo_list(&out.stdout);
        }
        // helm exits 1 with this message when no repository is configured.
        if out.stderr.contains("no repositories") {
            return Ok(Vec::new());
        }
        Err(p.failed(&out).into())
    }

    /// Add a repo; `force` replaces an entry with the same name and another URL.
    pub async fn repo_add(&self, name: &str, url: &str, force: bool) -> Result<()> {
        let mut p = self.cmd().args(["repo", "add", name, url]);
        if force {
            p = p.arg("--force-update");
        }
        p.run().await?;
        Ok(())
    }

    pub async fn repo_update(&self, names: &[&str]) -> Result<()> {
        self.cmd()
            .args(["repo", "update"])
            .args(names.iter().copied())
            .run()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_helm_repo_list_json() {
        let repos = parse_repo_list(
            r#"[{"name":"dandydev","url":"https://dandydeveloper.github.io/charts"},{"name":"x","url":"https://x"}]"#,
        )
        .unwrap();
        assert_eq!(repos.len(), 2);
        assert_eq!(repos[0].name, "dandydev");
        assert!(parse_repo_list("not json").is_err());
    }
}
