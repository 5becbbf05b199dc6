//! `deployctl outdated`: every pin against its live source — a chart repository and an OCI
//! registry on 127.0.0.1 made by the real helm from the real charts (with versions newer than
//! the pins, and one repository down), EKS's calendar and add-ons and Bedrock's lifecycles
//! through the AWS stand-ins — as a table, as JSON, and by exit code.

use crate::support;

use serde_json::{Value, json};
use support::chart_sources::{ChartRepo, OciRegistry};
use support::charts::{charts_dir, project_with};
use support::eks_front::Addon;
use support::kube_server::FakeKube;
use support::moto::{Moto, seed_cluster_at};

fn pin(name: &str) -> String {
    support::scenario::releases()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap()
        .version
}

/// The project with every repository at `repo`, dandydev's (redis) at `redis_repo`, and
/// LiteLLM's chart at `oci`.
fn project(repo: &str, redis_repo: &str, oci: &str) -> tempfile::TempDir {
    project_with("helm-values/releases.yaml", |t| {
        let mut out = Vec::new();
        let mut in_dandydev = false;
        for line in t.lines() {
            if line.trim_start().starts_with("- name: ") {
                in_dandydev = line.contains("dandydev");
            }
            let l = if line.trim_start().starts_with("url: ") {
                let indent = &line[..line.find("url:").unwrap()];
                format!(
                    "{indent}url: {}",
                    if in_dandydev { redis_repo } else { repo }
                )
            } else {
                line.replace("oci://ghcr.io/berriai/litellm-helm", oci)
            };
            out.push(l);
        }
        out.join("\n") + "\n"
    })
}

