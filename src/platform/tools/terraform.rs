//! The terraform CLI in one working directory, and pure readers of what it prints: the plan
//! summary, the outputs deployctl carries on, what a destroy removes, and which failures are
//! not the configuration's fault. Every call runs with TF_IN_AUTOMATION=1 and TF_INPUT=0 (plus
//! `-input=false` where the subcommand takes it), streams its output, and a failure names the
//! command and the tail of its stderr.

use super::{Process, ProcessError, Stream};
use crate::config::Settings;
use crate::error::UserError;
use crate::ui::Ui;
use anyhow::{Context as _, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Oldest Terraform the module works with (write-only attributes).
const MIN_VERSION: (u64, u64) = (1, 11);

const BACKEND_FILE: &str = "backend.hcl";

/// The example backend's bucket: refuse it rather than init against a bucket nobody owns.
const EXAMPLE_BUCKET_MARK: &str = "REPLACE-with";

/// Outputs of the root module deployctl reads after an apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub cluster: Option<String>,
    pub endpoint: Option<String>,
    pub oidc_issuer: Option<String>,
    pub rds_address: Option<String>,
    pub configure_kubectl: Option<String>,
    pub secrets_prefix: Option<String>,
}

impl Outputs {
    /// From `terraform output -json`: `{name: {value, type, sensitive}}`. Sensitive outputs
    /// are never read.
    pub fn parse(json: &Value) -> Outputs {
        let get = |name: &str| {
            let o = json.get(name)?;
            if o.get("sensitive").and_then(Value::as_bool) == Some(true) {
                return None;
            }
            o.get("value")?.as_str().map(str::to_string)
        };
        Outputs {
            region: get("aws_region"),
            account_id: get("aws_account_id"),
            cluster: get("eks_cluster_name"),
            endpoint: get("eks_cluster_endpoint"),
            oidc_issuer: get("eks_cluster_oidc_issuer"),
            rds_address: get("rds_address"),
            configure_kubectl: get("configure_kubectl"),
            secrets_prefix: get("secrets_prefix"),
        }
    }

    /// Carry the outputs into the run's settings (region, cluster, account).
    pub fn apply_to(&self, s: &mut Settings) {
        if let Some(r) = &self.region {
            s.region = r.clone();
        }
        if let Some(c) = &self.cluster {
            s.cluster = c.clone();
        }
        if let Some(a) = &self.account_id {
            s.account_id = Some(a.clone());
        }
        if let Some(i) = &self.oidc_issuer {
            s.oidc_provider = Some(i.trim_start_matches("https://").to_string());
        }
        // The prefix Terraform wrote `<prefix>/database-url` under (checked against a given
        // SECRETS_PREFIX before the plan, so this only fills in the default).
        if let Some(p) = &self.secrets_prefix
            && crate::config::check_secrets_prefix(p).is_ok()
        {
            s.secrets_prefix = p.clone();
        }
    }
}

/// What a plan would do, from `terraform show -json`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub replace: Vec<String>,
    pub delete: Vec<String>,
}

impl PlanSummary {
    pub fn parse(plan: &Value) -> PlanSummary {
        let mut s = PlanSummary::default();
        for rc in plan["resource_changes"].as_array().into_iter().flatten() {
            let address = rc["address"].as_str().unwrap_or("?").to_string();
            let actions: Vec<&str> = rc["change"]["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match actions.as_slice() {
                ["create"] => s.create += 1,
                ["update"] => s.update += 1,
                ["delete"] => s.delete.push(address),
                [_, _] => s.replace.push(address),
                _ => {}
            }
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.create == 0 && self.update == 0 && self.replace.is_empty() && self.delete.is_empty()
    }

    pub fn line(&self) -> String {
        format!(
            "{} to add, {} to change, {} to replace, {} to destroy",
            self.create,
            self.update,
            self.replace.len(),
            self.delete.len()
        )
    }
}

/// The terraform CLI in one working directory.
pub struct Terraform<'a> {
    dir: PathBuf,
    ui: &'a Ui,
    settings: &'a Settings,
}

