//! The destroy gate that `uninstall`, `bastion cleanup` and `infrastructure-destroy` share:
//! a run nothing can ask (CI) names the cluster it means with `--confirm-destroy`, and a name
//! given must be the cluster's. Both are checked before anything is removed, and the error
//! says that nothing was.

use crate::error::UserError;
use crate::prompt::Prompter;
use crate::ui::Ui;
use anyhow::Result;

/// One command's gate: how it is named in messages and what it would have done.
pub struct DestroyGate<'a> {
    /// "uninstall", "`bastion cleanup`", "destroy".
    pub command: &'a str,
    /// "removed", "destroyed".
    pub done: &'a str,
}

impl DestroyGate<'_> {
    /// A non-interactive run without `--confirm-destroy` stops (a usage error, exit 2);
    /// `help` is the next command to run.
    pub fn needs_name(
        &self,
        interactive: bool,
        given: Option<&str>,
        help: impl Into<String>,
    ) -> Result<()> {
        if interactive || given.is_some() {
            return Ok(());
        }
        Err(UserError::usage(
            format!(
                "a non-interactive {} needs --confirm-destroy <cluster-name>; nothing was {}",
                self.command, self.done
            ),
            help,
        )
        .into())
    }

    /// A name given must be `cluster`; `whose` says where that name comes from (" in the
    /// Terraform state"), `help` is the next command to run.
    pub fn matches(
        &self,
        given: Option<&str>,
        cluster: &str,
        whose: &str,
        help: impl Into<String>,
    ) -> Result<()> {
        match given {
            Some(given) if given != cluster => Err(UserError::usage(
                format!(
                    "--confirm-destroy `{given}` does not match the cluster `{cluster}`{whose}; nothing was {}",
                    self.done
                ),
                help,
            )
            .into()),
            _ => Ok(()),
        }
    }

    /// In a terminal, the cluster's name typed out after `message`; a different name stops
    /// the command (exit 1) with `help` as the next command. Without a terminal the name
    /// was given (`needs_name`, `matches`) and nothing is asked.
    pub fn typed(
        &self,
        ui: &Ui,
        prompter: &dyn Prompter,
        message: &str,
        cluster: &str,
        help: impl Into<String>,
    ) -> Result<()> {
        if !prompter.interactive() || ui.suspend(|| prompter.typed(message, cluster))? {
            return Ok(());
        }
        Err(UserError::failed(
            format!(
                "the name typed is not the cluster's (`{cluster}`); nothing was {}",
                self.done
            ),
            help,
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_stops_ci_without_the_name_and_any_wrong_name() {
        let gate = DestroyGate {
            command: "uninstall",
            done: "removed",
        };
        assert!(gate.needs_name(true, None, "h").is_ok());
        assert!(gate.needs_name(false, Some("prod"), "h").is_ok());
        let e = gate.needs_name(false, None, "pass it").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a non-interactive uninstall needs --confirm-destroy <cluster-name>; nothing was removed"
        );
        assert_eq!(crate::error::help_of(&e), Some("pass it"));
        assert!(gate.matches(None, "prod", "", "h").is_ok());
        assert!(gate.matches(Some("prod"), "prod", "", "h").is_ok());
        let e = gate
            .matches(Some("dev"), "prod", " in the Terraform state", "h")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--confirm-destroy `dev` does not match the cluster `prod` in the Terraform state; nothing was removed"
        );
    }
}
