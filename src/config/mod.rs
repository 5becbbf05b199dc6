//! Settings: flags > environment > defaults, resolved in one place. This is the only module
//! that reads the process environment (through the `Env` snapshot taken in `main`).

pub mod access;

use crate::error::UserError;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_CLUSTER: &str = "my-eks-cluster";
pub const DEFAULT_SECRETS_PREFIX: &str = "litellm";
/// Seconds to wait for the secret store, an ExternalSecret or a constraint CRD.
pub const DEFAULT_SYNC_TIMEOUT: u64 = 120;
/// The longest wait DEPLOYCTL_SYNC_TIMEOUT accepts (a day): durations stay far from overflow.
pub const MAX_SYNC_TIMEOUT: u64 = 86_400;
pub const DEFAULT_BASTION_NAME: &str = "llm-bastion";
pub const DEFAULT_INSTANCE_TYPE: &str = "t3.medium";
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How deployctl reaches the cluster's API (API_ACCESS / --api-access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAccess {
    /// Direct when EKS says the endpoint is public, through the bastion when it is private.
    Auto,
    /// Always straight to the endpoint (a network inside the VPC, a VPN, a public endpoint).
    Direct,
    /// Always through an SSM port-forwarding tunnel via the cluster's bastion.
    Tunnel,
}

impl ApiAccess {
    pub fn parse(said: &str, value: &str) -> Result<ApiAccess, UserError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ApiAccess::Auto),
            "direct" => Ok(ApiAccess::Direct),
            "tunnel" => Ok(ApiAccess::Tunnel),
            _ => Err(UserError::usage(
                format!("invalid value `{value}` for {said}: expected auto, direct or tunnel"),
                format!("set {said} to auto (the default), direct or tunnel"),
            )),
        }
    }
}

/// Human text, or JSON events on stdout (text then goes to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The global flags as given (`None`/false when absent); `cli` fills this from clap, and
/// `Settings::resolve` weighs each against its variable and default.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub region: Option<String>,
    pub cluster: Option<String>,
    pub context: Option<String>,
    pub api_access: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub profile: Option<String>,
    pub non_interactive: bool,
    pub auto_skip_healthy: bool,
    pub skip_all: bool,
    pub concurrency: Option<u16>,
    pub output: Option<OutputFormat>,
    pub verbose: u8,
    pub quiet: bool,
    pub with_deps: bool,
    pub resume: bool,
    pub repair_pending_installs: bool,
    pub no_model_call: bool,
    pub dir: Option<PathBuf>,
    pub charts_dir: Option<PathBuf>,
}

/// A snapshot of the environment, so resolution is a pure function of (flags, env, terminal).
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env(std::env::vars().collect())
    }
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
    pub fn set(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }
    /// A set, non-empty value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Whether stdin and stdout are terminals (prompts need both).
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Terminal {
    pub fn detect() -> Self {
        Terminal {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        }
    }
}

