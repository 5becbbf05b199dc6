//! Stand-in for the terraform CLI in tests (built only with `--features test-fakes`).
//!
//! It records every call (argv, working directory, TF_IN_AUTOMATION, TF_INPUT, TF_DATA_DIR) as
//! one JSON line in FAKE_TF_LOG and keeps a small state in FAKE_TF_STATE:
//! - `version -json` → FAKE_TF_VERSION (default 1.11.4);
//! - `init` writes the records terraform leaves (data dir, modules.json, lock file);
//! - `plan -out=F` writes a plan file with a fresh id; `show -json F` describes it from
//!   FAKE_TF_PLAN / FAKE_TF_DESTROY_PLAN (resource_changes JSON) or a default;
//! - `apply F` refuses anything but a plan file this stand-in wrote, then sets the outputs
//!   (FAKE_TF_OUTPUTS, or a default stack) — or clears them for a destroy plan;
//! - `output -json` prints the outputs;
//! - `state rm ADDRESS` forgets a resource (later plans leave it out), `import ADDRESS ID`
//!   takes it back; both change the state's serial, and — as terraform does — `apply` refuses
//!   a plan made before the state last changed ("Saved plan is stale").
//!
//! FAKE_TF_FAIL=plan,apply,... makes those subcommands fail with an error on stderr;
//! FAKE_TF_DELAY_MS slows `plan` down; a SIGINT during it is handled as terraform handles one
//! (it says so, stops the operation at a safe point and exits 1 without a plan file).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn log(args: &[String]) {
    let Some(path) = env("FAKE_TF_LOG") else {
        return;
    };
    let line = json!({
        "args": args,
        "cwd": std::env::current_dir().ok(),
        "tf_in_automation": env("TF_IN_AUTOMATION"),
        "tf_input": env("TF_INPUT"),
        "tf_data_dir": env("TF_DATA_DIR"),
    });
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open FAKE_TF_LOG");
    writeln!(f, "{line}").unwrap();
}

fn state_path() -> PathBuf {
    PathBuf::from(env("FAKE_TF_STATE").unwrap_or_else(|| "fake-tf-state.json".into()))
}

fn read_state() -> Value {
    std::fs::read_to_string(state_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}))
}

fn bump_serial(state: &mut Value) {
    state["serial"] = json!(state["serial"].as_u64().unwrap_or(0) + 1);
}

fn write_state(v: &Value) {
    std::fs::write(state_path(), v.to_string()).expect("write FAKE_TF_STATE");
}

fn fails(sub: &str) -> bool {
    env("FAKE_TF_FAIL").is_some_and(|v| v.split(',').any(|s| s.trim() == sub))
}

fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().find_map(|a| a.strip_prefix(flag))
}

fn default_outputs() -> Value {
    let s = |v: &str| json!({"value": v, "type": "string", "sensitive": false});
    json!({
        "aws_region": s("us-east-1"),
        "aws_account_id": s("123456789012"),
        "eks_cluster_name": s("test-cluster"),
        "eks_cluster_endpoint": s("https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com"),
        "eks_cluster_oidc_issuer": s("https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"),
        "rds_address": s("litellm-prod.abc.us-east-1.rds.amazonaws.com"),
        "configure_kubectl": s("deployctl kubeconfig --cluster test-cluster --region us-east-1"),
        "secrets_prefix": s("litellm"),
    })
}

fn plan_changes(destroy: bool) -> Value {
    let (var, default) = if destroy {
        (
            "FAKE_TF_DESTROY_PLAN",
            json!([
                {"address": "module.eks.aws_eks_cluster.this", "type": "aws_eks_cluster",
                 "change": {"actions": ["delete"], "before": {"name": "test-cluster"}}},
                {"address": "module.rds.aws_db_instance.this", "type": "aws_db_instance",
                 "change": {"actions": ["delete"], "before": {
                     "identifier": "litellm-prod", "deletion_protection": false,
                     "skip_final_snapshot": false,
                     "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/5e1f-secrets",
                     "final_snapshot_identifier": "litellm-prod-final-20261127093000"}}},
                {"address": "module.secrets.aws_kms_key.secrets", "type": "aws_kms_key",
                 "change": {"actions": ["delete"], "before": {
                     "arn": "arn:aws:kms:us-east-1:123456789012:key/5e1f-secrets",
                     "deletion_window_in_days": 30}}},
                {"address": "module.vpc.aws_vpc.this", "type": "aws_vpc",
                 "change": {"actions": ["delete"], "before": {}}},
            ]),
        )
    } else {
        (
            "FAKE_TF_PLAN",
            json!([
                {"address": "module.vpc.aws_vpc.this", "type": "aws_vpc", "change": {"actions": ["create"]}},
                {"address": "module.eks.aws_eks_cluster.this", "type": "aws_eks_cluster", "change": {"actions": ["create"]}},
                {"address": "module.rds.aws_db_instance.this", "type": "aws_db_instance", "change": {"actions": ["create"]}},
            ]),
        )
    };
    let planned: Value = env(var)
        .map(|t| serde_json::from_str(&t).expect("FAKE_TF_*PLAN is JSON"))
        .unwrap_or(default);
    // What `state rm` took out of the state is not Terraform's to plan any more.
    let removed = read_state()["removed"].clone();
    let gone = |a: &Value| {
        removed
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == &a["address"]))
    };
    Value::Array(
        planned
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| !gone(c))
            .cloned()
            .collect(),
    )
}

fn fail(sub: &str) -> ! {
    eprintln!("╷");
    eprintln!("│ Error: fake {sub} failure");
    eprintln!("│");
    eprintln!("│ FAKE_TF_FAIL asked `terraform {sub}` to fail (AccessDenied: not authorized)");
    eprintln!("╵");
    std::process::exit(1);
}

