//! The real terraform binary over terraform/: fmt, validate with the provider mirror, a real
//! plan of the root module against moto through `deployctl infrastructure-plan`, and checkov.
//! Missing terraform, mirror or checkov fail these tests with a message; they never pass
//! silently.

use crate::support;

use support::moto::Moto;
use support::{Sandbox, copy_terraform, real_terraform, repo_root};

fn terraform(
    rc: &std::path::Path,
    terraform: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    std::process::Command::new(terraform)
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", rc)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run terraform")
}

#[test]
fn terraform_fmt_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (tf, rc) = real_terraform(tmp.path());
    let out = terraform(
        &rc,
        &tf,
        &repo_root(),
        &["fmt", "-check", "-recursive", "-diff", "terraform/"],
    );
    assert!(
        out.status.success(),
        "terraform fmt -check failed (run `terraform fmt -recursive terraform/`):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn terraform_validate_passes_with_the_provider_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let (tf, rc) = real_terraform(tmp.path());
    let dir = copy_terraform(tmp.path());
    let init = terraform(&rc, &tf, &dir, &["init", "-backend=false", "-input=false"]);
    assert!(
        init.status.success(),
        "terraform init -backend=false failed:\n{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let lock = std::fs::read_to_string(dir.join(".terraform.lock.hcl")).unwrap();
    assert!(
        lock.contains("registry.terraform.io/hashicorp/aws"),
        "{lock}"
    );
    assert!(
        !lock.contains("hashicorp/tls")
            && !lock.contains("hashicorp/random")
            && !lock.contains("hashicorp/kubernetes"),
        "only the aws provider may be used:\n{lock}"
    );
    let validate = terraform(&rc, &tf, &dir, &["validate", "-no-color"]);
    assert!(
        validate.status.success(),
        "terraform validate failed:\n{}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
}

/// `terraform test` in every module that has a `tests/` directory: the invariants (EKS
/// version in support, upgrade policy, private endpoint, ...) against the real provider
/// schema with `mock_provider "aws"`.
#[test]
fn terraform_test_passes_in_every_module_with_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let (tf, rc) = real_terraform(tmp.path());
    let dir = copy_terraform(tmp.path());
    let mut tested = Vec::new();
    for module in std::fs::read_dir(dir.join("modules")).unwrap() {
        let module = module.unwrap().path();
        if !module.join("tests").is_dir() {
            continue;
        }
        let init = terraform(
            &rc,
            &tf,
            &module,
            &["init", "-backend=false", "-input=false"],
        );
        assert!(
            init.status.success(),
            "terraform init in {}:\n{}",
            module.display(),
            String::from_utf8_lossy(&init.stderr)
        );
        let test = terraform(&rc, &tf, &module, &["test", "-no-color"]);
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&test.stdout),
            String::from_utf8_lossy(&test.stderr)
        );
        assert!(
            test.status.success(),
            "terraform test in {}:\n{out}",
            module.display()
        );
        assert!(
            out.contains("Success!") && out.contains(" 0 failed"),
            "{out}"
        );
        tested.push(module.file_name().unwrap().to_string_lossy().to_string());
    }
    tested.sort();
    assert_eq!(
        tested,
        ["bastion", "eks", "rds", "secrets", "vpc"],
        "modules with terraform tests"
    );
}

