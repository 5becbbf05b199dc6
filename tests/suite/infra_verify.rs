//! `deployctl infrastructure-verify` against moto's server and the fake API server.

use crate::support;

use support::Sandbox;
use support::kube_server::FakeKube;
use support::moto::{Moto, seed_cluster, seed_cluster_at};
use support::postgres::Postgres;

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_account_fails_every_check() {
    let (moto, _guard) = Moto::lock().await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    let run = sb.run(&["infrastructure-verify"]).await;
    run.assert_code(1);
    let marks: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with('✓') || l.starts_with('✗'))
        .collect();
    let summary = marks.last().unwrap();
    assert!(summary.contains("check(s) failed"), "{}", run.stdout);
    let checks = &marks[..marks.len() - 1];
    assert!(checks.len() >= 10, "{}", run.stdout);
    assert!(checks.iter().all(|l| l.starts_with('✗')), "{}", run.stdout);
    for section in [
        "EKS cluster:",
        "IAM roles:",
        "AWS secrets:",
        "RDS database:",
        "kubectl:",
    ] {
        assert!(
            run.stdout.contains(section),
            "{section} missing:\n{}",
            run.stdout
        );
    }
    // Alias.
    sb.run(&["verify-infra"]).await.assert_code(1);
}

/// The stored URL of `name` (under the sandbox's prefix) in moto's Secrets Manager.
async fn stored(sdk: &aws_config::SdkConfig, name: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let list = sm.list_secrets().send().await.unwrap();
    let id = list
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .find(|n| n.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no secret {name}"))
        .to_string();
    sm.get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complete_account_passes_every_check_and_its_credentials_sign_in_without_being_shown() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    let seeded = seed_cluster(&sdk, support::CLUSTER, true).await;
    // A real PostgreSQL (TLS, SCRAM) holding LiteLLM's role, as RDS does.
    let pg = Postgres::start("S3cret-Pw");
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.with_moto(moto);
    sb.set(
        "DATABASE_URL",
        &format!(
            "postgresql://litellm:S3cret-Pw@127.0.0.1:{}/litellm",
            pg.port
        ),
    );
    sb.run(&["irsa"]).await.assert_code(0);
    sb.run(&["secrets"]).await.assert_code(0);

    // OpenWebUI's role is made by its release's database Job: until then, its stored
    // credentials cannot be proven, and the run says so without failing.
    let run = sb.run(&["infrastructure-verify"]).await;
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("✓ LiteLLM's stored credentials sign in to database `litellm` (directly)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("⚠ OpenWebUI's stored database credentials: its role does not exist yet"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("could not be proven"), "{}", run.stdout);

    // The role as the Job makes it, with the stored password.
    let openwebui_url = stored(&sdk, "openwebui-database-url").await;
    let password = openwebui_url
        .split_once("openwebui:")
        .and_then(|(_, r)| r.split_once('@'))
        .unwrap()
        .0
        .to_string();
    pg.psql_as_superuser(
        "postgres",
        &format!(
            "SET log_statement = 'none';\nCREATE ROLE openwebui LOGIN PASSWORD '{password}';\nCREATE DATABASE openwebui OWNER openwebui;\n"
        ),
    );
    let run = sb.run(&["infrastructure-verify"]).await;
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("All infrastructure components verified"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('✗'), "{}", run.stdout);
    assert!(!run.stdout.contains('⚠'), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "✓ OpenWebUI's stored credentials sign in to database `openwebui` (directly)"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&seeded.vpc_id), "{}", run.stdout);
    assert!(
        run.stdout.contains("TLS: sslmode=require"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Subnets: 2"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("database endpoint 127.0.0.1:{}", pg.port)),
        "{}",
        run.stdout
    );
    // The sign-in was real: the server logged deployctl's session over TLS.
    assert!(
        pg.log().contains("deployctl-infrastructure-verify") || pg.log().contains("SELECT 1"),
        "{}",
        pg.log()
    );

    // The database's password changes behind the secret's back: the secret no longer signs
    // in, and the run fails naming the one fix.
    pg.psql_as_superuser(
        "postgres",
        "SET log_statement = 'none';\nALTER ROLE litellm PASSWORD 'Changed-Elsewhere';\n",
    );
    let run = sb.run(&["infrastructure-verify", "--output", "json"]).await;
    run.assert_code(1);
    assert!(
        run.stdout.contains("LiteLLM's stored credentials are refused by the database (directly): password authentication failed: the stored password is not the one the database holds (SQLSTATE 28P01)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("db_password_version"), "{}", run.stdout);
    for shown in [run.all(), pg.log()] {
        assert!(!shown.contains("S3cret-Pw"), "the password was shown");
        assert!(!shown.contains(&password), "OpenWebUI's password was shown");
    }
    assert!(
        !run.all().contains("litellm:"),
        "the user was printed:\n{}",
        run.all()
    );
    assert!(kube.writes().is_empty(), "verification changed the cluster");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_endpoint_is_matched_to_its_rds_instance() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    let address = support::moto::postgres_instance(&sdk, "litellm-db", "Rds-Pw-never-shown", |r| {
        r.engine_version("16.3")
            .storage_encrypted(true)
            .multi_az(true)
    })
    .await;
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.with_moto(moto);
    sb.set(
        "DATABASE_URL",
        &format!("postgresql://litellm:Rds-Pw-never-shown@{address}:5432/litellm"),
    );
    sb.run(&["irsa"]).await.assert_code(0);
    sb.run(&["secrets"]).await.assert_code(0);
    let run = sb.run(&["infrastructure-verify"]).await;
    run.assert_code(0);
    assert!(
        run.stdout.contains("(RDS instance litellm-db)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Status: available"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Multi-AZ: true, encrypted: true"),
        "{}",
        run.stdout
    );
    // A private instance and no bastion: its credentials are not proven, and the run says
    // why and how, without failing or trying a way that cannot lead there.
    assert!(
        run.stdout
            .contains("⚠ LiteLLM's stored database credentials: not proven from here"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("no bastion of `test-cluster` is running to reach it through"),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("Rds-Pw-never-shown"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_context_for_another_cluster_fails_the_kube_check() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.write_kubeconfig(&kube.kubeconfig("prod-admin", "arn:aws:eks:us-east-1:1:cluster/prod"));
    sb.with_moto(moto);
    let run = sb.run(&["infrastructure-verify"]).await;
    run.assert_code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("prod-admin"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.starts_with('✗'), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: cargo test --features test-fakes --test suite infra_verify::bench -- --ignored --nocapture"]
async fn bench_infrastructure_verify_against_a_seeded_account() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    let kube = FakeKube::start().await;
    let mut sb = Sandbox::new(&kube);
    sb.with_moto(moto);
    sb.set("DATABASE_URL", "postgresql://u:p@db:5432/x");
    sb.run(&["irsa"]).await.assert_code(0);
    sb.run(&["secrets"]).await.assert_code(0);
    let mut ours = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let run = sb.run(&["infrastructure-verify"]).await;
        run.assert_code(0);
        ours.push(started.elapsed());
    }
    ours.sort();
    let ours = ours[2];
    println!("infrastructure-verify: median {ours:?}");
    // The same checks as the original script makes them: one `aws` CLI process per call
    // (scripts/bench.sh installs the CLI and names it in DEPLOYCTL_BENCH_AWS).
    let Some(aws) = std::env::var_os("DEPLOYCTL_BENCH_AWS") else {
        println!(
            "BENCH infra_verify ours_ms={} (no aws CLI: DEPLOYCTL_BENCH_AWS unset)",
            ours.as_millis()
        );
        return;
    };
    let c = support::CLUSTER;
    let calls: Vec<Vec<&str>> = vec![
        vec!["sts", "get-caller-identity"],
        vec![
            "eks",
            "describe-cluster",
            "--name",
            c,
            "--query",
            "cluster.status",
        ],
        vec![
            "eks",
            "describe-cluster",
            "--name",
            c,
            "--query",
            "cluster.version",
        ],
        vec![
            "eks",
            "describe-cluster",
            "--name",
            c,
            "--query",
            "cluster.endpoint",
        ],
        vec![
            "eks",
            "describe-cluster",
            "--name",
            c,
            "--query",
            "cluster.resourcesVpcConfig.vpcId",
        ],
        vec!["ec2", "describe-vpcs"],
        vec!["ec2", "describe-subnets"],
        vec![
            "eks",
            "describe-cluster",
            "--name",
            c,
            "--query",
            "cluster.identity.oidc.issuer",
        ],
        vec!["iam", "list-open-id-connect-providers"],
        vec![
            "iam",
            "get-role",
            "--role-name",
            "test-cluster-external-secrets",
        ],
        vec![
            "iam",
            "get-role",
            "--role-name",
            "test-cluster-litellm-bedrock",
        ],
        vec![
            "secretsmanager",
            "describe-secret",
            "--secret-id",
            "litellm/master-key",
        ],
        vec![
            "secretsmanager",
            "describe-secret",
            "--secret-id",
            "litellm/salt-key",
        ],
        vec![
            "secretsmanager",
            "describe-secret",
            "--secret-id",
            "litellm/redis-password",
        ],
        vec![
            "secretsmanager",
            "describe-secret",
            "--secret-id",
            "litellm/database-url",
        ],
        vec![
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            "litellm/database-url",
            "--query",
            "SecretString",
        ],
        vec!["rds", "describe-db-instances"],
    ];
    let mut theirs = Vec::new();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        for call in &calls {
            let out = std::process::Command::new(&aws)
                .args(call)
                .args(["--output", "text", "--endpoint-url", &moto.url])
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_DEFAULT_REGION", support::moto::REGION)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "aws {call:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        theirs.push(started.elapsed());
    }
    theirs.sort();
    let theirs = theirs[1];
    println!(
        "BENCH infra_verify ours_ms={} cli_ms={} calls={} speedup={:.1}",
        ours.as_millis(),
        theirs.as_millis(),
        calls.len(),
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_database_url_without_a_host_is_reported_and_never_printed() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, support::CLUSTER, true).await;
    // Stored by hand (deployctl itself refuses such a URL): user and password, no `@`, so
    // no host — what was once printed as the "host" was the password.
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("litellm/database-url")
        .secret_string("postgresql://litellm:S3cretPass")
        .send()
        .await
        .unwrap();
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    let run = sb.run(&["infrastructure-verify"]).await;
    run.assert_code(1);
    assert!(
        !run.all().contains("S3cretPass"),
        "the password was printed:\n{}",
        run.all()
    );
    assert!(
        run.stdout
            .contains("litellm/database-url holds no usable URL"),
        "{}",
        run.stdout
    );
}

/// The running version against the EKS calendar (terraform/eks-versions.json): a version past
/// extended support fails the check with the date; extended support passes and says so.
#[tokio::test(flavor = "multi_thread")]
async fn the_clusters_kubernetes_version_is_checked_against_the_eks_calendar() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster_at(&sdk, "old-cluster", false, "1.31").await;
    seed_cluster_at(&sdk, "aging-cluster", false, "1.33").await;
    seed_cluster(&sdk, "new-cluster", false).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    // The calendar's day is pinned so the test reads the same in a year.
    sb.set("DEPLOYCTL_TODAY", "2026-11-27");

    sb.set("EKS_CLUSTER_NAME", "old-cluster");
    let run = sb.run(&["infrastructure-verify"]).await;
    run.assert_code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("Kubernetes 1.31"))
        .unwrap_or_else(|| panic!("no version line:\n{}", run.stdout));
    assert!(line.starts_with('✗'), "{line}");
    assert!(line.contains("support ENDED on 2026-11-26"), "{line}");
    assert!(run.stdout.contains("towards 1.36"), "{}", run.stdout);

    sb.set("EKS_CLUSTER_NAME", "aging-cluster");
    let run = sb.run(&["infrastructure-verify", "--output", "json"]).await;
    let check: serde_json::Value = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["section"] == "Kubernetes version")
        .unwrap_or_else(|| panic!("no version check:\n{}", run.stdout));
    assert_eq!(check["ok"], true, "{check}");
    let text = check["text"].as_str().unwrap();
    assert!(
        text.contains("EXTENDED support") && text.contains("2027-07-29"),
        "{text}"
    );

    sb.set("EKS_CLUSTER_NAME", "new-cluster");
    let run = sb.run(&["infrastructure-verify"]).await;
    assert!(
        run.stdout
            .contains("✓ Kubernetes 1.35 — standard support until 2027-03-27"),
        "{}",
        run.stdout
    );
}

/// With EKS's calendar answering, the running version is judged by it (and says so), and a
/// file that disagrees with it is named in the check's details.
#[tokio::test(flavor = "multi_thread")]
async fn the_running_version_is_judged_by_eks_s_own_calendar_when_it_answers() {
    let (moto, _guard) = Moto::lock().await;
    let sdk = moto.sdk().await;
    seed_cluster(&sdk, "new-cluster", false).await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto);
    sb.set("DEPLOYCTL_TODAY", "2026-11-27");
    sb.set("EKS_CLUSTER_NAME", "new-cluster");
    let eks = support::eks_front::EksFront::start(&moto.url, "https://127.0.0.1:9");
    sb.set("AWS_ENDPOINT_URL_EKS", &eks.url);
    eks.set_calendar(&[
        ("1.35", "EXTENDED_SUPPORT", "2026-11-01", "2027-11-01"),
        ("1.36", "STANDARD_SUPPORT", "2027-08-02", "2028-08-02"),
    ]);
    let run = sb.run(&["infrastructure-verify"]).await;
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("Kubernetes 1.35"))
        .unwrap_or_else(|| panic!("no version line:\n{}", run.stdout));
    assert!(line.starts_with('✓'), "{line}");
    assert!(
        line.contains("EXTENDED support")
            && line.contains("ends 2027-11-01")
            && line.contains("(EKS's calendar)"),
        "{line}"
    );
    assert!(run.stdout.contains("towards 1.36"), "{}", run.stdout);
    assert!(
        run.stdout.contains("terraform/eks-versions.json gives 1.35 2027-03-27 / 2028-03-27, EKS 2026-11-01 / 2027-11-01"),
        "{}",
        run.stdout
    );
}