fn data_dir() -> PathBuf {
    env("TF_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".terraform"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    log(&args);
    let sub = args.first().map(String::as_str).unwrap_or("");
    if fails(sub) {
        fail(sub);
    }
    match sub {
        "version" => {
            let v = env("FAKE_TF_VERSION").unwrap_or_else(|| "1.11.4".into());
            println!("{}", json!({"terraform_version": v}));
        }
        "init" => {
            let data = data_dir();
            std::fs::create_dir_all(data.join("modules")).unwrap();
            std::fs::write(data.join("terraform.tfstate"), "{\"backend\":{}}").unwrap();
            std::fs::write(data.join("modules/modules.json"), "{\"Modules\":[]}").unwrap();
            std::fs::write(".terraform.lock.hcl", "# fake lock\n").unwrap();
            println!("Terraform has been successfully initialized!");
        }
        "validate" => println!("Success! The configuration is valid."),
        "plan" => {
            // Tests interrupt a slow plan.
            if let Some(ms) = env("FAKE_TF_DELAY_MS").and_then(|v| v.parse::<u64>().ok()) {
                unsafe {
                    libc::signal(
                        libc::SIGINT,
                        on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
                    );
                }
                println!("Refreshing state...");
                let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
                while std::time::Instant::now() < until {
                    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                        println!("Interrupt received.");
                        println!("Please wait for Terraform to exit or data loss may occur.");
                        println!("Gracefully shutting down...");
                        eprintln!("Error: execution halted");
                        std::process::exit(1);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            let out = flag_value(&args, "-out=").expect("plan without -out");
            let destroy = args.iter().any(|a| a == "-destroy");
            let id = format!(
                "{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            std::fs::write(
                out,
                json!({"fake_plan": id, "destroy": destroy, "serial": read_state()["serial"]})
                    .to_string(),
            )
            .unwrap();
            let n = plan_changes(destroy).as_array().map_or(0, Vec::len);
            if destroy {
                println!("Plan: 0 to add, 0 to change, {n} to destroy.");
            } else {
                println!("  # module.eks.aws_eks_cluster.this will be created");
                println!("Plan: {n} to add, 0 to change, 0 to destroy.");
            }
            let detailed = args.iter().any(|a| a == "-detailed-exitcode");
            std::process::exit(if detailed && n > 0 { 2 } else { 0 });
        }
        "show" => {
            let file = args.last().expect("show <plan>");
            let plan: Value = serde_json::from_str(
                &std::fs::read_to_string(file).expect("show: plan file exists"),
            )
            .expect("show: a plan file this stand-in wrote");
            let destroy = plan["destroy"].as_bool().unwrap_or(false);
            println!("{}", json!({"resource_changes": plan_changes(destroy)}));
        }
        "apply" => {
            let file = args.last().expect("apply <plan>");
            let text = std::fs::read_to_string(Path::new(file)).unwrap_or_else(|_| {
                eprintln!("Error: Failed to load \"{file}\" as a plan file");
                std::process::exit(1)
            });
            let plan: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                eprintln!("Error: \"{file}\" is not a saved plan");
                std::process::exit(1)
            });
            let mut state = read_state();
            if plan["serial"] != state["serial"] {
                eprintln!("Error: Saved plan is stale");
                eprintln!();
                eprintln!(
                    "The given plan file can no longer be applied because the state was changed by another operation after the plan was created."
                );
                std::process::exit(1);
            }
            bump_serial(&mut state);
            if plan["destroy"].as_bool() == Some(true) {
                state["outputs"] = json!({});
                println!("Destroy complete! Resources: 3 destroyed.");
            } else {
                state["outputs"] = env("FAKE_TF_OUTPUTS")
                    .map(|t| serde_json::from_str(&t).expect("FAKE_TF_OUTPUTS is JSON"))
                    .unwrap_or_else(default_outputs);
                println!("Apply complete! Resources: 3 added, 0 changed, 0 destroyed.");
            }
            state["applied_plan"] = plan["fake_plan"].clone();
            write_state(&state);
        }
        // `state rm ADDRESS…`: forget resources (they stay where they are).
        "state" if args.get(1).map(String::as_str) == Some("rm") => {
            let mut state = read_state();
            let mut removed = state["removed"].as_array().cloned().unwrap_or_default();
            for a in args.iter().skip(2).filter(|a| !a.starts_with('-')) {
                removed.push(json!(a));
                println!("Removed {a}");
            }
            println!(
                "Successfully removed {} resource instance(s).",
                args.len() - 2
            );
            state["removed"] = json!(removed);
            bump_serial(&mut state);
            write_state(&state);
        }
        // `import [flags] ADDRESS ID`: the resource is Terraform's again.
        "import" => {
            let pos: Vec<&String> = args
                .iter()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect();
            let [address, id] = pos[..] else {
                eprintln!("Error: import needs ADDRESS and ID");
                std::process::exit(1);
            };
            let mut state = read_state();
            let mut imported = state["imported"].as_array().cloned().unwrap_or_default();
            imported.push(json!({"address": address, "id": id}));
            state["imported"] = json!(imported);
            if let Some(r) = state["removed"].as_array_mut() {
                r.retain(|x| x != address);
            }
            bump_serial(&mut state);
            write_state(&state);
            println!("Import successful!");
        }
        "output" => {
            let state = read_state();
            println!("{}", state.get("outputs").cloned().unwrap_or(json!({})));
        }
        other => {
            eprintln!("fake terraform: unsupported subcommand `{other}`");
            std::process::exit(1);
        }
    }
}
