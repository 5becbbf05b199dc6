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
        // (modules/secrets opens ephemeral resources, which Terraform 1.11 cannot mock: it is
        // applied against moto instead, below.)
        ["bastion", "eks", "rds", "uploads", "vpc", "zones"],
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
    let eks = eks_addon_catalog(moto);
    sb.set("AWS_ENDPOINT_URL_EKS", &eks.url);
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
    // A skip on one resource (`#checkov:skip=ID:reason`) gives its reason on the line.
    let mut inline = 0;
    for entry in walkdir(&repo_root().join("terraform")) {
        if entry.extension().is_none_or(|e| e != "tf") {
            continue;
        }
        let text = std::fs::read_to_string(&entry).unwrap();
        for line in text.lines().filter(|l| l.contains("checkov:skip=")) {
            inline += 1;
            let rest = line.split("checkov:skip=").nth(1).unwrap();
            let reason = rest.split_once(':').map(|(_, r)| r.trim()).unwrap_or("");
            assert!(
                reason.len() > 20,
                "{}: inline skip without a reason: {line}",
                entry.display()
            );
        }
    }
    assert!(inline <= 4, "more inline skips than expected ({inline})");
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
    let eks = eks_addon_catalog(moto);
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
            .env("AWS_ENDPOINT_URL_EKS", &eks.url)
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

/// One scenario of the database-password test: its own moto (moto gives every RDS instance of
/// an account the same resource id, so two databases cannot share one), a front that keeps
/// what Terraform sent, and its own Terraform directory.
struct DbScenario {
    _moto: Moto,
    front: support::aws_front::AwsFront,
    secrets: aws_sdk_secretsmanager::Client,
    dir: std::path::PathBuf,
    tf: std::path::PathBuf,
    rc: std::path::PathBuf,
    name: &'static str,
}

impl DbScenario {
    async fn new(
        root: &std::path::Path,
        tf: &std::path::Path,
        rc: &std::path::Path,
        name: &'static str,
    ) -> DbScenario {
        let moto = tokio::task::spawn_blocking(|| {
            let moto = Moto::dedicated();
            moto.warm(&[
                "sts",
                "iam",
                "kms",
                "ec2",
                "rds",
                "secretsmanager",
                "monitoring",
            ]);
            moto
        })
        .await
        .unwrap();
        let front = support::aws_front::AwsFront::start(&moto.url).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
        let dir = root.join(format!("fixture-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            repo_root().join("tests/support/terraform-database.tf"),
            dir.join("main.tf"),
        )
        .unwrap();
        let s = DbScenario {
            _moto: moto,
            front,
            secrets,
            dir,
            tf: tf.to_path_buf(),
            rc: rc.to_path_buf(),
            name,
        };
        let init = s.terraform(&["init", "-input=false", "-no-color"]).await;
        DbScenario::ok(&init, "init");
        s
    }

    async fn terraform(&self, args: &[&str]) -> std::process::Output {
        let (tf, rc, dir, url) = (
            self.tf.clone(),
            self.rc.clone(),
            self.dir.clone(),
            self.front.url.clone(),
        );
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(&tf)
                .args(&args)
                .current_dir(&dir)
                .env("TF_CLI_CONFIG_FILE", &rc)
                .env("TF_IN_AUTOMATION", "1")
                .env("CHECKPOINT_DISABLE", "1")
                .env("AWS_ENDPOINT_URL", &url)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1")
                .output()
                .expect("run terraform")
        })
        .await
        .unwrap()
    }

    fn vars(&self, prefix: &str, db: &str, version: u32) -> Vec<String> {
        vec![
            format!("-var=name={}", self.name),
            format!("-var=secrets_prefix={prefix}"),
            format!("-var=db_name={db}"),
            format!("-var=db_password_version={version}"),
        ]
    }

    async fn apply(&self, prefix: &str, db: &str, version: u32) -> std::process::Output {
        let vars = self.vars(prefix, db, version);
        let mut args = vec!["apply", "-auto-approve", "-input=false", "-no-color"];
        args.extend(vars.iter().map(String::as_str));
        self.terraform(&args).await
    }

    fn ok(out: &std::process::Output, what: &str) {
        assert!(
            out.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The passwords RDS accepted, in order, with the operation that carried each.
    fn sent_to_rds(&self) -> Vec<(String, String)> {
        use support::aws_front::query_param;
        self.front
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(op, _)| op == "CreateDBInstance" || op == "ModifyDBInstance")
            .filter_map(|(op, body)| {
                query_param(body, "MasterUserPassword").map(|p| (op.clone(), p))
            })
            .collect()
    }

    fn last_sent(&self) -> Option<String> {
        self.sent_to_rds().last().map(|s| s.1.clone())
    }

    async fn read(&self, secret: &str) -> String {
        self.secrets
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{secret}: {e:?}"))
            .secret_string()
            .unwrap()
            .to_string()
    }

    /// (stored password, the URL), after checking the URL carries the stored password.
    async fn stored(&self, prefix: &str) -> (String, String) {
        let pw = self.read(&format!("{prefix}/database-password")).await;
        let url = self.read(&format!("{prefix}/database-url")).await;
        let in_url = url
            .strip_prefix("postgresql://litellm:")
            .and_then(|r| r.split_once('@'))
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        assert!(
            pw.len() == 40 && in_url == pw,
            "{}: the database URL does not carry the stored password",
            self.name
        );
        (pw, url)
    }
}

