//! deployctl: stands up LiteLLM and OpenWebUI and their platform on AWS EKS. It replaces two
//! bash scripts, `deploy.sh` and `setup-bastion.sh`: their commands, aliases, environment
//! variables, prompts and skip rules are its interface, and comments that name them mean
//! those scripts.
//!
//! A run is arguments → settings → engine (preflight, assess, decide, execute, report). The
//! crate from the top floor down — each module imports only from the floors below it (the
//! why of each part is in `docs/architecture.md`):
//!
//! - **Entry**: [`cli`] (the clap tree; no clap type goes further), [`commands`] (every
//!   command that is not a step of the graph, `deployctl list` among them:
//!   [`commands::list`]).
//! - **The run**: [`engine`] (one run, in phases), [`steps`] (one file per step),
//!   [`preflight`], [`cluster`] (the context guard and the connection to the cluster),
//!   [`context`] (what a step gets).
//! - **The stack**, [`stack`]: [`stack::releases`] (the pins and
//!   what each release needs and gets), [`stack::roles`] (IRSA), [`stack::secret_names`],
//!   [`stack::database_url`], [`stack::bedrock`] (the models), [`stack::eks_versions`] (the
//!   EKS calendar), [`stack::entry_point`] (the Ingresses), [`stack::manifest`],
//!   [`stack::charts`], [`stack::render`] (the render with the real helm and its checks).
//! - **The platform**, [`platform`]: [`platform::aws`] (aws-sdk-rust),
//!   [`platform::kubeapi`] (kube-rs), [`platform::tools`] (helm and terraform as child
//!   processes), [`platform::tunnel`] (the way to a private API), [`platform::eks_auth`]
//!   (the EKS bearer token), [`platform::postgres`], [`platform::encoding`].
//! - **The terminal and the run's end**: [`results`] (the summary table and the "next:"
//!   rule a run and `uninstall` share), [`interrupt`] (signals and a lost terminal),
//!   [`prompt`] (questions), [`ui`] (all output), [`journal`] (`--resume`).
//! - **Rules and settings**: [`decide`] (the decision policy), [`config`] (settings from
//!   flags, the environment and defaults; [`config::access`]: `access.yaml`), [`graph`]
//!   (the step table), [`events`] (the JSON machine messages and the run's summary).
//! - **Leaves**: [`error`] (errors and exit codes), [`json_diff`] (two JSON values compared
//!   path by path, secrets masked), [`yaml`] (YAML errors in the operator's words),
//!   [`yes_no`] (a yes/no value).

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod context;
pub mod decide;
pub mod engine;
pub mod error;
pub mod events;
pub mod graph;
pub mod interrupt;
pub mod journal;
pub mod json_diff;
pub mod platform;
pub mod preflight;
pub mod prompt;
pub mod results;
pub mod stack;
pub mod steps;
pub mod ui;
pub mod yaml;
pub mod yes_no;

use clap::Parser;
use cli::{Cli, Command};
use config::{Env, Settings, Terminal};
use engine::{Mode, Request};
use error::{ExitCode, exit};
use events::{ErrorReport, Summary};
use prompt::{NonInteractive, Prompter, TerminalPrompter};
use std::ffi::OsString;
use std::sync::Arc;

fn print_error(err: &anyhow::Error) {
    let red = console::style("error:").red().bold();
    crate::ui::err_line(&format!("{red} {err:#}"));
    if let Some(help) = error::help_of(err) {
        crate::ui::err_line(&format!("{} {help}", console::style("help:").cyan().bold()));
    }
}

/// Parse, resolve settings, run; returns the process exit code. With `--output json` the
/// last line is the run's one `summary` event, made here from how the run ended.
pub fn run(args: impl IntoIterator<Item = OsString>, env: Env) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = ExitCode(e.exit_code());
            // --help and --version are not failures; a usage error still ends in a summary
            // when JSON was asked for.
            if !code.is_ok() && json_requested(&args) {
                ui::write_summary(&Summary::new(
                    "",
                    code,
                    Some(ErrorReport {
                        message: e.kind().to_string(),
                        help: Some("run `deployctl --help` for the usage".into()),
                        check: Some("usage".into()),
                    }),
                ));
            }
            return code.0;
        }
    };
    // Completions and the manual are documents, not runs: no summary after them.
    let json = cli.global.output == Some(config::OutputFormat::Json)
        && !matches!(cli.command, Command::Completions { .. } | Command::Man);
    let command = match &cli.command {
        Command::Run { steps } => format!("run {}", steps.join(" ")),
        other => other.name().to_string(),
    };
    if json {
        ui::json_run(&command);
    }
    let ended = run_parsed(cli, env);
    if json {
        let summary = ended.summary.unwrap_or_else(|| {
            Summary::new(
                &command,
                ended.code,
                ended.error.map(|mut e| {
                    // An error no check claimed is the command's own.
                    e.check.get_or_insert_with(|| command.trim().to_string());
                    e
                }),
            )
        });
        ui::write_summary(&summary);
    }
    ended.code.0
}

