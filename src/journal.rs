//! The run journal: which steps of the last run on a cluster succeeded, so `--resume` can
//! skip them after a failure or an interruption. Step names and results only — never a
//! message, a value or an argument.

use crate::config::Settings;
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Journal {
    pub command: String,
    pub cluster: String,
    pub finished_at: String,
    pub exit_code: i32,
    /// step name → "ok" | "failed" | "skipped" | "not run"
    pub steps: BTreeMap<String, String>,
}

/// One journal per account, region and cluster (a same-named cluster in another account or
/// region is another cluster); `account` is the cluster's account when the run learnt it
/// (runs that touch neither AWS nor the cluster: `local`). Every part is safe in a path
/// (12 digits; AWS region names; EKS names: letters, digits, `-`, `_`).
fn path(s: &Settings, account: Option<&str>) -> PathBuf {
    keyed(s, account, "last-run")
}

/// `<stem>-<account>-<region>-<cluster>.json` in the state directory.
fn keyed(s: &Settings, account: Option<&str>, stem: &str) -> PathBuf {
    s.state_dir.join(format!(
        "{stem}-{}-{}-{}.json",
        account_part(account),
        s.region,
        s.cluster
    ))
}

fn account_part(account: Option<&str>) -> String {
    match account {
        Some(a) if !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()) => a.to_string(),
        _ => "local".to_string(),
    }
}

pub fn load(s: &Settings, account: Option<&str>) -> Option<Journal> {
    let text = std::fs::read_to_string(path(s, account)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn save(s: &Settings, account: Option<&str>, journal: &Journal) -> Result<()> {
    write_atomic(&path(s, account), &serde_json::to_string_pretty(journal)?)
}

/// Write beside, then rename: a crash never leaves half a file.
fn write_atomic(p: &std::path::Path, text: &str) -> Result<()> {
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, p).with_context(|| format!("cannot write `{}`", p.display()))
}

/// The steps `--resume` may skip: those that succeeded in an unfinished last run of the
/// same command. `Err` explains why there is nothing to resume.
pub fn resumable(
    s: &Settings,
    account: Option<&str>,
    command: &str,
) -> Result<Vec<String>, String> {
    let Some(j) = load(s, account) else {
        return Err(format!(
            "no earlier run on cluster `{}` is recorded",
            s.cluster
        ));
    };
    if j.command != command {
        return Err(format!(
            "the last run on `{}` was `deployctl {}`, not `deployctl {command}`",
            s.cluster, j.command
        ));
    }
    if j.exit_code == 0 {
        return Err(format!(
            "the last `deployctl {command}` on `{}` finished successfully at {}",
            s.cluster, j.finished_at
        ));
    }
    Ok(j.steps
        .iter()
        .filter(|(_, r)| r.as_str() == "ok")
        .map(|(n, _)| n.clone())
        .collect())
}

/// Work a run started and must finish even if that run failed: a secret rotated in AWS whose
/// follow-through in the cluster (re-sync, restarts) has not completed. Kept per region and
/// cluster beside the journal; names only, never a value.
fn pending_path(s: &Settings, account: Option<&str>) -> PathBuf {
    keyed(s, account, "pending")
}

/// What is pending (e.g. `["redis-password"]`), oldest first.
pub fn pending(s: &Settings, account: Option<&str>) -> Vec<String> {
    std::fs::read_to_string(pending_path(s, account))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_pending(s: &Settings, account: Option<&str>, items: &[String]) -> Result<()> {
    let p = pending_path(s, account);
    if items.is_empty() {
        return match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove `{}`", p.display()))
            }
            _ => Ok(()),
        };
    }
    write_atomic(&p, &serde_json::to_string(items)?)
}

/// Record `what` as pending (before the change that needs following through).
pub fn mark_pending(s: &Settings, account: Option<&str>, what: &str) -> Result<()> {
    let mut items = pending(s, account);
    if !items.iter().any(|i| i == what) {
        items.push(what.to_string());
    }
    save_pending(s, account, &items)
}

/// `what` was followed through.
pub fn clear_pending(s: &Settings, account: Option<&str>, what: &str) -> Result<()> {
    let items: Vec<String> = pending(s, account)
        .into_iter()
        .filter(|i| i != what)
        .collect();
    save_pending(s, account, &items)
}

/// Releases whose helm operation deployctl ended by force (a second interrupt), as
/// `namespace/name`: their `pending-*` record belongs to no live helm, so the next run repairs
/// it at once instead of waiting for an operation that is not running.
fn stopped_path(s: &Settings, account: Option<&str>) -> PathBuf {
    keyed(s, account, "helm-stopped")
}

pub fn helm_stopped(s: &Settings, account: Option<&str>) -> Vec<String> {
    std::fs::read_to_string(stopped_path(s, account))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn mark_helm_stopped(s: &Settings, account: Option<&str>, release: &str) -> Result<()> {
    let mut items = helm_stopped(s, account);
    if !items.iter().any(|i| i == release) {
        items.push(release.to_string());
    }
    write_atomic(&stopped_path(s, account), &serde_json::to_string(&items)?)
}

pub fn clear_helm_stopped(s: &Settings, account: Option<&str>, release: &str) -> Result<()> {
    let items: Vec<String> = helm_stopped(s, account)
        .into_iter()
        .filter(|i| i != release)
        .collect();
    let p = stopped_path(s, account);
    if items.is_empty() {
        return match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove `{}`", p.display()))
            }
            _ => Ok(()),
        };
    }
    write_atomic(&p, &serde_json::to_string(&items)?)
}
