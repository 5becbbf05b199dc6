//! Helm charts on disk: a charts directory (`--charts-dir` / `DEPLOYCTL_CHARTS_DIR`) holding,
//! per release, the chart directory `DIR/<chart>` or the archive `DIR/<chart>-<version>.tgz`
//! that `helm pull` writes. A chart is read into memory (`Chart`: Chart.yaml, values.yaml,
//! templates, subcharts) for the pin check, the values-key check and the wiring checks.

use crate::error::UserError;
use crate::stack::releases::{Release, Releases};
use anyhow::{Context as _, Result, anyhow};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The chart's name as `helm pull` names its archive: the last path segment of the reference
/// (`dandydev/redis-ha` → `redis-ha`, `oci://ghcr.io/berriai/litellm-helm` → `litellm-helm`).
pub fn chart_name(reference: &str) -> &str {
    reference
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(reference)
}

/// A chart read into memory.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub name: String,
    pub version: String,
    /// values.yaml, parsed (an empty map when the chart has none).
    pub values: Value,
    /// templates/**: path relative to the chart root → text.
    pub templates: BTreeMap<String, String>,
    /// charts/<name> (directories or archives), by chart name.
    pub subcharts: BTreeMap<String, Chart>,
    /// Chart.yaml `dependencies`: (name, condition) — to tell a missing subchart.
    pub dependencies: Vec<(String, Option<String>)>,
}

impl Chart {
    /// Dependencies declared in Chart.yaml that are not in charts/.
    pub fn missing_dependencies(&self) -> Vec<String> {
        self.dependencies
            .iter()
            .filter(|(n, _)| !self.subcharts.contains_key(n))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Read a chart directory or a `.tgz` archive.
    pub fn load(path: &Path) -> Result<Chart> {
        let files = if path.is_dir() {
            read_dir_files(path)?
        } else {
            read_archive_files(path)?
        };
        Chart::from_files(&files, &path.display().to_string())
    }

    /// Build a chart from `relative path → bytes` (relative to the chart root).
    fn from_files(files: &BTreeMap<String, Vec<u8>>, origin: &str) -> Result<Chart> {
        let text = |name: &str| -> Option<String> {
            files
                .get(name)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let meta_text = text("Chart.yaml")
            .ok_or_else(|| anyhow!("{origin} is not a helm chart: it has no Chart.yaml"))?;
        let meta: Value = serde_saphyr::from_str(&meta_text)
            .map_err(|e| anyhow!("{origin}/Chart.yaml is not valid YAML: {e}"))?;
        let field = |k: &str| meta[k].as_str().map(str::to_string);
        let name = field("name").ok_or_else(|| anyhow!("{origin}/Chart.yaml has no name"))?;
        let version = match &meta["version"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(anyhow!("{origin}/Chart.yaml has no version")),
        };
        let values = match text("values.yaml") {
            Some(t) if !t.trim().is_empty() => parse_chart_yaml(&t)
                .map_err(|e| anyhow!("{origin}/values.yaml is not valid YAML: {e}"))?,
            _ => Value::Object(Default::default()),
        };
        let values = if values.is_null() {
            Value::Object(Default::default())
        } else {
            values
        };
        let dependencies = meta["dependencies"]
            .as_array()
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| {
                        let n = d["alias"].as_str().or_else(|| d["name"].as_str())?;
                        Some((n.to_string(), d["condition"].as_str().map(str::to_string)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut templates = BTreeMap::new();
        for (path, bytes) in files {
            if path.starts_with("templates/") {
                templates.insert(path.clone(), String::from_utf8_lossy(bytes).into_owned());
            }
        }
        // Subcharts: charts/<dir>/... or charts/<name>-<version>.tgz.
        let mut sub_dirs: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        let mut subcharts = BTreeMap::new();
        for (path, bytes) in files {
            let Some(rest) = path.strip_prefix("charts/") else {
                continue;
            };
            match rest.split_once('/') {
                Some((dir, inner)) => {
                    sub_dirs
                        .entry(dir.to_string())
                        .or_default()
                        .insert(inner.to_string(), bytes.clone());
                }
                None if rest.ends_with(".tgz") => {
                    let sub = archive_files(bytes)
                        .with_context(|| format!("reading {origin}/charts/{rest}"))?;
                    let c = Chart::from_files(&sub, &format!("{origin}/charts/{rest}"))?;
                    subcharts.insert(c.name.clone(), c);
                }
                None => {}
            }
        }
        for (dir, sub) in sub_dirs {
            if !sub.contains_key("Chart.yaml") {
                continue;
            }
            let c = Chart::from_files(&sub, &format!("{origin}/charts/{dir}"))?;
            subcharts.insert(c.name.clone(), c);
        }
        // A dependency's alias names it in values; map aliases onto their charts.
        Ok(Chart {
            name,
            version,
            values,
            templates,
            subcharts,
            dependencies,
        })
    }
}

/// Chart values files carry long commented-out examples between keys; the parser's default
/// look-ahead budget for comments (32 events) refuses some (jaeger's). Charts are data we
/// read, not input from a stranger, so the budget is raised for them.
pub fn parse_chart_yaml(text: &str) -> Result<Value, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(
        text,
        serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_buffered_comment_events: 1_000_000,
            },
        },
    )
}

fn read_dir_files(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read chart directory {}", dir.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
            let path = e.path();
            let ft = e.file_type()?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if ft.is_dir() {
                if descend(&rel) {
                    stack.push(path);
                }
            } else if ft.is_file() && wanted(&rel) {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                out.insert(rel, bytes);
            }
        }
    }
    Ok(out)
}