/// How a run ended: its exit code, the error that ended it (for the summary; printed
/// already), and the summary the command made of its run, if it made one.
struct Ended {
    code: ExitCode,
    error: Option<ErrorReport>,
    summary: Option<Summary>,
}

impl Ended {
    fn code(code: ExitCode) -> Ended {
        Ended {
            code,
            error: None,
            summary: None,
        }
    }

    /// An error: printed now (`error:` and `help:`), reported in the summary.
    fn error(err: &anyhow::Error, check: Option<&str>) -> Ended {
        print_error(err);
        Ended {
            code: error::code_of(err),
            error: Some(ErrorReport {
                message: format!("{err:#}"),
                help: error::help_of(err).map(str::to_string),
                check: check.map(str::to_string).or_else(|| error::checks_of(err)),
            }),
            summary: None,
        }
    }
}

/// `--output json` / `--output=json` among raw arguments (for errors before parsing is done).
fn json_requested(args: &[OsString]) -> bool {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    words
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || words.contains(&"--output=json")
}

fn run_parsed(cli: Cli, mut env: Env) -> Ended {
    // --kubeconfig and --profile are the variables, set for deployctl and every child (helm,
    // terraform, the kubeconfig's exec credential): a flag wins over its variable. This runs
    // before any thread is started.
    for (var, value) in [
        (
            "KUBECONFIG",
            cli.global
                .kubeconfig
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ),
        ("AWS_PROFILE", cli.global.profile.clone()),
    ] {
        if let Some(v) = value {
            env.set(var, &v);
            // SAFETY: single-threaded here (no runtime yet, no thread spawned).
            unsafe { std::env::set_var(var, &v) };
        }
    }
    // Completions and the manual need no settings (a bad variable must not break them).
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "deployctl", &mut out);
            return Ended::code(write_stdout(&out, "the completion script"));
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
                crate::ui::err_line(&format!("error: cannot render the manual page: {e}"));
                return Ended::code(exit::FAILED);
            }
            return Ended::code(write_stdout(&out, "the manual page"));
        }
        _ => {}
    }
    let settings = match Settings::resolve(&cli.global.flags(), &env, Terminal::detect()) {
        Ok(s) => s,
        Err(e) => return Ended::error(&anyhow::Error::new(e), Some("settings")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::ui::err_line(&format!("error: cannot start the async runtime: {e}"));
            return Ended::code(exit::FAILED);
        }
    };
    let json = settings.output == config::OutputFormat::Json;
    let (done, summary) = runtime.block_on(dispatch(cli.command, settings));
    let mut ended = match done {
        Ok(code) => Ended::code(code),
        Err(e) if prompt::is_quit(&e) => quit(json, interrupt::changes_began()),
        Err(e) => Ended::error(&e, None),
    };
    ended.summary = summary;
    ended
}

/// The operator quit at a question (Q, Ctrl-C, Ctrl-D). Before any change that is a clean
/// stop (exit 0); once changes began it is an interruption (exit 130), as Ctrl-C would be.
fn quit(json: bool, changes_began: bool) -> Ended {
    if changes_began {
        let e = anyhow::Error::new(error::UserError {
            message: "quit at a question after changes began: the run stopped part way".into(),
            help: Some("run the same command again to finish".into()),
            code: exit::INTERRUPTED,
        });
        return Ended::error(&e, None);
    }
    let text = "Quit: nothing has been changed.";
    if json {
        crate::ui::err_line(text);
        crate::ui::out_line(
            &events::Event::Quit {
                exit_code: exit::OK,
            }
            .to_line(),
        );
    } else {
        crate::ui::out_line(text);
    }
    Ended::code(exit::OK)
}

/// Write generated text to stdout; a reader that stops early (`| head`) is fine.
fn write_stdout(bytes: &[u8], what: &str) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            crate::ui::err_line(&format!("error: cannot write {what}: {e}"));
            exit::FAILED
        }
    }
}

fn step_ids(names: &[String]) -> anyhow::Result<Vec<graph::StepId>> {
    names
        .iter()
        .map(|s| graph::StepId::parse(s).map_err(Into::into))
        .collect()
}

fn prompter_for(settings: &Settings) -> Arc<dyn Prompter> {
    if settings.interactive {
        Arc::new(TerminalPrompter::new())
    } else {
        Arc::new(NonInteractive)
    }
}

/// Run the command; returns how it ended and the summary it made of its run, if any.
async fn dispatch(
    command: Command,
    settings: Settings,
) -> (anyhow::Result<ExitCode>, Option<Summary>) {
    // `eks-token` is kubectl's credential plugin: it keeps the default signal handling.
    if !matches!(command, Command::EksToken) {
        interrupt::install();
    }
    let ui = ui::Ui::new(&settings);
    let slot = ui.summary_slot();
    let done = dispatch_with(command, settings, ui).await;
    let summary = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    (done, summary)
}

