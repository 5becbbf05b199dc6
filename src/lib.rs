//! deployctl: stands up LiteLLM + OpenWebUI and their platform on AWS EKS.
//! The pipeline is arguments → settings → engine (preflight, assess, decide, execute, report).

pub mod access;
pub mod aws;

pub mod bedrock;
pub mod charts;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod context;
pub mod database_url;
pub mod decide;
pub mod eks_token;
pub mod eks_versions;
pub mod encoding;
pub mod engine;
pub mod error;
pub mod graph;
pub mod interrupt;
pub mod journal;
pub mod kube;
pub mod list;
pub mod manifest;
pub mod postgres;
pub mod preflight;
pub mod prompt;
pub mod release_table;
pub mod releases;
pub mod render;
pub mod roles;
pub mod secret_names;
pub mod steps;
pub mod tools;
pub mod tunnel;
pub mod ui;
pub mod yaml;

use clap::Parser;
use cli::{Cli, Command};
use config::{Env, Settings, Terminal};
use engine::{Mode, Request};
use error::{UserError, exit};
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

/// Parse, resolve settings, run; returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>, env: Env) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = e.exit_code();
            // --help and --version are not failures; a usage error still ends in a summary
            // when JSON was asked for.
            if code != exit::OK && json_requested(&args) {
                error::failed_check("usage");
                let message = e.kind().to_string();
                ui::final_summary(
                    "",
                    code,
                    Some((&message, Some("run `deployctl --help` for the usage"))),
                );
            }
            return code;
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
    let code = run_parsed(cli, env);
    if json {
        let err = LAST_ERROR.lock().unwrap_or_else(|e| e.into_inner()).take();
        match err {
            Some((message, help)) => {
                // An error no check claimed is the command's own.
                if error::failed_checks().is_none() {
                    error::failed_check(command.trim());
                }
                ui::final_summary(&command, code.0, Some((&message, help.as_deref())))
            }
            None => ui::final_summary(&command, code.0, None),
        }
    }
    code.0
}

/// The error that ended the run (message, help), for the JSON summary.
static LAST_ERROR: std::sync::Mutex<Option<(String, Option<String>)>> = std::sync::Mutex::new(None);

fn remember_error(err: &anyhow::Error) {
    *LAST_ERROR.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((format!("{err:#}"), error::help_of(err).map(str::to_string)));
}

/// `--output json` / `--output=json` among raw arguments (for errors before parsing is done).
fn json_requested(args: &[OsString]) -> bool {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    words
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || words.contains(&"--output=json")
}

struct Code(i32);

fn run_parsed(cli: Cli, mut env: Env) -> Code {
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
            return Code(write_stdout(&out, "the completion script"));
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
                crate::ui::err_line(&format!("error: cannot render the manual page: {e}"));
                return Code(exit::FAILED);
            }
            return Code(write_stdout(&out, "the manual page"));
        }
        _ => {}
    }
    let settings = match Settings::resolve(&cli.global.flags(), &env, Terminal::detect()) {
        Ok(s) => s,
        Err(e) => {
            let code = e.code;
            error::failed_check("settings");
            let e = anyhow::Error::new(e);
            print_error(&e);
            remember_error(&e);
            return Code(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::ui::err_line(&format!("error: cannot start the async runtime: {e}"));
            return Code(exit::FAILED);
        }
    };
    let json = settings.output == config::OutputFormat::Json;
    Code(match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(code) => code,
        Err(e) if prompt::is_quit(&e) => quit(json, interrupt::changes_began()),
        Err(e) => {
            print_error(&e);
            remember_error(&e);
            error::code_of(&e)
        }
    })
}

/// The operator quit at a question (Q, Ctrl-C, Ctrl-D). Before any change that is a clean
/// stop (exit 0); once changes began it is an interruption (exit 130), as Ctrl-C would be.
fn quit(json: bool, changes_began: bool) -> i32 {
    if changes_began {
        let e = anyhow::Error::new(error::UserError {
            message: "quit at a question after changes began: the run stopped part way".into(),
            help: Some("run the same command again to finish".into()),
            code: exit::INTERRUPTED,
        });
        print_error(&e);
        remember_error(&e);
        return exit::INTERRUPTED;
    }
    let text = "Quit: nothing has been changed.";
    if json {
        crate::ui::err_line(text);
        crate::ui::out_line(
            &serde_json::json!({"event": "quit", "exit_code": exit::OK}).to_string(),
        );
    } else {
        crate::ui::out_line(text);
    }
    exit::OK
}

