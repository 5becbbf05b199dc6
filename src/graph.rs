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
    LoadBalancerController,
    Ingress,
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

/// One row of the step table: everything about a step that is not its code. The CLI's
/// per-step subcommands, `list`, `plan`, dispatch and the scheduler all read these rows;
/// `steps::build` maps the id to the step's code (an exhaustive match, so a new row without
/// code does not compile).
#[derive(Debug)]
pub struct StepDef {
    pub id: StepId,
    /// The CLI name (`deployctl redis`, `deployctl run redis litellm`, `list`, journal).
    pub name: &'static str,
    /// Other names the subcommand answers to.
    pub aliases: &'static [&'static str],
    /// The subcommand's help line.
    pub help: &'static str,
    /// What `list` and the plan call it.
    pub title: &'static str,
    pub needs: &'static [StepId],
    /// Steps the single-step command runs alongside (deploy.sh's pairings).
    pub companions: &'static [StepId],
    /// Critical: an unhealthy resource cannot be skipped; skipping a healthy one warns.
    pub critical: bool,
    pub kind: ResourceKind,
    /// Runs after every other selected step, whatever their result (verification).
    pub runs_last: bool,
    /// Talks to the Kubernetes API.
    pub uses_kube: bool,
    /// Runs the helm CLI.
    pub uses_helm: bool,
    /// Calls AWS APIs (a release whose overlay carries IAM role ARNs too).
    pub uses_aws: bool,
}

use StepId::*;

/// A row with its clients derived from the kind; the builders below add the rest.
const fn step(id: StepId, name: &'static str, kind: ResourceKind) -> StepDef {
    StepDef {
        id,
        name,
        aliases: &[],
        help: "",
        title: "",
        needs: &[],
        companions: &[],
        critical: false,
        kind,
        runs_last: false,
        uses_kube: matches!(
            kind,
            ResourceKind::KubeObjects | ResourceKind::HelmRelease | ResourceKind::Check
        ),
        uses_helm: matches!(kind, ResourceKind::HelmRepos | ResourceKind::HelmRelease),
        uses_aws: matches!(kind, ResourceKind::Iam | ResourceKind::AwsSecrets),
    }
}

impl StepDef {
    const fn help(mut self, title: &'static str, help: &'static str) -> Self {
        self.title = title;
        self.help = help;
        self
    }
    const fn needs(mut self, needs: &'static [StepId]) -> Self {
        self.needs = needs;
        self
    }
    const fn alias(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }
    const fn with(mut self, companions: &'static [StepId]) -> Self {
        self.companions = companions;
        self
    }
    const fn critical(mut self) -> Self {
        self.critical = true;
        self
    }
    /// The step also calls AWS (a helm release whose overlay carries IAM role ARNs).
    const fn aws(mut self) -> Self {
        self.uses_aws = true;
        self
    }
    const fn last(mut self) -> Self {
        self.runs_last = true;
        self
    }
}

