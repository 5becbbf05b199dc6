//! The clap command tree: every command and alias of deploy.sh / setup-bastion.sh, and the
//! global flags. Parsing only; `config.rs` turns the result into `Settings`.

use crate::commands::infra::TerraformOptions;
use crate::commands::{bastion, charts, infra};
use crate::config::{Flags, OutputFormat};
use crate::graph::{STEPS, StepId};
use crate::stack::secret_names::SecretName;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
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

impl TerraformArgs {
    pub fn options(&self) -> TerraformOptions {
        TerraformOptions {
            var_file: self.var_file.clone(),
        }
    }
    /// The arguments of an infrastructure command doing `action`.
    pub fn args(&self, action: infra::InfraJob) -> infra::Args {
        infra::Args {
            action,
            options: self.options(),
        }
    }
}

fn output_format() -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new(["text", "json"]).map(|s| match s.as_str() {
        "json" => OutputFormat::Json,
        _ => OutputFormat::Text,
    })
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
    #[arg(long, global = true, value_parser = output_format(), value_name = "FORMAT")]
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
    /// `verify` (and so `all` and `complete`) proves a chat works by sending each configured
    /// model one short completion (a prompt of a few words, at most 5 tokens back: well under
    /// a cent per model at Bedrock's on-demand prices); this skips those calls (models are
    /// still listed) [env: VERIFY_MODEL_CALLS=false]
    #[arg(long, global = true)]
    pub no_model_call: bool,
    /// Project directory holding helm-values/, manifests/, iam/ and terraform/ (a copy needs
    /// all four) [env: DEPLOYCTL_DIR]
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
    /// Show what a run would do, and why, without changing anything
    Plan {
        /// Steps to plan (default: every application step)
        #[arg(value_name = "STEP")]
        steps: Vec<String>,
    },
    /// Show what a run would change in the cluster, object by object and field by field
    /// (releases: the live release against the pinned chart with our values; our manifests:
    /// a server-side apply dry run), without changing anything
    Diff {
        /// Steps to compare (default: every release and every step that applies manifests)
        #[arg(value_name = "STEP")]
        steps: Vec<String>,
    },
    /// Which pins have aged: each release's chart against its repository, the cluster's
    /// Kubernetes version and add-ons against EKS, the Bedrock models' lifecycles (read-only;
    /// exit 1 when something is behind)
    Outdated,
    /// Write the cluster side of the stack for a GitOps engine: Flux (Kustomizations,
    /// HelmReleases, sources) or Argo CD (an AppProject, Applications in sync waves), ordered
    /// by the step graph, no secret value; deployctl keeps the AWS side and the checks
    Export {
        /// The GitOps engine
        #[arg(long, value_parser = ["flux", "argocd"])]
        format: String,
        /// The Git repository Argo CD reads (needed for argocd)
        #[arg(long, value_name = "URL")]
        repo_url: Option<String>,
        /// The API server Argo CD deploys this cluster's stack to, as registered in Argo CD
        /// (default: the cluster Argo CD runs in)
        #[arg(long, value_name = "URL")]
        destination_server: Option<String>,
        /// Where to write (the GitOps repository's root; several clusters can share it)
        #[arg(value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Run the named steps together, in graph order, in one run
    Run {
        /// Steps to run (see `deployctl list`)
        #[arg(value_name = "STEP", required = true)]
        steps: Vec<String>,
    },
    /// One subcommand per row of the step table (`graph::STEPS`): `deployctl redis`, …
    #[command(flatten)]
    Step(StepCommand),
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
    /// Amazon Bedrock access for the configured models
    #[command(arg_required_else_help = true)]
    Bedrock {
        #[command(subcommand)]
        action: BedrockAction,
    },
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum BedrockAction {
    /// With YOUR credentials (aws-marketplace:Subscribe, ViewSubscriptions, Unsubscribe):
    /// subscribe the account to each configured model's Marketplace offer, the one-time step
    /// a model's first call needs, and check Anthropic's first-time-use form. LiteLLM's own
    /// role gets no Marketplace permission.
    Enable,
}

/// The options of `deployctl secrets`.
#[derive(Debug, Args, Clone, Default)]
pub struct SecretsArgs {
    /// Rotate this existing secret (repeatable; for CI): master-key, redis-password,
    /// webui-secret-key
    #[arg(long, value_parser = secret_name(), value_name = "NAME")]
    pub rotate: Vec<SecretName>,
    /// Required with `--rotate master-key`: every issued API key stops working
    #[arg(long)]
    pub i_understand_this_breaks_api_keys: bool,
    /// Read the value for a missing <prefix>/database-url from FILE, or from stdin with
    /// `-` (DATABASE_URL works too). Never on the command line: argv is visible in `ps`.
    #[arg(long, value_name = "FILE|-")]
    pub database_url_file: Option<std::path::PathBuf>,
    /// Replaced by --database-url-file (a URL in argv is visible in the process list)
    #[arg(long, value_name = "URL", hide = true)]
    pub database_url: Option<String>,
    /// Restore a stack secret that is scheduled for deletion (its old value comes back)
    /// instead of stopping; interactive runs ask
    #[arg(long)]
    pub restore_deleted: bool,
    /// Show a secret meant for a person (openwebui-admin: the OpenWebUI admin's first
    /// password) on this terminal; refused when stdout is not a terminal. Changes nothing.
    #[arg(long, value_name = "NAME", value_parser = ["openwebui-admin"])]
    pub reveal: Option<String>,
}

impl SecretsArgs {
    /// The flags as plain values for `commands::secrets_input`.
    pub fn flags(&self) -> crate::commands::secrets_input::SecretsFlags {
        crate::commands::secrets_input::SecretsFlags {
            rotate: self.rotate.clone(),
            i_understand_this_breaks_api_keys: self.i_understand_this_breaks_api_keys,
            database_url: self.database_url.clone(),
            database_url_file: self.database_url_file.clone(),
            restore_deleted: self.restore_deleted,
        }
    }
}

/// `--rotate NAME`: salt-key and database-url are accepted (to say why not) but not offered.
fn secret_name() -> impl TypedValueParser<Value = SecretName> {
    PossibleValuesParser::new(
        SecretName::ALL
            .iter()
            .map(|n| PossibleValue::new(n.name()).hide(!n.rotatable())),
    )
    .map(|s| {
        SecretName::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .unwrap_or(SecretName::MasterKey)
    })
}

/// A step's subcommand, made from its row in the step table; `secrets` carries its options.
#[derive(Debug, Clone)]
pub struct StepCommand {
    pub id: StepId,
    pub secrets: SecretsArgs,
}

impl FromArgMatches for StepCommand {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, sub)) = matches.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let id = StepId::from_name(name).ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidSubcommand,
                format!("the subcommand '{name}' wasn't recognized"),
            )
        })?;
        let secrets = if id == StepId::Secrets {
            SecretsArgs::from_arg_matches(sub)?
        } else {
            SecretsArgs::default()
        };
        Ok(StepCommand { id, secrets })
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for StepCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        STEPS.iter().fold(cmd, |cmd, def| {
            let sub = clap::Command::new(def.name);
            let sub = if def.id == StepId::Secrets {
                SecretsArgs::augment_args(sub)
            } else {
                sub
            };
            cmd.subcommand(
                sub.about(def.help)
                    .visible_aliases(def.aliases.iter().copied()),
            )
        })
    }
    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }
    fn has_subcommand(name: &str) -> bool {
        StepId::from_name(name).is_some()
    }
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