/// Write generated text to stdout; a reader that stops early (`| head`) is fine.
fn write_stdout(bytes: &[u8], what: &str) -> i32 {
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

/// Check the `secrets` flags; salt-key and database-url have no rotation path.
fn secrets_options(
    args: &cli::SecretsArgs,
    settings: &mut Settings,
) -> anyhow::Result<context::SecretsOptions> {
    let cli::SecretsArgs {
        rotate,
        i_understand_this_breaks_api_keys,
        database_url,
        database_url_file,
        restore_deleted,
        reveal: _,
    } = args;
    for name in rotate {
        match name {
            secret_names::SecretName::SaltKey => {
                return Err(UserError::usage(
                    "salt-key cannot be rotated: LiteLLM encrypts its stored credentials with it, and a new one makes them unreadable",
                    "leave salt-key as it is; there is no rotation path for it",
                )
                .into());
            }
            secret_names::SecretName::DatabaseUrl => {
                return Err(UserError::usage(
                    "database-url is not rotated: it names your database",
                    "change it interactively with `deployctl secrets` (Proceed, then confirm twice)",
                )
                .into());
            }
            secret_names::SecretName::OpenwebuiAdmin => {
                return Err(UserError::usage(
                    "openwebui-admin is not rotated: OpenWebUI made its admin from it once and keeps its own copy of the password",
                    "change the admin's password in OpenWebUI (Settings → Account); `deployctl secrets --reveal openwebui-admin` shows the first one",
                )
                .into());
            }
            secret_names::SecretName::OpenwebuiOidc => {
                return Err(UserError::usage(
                    "openwebui-oidc is not rotated: the identity provider issues it",
                    "change it interactively with `deployctl secrets` (Proceed), or with `aws secretsmanager put-secret-value`, then `deployctl openwebui`",
                )
                .into());
            }
            secret_names::SecretName::OpenwebuiDatabaseUrl => {
                return Err(UserError::usage(
                    "openwebui-database-url is not rotated by --rotate: deployctl made it from database-url, and OpenWebUI's database role follows it",
                    "to change OpenWebUI's database password, put a new URL with `aws secretsmanager put-secret-value` (same role, database and host), then `deployctl secret-stores openwebui` (the role is set from it, and OpenWebUI restarted)",
                )
                .into());
            }
            secret_names::SecretName::MasterKey if !i_understand_this_breaks_api_keys => {
                return Err(UserError::usage(
                    "rotating master-key breaks every API key LiteLLM has issued",
                    "add --i-understand-this-breaks-api-keys to rotate it anyway",
                )
                .into());
            }
            _ => {}
        }
    }
    if database_url.is_some() {
        // Not echoed: the value is a secret.
        return Err(UserError::usage(
            "--database-url is no longer accepted: a URL on the command line is visible in the process list and the shell history",
            "pass it in a file with `--database-url-file FILE`, on stdin with `--database-url-file -`, or in DATABASE_URL",
        )
        .into());
    }
    if let Some(path) = database_url_file {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
                UserError::usage(
                    format!("cannot read the database URL from stdin: {e}"),
                    "pipe it in: `deployctl secrets --database-url-file - < url.txt`",
                )
            })?;
            s
        } else {
            std::fs::read_to_string(path).map_err(|e| {
                UserError::usage(
                    format!("cannot read the database URL file {}: {e}", path.display()),
                    "pass a readable file with --database-url-file FILE (or - for stdin)",
                )
            })?
        };
        let url = text.trim().to_string();
        if url.is_empty() {
            return Err(UserError::usage(
                format!(
                    "the database URL {} is empty",
                    if path.as_os_str() == "-" {
                        "on stdin".to_string()
                    } else {
                        format!("file {}", path.display())
                    }
                ),
                "write `postgresql://USER:PASSWORD@HOST:5432/DB` into it",
            )
            .into());
        }
        settings.database_url = Some(secrecy::SecretString::from(url));
    }
    Ok(context::SecretsOptions {
        rotate: rotate.clone(),
        restore_deleted: *restore_deleted,
    })
}

async fn dispatch(command: Command, mut settings: Settings) -> anyhow::Result<i32> {
    // `eks-token` is kubectl's credential plugin: it keeps the default signal handling.
    if !matches!(command, Command::EksToken) {
        interrupt::install();
    }
    let ui = ui::Ui::new(&settings);
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
        Command::Step(step) => secrets_options(&step.secrets, &mut settings)?,
        _ => context::SecretsOptions::default(),
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
        let cx = Arc::new(cx.with_secrets(secrets_options));
        let request = Request {
            command: name,
            steps,
            mode,
        };
        engine::run(cx, prompter, request)
    };
    let steps = match command {
        Command::List => {
            if inv.ui.json() {
                inv.ui.event(list::render_json());
            } else {
                inv.ui.println(list::render_text().trim_end());
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
            let action = commands::infra::Action::Apply { auto_approve };
            return commands::infra::run(inv, tf.args(action)).await;
        }
        Command::InfrastructurePlan { tf } => {
            return commands::infra::run(inv, tf.args(commands::infra::Action::Plan)).await;
        }
        Command::InfrastructureDestroy {
            tf,
            confirm_destroy,
        } => {
            let action = commands::infra::Action::Destroy { confirm_destroy };
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
        assert_eq!(quit(true, false), exit::OK);
        assert!(LAST_ERROR.lock().unwrap().is_none());
        assert_eq!(quit(true, true), exit::INTERRUPTED);
        let (message, help) = LAST_ERROR.lock().unwrap().take().expect("remembered");
        assert!(message.contains("after changes began"), "{message}");
        assert_eq!(
            help.as_deref(),
            Some("run the same command again to finish")
        );
    }
}