impl<'a> Terraform<'a> {
    /// Where this Terraform's progress and warnings are printed.
    pub fn ui(&self) -> &'a Ui {
        self.ui
    }

    pub fn new(settings: &'a Settings, ui: &'a Ui) -> Self {
        Terraform {
            dir: settings.project_dir.join("terraform"),
            ui,
            settings,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn process<I, S>(&self, args: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        // Every terraform call is bounded; the limits are generous (an EKS cluster and its
        // database take well under an hour to create or destroy) and a timeout names the
        // command.
        let limit = match args.first().and_then(|a| a.to_str()) {
            Some("apply") | Some("destroy") => Duration::from_secs(3 * 3600),
            Some("init") | Some("plan") => Duration::from_secs(30 * 60),
            _ => Duration::from_secs(5 * 60),
        };
        Process::new("terraform")
            .args(args)
            .cwd(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .timeout(limit)
    }

    /// Run, streaming every line under a progress line; fail with the command, the exit code
    /// and the tail of stderr, plus `help`.
    async fn stream(&self, what: &str, p: Process, help: &str) -> Result<String> {
        let started = Instant::now();
        let progress = self.ui.step_started("terraform", what);
        let ui = self.ui;
        let show = self.settings.verbosity >= 0;
        let run = p.stream(|which, line| {
            if show || which == Stream::Stderr {
                ui.println(&format!("  │ {line}"));
            }
        });
        tokio::pin!(run);
        // An interrupt never kills deployctl under a running terraform: terraform (its own
        // process group) gets one SIGINT from `interrupt`, stops at a safe point and saves its
        // state; deployctl waits for it, then stops with 130. A second interrupt is
        // terraform's own "exit now".
        let _graceful = crate::interrupt::graceful();
        let ctrl_c = crate::interrupt::wait();
        tokio::pin!(ctrl_c);
        let hard = crate::interrupt::wait_hard();
        tokio::pin!(hard);
        let (mut interrupted, mut ended) = (false, false);
        let out = loop {
            tokio::select! {
                out = &mut run => break out,
                _ = &mut ctrl_c, if !interrupted => {
                    interrupted = true;
                    self.ui.warn(&format!(
                        "interrupted ({}): waiting for terraform {what} to stop cleanly (it saves its state; at most {}). Interrupt again to stop it now.",
                        crate::interrupt::reason(),
                        crate::ui::human_duration(p.limit().unwrap_or_default()),
                    ));
                }
                _ = &mut hard, if interrupted && !ended => {
                    ended = true;
                    self.ui.warn(&crate::interrupt::hard_notice());
                }
            }
        };
        progress.finish();
        let out = out.map_err(|e| self.tool_error(e))?;
        if interrupted {
            let mut err = UserError::failed(
                format!("interrupted during terraform {what}; nothing further was run"),
                "run the same command again: terraform continues from its saved state (a stale lock: `terraform -chdir=terraform force-unlock <id>`)",
            );
            err.code = crate::error::exit::INTERRUPTED;
            return Err(err.into());
        }
        // `plan -detailed-exitcode` exits 2 for "changes present".
        let ok = out.success() || (out.code == Some(2) && what.starts_with("plan"));
        self.ui
            .step_finished("terraform", ok, what, started.elapsed());
        if ok {
            return Ok(out.stdout);
        }
        // Its output was streamed above: the error names the failure, not a second copy.
        let code = out
            .code
            .map(|c| format!("exit code {c}"))
            .unwrap_or_else(|| "a signal".into());
        let text = format!("{}\n{}", out.stderr, out.stdout);
        Err(match classify_failure(&text) {
            Some((why, fix)) => UserError::failed(
                format!("terraform {what} failed ({code}): {why} (terraform's output is above)"),
                fix,
            ),
            None => UserError::failed(
                format!("terraform {what} failed ({code}); terraform's output is above"),
                help,
            ),
        }
        .into())
    }

    /// Run quietly, capturing stdout (show -json, output -json, version).
    async fn capture(&self, p: Process, help: &str) -> Result<String> {
        let out = p.output().await.map_err(|e| self.tool_error(e))?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(UserError::failed(p.failed(&out).to_string(), help).into())
        }
    }

    fn tool_error(&self, e: ProcessError) -> anyhow::Error {
        match e {
            ProcessError::NotFound { .. } => UserError::failed(
                "`terraform` was not found on PATH",
                "install Terraform 1.11 or later (https://developer.hashicorp.com/terraform/install), then re-run",
            )
            .into(),
            other => other.into(),
        }
    }

    /// terraform is installed and new enough.
    pub async fn check_version(&self) -> Result<String> {
        let out = self
            .capture(
                self.process(["version", "-json"]),
                "check the terraform installation",
            )
            .await?;
        let v: Value = serde_json::from_str(&out).context("reading `terraform version -json`")?;
        let version = v["terraform_version"].as_str().unwrap_or("").to_string();
        let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < MIN_VERSION {
            return Err(UserError::failed(
                format!(
                    "terraform {version} is too old: the module needs {}.{} or later (write-only attributes keep the database password out of state)",
                    MIN_VERSION.0, MIN_VERSION.1
                ),
                "install a newer Terraform (https://developer.hashicorp.com/terraform/install)",
            )
            .into());
        }
        Ok(version)
    }

    fn data_dir(&self) -> PathBuf {
        match &self.settings.tf_data_dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => self.dir.join(d),
            None => self.dir.join(".terraform"),
        }
    }

    /// Why `init` must run, or None when the working directory is initialised for this backend
    /// file and these modules.
    pub fn init_reason(&self) -> Option<&'static str> {
        let data = self.data_dir();
        let record = data.join("terraform.tfstate");
        let Ok(record_meta) = std::fs::metadata(&record) else {
            return Some("not initialised");
        };
        if !data.join("modules/modules.json").exists() {
            return Some("modules not installed");
        }
        if !self.dir.join(".terraform.lock.hcl").exists() {
            return Some("no provider lock file");
        }
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let record_time = record_meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if mtime(&self.dir.join(BACKEND_FILE)).is_some_and(|t| t > record_time) {
            return Some("backend.hcl changed");
        }
        None
    }

    /// The backend file exists and is not the example.
    pub fn check_backend(&self) -> Result<PathBuf> {
        let file = self.dir.join(BACKEND_FILE);
        let shown = file.display();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(UserError::usage(
                    format!("no Terraform state backend: {shown} does not exist"),
                    format!(
                        "copy {0}/backend.hcl.example to {shown}, set your S3 bucket (versioned), then re-run",
                        self.dir.display()
                    ),
                )
                .into());
            }
            Err(e) => return Err(e).with_context(|| format!("reading {shown}")),
        };
        if text.contains(EXAMPLE_BUCKET_MARK) {
            return Err(UserError::usage(
                format!("{shown} still names the example bucket"),
                format!("set `bucket` in {shown} to your state bucket, then re-run"),
            )
            .into());
        }
        Ok(file)
    }

    /// `init` when needed (first run, changed backend file, missing modules or lock file).
    pub async fn init_if_needed(&self) -> Result<()> {
        let backend = self.check_backend()?;
        let Some(reason) = self.init_reason() else {
            self.ui.detail("terraform: already initialised");
            return Ok(());
        };
        let mut args: Vec<OsString> =
            vec!["init".into(), "-input=false".into(), "-no-color".into()];
        let mut flag = OsString::from("-backend-config=");
        flag.push(backend.as_os_str());
        args.push(flag);
        if reason == "backend.hcl changed" {
            args.push("-reconfigure".into());
        }
        self.stream(
            &format!("init ({reason})"),
            self.process(args),
            "check terraform/backend.hcl (bucket, region) and your AWS credentials, then re-run",
        )
        .await?;
        Ok(())
    }

    pub async fn validate(&self) -> Result<()> {
        self.stream(
            "validate",
            self.process(["validate", "-no-color"]),
            "fix the configuration error above, then re-run",
        )
        .await?;
        Ok(())
    }

    /// `plan -out` into `dir`, then `show -json` of it (read once; the callers summarise
    /// it as a `PlanSummary` or as `DestroyFacts`).
    pub async fn plan(&self, var_file: &Path, dir: &Path, destroy: bool) -> Result<Planned> {
        let file = dir.join(if destroy {
            "destroy.tfplan"
        } else {
            "infra.tfplan"
        });
        let mut args: Vec<OsString> = vec![
            "plan".into(),
            "-input=false".into(),
            "-no-color".into(),
            "-detailed-exitcode".into(),
        ];
        if destroy {
            args.push("-destroy".into());
        }
        args.push(flag_with("-var-file=", var_file));
        args.push(flag_with("-out=", &file));
        let what = if destroy { "plan -destroy" } else { "plan" };
        self.stream(
            what,
            self.process(args),
            "fix the error above (variables in the tfvars file, AWS credentials), then re-run `deployctl infrastructure-plan`",
        )
        .await?;
        let shown = self
            .capture(
                self.process(vec![
                    OsString::from("show"),
                    "-json".into(),
                    file.clone().into(),
                ]),
                "re-run; the plan file could not be read",
            )
            .await?;
        let json: Value = serde_json::from_str(&shown).context("reading `terraform show -json`")?;
        Ok(Planned { file, json })
    }

    /// `apply` of exactly this plan file.
    pub async fn apply(&self, plan_file: &Path, help: &str) -> Result<()> {
        crate::interrupt::changes_begin();
        self.stream(
            "apply",
            self.process(vec![
                OsString::from("apply"),
                "-input=false".into(),
                "-no-color".into(),
                plan_file.into(),
            ]),
            help,
        )
        .await?;
        Ok(())
    }

    /// `state rm ADDRESS`: Terraform forgets the resource; it stays where it is.
    pub async fn state_rm(&self, address: &str) -> Result<()> {
        self.stream(
            "state rm",
            self.process(["state", "rm", address]),
            "nothing was destroyed; re-run `deployctl infrastructure-destroy`",
        )
        .await?;
        Ok(())
    }

    /// `import ADDRESS ID`: the resource is Terraform's again.
    pub async fn import(&self, var_file: &Path, address: &str, id: &str) -> Result<()> {
        self.stream(
            "import",
            self.process(vec![
                OsString::from("import"),
                "-input=false".into(),
                "-no-color".into(),
                flag_with("-var-file=", var_file),
                address.into(),
                id.into(),
            ]),
            &format!(
                "take it back by hand: terraform -chdir=terraform import -var-file={} '{address}' {id}",
                var_file.display()
            ),
        )
        .await?;
        Ok(())
    }

    pub async fn outputs(&self) -> Result<Outputs> {
        let out = self
            .capture(
                self.process(["output", "-json"]),
                "check the Terraform state backend, then run `deployctl infrastructure`",
            )
            .await?;
        let json: Value = if out.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&out).context("reading `terraform output -json`")?
        };
        Ok(Outputs::parse(&json))
    }
}

