//! Test harness: runs the built `deployctl` in a sealed environment (temp HOME, explicit
//! PATH with the stand-ins first, KUBECONFIG pointing at the in-process fake API server).

#![allow(dead_code)]

pub mod aws_front;
pub mod bedrock_front;
pub mod bedrock_runtime;
pub mod chart_sources;
pub mod charts;
pub mod eks_front;
pub mod http_proxy;
pub mod kube_openapi;
pub mod kube_proto;
pub mod kube_server;
pub mod litellm_real;
pub mod litellm_standin;
pub mod moto;
pub mod postgres;
pub mod scenario;
pub mod ssm_proxy;

use kube_server::FakeKube;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use tempfile::TempDir;

pub const CLUSTER: &str = "test-cluster";
/// The ARN moto gives `test-cluster` (moto's default account, us-east-1).
pub const CLUSTER_ARN: &str = "arn:aws:eks:us-east-1:123456789012:cluster/test-cluster";

/// The deployctl under test: this build's, or `DEPLOYCTL_BENCH_BIN` (scripts/bench.sh points
/// the benchmarks at the release binary).
pub fn deployctl_bin() -> PathBuf {
    std::env::var_os("DEPLOYCTL_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_deployctl")))
}

/// The helm stand-in; it exists only in builds with `--features test-fakes` (scripts/test.sh).
pub fn fake_helm_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_fake-helm") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "the helm stand-in was not built: run the tests with `cargo test --features test-fakes` (scripts/test.sh does)"
        ),
    }
}

/// The terraform stand-in (`--features test-fakes`).
pub fn fake_terraform_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_fake-terraform") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "the terraform stand-in was not built: run the tests with `cargo test --features test-fakes` (scripts/test.sh does)"
        ),
    }
}

