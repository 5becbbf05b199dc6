//! The step graph as data: every application step with its needs, criticality and the kind
//! of resource it manages. Ordering, dependency checks, `list` and `plan` all read this table.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepId {
    Validate,
    Irsa,
    Secrets,
    HelmRepos,
    Namespaces,
    ExternalSecrets,
    SecretStores,
    Gatekeeper,
    OpaPolicies,
    Monitoring,
    Dashboards,
    Jaeger,
    Redis,
    Litellm,
    Openwebui,
    Verify,
    OpaVerify,
}

/// What a step manages; decides which clients and tools preflight checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// Local files only.
    Files,
    /// IAM roles.
    Iam,
    /// AWS Secrets Manager secrets.
    AwsSecrets,
    /// Helm repository configuration (local helm state).
    HelmRepos,
    /// Kubernetes objects applied from manifests/.
    KubeObjects,
    /// A Helm release in the cluster.
    HelmRelease,
    /// Read-only checks of the cluster.
    Check,
}

impl ResourceKind {
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::Files => "files",
            ResourceKind::Iam => "IAM roles",
            ResourceKind::AwsSecrets => "AWS secrets",
            ResourceKind::HelmRepos => "helm repos",
            ResourceKind::KubeObjects => "kube objects",
            ResourceKind::HelmRelease => "helm release",
            ResourceKind::Check => "check",
        }
    }
}

#[derive(Debug)]
pub struct StepDef {
    pub id: StepId,
    pub title: &'static str,
    pub needs: &'static [StepId],
    /// Critical: an unhealthy resource cannot be skipped; skipping a healthy one warns.
    pub critical: bool,
    pub kind: ResourceKind,
    /// Runs after every other selected step, whatever their result (verification).
    pub runs_last: bool,
    /// Talks to the Kubernetes API.
    pub uses_kube: bool,
    /// Runs the helm CLI.
    pub uses_helm: bool,
    /// Calls AWS APIs.
    pub uses_aws: bool,
}

use StepId::*;

const fn step(
    id: StepId,
    title: &'static str,
    needs: &'static [StepId],
    critical: bool,
    kind: ResourceKind,
) -> StepDef {
    let uses_kube = matches!(
        kind,
        ResourceKind::KubeObjects | ResourceKind::HelmRelease | ResourceKind::Check
    );
    let uses_helm = matches!(kind, ResourceKind::HelmRepos | ResourceKind::HelmRelease);
    let uses_aws = matches!(kind, ResourceKind::Iam | ResourceKind::AwsSecrets);
    StepDef {
        id,
        title,
        needs,
        critical,
        kind,
        runs_last: false,
        uses_kube,
        uses_helm,
        uses_aws,
    }
}

/// The step also calls AWS (a helm release whose overlay carries IAM role ARNs).
const fn with_aws(mut def: StepDef) -> StepDef {
    def.uses_aws = true;
    def
}

const fn last(mut def: StepDef) -> StepDef {
    def.runs_last = true;
    def
}

/// Every application step, in the order of deploy.sh `all` (the seed's order).
pub static STEPS: &[StepDef] = &[
    step(Validate, "YAML validation", &[], false, ResourceKind::Files),
    step(
        Irsa,
        "IAM roles for service accounts",
        &[],
        false,
        ResourceKind::Iam,
    ),
    step(
        Secrets,
        "AWS Secrets Manager secrets",
        &[],
        false,
        ResourceKind::AwsSecrets,
    ),
    step(
        HelmRepos,
        "Helm repositories",
        &[],
        false,
        ResourceKind::HelmRepos,
    ),
    step(
        Namespaces,
        "Kubernetes namespaces and the encrypted default StorageClass",
        &[],
        false,
        ResourceKind::KubeObjects,
    ),
    with_aws(step(
        ExternalSecrets,
        "External Secrets Operator",
        &[Irsa, Namespaces, HelmRepos],
        true,
        ResourceKind::HelmRelease,
    )),
    step(
        SecretStores,
        "ClusterSecretStore and ExternalSecrets",
        &[ExternalSecrets, Secrets],
        false,
        ResourceKind::KubeObjects,
    ),
    step(
        Gatekeeper,
        "OPA Gatekeeper",
        &[HelmRepos, Namespaces],
        false,
        ResourceKind::HelmRelease,
    ),
    step(
        OpaPolicies,
        "OPA constraint templates and constraints",
        &[Gatekeeper],
        false,
        ResourceKind::KubeObjects,
    ),
    step(
        Monitoring,
        "kube-prometheus-stack (Prometheus, Grafana, Alertmanager)",
        &[Namespaces, HelmRepos],
        false,
        ResourceKind::HelmRelease,
    ),
    step(
        Dashboards,
        "Grafana dashboards and ServiceMonitors",
        &[Monitoring],
        false,
        ResourceKind::KubeObjects,
    ),
    step(
        Jaeger,
        "Jaeger tracing",
        &[Namespaces, HelmRepos],
        false,
        ResourceKind::HelmRelease,
    ),
    step(
        Redis,
        "Redis HA",
        &[SecretStores],
        true,
        ResourceKind::HelmRelease,
    ),
    with_aws(step(
        Litellm,
        "LiteLLM gateway",
        &[Redis, SecretStores, Irsa],
        true,
        ResourceKind::HelmRelease,
    )),
    step(
        Openwebui,
        "OpenWebUI frontend",
        &[Litellm, SecretStores],
        false,
        ResourceKind::HelmRelease,
    ),
    last(step(
        Verify,
        "Deployment verification",
        &[],
        false,
        ResourceKind::Check,
    )),
    last(step(
        OpaVerify,
        "OPA policy status",
        &[],
        false,
        ResourceKind::Check,
    )),
];