/// What a failed terraform call's output says went wrong, when it is one of the failures
/// that are not the configuration's fault: the registry or network, the state backend, the
/// credentials. `(why, what to do)`.
pub fn classify_failure(output: &str) -> Option<(&'static str, &'static str)> {
    let has = |needles: &[&str]| needles.iter().any(|n| output.contains(n));
    // Credentials first: the AWS provider's credential errors name the registry
    // (`provider["registry.terraform.io/hashicorp/aws"]`, its docs link) and, when the
    // instance metadata service is tried from a laptop, a network error too.
    if has(&[
        "No valid credential sources found",
        "failed to refresh cached credentials",
        "ExpiredToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "get identity: get credentials",
    ]) {
        return Some((
            "the AWS credentials were refused or are missing",
            "check them with `aws sts get-caller-identity` (pass --profile or set AWS_PROFILE; `aws sso login` for SSO), then re-run",
        ));
    }
    if has(&[
        "S3 bucket does not exist",
        "NoSuchBucket",
        "Error configuring S3 Backend",
        "Failed to get existing workspaces",
        "Error loading state",
        "Error acquiring the state lock",
    ]) {
        return Some((
            "the S3 state backend could not be used",
            "check terraform/backend.hcl (bucket, key, region) and that the bucket exists and is readable with these credentials; a stale lock: `terraform -chdir=terraform force-unlock <id>`",
        ));
    }
    // The committed lock file pins the provider's checksums: a provider (or mirror) whose
    // package does not match them is refused.
    if has(&[
        "doesn't match any of the checksums previously recorded in the dependency lock file",
        "does not match any of the checksums",
        "the current package for registry.terraform.io/hashicorp/aws",
    ]) {
        return Some((
            "the AWS provider package does not match the checksums in terraform/.terraform.lock.hcl",
            "use the provider the lock file pins (hashicorp/aws 5.100.0 from the registry or an unaltered mirror); to move to another version on purpose, see \"The provider lock file\" in the README (`terraform providers lock -platform=...`)",
        ));
    }
    if has(&[
        "Failed to query available provider packages",
        "Failed to install provider",
        "could not connect to registry.terraform.io",
        "Failed to download module",
        "registry.terraform.io: ",
        "Invalid provider registry host",
    ]) || (has(&["registry.terraform.io", "releases.hashicorp.com"])
        && has(&[
            "dial tcp",
            "no such host",
            "i/o timeout",
            "connection refused",
            "TLS handshake timeout",
            "Client.Timeout",
        ]))
    {
        return Some((
            "the provider registry could not be reached (network, proxy or firewall)",
            "check the network or proxy (HTTPS_PROXY/NO_PROXY are passed to terraform), or point terraform at a provider mirror (`provider_installation` in ~/.terraformrc or TF_CLI_CONFIG_FILE), then re-run",
        ));
    }
    // The uploads bucket is created with force_destroy off: people's files stop a destroy.
    if has(&["BucketNotEmpty"]) {
        return Some((
            "the OpenWebUI uploads bucket still holds files (and their old versions), which a destroy never deletes",
            "keep them elsewhere first (`aws s3 sync s3://<bucket> <dir>`), then empty the bucket including its versions (S3 console: Empty) and run `deployctl infrastructure-destroy` again; `terraform -chdir=terraform output openwebui_uploads_bucket` names it",
        ));
    }
    // RDS refused the change that carried a new master password: the provider records the new
    // password version anyway, so the next apply would not re-send it (modules/secrets).
    if has(&["updating RDS DB Instance", "modifying RDS DB Instance"]) {
        return Some((
            "RDS refused a change to the database; if it carried a new master password, RDS may still have the old one",
            "fix the cause above, then give both sides a new password in one apply: `terraform -chdir=terraform apply -var-file=<your tfvars> -replace=module.secrets.aws_secretsmanager_secret_version.database_password` (then `deployctl litellm` to restart LiteLLM on it)",
        ));
    }
    None
}

