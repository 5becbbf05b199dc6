//! `opa-policies`: ConstraintTemplates, then — once each template's constraint CRD is
//! established (watched, no fixed sleep) — the Constraints. `opa-verify`: templates,
//! constraints and violation counts, read through the API.

use super::{Findings, Step, load_manifests};
use crate::context::Context;
use crate::decide::{Action, State};
use crate::graph::StepId;
use crate::platform::kubeapi::apply::apply_documents;
use crate::platform::kubeapi::dynamic_api;
use crate::platform::kubeapi::errors::retry;
use crate::platform::kubeapi::wait::{self, Ready};
use crate::stack::manifest::Document;
use anyhow::{Result, bail};
use async_trait::async_trait;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;

pub const TEMPLATES_FILE: &str = "manifests/opa/templates.yaml";
pub const CONSTRAINTS_FILE: &str = "manifests/opa/constraints.yaml";
const CONSTRAINT_GROUP: &str = "constraints.gatekeeper.sh";

fn template_api(client: &kube::Client) -> Api<DynamicObject> {
    dynamic_api(
        client,
        "templates.gatekeeper.sh/v1",
        "ConstraintTemplate",
        "constrainttemplates",
        None,
    )
}

/// Constraints of one kind (cluster-scoped; plural = the kind in lower case).
fn constraint_api(client: &kube::Client, kind: &str) -> Api<DynamicObject> {
    dynamic_api(
        client,
        &format!("{CONSTRAINT_GROUP}/v1beta1"),
        kind,
        &kind.to_lowercase(),
        None,
    )
}

/// The constraint kind a template defines.
pub fn template_kind(doc: &Document) -> &str {
    doc.str_at("/spec/crd/spec/names/kind").unwrap_or("")
}

/// The CRD Gatekeeper creates for a template.
pub fn crd_name(kind: &str) -> String {
    format!("{}.{CONSTRAINT_GROUP}", kind.to_lowercase())
}

fn crd_established(name: &str, crd: Option<&CustomResourceDefinition>) -> Ready {
    let established = crd
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
    if established {
        Ready::Yes(format!("CRD {name} established"))
    } else if crd.is_none() {
        Ready::No(format!("CRD {name} does not exist yet"))
    } else {
        Ready::No(format!("CRD {name} is not established yet"))
    }
}

/// What exists of the templates and constraints.
struct Found {
    templates: Vec<(String, Option<DynamicObject>)>,
    constraints: Vec<(String, String, Option<DynamicObject>)>,
}

async fn find(cx: &Context) -> Result<Found> {
    let client = cx.kube()?;
    let (templates, constraints) = (
        load_manifests(cx, TEMPLATES_FILE)?,
        load_manifests(cx, CONSTRAINTS_FILE)?,
    );
    // Every read at once: 14 GETs, not 14 round trips in a row.
    let templates = futures::future::try_join_all(templates.iter().map(|t| {
        let api = template_api(&client);
        async move {
            let obj = retry("reading ConstraintTemplates", || api.get_opt(t.name())).await?;
            anyhow::Ok((t.name().to_string(), obj))
        }
    }));
    let constraints = futures::future::try_join_all(constraints.iter().map(|c| {
        let api = constraint_api(&client, c.kind());
        async move {
            let obj = retry("reading constraints", || api.get_opt(c.name())).await?;
            anyhow::Ok((c.kind().to_string(), c.name().to_string(), obj))
        }
    }));
    let (templates, constraints) = tokio::try_join!(templates, constraints)?;
    Ok(Found {
        templates,
        constraints,
    })
}

fn created(t: &DynamicObject) -> bool {
    t.data["status"]["created"].as_bool() == Some(true)
}

pub struct OpaPolicies;