/// Backend in moto's S3, with S3-native locking.
fn moto_backend(moto: &Moto) -> String {
    format!(
        "bucket = \"tfstate\"\nkey = \"litellm/terraform.tfstate\"\nregion = \"us-east-1\"\n\
         use_lockfile = true\nuse_path_style = true\nskip_credentials_validation = true\n\
         skip_requesting_account_id = true\nendpoints = {{ s3 = \"{}\" }}\n",
        moto.url
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn infrastructure_plan_runs_the_real_plan_against_moto() {
    let (moto, _guard) = Moto::lock().await;
    moto.create_bucket("tfstate").await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto).with_real_terraform();
    sb.set("CHECKPOINT_DISABLE", "1");
    let tf = sb.terraform_project(&moto_backend(moto));
    std::fs::copy(
        tf.join("terraform.tfvars.example"),
        tf.join("terraform.tfvars"),
    )
    .unwrap();

    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(0);
    let all = run.all();
    assert!(
        all.contains("module.eks.aws_eks_cluster.this will be created"),
        "{all}"
    );
    assert!(
        all.contains("module.rds.aws_db_instance.this will be created"),
        "{all}"
    );
    assert!(
        all.contains("module.secrets.aws_secretsmanager_secret.database_url will be created"),
        "{all}"
    );
    assert!(all.contains("Nothing was applied"), "{all}");
    // The password is ephemeral and write-only: no plan line carries it.
    assert!(
        !all.contains("postgresql://litellm:"),
        "a database URL with a password was printed"
    );
    // The private endpoint's way in from a laptop: the SSM bastion deployctl tunnels through.
    assert!(
        all.contains("module.bastion[0]"),
        "the default tfvars create the bastion: {all}"
    );
    // State lives in the (moto) S3 backend, not in the project.
    assert!(!tf.join("terraform.tfstate").exists());

    // The dev and prod environments plan too (dev: bastion on, one NAT gateway).
    for (env, expect) in [
        (
            "environments/dev.tfvars",
            "module.bastion[0].aws_instance.this will be created",
        ),
        (
            "environments/prod.tfvars",
            "module.vpc.aws_nat_gateway.this[2] will be created",
        ),
    ] {
        let file = tf.join(env);
        let run = sb
            .run(&["infrastructure-plan", "--var-file", file.to_str().unwrap()])
            .await;
        run.assert_code(0);
        assert!(run.all().contains(expect), "{env}: {}", run.all());
    }
    let dev = sb
        .run(&[
            "infrastructure-plan",
            "--var-file",
            tf.join("environments/dev.tfvars").to_str().unwrap(),
        ])
        .await;
    assert!(
        !dev.all().contains("aws_nat_gateway.this[1]"),
        "dev has a single NAT gateway"
    );
}

#[test]
fn checkov_passes_with_only_the_reasoned_skips() {
    let checkov = std::env::var("DEPLOYCTL_TEST_CHECKOV").unwrap_or_else(|_| {
        repo_root()
            .join(".venv-checkov/bin/checkov")
            .to_string_lossy()
            .into_owned()
    });
    assert!(
        std::path::Path::new(&checkov).is_file(),
        "checkov is not installed at {checkov}: run scripts/test.sh, which installs it (pinned) into .venv-checkov"
    );
    // Every skip in the config carries a reason: a comment directly above it.
    let config = std::fs::read_to_string(repo_root().join("terraform/.checkov.yaml")).unwrap();
    let lines: Vec<&str> = config.lines().collect();
    let mut skips = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- CKV") {
            skips += 1;
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with('#'),
                "skip `{}` has no reason above it",
                line.trim()
            );
        }
    }
    assert!(
        skips <= 3,
        "more skips than expected: review terraform/.checkov.yaml"
    );
    let out = std::process::Command::new(&checkov)
        .args([
            "--config-file",
            "terraform/.checkov.yaml",
            "--skip-download",
        ])
        .current_dir(repo_root())
        .output()
        .expect("run checkov");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Failed checks: 0"),
        "checkov found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_provider_registry_is_named_as_such() {
    // The real terraform, without the mirror, behind a proxy that refuses: `init` cannot
    // reach registry.terraform.io. deployctl must say so — not blame backend.hcl — and must
    // not print terraform's error a second time.
    let (moto, _guard) = Moto::lock().await;
    moto.create_bucket("tfstate").await;
    let mut sb = Sandbox::bare();
    sb.with_moto(moto).with_real_terraform();
    sb.set("CHECKPOINT_DISABLE", "1");
    let rc = sb.path().join("no-mirror.tfrc");
    std::fs::write(&rc, "# no provider_installation: the registry\n").unwrap();
    sb.set("TF_CLI_CONFIG_FILE", rc.to_str().unwrap());
    sb.set("HTTPS_PROXY", "http://127.0.0.1:9");
    sb.set("NO_PROXY", "127.0.0.1,localhost");
    let tf = sb.terraform_project(&moto_backend(moto));
    std::fs::copy(
        tf.join("terraform.tfvars.example"),
        tf.join("terraform.tfvars"),
    )
    .unwrap();
    let run = sb.run(&["infrastructure-plan"]).await;
    run.assert_code(1);
    let err = run.stderr;
    assert!(
        err.contains("the provider registry could not be reached"),
        "{err}"
    );
    assert!(err.contains("provider_installation"), "{err}");
    assert!(!err.contains("backend.hcl"), "blamed on the backend: {err}");
    // terraform's own error line appears once (streamed), not again in deployctl's error.
    let all = format!("{}{err}", run.stdout);
    assert_eq!(
        all.matches("Failed to query available provider packages")
            .count(),
        1,
        "{all}"
    );
}