/// A saved plan and what `terraform show -json` says of it.
pub struct Planned {
    pub file: PathBuf,
    pub json: Value,
}

fn flag_with(flag: &str, path: &Path) -> OsString {
    let mut f = OsString::from(flag);
    f.push(path.as_os_str());
    f
}

/// The confirmation screen's groups, in display order.
const GROUPS: [&str; 7] = [
    "EKS cluster, node groups and every workload on them",
    "Database (RDS)",
    "Network (VPC, subnets, NAT gateways, flow logs)",
    "Secrets and KMS keys",
    "Bastion",
    "OpenWebUI uploads (S3; the destroy stops while the bucket holds files)",
    "Other",
];

/// What a destroy removes, grouped for the confirmation screen.
#[derive(Debug, Default)]
pub struct DestroyFacts {
    /// Keyed by the group's place in GROUPS (display order).
    pub groups: BTreeMap<usize, Vec<String>>,
    /// RDS instances with deletion protection on (the destroy would fail half-way).
    pub protected_databases: Vec<String>,
    /// RDS instances and the final snapshot each gets (None: no snapshot, data lost).
    pub databases: Vec<(String, Option<String>)>,
    /// KMS key ARN of each database (by identifier).
    pub database_keys: BTreeMap<String, String>,
    /// KMS keys this destroy schedules for deletion: ARN → waiting period in days.
    pub deleted_keys: BTreeMap<String, u64>,
    /// Each planned KMS key's resource address (ARN → address).
    pub key_addresses: BTreeMap<String, String>,
    pub count: usize,
}

