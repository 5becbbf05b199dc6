//! The stack's IRSA roles as data: which service account assumes which role, its inline
//! policy file, its name for a cluster. The `irsa` step creates them; the release overlays
//! and `infrastructure-verify` read the same table.

use crate::platform::aws::iam;

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
    // OpenWebUI keeps uploaded files in the bucket Terraform makes (modules/uploads).
    RoleDef {
        suffix: "openwebui-uploads",
        namespace: "open-webui",
        service_account: "open-webui",
        policy_file: "iam/openwebui-uploads-policy.json",
        inline_name: "openwebui-uploads",
        description: "OpenWebUI keeps uploaded files in the stack's S3 bucket (managed by deployctl)",
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
pub fn active(access: &crate::config::access::Access) -> Vec<&'static RoleDef> {
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

/// OpenWebUI's uploads bucket of a cluster: `openwebui-<account>-<region>-<8 hex of the
/// SHA-256 of the cluster name>` (at most 46 characters, lowercase; S3 names are global, so
/// the account and region are in it). terraform/modules/uploads names it the same way.
pub fn uploads_bucket(account: &str, region: &str, cluster: &str) -> String {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(cluster.as_bytes()));
    format!("openwebui-{account}-{region}-{}", &hash[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uploads_bucket_name_is_an_s3_name_for_any_cluster() {
        let name = uploads_bucket("123456789012", "ap-southeast-7", &"c".repeat(100));
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        // sha256("litellm-eks") starts with these 8 hex (the same value Terraform computes:
        // tests/suite/terraform_real.rs compares the two).
        assert_eq!(
            uploads_bucket("123456789012", "us-east-1", "litellm-eks"),
            format!(
                "openwebui-123456789012-us-east-1-{}",
                &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"litellm-eks"))[..8]
            )
        );
        assert_ne!(uploads_bucket("1", "r", "a"), uploads_bucket("1", "r", "b"));
    }
}
