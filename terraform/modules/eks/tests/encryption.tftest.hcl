# `terraform test` in this module (run by tests/terraform_real.rs): what the cluster stores is
# encrypted — Kubernetes secrets with the cluster's KMS key, node disks, and no unencrypted
# default StorageClass from the EBS CSI add-on (deployctl's `namespaces` step applies the
# encrypted default, manifests/storage-class.yaml).

mock_provider "aws" {
  # A version as EKS writes them (the provider checks the format).
  mock_data "aws_eks_addon_version" {
    defaults = {
      version = "v1.20.4-eksbuild.2"
    }
  }
  mock_data "aws_iam_session_context" {
    defaults = {
      issuer_arn = "arn:aws:iam::123456789012:role/Admin"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      arn = "arn:aws:sts::123456789012:assumed-role/Admin/operator"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  cluster_name           = "t-cluster"
  subnet_ids             = ["subnet-1", "subnet-2"]
  endpoint_public_access = false
  public_access_cidrs    = []
  cluster_admin_arns     = []
  log_retention_days     = 30
  logs_kms_key_arn       = "arn:aws:kms:us-east-1:123456789012:key/logs"
  partition              = "aws"
  account_id             = "123456789012"
  kubernetes_version     = "1.35"
  node_groups = {
    general = {
      instance_types = ["m6i.large"]
      capacity_type  = "ON_DEMAND"
      min_size       = 1
      max_size       = 3
      desired_size   = 2
      disk_size      = 50
      labels         = {}
      taints         = []
    }
  }
}

run "volumes_and_secrets_are_encrypted" {
  command = plan

  assert {
    condition     = aws_launch_template.node["general"].block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "node disks are encrypted"
  }
  assert {
    condition     = aws_launch_template.node["general"].metadata_options[0].http_put_response_hop_limit == 1
    error_message = "pods cannot reach the node role through IMDS (hop limit 1)"
  }
  assert {
    condition     = jsondecode(aws_eks_addon.late["aws-ebs-csi-driver"].configuration_values).defaultStorageClass.enabled == false
    error_message = "the EBS CSI add-on's default StorageClass does not encrypt: it stays off"
  }
  assert {
    condition     = contains(aws_eks_cluster.this.encryption_config[0].resources, "secrets")
    error_message = "Kubernetes secrets are envelope-encrypted with the cluster's KMS key"
  }
}
