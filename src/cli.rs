//! The clap command tree: every command and alias of deploy.sh / setup-bastion.sh, and the
//! global flags. Parsing only; `config.rs` turns the result into `Settings`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "deployctl",
    version,
    about = "Deploy LiteLLM + OpenWebUI with Redis HA, External Secrets, OPA Gatekeeper, \
             Prometheus/Grafana and Jaeger on AWS EKS",
    long_about = None,
    arg_required_else_help = true,
    after_help = "Environment: AWS_REGION, AWS_ACCOUNT_ID, EKS_CLUSTER_NAME, OIDC_PROVIDER, \
                  INTERACTIVE_MODE, AUTO_SKIP_HEALTHY, SKIP_ALL, SECRETS_PREFIX, BASTION_NAME, \
                  INSTANCE_TYPE, DEPLOYCTL_DIR, DEPLOYCTL_CHARTS_DIR, KUBECONFIG, DATABASE_URL, DEPLOYCTL_SYNC_TIMEOUT, \
                  TFVARS_FILE, TF_DATA_DIR, \
                  VISUAL/EDITOR, CI. A flag wins over its variable.\n\
                  Exit codes: 0 success or quit, 1 a step failed, 2 bad usage or input, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of the Terraform commands.
#[derive(Debug, Args, Default, Clone)]
pub struct TerraformArgs {
    /// Variables file, relative to terraform/ or absolute [default: terraform/terraform.tfvars]
    /// [env: TFVARS_FILE]
    #[arg(long, value_name = "FILE")]
    pub var_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args, Default)]