/// Every name a planned resource carries (names, identifiers, aliases, `Name` tags), walked
/// from `terraform show -json` of a plan.
fn planned_names(plan: &serde_json::Value) -> std::collections::BTreeSet<String> {
    const KEYS: [&str; 9] = [
        "name",
        "name_prefix",
        "identifier",
        "role_name",
        "alarm_name",
        "final_snapshot_identifier",
        "node_group_name",
        "cluster_name",
        "secret_id",
    ];
    fn walk(
        module: &serde_json::Value,
        keys: &[&str],
        out: &mut std::collections::BTreeSet<String>,
    ) {
        for r in module["resources"].as_array().into_iter().flatten() {
            // Names scoped by their parent (an inline policy's by its role, a node group's by
            // its cluster) cannot collide between environments.
            if r["mode"] != "managed"
                || matches!(
                    r["type"].as_str(),
                    Some("aws_iam_role_policy" | "aws_eks_node_group")
                )
            {
                continue;
            }
            let v = &r["values"];
            for k in keys {
                // The node group's cluster_name points at the cluster; it is counted there.
                if *k == "cluster_name" && r["type"] != "aws_eks_cluster" {
                    continue;
                }
                if let Some(s) = v[*k].as_str() {
                    // A plan-time timestamp differs between the two plans by luck only.
                    let s = s.trim_end_matches(|c: char| c.is_ascii_digit());
                    out.insert(format!("{}: {s}", r["type"].as_str().unwrap_or("?")));
                }
            }
            if let Some(s) = v["tags"]["Name"].as_str() {
                out.insert(format!("Name tag: {s}"));
            }
        }
        for m in module["child_modules"].as_array().into_iter().flatten() {
            walk(m, keys, out);
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&plan["planned_values"]["root_module"], &KEYS, &mut out);
    out
}

/// dev and prod in one account and region: the two environments' plans share no resource
/// name (IAM roles, KMS aliases, secrets, log groups, the database, the bastion, ...).
#[tokio::test(flavor = "multi_thread")]
async fn dev_and_prod_plans_share_no_resource_name() {
    let (moto, _guard) = Moto::lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let (tf, rc) = real_terraform(tmp.path());
    let dir = copy_terraform(tmp.path());
    // A local backend for the test (an override file, as Terraform documents them).
    std::fs::write(
        dir.join("backend_override.tf"),
        "terraform {\n  backend \"local\" {}\n}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(&tf)
            .args(args)
            .current_dir(&dir)
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("run terraform")
    };
    let init = run(&["init", "-input=false", "-no-color"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut names = Vec::new();
    for env in ["dev", "prod"] {
        let file = format!("-var-file=environments/{env}.tfvars");
        let out = format!("-out={env}.tfplan");
        let plan = run(&["plan", "-input=false", "-no-color", &file, &out]);
        assert!(
            plan.status.success(),
            "{env}: {}{}",
            String::from_utf8_lossy(&plan.stdout),
            String::from_utf8_lossy(&plan.stderr)
        );
        let show = run(&["show", "-json", &format!("{env}.tfplan")]);
        assert!(show.status.success());
        let json: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        let n = planned_names(&json);
        assert!(
            n.iter().any(|x| x.contains("aws_db_instance"))
                && n.iter().any(|x| x.contains("aws_secretsmanager_secret"))
                && n.iter().any(|x| x.contains("aws_iam_role")),
            "{env}: too few names found to compare: {n:?}"
        );
        names.push(n);
    }
    let shared: Vec<&String> = names[0].intersection(&names[1]).collect();
    assert!(
        shared.is_empty(),
        "dev and prod would collide in one account: {shared:?}"
    );
}
