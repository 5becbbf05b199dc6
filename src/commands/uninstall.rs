//! `deployctl uninstall [STEP…]`: the application stack comes off the cluster — helm
//! releases and the objects deployctl applied — in reverse graph order (dependents first),
//! behind the same gate as `infrastructure-destroy`: the proven cluster's name, typed in a
//! terminal or given as `--confirm-destroy` in CI. What holds data or lives in AWS stays.

use crate::context::Context;
use crate::error::{UserError, exit};
use crate::graph::{self, StepId};
use crate::prompt::Prompter;
use anyhow::Result;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `uninstall` never touches, said before asking and after removing.
pub const KEPT: &str = "Kept: the namespaces and their PersistentVolumeClaims (Redis, Prometheus, Grafana and OpenWebUI data), the Grafana admin Secret, the AWS Secrets Manager secrets, the IAM roles, the database and all Terraform infrastructure.";

/// The steps to remove, in removal order (the reverse of the graph's order).
pub fn removal_order(cx: &Context, names: &[String]) -> Result<Vec<StepId>> {
    let removable = |id: StepId| crate::steps::build(id).removes(cx).is_some();
    let selected: Vec<StepId> = if names.is_empty() {
        graph::all_steps()
            .into_iter()
            .filter(|s| removable(*s))
            .collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            let id = StepId::from_name(n).ok_or_else(|| {
                UserError::usage(
                    format!("unknown step `{n}`"),
                    "see `deployctl list` for the step names",
                )
            })?;
            if !removable(id) {
                return Err(UserError::usage(
                    format!(
                        "`{n}` is not removed by uninstall: it creates AWS resources, namespaces or only checks (those stay)"
                    ),
                    "uninstall removes helm releases and deployctl's objects: external-secrets, secret-stores, gatekeeper, opa-policies, monitoring, dashboards, jaeger, redis, litellm, openwebui",
                )
                .into());
            }
            v.push(id);
        }
        v
    };
    let mut order: Vec<StepId> = graph::all_steps()
        .into_iter()
        .filter(|s| selected.contains(s))
        .collect();
    order.reverse();
    Ok(order)
}

struct Row {
    step: StepId,
    result: &'static str,
    message: String,
    took: Duration,
}

/// What `deployctl uninstall` was given.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Steps to remove (empty: every removable step).
    pub steps: Vec<String>,
    /// The cluster name, for an uninstall nothing can ask about.
    pub confirm_destroy: Option<String>,
}

pub async fn run(inv: super::Invocation, args: Args) -> Result<i32> {
    let (cx, prompter) = inv.context();
    let cx = Arc::new(cx);
    let done = remove(
        cx.clone(),
        prompter.as_ref(),
        &args.steps,
        args.confirm_destroy.as_deref(),
    )
    .await;
    cx.close().await;
    done
}