/// `program` in the test process's PATH, then in `extra` directories.
pub fn find_on_path(program: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(extra.iter().cloned())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// One JSON value per line of a stand-in's log (empty when it never ran).
fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being written (no newline yet) is not read: tests poll while the
    // stand-ins run.
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The string array under `key` of each log entry (a stand-in's argv).
fn argv_lists(entries: &[Value], key: &str) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|e| {
            e[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// The provider mirror the real-terraform tests use: `DEPLOYCTL_TEST_TF_MIRROR` (which
/// scripts/test.sh fills with `terraform providers mirror` from the registry when the machine
/// has no mirror), else /opt/tf-plugins (hashicorp/aws 5.100.0 on the development machine).
pub fn tf_mirror() -> PathBuf {
    std::env::var_os("DEPLOYCTL_TEST_TF_MIRROR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/tf-plugins"))
}

/// The real terraform binary and a CLI config that installs providers from the mirror only.
/// Panics, saying what is missing, when either is absent: these tests never pass silently.
pub fn real_terraform(config_dir: &Path) -> (PathBuf, PathBuf) {
    let Some(terraform) = find_on_path("terraform", &[]) else {
        panic!(
            "terraform is not installed (not on PATH): the Terraform tests need terraform >= 1.11"
        );
    };
    let mirror = tf_mirror();
    let aws = mirror.join("registry.terraform.io/hashicorp/aws");
    assert!(
        aws.is_dir(),
        "the Terraform provider mirror {} is missing (expected hashicorp/aws there): run scripts/test.sh, which fills one from the registry",
        aws.display()
    );
    let mirror = mirror.display();
    let rc = config_dir.join("terraformrc");
    std::fs::write(
        &rc,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{mirror}\"\n    include = [\"registry.terraform.io/hashicorp/*\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/hashicorp/*\"]\n  }}\n}}\n"
        ),
    )
    .unwrap();
    (terraform, rc)
}

/// Copy the repository's terraform/ (without local state, tfvars or backend file) to
/// `dest/terraform`.
pub fn copy_terraform(dest: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let n = name.to_string_lossy();
            if n == ".terraform"
                || n == "terraform.tfvars"
                || n == "backend.hcl"
                || n.ends_with(".tfstate")
            {
                continue;
            }
            let (src, dst) = (entry.path(), to.join(&name));
            if src.is_dir() {
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    let to = dest.join("terraform");
    copy(&repo_root().join("terraform"), &to);
    to
}

/// OpenWebUI's configuration modules (config.py, env.py) at the appVersion we pin:
/// `DEPLOYCTL_TEST_APPS/open-webui-0.11.0`, else `../shared/apps/open-webui-0.11.0`.
pub fn openwebui_source() -> PathBuf {
    let base = std::env::var_os("DEPLOYCTL_TEST_APPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/apps"));
    let dir = base.join("open-webui-0.11.0");
    assert!(
        dir.join("config.py").is_file() && dir.join("env.py").is_file(),
        "OpenWebUI's configuration modules are not at {} (config.py, env.py of 0.11.0): set DEPLOYCTL_TEST_APPS to the directory holding open-webui-0.11.0/",
        dir.display()
    );
    dir
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test venv's Python (scripts/test.sh fills it), else the system's.
pub fn python() -> PathBuf {
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

pub struct Sandbox {
    pub dir: TempDir,
    pub home: PathBuf,
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub helm_state: PathBuf,
    pub helm_log: PathBuf,
    pub tf_state: PathBuf,
    pub tf_log: PathBuf,
    /// Extra environment for deployctl.
    pub env: Vec<(String, String)>,
    /// EKS as deployctl sees it (`AWS_ENDPOINT_URL_EKS`): moto, with the fake API server as
    /// the cluster's endpoint.
    pub eks: Option<eks_front::EksFront>,
    /// Bedrock's control plane (`AWS_ENDPOINT_URL_BEDROCK`; moto has none): the project's
    /// models offered and ACTIVE, set up with moto.
    pub bedrock: Option<bedrock_front::BedrockFront>,
    /// LiteLLM behind the service proxy (`scenario::stack` starts it).
    pub litellm: Option<litellm_standin::LitellmStandin>,
}

impl Sandbox {
    /// A sandbox whose kubeconfig points at `kube` through a context for the test cluster.
    pub fn new(kube: &FakeKube) -> Sandbox {
        let mut sb = Sandbox::bare();
        sb.write_kubeconfig(&kube.kubeconfig("test-ctx", CLUSTER_ARN));
        let front = eks_front::EksFront::start(&moto::Moto::identity().url, &kube.url());
        sb.set("AWS_ENDPOINT_URL_EKS", &front.url.clone());
        sb.eks = Some(front);
        sb
    }

    /// No kubeconfig, helm stand-in on PATH.
    pub fn bare() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(fake_helm_bin(), bin.join("helm")).unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let helm_state = dir.path().join("helm-state.json");
        let helm_log = dir.path().join("helm-log.jsonl");
        let tf_state = dir.path().join("tf-state.json");
        let tf_log = dir.path().join("tf-log.jsonl");
        Sandbox {
            tf_state,
            tf_log,
            home,
            bin,
            kubeconfig,
            helm_state,
            helm_log,
            env: vec![
                ("EKS_CLUSTER_NAME".into(), CLUSTER.into()),
                // No test reaches real AWS: a closed local port unless moto is used.
                ("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()),
                ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
                ("AWS_REGION".into(), moto::REGION.into()),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ],
            dir,
            eks: None,
            bedrock: None,
            litellm: None,
        }
    }

    /// Point deployctl's AWS SDK at moto.
    pub fn with_moto(&mut self, moto: &moto::Moto) -> &mut Self {
        self.set("AWS_ENDPOINT_URL", &moto.url);
        if self.bedrock.is_none() {
            let front = bedrock_front::BedrockFront::start(
                moto::REGION,
                bedrock_front::catalog_for_project(),
            );
            self.set("AWS_ENDPOINT_URL_BEDROCK", &front.url.clone());
            self.bedrock = Some(front);
        }
        if let Some(front) = &self.eks {
            front.set_backend(&moto.url);
        }
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    pub fn write_kubeconfig(&self, text: &str) {
        std::fs::write(&self.kubeconfig, text).unwrap();
    }

    /// Releases come from `charts` (a copy of the chart sources), installed by the real helm
    /// through the stand-in; when the copy lacks kube-prometheus-stack's subcharts, that one
    /// release is simulated (see tests/fakes/fake_helm.rs), and the test says so.
    pub fn with_charts(&mut self, charts: &charts::ChartsDir) -> &mut Self {
        self.set("DEPLOYCTL_CHARTS_DIR", charts.path().to_str().unwrap());
        if !charts.degraded.is_empty() {
            eprintln!("NOTE: kube-prometheus is simulated by the helm stand-in in this test");
            self.set("FAKE_HELM_SIMULATE", "kube-prometheus");
        }
        self
    }

    /// The real helm on PATH instead of the stand-in.
    pub fn with_real_helm(&self) -> &Self {
        let _ = std::fs::remove_file(self.bin.join("helm"));
        std::os::unix::fs::symlink(charts::real_helm(), self.bin.join("helm")).unwrap();
        self
    }

    pub fn without_helm(&self) {
        let _ = std::fs::remove_file(self.bin.join("helm"));
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command, sealed: cleared environment, temp HOME, stand-ins first on PATH.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(deployctl_bin());
        cmd.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("FAKE_HELM_STATE", &self.helm_state)
            .env("FAKE_HELM_LOG", &self.helm_log)
            .env("FAKE_HELM_REAL", charts::real_helm_path())
            .env("FAKE_TF_STATE", &self.tf_state)
            .env("FAKE_TF_LOG", &self.tf_log)
            .env("DEPLOYCTL_DIR", repo_root())
            .env("TERM", "xterm")
            .current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The real helm, against this sandbox's kubeconfig (to inspect or break releases).
    pub fn helm_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(charts::real_helm());
        cmd.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Run to completion with no terminal (non-interactive by construction).
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::from(self.command(args));
        cmd.stdin(std::process::Stdio::null());
        let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
            .await
            .expect("deployctl did not finish within 120s")
            .expect("deployctl runs");
        let run = Run::from(out);
        if json_args(args) {
            assert_events_valid(&run.stdout, args);
        }
        run
    }

    /// Every helm call: argv per line.
    pub fn helm_calls(&self) -> Vec<Vec<String>> {
        argv_lists(&self.helm_log_entries(), "argv")
    }

    pub fn helm_log_entries(&self) -> Vec<Value> {
        read_jsonl(&self.helm_log)
    }

    pub fn helm_state(&self) -> Value {
        std::fs::read_to_string(&self.helm_state)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({"repos": [], "releases": {}, "fail": []}))
    }

    pub fn set_helm_state(&self, state: &Value) {
        std::fs::write(&self.helm_state, serde_json::to_string(state).unwrap()).unwrap();
    }

    /// Make the helm stand-in fail every install or upgrade of these releases (none: heal
    /// them), keeping the rest of its state.
    pub fn fail_releases(&self, names: &[&str]) {
        let mut state = self.helm_state();
        if state["repos"].is_null() {
            state["repos"] = serde_json::json!([]);
        }
        if state["releases"].is_null() {
            state["releases"] = serde_json::json!({});
        }
        state["fail"] = serde_json::json!(names);
        self.set_helm_state(&state);
    }

    /// One release that fails (see [`Sandbox::fail_releases`]).
    pub fn fail_release(&self, name: &str) {
        self.fail_releases(&[name]);
    }

    /// The repositories the helm stand-in knows (name, URL), as `helm repo list` would show.
    pub fn helm_repos(&self) -> Vec<(String, String)> {
        self.helm_state()["repos"]
            .as_array()
            .map(|repos| {
                repos
                    .iter()
                    .map(|r| {
                        (
                            r["name"].as_str().unwrap_or_default().to_string(),
                            r["url"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Configure the stand-in's repositories directly (test setup).
    pub fn set_helm_repos(&self, repos: &[(&str, &str)]) {
        let mut state = self.helm_state();
        state["repos"] = repos
            .iter()
            .map(|(n, u)| serde_json::json!({"name": n, "url": u}))
            .collect();
        self.set_helm_state(&state);
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A project directory of its own (DEPLOYCTL_DIR) with a copy of terraform/ and a
    /// backend file; returns its terraform/ directory.
    pub fn terraform_project(&mut self, backend: &str) -> PathBuf {
        let project = self.dir.path().join("project");
        let tf = copy_terraform(&project);
        for shared in ["helm-values", "manifests", "iam"] {
            std::os::unix::fs::symlink(repo_root().join(shared), project.join(shared)).unwrap();
        }
        std::fs::write(tf.join("backend.hcl"), backend).unwrap();
        self.set("DEPLOYCTL_DIR", project.to_str().unwrap());
        tf
    }

    /// terraform on PATH is the stand-in.
    pub fn with_fake_terraform(&mut self) -> &mut Self {
        let link = self.bin.join("terraform");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(fake_terraform_bin(), link).unwrap();
        self
    }

    /// terraform on PATH is the real one, installing providers from the mirror.
    pub fn with_real_terraform(&mut self) -> &mut Self {
        let (terraform, rc) = real_terraform(self.dir.path());
        let link = self.bin.join("terraform");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(terraform, link).unwrap();
        self.set("TF_CLI_CONFIG_FILE", rc.to_str().unwrap());
        self
    }

    /// Every call the terraform stand-in received, as JSON (args, cwd, env it saw).
    pub fn tf_log_entries(&self) -> Vec<Value> {
        read_jsonl(&self.tf_log)
    }

    /// The argv of every terraform call.
    pub fn tf_calls(&self) -> Vec<Vec<String>> {
        argv_lists(&self.tf_log_entries(), "args")
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The summary screen of a text run: from `Summary:` to the end of stdout (the table,
    /// the failures in full, `next:`).
    #[track_caller]
    pub fn summary(&self) -> &str {
        let at = self
            .stdout
            .find("Summary:")
            .unwrap_or_else(|| panic!("no summary in stdout:\n{}\n{}", self.stdout, self.stderr));
        &self.stdout[at..]
    }

    /// The summary table's row of `step` (its cells as printed).
    #[track_caller]
    pub fn summary_row(&self, step: &str) -> String {
        self.summary()
            .lines()
            .find(|l| l.split_whitespace().next() == Some(step))
            .unwrap_or_else(|| panic!("no summary row for {step}:\n{}", self.summary()))
            .to_string()
    }
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (want {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// The seven repositories of helm-values/releases.yaml.
pub const REPOS: &[(&str, &str)] = &[
    ("external-secrets", "https://charts.external-secrets.io"),
    (
        "gatekeeper",
        "https://open-policy-agent.github.io/gatekeeper/charts",
    ),
    (
        "prometheus-community",
        "https://prometheus-community.github.io/helm-charts",
    ),
    (
        "jaegertracing",
        "https://jaegertracing.github.io/helm-charts",
    ),
    ("dandydev", "https://dandydeveloper.github.io/charts"),
    ("open-webui", "https://helm.openwebui.com/"),
    ("eks", "https://aws.github.io/eks-charts"),
];

pub const NAMESPACES: &[&str] = &[
    "litellm",
    "open-webui",
    "monitoring",
    "external-secrets",
    "gatekeeper-system",
];

/// Run deployctl in a pseudo-terminal, let `script` talk to it, return the exit code.
pub async fn pty<F>(sb: &Sandbox, args: &[&str], script: F) -> i32
where
    F: FnOnce(&mut rexpect::session::PtySession) + Send + 'static,
{
    let cmd = sb.command(args);
    tokio::task::spawn_blocking(move || {
        let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).expect("spawn in a pty");
        script(&mut p);
        match p.process().wait().expect("wait") {
            rexpect::process::WaitStatus::Exited(_, code) => code,
            other => panic!("deployctl ended with {other:?}"),
        }
    })
    .await
    .expect("pty task")
}

/// One turn of a terminal conversation with deployctl.
#[derive(Debug, Clone, Copy)]
pub enum Turn<'a> {
    /// The screen shows this text (waited for, up to the pty's timeout).
    Sees(&'a str),
    /// The operator types these keys ("\r" is Enter).
    Types(&'a str),
}

pub use Turn::{Sees, Types};

/// Run deployctl in a pseudo-terminal through `turns` in order, then to its end; returns the
/// exit code. A turn whose text never shows fails the test naming that text.
pub async fn dialog(sb: &Sandbox, args: &[&str], turns: &[Turn<'_>]) -> i32 {
    let turns: Vec<(bool, String)> = turns
        .iter()
        .map(|t| match t {
            Sees(text) => (true, text.to_string()),
            Types(keys) => (false, keys.to_string()),
        })
        .collect();
    pty(sb, args, move |p| {
        for (sees, text) in &turns {
            if *sees {
                if let Err(e) = p.exp_string(text) {
                    panic!("the screen never showed {text:?}: {e}");
                }
            } else {
                key(p, text);
            }
        }
        p.exp_eof().expect("deployctl to end");
    })
    .await
}

/// Press keys (rexpect buffers until flushed).
pub fn key(p: &mut rexpect::session::PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

/// Whether deployctl was asked for `--output json` (completions and the manual print
/// documents, not events).
pub fn json_args(args: &[&str]) -> bool {
    let json =
        args.windows(2).any(|w| w == ["--output", "json"]) || args.contains(&"--output=json");
    json && !args.iter().any(|a| *a == "completions" || *a == "man")
}

/// Every `--output json` run a test makes is checked here: each stdout line is valid against
/// `docs/events.schema.json` (by Python's `jsonschema`, from the test venv), and there is
/// exactly one `summary`, last.
#[track_caller]
pub fn assert_events_valid(stdout: &str, args: &[&str]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = python();
    let mut child = std::process::Command::new(&python)
        .arg(root.join("tests/support/validate_events.py"))
        .arg(root.join("docs/events.schema.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} (run scripts/test.sh): {e}", python.display()));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(stdout.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "deployctl {args:?}: its JSON output does not match docs/events.schema.json:\n{}{}\n--- stdout\n{stdout}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Whether an IAM resource pattern (`*` matches any run of characters) matches an ARN.
pub fn arn_glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len()).any(|i| arn_glob(tail, &s[head.len() + i..]))
        }
    }
}

/// Whether an apiVersion is Kubernetes' own (core, `apps`, `*.k8s.io`), which
/// kubernetes-validate knows; CRD kinds (`external-secrets.io/…`) it does not.
pub fn is_builtin_api(api_version: &str) -> bool {
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// The Kubernetes schema the objects are checked against: the newest the pinned
/// kubernetes-validate (tests/requirements.txt) ships. The clusters run 1.35
/// (terraform/variables.tf), for which it has no schema yet.
pub const SCHEMA_VERSION: &str = "1.34.0";

/// kubernetes-validate (from the venv scripts/test.sh fills) over `files`, strict: panics
/// with its output when any object fails.
pub fn kubernetes_validate(files: &[PathBuf]) {
    let tool = find_on_path("kubernetes-validate", &[repo_root().join(".venv/bin")]).expect(
        "kubernetes-validate is not installed: run scripts/test.sh (it installs tests/requirements.txt)",
    );
    let out = std::process::Command::new(&tool)
        .args([
            "--kubernetes-version",
            SCHEMA_VERSION,
            "--strict",
            "--quiet",
        ])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sandbox {
    /// The pids of processes started for this sandbox that are still alive (helm and its
    /// stand-in carry `FAKE_HELM_STATE=<this sandbox's state file>` in their environment).
    pub fn live_children(&self) -> Vec<u32> {
        let marker = format!("FAKE_HELM_STATE={}", self.helm_state.display());
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // A zombie (exited, not yet reaped) is not running.
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            if stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            {
                continue;
            }
            let Ok(env) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            let is_deployctl =
                std::fs::read_link(entry.path().join("exe")).is_ok_and(|p| p == deployctl_bin());
            if !is_deployctl && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
                out.push(pid);
            }
        }
        out
    }

    /// The run journal `--resume` reads (None: no run was recorded).
    pub fn journal(&self) -> Option<Value> {
        let dir = self.home.join(".local/state/deployctl");
        let entry = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("last-run-"))?;
        serde_json::from_str(&std::fs::read_to_string(entry.path()).ok()?).ok()
    }
}

/// Wait (polling) until `cond` holds, at most `secs` seconds; panics naming `what`.
pub async fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs}s waiting for {what}");
}

/// Send `signal` (e.g. libc::SIGINT) to `pid`.
pub fn signal(pid: u32, signal: i32) {
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}
