//! `deployctl export`: the cluster side for Flux and for Argo CD, checked against the engines'
//! own CRD schemas (../shared/crds: helm-controller v1.6.3, source-controller v1.9.1,
//! kustomize-controller v1.9.4, Argo CD v3.5.1), against the step graph, against what the real
//! helm renders for deployctl's own install, and for stability and secrets.

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::charts::project_with;
use support::kube_server::FakeKube;
use support::moto::{Moto, seed_cluster};
use support::{CLUSTER, Sandbox};

/// Every file below `dir`, by its path relative to `dir`, with its text.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn docs(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The real CRD schemas, strictly (unknown fields are errors).
fn assert_valid_against(crds: &[&str], dir: &Path) {
    let shared = support::repo_root().join("../shared/crds");
    let files: Vec<PathBuf> = tree(dir)
        .keys()
        .filter(|k| k.ends_with(".yaml"))
        .map(|k| dir.join(k))
        .collect();
    let out = std::process::Command::new(support::python())
        .arg(support::repo_root().join("tests/support/validate_crs.py"))
        .args(crds.iter().map(|c| shared.join(c)))
        .arg("--")
        .args(&files)
        .output()
        .expect("run validate_crs.py (scripts/test.sh installs its packages)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the export does not validate against {crds:?}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: usize = text
        .rsplit("checked ")
        .next()
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 10, "too few custom resources checked: {text}");
}

/// Every Flux or Argo CD object of the export, applied with `fieldValidation=Strict` to the
/// fake API server with the engine's real CRDs installed (their structural schemas, defaults
/// and CEL rules enforced as a real API server enforces them): each one accepted.
async fn assert_applies_strictly(engine: &str, dir: &Path) {
    let kube = FakeKube::start().await;
    let crds: Vec<PathBuf> =
        std::fs::read_dir(support::repo_root().join("../shared/crds").join(engine))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
    kube.install_crds(&crds);
    let mut applied = 0;
    for (file, text) in tree(dir).iter().filter(|(k, _)| k.ends_with(".yaml")) {
        for doc in docs(text) {
            let api_version = doc["apiVersion"].as_str().unwrap_or_default();
            if !(api_version.contains("fluxcd.io/") || api_version.contains("argoproj.io/")) {
                continue;
            }
            if let Some(ns) = doc["metadata"]["namespace"].as_str()
                && kube.get("v1", "Namespace", None, ns).is_none()
            {
                kube.insert(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
            }
            if let Err((code, message)) = kube.apply_strict(&doc).await {
                panic!(
                    "{file}: {} {} refused by the API server ({code}): {message}",
                    doc["kind"], doc["metadata"]["name"]
                );
            }
            applied += 1;
        }
    }
    assert!(applied >= 10, "too few {engine} objects applied: {applied}");
}

/// A sandbox on moto with the account's roles and secrets made (so a leak would have
/// something to leak).
async fn account(moto: &Moto) -> Sandbox {
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, CLUSTER, true).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.set(
        "DATABASE_URL",
        "postgresql://litellm:s3cr3t-db-pass@db.internal.example:5432/litellm",
    );
    sb.run(&["irsa"]).await.assert_code(0);
    sb.run(&["secrets"]).await.assert_code(0);
    sb
}