#[async_trait]
impl Step for OpaPolicies {
    fn id(&self) -> StepId {
        StepId::OpaPolicies
    }
    fn resource(&self, _cx: &Context) -> String {
        "OPA constraint templates and constraints".into()
    }
    fn exists(&self) -> &'static str {
        "exist"
    }

    async fn assess(&self, cx: &Context) -> Result<State> {
        let f = find(cx).await?;
        let total = f.templates.len() + f.constraints.len();
        let present = f.templates.iter().filter(|t| t.1.is_some()).count()
            + f.constraints.iter().filter(|c| c.2.is_some()).count();
        if present == 0 {
            return Ok(State::Missing);
        }
        let mut problems = Vec::new();
        for (name, obj) in &f.templates {
            match obj {
                None => problems.push(format!("template {name} missing")),
                Some(o) if !created(o) => {
                    problems.push(format!("template {name} not created by Gatekeeper"))
                }
                _ => {}
            }
        }
        for (kind, name, obj) in &f.constraints {
            if obj.is_none() {
                problems.push(format!("constraint {kind}/{name} missing"));
            }
        }
        if problems.is_empty() {
            // Every object there: what an apply would change (an edited constraint, a policy
            // changed in the manifests since) makes it unhealthy.
            let client = cx.kube()?;
            let mut docs = load_manifests(cx, TEMPLATES_FILE)?;
            docs.extend(load_manifests(cx, CONSTRAINTS_FILE)?);
            let drift = crate::platform::kubeapi::apply::drift(&client, &docs).await?;
            if !drift.is_empty() {
                problems.push(format!("an apply would change {}", drift.join("; ")));
            }
        }
        Ok(if problems.is_empty() {
            State::Healthy(format!(
                "{} templates, {} constraints",
                f.templates.len(),
                f.constraints.len()
            ))
        } else {
            State::Unhealthy(format!(
                "{present} of {total} present; {}",
                problems.join(", ")
            ))
        })
    }

    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let client = cx.kube()?;
        let templates = load_manifests(cx, TEMPLATES_FILE)?;
        apply_documents(&client, &templates).await?;
        // Each template's constraint CRD must be established before its constraints.
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let waits = templates.iter().map(|t| {
            let name = crd_name(template_kind(t));
            let crds = crds.clone();
            let timeout = cx.settings.sync_timeout;
            async move {
                let what = format!("CRD {name} (template {})", t.name());
                let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
                let get = crds.clone();
                wait::until(crds, cfg, &what, timeout, || {
                    let get = get.clone();
                    let name = name.clone();
                    async move {
                        let crd =
                            retry(&format!("reading CRD {name}"), || get.get_opt(&name)).await?;
                        Ok(crd_established(&name, crd.as_ref()))
                    }
                })
                .await
            }
        });
        futures::future::try_join_all(waits).await?;
        let constraints = load_manifests(cx, CONSTRAINTS_FILE)?;
        apply_documents(&client, &constraints).await?;
        Ok(format!(
            "{} templates established, {} constraints applied (deny in litellm, open-webui, external-secrets)",
            templates.len(),
            constraints.len()
        ))
    }

    fn removes(&self, _cx: &Context) -> Option<String> {
        Some(format!(
            "OPA constraints and constraint templates ({CONSTRAINTS_FILE}, {TEMPLATES_FILE})"
        ))
    }

    async fn remove(&self, cx: &Context) -> Result<String> {
        let mut docs = load_manifests(cx, TEMPLATES_FILE)?;
        docs.extend(load_manifests(cx, CONSTRAINTS_FILE)?);
        let deleted = crate::platform::kubeapi::apply::delete_documents(&cx.kube()?, &docs).await?;
        Ok(super::objects::removed_summary(&deleted))
    }

    async fn view(&self, cx: &Context) -> Result<String> {
        Ok(render(&find(cx).await?))
    }
}

/// The constraint's violations from Gatekeeper's last audit; None before its first audit
/// (a count of 0 then would claim a clean cluster nobody has looked at).
fn audited(o: &kube::api::DynamicObject) -> Option<i64> {
    let st = &o.data["status"];
    if st["auditTimestamp"].as_str().is_none() && st["totalViolations"].is_null() {
        return None;
    }
    Some(st["totalViolations"].as_i64().unwrap_or(0))
}