#[derive(Debug)]
pub struct Settings {
    pub region: String,
    pub cluster: String,
    pub context: Option<String>,
    pub account_id: Option<String>,
    pub oidc_provider: Option<String>,
    /// Prompts allowed: INTERACTIVE_MODE, not CI, not --non-interactive, and both stdin and
    /// stderr (where prompts are drawn) are terminals — as helm, terraform and kubectl decide;
    /// stdout may be a pipe (`deployctl all | tee log` still asks).
    pub interactive: bool,
    pub auto_skip_healthy: bool,
    pub skip_all: bool,
    pub concurrency: usize,
    pub output: OutputFormat,
    /// -1 quiet, 0 normal, 1+ verbose
    pub verbosity: i8,
    pub with_deps: bool,
    pub resume: bool,
    /// `--repair-pending-installs`: non-interactive runs may uninstall a never-deployed
    /// release stuck in pending-install.
    pub repair_pending_installs: bool,
    /// `verify` sends each configured model one short completion (`--no-model-call`,
    /// VERIFY_MODEL_CALLS=false: not).
    pub model_calls: bool,
    /// Where the run journal lives ($XDG_STATE_HOME/deployctl or ~/.local/state/deployctl).
    pub state_dir: PathBuf,
    pub secrets_prefix: String,
    /// SECRETS_PREFIX was set (else the default, which Terraform's outputs may replace).
    pub secrets_prefix_given: bool,
    /// AWS_PROFILE, for messages (the SDK reads it itself).
    pub aws_profile: Option<String>,
    /// DATABASE_URL (or --database-url-file): only used to create a missing database-url secret.
    pub database_url: Option<secrecy::SecretString>,
    pub bastion_name: String,
    pub instance_type: String,
    /// Where helm-values/, manifests/, iam/ and terraform/ live.
    pub project_dir: PathBuf,
    /// `--charts-dir` / DEPLOYCTL_CHARTS_DIR: install and render the releases from this
    /// directory of charts instead of their repositories.
    pub charts_dir: Option<PathBuf>,
    /// helm's repository cache ($HELM_CACHE_HOME, $XDG_CACHE_HOME/helm or ~/.cache/helm, then
    /// /repository): where `validate` finds pulled charts when no charts directory is given.
    pub helm_repository_cache: Option<PathBuf>,
    /// HOME, for files deployctl writes there (kubeconfig).
    pub home: Option<PathBuf>,
    /// KUBECONFIG as given (for error messages; kube reads it itself).
    pub kubeconfig: Option<String>,
    /// stderr is a terminal: progress spinners instead of timestamped lines.
    pub fancy_output: bool,
    /// TFVARS_FILE: the Terraform variables file when `--var-file` is not given.
    pub tfvars_file: Option<PathBuf>,
    /// TF_DATA_DIR as terraform will see it (where `init` leaves its records).
    pub tf_data_dir: Option<PathBuf>,
    /// VISUAL or EDITOR, for editing a freshly copied terraform.tfvars.
    pub editor: Option<String>,
    /// API_ACCESS / --api-access: direct, through the bastion, or decided from EKS.
    pub api_access: ApiAccess,
    /// DEPLOYCTL_SYNC_TIMEOUT (seconds): how long to wait for the secret store, each
    /// ExternalSecret and each constraint CRD.
    pub sync_timeout: std::time::Duration,
    /// Who reaches the stack and how they sign in (`access.yaml` + variables).
    pub access: crate::config::access::Access,
    /// Why access.yaml (or its environment overrides) could not be used: reported by the
    /// commands that read it, never by those that do not (`eks-token`, kubectl's credential
    /// plugin, must work whatever the entry point's settings say).
    pub access_problem: Option<UserError>,
    /// OIDC_CLIENT_SECRET: value for a missing `<prefix>/openwebui-oidc` (`secrets`).
    pub oidc_client_secret: Option<secrecy::SecretString>,
    /// OPENWEBUI_SQLITE_MIGRATED: the SQLite data of an earlier OpenWebUI (PVC open-webui) was
    /// moved to PostgreSQL (or is knowingly left): the openwebui step may go on.
    pub openwebui_sqlite_migrated: bool,
}

pub use crate::yes_no::parse_bool;

fn env_bool(env: &Env, var: &str, default: bool) -> Result<bool, UserError> {
    match env.get(var) {
        Some(v) => parse_bool(var, v),
        None => Ok(default),
    }
}

fn flag_env_default(flag: &Option<String>, env: &Env, var: &str, default: &str) -> String {
    flag.clone()
        .or_else(|| env.get(var).map(str::to_string))
        .unwrap_or_else(|| default.to_string())
}