impl DestroyFacts {
    pub fn parse(plan: &Value) -> DestroyFacts {
        let mut f = DestroyFacts::default();
        for rc in plan["resource_changes"].as_array().into_iter().flatten() {
            let deletes = rc["change"]["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "delete"));
            if !deletes {
                continue;
            }
            let address = rc["address"].as_str().unwrap_or("?").to_string();
            let kind = rc["type"].as_str().unwrap_or("");
            let before = &rc["change"]["before"];
            if kind == "aws_db_instance" {
                let id = before["identifier"]
                    .as_str()
                    .unwrap_or(&address)
                    .to_string();
                if before["deletion_protection"].as_bool() == Some(true) {
                    f.protected_databases.push(id.clone());
                }
                let snapshot = if before["skip_final_snapshot"].as_bool() == Some(true) {
                    None
                } else {
                    before["final_snapshot_identifier"]
                        .as_str()
                        .map(str::to_string)
                };
                if let Some(key) = before["kms_key_id"].as_str() {
                    f.database_keys.insert(id.clone(), key.to_string());
                }
                f.databases.push((id, snapshot));
            }
            if kind == "aws_kms_key"
                && let Some(arn) = before["arn"].as_str()
            {
                let days = before["deletion_window_in_days"].as_u64().unwrap_or(30);
                f.deleted_keys.insert(arn.to_string(), days);
                f.key_addresses.insert(arn.to_string(), address.clone());
            }
            let group = if address.contains("module.bastion") {
                4
            } else if kind.starts_with("aws_eks") || address.contains("module.eks") {
                0
            } else if address.contains("module.rds") {
                1
            } else if address.contains("module.secrets") || kind.starts_with("aws_kms") {
                3
            } else if address.contains("module.vpc") {
                2
            } else if address.contains("module.uploads") {
                5
            } else {
                6
            };
            f.groups.entry(group).or_default().push(address);
            f.count += 1;
        }
        f
    }

    /// The keys a destroy keeps: those that encrypt a database's final snapshot (a snapshot is
    /// restorable only while its key exists). `(arn, address, snapshot)`.
    pub fn retained_keys(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = Vec::new();
        for (id, snapshot) in &self.databases {
            let Some(snapshot) = snapshot else { continue };
            let Some(arn) = self.database_keys.get(id) else {
                continue;
            };
            let Some(address) = self.key_addresses.get(arn) else {
                continue;
            };
            if !out.iter().any(|(a, _, _)| a == arn) {
                out.push((arn.clone(), address.clone(), snapshot.clone()));
            }
        }
        out
    }

    /// The confirmation screen's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (group, addresses) in &self.groups {
            let name = GROUPS[*group];
            out.push_str(&format!("  {name}: {} resources\n", addresses.len()));
        }
        for (id, snapshot) in &self.databases {
            match snapshot {
                Some(s) => {
                    out.push_str(&format!(
                        "  Database {id}: a final snapshot `{s}` is taken; the live data goes\n"
                    ));
                    let key = self.database_keys.get(id);
                    if let Some(key) = key.filter(|k| self.key_addresses.contains_key(*k)) {
                        out.push_str(&format!(
                            "    The snapshot is encrypted with KMS key {key}: the destroy KEEPS that key (it is taken\n    out of Terraform's state first), so the snapshot stays restorable until you delete the key.\n"
                        ));
                    } else if let Some(key) = key {
                        out.push_str(&format!(
                            "    The snapshot is encrypted with KMS key {key} (not managed by this stack): it is\n    restorable as long as that key exists.\n"
                        ));
                    }
                }
                None => out.push_str(&format!(
                    "  Database {id}: NO final snapshot — its data is lost\n"
                )),
            }
        }
        out.push_str("  Terraform's database-url secret is deleted at once (its database goes too, so a re-create can make it again);\n  the secrets deployctl created are kept; the other KMS keys are deleted after their waiting period.\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_that_are_not_the_configurations_fault_are_named() {
        let registry =
            Some("the provider registry could not be reached (network, proxy or firewall)");
        let credentials = Some("the AWS credentials were refused or are missing");
        let backend = Some("the S3 state backend could not be used");
        for (output, want) in [
            (
                "Error: Failed to query available provider packages\n\nCould not retrieve the list of available versions for provider hashicorp/aws: could not connect to registry.terraform.io: failed to request discovery document: Get \"https://registry.terraform.io/.well-known/terraform.json\": dial tcp: lookup registry.terraform.io on 127.0.0.53:53: no such host",
                registry,
            ),
            (
                "Error: Failed to install provider\n\nError while installing hashicorp/aws v5.100.0: Get \"https://releases.hashicorp.com/terraform-provider-aws/5.100.0/x.zip\": net/http: TLS handshake timeout",
                registry,
            ),
            // The provider's credential error names the registry (its address and docs) and,
            // with the metadata service tried from a laptop, a network error: credentials.
            (
                "Error: No valid credential sources found\n\n  with provider[\"registry.terraform.io/hashicorp/aws\"],\n  on main.tf line 1, in provider \"aws\":\n\nPlease see https://registry.terraform.io/providers/hashicorp/aws\nfor more information about providing credentials.\n\nError: failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata, dial tcp 169.254.169.254:80: i/o timeout",
                credentials,
            ),
            (
                "Error: validating provider credentials: retrieving caller identity from STS: operation error STS: GetCallerIdentity, https response error StatusCode: 403, api error ExpiredToken: The security token included in the request is expired",
                credentials,
            ),
            (
                "Error: Failed to get existing workspaces: S3 bucket \"acme-tf-state\" does not exist.",
                backend,
            ),
            (
                "Error: Error acquiring the state lock\n\nLock Info:\n  ID: 1b2c",
                backend,
            ),
            (
                "Error: Failed to install provider\n\nError while installing hashicorp/aws v5.100.0: the local package for registry.terraform.io/hashicorp/aws 5.100.0 doesn't match any of the checksums previously recorded in the dependency lock file",
                Some(
                    "the AWS provider package does not match the checksums in terraform/.terraform.lock.hcl",
                ),
            ),
            (
                "Error: updating RDS DB Instance (litellm-prod): operation error RDS: ModifyDBInstance, https response error StatusCode: 400, api error InvalidDBInstanceState: Database instance is not in available state.",
                Some(
                    "RDS refused a change to the database; if it carried a new master password, RDS may still have the old one",
                ),
            ),
            (
                "Error: deleting S3 Bucket (openwebui-123456789012-us-east-1-3291dcc5): operation error S3: DeleteBucket, https response error StatusCode: 409, api error BucketNotEmpty: The bucket you tried to delete is not empty. You must delete all versions in the bucket.",
                Some(
                    "the OpenWebUI uploads bucket still holds files (and their old versions), which a destroy never deletes",
                ),
            ),
            (
                "Error: Unsupported argument\n\n  on main.tf line 12: An argument named \"foo\" is not expected here.",
                None,
            ),
        ] {
            assert_eq!(
                classify_failure(output).map(|(why, _)| why),
                want,
                "{output}"
            );
        }
    }