async fn remove(
    cx: Arc<Context>,
    prompter: &dyn Prompter,
    names: &[String],
    confirm_destroy: Option<&str>,
) -> Result<i32> {
    let cluster = cx.settings.cluster.clone();
    // The gate first: CI without the name changes nothing and asks nothing.
    if !prompter.interactive() {
        match confirm_destroy {
            None => {
                return Err(UserError::usage(
                    "a non-interactive uninstall needs --confirm-destroy <cluster-name>; nothing was removed",
                    format!("run it in a terminal, or pass --confirm-destroy {cluster}"),
                )
                .into());
            }
            Some(given) if given != cluster => {
                return Err(UserError::usage(
                    format!(
                        "--confirm-destroy `{given}` does not match the cluster `{cluster}`; nothing was removed"
                    ),
                    format!("pass --confirm-destroy {cluster} (or select the cluster with --cluster)"),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    let order = removal_order(&cx, names)?;
    // The cluster is proven (context guard) and helm is there before anything is shown.
    crate::preflight::preflight(&cx, &order).await?;
    let steps: Vec<(StepId, Arc<dyn crate::steps::Step>)> = order
        .iter()
        .map(|id| (*id, crate::steps::build(*id)))
        .collect();

    let context = cx
        .kube_context()
        .unwrap_or("the current context")
        .to_string();
    let mut text =
        format!("Uninstall from cluster `{cluster}` (kube context `{context}`), in this order:");
    for (id, step) in &steps {
        text.push_str(&format!(
            "\n  {id}: {}",
            step.removes(&cx).unwrap_or_default()
        ));
    }
    text.push_str(&format!("\n{KEPT}"));
    // Steps left installed that need one being removed stop working.
    for id in graph::all_steps() {
        let needs_removed: Vec<&str> = id
            .def()
            .needs
            .iter()
            .filter(|n| order.contains(n))
            .map(|n| n.name())
            .collect();
        let left = crate::steps::build(id).removes(&cx).is_some() && !order.contains(&id);
        if left && !needs_removed.is_empty() {
            text.push_str(&format!(
                "\nwarning: {id} stays and needs {}: it stops working (add it to the list to remove it too)",
                needs_removed.join(", ")
            ));
        }
    }
    cx.ui.println(&text);
    if prompter.interactive() {
        let typed = cx.ui.suspend(|| {
            prompter.typed(
                "This removes the releases and objects listed above.",
                &cluster,
            )
        })?;
        if !typed {
            return Err(UserError::failed(
                "the cluster name was not typed: nothing was removed",
                format!("run `deployctl uninstall` again and type `{cluster}`"),
            )
            .into());
        }
    }

    let _graceful = crate::interrupt::graceful();
    crate::interrupt::changes_begin();
    let mut rows: Vec<Row> = Vec::new();
    let mut stopped: Option<String> = None;
    for (id, step) in &steps {
        if let Some(why) = &stopped {
            rows.push(Row {
                step: *id,
                result: "not run",
                message: why.clone(),
                took: Duration::ZERO,
            });
            continue;
        }
        if crate::interrupt::requested() {
            stopped = Some("interrupted".into());
            rows.push(Row {
                step: *id,
                result: "not run",
                message: "interrupted".into(),
                took: Duration::ZERO,
            });
            continue;
        }
        let started = Instant::now();
        let progress = cx.ui.step_started(id.name(), "uninstall");
        let result = step.remove(&cx).await;
        progress.finish();
        let took = started.elapsed();
        match result {
            Ok(message) => {
                cx.ui.step_finished(id.name(), true, &message, took);
                rows.push(Row {
                    step: *id,
                    result: "removed",
                    message,
                    took,
                });
            }
            Err(e) => {
                let message = format!("{e:#}");
                cx.ui.step_finished(id.name(), false, &message, took);
                stopped = Some(format!("{id} failed to uninstall"));
                rows.push(Row {
                    step: *id,
                    result: "failed",
                    message,
                    took,
                });
            }
        }
    }

    let failed: Vec<&Row> = rows.iter().filter(|r| r.result == "failed").collect();
    let code = if crate::interrupt::requested() {
        exit::INTERRUPTED
    } else if failed.is_empty() && rows.iter().all(|r| r.result == "removed") {
        exit::OK
    } else {
        exit::FAILED
    };
    let mut summary = json!({
        "event": "summary",
        "command": "uninstall",
        "exit_code": code,
        "steps": rows.iter().map(|r| json!({
            "step": r.step.name(), "decision": "uninstall", "result": r.result,
            "message": r.message, "duration_ms": r.took.as_millis() as u64,
        })).collect::<Vec<_>>(),
    });
    let next = format!(
        "fix the cause above, then run `deployctl uninstall {}` again (what is already gone is skipped)",
        names.join(" ")
    );
    if code != exit::OK {
        let check = if failed.is_empty() {
            "interrupted".to_string()
        } else {
            failed
                .iter()
                .map(|r| r.step.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        summary["error"] = json!({
            "message": if failed.is_empty() { "interrupted".to_string() } else { format!("failed to uninstall: {check}") },
            "help": next.trim_end(),
            "check": check,
        });
    }
    cx.ui.event(summary);
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.step.name().to_string(),
                r.result.to_string(),
                r.message.lines().next().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    cx.ui.println("");
    cx.ui.println(&crate::ui::table(
        &["step", "result", "details"],
        &table_rows,
    ));
    cx.ui.println(KEPT);
    for r in &failed {
        cx.ui.println(&format!(
            "\n{} failed:\n  {}\nnext: {next}",
            r.step, r.message
        ));
    }
    Ok(code)
}