pub struct GlobalArgs {
    /// AWS region [env: AWS_REGION] [default: us-east-1]
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// EKS cluster name [env: EKS_CLUSTER_NAME] [default: my-eks-cluster]
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// kube context to use (default: the kubeconfig's current context)
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// How to reach the cluster's API: auto (direct to a public endpoint, through an SSM
    /// tunnel via the cluster's bastion to a private one), direct or tunnel [env: API_ACCESS]
    #[arg(long, global = true, value_name = "auto|direct|tunnel")]
    pub api_access: Option<String>,
    /// kubeconfig file to use, for deployctl and every child (as KUBECONFIG) [env: KUBECONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// AWS profile to use, for deployctl and every child (as AWS_PROFILE) [env: AWS_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Never prompt [env: INTERACTIVE_MODE=false, or CI=true]
    #[arg(long, global = true)]
    pub non_interactive: bool,
    /// Skip every healthy resource without asking [env: AUTO_SKIP_HEALTHY]
    #[arg(long, global = true)]
    pub auto_skip_healthy: bool,
    /// Non-interactive: skip every resource that exists and is healthy [env: SKIP_ALL]
    #[arg(long, global = true)]
    pub skip_all: bool,
    /// Steps run at once [default: 4]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// Output format: human text, or JSON events on stdout (text goes to stderr)
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// More detail (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the summary
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Select the unselected steps a command needs instead of only checking them
    #[arg(long, global = true)]
    pub with_deps: bool,
    /// Skip the steps that succeeded in the last, unfinished run of the same command
    #[arg(long, global = true)]
    pub resume: bool,
    /// Without a terminal: uninstall a release stuck in pending-install that was never
    /// deployed, so it can be installed again (interactive runs ask instead)
    #[arg(long, global = true)]
    pub repair_pending_installs: bool,
    /// Directory holding helm-values/, manifests/ and terraform/ [env: DEPLOYCTL_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Install each release from DIR/<chart> or DIR/<chart>-<version>.tgz (checked against
    /// the pin) instead of its repository; fill DIR with `deployctl charts pull DIR`
    /// [env: DEPLOYCTL_CHARTS_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub charts_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy AWS infrastructure with Terraform
    #[command(visible_aliases = ["infra", "terraform"])]
    Infrastructure {
        #[command(flatten)]
        tf: TerraformArgs,
        /// Apply the plan without asking (required when nothing can ask)
        #[arg(long)]
        auto_approve: bool,
    },
    /// Show what infrastructure changes would be made
    #[command(name = "infrastructure-plan", visible_alias = "infra-plan")]
    InfrastructurePlan {
        #[command(flatten)]
        tf: TerraformArgs,
    },
    /// Verify infrastructure components exist
    #[command(name = "infrastructure-verify", visible_aliases = ["infra-verify", "verify-infra"])]
    InfrastructureVerify,
    /// DANGER: destroy all infrastructure
    #[command(name = "infrastructure-destroy")]
    InfrastructureDestroy {
        #[command(flatten)]
        tf: TerraformArgs,
        /// Non-interactive destroy: the cluster name, which must match Terraform's
        #[arg(long, value_name = "CLUSTER")]
        confirm_destroy: Option<String>,
    },
    /// Remove the application stack from the cluster: helm releases and deployctl's objects,
    /// in reverse order (keeps namespaces and their volumes, AWS secrets, IAM roles, the
    /// database and all infrastructure)
    Uninstall {
        /// Steps to remove (default: every removable step); see `deployctl list`
        #[arg(value_name = "STEP")]
        steps: Vec<String>,
        /// Non-interactive uninstall: the cluster name, which must match the cluster in use
        #[arg(long, value_name = "CLUSTER")]
        confirm_destroy: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    #[command(
        after_help = "bash: source <(deployctl completions bash)   zsh: deployctl completions zsh > \"${fpath[1]}/_deployctl\"   fish: deployctl completions fish > ~/.config/fish/completions/deployctl.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `deployctl man | man -l -`
    Man,
    /// Infrastructure, then kubeconfig, then every application component
    #[command(visible_alias = "full")]
    Complete {
        #[command(flatten)]
        tf: TerraformArgs,
        /// Apply the infrastructure plan without asking (required when nothing can ask)
        #[arg(long)]
        auto_approve: bool,
    },
    /// Deploy every application component to the existing cluster
    All,
    /// List components, their needs and the deployment modes
    #[command(visible_aliases = ["components", "ls"])]
    List,
    /// Validate manifests/ and helm-values/ offline
    Validate,
    /// Show what a run would do, and why, without changing anything
    Plan {
        /// Steps to plan (default: every application step)
        #[arg(value_name = "STEP")]
        steps: Vec<String>,
    },
    /// Run the named steps together, in graph order, in one run
    Run {
        /// Steps to run (see `deployctl list`)
        #[arg(value_name = "STEP", required = true)]
        steps: Vec<String>,
    },
    /// Create IAM roles for service accounts
    Irsa,
    /// Create secrets in AWS Secrets Manager
    Secrets {
        /// Rotate this existing secret (repeatable; for CI): master-key, redis-password,
        /// webui-secret-key
        #[arg(long, value_enum, value_name = "NAME")]
        rotate: Vec<SecretName>,
        /// Required with `--rotate master-key`: every issued API key stops working
        #[arg(long)]
        i_understand_this_breaks_api_keys: bool,
        /// Read the value for a missing <prefix>/database-url from FILE, or from stdin with
        /// `-` (DATABASE_URL works too). Never on the command line: argv is visible in `ps`.
        #[arg(long, value_name = "FILE|-")]
        database_url_file: Option<std::path::PathBuf>,
        /// Replaced by --database-url-file (a URL in argv is visible in the process list)
        #[arg(long, value_name = "URL", hide = true)]
        database_url: Option<String>,
        /// Restore a stack secret that is scheduled for deletion (its old value comes back)
        /// instead of stopping; interactive runs ask
        #[arg(long)]
        restore_deleted: bool,
    },
    /// Add Helm repositories
    #[command(name = "helm-repos")]
    HelmRepos,
    /// Create Kubernetes namespaces
    Namespaces,
    /// Deploy External Secrets Operator and sync secrets
    #[command(name = "external-secrets")]
    ExternalSecrets,
    /// Apply the ClusterSecretStore and ExternalSecrets
    #[command(name = "secret-stores")]
    SecretStores,
    /// Deploy kube-prometheus-stack (Prometheus + Grafana)
    Monitoring,
    /// Deploy Grafana dashboards
    Dashboards,
    /// Deploy Jaeger for distributed tracing
    Jaeger,
    /// Deploy Redis HA
    Redis,
    /// Deploy the LiteLLM gateway
    Litellm,
    /// Deploy the OpenWebUI frontend
    Openwebui,
    /// Deploy OPA Gatekeeper
    Gatekeeper,
    /// Apply OPA policies
    #[command(name = "opa-policies")]
    OpaPolicies,
    /// Verify OPA policy status
    #[command(name = "opa-verify")]
    OpaVerify,
    /// Verify deployment status
    Verify,
    /// Write or merge a kubeconfig context for the EKS cluster (no aws CLI needed)
    Kubeconfig,
    /// Print an EKS bearer token as a kubeconfig exec credential (no aws CLI needed)
    #[command(name = "eks-token")]
    EksToken,
    /// Helm charts on disk: fill a charts directory, render the stack from it
    #[command(arg_required_else_help = true)]
    Charts {
        #[command(subcommand)]
        action: ChartsAction,
    },
    /// Bastion host in the EKS VPC (port of setup-bastion.sh)
    #[command(arg_required_else_help = true)]
    Bastion {
        #[command(subcommand)]
        action: BastionAction,
    },
}

/// The application secrets, by their short names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretName {
    MasterKey,
    /// Never rotated (LiteLLM's stored credentials would become unreadable): accepted by
    /// `--rotate` only to say so, and not offered in the help.
    #[value(hide = true)]
    SaltKey,
    RedisPassword,
    /// Changed interactively (it points LiteLLM at another database), not by `--rotate`.
    #[value(hide = true)]
    DatabaseUrl,
    WebuiSecretKey,
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum ChartsAction {
    /// `helm pull` every pinned release into DIR (repo and OCI charts; needs network)
    Pull {
        /// Where to put the charts [default: --charts-dir / DEPLOYCTL_CHARTS_DIR, else ./charts]
        #[arg(value_name = "DIR")]
        destination: Option<PathBuf>,
    },
    /// Render releases from --charts-dir with our values and the generated overlay (as
    /// `helm template`), after the values-key and wiring checks; YAML on stdout
    Render {
        /// Releases to print (default: all); every release is checked
        #[arg(value_name = "RELEASE")]
        releases: Vec<String>,
    },
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum BastionAction {
    /// Create the bastion instance with SSM access
    Create,
    /// Connect to the bastion through SSM
    Connect,
    /// Remove this cluster's bastion and everything create made
    #[command(visible_alias = "delete")]
    Cleanup {
        /// Non-interactive cleanup: the cluster name, which must match the cluster in use
        #[arg(long, value_name = "CLUSTER")]
        confirm_destroy: Option<String>,
    },
}

impl Command {
    /// The CLI name of the command (as the user typed it, without alias).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Infrastructure { .. } => "infrastructure",
            Command::InfrastructurePlan { .. } => "infrastructure-plan",
            Command::InfrastructureVerify => "infrastructure-verify",
            Command::InfrastructureDestroy { .. } => "infrastructure-destroy",
            Command::Complete { .. } => "complete",
            Command::Uninstall { .. } => "uninstall",
            Command::All => "all",
            Command::List => "list",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
            Command::Validate => "validate",
            Command::Plan { .. } => "plan",
            Command::Run { .. } => "run",
            Command::Irsa => "irsa",
            Command::Secrets { .. } => "secrets",
            Command::HelmRepos => "helm-repos",
            Command::Namespaces => "namespaces",
            Command::ExternalSecrets => "external-secrets",
            Command::SecretStores => "secret-stores",
            Command::Monitoring => "monitoring",
            Command::Dashboards => "dashboards",
            Command::Jaeger => "jaeger",
            Command::Redis => "redis",
            Command::Litellm => "litellm",
            Command::Openwebui => "openwebui",
            Command::Gatekeeper => "gatekeeper",
            Command::OpaPolicies => "opa-policies",
            Command::OpaVerify => "opa-verify",
            Command::Verify => "verify",
            Command::EksToken => "eks-token",
            Command::Kubeconfig => "kubeconfig",
            Command::Charts { action } => match action {
                ChartsAction::Pull { .. } => "charts pull",
                ChartsAction::Render { .. } => "charts render",
            },
            Command::Bastion { action } => match action {
                BastionAction::Create => "bastion create",
                BastionAction::Connect => "bastion connect",
                BastionAction::Cleanup { .. } => "bastion cleanup",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_seed_alias_parses() {
        for (alias, name) in [
            ("infra", "infrastructure"),
            ("terraform", "infrastructure"),
            ("infra-plan", "infrastructure-plan"),
            ("infra-verify", "infrastructure-verify"),
            ("verify-infra", "infrastructure-verify"),
            ("full", "complete"),
            ("components", "list"),
            ("ls", "list"),
        ] {
            let cli = Cli::try_parse_from(["deployctl", alias]).unwrap();
            assert_eq!(cli.command.name(), name, "alias {alias}");
        }
        let cli = Cli::try_parse_from(["deployctl", "bastion", "delete"]).unwrap();
        assert_eq!(cli.command.name(), "bastion cleanup");
        // The destination of `charts pull` is not the global --dir.
        let cli = Cli::try_parse_from(["deployctl", "charts", "pull", "/tmp/c"]).unwrap();
        assert!(cli.global.dir.is_none());
        match cli.command {
            Command::Charts {
                action: ChartsAction::Pull { destination },
            } => assert_eq!(destination.unwrap(), PathBuf::from("/tmp/c")),
            other => panic!("{other:?}"),
        }
    }
}