impl Settings {
    pub fn resolve(args: &Flags, env: &Env, term: Terminal) -> Result<Settings, UserError> {
        // Every boolean variable is checked even when a flag overrides it: a typo in CI
        // configuration should not hide behind a flag.
        let interactive_env = env_bool(env, "INTERACTIVE_MODE", true)?;
        let auto_skip_env = env_bool(env, "AUTO_SKIP_HEALTHY", false)?;
        let skip_all_env = env_bool(env, "SKIP_ALL", false)?;
        // CI is not ours: any value but an explicit false means "in CI".
        let in_ci = env
            .get("CI")
            .map(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no"))
            .unwrap_or(false);

        let interactive =
            interactive_env && !args.non_interactive && !in_ci && term.stdin && term.stderr;

        let region = flag_env_default(&args.region, env, "AWS_REGION", DEFAULT_REGION);
        let cluster = flag_env_default(&args.cluster, env, "EKS_CLUSTER_NAME", DEFAULT_CLUSTER);
        // Errors name what the user typed: the flag when given, else the variable.
        let said = |flag: &Option<String>, f: &'static str, var: &'static str| {
            if flag.is_some() { f } else { var }
        };
        check_cluster_name(
            said(&args.cluster, "--cluster", "EKS_CLUSTER_NAME"),
            &cluster,
        )?;
        check_region(said(&args.region, "--region", "AWS_REGION"), &region)?;

        let account_id = env.get("AWS_ACCOUNT_ID").map(str::to_string);
        if let Some(id) = &account_id
            && !(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(UserError::usage(
                format!("invalid value `{id}` for AWS_ACCOUNT_ID: expected 12 digits"),
                "unset AWS_ACCOUNT_ID to detect it from STS",
            ));
        }

        let secrets_prefix = env
            .get("SECRETS_PREFIX")
            .unwrap_or(DEFAULT_SECRETS_PREFIX)
            .trim_end_matches('/')
            .to_string();
        check_secrets_prefix(&secrets_prefix)?;
        let secrets_prefix_given = env.get("SECRETS_PREFIX").is_some();

        let output = args.output.unwrap_or(OutputFormat::Text);
        let verbosity = if args.quiet {
            -1
        } else {
            args.verbose.min(3) as i8
        };

        let project_dir = resolve_project_dir(args.dir.as_deref(), env)?;
        let (access, access_problem) =
            match crate::config::access::load(&project_dir, &region, &|k: &str| {
                env.get(k).map(str::to_string)
            }) {
                Ok(a) => (a, None),
                Err(e) => (Default::default(), Some(e)),
            };
        let charts_dir = resolve_charts_dir(args.charts_dir.as_deref(), env)?;

        let sync_timeout = match env.get("DEPLOYCTL_SYNC_TIMEOUT") {
            None => DEFAULT_SYNC_TIMEOUT,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_SYNC_TIMEOUT).contains(n))
                .ok_or_else(|| {
                    UserError::usage(
                        format!(
                            "invalid value `{v}` for DEPLOYCTL_SYNC_TIMEOUT: expected a number of seconds from 1 to {MAX_SYNC_TIMEOUT}"
                        ),
                        "e.g. DEPLOYCTL_SYNC_TIMEOUT=300, or unset it for 120",
                    )
                })?,
        };

        let api_access = match (&args.api_access, env.get("API_ACCESS")) {
            (Some(v), _) => ApiAccess::parse("--api-access", v)?,
            (None, Some(v)) => ApiAccess::parse("API_ACCESS", v)?,
            (None, None) => ApiAccess::Auto,
        };