/// Files the checks read, relative to a chart root: Chart.yaml, values.yaml, templates/**,
/// and the same inside charts/<sub>/ (or a charts/<sub>.tgz archive).
fn wanted(rel: &str) -> bool {
    if rel == "Chart.yaml" || rel == "values.yaml" || rel.starts_with("templates/") {
        return true;
    }
    match rel.strip_prefix("charts/").map(|r| r.split_once('/')) {
        Some(Some((_, inner))) => wanted(inner),
        Some(None) => rel.ends_with(".tgz"),
        None => false,
    }
}

/// Directories that can hold wanted files.
fn descend(rel_dir: &str) -> bool {
    if rel_dir == "templates" || rel_dir.starts_with("templates/") || rel_dir == "charts" {
        return true;
    }
    match rel_dir.strip_prefix("charts/").map(|r| r.split_once('/')) {
        Some(Some((_, inner))) => descend(inner),
        Some(None) => true,
        None => false,
    }
}

fn read_archive_files(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    archive_files(&bytes).with_context(|| format!("{} is not a helm chart archive", path.display()))
}

/// A `helm package` archive: one top directory (the chart name) holding the chart.
fn archive_files(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().replace('\\', "/");
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        if !wanted(rel) {
            continue;
        }
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf)?;
        out.insert(rel.to_string(), buf);
    }
    Ok(out)
}

/// Where a release's chart is in a charts directory, checked against the pin.
#[derive(Debug, Clone)]
pub struct LocalChart {
    pub path: PathBuf,
    pub chart: Chart,
}

/// Find the release's chart in `dir` and check its version against the pin. Prefers the
/// archive `helm pull` writes for the pinned version, then the directory `DIR/<chart>`.
pub fn find_local(dir: &Path, rel: &Release) -> Result<LocalChart> {
    let name = chart_name(&rel.chart);
    let archive = dir.join(format!("{name}-{}.tgz", rel.version));
    let directory = dir.join(name);
    let path = if archive.is_file() {
        archive
    } else if directory.join("Chart.yaml").is_file() {
        directory
    } else {
        return Err(UserError::failed(
            format!(
                "the charts directory {} has no chart for release {} (looked for {} and {})",
                dir.display(),
                rel.name,
                archive.display(),
                directory.display()
            ),
            format!(
                "fill it with `deployctl charts pull {}` (needs the chart repositories), or drop --charts-dir to install from the repositories",
                dir.display()
            ),
        )
        .into());
    };
    let chart = Chart::load(&path)?;
    if chart.version != rel.version {
        return Err(UserError::failed(
            format!(
                "chart {} is version {}, but helm-values/releases.yaml pins {} {} for release {}; nothing was installed",
                path.display(),
                chart.version,
                name,
                rel.version,
                rel.name
            ),
            format!(
                "replace it with the pinned version (`deployctl charts pull {}`), or change the pin in helm-values/releases.yaml",
                dir.display()
            ),
        )
        .into());
    }
    if chart.name != name {
        return Err(UserError::failed(
            format!(
                "{} holds chart `{}`, not `{name}` (release {})",
                path.display(),
                chart.name,
                rel.name
            ),
            "put the chart the release pins there",
        )
        .into());
    }
    Ok(LocalChart { path, chart })
}

