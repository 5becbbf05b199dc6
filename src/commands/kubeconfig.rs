//! `deployctl kubeconfig`: write or merge — never clobber — a context for the EKS cluster
//! whose user runs `deployctl eks-token`, so kubectl, helm and deployctl reach EKS with no
//! aws CLI installed. Entries are named by the cluster ARN, as `aws eks update-kubeconfig`
//! names them; everything else in the file is kept as it was.

use crate::config::Settings;
use crate::error::UserError;
use crate::platform::aws::{self, Aws};
use anyhow::{Context as _, Result, anyhow};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The file to write: the first KUBECONFIG entry, else ~/.kube/config.
pub fn target_path(s: &Settings, home: Option<&Path>) -> Result<PathBuf> {
    if let Some(list) = &s.kubeconfig
        && let Some(first) = list.split(':').find(|p| !p.is_empty())
    {
        return Ok(PathBuf::from(first));
    }
    home.map(|h| h.join(".kube/config")).ok_or_else(|| {
        anyhow!("neither KUBECONFIG nor HOME is set: nowhere to write the kubeconfig")
    })
}

/// Replace the entry called `name` in the list at `key`, or append it.
fn upsert(doc: &mut Value, key: &str, name: &str, entry: Value) {
    if !doc[key].is_array() {
        doc[key] = json!([]);
    }
    let list = doc[key].as_array_mut().expect("array just ensured");
    match list.iter_mut().find(|e| e["name"] == name) {
        Some(existing) => *existing = entry,
        None => list.push(entry),
    }
}

/// What the merged entries say.
pub struct Entry<'a> {
    pub arn: &'a str,
    pub endpoint: &'a str,
    /// Base64 PEM of the cluster CA.
    pub ca: &'a str,
    /// The deployctl executable the exec entry runs.
    pub command: &'a str,
    pub cluster: &'a str,
    pub region: &'a str,
    pub profile: Option<&'a str>,
}

/// Merge the cluster's context into `doc` (a parsed kubeconfig, possibly empty).
pub fn merge(doc: &mut Value, e: &Entry) {
    let Entry {
        arn,
        endpoint,
        ca,
        command,
        cluster,
        region,
        profile,
    } = *e;
    if !doc.is_object() {
        *doc = json!({});
    }
    if doc.get("apiVersion").is_none() {
        doc["apiVersion"] = json!("v1");
    }
    if doc.get("kind").is_none() {
        doc["kind"] = json!("Config");
    }
    upsert(
        doc,
        "clusters",
        arn,
        json!({"name": arn, "cluster": {"server": endpoint, "certificate-authority-data": ca}}),
    );
    let mut exec = json!({
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": command,
        "args": ["eks-token", "--cluster", cluster, "--region", region],
        "interactiveMode": "Never",
    });
    if let Some(p) = profile {
        exec["env"] = json!([{"name": "AWS_PROFILE", "value": p}]);
    }
    upsert(
        doc,
        "users",
        arn,
        json!({"name": arn, "user": {"exec": exec}}),
    );
    upsert(
        doc,
        "contexts",
        arn,
        json!({"name": arn, "context": {"cluster": arn, "user": arn}}),
    );
    doc["current-context"] = json!(arn);
}

/// The command the kubeconfig's exec entry runs: `deployctl` when PATH finds this very
/// binary (it survives upgrades and rebuilds), else this binary's absolute path — with a
/// warning when that is a build directory, which `cargo clean` empties.
fn exec_command() -> (String, Option<String>) {
    let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return ("deployctl".into(), None);
    };
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("deployctl"))
        .find(|c| c.is_file())
        .and_then(|c| c.canonicalize().ok());
    if on_path.as_deref() == Some(exe.as_path()) {
        return ("deployctl".into(), None);
    }
    let shown = exe.display().to_string();
    let in_build_dir = exe.components().collect::<Vec<_>>().windows(2).any(|w| {
        w[0].as_os_str() == "target"
            && matches!(w[1].as_os_str().to_str(), Some("debug" | "release"))
    });
    let warning = in_build_dir.then(|| {
        format!(
            "the kubeconfig runs deployctl from the build directory ({shown}), which `cargo clean` empties; install it with `cargo install --locked --path .` and run `deployctl kubeconfig` again"
        )
    });
    (shown, warning)
}

