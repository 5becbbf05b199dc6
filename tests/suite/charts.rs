//! The stack against the real charts: the real helm (v4.1.4) renders every release from the
//! charts' own sources (../shared/charts, copied into a charts directory per test) with our
//! values file and the overlay deployctl generates. On that output: `deployctl charts
//! render` / `validate` report no unknown values key and consistent wiring, the built-in
//! objects pass kubernetes-validate, and a broken values file is caught with its line.

use crate::support;

use deployctl::stack::manifest::parse_documents;
use serde_json::Value;
use std::path::Path;
use support::charts::{ChartsDir, charts_dir, project_with, render_project};
use support::{Run, Sandbox, repo_root};

/// `deployctl <args> --charts-dir <dir>` with the real helm, offline (no repository).
async fn with_real_helm(charts: &ChartsDir, args: &[&str]) -> Run {
    let sb = Sandbox::bare();
    sb.with_real_helm();
    let mut full: Vec<&str> = args.to_vec();
    let dir = charts.path().to_str().unwrap();
    full.extend(["--charts-dir", dir]);
    sb.run(&full).await
}

/// The problem lines of a failed render/validate (indented under the error, on stderr;
/// validate's step report lists them on stdout with the same indentation, but render's
/// stdout is YAML, so only validate's stdout is read).
fn problems(run: &Run, validate: bool) -> Vec<String> {
    let stdout = if validate { run.stdout.as_str() } else { "" };
    run.stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.starts_with("  ") && (l.contains(':') || l.contains("release")))
        .filter(|l| !l.contains("problem(s) in"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Problems that only the missing subcharts of a degraded copy explain (each names Grafana:
/// its Service, its pods, or a `grafana.` values key the parent chart does not list).
fn explained_by_degradation(charts: &ChartsDir, problem: &str) -> bool {
    !charts.degraded.is_empty()
        && charts.degraded.iter().any(|d| d.ends_with("/grafana"))
        && (problem.contains("kube-prometheus-grafana")
            || problem.contains("app.kubernetes.io/name=grafana")
            || problem.contains("unknown key `grafana."))
}

fn assert_clean(charts: &ChartsDir, run: &Run, validate: bool) {
    if run.code == 0 {
        return;
    }
    let (set_aside, real): (Vec<String>, Vec<String>) = problems(run, validate)
        .into_iter()
        .partition(|p| explained_by_degradation(charts, p));
    for p in &set_aside {
        eprintln!("NOTE set aside (missing subchart): {p}");
    }
    assert!(
        real.is_empty(),
        "problems in the rendered stack:\n{}\n--- full output ---\n{}",
        real.join("\n"),
        run.all()
    );
    if charts.degraded.is_empty() {
        run.assert_code(0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_release_renders_with_no_unknown_key_and_consistent_wiring() {
    let charts = charts_dir();
    let run = with_real_helm(&charts, &["charts", "render"]).await;
    assert_clean(&charts, &run, false);
    // Every release was rendered by the real helm from the charts directory.
    let releases = deployctl::stack::releases::Releases::load(&repo_root()).unwrap();
    for r in &releases.releases {
        assert!(
            run.stdout
                .contains(&format!("# release {} (namespace {})", r.name, r.namespace)),
            "release {} missing from the output",
            r.name
        );
    }
    let docs = parse_documents(Path::new("rendered"), &run.stdout).unwrap();
    let kinds = |k: &str| docs.iter().filter(|d| d.kind() == k).count();
    assert!(kinds("Deployment") >= 6, "{}", kinds("Deployment"));
    assert!(kinds("StatefulSet") >= 1);
    assert!(kinds("PodDisruptionBudget") >= 1);
    assert!(kinds("CustomResourceDefinition") >= 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_renders_the_charts_when_they_are_at_hand() {
    let charts = charts_dir();
    let run = with_real_helm(&charts, &["validate"]).await;
    assert_clean(&charts, &run, true);
    if charts.degraded.is_empty() {
        assert!(
            run.all().contains("8 releases rendered from"),
            "{}",
            run.all()
        );
    }
    // Without charts at hand, validate says what it did not check (and passes).
    let sb = Sandbox::bare();
    let run = sb.run(&["validate"]).await;
    run.assert_code(0);
    assert!(run.all().contains("charts not rendered"), "{}", run.all());
}

/// The rendered objects the stack installs (helm test hooks excluded).
async fn rendered(charts: &ChartsDir) -> Vec<(String, Value)> {
    let run = with_real_helm(charts, &["charts", "render"]).await;
    let out: Vec<(String, Value)> = support::charts::parse_rendered(&run.stdout)
        .into_iter()
        .map(|o| (o.release, o.value))
        .collect();
    assert!(!out.is_empty(), "nothing rendered: {}", run.all());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rendered_built_in_objects_pass_kubernetes_validate() {
    let charts = charts_dir();
    let objects = rendered(&charts).await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut by_release: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for (rel, v) in &objects {
        if support::is_builtin_api(v["apiVersion"].as_str().unwrap_or("")) {
            by_release.entry(rel.clone()).or_default().push(v);
        }
    }
    assert!(by_release.len() >= 6, "{:?}", by_release.keys());
    for (rel, docs) in &by_release {
        let path = dir.path().join(format!("{rel}.yaml"));
        let text: Vec<String> = docs
            .iter()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect();
        std::fs::write(&path, text.join("\n---\n")).unwrap();
        files.push(path);
    }
    support::kubernetes_validate(&files);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_misspelt_values_key_is_reported_with_file_line_and_key() {
    let charts = charts_dir();
    let project = project_with("helm-values/redis.yaml", |t| {
        t.replace("hardAntiAffinity: false", "hardAntiAfinity: false")
    });
    let run = render_project(&charts, project.path()).await;
    run.assert_code(1);
    let line = std::fs::read_to_string(project.path().join("helm-values/redis.yaml"))
        .unwrap()
        .lines()
        .position(|l| l.starts_with("hardAntiAfinity"))
        .unwrap()
        + 1;
    assert!(
        run.stderr.contains(&format!(
            "helm-values/redis.yaml:{line}: unknown key `hardAntiAfinity`"
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chart_at_another_version_than_the_pin_is_refused_naming_both() {
    let charts = charts_dir();
    let chart_yaml = charts.path().join("redis-ha/Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).unwrap();
    std::fs::write(
        &chart_yaml,
        text.replace("version: 4.39.0", "version: 4.35.5"),
    )
    .unwrap();
    let run = with_real_helm(&charts, &["charts", "render", "redis"]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("is version 4.35.5") && run.stderr.contains("pins redis-ha 4.39.0"),
        "{}",
        run.stderr
    );
}

/// A chart repository on 127.0.0.1 serving `dir` (index.yaml and the archives).
async fn serve(dir: std::path::PathBuf) -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::{StatusCode, Uri};
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let dir = dir.clone();
        async move {
            let path = dir.join(uri.path().trim_start_matches('/'));
            match std::fs::read(&path) {
                Ok(bytes) => (StatusCode::OK, bytes),
                Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_pull_fetches_every_pinned_chart_and_names_the_one_it_cannot() {
    let helm = support::charts::real_helm();
    let charts = charts_dir();
    // A chart repository made by the real helm from the chart sources: `helm package` of
    // every repository chart (not kube-prometheus-stack when its subcharts are missing:
    // helm refuses to package it), then `helm repo index`.
    let repo_dir = tempfile::tempdir().unwrap();
    let releases = deployctl::stack::releases::Releases::load(&repo_root()).unwrap();
    let mut packaged = Vec::new();
    for rel in releases
        .releases
        .iter()
        .filter(|r| !r.chart.starts_with("oci://"))
    {
        let name = deployctl::stack::charts::chart_name(&rel.chart);
        if name == "kube-prometheus-stack" && !charts.degraded.is_empty() {
            continue;
        }
        let out = std::process::Command::new(&helm)
            .args(["package"])
            .arg(charts.path().join(name))
            .arg("--destination")
            .arg(repo_dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        packaged.push(rel.clone());
    }
    let (url, _server) = serve(repo_dir.path().to_path_buf()).await;
    let out = std::process::Command::new(&helm)
        .args(["repo", "index"])
        .arg(repo_dir.path())
        .args(["--url", &url])
        .output()
        .unwrap();
    assert!(out.status.success());
    // A project whose repositories all point at it.
    // (LiteLLM's OCI registry is made a closed local port: refused at once, offline.)
    let project = project_with("helm-values/releases.yaml", |t| {
        t.lines()
            .map(|l| match l.trim_start().strip_prefix("url: ") {
                Some(_) => format!("    url: {url}"),
                None => l.replace("oci://ghcr.io/", "oci://127.0.0.1:9/"),
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    let dest = tempfile::tempdir().unwrap();
    let mut sb = Sandbox::bare();
    sb.with_real_helm();
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    let run = sb
        .run(&["charts", "pull", dest.path().to_str().unwrap()])
        .await;
    // LiteLLM's chart could not be pulled: named, exit 1, the others still pulled.
    run.assert_code(1);
    assert!(run.stderr.contains("litellm:"), "{}", run.all());
    for rel in &packaged {
        let file = dest.path().join(format!(
            "{}-{}.tgz",
            deployctl::stack::charts::chart_name(&rel.chart),
            rel.version
        ));
        assert!(
            file.is_file(),
            "{} not pulled: {}",
            file.display(),
            run.all()
        );
        // What was pulled passes the pin check.
        deployctl::stack::charts::find_local(dest.path(), rel).unwrap();
    }
    // Pulling again keeps what is there.
    let again = sb
        .run(&["charts", "pull", dest.path().to_str().unwrap()])
        .await;
    assert!(
        again.stdout.contains("kept   redis-ha 4.39.0"),
        "{}",
        again.all()
    );
}
