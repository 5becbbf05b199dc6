//! The helm CLI: repo list/add/update, release status and `upgrade --install`, with pure
//! parsers for its JSON output.

use super::{Process, ProcessError};
use crate::error::UserError;
use anyhow::{Context, Result};
use serde::Deserialize;

pub const INSTALL_HINT: &str = "install helm 3.8+ or 4 (https://helm.sh/docs/intro/install/, e.g. `brew install helm` or your \
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

/// helm's variables that choose the cluster or the identity; deployctl's guard has checked
/// the kube context, so helm gets that context and none of these.
pub const HELM_TARGET_VARS: &[&str] = &[
    "HELM_KUBEAPISERVER",
    "HELM_KUBETOKEN",
    "HELM_KUBECONTEXT",
    "HELM_KUBECAFILE",
    "HELM_KUBEASUSER",
    "HELM_KUBEASGROUPS",
    "HELM_KUBEINSECURE_SKIP_TLS_VERIFY",
    "HELM_KUBETLS_SERVER_NAME",
];

#[derive(Debug, Clone, Default)]
pub struct Helm {
    program: String,
    /// helm's major version, from `helm version --short` (3 or 4).
    major: std::sync::Arc<std::sync::OnceLock<u32>>,
    /// Through the tunnel: KUBECONFIG (the tunnel's file first) and its context.
    route: std::sync::Arc<std::sync::OnceLock<(std::ffi::OsString, String)>>,
}

/// `v4.1.4+g9a1b2c3` → 4.
pub fn parse_major(short_version: &str) -> Option<u32> {
    short_version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// One line of `helm history -o json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Revision {
    pub revision: i64,
    pub status: String,
}

impl Helm {
    pub fn new() -> Self {
        Helm {
            program: "helm".into(),
            major: Default::default(),
            route: Default::default(),
        }
    }

    /// From now on reach the cluster through the tunnel: `kubeconfig` as KUBECONFIG and
    /// `context` instead of the context deployctl checked (the same cluster, at the
    /// tunnel's local end).
    pub fn route_through(&self, kubeconfig: std::ffi::OsString, context: String) {
        let _ = self.route.set((kubeconfig, context));
    }

    /// helm with none of the variables that would point it elsewhere than the kube context
    /// deployctl checked (they override `--kube-context`).
    ///
    /// Every call is bounded: two minutes unless the call sets its own limit (installs and
    /// rollbacks: helm's `--timeout` plus two minutes).
    fn cmd(&self) -> Process {
        let p = HELM_TARGET_VARS
            .iter()
            .fold(Process::new(&self.program), |p, v| p.env_remove(*v))
            .timeout(std::time::Duration::from_secs(120));
        match self.route.get() {
            Some((kubeconfig, _)) => p.env("KUBECONFIG", kubeconfig.clone()),
            None => p,
        }
    }

    /// Preflight: helm runs. A missing binary is a clear error with install instructions.
    pub async fn check_installed(&self) -> Result<String> {
        match self
            .cmd()
            .args(["version", "--short"])
            .timeout(std::time::Duration::from_secs(30))
            .run()
            .await
        {
            Ok(out) => {
                let v = out.stdout.trim().to_string();
                if let Some(m) = parse_major(&v) {
                    let _ = self.major.set(m);
                }
                Ok(v)
            }
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
            .timeout(std::time::Duration::from_secs(300))
            .run()
            .await?;
        Ok(())
    }
}

/// What helm says about an installed release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseStatus {
    /// deployed, failed, pending-install, pending-upgrade, superseded, …
    pub status: String,
    pub revision: i64,
    pub chart_version: String,
    pub description: String,
}