    #[test]
    fn plan_summary_counts_each_action() {
        let plan = json!({"resource_changes": [
            {"address": "a", "change": {"actions": ["create"]}},
            {"address": "b", "change": {"actions": ["update"]}},
            {"address": "c", "change": {"actions": ["delete", "create"]}},
            {"address": "d", "change": {"actions": ["delete"]}},
            {"address": "e", "change": {"actions": ["no-op"]}},
        ]});
        let s = PlanSummary::parse(&plan);
        assert_eq!(s.create, 1);
        assert_eq!(s.update, 1);
        assert_eq!(s.replace, vec!["c"]);
        assert_eq!(s.delete, vec!["d"]);
        assert_eq!(
            s.line(),
            "1 to add, 1 to change, 1 to replace, 1 to destroy"
        );
        assert!(PlanSummary::parse(&json!({})).is_empty());
    }

    #[test]
    fn outputs_skip_sensitive_values() {
        let o = Outputs::parse(&json!({
            "aws_region": {"value": "eu-west-1", "type": "string", "sensitive": false},
            "eks_cluster_name": {"value": "prod", "type": "string"},
            "rds_address": {"value": "db.example", "type": "string", "sensitive": true},
        }));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert_eq!(o.cluster.as_deref(), Some("prod"));
        assert_eq!(o.rds_address, None);
    }

    #[test]
    fn destroy_facts_group_and_flag_protected_databases() {
        let plan = json!({"resource_changes": [
            {"address": "module.eks.aws_eks_cluster.this", "type": "aws_eks_cluster",
             "change": {"actions": ["delete"], "before": {}}},
            {"address": "module.rds.aws_db_instance.this", "type": "aws_db_instance",
             "change": {"actions": ["delete"], "before": {
                 "identifier": "litellm-prod", "deletion_protection": true,
                 "skip_final_snapshot": false, "final_snapshot_identifier": "litellm-prod-final"}}},
            {"address": "module.vpc.aws_vpc.this", "type": "aws_vpc",
             "change": {"actions": ["no-op"], "before": {}}},
        ]});
        let f = DestroyFacts::parse(&plan);
        assert_eq!(f.count, 2);
        assert_eq!(f.protected_databases, vec!["litellm-prod"]);
        let text = f.render();
        assert!(text.contains("EKS cluster"), "{text}");
        assert!(
            text.contains("final snapshot `litellm-prod-final`"),
            "{text}"
        );
        assert!(!text.contains("Network"), "{text}");
    }
}