/// The row of the table for `what` whose name (one of its first words) is `name`.
fn row<'a>(stdout: &'a str, what: &str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.first() == Some(&what) && words.iter().skip(1).take(3).any(|w| *w == name)
        })
        .unwrap_or_else(|| panic!("no {what} row for {name}:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_names_what_is_behind_what_is_current_and_what_could_not_be_read() {
    let (moto, _guard) = Moto::lock().await;
    // A cluster on the newest version the file knows (1.36), so that once EKS's calendar
    // does not answer, nothing is behind.
    let seeded = seed_cluster_at(&moto.sdk().await, support::CLUSTER, false, "1.36").await;
    let _ = seeded;
    let kube = FakeKube::start().await;
    let mut sb = support::Sandbox::new(&kube);
    sb.with_moto(moto);
    let charts = charts_dir();
    let jaeger = charts.path().join("jaeger");
    let gatekeeper = charts.path().join("gatekeeper");
    let litellm = charts.path().join("litellm-helm");
    let repo = ChartRepo::start(&[
        (&jaeger, &pin("jaeger"), "2.19.0"),
        (&jaeger, "4.12.0", "2.20.0"),
        // A pre-release is not "newer".
        (&jaeger, "4.13.0-rc.1", "2.21.0"),
        (&gatekeeper, &pin("gatekeeper"), "3.21.0"),
    ]);
    let registry = OciRegistry::start(
        "berriai/litellm-helm",
        &[
            (&litellm, &pin("litellm"), "v1.98.0"),
            (&litellm, "1.99.0", "v1.99.0"),
        ],
    );
    let stale = project(&repo.url, "http://127.0.0.1:9", &registry.reference);
    sb.set("DEPLOYCTL_DIR", stale.path().to_str().unwrap());
    let eks = sb.eks.as_ref().unwrap();
    eks.set_calendar(&[
        ("1.33", "EXTENDED_SUPPORT", "2026-07-29", "2027-07-29"),
        ("1.34", "EXTENDED_SUPPORT", "2026-12-02", "2027-12-02"),
        ("1.35", "STANDARD_SUPPORT", "2027-03-27", "2028-03-27"),
        ("1.36", "STANDARD_SUPPORT", "2027-08-02", "2028-08-02"),
        ("1.37", "STANDARD_SUPPORT", "2027-12-01", "2028-12-01"),
    ]);
    let v = |s: &str, compat: &[(&str, bool)]| {
        (
            s.to_string(),
            compat
                .iter()
                .map(|(c, d)| (c.to_string(), *d))
                .collect::<Vec<_>>(),
        )
    };
    eks.set_addons(vec![
        Addon {
            name: "vpc-cni".into(),
            installed: "v1.19.2-eksbuild.1".into(),
            versions: vec![
                v("v1.19.2-eksbuild.1", &[("1.36", false)]),
                v("v1.20.4-eksbuild.2", &[("1.36", true)]),
            ],
        },
        Addon {
            name: "coredns".into(),
            installed: "v1.12.4-eksbuild.1".into(),
            versions: vec![v("v1.12.4-eksbuild.1", &[("1.36", true)])],
        },
    ]);
    let models = deployctl::stack::bedrock::load(&support::repo_root()).unwrap();
    let legacy = &models[0];
    sb.bedrock
        .as_ref()
        .unwrap()
        .set_lifecycle(&legacy.base, "LEGACY");

    let run = sb.run(&["outdated"]).await;
    run.assert_code(1);
    crate::screens::assert_screen("outdated", &run.stdout);
    let out = &run.stdout;
    // Releases: behind, current, unreadable — from the real helm reading the sources.
    let j = row(out, "release", "jaeger");
    assert!(
        j.starts_with("release !")
            && j.contains(&format!("{}  ", pin("jaeger")))
            && j.contains("4.12.0"),
        "{j}"
    );
    assert!(!out.contains("4.13.0-rc.1"), "{out}");
    let g = row(out, "release", "gatekeeper");
    assert!(!g.contains('!') && g.contains("newest in"), "{g}");
    let l = row(out, "release", "litellm");
    assert!(
        l.starts_with("release !") && l.contains("1.99.0") && l.contains("v1.99.0"),
        "{l}"
    );
    let r = row(out, "release", "redis");
    assert!(r.contains("could not read: http://127.0.0.1:9"), "{r}");
    assert!(run.stderr.contains("could not be read"), "{}", run.stderr);
    // The cluster: its version from EKS, in standard support; 1.37 is newer.
    let k = row(out, "kubernetes", support::CLUSTER);
    assert!(
        k.starts_with("kubernetes !")
            && k.contains("1.36")
            && k.contains("1.37")
            && k.contains("STANDARD_SUPPORT (standard support until 2027-08-02"),
        "{k}"
    );
    // The calendar EKS answers against the file: 1.37 is missing from it (1.33–1.36 agree).
    let c = row(out, "calendar", "1.37");
    assert!(
        c.contains("(missing)") && c.contains("2027-12-01 / 2028-12-01"),
        "{c}"
    );
    assert!(!out.contains("Kubernetes 1.35 "), "{out}");
    assert!(!out.contains("Kubernetes 1.36 "), "{out}");
    // Add-ons against EKS's default for 1.36.
    let a = row(out, "add-on", "vpc-cni");
    assert!(
        a.starts_with("add-on !") && a.contains("v1.20.4-eksbuild.2"),
        "{a}"
    );
    let d = row(out, "add-on", "coredns");
    assert!(!d.contains('!'), "{d}");
    // Models: the LEGACY one is named.
    let m = row(out, "model", &legacy.id);
    assert!(m.starts_with("model !") && m.contains("LEGACY"), "{m}");
    assert!(
        run.stderr
            .contains("pins and facts are behind their sources"),
        "{}",
        run.stderr
    );
    // Read only: helm read the sources and the cluster's records, nothing was installed or
    // pulled into the project.
    assert!(
        sb.helm_calls()
            .iter()
            .all(|c| c[0] == "show" || c[0] == "version" || (c[0] == "get" && c[1] == "metadata")),
        "{:?}",
        sb.helm_calls()
    );
    assert!(
        registry
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.ends_with("/tags/list"))
    );

    // The same as JSON: one `outdated` event per row, then the summary (exit 1).
    let run = sb.run(&["outdated", "--output", "json"]).await;
    run.assert_code(1);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let rows: Vec<&Value> = events.iter().filter(|e| e["event"] == "outdated").collect();
    let jaeger_row = rows.iter().find(|r| r["name"] == "jaeger").unwrap();
    assert_eq!(jaeger_row["behind"], true);
    assert_eq!(jaeger_row["latest"], "4.12.0");
    let redis_row = rows.iter().find(|r| r["name"] == "redis").unwrap();
    assert_eq!(redis_row["unread"], true);
    assert_eq!(events.last().unwrap()["exit_code"], 1);

    // Everything current (the sources offer the pins; EKS's defaults installed; models
    // ACTIVE), and EKS's calendar not answering: exit 0, the file used and said so.
    let repo = ChartRepo::start(&[(&jaeger, &pin("jaeger"), "2.19.0")]);
    let registry = OciRegistry::start(
        "berriai/litellm-helm",
        &[(&litellm, &pin("litellm"), "v1.98.0")],
    );
    let current = project(&repo.url, &repo.url, &registry.reference);
    sb.set("DEPLOYCTL_DIR", current.path().to_str().unwrap());
    sb.bedrock
        .as_ref()
        .unwrap()
        .set_lifecycle(&legacy.base, "ACTIVE");
    let eks = sb.eks.as_ref().unwrap();
    eks.set_addons(vec![Addon {
        name: "coredns".into(),
        installed: "v1.12.4-eksbuild.1".into(),
        versions: vec![v("v1.12.4-eksbuild.1", &[("1.36", true)])],
    }]);
    eks.clear_calendar();
    let run = sb.run(&["outdated"]).await;
    let k = row(&run.stdout, "kubernetes", support::CLUSTER);
    assert!(
        k.contains("from terraform/eks-versions.json: EKS's calendar could not be read"),
        "{k}"
    );
    assert!(!k.starts_with("kubernetes !"), "{k}");
    run.assert_code(0);
    assert!(
        run.stdout.contains("Everything is current."),
        "{}",
        run.stdout
    );
    let j = row(&run.stdout, "release", "jaeger");
    assert!(j.contains("not installed"), "{j}");

    // What the cluster runs: helm's records on it, written by the real helm. Jaeger at its
    // pin is current; taken back to an older chart, it is behind, with the commands to take
    // the pin again.
    let ns_of = |name: &str| {
        support::scenario::releases()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap()
            .namespace
    };
    kube.insert(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_of("jaeger")}}),
    );
    let install_repo = ChartRepo::start(&[
        (&jaeger, &pin("jaeger"), "2.19.0"),
        (&jaeger, "4.10.0", "2.18.0"),
    ]);
    let install = |version: &str| {
        let out = sb
            .helm_command(&[
                "upgrade",
                "--install",
                "jaeger",
                "jaeger",
                "--repo",
                &install_repo.url,
                "--version",
                version,
                "-n",
                &ns_of("jaeger"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    install(&pin("jaeger"));
    let run = sb.run(&["outdated"]).await;
    let j = row(&run.stdout, "release", "jaeger");
    assert!(!j.contains('!') && !j.contains("not installed"), "{j}");
    run.assert_code(0);
    install("4.10.0");
    // Flux manages LiteLLM, and its upgrade failed: the row carries the engine's message.
    kube.install_crds(&[
        support::repo_root().join("../shared/crds/flux/helm.toolkit.fluxcd.io_helmreleases.yaml")
    ]);
    let failed = "Helm upgrade failed for release litellm/litellm with chart litellm-helm@1.99.0: context deadline exceeded";
    kube.insert(json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "litellm", "namespace": "flux-system"},
        "spec": {"releaseName": "litellm", "targetNamespace": ns_of("litellm"), "interval": "30m",
                 "chartRef": {"kind": "OCIRepository", "name": "litellm"}},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "UpgradeFailed",
                                    "message": failed, "lastTransitionTime": "2026-12-07T00:00:00Z"}],
                   "history": [{"chartVersion": pin("litellm"), "chartName": "litellm-helm"}]}}));
    kube.clear_log();
    let run = sb.run(&["outdated"]).await;
    run.assert_code(1);
    let out = &run.stdout;
    let j = row(out, "release", "jaeger");
    assert!(
        j.starts_with("release !")
            && j.contains("the cluster runs 4.10.0")
            && j.contains("`deployctl diff jaeger`, then `deployctl jaeger`"),
        "{j}"
    );
    let l = row(out, "release", "litellm");
    assert!(
        l.starts_with("release !")
            && l.contains(&format!(
                "Flux HelmRelease flux-system/litellm is not Ready (UpgradeFailed): {failed}"
            )),
        "{l}"
    );
    assert!(kube.writes().is_empty(), "outdated wrote to the cluster");
    let run = sb.run(&["outdated", "--output", "json"]).await;
    run.assert_code(1);
    support::assert_events_valid(&run.stdout, &["outdated", "--output", "json"]);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let event = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == "outdated" && e["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(event("jaeger")["installed"], "4.10.0");
    assert_eq!(event("jaeger")["behind"], true);
    assert_eq!(event("redis")["installed"], "");
    assert_eq!(event("redis")["engine"], Value::Null);
    assert!(
        event("litellm")["engine"]
            .as_str()
            .is_some_and(|e| e.contains(failed)),
        "{:?}",
        event("litellm")
    );

    // Argo CD manages Redis, synced and healthy, but on another chart version than the pin
    // (the repository it reads was not re-exported): behind, saying what the engine applied.
    kube.install_crds(&[support::repo_root().join("../shared/crds/argo-cd/application-crd.yaml")]);
    kube.insert(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": format!("{}-redis", support::CLUSTER), "namespace": "argocd"},
        "spec": {"project": format!("{}-stack", support::CLUSTER),
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns_of("redis")},
                 "sources": [{"repoURL": "https://dandydeveloper.github.io/charts", "chart": "redis-ha",
                              "targetRevision": "4.30.0", "helm": {"releaseName": "redis"}},
                             {"repoURL": "https://git.example.com/gitops.git", "targetRevision": "HEAD", "ref": "values"}]},
        "status": {"sync": {"status": "Synced", "revisions": ["4.30.0", "0123abc"]},
                   "health": {"status": "Healthy"}}}));
    let run = sb.run(&["outdated"]).await;
    run.assert_code(1);
    let r = row(&run.stdout, "release", "redis");
    assert!(
        r.starts_with("release !")
            && r.contains(&format!(
                "Argo CD Application {}-redis applied 4.30.0, not the pin",
                support::CLUSTER
            )),
        "{r}"
    );

    // No cluster to read: said once; the pins are still compared with their sources.
    sb.set(
        "KUBECONFIG",
        sb.path().join("no-such-kubeconfig").to_str().unwrap(),
    );
    let run = sb.run(&["outdated"]).await;
    assert!(
        run.stderr.contains("the cluster was not read")
            && run
                .stderr
                .contains("what it runs is not compared with the pins"),
        "{}",
        run.stderr
    );
    let j = row(&run.stdout, "release", "jaeger");
    assert!(!j.contains("the cluster runs") && !j.contains('!'), "{j}");
    run.assert_code(0);
}