/// `helm get metadata NAME -n NS -o json`: name, chart, version (the chart's), appVersion,
/// namespace, revision, status, deployedAt. (`helm status -o json` carries no chart object
/// in helm 3 or 4, so the installed chart version comes from here.)
pub fn parse_metadata(json: &str) -> Result<ReleaseStatus> {
    let v: serde_json::Value =
        serde_json::from_str(json).context("unexpected output from `helm get metadata -o json`")?;
    let version = v["version"]
        .as_str()
        .context("`helm get metadata -o json` names no chart version")?;
    Ok(ReleaseStatus {
        status: v["status"].as_str().unwrap_or("unknown").to_string(),
        revision: v["revision"].as_i64().unwrap_or(0),
        chart_version: version.to_string(),
        description: String::new(),
    })
}

/// The `info.description` of `helm status NAME -n NS -o json` (why a release failed).
pub fn parse_status_description(json: &str) -> Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(json).context("unexpected output from `helm status -o json`")?;
    Ok(v["info"]["description"].as_str().unwrap_or("").to_string())
}

/// Where `helm upgrade --install` / `helm template` take the chart from.
#[derive(Debug, Clone)]
pub enum ChartRef<'a> {
    /// A repository or OCI reference with `--version`.
    Remote { chart: &'a str, version: &'a str },
    /// A chart directory or archive whose version was checked against the pin.
    Local(&'a std::path::Path),
}

impl ChartRef<'_> {
    fn args(&self) -> Vec<std::ffi::OsString> {
        match self {
            ChartRef::Remote { chart, version } => {
                vec![(*chart).into(), "--version".into(), (*version).into()]
            }
            ChartRef::Local(path) => vec![path.as_os_str().to_owned()],
        }
    }
}

/// One `helm upgrade --install`.
#[derive(Debug, Clone)]
pub struct Install<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub chart: ChartRef<'a>,
    pub values: &'a std::path::Path,
    pub overlay: &'a std::path::Path,
    pub timeout: &'a str,
    pub kube_context: Option<&'a str>,
    /// The release does not exist yet: at a first interrupt helm is left to finish (or roll
    /// back) by itself, since cancelling an install races helm's own clean-up and can leave
    /// objects without a release record.
    pub fresh: bool,
}

/// The limit on a helm process that waits (`--timeout T`): helm enforces T itself; two more
/// minutes only guard against a hung process.
pub fn process_limit(helm_timeout: &str) -> std::time::Duration {
    parse_duration(helm_timeout).unwrap_or(std::time::Duration::from_secs(300))
        + std::time::Duration::from_secs(120)
}

/// `5m` / `90s` / `1h` → a duration (for the process timeout around `--timeout`).
pub fn parse_duration(t: &str) -> Option<std::time::Duration> {
    let t = t.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(std::time::Duration::from_secs(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    }))
}

impl Helm {
    fn with_context(&self, p: Process, kube_context: Option<&str>) -> Process {
        let routed = self.route.get().map(|(_, c)| c.as_str());
        match routed.or(kube_context) {
            Some(c) => p.args(["--kube-context", c]),
            None => p,
        }
    }

    /// The release's status and installed chart version, or None when it is not installed.
    pub async fn status(
        &self,
        name: &str,
        namespace: &str,
        kube_context: Option<&str>,
    ) -> Result<Option<ReleaseStatus>> {
        let p = self.with_context(
            self.cmd()
                .args(["get", "metadata", name, "-n", namespace, "-o", "json"]),
            kube_context,
        );
        let out = p.output().await?;
        if !out.success() {
            if out.stderr.contains("release: not found") {
                return Ok(None);
            }
            return Err(p.failed(&out).into());
        }
        let mut status = parse_metadata(&out.stdout)?;
        if status.status != "deployed" {
            // Why it is not deployed: helm status carries the last operation's description.
            let p = self.with_context(
                self.cmd()
                    .args(["status", name, "-n", namespace, "-o", "json"]),
                kube_context,
            );
            let out = p.output().await?;
            if out.success() {
                status.description = parse_status_description(&out.stdout)?;
            }
        }
        Ok(Some(status))
    }

    /// `helm get manifest NAME -n NS`: what helm applied for the release's latest revision.
    pub async fn manifest(
        &self,
        name: &str,
        namespace: &str,
        kube_context: Option<&str>,
    ) -> Result<String> {
        let p = self.with_context(
            self.cmd().args(["get", "manifest", name, "-n", namespace]),
            kube_context,
        );
        Ok(p.run().await?.stdout)
    }