/// `deployctl kubeconfig`.
pub async fn run(inv: super::Invocation) -> Result<crate::error::ExitCode> {
    let (cx, _) = inv.context();
    let done = write(&cx.settings, cx.aws().await, cx.settings.home.as_deref()).await?;
    cx.ui.println(&done);
    Ok(crate::error::exit::OK)
}

/// Write or merge the cluster's context; returns what was done (also a step of `complete`).
pub async fn write(s: &Settings, aws: &Aws, home: Option<&Path>) -> Result<String> {
    let cluster = aws::require_cluster(aws, &s.cluster).await?;
    let ca = cluster.certificate_authority.clone().ok_or_else(|| {
        UserError::failed(
            format!(
                "EKS cluster `{}` reports no certificate authority yet",
                s.cluster
            ),
            "wait until the cluster is ACTIVE, then run `deployctl kubeconfig` again",
        )
    })?;
    let path = target_path(s, home)?;
    let mut doc: Value = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => serde_saphyr::from_str(&text)
            .map_err(|e| anyhow!("`{}` is not a readable kubeconfig: {e}", path.display()))?,
        Ok(_) => json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(anyhow!("cannot read `{}`: {e}", path.display())),
    };
    let (command, warning) = exec_command();
    if let Some(w) = warning {
        crate::ui::err_line(&format!("warning: {w}"));
    }
    merge(
        &mut doc,
        &Entry {
            arn: &cluster.arn,
            endpoint: &cluster.endpoint,
            ca: &ca,
            command: &command,
            cluster: &s.cluster,
            region: &s.region,
            profile: s.aws_profile.as_deref(),
        },
    );
    let text = serde_saphyr::to_string(&doc).context("cannot render the kubeconfig")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    // Write beside and rename, owner-only: a kubeconfig names credentials.
    let tmp = path.with_extension("deployctl-tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write `{}`", tmp.display()))?;
        f.write_all(text.as_bytes())?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(format!(
        "kubeconfig `{}`: context `{}` for EKS cluster `{}` is current\n{}",
        path.display(),
        cluster.arn,
        s.cluster,
        crate::platform::tunnel::kubeconfig_note(s, &cluster)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_other_entries_and_replaces_its_own() {
        let mut doc = json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "kind-dev",
            "preferences": {"colors": true},
            "clusters": [{"name": "kind-dev", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "users": [{"name": "kind-dev", "user": {"token": "t"}}],
            "contexts": [{"name": "kind-dev", "context": {"cluster": "kind-dev", "user": "kind-dev"}}],
        });
        let before = doc.clone();
        for _ in 0..2 {
            let entry = Entry {
                arn: "arn:aws:eks:r:1:cluster/prod",
                endpoint: "https://e",
                ca: "Q0E=",
                command: "/bin/deployctl",
                cluster: "prod",
                region: "r",
                profile: None,
            };
            merge(&mut doc, &entry);
        }
        for key in ["clusters", "users", "contexts"] {
            let list = doc[key].as_array().unwrap();
            assert_eq!(list.len(), 2, "{key}: {list:?}");
            assert_eq!(list[0], before[key][0], "{key}: the other entry changed");
        }
        assert_eq!(doc["preferences"], before["preferences"]);
        assert_eq!(doc["current-context"], "arn:aws:eks:r:1:cluster/prod");
        assert_eq!(
            doc["users"][1]["user"]["exec"]["args"],
            json!(["eks-token", "--cluster", "prod", "--region", "r"])
        );
    }
}
