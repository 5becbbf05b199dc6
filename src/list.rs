//! `deployctl list`: infrastructure modules, application components with their needs and
//! criticality, deployment modes and verification commands, rendered from the step graph.

use crate::graph::{STEPS, companions};
use crate::steps;
use crate::ui::table;
use serde_json::{Value, json};

/// Terraform modules under terraform/modules (what `infrastructure` provisions).
pub const INFRA_MODULES: &[(&str, &str)] = &[
    (
        "vpc",
        "VPC across 3 AZs: public, private and isolated database subnets, NAT, flow logs",
    ),
    (
        "eks",
        "EKS cluster: private endpoint, KMS envelope encryption, OIDC provider, node groups, add-ons",
    ),
    (
        "rds",
        "PostgreSQL 16: encrypted, multi-AZ, reachable only from the cluster",
    ),
    (
        "secrets",
        "KMS key and <prefix>/database-url in Secrets Manager",
    ),
    (
        "bastion",
        "optional SSM bastion host (create_bastion = true)",
    ),
];

pub const MODES: &[(&str, &str)] = &[
    (
        "deployctl complete",
        "infrastructure, then kubeconfig, then every application component",
    ),
    (
        "deployctl infrastructure",
        "Terraform only (plan, confirm, apply)",
    ),
    (
        "deployctl all",
        "every application component, in the order above",
    ),
    (
        "deployctl <component>",
        "one component; its needs are checked (--with-deps runs them too)",
    ),
    (
        "deployctl plan [STEP...]",
        "what a run would do and why; changes nothing",
    ),
    (
        "INTERACTIVE_MODE=false deployctl all",
        "no prompts (CI); AUTO_SKIP_HEALTHY=true skips healthy resources",
    ),
];

pub const VERIFY: &[(&str, &str)] = &[
    ("deployctl validate", "manifests and values files, offline"),
    (
        "deployctl infrastructure-verify",
        "EKS, VPC, OIDC, IAM roles, secrets, database, kube access",
    ),
    (
        "deployctl verify",
        "pods and services of the stack, with access hints",
    ),
    (
        "deployctl opa-verify",
        "Gatekeeper templates, constraints and violations",
    ),
];

fn component_rows() -> Vec<Vec<String>> {
    STEPS
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut needs: Vec<&str> = d.needs.iter().map(|n| n.name()).collect();
            if d.runs_last {
                needs.push("(runs after the others)");
            }
            let mut title = d.title.to_string();
            if !companions(d.id).is_empty() {
                let c: Vec<&str> = companions(d.id).iter().map(|c| c.name()).collect();
                title.push_str(&format!(" (+ {})", c.join(", ")));
            }
            if steps::build(d.id).is_none() {
                title.push_str(" [not built yet]");
            }
            vec![
                format!("{:>2}", i + 1),
                format!("{}{}", d.id.name(), if d.critical { " !" } else { "" }),
                title,
                if needs.is_empty() {
                    "-".into()
                } else {
                    needs.join(", ")
                },
            ]
        })
        .collect()
}

pub fn render_text() -> String {
    let pairs = |items: &[(&str, &str)]| {
        table(
            &["", ""],
            &items
                .iter()
                .map(|(a, b)| vec![a.to_string(), b.to_string()])
                .collect::<Vec<_>>(),
        )
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n")
    };
    format!(
        "Infrastructure modules (Terraform, terraform/modules):\n{}\n\n\
         Application components (`deployctl all` runs them in this order; ! = critical):\n{}\n\n\
         Deployment modes:\n{}\n\nVerification:\n{}\n",
        pairs(INFRA_MODULES),
        table(&["#", "component", "what", "needs"], &component_rows()),
        pairs(MODES),
        pairs(VERIFY),
    )
}

pub fn render_json() -> Value {
    json!({
        "event": "list",
        "infrastructure_modules": INFRA_MODULES.iter().map(|(n, d)| json!({"name": n, "description": d})).collect::<Vec<_>>(),
        "components": STEPS.iter().map(|d| json!({
            "name": d.id.name(), "title": d.title, "critical": d.critical,
            "needs": d.needs.iter().map(|n| n.name()).collect::<Vec<_>>(),
            "kind": d.kind.label(), "runs_last": d.runs_last,
            "built": steps::build(d.id).is_some(),
        })).collect::<Vec<_>>(),
        "modes": MODES.iter().map(|(c, d)| json!({"command": c, "description": d})).collect::<Vec<_>>(),
        "verification": VERIFY.iter().map(|(c, d)| json!({"command": c, "description": d})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_and_its_needs_are_listed() {
        let text = render_text();
        for d in STEPS {
            assert!(text.contains(d.id.name()), "{} missing", d.id);
        }
        assert!(text.contains("litellm !"));
        assert!(text.contains("redis, secret-stores, irsa"));
        for (m, _) in INFRA_MODULES {
            assert!(text.contains(m));
        }
    }
}
