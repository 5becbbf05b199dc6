//! `deployctl eks-token`: kubectl's credential plugin (the token itself is made in
//! `crate::platform::eks_auth`); the ExecCredential goes to stdout and nothing else does.

use anyhow::Result;

pub async fn run(inv: super::Invocation) -> Result<crate::error::ExitCode> {
    let (cx, _) = inv.context();
    let credential = crate::platform::eks_auth::run(cx.aws().await, &cx.settings.cluster).await?;
    cx.ui.stdout_raw(&credential.to_string());
    Ok(crate::error::exit::OK)
}
