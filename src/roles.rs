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
    },
    RoleDef {
        suffix: "external-secrets",
        namespace: "external-secrets",
        service_account: "external-secrets",
        policy_file: "iam/external-secrets-policy.json",
        inline_name: "external-secrets-read",
        description: "External Secrets Operator reads the stack's secrets (managed by deployctl)",
        invokes_bedrock: false,
    },
];

/// The tag that says which cluster a role was created for; deployctl changes no role
/// without it (`deployctl-cluster=<cluster>`).
pub const CLUSTER_TAG: &str = "deployctl-cluster";

impl RoleDef {
    /// `<cluster>-<suffix>` (see `iam::cluster_scoped_name` for long cluster names).
    pub fn name(&self, cluster: &str) -> String {
        iam::cluster_scoped_name(cluster, self.suffix)
    }
}
