//! The real charts for tests: the real helm binary, and a charts directory copied from the
//! chart sources (`../shared/charts`, else the cache `deployctl charts pull` fills once).

use super::{Run, Sandbox, repo_root};
use std::path::{Path, PathBuf};

/// Where the real helm is expected (it may be missing: `real_helm` says so).
pub fn real_helm_path() -> PathBuf {
    std::env::var_os("DEPLOYCTL_TEST_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/bin/helm"))
}

/// The real helm (v4.1.4), installed by scripts/install-helm.sh into .tools/bin.
pub fn real_helm() -> PathBuf {
    let p = real_helm_path();
    assert!(
        p.is_file(),
        "the real helm is not installed at {}: run scripts/install-helm.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Where the chart sources come from: DEPLOYCTL_TEST_CHARTS, ../shared/charts, or the cache.
pub fn corpus() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEPLOYCTL_TEST_CHARTS") {
        return PathBuf::from(dir);
    }
    let shared = repo_root().join("../shared/charts");
    if shared.is_dir() {
        return shared;
    }
    let cache = repo_root().join(".tools/charts-cache");
    if cache.is_dir() && std::fs::read_dir(&cache).is_ok_and(|mut d| d.next().is_some()) {
        return cache;
    }
    panic!(
        "no chart sources: neither {} nor {} exists. Fill the cache once (network needed): \
         `cargo run -- charts pull .tools/charts-cache`",
        shared.display(),
        cache.display()
    )
}

/// A charts directory for one test.
pub struct ChartsDir {
    pub dir: tempfile::TempDir,
    /// What the copy lacks that the real chart has (printed, and the problems it explains
    /// are the only ones a test may set aside).
    pub degraded: Vec<String>,
}

impl ChartsDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn pin(release: &str) -> String {
    deployctl::stack::releases::Releases::load(&repo_root())
        .unwrap()
        .releases
        .into_iter()
        .find(|r| r.name == release)
        .unwrap()
        .version
}

/// A copy of the chart sources as a charts directory. Changes to the copy, each said here:
/// - litellm-helm: its Chart.yaml carries the repository's placeholder version (the chart is
///   assembled from stored files; ../shared/charts/PROVENANCE.md); the copy gets the pinned
///   version so the pin check passes. Its templates are the ones of that period.
/// - kube-prometheus-stack: when the sources lack its subcharts (grafana, kube-state-metrics,
///   node exporters), helm cannot render it at all; the copy drops the missing dependencies
///   and turns their switches off in the chart's own values.yaml, so the rest of the chart is
///   still rendered and checked. `degraded` lists what was dropped.
pub fn charts_dir() -> ChartsDir {
    let src = corpus();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, dir.path());
    let mut degraded = Vec::new();
    let litellm = dir.path().join("litellm-helm/Chart.yaml");
    if litellm.is_file() {
        let text = std::fs::read_to_string(&litellm).unwrap();
        let pinned = pin("litellm");
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("version:") {
                    format!("version: {pinned}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&litellm, text + "\n").unwrap();
    }
    let kps = dir.path().join("kube-prometheus-stack");
    if kps.join("Chart.yaml").is_file() {
        let chart = deployctl::stack::charts::Chart::load(&kps).unwrap();
        let missing = chart.missing_dependencies();
        if !missing.is_empty() {
            degrade(&kps, &chart, &missing);
            degraded.extend(
                missing
                    .iter()
                    .map(|m| format!("kube-prometheus-stack/charts/{m}")),
            );
            eprintln!(
                "NOTE: the chart sources lack {} — kube-prometheus-stack is rendered without them, \
                 and only the problems they explain are set aside",
                degraded.join(", ")
            );
        }
    }
    ChartsDir { dir, degraded }
}

/// Drop `missing` from Chart.yaml's dependencies and set their conditions false.
fn degrade(chart_dir: &Path, chart: &deployctl::stack::charts::Chart, missing: &[String]) {
    let path = chart_dir.join("Chart.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if let Some(name) = line.trim_start().strip_prefix("- name:") {
            skipping = missing.iter().any(|m| m == name.trim().trim_matches('"'));
        } else if !line.starts_with("  ") && !line.starts_with('-') {
            skipping = false;
        }
        if !skipping {
            out.push(line);
        }
    }
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
    let values_path = chart_dir.join("values.yaml");
    let mut values = std::fs::read_to_string(&values_path).unwrap();
    for (name, cond) in &chart.dependencies {
        if !missing.contains(name) {
            continue;
        }
        let Some((top, leaf)) = cond.as_deref().and_then(|c| c.split_once('.')) else {
            continue;
        };
        assert_eq!(leaf, "enabled", "unexpected condition {cond:?}");
        // `top:` at column 0, then its own `  enabled:` line (before the next top-level key).
        let start = values
            .find(&format!("\n{top}:\n"))
            .unwrap_or_else(|| panic!("{top}: not in kube-prometheus-stack's values.yaml"))
            + 1;
        let body = start + top.len() + 2;
        let section_end = values[body..]
            .find(|c: char| c != '\n')
            .map(|_| {
                values[body..]
                    .match_indices('\n')
                    .map(|(i, _)| body + i + 1)
                    .find(|&i| values[i..].starts_with(|c: char| c.is_ascii_alphabetic()))
                    .unwrap_or(values.len())
            })
            .unwrap_or(values.len());
        let rel = values[start..section_end]
            .find("\n  enabled: ")
            .unwrap_or_else(|| panic!("{top}.enabled not found in its section"));
        let at = start + rel + "\n  enabled: ".len();
        let end = at + values[at..].find('\n').unwrap_or(values.len() - at);
        values.replace_range(at..end, "false");
    }
    std::fs::write(&values_path, values).unwrap();
}

