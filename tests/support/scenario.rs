//! Shared scenarios: the application stack against the fake API server (controllers on,
//! discovery that lags new CRDs), moto with the cluster and its OIDC provider, and the real
//! charts through the real helm — with the checks several test files make of such a run.

use super::charts::ChartsDir;
use super::kube_server::FakeKube;
use super::moto::{Moto, seed_cluster};
use super::{CLUSTER, Sandbox};
use serde_json::Value;
use std::time::Duration;

pub const DB_URL: &str = "postgresql://litellm:s3cr3t-db-pass@db.internal:5432/litellm";

/// What a scenario stands up: the fake API server, the sandbox deployctl runs in, and the
/// charts directory it installs from (kept alive as long as the test holds it).
pub struct Stack {
    pub kube: FakeKube,
    pub sb: Sandbox,
    pub charts: ChartsDir,
}

/// A cluster with controllers, moto with the EKS cluster and its OIDC provider, and the
/// charts' sources as the charts directory: the real helm installs every release.
pub async fn stack(moto: &Moto) -> Stack {
    let sdk = moto.sdk().await;
    let seeded = seed_cluster(&sdk, CLUSTER, true).await;
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(30));
    // New CRDs (the charts', Gatekeeper's constraint kinds) reach discovery only a moment
    // after they are created, as on a real API server.
    kube.set_discovery_lag(Duration::from_millis(400));
    let mut sb = Sandbox::new(&kube);
    sb.with_moto(moto);
    if let Some(front) = &sb.eks {
        front.set_vpc_id(&seeded.vpc_id);
    }
    sb.set("DATABASE_URL", DB_URL);
    sb.set("DEPLOYCTL_SYNC_TIMEOUT", "20");
    let charts = super::charts::charts_dir();
    sb.with_charts(&charts);
    sb.litellm = Some(super::litellm_standin::LitellmStandin::start(&kube).await);
    Stack { kube, sb, charts }
}

/// A cluster whose controllers answer quickly and the real helm installing from the charts,
/// with no AWS: for the releases that need no account (gatekeeper, monitoring, jaeger).
pub async fn helm_cluster() -> Stack {
    let mut kube = FakeKube::start().await;
    kube.enable_controllers(Duration::from_millis(30));
    let mut sb = Sandbox::new(&kube);
    let charts = super::charts::charts_dir();
    sb.with_charts(&charts);
    Stack { kube, sb, charts }
}

/// `all`, or — when the chart sources lack kube-prometheus-stack's subcharts, so validate
/// rightly fails on Grafana — every step of `all` but validate (tests/charts.rs covers it).
pub fn all_cmd(charts: &ChartsDir) -> Vec<&'static str> {
    if charts.degraded.is_empty() {
        return vec!["all"];
    }
    eprintln!("NOTE: `all` without validate (the chart sources lack subcharts)");
    let mut args = vec!["run"];
    args.extend(
        deployctl::graph::all_steps()
            .into_iter()
            .map(|s| s.name())
            .filter(|n| *n != "validate"),
    );
    args
}

/// What Redis and LiteLLM need, and they: enough for the tests about them (faster than `all`);
/// the first seven words run everything up to the secret stores.
pub const REDIS_CHAIN: [&str; 9] = [
    "run",
    "irsa",
    "secrets",
    "helm-repos",
    "namespaces",
    "external-secrets",
    "secret-stores",
    "redis",
    "litellm",
];

/// `deployctl <step>` while its need `need` is missing: exit 1, the need and the command that
/// supplies it named, and nothing written to the cluster. The run, for more checks.
pub async fn refused_without(kube: &FakeKube, sb: &Sandbox, step: &str, need: &str) -> super::Run {
    kube.clear_log();
    let run = sb.run(&[step]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!(
            "{step} needs {need}, which is missing: run `deployctl {need}`"
        )),
        "{}",
        run.stderr
    );
    assert!(
        kube.writes().is_empty(),
        "`{step}` wrote: {:?}",
        kube.writes()
    );
    run
}

pub fn upgrades(sb: &Sandbox) -> Vec<Value> {
    sb.helm_log_entries()
        .into_iter()
        .filter(|e| e["argv"][0] == "upgrade")
        .collect()
}

pub fn releases() -> Vec<deployctl::stack::releases::Release> {
    deployctl::stack::releases::Releases::load(&super::repo_root())
        .unwrap()
        .releases
}

/// Nothing printed and nothing any helm child received (argv, environment, values files)
/// carries the database password or a synced secret value.
pub fn no_secret_leak(run: &super::Run, sb: &Sandbox) {
    let children = std::fs::read_to_string(&sb.helm_log).unwrap_or_default();
    assert!(!children.is_empty(), "no helm call was recorded");
    assert!(
        !children.contains("s3cr3t-db-pass"),
        "the database password reached a helm child"
    );
    for call in sb.helm_log_entries() {
        assert!(
            call["env"].get("DATABASE_URL").is_none(),
            "DATABASE_URL was in the environment of `helm {}`",
            call["argv"][0]
        );
        assert!(call["env"].as_object().is_some_and(|e| !e.is_empty()));
    }
    let all = run.all();
    assert!(
        !all.contains("s3cr3t-db-pass"),
        "the database password leaked"
    );
    assert!(
        !all.contains("fake-value-of-"),
        "a synced secret value leaked"
    );
}

/// `value` appears in no output of `run`, no helm child's record (argv, environment, values
/// files) and no file in the sandbox (HOME, TMPDIR, the working directory).
pub fn nowhere(run: &super::Run, sb: &Sandbox, value: &str, what: &str) {
    assert!(value.len() >= 8, "{what}: too short to search for");
    assert!(!run.all().contains(value), "{what} was printed");
    let mut stack = vec![sb.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(value),
                    "{what} is in {}",
                    p.display()
                );
            }
        }
    }
}