/// The database password has one source of truth (`<prefix>/database-password`), and RDS and
/// `<prefix>/database-url` always hold what it holds: applied for real against moto (through a
/// front that keeps the password Terraform sent RDS, which no AWS API reads back), through a
/// replaced secret, a replaced database and a new password version.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_password_and_its_url_never_disagree_through_replacements() {
    let tmp = tempfile::tempdir().unwrap();
    let (tf, rc) = real_terraform(tmp.path());
    let root = copy_terraform(tmp.path());
    let (a, b, c) = tokio::join!(
        DbScenario::new(&root, &tf, &rc, "tfa"),
        DbScenario::new(&root, &tf, &rc, "tfb"),
        DbScenario::new(&root, &tf, &rc, "tfc"),
    );

    // A: the secret is replaced (a new prefix): a new password, and RDS is sent it.
    let secret_replaced = async {
        DbScenario::ok(&a.apply("tfa-one", "litellm", 1).await, "tfa create");
        let (first, _) = a.stored("tfa-one").await;
        assert_eq!(
            a.last_sent(),
            Some(first.clone()),
            "tfa: RDS was created with another password"
        );
        DbScenario::ok(&a.apply("tfa-two", "litellm", 1).await, "tfa new prefix");
        let (second, _) = a.stored("tfa-two").await;
        assert_ne!(first, second, "a replaced secret holds a new password");
        assert_eq!(
            a.sent_to_rds().last(),
            Some(&("ModifyDBInstance".to_string(), second.clone())),
            "tfa: the replaced secret's password was not sent to RDS"
        );
        // The old secrets went at once (no recovery window: a re-create can make them again),
        // the new ones are encrypted with the stack's key, which outlives a destroy longest.
        for old in ["tfa-one/database-password", "tfa-one/database-url"] {
            let gone = a.secrets.describe_secret().secret_id(old).send().await;
            assert!(gone.is_err(), "{old} is still there");
        }
        let show = a.terraform(&["show", "-json"]).await;
        DbScenario::ok(&show, "tfa show");
        let state: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        let secrets = state["values"]["root_module"]["child_modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["address"] == "module.secrets")
            .unwrap()["resources"]
            .as_array()
            .unwrap()
            .clone();
        let key = secrets
            .iter()
            .find(|r| r["address"] == "module.secrets.aws_kms_key.secrets")
            .unwrap();
        assert_eq!(key["values"]["deletion_window_in_days"], 30);
        for name in ["database_password", "database_url"] {
            let secret = secrets
                .iter()
                .find(|r| {
                    r["address"] == format!("module.secrets.aws_secretsmanager_secret.{name}")
                })
                .unwrap();
            assert_eq!(secret["values"]["recovery_window_in_days"], 0, "{name}");
            assert_eq!(
                secret["values"]["kms_key_id"], key["values"]["arn"],
                "{name}"
            );
        }
        // Nothing secret reached the state.
        let text = show.stdout.iter().map(|b| *b as char).collect::<String>();
        assert!(!text.contains(&second), "the password is in the state");
    };
    // B: the database is replaced (a new database name forces it): created with the stored
    // password, and the URL names the new database with that same password.
    let database_replaced = async {
        DbScenario::ok(&b.apply("tfb", "litellm", 1).await, "tfb create");
        let (first, _) = b.stored("tfb").await;
        DbScenario::ok(&b.apply("tfb", "litellm2", 1).await, "tfb new database");
        let (after, url) = b.stored("tfb").await;
        assert_eq!(
            first, after,
            "replacing the database does not change the stored password"
        );
        assert!(
            url.ends_with("/litellm2?sslmode=require"),
            "the URL names the old database"
        );
        let sent = b.sent_to_rds();
        let creates: Vec<_> = sent
            .iter()
            .filter(|(op, _)| op == "CreateDBInstance")
            .collect();
        assert_eq!(
            creates.len(),
            2,
            "tfb: the database was not replaced: {:?}",
            sent.iter().map(|s| &s.0).collect::<Vec<_>>()
        );
        assert_eq!(
            &creates[1].1, &after,
            "tfb: the new database got another password"
        );
    };
    // C: a new password (db_password_version bumped): stored, sent to RDS, written into the
    // URL; and a re-plan after it sends nothing again.
    let version_bumped = async {
        DbScenario::ok(&c.apply("tfc", "litellm", 1).await, "tfc create");
        let (first, _) = c.stored("tfc").await;
        DbScenario::ok(&c.apply("tfc", "litellm", 2).await, "tfc version 2");
        let (after, _) = c.stored("tfc").await;
        assert_ne!(after, first, "version 2 stored a new password");
        assert_eq!(
            c.sent_to_rds().last(),
            Some(&("ModifyDBInstance".to_string(), after)),
            "tfc: the new password was not sent to RDS"
        );
        // Nothing changed since: the plan writes neither secret nor the password.
        let vars = c.vars("tfc", "litellm", 2);
        let mut args = vec!["plan", "-input=false", "-no-color", "-out=again.tfplan"];
        args.extend(vars.iter().map(String::as_str));
        DbScenario::ok(&c.terraform(&args).await, "tfc plan");
        let show = c.terraform(&["show", "-json", "again.tfplan"]).await;
        DbScenario::ok(&show, "tfc show");
        let json: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        for rc in json["resource_changes"].as_array().unwrap() {
            let actions = &rc["change"]["actions"];
            if actions == &serde_json::json!(["no-op"]) || actions == &serde_json::json!(["read"]) {
                continue;
            }
            let addr = rc["address"].as_str().unwrap();
            assert!(
                !addr.contains("aws_secretsmanager_secret"),
                "a re-plan changes {addr}"
            );
            if addr.ends_with("aws_db_instance.this") {
                assert_eq!(
                    rc["change"]["before"]["password_wo_version"],
                    rc["change"]["after"]["password_wo_version"],
                    "a re-plan re-sends the password"
                );
            }
        }
    };
    tokio::join!(secret_replaced, database_replaced, version_bumped);
}

