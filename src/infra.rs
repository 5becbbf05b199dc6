//! `infrastructure`, `infrastructure-plan`, `infrastructure-destroy`: Terraform behind
//! deployctl's gates.
//!
//! Flow: tfvars check → backend check → `init` when needed → `validate` → `plan -out` into a
//! private temp dir → show → confirm → `apply` of exactly that plan file → `output -json`.
//! Every call runs with TF_IN_AUTOMATION=1 and TF_INPUT=0 (plus `-input=false` where the
//! subcommand takes it), streams its output, and a failure names the command and the tail of
//! its stderr.

use crate::config::Settings;
use crate::error::UserError;
use crate::prompt::Prompter;
use crate::tools::{Process, ProcessError, Stream};
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
const TFVARS: &str = "terraform.tfvars";
const TFVARS_EXAMPLE: &str = "terraform.tfvars.example";
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
        let mut interrupted = false;
        let out = loop {
            tokio::select! {
                out = &mut run => break out,
                _ = &mut ctrl_c, if !interrupted => {
                    interrupted = true;
                    self.ui.warn(&format!(
                        "interrupted: waiting for terraform {what} to stop cleanly (it saves its state)"
                    ));
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
    fn check_backend(&self) -> Result<PathBuf> {
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
const GROUPS: [&str; 6] = [
    "EKS cluster, node groups and every workload on them",
    "Database (RDS)",
    "Network (VPC, subnets, NAT gateways, flow logs)",
    "Secrets and KMS keys",
    "Bastion",
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
            } else {
                5
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

/// What a Terraform flow needs besides terraform itself.
/// Options of the Terraform commands.
#[derive(Debug, Default, Clone)]
pub struct TerraformOptions {
    /// `--var-file`: relative to terraform/ or absolute (else TFVARS_FILE, else
    /// terraform/terraform.tfvars).
    pub var_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// `complete` continues with the stack: helm must be there too.
    pub helm: bool,
    /// AWS credentials that STS accepts (the S3 backend and the plan need them).
    pub aws: bool,
    /// The cluster steps follow (`complete`): the cluster must be reachable from here.
    pub cluster: bool,
}

/// Every check a Terraform flow can fail on, all at once and before anything is asked or run:
/// terraform (present, new enough), the variables file, the state backend, and — per `needs`
/// — helm and the AWS credentials. A missing default tfvars file is not a problem for an
/// interactive run when it is the only one (the run then offers to create it); with other
/// problems it is listed with them, so nothing is edited before those are fixed.
pub async fn preflight(
    settings: &Settings,
    ui: &Ui,
    args: &TerraformOptions,
    interactive: bool,
    needs: Needs,
) -> Result<()> {
    let tf = Terraform::new(settings, ui);
    let terraform = async { tf.check_version().await.map(|_| ()) };
    let helm = async {
        if needs.helm {
            crate::tools::helm::Helm::new()
                .check_installed()
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    let aws = async {
        if needs.aws {
            crate::aws::Aws::load(settings)
                .await
                .account_id()
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    let (t, h, a) = tokio::join!(terraform, helm, aws);
    let tfvars = match tfvars_path(&tf, args, settings) {
        Ok(_) => Ok(()),
        Err(TfvarsMissing::Given(e)) => Err(e),
        Err(TfvarsMissing::Default(e)) => Err(e),
    };
    let backend = tf.check_backend().map(|_| ());
    let mut found: Vec<(&str, anyhow::Error)> = [
        ("terraform", t),
        ("tfvars", tfvars),
        ("backend", backend),
        ("helm", h),
        ("aws", a),
    ]
    .into_iter()
    .filter_map(|(name, r)| r.err().map(|e| (name, e)))
    .collect();
    // Alone, a missing default tfvars file is offered to be created (interactive runs).
    let default_missing = matches!(
        tfvars_path(&tf, args, settings),
        Err(TfvarsMissing::Default(_))
    );
    if interactive && default_missing && found.len() == 1 {
        return Ok(());
    }
    for (name, _) in &found {
        crate::error::failed_check(name);
    }
    match found.len() {
        0 => Ok(()),
        1 => Err(found.remove(0).1),
        n => {
            let mut message = format!("{n} problems before anything could start:");
            let mut help = Vec::new();
            let mut code = crate::error::exit::USAGE;
            for (i, (_, e)) in found.iter().enumerate() {
                message.push_str(&format!("\n  {}. {e:#}", i + 1));
                if let Some(h) = crate::error::help_of(e) {
                    help.push(format!("{}. {h}", i + 1));
                }
                if crate::error::code_of(e) != crate::error::exit::USAGE {
                    code = crate::error::exit::FAILED;
                }
            }
            let mut err = UserError::failed(message, help.join("\n      "));
            err.code = code;
            Err(err.into())
        }
    }
}

/// A plain value of a `name = value` line in an HCL file: a quoted string's content, or a bare
/// word (`true`, `12`).
fn hcl_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.split('#').next()?.trim();
        match value.strip_prefix('"') {
            Some(quoted) => Some(quoted[..quoted.find('"')?].to_string()),
            None => value
                .split_whitespace()
                .next()
                .filter(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
                .map(str::to_string),
        }
    })
}

/// A variable's value as Terraform will see it: the variables file's, else variables.tf's
/// default; with where it came from, for messages.
fn tfvar(tf_dir: &Path, var_file: &Path, name: &str) -> Option<(String, String)> {
    if let Some(v) = std::fs::read_to_string(var_file)
        .ok()
        .and_then(|t| hcl_value(&t, name))
    {
        return Some((v, var_file.display().to_string()));
    }
    let vars = std::fs::read_to_string(tf_dir.join("variables.tf")).ok()?;
    let block = vars.split(&format!("variable \"{name}\"")).nth(1)?;
    let block = block.split("\nvariable ").next()?;
    let default = hcl_value(block, "default")?;
    Some((
        default,
        format!("the default in {}", tf_dir.join("variables.tf").display()),
    ))
}

/// The Kubernetes version the variables file asks for (or variables.tf's default).
fn kubernetes_version(tf_dir: &Path, var_file: &Path) -> Option<(String, String)> {
    tfvar(tf_dir, var_file, "kubernetes_version")
}

/// `complete` goes on to the cluster steps: with a private endpoint and no bastion there is
/// no way in from outside the VPC, which would stop the run after a long apply. Refused before
/// anything is planned, with the three ways in.
pub fn check_api_path(tf_dir: &Path, var_file: &Path, settings: &Settings) -> Result<()> {
    if settings.api_access != crate::config::ApiAccess::Auto {
        // direct: the operator is inside the VPC; tunnel: they name a bastion of their own.
        return Ok(());
    }
    let yes = |name: &str| {
        tfvar(tf_dir, var_file, name).is_some_and(|(v, _)| v.eq_ignore_ascii_case("true"))
    };
    if yes("endpoint_public_access") || yes("create_bastion") {
        return Ok(());
    }
    Err(UserError::usage(
        format!(
            "{} makes the API endpoint private and creates no bastion: after Terraform, the cluster steps could not reach the cluster from here; nothing was planned",
            var_file.display()
        ),
        "set create_bastion = true (deployctl then tunnels through it over SSM), or endpoint_public_access = true with public_access_cidrs = [\"<your address>/32\"]; \
         from inside the VPC set API_ACCESS=direct, or API_ACCESS=tunnel when the cluster already has a bastion from `deployctl bastion create`",
    )
    .into())
}

/// One prefix for the whole stack: the variables file's `secrets_prefix` (or variables.tf's
/// default) is where Terraform writes `<prefix>/database-url`, and where the secrets step,
/// the ExternalSecrets and the IAM policy look. A SECRETS_PREFIX that differs is refused
/// before anything is planned; without SECRETS_PREFIX the variables file decides (and
/// `complete` carries it into the stack through the outputs).
pub fn check_secrets_prefix(
    tf_dir: &Path,
    var_file: &Path,
    settings: &Settings,
    ui: &Ui,
) -> Result<()> {
    let Some((prefix, from)) = tfvar(tf_dir, var_file, "secrets_prefix") else {
        return Ok(());
    };
    if let Err(e) = crate::config::check_secrets_prefix(&prefix) {
        return Err(UserError::usage(
            format!("secrets_prefix in {from}: {}", e.message),
            "set secrets_prefix to a plain path such as \"litellm\" or \"prod/litellm\"",
        )
        .into());
    }
    if settings.secrets_prefix_given && settings.secrets_prefix != prefix {
        return Err(UserError::usage(
            format!(
                "SECRETS_PREFIX is `{}` but secrets_prefix is `{prefix}` ({from}): Terraform would write {prefix}/database-url while the stack looks under {}/; nothing was planned",
                settings.secrets_prefix, settings.secrets_prefix
            ),
            format!(
                "use one prefix: set secrets_prefix = \"{}\" in {}, or SECRETS_PREFIX={prefix} (or unset it)",
                settings.secrets_prefix,
                var_file.display()
            ),
        )
        .into());
    }
    if !settings.secrets_prefix_given && settings.secrets_prefix != prefix {
        ui.detail(&format!("secrets prefix `{prefix}` (from {from})"));
    }
    Ok(())
}

/// Before a plan or an apply (never a destroy): EKS creates no cluster of a version past
/// extended support, and a version past standard support costs extended-support fees.
pub fn check_kubernetes_version(tf_dir: &Path, var_file: &Path, ui: &Ui) -> Result<()> {
    use crate::eks_versions::{self, Support};
    let Some((version, from)) = kubernetes_version(tf_dir, var_file) else {
        return Ok(());
    };
    let today = eks_versions::today();
    let current = eks_versions::in_standard_support(today);
    let suggest = current
        .last()
        .map(|v| format!("set kubernetes_version = \"{v}\" in {}", var_file.display()))
        .unwrap_or_else(|| format!("set kubernetes_version in {}", var_file.display()));
    match eks_versions::support(&version, today) {
        Support::Standard { .. } => Ok(()),
        Support::Extended {
            standard_ended,
            until,
        } => {
            ui.warn(&format!(
                "kubernetes_version {version} ({from}) left EKS standard support on {standard_ended}: extended support is billed per cluster hour and ends {until}; {suggest}"
            ));
            Ok(())
        }
        Support::Newer { newest_known } => {
            ui.warn(&format!(
                "kubernetes_version {version} ({from}) is newer than deployctl's EKS calendar (newest {newest_known}): its support dates are not checked"
            ));
            Ok(())
        }
        Support::Ended { on } => Err(UserError::usage(
            format!(
                "kubernetes_version {version} ({from}) left EKS extended support on {on}: EKS creates no cluster of it and upgrades existing ones; nothing was planned"
            ),
            format!(
                "{suggest} (in standard support today: {}; calendar: {})",
                current.join(", "),
                tf_dir.join("eks-versions.json").display()
            ),
        )
        .into()),
        Support::Unknown => Err(UserError::usage(
            format!(
                "kubernetes_version `{version}` ({from}) is not an EKS version deployctl knows (it is too old or not written like \"1.35\"); nothing was planned"
            ),
            format!(
                "{suggest} (in standard support today: {})",
                current.join(", ")
            ),
        )
        .into()),
    }
}

/// Why no variables file was found.
enum TfvarsMissing {
    /// `--var-file` / TFVARS_FILE names a file that does not exist.
    Given(anyhow::Error),
    /// terraform/terraform.tfvars does not exist (an interactive run offers to create it).
    Default(anyhow::Error),
}

/// The variables file, without asking anything.
fn tfvars_path(
    tf: &Terraform<'_>,
    args: &TerraformOptions,
    settings: &Settings,
) -> std::result::Result<PathBuf, TfvarsMissing> {
    if let Some(given) = args.var_file.as_ref().or(settings.tfvars_file.as_ref()) {
        let candidates = [given.clone(), tf.dir().join(given)];
        return candidates
            .iter()
            .find(|p| p.is_file())
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .ok_or_else(|| {
                TfvarsMissing::Given(
                    UserError::usage(
                        format!("variables file {} does not exist", given.display()),
                        format!(
                            "pass an existing file, e.g. --var-file {}/environments/dev.tfvars",
                            tf.dir().display()
                        ),
                    )
                    .into(),
                )
            });
    }
    let file = tf.dir().join(TFVARS);
    if file.is_file() {
        return Ok(file);
    }
    Err(TfvarsMissing::Default(
        UserError::usage(
            format!("{} does not exist", file.display()),
            tfvars_help(tf, &file),
        )
        .into(),
    ))
}

fn tfvars_help(tf: &Terraform<'_>, file: &Path) -> String {
    format!(
        "copy {} to {} and edit it, or pass --var-file {}/environments/dev.tfvars",
        tf.dir().join(TFVARS_EXAMPLE).display(),
        file.display(),
        tf.dir().display()
    )
}

/// The tfvars file to use: `--var-file`, TFVARS_FILE, or terraform/terraform.tfvars — which
/// an interactive run offers to create from the example.
fn var_file(
    tf: &Terraform<'_>,
    args: &TerraformOptions,
    settings: &Settings,
    prompter: &dyn Prompter,
) -> Result<PathBuf> {
    let file = match tfvars_path(tf, args, settings) {
        Ok(file) => return Ok(file),
        Err(TfvarsMissing::Given(e)) => return Err(e),
        Err(TfvarsMissing::Default(e)) if !prompter.interactive() => return Err(e),
        Err(TfvarsMissing::Default(_)) => tf.dir().join(TFVARS),
    };
    let example = tf.dir().join(TFVARS_EXAMPLE);
    let help = tfvars_help(tf, &file);
    prompter.say(&format!("{} does not exist.", file.display()));
    if !prompter.confirm(&format!(
        "Copy {} there and open it in {}?",
        TFVARS_EXAMPLE,
        settings.editor.as_deref().unwrap_or("vi")
    ))? {
        return Err(UserError::usage("no Terraform variables file", help).into());
    }
    std::fs::copy(&example, &file)
        .with_context(|| format!("copying {} to {}", example.display(), file.display()))?;
    edit(settings, &file)?;
    Ok(file)
}

/// Open `file` in VISUAL/EDITOR (or vi), with the terminal handed over.
fn edit(settings: &Settings, file: &Path) -> Result<()> {
    let editor = settings.editor.clone().unwrap_or_else(|| "vi".into());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let mut cmd = std::process::Command::new(program);
    for k in crate::tools::NEVER_INHERITED
        .iter()
        .chain(crate::tools::AWS_CREDENTIALS)
    {
        cmd.env_remove(k);
    }
    let status = cmd.args(words).arg(file).status().map_err(|e| {
        UserError::failed(
            format!("could not start the editor `{editor}`: {e}"),
            format!(
                "set VISUAL or EDITOR, or edit {} yourself and re-run",
                file.display()
            ),
        )
    })?;
    if !status.success() {
        return Err(UserError::failed(
            format!("the editor `{editor}` exited with {status}"),
            format!("edit {} and re-run", file.display()),
        )
        .into());
    }
    Ok(())
}

/// Private directory for plan files, removed when dropped.
fn plan_dir() -> Result<tempfile::TempDir> {
    crate::tools::private_tempdir("deployctl-tf-")
        .context("creating a private directory for the plan file")
}

/// How an `infrastructure` run ended.
#[derive(Debug)]
pub enum Applied {
    /// Applied (or nothing to change): the outputs.
    Done(Outputs),
    /// The user declined: nothing applied.
    Declined,
}

/// `infrastructure` (and the first part of `complete`).
pub async fn apply(
    settings: &Settings,
    ui: &Ui,
    prompter: &dyn Prompter,
    args: &TerraformOptions,
    auto_approve: bool,
    needs: Needs,
) -> Result<Applied> {
    preflight(settings, ui, args, prompter.interactive(), needs).await?;
    let tf = Terraform::new(settings, ui);
    let var_file = var_file(&tf, args, settings, prompter)?;
    check_kubernetes_version(tf.dir(), &var_file, ui)?;
    check_secrets_prefix(tf.dir(), &var_file, settings, ui)?;
    if needs.cluster {
        check_api_path(tf.dir(), &var_file, settings)?;
    }
    // Refuse early: CI without --auto-approve would otherwise plan for minutes, then stop.
    if !prompter.interactive() && !auto_approve {
        return Err(UserError::usage(
            "a non-interactive run applies infrastructure only with --auto-approve",
            "run `deployctl infrastructure-plan` to review, then `deployctl infrastructure --auto-approve`",
        )
        .into());
    }
    tf.init_if_needed().await?;
    tf.validate().await?;
    let dir = plan_dir()?;
    let planned = tf.plan(&var_file, dir.path(), false).await?;
    let (plan_file, summary) = (planned.file, PlanSummary::parse(&planned.json));
    ui.println(&format!("Plan: {}", summary.line()));
    if summary.is_empty() {
        ui.println("Infrastructure is up to date; nothing to apply.");
    } else {
        for a in &summary.replace {
            ui.warn(&format!("replaced (destroyed, then created): {a}"));
        }
        for a in &summary.delete {
            ui.warn(&format!("destroyed: {a}"));
        }
        if !auto_approve && !ui.suspend(|| prompter.confirm("Apply this plan?"))? {
            ui.println("Nothing applied.");
            return Ok(Applied::Declined);
        }
        tf.apply(
            &plan_file,
            "the apply stopped part-way; fix the error above and run `deployctl infrastructure` again (Terraform resumes from its state)",
        )
        .await?;
    }
    drop(dir);
    let outputs = tf.outputs().await?;
    if let Some(c) = &outputs.cluster {
        ui.println(&format!(
            "Cluster {c} in {}. Next: {}",
            outputs.region.as_deref().unwrap_or(&settings.region),
            outputs
                .configure_kubectl
                .as_deref()
                .unwrap_or("deployctl kubeconfig")
        ));
    }
    Ok(Applied::Done(outputs))
}

/// `infrastructure-plan`: everything up to the plan; nothing is applied.
pub async fn plan(
    settings: &Settings,
    ui: &Ui,
    prompter: &dyn Prompter,
    args: &TerraformOptions,
) -> Result<()> {
    preflight(settings, ui, args, prompter.interactive(), Needs::default()).await?;
    let tf = Terraform::new(settings, ui);
    let var_file = var_file(&tf, args, settings, prompter)?;
    check_kubernetes_version(tf.dir(), &var_file, ui)?;
    check_secrets_prefix(tf.dir(), &var_file, settings, ui)?;
    tf.init_if_needed().await?;
    tf.validate().await?;
    let dir = plan_dir()?;
    let summary = PlanSummary::parse(&tf.plan(&var_file, dir.path(), false).await?.json);
    ui.println(&format!("Plan: {}", summary.line()));
    for a in summary.replace.iter().chain(&summary.delete) {
        ui.warn(&format!("would destroy: {a}"));
    }
    ui.println("Nothing was applied. Apply with `deployctl infrastructure`.");
    Ok(())
}

/// `infrastructure-destroy` behind the destroy gate.
pub async fn destroy(
    settings: &Settings,
    ui: &Ui,
    prompter: &dyn Prompter,
    args: &TerraformOptions,
    confirm_destroy: Option<&str>,
) -> Result<i32> {
    if !prompter.interactive() && confirm_destroy.is_none() {
        return Err(UserError::usage(
            "a non-interactive destroy needs --confirm-destroy <cluster-name>; nothing was destroyed",
            "run it interactively, or pass --confirm-destroy with the cluster's name",
        )
        .into());
    }
    preflight(settings, ui, args, prompter.interactive(), Needs::default()).await?;
    let tf = Terraform::new(settings, ui);
    let var_file = var_file(&tf, args, settings, prompter)?;
    tf.init_if_needed().await?;
    let outputs = tf.outputs().await?;
    let Some(cluster) = outputs.cluster.clone() else {
        ui.println("The Terraform state holds no stack (no outputs): nothing to destroy.");
        return Ok(crate::error::exit::OK);
    };
    if let Some(given) = confirm_destroy
        && given != cluster
    {
        return Err(UserError::usage(
            format!(
                "--confirm-destroy `{given}` does not match the cluster `{cluster}` in the Terraform state; nothing was destroyed"
            ),
            format!("pass --confirm-destroy {cluster} to destroy it"),
        )
        .into());
    }
    let dir = plan_dir()?;
    let planned = tf.plan(&var_file, dir.path(), true).await?;
    let (plan_file, facts) = (planned.file, DestroyFacts::parse(&planned.json));
    if facts.count == 0 {
        ui.println("Nothing to destroy.");
        return Ok(crate::error::exit::OK);
    }
    if !facts.protected_databases.is_empty() {
        return Err(UserError::failed(
            format!(
                "database {} has deletion protection on; the destroy would stop half-way. Nothing was destroyed",
                facts.protected_databases.join(", ")
            ),
            format!(
                "set rds_deletion_protection = false in {}, run `deployctl infrastructure`, then destroy",
                var_file.display()
            ),
        )
        .into());
    }
    ui.println(&format!(
        "DESTROY: {} resources of cluster {cluster} in {}:\n{}",
        facts.count,
        outputs.region.as_deref().unwrap_or(&settings.region),
        facts.render()
    ));
    if prompter.interactive() {
        let typed = ui.suspend(|| {
            prompter.typed(
                "This cannot be undone. Confirm with the cluster's name.",
                &cluster,
            )
        })?;
        if !typed {
            return Err(UserError::failed(
                "the typed name did not match; nothing was destroyed",
                "re-run `deployctl infrastructure-destroy` and type the cluster name exactly",
            )
            .into());
        }
        if !ui.suspend(|| {
            prompter.confirm(&format!("Destroy {cluster} and everything listed above?"))
        })? {
            ui.println("Nothing destroyed.");
            return Ok(crate::error::exit::OK);
        }
    }
    // The key of each final snapshot outlives the destroy: Terraform forgets it first, then
    // plans the destroy again without it (a saved plan is stale once the state changed).
    let keep = facts.retained_keys();
    let mut plan_file = plan_file;
    let mut forgotten: Vec<&(String, String, String)> = Vec::new();
    let mut prepared: Result<()> = Ok(());
    for k in &keep {
        if let Err(e) = tf.state_rm(&k.1).await {
            prepared = Err(e);
            break;
        }
        forgotten.push(k);
    }
    if prepared.is_ok() && !keep.is_empty() {
        match tf.plan(&var_file, dir.path(), true).await {
            Ok(p) => plan_file = p.file,
            Err(e) => prepared = Err(e),
        }
    }
    let destroyed = match prepared {
        Ok(()) => {
            tf.apply(
                &plan_file,
                "the destroy stopped part-way; fix the error above and run `deployctl infrastructure-destroy` again",
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = destroyed {
        // Whatever was left is Terraform's again, key included: the next destroy finds it.
        for (arn, address, _) in forgotten {
            let id = arn.rsplit('/').next().unwrap_or(arn);
            if let Err(back) = tf.import(&var_file, address, id).await {
                ui.warn(&format!("{back:#}"));
            }
        }
        return Err(e);
    }
    for (arn, _, snapshot) in &keep {
        let region = outputs.region.as_deref().unwrap_or(&settings.region);
        ui.println(&format!(
            "Kept KMS key {arn}: it encrypts the final snapshot `{snapshot}`, which stays restorable as long as the key exists \
             (the next `deployctl infrastructure` makes a new key). When you no longer need the snapshot:\n  \
             aws rds delete-db-snapshot --db-snapshot-identifier {snapshot} --region {region}\n  \
             aws kms schedule-key-deletion --key-id {arn} --pending-window-in-days 30"
        ));
    }
    ui.println(&format!(
        "Destroyed {cluster}. Remove its kubeconfig context with `kubectl config delete-context` if you no longer need it."
    ));
    Ok(crate::error::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tfvars_values_fall_back_to_the_variable_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("variables.tf"),
            "variable \"create_bastion\" {\n  type    = bool\n  default = true\n}\n\nvariable \"endpoint_public_access\" {\n  type = bool\n  default = false # private\n}\n\nvariable \"no_default\" {\n  type = string\n}\n\nvariable \"later\" {\n  default = \"x\"\n}\n",
        )
        .unwrap();
        let vars = dir.path().join("t.tfvars");
        std::fs::write(
            &vars,
            "kubernetes_version = \"1.35\" # pinned\ncreate_bastion = false\n",
        )
        .unwrap();
        assert_eq!(hcl_value("a = \"b\" # c", "a").as_deref(), Some("b"));
        let get = |n: &str| tfvar(dir.path(), &vars, n).map(|(v, _)| v);
        assert_eq!(get("kubernetes_version").as_deref(), Some("1.35"));
        assert_eq!(get("create_bastion").as_deref(), Some("false"));
        assert_eq!(get("endpoint_public_access").as_deref(), Some("false"));
        // A variable without a default never borrows the next one's.
        assert_eq!(get("no_default"), None);

        let settings = |access: &str| {
            Settings::resolve(
                &Default::default(),
                &crate::config::Env::from_pairs([("API_ACCESS", access)]),
                crate::config::Terminal {
                    stdin: false,
                    stdout: false,
                    stderr: false,
                },
            )
            .unwrap()
        };
        // Private endpoint, no bastion: `complete` could not reach the cluster.
        let err = check_api_path(dir.path(), &vars, &settings("auto")).unwrap_err();
        let help = crate::error::help_of(&err).unwrap();
        assert!(
            help.contains("create_bastion = true") && help.contains("public_access_cidrs"),
            "{help}"
        );
        // The operator's own way in.
        assert!(check_api_path(dir.path(), &vars, &settings("direct")).is_ok());
        assert!(check_api_path(dir.path(), &vars, &settings("tunnel")).is_ok());
        // With the bastion (the default) it is fine.
        std::fs::write(&vars, "").unwrap();
        assert!(check_api_path(dir.path(), &vars, &settings("auto")).is_ok());
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