    /// `helm template NAME CHART -n NS -f values -f overlay`: the rendered manifests.
    pub async fn template(
        &self,
        name: &str,
        namespace: &str,
        chart: &ChartRef<'_>,
        values: &[&std::path::Path],
    ) -> Result<String> {
        let mut p = self
            .cmd()
            .args(["template", name])
            .args(chart.args())
            .args(["--namespace", namespace]);
        for v in values {
            p = p.arg("-f").arg(*v);
        }
        Ok(p.timeout(std::time::Duration::from_secs(120))
            .run()
            .await?
            .stdout)
    }

    /// `helm upgrade --install NAME CHART -n NS -f values -f overlay`, as an install and its
    /// dry run share it.
    fn upgrade_command(&self, i: &Install<'_>) -> Process {
        self.cmd()
            .args(["upgrade", "--install", i.name])
            .args(i.chart.args())
            .args(["--namespace", i.namespace])
            .arg("-f")
            .arg(i.values)
            .arg("-f")
            .arg(i.overlay)
    }

    /// What `upgrade_install` would apply, without applying it: `helm upgrade --install
    /// --dry-run=server -o json` (rendered as an upgrade of the live release, `lookup` against
    /// the cluster). The release as JSON (`manifest`, `chart.metadata`, …); its `config` holds
    /// only our values and overlay, never a secret.
    pub async fn upgrade_dry_run(&self, i: &Install<'_>) -> Result<serde_json::Value> {
        let p = self.with_context(
            self.upgrade_command(i)
                .args(["--dry-run=server", "-o", "json"]),
            i.kube_context,
        );
        let out = p
            .label(format!("helm upgrade --dry-run {}", i.name))
            .timeout(std::time::Duration::from_secs(180))
            .run()
            .await?;
        serde_json::from_str(&out.stdout).with_context(|| {
            format!(
                "reading `helm upgrade --dry-run=server -o json` of {}",
                i.name
            )
        })
    }

