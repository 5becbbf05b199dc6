//! `deployctl secrets --reveal openwebui-admin`: the one secret meant for a person (the
//! OpenWebUI admin's first password), shown on this terminal only. stdout must be a
//! terminal: a pipe, a file or a CI log is refused before the value is read, and the command
//! that reads it another way is named.

use crate::error::{UserError, exit};
use anyhow::Result;
use secrecy::ExposeSecret;

pub async fn run(inv: super::Invocation, name: &str) -> Result<crate::error::ExitCode> {
    let prefix = inv.settings.secrets_prefix.clone();
    let secret = format!("{prefix}/{name}");
    let region = inv.settings.region.clone();
    let email = inv.settings.access.admin_email.clone();
    // SAFETY: isatty only reads the descriptor's state.
    if unsafe { libc::isatty(libc::STDOUT_FILENO) } != 1 {
        return Err(UserError::usage(
            format!("refusing to write {secret} anywhere but a terminal (stdout is a pipe or a file)"),
            format!(
                "run it in a terminal, or read it yourself: `aws secretsmanager get-secret-value --secret-id {secret} --region {region} --query SecretString --output text`"
            ),
        )
        .into());
    }
    let (cx, _) = inv.context();
    let aws = cx.aws().await;
    let Some(value) = crate::platform::aws::secrets::get_value(aws, &secret).await? else {
        return Err(UserError::failed(
            format!("{secret} does not exist"),
            "create it with `deployctl secrets` (OpenWebUI makes its admin from it at its first start)",
        )
        .into());
    };
    crate::ui::out_line(&format!(
        "OpenWebUI admin {email}, first password ({secret}): {}",
        value.expose_secret()
    ));
    crate::ui::out_line(
        "It was used once, when OpenWebUI first started with no user: if the admin changed it since, OpenWebUI has the new one; and a database that had users before (an install older than this admin, or a restored one) kept its own admin, which this password does not open.",
    );
    Ok(exit::OK)
}
