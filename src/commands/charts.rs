//! `deployctl charts pull [DIR]` and `deployctl charts render [RELEASE…]`.

use crate::config::Settings;
use crate::error::{UserError, exit};
use crate::platform::tools::helm::Helm;
use crate::stack::charts;
use crate::stack::releases::Releases;
use crate::stack::render::{self, Inputs};
use crate::ui::Ui;
use anyhow::{Context as _, Result};
use std::path::PathBuf;

/// Fill `dir` with every pinned chart (`helm pull`); a chart already there at the pinned
/// version is kept.
/// `charts pull [DIR]` or `charts render [RELEASE…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartsJob {
    Pull { destination: Option<PathBuf> },
    Render { releases: Vec<String> },
}

pub async fn run(inv: super::Invocation, action: ChartsJob) -> Result<crate::error::ExitCode> {
    match action {
        ChartsJob::Pull { destination } => pull(&inv.settings, &inv.ui, destination).await,
        ChartsJob::Render { releases } => render_cmd(&inv.settings, &inv.ui, &releases).await,
    }
}

async fn pull(
    settings: &Settings,
    ui: &Ui,
    dir: Option<PathBuf>,
) -> Result<crate::error::ExitCode> {
    let dir = dir
        .or_else(|| settings.charts_dir.clone())
        .unwrap_or_else(|| PathBuf::from("charts"));
    let helm = Helm::new();
    helm.check_installed().await?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the charts directory {}", dir.display()))?;
    let all = Releases::load(&settings.project_dir)?;
    let mut failed = Vec::new();
    for rel in &all.releases {
        if let Ok(found) = charts::find_local(&dir, rel) {
            ui.println(&format!(
                "kept   {} {} ({})",
                charts::chart_name(&rel.chart),
                rel.version,
                found.path.display()
            ));
            continue;
        }
        let args = charts::pull_args(&all, rel, &dir)?;
        match helm.pull(&args).await {
            Ok(()) => match charts::find_local(&dir, rel) {
                Ok(found) => ui.println(&format!(
                    "pulled {} {} ({})",
                    charts::chart_name(&rel.chart),
                    rel.version,
                    found.path.display()
                )),
                Err(e) => failed.push(format!("{}: {e:#}", rel.name)),
            },
            Err(e) => failed.push(format!("{}: {e:#}", rel.name)),
        }
    }
    if failed.is_empty() {
        ui.println(&format!(
            "{} charts in {}; use them with --charts-dir {} (or DEPLOYCTL_CHARTS_DIR)",
            all.releases.len(),
            dir.display(),
            dir.display()
        ));
        return Ok(exit::OK);
    }
    Err(UserError::failed(
        format!(
            "could not pull {} chart(s):\n  {}",
            failed.len(),
            failed.join("\n  ")
        ),
        "check the network path to the chart repositories (helm pull needs them), then run `deployctl charts pull` again",
    )
    .into())
}

/// Render the stack from the charts directory, check it, print the YAML of the named
/// releases (all by default). Problems go to stderr and make the exit code 1.
async fn render_cmd(
    settings: &Settings,
    ui: &Ui,
    names: &[String],
) -> Result<crate::error::ExitCode> {
    let Some(dir) = settings.charts_dir.clone() else {
        return Err(UserError::usage(
            "`charts render` needs a charts directory",
            "pass --charts-dir DIR (fill it with `deployctl charts pull DIR`)",
        )
        .into());
    };
    let all = Releases::load(&settings.project_dir)?;
    for n in names {
        if !all.releases.iter().any(|r| &r.name == n) {
            let known: Vec<&str> = all.releases.iter().map(|r| r.name.as_str()).collect();
            return Err(UserError::usage(
                format!("no release `{n}` in helm-values/releases.yaml"),
                format!("the releases are: {}", known.join(", ")),
            )
            .into());
        }
    }
    let helm = Helm::new();
    helm.check_installed().await?;
    let report = render::render_stack(&helm, &Inputs::from_settings(settings, &dir)).await?;
    for r in &report.releases {
        if names.is_empty() || names.contains(&r.release.name) {
            ui.stdout_raw(&format!(
                "# release {} (namespace {}) from {}\n{}",
                r.release.name,
                r.release.namespace,
                r.chart_path.display(),
                r.yaml.trim_end()
            ));
        }
    }
    if report.problems.is_empty() {
        if ui.verbosity() >= 0 {
            crate::ui::err_line(&format!(
                "rendered {} releases from {}: no unknown values keys, wiring consistent",
                report.releases.len(),
                dir.display()
            ));
        }
        return Ok(exit::OK);
    }
    Err(UserError::failed(
        format!(
            "{} problem(s) in the rendered stack:\n  {}",
            report.problems.len(),
            report.problems.join("\n  ")
        ),
        "fix the values files or manifests named above, then run `deployctl validate --charts-dir DIR` again",
    )
    .into())
}