/// China and GovCloud: the root module plans (against moto) with every ARN in the region's
/// partition and CloudWatch Logs' principal under China's DNS suffix; and Terraform itself
/// refuses cluster admins EKS would refuse at apply (a session ARN, a principal twice).
#[tokio::test(flavor = "multi_thread")]
async fn plans_in_china_and_govcloud_use_their_partition_and_bad_admins_are_refused() {
    let (moto, _guard) = Moto::lock().await;
    let eks = eks_addon_catalog(moto);
    let tmp = tempfile::tempdir().unwrap();
    let (tf, rc) = real_terraform(tmp.path());
    let dir = copy_terraform(tmp.path());
    std::fs::write(
        dir.join("backend_override.tf"),
        "terraform {\n  backend \"local\" {}\n}\n",
    )
    .unwrap();
    let run = |region: &str, args: &[&str]| {
        std::process::Command::new(&tf)
            .args(args)
            .current_dir(&dir)
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_ENDPOINT_URL_EKS", &eks.url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", region)
            .output()
            .expect("run terraform")
    };
    let init = run("us-east-1", &["init", "-input=false", "-no-color"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    // moto has no public AMI parameters in these regions: the bastion (whose ARNs come from
    // the same partition variable) is left out.
    for (region, partition) in [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")] {
        let out = format!("-out={region}.tfplan");
        let var = format!("-var=aws_region={region}");
        let plan = run(
            region,
            &[
                "plan",
                "-input=false",
                "-no-color",
                "-var-file=environments/dev.tfvars",
                &var,
                "-var=create_bastion=false",
                &out,
            ],
        );
        assert!(
            plan.status.success(),
            "{region}: {}{}",
            String::from_utf8_lossy(&plan.stdout),
            String::from_utf8_lossy(&plan.stderr)
        );
        let show = run(region, &["show", "-json", &format!("{region}.tfplan")]);
        assert!(show.status.success());
        let text =
            serde_json::from_slice::<serde_json::Value>(&show.stdout).unwrap()["planned_values"]
                .to_string();
        let arns: Vec<&str> = text
            .match_indices("arn:")
            .map(|(i, _)| &text[i..])
            .map(|a| a.split(['"', '\\', ' ']).next().unwrap())
            .collect();
        assert!(arns.len() >= 8, "{region}: too few ARNs to judge: {arns:?}");
        let wrong: Vec<_> = arns
            .iter()
            .filter(|a| a.split(':').nth(1) != Some(partition))
            .collect();
        assert!(
            wrong.is_empty(),
            "{region}: ARNs outside {partition}: {wrong:?}"
        );
        let logs = format!(
            "logs.{region}.{}",
            deployctl::platform::aws::dns_suffix_of(region)
        );
        assert!(
            text.contains(&logs),
            "{region}: the logs key policy does not name {logs}"
        );
    }

    for (admins, needle) in [
        (
            r#"["arn:aws:sts::123456789012:assumed-role/Admin/alice"]"#,
            "assumed-role session ARN",
        ),
        (
            r#"["arn:aws:iam::123456789012:role/Ops", "arn:aws:iam::123456789012:role/ops"]"#,
            "lists a principal twice",
        ),
    ] {
        let var = format!("-var=cluster_admin_arns={admins}");
        let plan = run(
            "us-east-1",
            &[
                "plan",
                "-input=false",
                "-no-color",
                "-var-file=environments/dev.tfvars",
                &var,
            ],
        );
        // Terraform wraps its messages: compare with the whitespace folded.
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&plan.stdout),
            String::from_utf8_lossy(&plan.stderr)
        )
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
        assert!(
            !plan.status.success() && said.contains(needle),
            "{admins}: {said}"
        );
    }
}

/// Every file under `dir`, recursively (without `.terraform`).
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != ".terraform") {
                out.extend(walkdir(&p));
            }
        } else {
            out.push(p);
        }
    }
    out
}

/// EKS's add-on catalog for a plan (moto has none): the four add-ons of modules/eks, each
/// with a default version for every Kubernetes version the calendar knows. Terraform reaches
/// it through `AWS_ENDPOINT_URL_EKS`; everything else goes to moto.
fn eks_addon_catalog(moto: &Moto) -> support::eks_front::EksFront {
    let front = support::eks_front::EksFront::start(&moto.url, "https://unused");
    let compat: Vec<(String, bool)> = (29..=40).map(|m| (format!("1.{m}"), true)).collect();
    front.set_addons(
        ["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"]
            .iter()
            .map(|n| support::eks_front::Addon {
                name: n.to_string(),
                installed: String::new(),
                versions: vec![("v1.20.4-eksbuild.2".into(), compat.clone())],
            })
            .collect(),
    );
    front
}