/// Every secret value in moto's Secrets Manager.
async fn secret_values(moto: &Moto) -> Vec<String> {
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    let mut out = Vec::new();
    for s in sm.list_secrets().send().await.unwrap().secret_list() {
        let v = sm
            .get_secret_value()
            .secret_id(s.arn().unwrap())
            .send()
            .await
            .unwrap();
        out.push(v.secret_string().unwrap_or_default().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flux_export_follows_the_step_graph_validates_against_flux_and_is_stable() {
    let (moto, _guard) = Moto::lock().await;
    let sb = account(moto).await;
    let dir = sb.path().join("gitops");
    let run = sb
        .run(&["export", "--format", "flux", dir.to_str().unwrap()])
        .await;
    run.assert_code(0);
    assert!(run.stdout.contains("for Flux"), "{}", run.all());
    let first = tree(&dir);

    // Flux's own schemas, strictly: by JSON Schema, and applied to an API server that holds
    // custom resources to their CRDs.
    assert_valid_against(&["flux"], &dir);
    assert_applies_strictly("flux", &dir).await;

    // The order is the step graph's: each step's Kustomization waits for exactly the steps
    // of the cluster side it needs (and a release for its sources).
    let ks = docs(&first[&format!("clusters/{CLUSTER}/deployctl.yaml")]);
    let by_name: BTreeMap<String, Vec<String>> = ks
        .iter()
        .map(|k| {
            let deps = k["spec"]["dependsOn"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|d| d["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (k["metadata"]["name"].as_str().unwrap().to_string(), deps)
        })
        .collect();
    let cluster_side: Vec<&deployctl::graph::StepDef> = deployctl::graph::STEPS
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                deployctl::graph::ResourceKind::KubeObjects
                    | deployctl::graph::ResourceKind::HelmRelease
            )
        })
        // No entry point in the checked-in access.yaml.
        .filter(|d| !matches!(d.name, "ingress" | "load-balancer-controller"))
        .collect();
    assert_eq!(by_name.len(), cluster_side.len() + 1, "{by_name:?}");
    for d in &cluster_side {
        let mut want: Vec<String> = d
            .needs
            .iter()
            .filter(|n| cluster_side.iter().any(|c| c.id == **n))
            .map(|n| format!("stack-{}", n.name()))
            .collect();
        if d.kind == deployctl::graph::ResourceKind::HelmRelease {
            want.insert(0, "stack-sources".into());
        }
        assert_eq!(
            by_name[&format!("stack-{}", d.name)],
            want,
            "the Kustomization of {} waits for other steps than the graph says",
            d.name
        );
    }
    // e.g. the chain the issue names.
    assert!(by_name["stack-secret-stores"].contains(&"stack-external-secrets".to_string()));
    assert!(by_name["stack-redis"].contains(&"stack-secret-stores".to_string()));
    assert!(by_name["stack-litellm"].contains(&"stack-redis".to_string()));

    // LiteLLM's chart from its OCI registry; the rest from their Helm repositories.
    let sources = docs(&first[&format!("deployctl/{CLUSTER}/sources/sources.yaml")]);
    let oci: Vec<&Value> = sources
        .iter()
        .filter(|s| s["kind"] == "OCIRepository")
        .collect();
    assert_eq!(oci.len(), 1, "{sources:?}");
    assert_eq!(oci[0]["spec"]["url"], "oci://ghcr.io/berriai/litellm-helm");
    let litellm = docs(&first[&format!("deployctl/{CLUSTER}/litellm/helmrelease.yaml")]);
    assert_eq!(litellm[0]["spec"]["chartRef"]["kind"], "OCIRepository");
    assert_eq!(litellm[0]["spec"]["storageNamespace"], "litellm");
    // As deployctl's `--rollback-on-failure`: no retry, a failed upgrade rolled back, a
    // failed install removed.
    let spec = &litellm[0]["spec"];
    assert_eq!(spec["upgrade"]["remediation"]["strategy"], "rollback");
    assert_eq!(spec["upgrade"]["remediation"]["remediateLastFailure"], true);
    assert_eq!(spec["install"]["remediation"]["remediateLastFailure"], true);
    assert_eq!(spec["timeout"], "5m");
    assert_eq!(spec["upgrade"]["strategy"]["name"], "RemediateOnFailure");
    assert_eq!(spec["install"]["strategy"]["name"], "RemediateOnFailure");
    assert_eq!(spec["driftDetection"]["mode"], "enabled");
    // Namespaces are never pruned by Flux (removing one deletes what is in it).
    let namespaces = ks
        .iter()
        .find(|k| k["metadata"]["name"] == "stack-namespaces")
        .unwrap();
    assert_eq!(namespaces["spec"]["prune"], false);
    assert!(ks.iter().all(|k| k["spec"]["wait"] == true));
    // The ServiceAccount LiteLLM's hooks run as goes with it, with its IRSA role.
    let sa = &first[&format!("deployctl/{CLUSTER}/litellm/serviceaccount.yaml")];
    assert!(
        sa.contains(&format!(
            "arn:aws:iam::{}:role/{CLUSTER}-litellm-bedrock",
            support::moto::ACCOUNT
        )),
        "{sa}"
    );

    // No secret value anywhere in the tree.
    let all: String = first.values().cloned().collect();
    assert!(
        !all.contains("s3cr3t-db-pass"),
        "the database password leaked"
    );
    for v in secret_values(moto).await {
        assert!(
            v.len() < 8 || !all.contains(&v),
            "a Secrets Manager value is in the export"
        );
    }
    assert!(first.contains_key(&format!("README.{CLUSTER}.flux.md")));

    // Twice the same state: byte for byte the same, and nothing written.
    let run = sb
        .run(&["export", "--format", "flux", dir.to_str().unwrap()])
        .await;
    run.assert_code(0);
    assert!(run.stdout.contains("0 changed"), "{}", run.stdout);
    assert_eq!(tree(&dir), first);

    // A values change changes that release's object and nothing else.
    let mut sb = sb;
    let project = project_with("helm-values/jaeger.yaml", |t| {
        format!("{t}\n# a change\nfullnameOverride: jaeger-changed\n")
    });
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    sb.run(&["export", "--format", "flux", dir.to_str().unwrap()])
        .await
        .assert_code(0);
    let after = tree(&dir);
    let changed: Vec<&String> = after
        .keys()
        .filter(|k| first.get(*k) != after.get(*k))
        .collect();
    assert_eq!(
        changed,
        [&format!("deployctl/{CLUSTER}/jaeger/helmrelease.yaml")],
        "more changed than the release"
    );

    // The repository's other files are never touched; switching the engine removes the
    // other engine's files of this cluster, and only those.
    let theirs = [
        dir.join("README.md"),
        dir.join(format!("deployctl/{CLUSTER}/notes.txt")),
        dir.join("clusters/other/app.yaml"),
    ];
    for f in &theirs {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, "theirs\n").unwrap();
    }
    sb.run(&[
        "export",
        "--format",
        "argocd",
        "--repo-url",
        "https://git.example.com/gitops.git",
        dir.to_str().unwrap(),
    ])
    .await
    .assert_code(0);
    for f in &theirs {
        assert_eq!(std::fs::read_to_string(f).unwrap(), "theirs\n", "{f:?}");
    }
    let now = tree(&dir);
    assert!(!now.contains_key(&format!("clusters/{CLUSTER}/deployctl.yaml")));
    assert!(!now.contains_key(&format!("deployctl/{CLUSTER}/jaeger/helmrelease.yaml")));
    assert!(now.contains_key(&format!("argocd/{CLUSTER}/jaeger.yaml")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_argocd_export_validates_against_argo_cd_and_two_clusters_differ_only_where_they_do() {
    let (moto, _guard) = Moto::lock().await;
    let mut sb = account(moto).await;
    let dir = sb.path().join("gitops");
    // Argo CD's Applications name the repository: without it, a usage error and nothing
    // written.
    let run = sb
        .run(&["export", "--format", "argocd", dir.to_str().unwrap()])
        .await;
    run.assert_code(2);
    assert!(run.all().contains("--repo-url"), "{}", run.all());
    assert!(!dir.exists());

    let repo = "https://git.example.com/platform/gitops.git";
    let run = sb
        .run(&[
            "export",
            "--format",
            "argocd",
            "--repo-url",
            repo,
            dir.to_str().unwrap(),
        ])
        .await;
    run.assert_code(0);
    assert_valid_against(&["argo-cd"], &dir);
    assert_applies_strictly("argo-cd", &dir).await;
    let dev = tree(&dir);
    let app = docs(&dev[&format!("argocd/{CLUSTER}/redis.yaml")]);
    let app = &app[0];
    assert_eq!(app["spec"]["project"], format!("{CLUSTER}-stack"));
    let sources = app["spec"]["sources"].as_array().unwrap();
    assert_eq!(sources[0]["chart"], "redis-ha");
    assert_eq!(sources[1]["ref"], "values");
    // Sync waves follow the graph: a step comes after every step it needs.
    let wave = |step: &str| -> i64 {
        docs(&dev[&format!("argocd/{CLUSTER}/{step}.yaml")])[0]["metadata"]["annotations"]
            ["argocd.argoproj.io/sync-wave"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    for (later, earlier) in [
        ("secret-stores", "external-secrets"),
        ("opa-policies", "gatekeeper"),
        ("dashboards", "monitoring"),
        ("redis", "secret-stores"),
        ("litellm", "redis"),
        ("openwebui", "litellm"),
    ] {
        assert!(wave(later) > wave(earlier), "{later} before {earlier}");
    }
    let leaked: String = dev.values().cloned().collect();
    assert!(!leaked.contains("s3cr3t-db-pass"));

    // Another environment beside it: its own directories; only what differs between the two
    // clusters (names, role ARNs) differs.
    sb.set("EKS_CLUSTER_NAME", "prod-cluster");
    sb.run(&[
        "export",
        "--format",
        "argocd",
        "--repo-url",
        repo,
        dir.to_str().unwrap(),
    ])
    .await
    .assert_code(0);
    let both = tree(&dir);
    for (k, v) in &dev {
        assert_eq!(both.get(k), Some(v), "exporting prod changed dev's {k}");
    }
    let mut differing = 0;
    for (k, v) in &dev {
        let prod_key = k.replace(CLUSTER, "prod-cluster");
        let prod = both
            .get(&prod_key)
            .unwrap_or_else(|| panic!("prod lacks {prod_key}"));
        // The uploads bucket's name carries a hash of the cluster's name (Terraform's).
        let bucket = format!(
            "openwebui-{}-{}-",
            support::moto::ACCOUNT,
            support::moto::REGION
        );
        let strip = |t: &str| -> String {
            t.lines()
                .map(|l| match l.find(&bucket) {
                    Some(i) => &l[..i + bucket.len()],
                    None => l,
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let normalised = strip(&prod.replace("prod-cluster", CLUSTER));
        assert_eq!(
            normalised,
            strip(v),
            "{k} differs beyond the cluster's name"
        );
        if prod != v {
            differing += 1;
        }
    }
    assert!(differing > 0);

    // One ApplicationSet for both: for each `argocd/<cluster>/` it makes the parent
    // Application the README's `argocd app create` makes (name, project, path), creating and
    // updating only, and keeping the stacks if it is deleted.
    let set = docs(&both["argocd/stacks.applicationset.yaml"]).remove(0);
    assert_eq!(set["kind"], "ApplicationSet");
    let generator = &set["spec"]["generators"][0]["git"];
    assert_eq!(generator["repoURL"], repo);
    let glob = generator["directories"][0]["path"].as_str().unwrap();
    for cluster in [CLUSTER, "prod-cluster"] {
        let dir_of_cluster = format!("argocd/{cluster}");
        assert!(
            glob.strip_suffix('*').is_some_and(
                |p| dir_of_cluster.starts_with(p) && !dir_of_cluster[p.len()..].contains('/')
            ),
            "{glob} does not match {dir_of_cluster}"
        );
        let expand = |t: &Value| {
            t.as_str()
                .unwrap()
                .replace("{{.path.basename}}", cluster)
                .replace("{{.path.path}}", &dir_of_cluster)
        };
        let template = &set["spec"]["template"];
        assert_eq!(
            expand(&template["metadata"]["name"]),
            format!("{cluster}-stack")
        );
        assert_eq!(
            expand(&template["spec"]["project"]),
            format!("{cluster}-stack")
        );
        assert_eq!(expand(&template["spec"]["source"]["path"]), dir_of_cluster);
        assert!(both.contains_key(&format!("argocd/{cluster}/project.yaml")));
    }
    assert_eq!(
        set["spec"]["syncPolicy"]["applicationsSync"],
        "create-update"
    );
    assert_eq!(
        set["spec"]["syncPolicy"]["preserveResourcesOnDeletion"],
        true
    );
    // Shared: dev moving to Flux leaves it for prod.
    sb.set("EKS_CLUSTER_NAME", CLUSTER);
    sb.run(&["export", "--format", "flux", dir.to_str().unwrap()])
        .await
        .assert_code(0);
    assert!(dir.join("argocd/stacks.applicationset.yaml").is_file());
    assert!(dir.join("argocd/prod-cluster/project.yaml").is_file());
    assert!(!dir.join(format!("argocd/{CLUSTER}/project.yaml")).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn each_exported_release_renders_as_deployctl_s_own_install_with_the_real_helm() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, CLUSTER, true).await;
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(20));
    let mut sb = Sandbox::new(&kube);
    sb.with_moto(moto);
    let charts = support::charts::charts_dir();
    sb.with_charts(&charts);
    sb.run(&[
        "run",
        "irsa",
        "namespaces",
        "helm-repos",
        "external-secrets",
        "jaeger",
    ])
    .await
    .assert_code(0);
    let dir = sb.path().join("gitops");
    sb.run(&["export", "--format", "flux", dir.to_str().unwrap()])
        .await
        .assert_code(0);
    let compared = assert_export_renders_as_installed(&sb, &dir, &[]);
    assert_eq!(
        compared,
        ["external-secrets", "jaeger"],
        "external-secrets and jaeger were compared"
    );
}

/// A render with the certificates and keys a chart generates afresh on every render (the
/// load balancer controller's webhook CA without a live Secret to look up) replaced by a
/// marker: they differ between any two renders, the rest must not.
fn without_generated_keys(render: &str) -> String {
    render
        .lines()
        .map(|l| {
            let key = l.trim_start().split(':').next().unwrap_or("");
            if matches!(key, "caBundle" | "tls.crt" | "tls.key" | "ca.crt") {
                format!("{}: <generated>", &l[..l.find(key).unwrap() + key.len()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// For every release deployctl installed in `sb` (helm's `upgrade` calls in the stand-in's log;
/// `skip` names releases it only simulated), the real helm renders the chart deployctl used
/// with deployctl's own values files, and with the exported HelmRelease's values; the two must
/// be the same objects, and the HelmRelease must name that chart and version. Returns the
/// releases compared.
pub fn assert_export_renders_as_installed(sb: &Sandbox, dir: &Path, skip: &[&str]) -> Vec<String> {
    let helm = support::charts::real_helm();
    let template = |release: &str, ns: &str, chart: &str, files: &[PathBuf]| -> String {
        let mut c = std::process::Command::new(&helm);
        c.args(["template", release, chart, "-n", ns]);
        for f in files {
            c.arg("-f").arg(f);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut compared = Vec::new();
    for call in sb.helm_log_entries() {
        if call["argv"][0] != "upgrade" {
            continue;
        }
        let argv: Vec<&str> = call["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let (release, chart) = (argv[2], argv[3]);
        if skip.contains(&release) {
            continue;
        }
        let ns = argv[argv
            .iter()
            .position(|a| *a == "--namespace" || *a == "-n")
            .unwrap()
            + 1];
        // What deployctl installed: its values file and the overlay it wrote for the call.
        let mut installed = Vec::new();
        for (i, f) in call["values"].as_array().unwrap().iter().enumerate() {
            let p = scratch.path().join(format!("{release}-{i}.yaml"));
            std::fs::write(&p, f["content"].as_str().unwrap()).unwrap();
            installed.push(p);
        }
        // What the export gives Flux: the HelmRelease's values.
        let step = deployctl::stack::releases::named(release)
            .map(|r| r.step.name())
            .unwrap();
        let hr = docs(
            &std::fs::read_to_string(
                dir.join(format!("deployctl/{CLUSTER}/{step}/helmrelease.yaml")),
            )
            .unwrap(),
        )
        .remove(0);
        assert_eq!(hr["spec"]["releaseName"], release);
        assert_eq!(hr["spec"]["targetNamespace"], ns);
        // The chart it names is the one deployctl installed (name and pinned version).
        let chart_yaml: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(Path::new(chart).join("Chart.yaml")).unwrap(),
        )
        .unwrap();
        if hr["spec"]["chartRef"].is_object() {
            // An OCI chart: the OCIRepository's tag is the pin, its URL ends in the chart.
            let sources = docs(
                &std::fs::read_to_string(
                    dir.join(format!("deployctl/{CLUSTER}/sources/sources.yaml")),
                )
                .unwrap(),
            );
            let oci = sources
                .iter()
                .find(|s| {
                    s["kind"] == "OCIRepository"
                        && s["metadata"]["name"] == hr["spec"]["chartRef"]["name"]
                })
                .unwrap();
            assert_eq!(oci["spec"]["ref"]["tag"], chart_yaml["version"]);
            let name = chart_yaml["name"].as_str().unwrap();
            assert!(
                oci["spec"]["url"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{name}"))
            );
        } else {
            assert_eq!(hr["spec"]["chart"]["spec"]["chart"], chart_yaml["name"]);
            assert_eq!(
                hr["spec"]["chart"]["spec"]["version"],
                chart_yaml["version"]
            );
        }
        let exported = scratch.path().join(format!("{release}-exported.yaml"));
        std::fs::write(
            &exported,
            serde_json::to_string(&hr["spec"]["values"]).unwrap(),
        )
        .unwrap();
        let a = without_generated_keys(&template(release, ns, chart, &installed));
        let b = without_generated_keys(&template(release, ns, chart, &[exported]));
        assert!(a.len() > 1000, "{release} rendered almost nothing");
        if let Some((i, (x, y))) = a
            .lines()
            .zip(b.lines())
            .enumerate()
            .find(|(_, (x, y))| x != y)
        {
            panic!(
                "release {release}: the export renders other objects than deployctl's install; line {}:\n  install: {x}\n  export:  {y}",
                i + 1
            );
        }
        assert_eq!(
            a.lines().count(),
            b.lines().count(),
            "release {release}: the export renders other objects than deployctl's install"
        );
        compared.push(release.to_string());
    }
    compared.sort();
    compared
}
