//! Context: what every step gets — settings, the printer, and the clients preflight built.

use crate::config::Settings;
use crate::platform::aws::Aws;
use crate::platform::tools::helm::Helm;
use crate::stack::secret_names::SecretName;
use crate::ui::Ui;
use anyhow::{Result, anyhow};
use std::sync::OnceLock;

pub struct Context {
    pub settings: Settings,
    pub ui: Ui,
    pub helm: Helm,
    kube: OnceLock<kube::Client>,
    /// The kube context preflight checked: helm gets the same one (`--kube-context`).
    kube_context: OnceLock<String>,
    aws: tokio::sync::OnceCell<Aws>,
    /// The AWS account of the cluster, from the ARN EKS reported for it (context proof).
    cluster_account: OnceLock<String>,
    /// The tunnel to a private API endpoint, open for this run (see `tunnel`).
    pub tunnel: tokio::sync::Mutex<Option<crate::platform::tunnel::Tunnel>>,
    /// Secrets the `secrets` step rotated in this run (for the follow-through).
    pub rotated: std::sync::Mutex<Vec<SecretName>>,
}

impl Context {
    pub fn new(settings: Settings, ui: Ui) -> Self {
        Context {
            settings,
            ui,
            helm: Helm::new(),
            kube: OnceLock::new(),
            kube_context: OnceLock::new(),
            aws: tokio::sync::OnceCell::new(),
            cluster_account: OnceLock::new(),
            rotated: std::sync::Mutex::new(Vec::new()),
            tunnel: tokio::sync::Mutex::new(None),
        }
    }

    /// The AWS clients (configuration loaded once per run, on first use).
    pub async fn aws(&self) -> &Aws {
        self.aws.get_or_init(|| Aws::load(&self.settings)).await
    }

    /// End of the run: close the tunnel if one was opened (also after a failure or an
    /// interrupt; a second interrupt's immediate exit stops the plugin in `interrupt`).
    pub async fn close(&self) {
        let tunnel = self.tunnel.lock().await.take();
        if let Some(t) = tunnel {
            t.close(self.aws().await, &self.ui).await;
        }
    }

    pub fn set_cluster_account(&self, account: String) {
        let _ = self.cluster_account.set(account);
    }

    /// The AWS account this run works in, when it has learnt it without asking anew: the
    /// cluster's (from its ARN), the one STS reported, or ACCOUNT_ID.
    pub fn known_account(&self) -> Option<String> {
        self.cluster_account
            .get()
            .cloned()
            .or_else(|| self.aws.get().and_then(|a| a.known_account()))
            .or_else(|| self.settings.account_id.clone())
    }

    pub fn set_kube(&self, client: kube::Client) {
        let _ = self.kube.set(client);
    }

    pub fn set_kube_context(&self, context: String) {
        let _ = self.kube_context.set(context);
    }

    /// The kube context preflight checked, when it connected.
    pub fn kube_context(&self) -> Option<&str> {
        self.kube_context.get().map(String::as_str)
    }

    /// The Kubernetes client preflight connected (and checked the context of).
    pub fn kube(&self) -> Result<kube::Client> {
        self.kube.get().cloned().ok_or_else(|| {
            anyhow!("internal error: Kubernetes used by a step preflight did not prepare")
        })
    }
}