        Ok(Settings {
            api_access,
            region,
            cluster,
            context: args.context.clone(),
            account_id,
            oidc_provider: env.get("OIDC_PROVIDER").map(str::to_string),
            interactive,
            auto_skip_healthy: args.auto_skip_healthy || auto_skip_env,
            skip_all: args.skip_all || skip_all_env,
            concurrency: args
                .concurrency
                .map(usize::from)
                .unwrap_or(DEFAULT_CONCURRENCY),
            output,
            verbosity,
            with_deps: args.with_deps,
            repair_pending_installs: args.repair_pending_installs,
            model_calls: !args.no_model_call && env_bool(env, "VERIFY_MODEL_CALLS", true)?,
            openwebui_sqlite_migrated: env_bool(env, "OPENWEBUI_SQLITE_MIGRATED", false)?,
            resume: args.resume,
            state_dir: env
                .get("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".local/state")))
                .unwrap_or_else(|| PathBuf::from(".deployctl"))
                .join("deployctl"),
            secrets_prefix,
            secrets_prefix_given,
            aws_profile: env.get("AWS_PROFILE").map(str::to_string),
            database_url: env
                .get("DATABASE_URL")
                .map(|v| secrecy::SecretString::from(v.to_string())),
            bastion_name: env
                .get("BASTION_NAME")
                .unwrap_or(DEFAULT_BASTION_NAME)
                .to_string(),
            instance_type: env
                .get("INSTANCE_TYPE")
                .unwrap_or(DEFAULT_INSTANCE_TYPE)
                .to_string(),
            kubeconfig: env.get("KUBECONFIG").map(str::to_string),
            home: env.get("HOME").map(PathBuf::from),
            project_dir,
            charts_dir,
            helm_repository_cache: env
                .get("HELM_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| env.get("XDG_CACHE_HOME").map(|d| Path::new(d).join("helm")))
                .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cache/helm")))
                .map(|d| d.join("repository")),
            // Spinners draw on stdout: only when stdout *and* stderr are the terminal. With
            // stdout redirected (`plan > plan.txt`, `all | tee log`) every line is plain text
            // on stdout.
            fancy_output: term.stdout && term.stderr && output == OutputFormat::Text && !in_ci,
            tfvars_file: env
                .get("TFVARS_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            tf_data_dir: env
                .get("TF_DATA_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            sync_timeout: std::time::Duration::from_secs(sync_timeout),
            access,
            access_problem,
            oidc_client_secret: env
                .get("OIDC_CLIENT_SECRET")
                .filter(|v| !v.trim().is_empty())
                .map(|v| secrecy::SecretString::from(v.trim().to_string())),
            editor: env
                .get("VISUAL")
                .or_else(|| env.get("EDITOR"))
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string),
        })
    }
}

/// `--charts-dir` or DEPLOYCTL_CHARTS_DIR, made absolute (children started elsewhere see the
/// same one). Whether it holds the charts is checked where they are read (`charts::find_local`
/// names the missing file and `deployctl charts pull`); `charts pull` creates it.
fn resolve_charts_dir(flag: Option<&Path>, env: &Env) -> Result<Option<PathBuf>, UserError> {
    let dir = match (flag, env.get("DEPLOYCTL_CHARTS_DIR")) {
        (Some(d), _) => d.to_path_buf(),
        (None, Some(d)) => PathBuf::from(d),
        (None, None) => return Ok(None),
    };
    Ok(Some(std::path::absolute(&dir).unwrap_or(dir)))
}

/// EKS's rule for cluster names (CreateCluster): 1–100 characters, letters, digits, `-`
/// and `_`, starting with a letter or digit. The name ends up in ARNs, kube context names
/// and the run journal's file name.
fn check_cluster_name(said: &str, value: &str) -> Result<(), UserError> {
    let ok = (1..=100).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        return Ok(());
    }
    Err(UserError::usage(
        format!(
            "invalid cluster name `{value}` ({said}): EKS cluster names are 1-100 letters, digits, `-` and `_`, starting with a letter or digit"
        ),
        format!("set {said} to the EKS cluster's name (`aws eks list-clusters`)"),
    ))
}

/// AWS region names: lower-case letters, digits and `-` (e.g. `us-east-1`, `us-gov-west-1`).
fn check_region(said: &str, value: &str) -> Result<(), UserError> {
    let ok = !value.is_empty()
        && value.contains('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        return Ok(());
    }
    Err(UserError::usage(
        format!("invalid region `{value}` ({said}): expected a name such as us-east-1"),
        format!("set {said} to an AWS region (`aws ec2 describe-regions`)"),
    ))
}

/// Names end up in ARNs, kube names and file paths: refuse whitespace and control characters.
/// SECRETS_PREFIX becomes part of secret names and of the IAM policy's resource ARNs:
/// Secrets Manager name characters only (letters, digits, `/_+=.@-`), no wildcard, no empty
/// path segment, and not so long that the longest name exceeds 512 characters.
pub fn check_secrets_prefix(value: &str) -> Result<(), UserError> {
    check_name("SECRETS_PREFIX", value)?;
    let bad = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)));
    let why = if let Some(c) = bad {
        Some(format!(
            "`{c}` is not allowed in a Secrets Manager name (letters, digits and /_+=.@- only; no wildcards)"
        ))
    } else if value.starts_with('/') || value.contains("//") {
        Some("it has an empty path segment".to_string())
    } else if value.len() > 400 {
        Some("it is too long for a Secrets Manager name".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Err(UserError::usage(
            format!("invalid value `{value}` for SECRETS_PREFIX: {why}"),
            "set SECRETS_PREFIX to a plain path such as `litellm` or `prod/litellm`",
        )),
        None => Ok(()),
    }
}

