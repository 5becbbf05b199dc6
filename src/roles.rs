//! The stack's IRSA roles as data: which service account assumes which role, its inline
//! policy file, its name for a cluster. The `irsa` step creates them; the release overlays
//! and `infrastructure-verify` read the same table.

use crate::aws::iam;

/// One IRSA role. Its IAM name carries the cluster (`<cluster>-<suffix>`): role names are
/// account-wide, and two clusters in one account must not share (or rewrite) a role.
#[derive(Debug, Clone, Copy)]
pub struct RoleDef {
    pub suffix: &'static str,
    pub namespace: &'static str,
    pub service_account: &'static str,
    /// Inline policy file under the project directory.
    pub policy_file: &'static str,
    pub inline_name: &'static str,
    pub description: &'static str,
    /// The inline policy also grants the Bedrock models of helm-values/litellm.yaml
    /// (`bedrock::invoke_statements`): the model list is the one source of what may be called.
    pub invokes_bedrock: bool,
    /// Made only when an entry point is configured (`access::Access::entry_point`).
    pub entry_point_only: bool,
}

pub const ROLES: &[RoleDef] = &[
    RoleDef {
        suffix: "litellm-bedrock",
        namespace: "litellm",
        service_account: "litellm-sa",
        policy_file: "iam/litellm-bedrock-policy.json",
        inline_name: "litellm-bedrock",
        description: "LiteLLM calls Amazon Bedrock (managed by deployctl)",
        invokes_bedrock: true,
        entry_point_only: false,
    },
    RoleDef {
        suffix: "external-secrets",
        namespace: "external-secrets",
        service_account: "external-secrets",
        policy_file: "iam/external-secrets-policy.json",
        inline_name: "external-secrets-read",
        description: "External Secrets Operator reads the stack's secrets (managed by deployctl)",
        invokes_bedrock: false,
        entry_point_only: false,
    },
    // The AWS Load Balancer Controller makes the entry point's ALB. Its policy is the
    // controller's published one (v3.5.0) with every tag condition narrowed to this cluster.
    RoleDef {
        suffix: "lb-controller",
        namespace: "kube-system",
        service_account: "aws-load-balancer-controller",
        policy_file: "iam/aws-load-balancer-controller-policy.json",
        inline_name: "load-balancer-controller",
        description: "AWS Load Balancer Controller makes the entry point's load balancer (managed by deployctl)",
        invokes_bedrock: false,
        entry_point_only: true,
    },
];

/// The roles this configuration needs (the load balancer controller's only with an entry
/// point).
pub fn active(access: &crate::access::Access) -> Vec<&'static RoleDef> {
    let entry = access.entry_point().is_some();
    ROLES
        .iter()
        .filter(|r| entry || !r.entry_point_only)
        .collect()
}

/// The tag that says which cluster a role was created for; deployctl changes no role
/// without it (`deployctl-cluster=<cluster>`).
pub const CLUSTER_TAG: &str = "deployctl-cluster";

impl RoleDef {
    /// `<cluster>-<suffix>` (see `iam::cluster_scoped_name` for long cluster names).
    pub fn name(&self, cluster: &str) -> String {
        iam::cluster_scoped_name(cluster, self.suffix)
    }
}
