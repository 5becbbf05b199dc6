//! `deployctl validate`: the manifests and values files offline, with no cluster and no helm;
//! a broken file is named with its line. (With the charts at hand it also renders them: see
//! `charts.rs`.)

use crate::support;

use super::manifests::manifest_files;
use support::{Sandbox, repo_root};

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn project_copy(sb: &Sandbox) -> std::path::PathBuf {
    let dir = sb.path().join("project");
    copy_tree(&repo_root().join("manifests"), &dir.join("manifests"));
    copy_tree(&repo_root().join("helm-values"), &dir.join("helm-values"));
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_passes_on_the_repository_offline() {
    // No kubeconfig, no helm: validate needs neither.
    let sb = Sandbox::bare();
    sb.without_helm();
    let run = sb.run(&["validate"]).await;
    run.assert_code(0);
    assert!(run.stdout.contains("valid"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_names_file_and_line_of_broken_yaml() {
    let mut sb = Sandbox::bare();
    let dir = project_copy(&sb);
    std::fs::write(
        dir.join("manifests/broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    )
    .unwrap();
    sb.set("DEPLOYCTL_DIR", dir.to_str().unwrap());
    let run = sb.run(&["validate"]).await;
    run.assert_code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("manifests/broken.yaml:"))
        .unwrap_or_else(|| panic!("no file:line in\n{}", run.stdout));
    let n: usize = line
        .split("manifests/broken.yaml:")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {line}"));
    assert!((9..=10).contains(&n), "line {n} in {line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_reports_a_manifest_without_a_name() {
    let mut sb = Sandbox::bare();
    let dir = project_copy(&sb);
    std::fs::write(
        dir.join("manifests/nameless.yaml"),
        "# a comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    a: b\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("manifests/badtype.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: lots\n",
    )
    .unwrap();
    std::fs::write(dir.join("helm-values/bad-values.yaml"), "- a\n- b\n").unwrap();
    sb.set("DEPLOYCTL_DIR", dir.to_str().unwrap());
    let run = sb.run(&["validate"]).await;
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("manifests/nameless.yaml:1: ConfigMap has no metadata.name"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("manifests/badtype.yaml:6:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("helm-values/bad-values.yaml:1: helm values must be a mapping"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deployctl_validate_passes_on_every_manifest_and_values_file() {
    let run = Sandbox::bare().run(&["validate"]).await;
    run.assert_code(0);
    let files = manifest_files().len()
        + std::fs::read_dir(repo_root().join("helm-values"))
            .unwrap()
            .count();
    assert!(
        run.all().contains(&format!("{files} files")),
        "validate did not check every file ({files}): {}",
        run.all()
    );
}