fn check_name(var: &str, value: &str) -> Result<(), UserError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UserError::usage(
            format!("invalid value `{value}` for {var}: empty or contains whitespace"),
            format!("set {var} to a plain name"),
        ));
    }
    Ok(())
}

/// --dir, else DEPLOYCTL_DIR, else the current directory when it holds helm-values/, else the
/// source tree deployctl was built from.
fn resolve_project_dir(flag: Option<&Path>, env: &Env) -> Result<PathBuf, UserError> {
    let is_project = |p: &Path| p.join("helm-values").is_dir() && p.join("manifests").is_dir();
    if let Some(dir) = flag
        .map(Path::to_path_buf)
        .or_else(|| env.get("DEPLOYCTL_DIR").map(PathBuf::from))
    {
        if !is_project(&dir) {
            return Err(UserError::usage(
                format!(
                    "`{}` has no helm-values/ and manifests/ directories",
                    dir.display()
                ),
                "point --dir (or DEPLOYCTL_DIR) at a deployctl checkout",
            ));
        }
        return Ok(dir);
    }
    if let Ok(cwd) = std::env::current_dir()
        && is_project(&cwd)
    {
        return Ok(cwd);
    }
    let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if is_project(&built_from) {
        return Ok(built_from);
    }
    Err(UserError::usage(
        "cannot find helm-values/ and manifests/",
        "run deployctl from its checkout, or pass --dir <checkout>",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_prefix_is_a_secrets_manager_path_without_wildcards() {
        for ok in ["litellm", "prod/litellm", "team_a/llm-gw.v2", "a+b=c@d"] {
            assert!(check_secrets_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["*", "litellm/*", "lit?ellm", "/litellm", "a//b", "a b", ""] {
            assert!(check_secrets_prefix(bad).is_err(), "{bad}");
        }
    }

    const TTY: Terminal = Terminal {
        stdin: true,
        stdout: true,
        stderr: true,
    };

    fn resolve(args: &Flags, env: &[(&str, &str)]) -> Result<Settings, UserError> {
        Settings::resolve(args, &Env::from_pairs(env.iter().copied()), TTY)
    }

    #[test]
    fn booleans_accept_every_documented_spelling() {
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("Yes", true),
            ("false", false),
            ("0", false),
            ("NO", false),
            ("False", false),
        ] {
            assert_eq!(parse_bool("X", v).unwrap(), want, "{v}");
        }
    }

    #[test]
    fn a_bad_boolean_names_the_variable_and_value() {
        let err = resolve(&Flags::default(), &[("INTERACTIVE_MODE", "maybe")]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("INTERACTIVE_MODE") && msg.contains("maybe"),
            "{msg}"
        );
        assert_eq!(err.code, crate::error::exit::USAGE);
    }

    #[test]
    fn cluster_names_follow_eks_rules_and_errors_name_what_was_typed() {
        let a = Flags::default();
        for good in ["prod", "my-eks_cluster-2", &"a".repeat(100)] {
            assert!(resolve(&a, &[("EKS_CLUSTER_NAME", good)]).is_ok(), "{good}");
        }
        for bad in ["-prod", "prod/../x", "pröd", "a b", &"a".repeat(101)] {
            let err = resolve(&a, &[("EKS_CLUSTER_NAME", bad)]).unwrap_err();
            assert_eq!(err.code, crate::error::exit::USAGE);
            assert!(err.to_string().contains("EKS_CLUSTER_NAME"), "{err}");
        }
        let flag = Flags {
            cluster: Some("bad/name".into()),
            region: Some("us east".into()),
            ..Default::default()
        };
        let err = resolve(&flag, &[]).unwrap_err();
        assert!(err.to_string().contains("--cluster"), "{err}");
        let ok_cluster = Flags {
            region: Some("us east".into()),
            ..Default::default()
        };
        let err = resolve(&ok_cluster, &[]).unwrap_err();
        assert!(
            err.to_string().contains("--region") && !err.to_string().contains("AWS_REGION"),
            "{err}"
        );
        assert!(resolve(&a, &[("AWS_REGION", "us-gov-west-1")]).is_ok());
    }

    #[test]
    fn sync_timeout_is_seconds_and_bad_values_are_named() {
        let a = Flags::default();
        assert_eq!(resolve(&a, &[]).unwrap().sync_timeout.as_secs(), 120);
        let s = resolve(&a, &[("DEPLOYCTL_SYNC_TIMEOUT", "300")]).unwrap();
        assert_eq!(s.sync_timeout.as_secs(), 300);
        // 10^19 seconds once overflowed `Instant + Duration` in a wait and panicked.
        for bad in ["0", "2m", "-1", "86401", "10000000000000000000"] {
            let err = resolve(&a, &[("DEPLOYCTL_SYNC_TIMEOUT", bad)]).unwrap_err();
            assert!(err.to_string().contains("DEPLOYCTL_SYNC_TIMEOUT"), "{err}");
            assert_eq!(err.code, crate::error::exit::USAGE);
        }
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let s = resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(
            (s.region.as_str(), s.cluster.as_str()),
            (DEFAULT_REGION, DEFAULT_CLUSTER)
        );
        let s = resolve(&Flags::default(), &[("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(s.region, "eu-west-1");
        let args = Flags {
            region: Some("ap-south-1".into()),
            ..Default::default()
        };
        let s = resolve(&args, &[("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(s.region, "ap-south-1");
    }

    #[test]
    fn interactive_needs_terminals_and_no_ci() {
        assert!(resolve(&Flags::default(), &[]).unwrap().interactive);
        assert!(
            !resolve(&Flags::default(), &[("CI", "true")])
                .unwrap()
                .interactive
        );
        assert!(
            !resolve(&Flags::default(), &[("INTERACTIVE_MODE", "no")])
                .unwrap()
                .interactive
        );
        let args = Flags {
            non_interactive: true,
            ..Default::default()
        };
        assert!(!resolve(&args, &[]).unwrap().interactive);
        let piped = Terminal {
            stdin: false,
            stdout: true,
            stderr: true,
        };
        let s = Settings::resolve(&Flags::default(), &Env::default(), piped).unwrap();
        assert!(!s.interactive);
        // `deployctl all | tee log` in a terminal: stdout is a pipe, the prompts (stderr) and
        // the keys (stdin) are the terminal's — it asks, as helm and terraform do.
        let teed = Terminal {
            stdin: true,
            stdout: false,
            stderr: true,
        };
        let s = Settings::resolve(&Flags::default(), &Env::default(), teed).unwrap();
        assert!(s.interactive);
        // ... and no spinners: they draw on stdout, which is the pipe.
        assert!(!s.fancy_output);
        // stderr redirected to a file: nowhere to draw a prompt.
        let logged = Terminal {
            stdin: true,
            stdout: true,
            stderr: false,
        };
        let s = Settings::resolve(&Flags::default(), &Env::default(), logged).unwrap();
        assert!(!s.interactive);
    }

    #[test]
    fn auto_skip_and_skip_all_from_env() {
        let s = resolve(
            &Flags::default(),
            &[("AUTO_SKIP_HEALTHY", "yes"), ("SKIP_ALL", "1")],
        )
        .unwrap();
        assert!(s.auto_skip_healthy && s.skip_all);
    }
}
