//! `deployctl diff`: what a run would change, against releases the real helm installed on the
//! fake API server — an unchanged release says so, a values change shows exactly its fields,
//! a chart bump its versions and objects, and no secret value is printed.

use crate::support;

use support::charts::project_with;
use support::moto::Moto;
use support::scenario::{REDIS_CHAIN, Stack, helm_cluster, no_secret_leak, stack};

/// The `~ Kind ns/name` blocks of a release in diff's output: each object with its field lines.
fn changed_objects(stdout: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in stdout.lines() {
        let t = line.trim_start();
        if let Some(obj) = t.strip_prefix("~ ") {
            out.push((obj.to_string(), Vec::new()));
        } else if line.starts_with("      ")
            && let Some(last) = out.last_mut()
        {
            last.1.push(t.to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_shows_nothing_for_a_current_release_and_exactly_the_fields_a_values_change_moves() {
    let Stack {
        kube,
        mut sb,
        charts,
    } = helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces", "jaeger"])
        .await
        .assert_code(0);
    let upgrades = |sb: &support::Sandbox| {
        sb.helm_calls()
            .iter()
            .filter(|c| c[0] == "upgrade" && !c.iter().any(|a| a.starts_with("--dry-run")))
            .count()
    };
    let before = upgrades(&sb);

    // As installed: one line.
    let run = sb.run(&["diff", "jaeger"]).await;
    run.assert_code(0);
    assert!(
        run.stdout.contains(
            "jaeger (release jaeger, namespace monitoring): no change (chart 4.11.1, app 2.19.0)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Nothing would change."),
        "{}",
        run.stdout
    );

    // A values edit: the key, and the one field of the one object it moves.
    let project = project_with("helm-values/jaeger.yaml", |t| {
        t.replacen("cpu: 100m", "cpu: 300m", 1)
    });
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    kube.clear_log();
    let run = sb.run(&["diff", "jaeger"]).await;
    run.assert_code(0);
    assert!(
        run.stdout
            .contains(r#"values jaeger.resources.requests.cpu: "100m" → "300m""#),
        "{}",
        run.stdout
    );
    crate::screens::assert_screen("diff_values_change", &run.stdout);
    let objects = changed_objects(&run.stdout);
    assert_eq!(
        objects,
        [(
            "Deployment monitoring/jaeger".to_string(),
            vec![
                r#"spec.template.spec.containers[name=jaeger].resources.requests.cpu: "100m" → "300m""#
                    .to_string()
            ]
        )],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("1 step would change: `deployctl run jaeger` applies it."),
        "{}",
        run.stdout
    );
    // Nothing changed: no write reached the cluster, no upgrade ran.
    assert!(
        kube.writes().iter().all(|w| w.query.contains("dryRun")),
        "{:?}",
        kube.writes()
    );
    assert_eq!(upgrades(&sb), before);
    // `plan` shows the same difference under its table, and changes nothing either.
    let plan = sb.run(&["plan", "jaeger"]).await;
    plan.assert_code(0);
    assert_eq!(changed_objects(&plan.stdout), objects, "{}", plan.stdout);
    assert!(
        kube.writes().iter().all(|w| w.query.contains("dryRun")),
        "{:?}",
        kube.writes()
    );
    assert_eq!(upgrades(&sb), before);

    // A chart bump: the versions, and what the new appVersion moves (the image).
    let chart = charts.path().join("jaeger/Chart.yaml");
    let text = std::fs::read_to_string(&chart).unwrap();
    std::fs::write(
        &chart,
        text.replace("version: 4.11.1", "version: 4.12.0")
            .replace("appVersion: 2.19.0", "appVersion: 2.20.0"),
    )
    .unwrap();
    let bumped = project_with("helm-values/releases.yaml", |t| {
        t.replace(
            "chart: jaegertracing/jaeger\n    repo: jaegertracing\n    version: 4.11.1",
            "chart: jaegertracing/jaeger\n    repo: jaegertracing\n    version: 4.12.0",
        )
    });
    sb.set("DEPLOYCTL_DIR", bumped.path().to_str().unwrap());
    let run = sb.run(&["diff", "jaeger"]).await;
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("chart 4.11.1 → 4.12.0, app 2.19.0 → 2.20.0"),
        "{}",
        run.stdout
    );
    let objects = changed_objects(&run.stdout);
    let deployment = objects
        .iter()
        .find(|(o, _)| o == "Deployment monitoring/jaeger")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        deployment.1.iter().any(|f| f.starts_with(
            "spec.template.spec.containers[name=jaeger].image: \"jaegertracing/jaeger:2.19.0\" → \"jaegertracing/jaeger:2.20.0\""
        )),
        "{:?}",
        deployment.1
    );
    assert!(
        deployment
            .1
            .iter()
            .any(|f| f.contains("helm.sh/chart: \"jaeger-4.11.1\" → \"jaeger-4.12.0\"")),
        "{:?}",
        deployment.1
    );
    assert_eq!(upgrades(&sb), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_never_shows_a_secret_and_names_a_release_not_installed() {
    let (moto, _guard) = Moto::lock().await;
    let Stack {
        kube: _kube,
        sb,
        charts: _charts,
    } = stack(moto).await;
    sb.run(&REDIS_CHAIN).await.assert_code(0);
    let run = sb
        .run(&["diff", "redis", "litellm", "openwebui", "secret-stores"])
        .await;
    run.assert_code(0);
    for step in ["redis", "litellm"] {
        assert!(
            run.stdout.contains(&format!(
                "{step} (release {step}, namespace litellm): no change"
            )),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("openwebui (release open-webui, namespace open-webui): not installed: an install creates"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("secret-stores: no change"),
        "{}",
        run.stdout
    );
    // No database URL, synced value or password in the output, argv or values files.
    no_secret_leak(&run, &sb);
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_of_a_step_without_objects_is_a_usage_error() {
    let sb = support::Sandbox::bare();
    let run = sb.run(&["diff", "verify"]).await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("`verify` applies no Kubernetes objects to compare"),
        "{}",
        run.stderr
    );
}

/// At the prompt, View shows what Proceed would change, before anything does.
#[tokio::test(flavor = "multi_thread")]
async fn the_prompts_view_shows_what_a_run_would_change() {
    let Stack {
        kube,
        mut sb,
        charts: _charts,
    } = helm_cluster().await;
    sb.run(&["run", "helm-repos", "namespaces", "jaeger"])
        .await
        .assert_code(0);
    let project = project_with("helm-values/jaeger.yaml", |t| {
        t.replacen("cpu: 100m", "cpu: 300m", 1)
    });
    sb.set("DEPLOYCTL_DIR", project.path().to_str().unwrap());
    kube.clear_log();
    let code = support::pty(&sb, &["jaeger"], |p| {
        p.exp_string("Choose [").unwrap();
        support::key(p, "v");
        p.exp_string("what a run would change:").unwrap();
        // (rexpect reads bytes as Latin-1: the arrow between the values is not matched.)
        p.exp_string(
            r#"spec.template.spec.containers[name=jaeger].resources.requests.cpu: "100m" "#,
        )
        .unwrap();
        p.exp_string(r#" "300m""#).unwrap();
        p.exp_string("Choose [").unwrap();
        support::key(p, "q");
        p.exp_eof().unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(
        kube.writes().iter().all(|w| w.query.contains("dryRun")),
        "{:?}",
        kube.writes()
    );
}
