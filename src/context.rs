//! Context: what every step gets — settings, the printer, and the clients preflight built.

use crate::config::Settings;
use crate::tools::helm::Helm;
use crate::ui::Ui;
use anyhow::{Result, anyhow};
use std::sync::OnceLock;

pub struct Context {
    pub settings: Settings,
    pub ui: Ui,
    pub helm: Helm,
    kube: OnceLock<kube::Client>,
}

impl Context {
    pub fn new(settings: Settings, ui: Ui) -> Self {
        Context {
            settings,
            ui,
            helm: Helm::new(),
            kube: OnceLock::new(),
        }
    }

    pub fn set_kube(&self, client: kube::Client) {
        let _ = self.kube.set(client);
    }

    /// The Kubernetes client preflight connected (and checked the context of).
    pub fn kube(&self) -> Result<kube::Client> {
        self.kube.get().cloned().ok_or_else(|| {
            anyhow!("internal error: Kubernetes used by a step preflight did not prepare")
        })
    }
}