fn render(f: &Found) -> String {
    let mut lines = Vec::new();
    for (name, obj) in &f.templates {
        lines.push(format!(
            "  template {name:<22} {}",
            match obj {
                None => "missing",
                // Gatekeeper's `status.created`: its constraint kind exists. Not "created",
                // which reads as if this run had made it.
                Some(o) if created(o) => "ready (its constraint kind is served)",
                Some(_) => "not ready yet (Gatekeeper has not made its constraint kind)",
            }
        ));
    }
    for (kind, name, obj) in &f.constraints {
        lines.push(match obj {
            None => format!("  constraint {name:<26} missing"),
            Some(o) => format!(
                "  constraint {name:<26} {kind:<20} {} — {}",
                o.data["spec"]["enforcementAction"]
                    .as_str()
                    .unwrap_or("deny"),
                match audited(o) {
                    Some(n) => format!(
                        "{n} violations (audit {})",
                        o.data["status"]["auditTimestamp"]
                            .as_str()
                            .unwrap_or("done")
                    ),
                    None => "not audited yet".into(),
                }
            ),
        });
    }
    lines.join("\n")
}

pub struct OpaVerify;

#[async_trait]
impl Step for OpaVerify {
    fn id(&self) -> StepId {
        StepId::OpaVerify
    }
    fn resource(&self, _cx: &Context) -> String {
        "OPA policy status".into()
    }
    async fn assess(&self, _cx: &Context) -> Result<State> {
        Ok(State::Stateless)
    }
    async fn apply(&self, cx: &Context, _action: Action, _found: Findings) -> Result<String> {
        let f = find(cx).await?;
        let missing: Vec<String> = f
            .templates
            .iter()
            .filter(|t| t.1.is_none())
            .map(|t| format!("template {}", t.0))
            .chain(
                f.constraints
                    .iter()
                    .filter(|c| c.2.is_none())
                    .map(|c| format!("constraint {}", c.1)),
            )
            .collect();
        if !missing.is_empty() {
            bail!(
                "missing {}: run `deployctl opa-policies`\n{}",
                missing.join(", "),
                render(&f)
            );
        }
        Ok(summary(&f))
    }
    async fn view(&self, cx: &Context) -> Result<String> {
        Ok(render(&find(cx).await?))
    }
}

/// What `opa-verify` reports once everything exists.
fn summary(f: &Found) -> String {
    let audits: Vec<Option<i64>> = f
        .constraints
        .iter()
        .filter_map(|c| c.2.as_ref())
        .map(audited)
        .collect();
    let unaudited = audits.iter().filter(|a| a.is_none()).count();
    let violations: i64 = audits.iter().flatten().sum();
    let existing = if unaudited == audits.len() {
        "no audit yet (Gatekeeper audits existing objects about once a minute; run `deployctl opa-verify` again shortly)".to_string()
    } else if unaudited > 0 {
        format!(
            "{violations} violations of existing objects so far; {unaudited} constraint(s) not audited yet"
        )
    } else {
        format!("{violations} violations of existing objects")
    };
    format!(
        "{} templates, {} constraints, {existing} (new ones are denied)\n{}",
        f.templates.len(),
        f.constraints.len(),
        render(f)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(status: serde_json::Value) -> Option<DynamicObject> {
        Some(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sAllowedRepos",
                "metadata": {"name": "allowed-repos"},
                "spec": {"enforcementAction": "deny"},
                "status": status
            }))
            .unwrap(),
        )
    }

    fn found(statuses: Vec<serde_json::Value>) -> Found {
        Found {
            templates: vec![],
            constraints: statuses
                .into_iter()
                .map(|s| {
                    (
                        "K8sAllowedRepos".into(),
                        "allowed-repos".into(),
                        constraint(s),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn before_the_first_audit_it_says_so_instead_of_zero_violations() {
        let s = summary(&found(vec![serde_json::json!({}), serde_json::json!({})]));
        assert!(s.contains("no audit yet"), "{s}");
        assert!(!s.contains("0 violations"), "{s}");
        assert!(s.contains("not audited yet"), "{s}");
        let s = summary(&found(vec![
            serde_json::json!({"auditTimestamp": "2026-11-27T10:00:00Z", "totalViolations": 2}),
            serde_json::json!({}),
        ]));
        assert!(
            s.contains("2 violations of existing objects so far; 1 constraint(s) not audited yet"),
            "{s}"
        );
        let s = summary(&found(vec![
            serde_json::json!({"auditTimestamp": "2026-11-27T10:00:00Z", "totalViolations": 0}),
        ]));
        assert!(s.contains("0 violations of existing objects (new"), "{s}");
    }
}
