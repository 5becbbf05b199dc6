# `terraform test` in this module (run by tests/terraform_real.rs): every IAM name fits IAM's
# 64 characters and every launch template prefix its 99 for any cluster name EKS accepts (up
# to 100 characters); a long name is cut and carries a hash of the whole name, so two clusters
# never share a role. Cluster admins: the creator is not listed twice.

mock_provider "aws" {
  # A version as EKS writes them (the provider checks the format).
  mock_data "aws_eks_addon_version" {
    defaults = {
      version = "v1.20.4-eksbuild.2"
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
  mock_data "aws_iam_session_context" {
    defaults = {
      issuer_arn = "arn:aws:iam::123456789012:role/Admin"
    }
  }
}

variables {
  # 100 characters, the most EKS allows.
  cluster_name           = "a-very-long-cluster-name-for-a-team-that-likes-to-say-everything-in-the-name-0123456789-abcdefghijkl"
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
    a-node-group-with-a-long-name-too = {
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

run "a_100_character_cluster_name_fits_every_iam_name" {
  command = plan

  assert {
    condition     = length(var.cluster_name) == 100
    error_message = "the test's cluster name is not 100 characters"
  }
  assert {
    condition = alltrue([
      for n in [aws_iam_role.cluster.name, aws_iam_role.node.name, aws_iam_role.ebs_csi.name] : length(n) <= 64
    ])
    error_message = "an IAM role name is over 64 characters: ${aws_iam_role.cluster.name}, ${aws_iam_role.node.name}, ${aws_iam_role.ebs_csi.name}"
  }
  assert {
    condition = alltrue([
      for n in [aws_iam_role.cluster.name, aws_iam_role.node.name, aws_iam_role.ebs_csi.name] :
      strcontains(n, substr(sha256(var.cluster_name), 0, 8)) && startswith(n, substr(var.cluster_name, 0, 30))
    ])
    error_message = "a cut role name does not start with the cluster name and carry its hash"
  }
  assert {
    condition     = endswith(aws_iam_role.ebs_csi.name, "-ebs-csi-driver-role") && endswith(aws_iam_role.node.name, "-node-role")
    error_message = "a cut role name lost its suffix"
  }
  assert {
    condition     = length(aws_launch_template.node["a-node-group-with-a-long-name-too"].name_prefix) <= 99
    error_message = "the launch template prefix is over 99 characters"
  }
}

run "a_short_cluster_name_is_kept_whole" {
  command = plan

  variables {
    cluster_name = "litellm-eks"
  }

  assert {
    condition     = aws_iam_role.cluster.name == "litellm-eks-cluster-role" && aws_iam_role.ebs_csi.name == "litellm-eks-ebs-csi-driver-role"
    error_message = "a name that fits is changed: ${aws_iam_role.cluster.name}"
  }
}

run "the_creator_is_not_listed_again" {
  command = plan

  variables {
    cluster_name       = "litellm-eks"
    cluster_admin_arns = ["arn:aws:iam::123456789012:role/admin"]
  }

  expect_failures = [aws_eks_access_entry.admin]
}
