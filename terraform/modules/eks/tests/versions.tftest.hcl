# `terraform test` in this module (run by tests/terraform_real.rs): the Kubernetes version
# and endpoint invariants against the real provider schema, with a mocked AWS provider —
# nothing reaches AWS. (The root module cannot be tested this way: Terraform 1.11 cannot mock
# its ephemeral password resource; tests/terraform_real.rs plans it against moto instead.)

mock_provider "aws" {
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
  mock_data "aws_eks_addon_version" {
    defaults = {
      version = "v1.20.4-eksbuild.2"
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
  node_groups            = {}
  # The root module's default (terraform/variables.tf; src/eks_versions.rs checks it too).
  kubernetes_version = "1.35"
}

run "the_default_version_is_in_standard_support_with_the_standard_upgrade_policy" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.version == "1.35"
    error_message = "the cluster does not use kubernetes_version"
  }
  assert {
    condition     = timecmp(plantimestamp(), "${local.version_support.standard_end}T00:00:00Z") < 0
    error_message = "kubernetes_version 1.35 is past EKS standard support: move the default in terraform/variables.tf (and this test) to a current version"
  }
  assert {
    condition     = aws_eks_cluster.this.upgrade_policy[0].support_type == "STANDARD"
    error_message = "the cluster's upgrade policy is not STANDARD"
  }
  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false && aws_eks_cluster.this.vpc_config[0].endpoint_private_access == true
    error_message = "the API endpoint must be private by default"
  }
}

run "a_version_past_extended_support_is_refused" {
  command = plan

  variables {
    kubernetes_version = "1.29"
  }

  # The precondition (an error) and the standard-support check (a warning in a real plan).
  expect_failures = [aws_eks_cluster.this, check.kubernetes_version_in_standard_support]
}

run "a_version_older_than_the_calendar_is_refused" {
  command = plan

  variables {
    kubernetes_version = "1.20"
  }

  expect_failures = [aws_eks_cluster.this]
}

run "a_version_newer_than_the_calendar_plans" {
  command = plan

  variables {
    kubernetes_version = "1.99"
  }

  assert {
    condition     = aws_eks_cluster.this.version == "1.99"
    error_message = "a version newer than the calendar is let through"
  }
}

run "a_public_endpoint_needs_an_allow_list" {
  command = plan

  variables {
    endpoint_public_access = true
    public_access_cidrs    = []
  }

  expect_failures = [aws_eks_cluster.this]
}

run "every_addon_is_pinned_to_the_default_for_the_clusters_version" {
  command = plan

  assert {
    condition = alltrue([
      for k, a in merge(aws_eks_addon.early, aws_eks_addon.late) :
      a.addon_version == data.aws_eks_addon_version.this[k].version
    ])
    error_message = "an add-on is not at the version EKS makes the default for the cluster"
  }
  assert {
    condition = alltrue([
      for k, d in data.aws_eks_addon_version.this :
      d.kubernetes_version == var.kubernetes_version && d.most_recent == false
    ])
    error_message = "the add-on versions are not looked up for the cluster's own Kubernetes version"
  }
  assert {
    condition     = length(data.aws_eks_addon_version.this) == 4
    error_message = "vpc-cni, kube-proxy, coredns and the EBS CSI driver each have a version"
  }
}