/// `helm pull` arguments for one release: repo charts by `--repo URL` (no `helm repo add`
/// needed), OCI charts by reference.
pub fn pull_args(all: &Releases, rel: &Release, dest: &Path) -> Result<Vec<String>> {
    let mut args = vec!["pull".to_string()];
    if rel.chart.starts_with("oci://") {
        args.push(rel.chart.clone());
    } else {
        let alias = rel
            .repo
            .as_deref()
            .ok_or_else(|| anyhow!("release {} names no repo in releases.yaml", rel.name))?;
        let repo = all.repos.iter().find(|r| r.name == alias).ok_or_else(|| {
            anyhow!(
                "release {} uses repo `{alias}`, which releases.yaml does not list",
                rel.name
            )
        })?;
        args.push(chart_name(&rel.chart).to_string());
        args.push("--repo".into());
        args.push(repo.url.clone());
    }
    args.extend([
        "--version".to_string(),
        rel.version.clone(),
        "--destination".to_string(),
        dest.display().to_string(),
    ]);
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn release(chart: &str, version: &str) -> Release {
        Release {
            name: "redis".into(),
            namespace: "litellm".into(),
            chart: chart.into(),
            repo: Some("dandydev".into()),
            version: version.into(),
            timeout: "5m".into(),
            values: "redis.yaml".into(),
        }
    }

    fn write_chart(dir: &Path, name: &str, version: &str) {
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("values.yaml"), "a:\n  b: 1\n").unwrap();
        std::fs::write(dir.join("templates/x.yaml"), "x: {{ .Values.a.b }}\n").unwrap();
    }

    #[test]
    fn names_of_repo_and_oci_charts() {
        assert_eq!(chart_name("dandydev/redis-ha"), "redis-ha");
        assert_eq!(
            chart_name("oci://ghcr.io/berriai/litellm-helm"),
            "litellm-helm"
        );
    }

    #[test]
    fn a_directory_with_the_pinned_version_is_found() {
        let d = tempfile::tempdir().unwrap();
        write_chart(&d.path().join("redis-ha"), "redis-ha", "4.39.0");
        let found = find_local(d.path(), &release("dandydev/redis-ha", "4.39.0")).unwrap();
        assert_eq!(found.chart.version, "4.39.0");
        assert_eq!(found.chart.values["a"]["b"], 1);
        assert!(found.chart.templates.contains_key("templates/x.yaml"));
    }

    #[test]
    fn a_version_mismatch_names_both_versions() {
        let d = tempfile::tempdir().unwrap();
        write_chart(&d.path().join("redis-ha"), "redis-ha", "4.35.5");
        let err = find_local(d.path(), &release("dandydev/redis-ha", "4.39.0")).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("4.35.5") && text.contains("4.39.0"), "{text}");
        assert!(crate::error::help_of(&err).unwrap().contains("charts pull"));
    }

    #[test]
    fn a_missing_chart_says_how_to_fill_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let err = find_local(d.path(), &release("dandydev/redis-ha", "4.39.0")).unwrap_err();
        assert!(format!("{err:#}").contains("redis-ha-4.39.0.tgz"));
    }

    #[test]
    fn an_archive_as_helm_pull_writes_it_is_read() {
        let src = tempfile::tempdir().unwrap();
        write_chart(&src.path().join("redis-ha"), "redis-ha", "4.39.0");
        let out = tempfile::tempdir().unwrap();
        let tgz = out.path().join("redis-ha-4.39.0.tgz");
        {
            let f = std::fs::File::create(&tgz).unwrap();
            let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            let mut t = tar::Builder::new(gz);
            t.append_dir_all("redis-ha", src.path().join("redis-ha"))
                .unwrap();
            t.into_inner().unwrap().finish().unwrap().flush().unwrap();
        }
        let found = find_local(out.path(), &release("dandydev/redis-ha", "4.39.0")).unwrap();
        assert_eq!(found.path, tgz);
        assert_eq!(found.chart.name, "redis-ha");
        assert!(found.chart.templates.contains_key("templates/x.yaml"));
    }

    #[test]
    fn a_missing_subchart_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("kps");
        write_chart(&c, "kps", "1.0.0");
        std::fs::write(
            c.join("Chart.yaml"),
            "apiVersion: v2\nname: kps\nversion: 1.0.0\ndependencies:\n  - name: grafana\n    version: 1.0.0\n    condition: grafana.enabled\n  - name: crds\n    version: 0.0.0\n",
        )
        .unwrap();
        write_chart(&c.join("charts/crds"), "crds", "0.0.0");
        let chart = Chart::load(&c).unwrap();
        assert_eq!(chart.missing_dependencies(), ["grafana"]);
        assert!(chart.subcharts.contains_key("crds"));
    }

    #[test]
    fn pull_arguments_use_the_repo_url_or_the_oci_reference() {
        let all = Releases::parse(
            "repos:\n  - name: dandydev\n    url: https://dandydeveloper.github.io/charts\nreleases: []\n",
        )
        .unwrap();
        let a = pull_args(
            &all,
            &release("dandydev/redis-ha", "4.39.0"),
            Path::new("/c"),
        )
        .unwrap();
        assert_eq!(
            a,
            [
                "pull",
                "redis-ha",
                "--repo",
                "https://dandydeveloper.github.io/charts",
                "--version",
                "4.39.0",
                "--destination",
                "/c"
            ]
        );
        let mut oci = release("oci://ghcr.io/berriai/litellm-helm", "1.98.0");
        oci.repo = None;
        let a = pull_args(&all, &oci, Path::new("/c")).unwrap();
        assert_eq!(a[1], "oci://ghcr.io/berriai/litellm-helm");
    }
}