impl ChartsAction {
    pub fn action(&self) -> charts::ChartsJob {
        match self {
            ChartsAction::Pull { destination } => charts::ChartsJob::Pull {
                destination: destination.clone(),
            },
            ChartsAction::Render { releases } => charts::ChartsJob::Render {
                releases: releases.clone(),
            },
        }
    }
}

impl BastionAction {
    pub fn action(&self) -> bastion::BastionJob {
        match self {
            BastionAction::Create => bastion::BastionJob::Create,
            BastionAction::Connect => bastion::BastionJob::Connect,
            BastionAction::Cleanup { confirm_destroy } => bastion::BastionJob::Cleanup {
                confirm_destroy: confirm_destroy.clone(),
            },
        }
    }
}

impl GlobalArgs {
    /// The flags as plain settings input.
    pub fn flags(&self) -> Flags {
        Flags {
            region: self.region.clone(),
            cluster: self.cluster.clone(),
            context: self.context.clone(),
            api_access: self.api_access.clone(),
            kubeconfig: self.kubeconfig.clone(),
            profile: self.profile.clone(),
            non_interactive: self.non_interactive,
            auto_skip_healthy: self.auto_skip_healthy,
            skip_all: self.skip_all,
            concurrency: self.concurrency,
            output: self.output,
            verbose: self.verbose,
            quiet: self.quiet,
            with_deps: self.with_deps,
            resume: self.resume,
            repair_pending_installs: self.repair_pending_installs,
            no_model_call: self.no_model_call,
            dir: self.dir.clone(),
            charts_dir: self.charts_dir.clone(),
        }
    }
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
            Command::Plan { .. } => "plan",
            Command::Diff { .. } => "diff",
            Command::Outdated => "outdated",
            Command::Export { .. } => "export",
            Command::Run { .. } => "run",
            Command::Step(step) => step.id.name(),
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
            Command::Bedrock { action } => match action {
                BedrockAction::Enable => "bedrock enable",
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
    fn every_step_is_a_subcommand_from_its_row() {
        let cmd = Cli::command();
        for def in STEPS {
            let sub = cmd
                .find_subcommand(def.name)
                .unwrap_or_else(|| panic!("no subcommand {}", def.name));
            assert_eq!(
                sub.get_about().map(|a| a.to_string()).as_deref(),
                Some(def.help)
            );
            let cli = Cli::try_parse_from(["deployctl", def.name]).unwrap();
            assert_eq!(cli.command.name(), def.name);
            match cli.command {
                Command::Step(step) => assert_eq!(step.id, def.id),
                other => panic!("{other:?}"),
            }
        }
        let cli =
            Cli::try_parse_from(["deployctl", "secrets", "--rotate", "redis-password"]).unwrap();
        match cli.command {
            Command::Step(step) => {
                assert_eq!(step.id, StepId::Secrets);
                assert_eq!(step.secrets.rotate, [SecretName::RedisPassword]);
            }
            other => panic!("{other:?}"),
        }
        // Only `secrets` takes the secrets options.
        assert!(Cli::try_parse_from(["deployctl", "redis", "--rotate", "master-key"]).is_err());
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
