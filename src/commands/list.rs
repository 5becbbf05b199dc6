//! `deployctl list`: infrastructure modules, application components with their needs and
//! criticality, deployment modes and verification commands, rendered from the step graph.

use crate::events::{Component, Described, Listing};
use crate::graph::STEPS;
use crate::ui::table;

/// Terraform modules under terraform/modules (what `infrastructure` provisions).
/// The Terraform modules, described as README.md and `terraform/` have them (the defaults
/// named here are checked against `terraform/variables.tf` in the tests below).
pub const INFRA_MODULES: &[(&str, &str)] = &[
    (
        "vpc",
        "public, private (workers) and isolated database subnets over 2-3 AZs (az_count, default 3); NAT per AZ or one (single_nat_gateway); flow logs (enable_flow_logs, default on)",
    ),
    (
        "eks",
        "private API endpoint (public only with public_access_cidrs), KMS envelope encryption, control-plane logs, OIDC provider, managed node groups, add-ons incl. the EBS CSI driver",
    ),
    (
        "rds",
        "PostgreSQL 16, encrypted, Multi-AZ by default (rds_multi_az), not public, reachable only from the EKS cluster security group",
    ),
    (
        "secrets",
        "KMS key and <secrets_prefix>/database-url in Secrets Manager (the password never in state)",
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
            if !d.companions.is_empty() {
                let c: Vec<&str> = d.companions.iter().map(|c| c.name()).collect();
                title.push_str(&format!(" (+ {})", c.join(", ")));
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

/// What `deployctl list --output json` emits.
pub fn listing() -> Listing {
    let described = |pairs: &[(&str, &str)], named: bool| -> Vec<Described> {
        pairs
            .iter()
            .map(|(n, d)| Described {
                name: named.then(|| n.to_string()),
                command: (!named).then(|| n.to_string()),
                description: d.to_string(),
            })
            .collect()
    };
    Listing {
        infrastructure_modules: described(INFRA_MODULES, true),
        components: STEPS
            .iter()
            .map(|d| Component {
                name: d.name.into(),
                title: d.title.into(),
                help: d.help.into(),
                critical: d.critical,
                needs: d.needs.iter().map(|n| n.name().to_string()).collect(),
                companions: d.companions.iter().map(|n| n.name().to_string()).collect(),
                kind: d.kind.label().into(),
                runs_last: d.runs_last,
            })
            .collect(),
        modes: described(MODES, false),
        verification: described(VERIFY, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_of(vars: &str, name: &str) -> String {
        let block = vars
            .split(&format!("variable \"{name}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("no variable {name}"));
        let line = block
            .lines()
            .find(|l| l.trim_start().starts_with("default"))
            .unwrap_or_else(|| panic!("{name} has no default"));
        line.split('=')
            .nth(1)
            .unwrap()
            .trim()
            .trim_matches('"')
            .to_string()
    }

    #[test]
    fn module_descriptions_match_terraform() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let vars = std::fs::read_to_string(root.join("terraform/variables.tf")).unwrap();
        let rds = std::fs::read_to_string(root.join("terraform/modules/rds/main.tf")).unwrap();
        let d = |m: &str| INFRA_MODULES.iter().find(|(n, _)| *n == m).unwrap().1;
        assert!(d("vpc").contains(&format!(
            "az_count, default {}",
            default_of(&vars, "az_count")
        )));
        assert_eq!(default_of(&vars, "enable_flow_logs"), "true");
        assert!(d("vpc").contains("enable_flow_logs, default on"));
        assert_eq!(default_of(&vars, "rds_multi_az"), "true");
        assert!(d("rds").contains("Multi-AZ by default (rds_multi_az)"));
        let engine = rds
            .lines()
            .find(|l| l.trim_start().starts_with("engine_version"))
            .unwrap();
        let version = engine.split('"').nth(1).unwrap();
        assert!(d("rds").starts_with(&format!("PostgreSQL {version},")));
        for var in [
            "single_nat_gateway",
            "public_access_cidrs",
            "create_bastion",
        ] {
            assert!(vars.contains(&format!("variable \"{var}\"")), "{var}");
        }
    }

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