/// Set the status of a release's latest record in the cluster, as a failed or interrupted
/// helm operation leaves it: helm keeps each revision in a Secret
/// `sh.helm.release.v1.<name>.v<N>` (labels owner=helm, name, status, version) whose
/// `release` key holds base64(gzip(JSON)) with `info.status`.
pub fn set_release_status(
    kube: &super::kube_server::FakeKube,
    namespace: &str,
    name: &str,
    status: &str,
) {
    edit_release_record(kube, namespace, name, |release| {
        release["info"]["status"] = status.into();
    });
}

/// Move the start of the latest record's operation (`info.last_deployed`) `secs` seconds
/// into the past: a helm that was killed that long ago.
pub fn backdate_release(
    kube: &super::kube_server::FakeKube,
    namespace: &str,
    name: &str,
    secs: i64,
) {
    let then = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    edit_release_record(kube, namespace, name, |release| {
        release["info"]["last_deployed"] = then.to_string().into();
    });
}

/// Change the JSON of a release's latest record in the cluster (the status label follows
/// `info.status`).
pub fn edit_release_record(
    kube: &super::kube_server::FakeKube,
    namespace: &str,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    use std::io::{Read, Write};
    let latest = kube
        .list("v1", "Secret")
        .into_iter()
        .filter(|s| {
            s["metadata"]["namespace"] == namespace
                && s["metadata"]["labels"]["owner"] == "helm"
                && s["metadata"]["labels"]["name"] == name
        })
        .max_by_key(|s| {
            s["metadata"]["labels"]["version"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .unwrap_or_else(|| panic!("no helm release record for {namespace}/{name}"));
    let outer =
        deployctl::platform::encoding::decode(latest["data"]["release"].as_str().unwrap()).unwrap();
    let gz = deployctl::platform::encoding::decode(std::str::from_utf8(&outer).unwrap()).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .unwrap();
    let mut release: serde_json::Value = serde_json::from_str(&json).unwrap();
    edit(&mut release);
    let status = release["info"]["status"].clone();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(release.to_string().as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let inner = deployctl::platform::encoding::base64(&gz);
    let mut secret = latest.clone();
    secret["data"]["release"] = deployctl::platform::encoding::base64(inner.as_bytes()).into();
    secret["metadata"]["labels"]["status"] = status;
    kube.insert(secret);
}

/// One object of `deployctl charts render` output: its release and the object.
pub struct RenderedObject {
    pub release: String,
    pub value: serde_json::Value,
}

/// Split `deployctl charts render` stdout (`# release NAME (namespace NS) from …` headers,
/// then helm's YAML) into objects; helm test hooks are kept (callers decide).
pub fn parse_rendered(stdout: &str) -> Vec<RenderedObject> {
    let mut out = Vec::new();
    let mut release = String::new();
    let mut chunk = String::new();
    let flush = |release: &str, chunk: &str, out: &mut Vec<RenderedObject>| {
        if chunk.trim().is_empty() {
            return;
        }
        for d in deployctl::stack::manifest::parse_documents(Path::new(release), chunk).unwrap() {
            if d.value.is_object() {
                out.push(RenderedObject {
                    release: release.to_string(),
                    value: d.value,
                });
            }
        }
    };
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("# release ") {
            flush(&release, &chunk, &mut out);
            chunk.clear();
            release = rest.split_whitespace().next().unwrap().to_string();
        } else {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    flush(&release, &chunk, &mut out);
    out
}

/// A copy of the project (values, manifests, IAM policies, the bastion template) with one
/// file changed by `edit` (which must change it).
pub fn project_with(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for sub in ["helm-values", "manifests", "iam"] {
        copy_dir(&repo_root().join(sub), &d.path().join(sub));
    }
    std::fs::copy(
        repo_root().join("access.yaml"),
        d.path().join("access.yaml"),
    )
    .unwrap();
    let tf = d.path().join("terraform/modules/bastion");
    std::fs::create_dir_all(&tf).unwrap();
    std::fs::copy(
        repo_root().join("terraform/modules/bastion/user-data.sh.tmpl"),
        tf.join("user-data.sh.tmpl"),
    )
    .unwrap();
    let p = d.path().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    let changed = edit(text.clone());
    assert_ne!(text, changed, "the edit changed nothing in {file}");
    std::fs::write(&p, changed).unwrap();
    d
}

/// `deployctl charts render` of `project` with the real helm, offline.
pub async fn render_project(charts: &ChartsDir, project: &Path) -> Run {
    let mut sb = Sandbox::bare();
    sb.with_real_helm();
    sb.set("DEPLOYCTL_DIR", project.to_str().unwrap());
    sb.run(&[
        "charts",
        "render",
        "--charts-dir",
        charts.path().to_str().unwrap(),
    ])
    .await
}

/// The `name` of the chart in `dir` (its Chart.yaml).
pub fn chart_name_of(dir: &Path) -> String {
    deployctl::stack::charts::Chart::load(dir)
        .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()))
        .name
}