/// Every application step, in the order of deploy.sh `all` (the order deployctl keeps from it).
pub static STEPS: &[StepDef] = &[
    step(Validate, "validate", ResourceKind::Files).help(
        "YAML validation",
        "Validate manifests/ and helm-values/ offline",
    ),
    step(Irsa, "irsa", ResourceKind::Iam).help(
        "IAM roles for service accounts",
        "Create IAM roles for service accounts",
    ),
    step(Secrets, "secrets", ResourceKind::AwsSecrets).help(
        "AWS Secrets Manager secrets",
        "Create secrets in AWS Secrets Manager",
    ),
    step(HelmRepos, "helm-repos", ResourceKind::HelmRepos)
        .help("Helm repositories", "Add Helm repositories"),
    step(Namespaces, "namespaces", ResourceKind::KubeObjects).help(
        "Kubernetes namespaces and the encrypted default StorageClass",
        "Create Kubernetes namespaces",
    ),
    step(
        ExternalSecrets,
        "external-secrets",
        ResourceKind::HelmRelease,
    )
    .help(
        "External Secrets Operator",
        "Deploy External Secrets Operator and sync secrets",
    )
    .needs(&[Irsa, Namespaces, HelmRepos])
    .with(&[SecretStores])
    .critical()
    .aws(),
    step(SecretStores, "secret-stores", ResourceKind::KubeObjects)
        .help(
            "ClusterSecretStore and ExternalSecrets",
            "Apply the ClusterSecretStore and ExternalSecrets",
        )
        .needs(&[ExternalSecrets, Secrets]),
    step(Gatekeeper, "gatekeeper", ResourceKind::HelmRelease)
        .help("OPA Gatekeeper", "Deploy OPA Gatekeeper")
        .needs(&[HelmRepos, Namespaces]),
    step(OpaPolicies, "opa-policies", ResourceKind::KubeObjects)
        .help(
            "OPA constraint templates and constraints",
            "Apply OPA policies",
        )
        .needs(&[Gatekeeper]),
    step(Monitoring, "monitoring", ResourceKind::HelmRelease)
        .help(
            "kube-prometheus-stack (Prometheus, Grafana, Alertmanager)",
            "Deploy kube-prometheus-stack (Prometheus + Grafana)",
        )
        .needs(&[Namespaces, HelmRepos])
        .with(&[Dashboards]),
    step(Dashboards, "dashboards", ResourceKind::KubeObjects)
        .help(
            "Grafana dashboards and ServiceMonitors",
            "Deploy Grafana dashboards",
        )
        .needs(&[Monitoring]),
    step(Jaeger, "jaeger", ResourceKind::HelmRelease)
        .help("Jaeger tracing", "Deploy Jaeger for distributed tracing")
        .needs(&[Namespaces, HelmRepos]),
    step(Redis, "redis", ResourceKind::HelmRelease)
        .help("Redis HA", "Deploy Redis HA")
        .needs(&[SecretStores])
        .critical(),
    step(Litellm, "litellm", ResourceKind::HelmRelease)
        .help("LiteLLM gateway", "Deploy the LiteLLM gateway")
        .needs(&[Redis, SecretStores, Irsa])
        .critical()
        .aws(),
    // Its overlay names the uploads role (IRSA) and bucket (the account); Redis comes with
    // LiteLLM (websockets and shared state).
    step(Openwebui, "openwebui", ResourceKind::HelmRelease)
        .help("OpenWebUI frontend", "Deploy the OpenWebUI frontend")
        .needs(&[Litellm, SecretStores, Irsa])
        .aws(),
    // The entry point (off until access.yaml names a certificate): the controller that makes
    // the ALB, then the Ingresses — after OpenWebUI, whose admin must exist first.
    step(
        LoadBalancerController,
        "load-balancer-controller",
        ResourceKind::HelmRelease,
    )
    .alias(&["alb-controller"])
    .help(
        "AWS Load Balancer Controller (with an entry point)",
        "Deploy the AWS Load Balancer Controller (only with an entry point in access.yaml)",
    )
    .needs(&[Irsa, HelmRepos])
    .aws(),
    step(Ingress, "ingress", ResourceKind::KubeObjects)
        .alias(&["entry-point"])
        .help(
            "HTTPS entry point: ALB Ingresses for OpenWebUI and the LiteLLM API",
            "Create the HTTPS entry point (only with an entry point in access.yaml)",
        )
        .needs(&[LoadBalancerController, Openwebui]),
    step(Verify, "verify", ResourceKind::Check)
        .help("Deployment verification", "Verify deployment status")
        .last(),
    step(OpaVerify, "opa-verify", ResourceKind::Check)
        .help("OPA policy status", "Verify OPA policy status")
        .last(),
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
        self.def().name
    }

    /// The step called `name` (or one of its aliases).
    pub fn from_name(name: &str) -> Option<StepId> {
        STEPS
            .iter()
            .find(|d| d.name == name || d.aliases.contains(&name))
            .map(|d| d.id)
    }

    /// The step called `name`, or the usage error that names `deployctl list`.
    pub fn parse(name: &str) -> Result<StepId, crate::error::UserError> {
        StepId::from_name(name).ok_or_else(|| {
            crate::error::UserError::usage(
                format!("unknown step `{name}`"),
                "see `deployctl list` for the step names",
            )
        })
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

/// What the single-step command `deployctl <id>` selects: the step and its companions.
pub fn single(id: StepId) -> Vec<StepId> {
    let mut v = vec![id];
    v.extend_from_slice(id.def().companions);
    v
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
            assert!(
                !def.help.is_empty() && !def.title.is_empty(),
                "{} has no help line or title",
                def.id
            );
            for other in &STEPS[..i] {
                assert!(
                    other.name != def.name && !other.aliases.contains(&def.name),
                    "{} named twice",
                    def.name
                );
            }
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
                "load-balancer-controller",
                "ingress",
                "verify",
                "opa-verify"
            ]
        );
    }

    #[test]
    fn critical_steps_are_those_of_deploy_sh() {
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