async fn dispatch_with(
    command: Command,
    mut settings: Settings,
    ui: ui::Ui,
) -> anyhow::Result<ExitCode> {
    // access.yaml matters to the commands that deploy, verify or remove the stack; a broken
    // one (or a bad ENTRY_* variable) is their usage error, nobody else's.
    let reads_access = matches!(
        command,
        Command::Plan { .. }
            | Command::Diff { .. }
            | Command::Run { .. }
            | Command::All
            | Command::Step(_)
            | Command::Uninstall { .. }
            | Command::InfrastructureVerify
            | Command::Complete { .. }
    );
    if reads_access && let Some(problem) = settings.access_problem.take() {
        return Err(problem.into());
    }
    let secrets_options = match &command {
        Command::Step(step) => {
            commands::secrets_input::options(&step.secrets.flags(), &mut settings)?
        }
        _ => steps::secrets::SecretsOptions::default(),
    };
    let name = match &command {
        Command::Run { steps } => format!("run {}", steps.join(" ")),
        other => other.name().to_string(),
    };
    let prompter = prompter_for(&settings);
    let inv = commands::Invocation {
        settings,
        ui,
        prompter: prompter.clone(),
    };
    // The step engine, for the commands that run steps.
    let engine = |cx: context::Context, steps: Vec<graph::StepId>, mode: Mode| {
        let cx = Arc::new(cx);
        let request = Request {
            command: name,
            steps,
            mode,
            secrets: secrets_options,
        };
        engine::run(cx, prompter, request)
    };
    let steps = match command {
        Command::List => {
            if inv.ui.json() {
                inv.ui.emit(&events::Event::List(commands::list::listing()));
            } else {
                inv.ui.println(commands::list::render_text().trim_end());
            }
            return Ok(exit::OK);
        }
        Command::Plan { steps } if steps.is_empty() => (graph::all_steps(), Mode::Plan),
        Command::Plan { steps } => (step_ids(&steps)?, Mode::Plan),
        Command::Run { steps } => (step_ids(&steps)?, Mode::Run),
        Command::All => (graph::all_steps(), Mode::Run),
        Command::Step(step) if step.secrets.reveal.is_some() => {
            return commands::reveal::run(inv, step.secrets.reveal.as_deref().unwrap_or_default())
                .await;
        }
        Command::Step(step) => (graph::single(step.id), Mode::Run),
        Command::Kubeconfig => return commands::kubeconfig::run(inv).await,
        Command::EksToken => return commands::eks_token::run(inv).await,
        Command::Uninstall {
            steps,
            confirm_destroy,
        } => {
            let args = commands::uninstall::Args {
                steps,
                confirm_destroy,
            };
            return commands::uninstall::run(inv, args).await;
        }
        Command::InfrastructureVerify => return commands::infra_verify::run(inv).await,
        Command::Diff { steps } => return commands::diff::run(inv, steps).await,
        Command::Outdated => return commands::outdated::run(inv).await,
        Command::Export {
            format,
            repo_url,
            destination_server,
            out,
        } => {
            let format = if format == "argocd" {
                commands::export::Format::Argocd
            } else {
                commands::export::Format::Flux
            };
            let args = commands::export::Args {
                format,
                dir: out,
                repo_url,
                destination: destination_server,
            };
            return commands::export::run(inv, args).await;
        }
        Command::Charts { action } => return commands::charts::run(inv, action.action()).await,
        Command::Bastion { action } => return commands::bastion::run(inv, action.action()).await,
        Command::Bedrock {
            action: cli::BedrockAction::Enable,
        } => return commands::bedrock::enable(inv).await,
        Command::Infrastructure { tf, auto_approve } => {
            let action = commands::infra::InfraJob::Apply { auto_approve };
            return commands::infra::run(inv, tf.args(action)).await;
        }
        Command::InfrastructurePlan { tf } => {
            return commands::infra::run(inv, tf.args(commands::infra::InfraJob::Plan)).await;
        }
        Command::InfrastructureDestroy {
            tf,
            confirm_destroy,
        } => {
            let action = commands::infra::InfraJob::Destroy { confirm_destroy };
            return commands::infra::run(inv, tf.args(action)).await;
        }
        Command::Complete { tf, auto_approve } => {
            let args = commands::complete::Args {
                options: tf.options(),
                auto_approve,
            };
            return commands::complete::run(inv, args, |cx| {
                engine(cx, graph::all_steps(), Mode::Run)
            })
            .await;
        }
        Command::Completions { .. } | Command::Man => unreachable!("handled before settings"),
    };
    let (cx, _) = inv.context();
    engine(cx, steps.0, steps.1).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quitting_at_a_question_is_clean_before_changes_and_an_interruption_after() {
        let before = quit(true, false);
        assert_eq!(before.code, exit::OK);
        assert!(before.error.is_none());
        let after = quit(true, true);
        assert_eq!(after.code, exit::INTERRUPTED);
        let e = after.error.expect("reported");
        assert!(e.message.contains("after changes began"), "{}", e.message);
        assert_eq!(
            e.help.as_deref(),
            Some("run the same command again to finish")
        );
    }
}