impl StepId {
    pub fn def(self) -> &'static StepDef {
        // The table holds every id exactly once (tested below).
        STEPS
            .iter()
            .find(|d| d.id == self)
            .unwrap_or_else(|| unreachable!("step {self:?} missing from STEPS"))
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Validate => "validate",
            Irsa => "irsa",
            Secrets => "secrets",
            HelmRepos => "helm-repos",
            Namespaces => "namespaces",
            ExternalSecrets => "external-secrets",
            SecretStores => "secret-stores",
            Gatekeeper => "gatekeeper",
            OpaPolicies => "opa-policies",
            Monitoring => "monitoring",
            Dashboards => "dashboards",
            Jaeger => "jaeger",
            Redis => "redis",
            Litellm => "litellm",
            Openwebui => "openwebui",
            Verify => "verify",
            OpaVerify => "opa-verify",
        }
    }

    pub fn from_name(name: &str) -> Option<StepId> {
        STEPS.iter().map(|d| d.id).find(|id| id.name() == name)
    }

    /// Position in the canonical order.
    pub fn order(self) -> usize {
        STEPS
            .iter()
            .position(|d| d.id == self)
            .unwrap_or(usize::MAX)
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The steps a single-component command selects besides its own (the seed's pairings).
pub fn companions(id: StepId) -> &'static [StepId] {
    match id {
        ExternalSecrets => &[SecretStores],
        Monitoring => &[Dashboards],
        _ => &[],
    }
}

/// Every step, canonical order (the `all` command).
pub fn all_steps() -> Vec<StepId> {
    STEPS.iter().map(|d| d.id).collect()
}

/// Sort into canonical order and remove duplicates.
pub fn normalise(mut ids: Vec<StepId>) -> Vec<StepId> {
    ids.sort_by_key(|id| id.order());
    ids.dedup();
    ids
}

/// Everything `ids` needs, transitively, plus `ids` (canonical order).
pub fn with_dependencies(ids: &[StepId]) -> Vec<StepId> {
    let mut out: Vec<StepId> = ids.to_vec();
    let mut i = 0;
    while i < out.len() {
        for need in out[i].def().needs {
            if !out.contains(need) {
                out.push(*need);
            }
        }
        i += 1;
    }
    normalise(out)
}

/// The needs of the selected steps that are not themselves selected (checked as
/// preconditions), each with the selected step that needs it. Direct needs only: a need that
/// is healthy vouches for its own needs.
pub fn unselected_needs(selected: &[StepId]) -> Vec<(StepId, StepId)> {
    let mut out = Vec::new();
    for id in selected {
        for need in id.def().needs {
            if !selected.contains(need) && !out.iter().any(|(n, _)| n == need) {
                out.push((*need, *id));
            }
        }
    }
    out.sort_by_key(|(n, _)| n.order());
    out
}

/// Selected steps that need `id` directly.
pub fn dependents_in(id: StepId, selected: &[StepId]) -> Vec<StepId> {
    selected
        .iter()
        .copied()
        .filter(|s| s.def().needs.contains(&id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_once_and_needs_come_first() {
        for (i, def) in STEPS.iter().enumerate() {
            assert_eq!(def.id.order(), i, "{} listed twice", def.id);
            for need in def.needs {
                assert!(
                    need.order() < i,
                    "{} needs {} which comes later",
                    def.id,
                    need
                );
            }
            assert_eq!(StepId::from_name(def.id.name()), Some(def.id));
        }
    }

    #[test]
    fn all_follows_the_seed_order() {
        let names: Vec<_> = all_steps().iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "validate",
                "irsa",
                "secrets",
                "helm-repos",
                "namespaces",
                "external-secrets",
                "secret-stores",
                "gatekeeper",
                "opa-policies",
                "monitoring",
                "dashboards",
                "jaeger",
                "redis",
                "litellm",
                "openwebui",
                "verify",
                "opa-verify"
            ]
        );
    }

    #[test]
    fn critical_steps_are_the_seeds() {
        let critical: Vec<_> = STEPS.iter().filter(|d| d.critical).map(|d| d.id).collect();
        assert_eq!(critical, [ExternalSecrets, Redis, Litellm]);
    }

    #[test]
    fn dependency_closure_and_unselected_needs() {
        assert_eq!(
            with_dependencies(&[Redis]),
            [
                Irsa,
                Secrets,
                HelmRepos,
                Namespaces,
                ExternalSecrets,
                SecretStores,
                Redis
            ]
        );
        assert_eq!(unselected_needs(&[Redis]), [(SecretStores, Redis)]);
        assert_eq!(
            unselected_needs(&[Litellm]),
            [(Irsa, Litellm), (SecretStores, Litellm), (Redis, Litellm)]
        );
        assert!(unselected_needs(&all_steps()).is_empty());
        assert_eq!(dependents_in(Redis, &all_steps()), [Litellm]);
    }
}