    /// The newest stable version a chart's source offers, and its appVersion: `helm show
    /// chart NAME --repo URL` (a repository's index) or `helm show chart oci://…` (the
    /// registry's tags; `--plain-http` for a registry on this machine). helm picks the newest
    /// non-prerelease version, as `upgrade` without `--version` would.
    pub async fn newest_chart(
        &self,
        chart: &str,
        repo_url: Option<&str>,
    ) -> Result<(String, String)> {
        let mut p = self.cmd().args(["show", "chart"]);
        match repo_url {
            Some(url) => {
                let name = chart.rsplit('/').next().unwrap_or(chart);
                p = p.arg(name).args(["--repo", url]);
            }
            None => {
                p = p.arg(chart);
                let host = chart
                    .strip_prefix("oci://")
                    .and_then(|r| r.split('/').next())
                    .unwrap_or("");
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                if matches!(host, "127.0.0.1" | "localhost") {
                    p = p.arg("--plain-http");
                }
            }
        }
        let out = p
            .label(format!("helm show chart {chart}"))
            .timeout(std::time::Duration::from_secs(60))
            .run()
            .await?;
        let meta: serde_json::Value = serde_saphyr::from_str(&out.stdout)
            .with_context(|| format!("reading `helm show chart` of {chart}"))?;
        let text = |k: &str| match &meta[k] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            v => v.to_string(),
        };
        Ok((text("version"), text("appVersion")))
    }

    /// `helm pull …` (arguments from `charts::pull_args`).
    pub async fn pull(&self, args: &[String]) -> Result<()> {
        self.cmd()
            .args(args.iter())
            .timeout(std::time::Duration::from_secs(300))
            .run()
            .await?;
        Ok(())
    }

    async fn major(&self) -> u32 {
        if let Some(m) = self.major.get() {
            return *m;
        }
        let _ = self.check_installed().await;
        *self.major.get().unwrap_or(&4)
    }

    /// `helm history NAME -o json`: every revision kept, oldest first.
    pub async fn history(
        &self,
        name: &str,
        namespace: &str,
        kube_context: Option<&str>,
    ) -> Result<Vec<Revision>> {
        let p = self
            .with_context(
                self.cmd()
                    .args(["history", name, "-n", namespace, "-o", "json"]),
                kube_context,
            )
            .timeout(std::time::Duration::from_secs(60));
        let out = p.run().await?;
        serde_json::from_str(out.stdout.trim())
            .with_context(|| format!("reading `helm history {name}` output"))
    }

    /// `helm rollback NAME REVISION --wait --timeout`.
    pub async fn rollback(
        &self,
        name: &str,
        namespace: &str,
        revision: i64,
        timeout: &str,
        kube_context: Option<&str>,
    ) -> Result<()> {
        self.with_context(
            self.cmd()
                .args(["rollback", name, &revision.to_string(), "-n", namespace])
                .args(["--wait", "--timeout", timeout]),
            kube_context,
        )
        .label(format!("helm rollback {name}"))
        .finish_on_interrupt()
        .timeout(process_limit(timeout))
        .run()
        .await?;
        Ok(())
    }

    /// `helm uninstall NAME --wait --timeout`.
    pub async fn uninstall(
        &self,
        name: &str,
        namespace: &str,
        timeout: &str,
        kube_context: Option<&str>,
    ) -> Result<()> {
        self.with_context(
            self.cmd().args(["uninstall", name, "-n", namespace]).args([
                "--wait",
                "--timeout",
                timeout,
            ]),
            kube_context,
        )
        .label(format!("helm uninstall {name}"))
        .finish_on_interrupt()
        .timeout(process_limit(timeout))
        .run()
        .await?;
        Ok(())
    }

    /// `helm upgrade --install … -f values -f overlay --wait --timeout`, rolling back on
    /// failure (`--rollback-on-failure` in helm 4, `--atomic` in helm 3): a failed or
    /// interrupted upgrade returns to the last good release instead of leaving it `failed` or
    /// pending. The error carries helm's stderr tail.
    pub async fn upgrade_install(&self, i: &Install<'_>) -> Result<String> {
        let rollback = if self.major().await >= 4 {
            "--rollback-on-failure"
        } else {
            "--atomic"
        };
        let p = self.with_context(
            self.upgrade_command(i)
                .args(["--wait", rollback, "--timeout", i.timeout]),
            i.kube_context,
        );
        let p = if i.fresh {
            p.label(format!("helm install {}", i.name))
                .finish_on_interrupt()
        } else {
            p.label(format!("helm upgrade {}", i.name))
        };
        Ok(p.timeout(process_limit(i.timeout)).run().await?.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_major_version_picks_the_rollback_flag() {
        assert_eq!(parse_major("v4.1.4+g05fa379"), Some(4));
        assert_eq!(parse_major("v3.19.0+g3d8990f"), Some(3));
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn parses_what_the_real_helm_prints() {
        // `helm get metadata -o json` of helm v4.1.4.
        let s = parse_metadata(
            r#"{"name":"redis","chart":"redis-ha","version":"4.39.0","appVersion":"8.8.0","namespace":"litellm","revision":3,"status":"failed","deployedAt":"2026-11-27T08:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(s.status, "failed");
        assert_eq!(s.revision, 3);
        assert_eq!(s.chart_version, "4.39.0");
        // `helm status -o json` has no chart object; only the description is read from it.
        assert_eq!(
            parse_status_description(
                r#"{"name":"redis","info":{"status":"failed","description":"Upgrade \"redis\" failed: timed out"},"version":3,"namespace":"litellm"}"#
            )
            .unwrap(),
            "Upgrade \"redis\" failed: timed out"
        );
        assert!(parse_metadata(r#"{"name":"redis","status":"deployed"}"#).is_err());
        assert_eq!(
            parse_duration("10m"),
            Some(std::time::Duration::from_secs(600))
        );
        assert_eq!(parse_duration("x"), None);
    }

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
