# ---- Cluster -------------------------------------------------------------------------------

locals {
  # The EKS support calendar, shared with deployctl (src/eks_versions.rs).
  eks_versions         = jsondecode(file("${path.module}/../../eks-versions.json")).versions
  version_support      = lookup(local.eks_versions, var.kubernetes_version, null)
  newest_known_version = max([for v in keys(local.eks_versions) : tonumber(split(".", v)[1])]...)

  # IAM names are account-wide and at most 64 characters: <cluster>-<suffix>, or -- for a
  # cluster name too long for that (EKS allows 100) -- the name cut, 8 hex characters of its
  # SHA-256 and the suffix, so two clusters never share a role (deployctl cuts its own
  # roles the same way, src/aws/iam.rs).
  role_names = {
    for key, suffix in {
      cluster = "cluster-role"
      node    = "node-role"
      ebs_csi = "ebs-csi-driver-role"
    } :
    key => (
      length("${var.cluster_name}-${suffix}") <= 64
      ? "${var.cluster_name}-${suffix}"
      : "${substr(var.cluster_name, 0, 64 - length(suffix) - 10)}-${substr(sha256(var.cluster_name), 0, 8)}-${suffix}"
    )
  }
}

# Service principals as the provider knows them for the region's partition.
data "aws_service_principal" "eks" {
  service_name = "eks"
}

data "aws_service_principal" "ec2" {
  service_name = "ec2"
}

data "aws_iam_policy_document" "cluster_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.eks.name]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = local.role_names.cluster
  assume_role_policy = data.aws_iam_policy_document.cluster_assume.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  for_each = toset(["AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController"])

  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/${each.value}"
}

# Envelope encryption of Kubernetes Secrets.
resource "aws_kms_key" "eks" {
  description             = "${var.cluster_name} EKS secrets envelope encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdmin"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "ClusterRole"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.cluster.arn }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${var.cluster_name}-eks-secrets"
  target_key_id = aws_kms_key.eks.key_id
}

# Created before the cluster so EKS does not create it first (the original raced here).
resource "aws_cloudwatch_log_group" "cluster" {
  name              = "/aws/eks/${var.cluster_name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_eks_cluster" "this" {
  name     = var.cluster_name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.public_access_cidrs : null
  }

  # No silent extended-support fees: when standard support ends the cluster is upgraded.
  upgrade_policy {
    support_type = var.support_type
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  lifecycle {
    # EKS creates no cluster of a version past extended support. Checked at plan time with
    # the plan's own date; a version newer than the table is let through unchecked.
    precondition {
      condition = (
        local.version_support != null
        ? timecmp(plantimestamp(), "${local.version_support.extended_end}T00:00:00Z") < 0
        : tonumber(split(".", var.kubernetes_version)[1]) > local.newest_known_version
      )
      error_message = (
        local.version_support != null
        ? "Kubernetes ${var.kubernetes_version} left EKS extended support on ${local.version_support.extended_end}: EKS no longer creates it. Set kubernetes_version to a version in standard support (see eks-versions.json)."
        : "Kubernetes ${var.kubernetes_version} is older than every version in eks-versions.json: EKS no longer supports it."
      )
    }
    precondition {
      condition     = !var.endpoint_public_access || length(var.public_access_cidrs) > 0
      error_message = "endpoint_public_access needs public_access_cidrs: list the networks allowed to reach the API."
    }
  }

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_cloudwatch_log_group.cluster,
  ]
}

# A version past standard support still plans, with a warning: it costs extended-support fees
# (or, with support_type STANDARD, EKS upgrades it when standard support ends).
check "kubernetes_version_in_standard_support" {
  assert {
    condition     = local.version_support == null || timecmp(plantimestamp(), "${try(local.version_support.standard_end, "2000-01-01")}T00:00:00Z") < 0
    error_message = "Kubernetes ${var.kubernetes_version} is past EKS standard support (ended ${try(local.version_support.standard_end, "?")}); extended support ends ${try(local.version_support.extended_end, "?")}. Upgrade to a version in standard support."
  }
}

# IRSA. IAM no longer uses thumbprints for OIDC providers with a well-known CA, so none is
# pinned (and no tls provider is needed to fetch one).
# The audience is "sts.amazonaws.com" in every partition, China's included: it is the token
# audience the EKS pod identity webhook writes (its --token-audience default), not a host name
# (terraform-aws-modules/terraform-aws-eks#1704 and eksctl-io/eksctl#1910 fixed the opposite).
resource "aws_iam_openid_connect_provider" "this" {
  url            = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]
}

locals {
  oidc_host = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}

# ---- Access entries ------------------------------------------------------------------------

# Whoever creates the cluster is its admin already (bootstrap_cluster_creator_admin_permissions),
# through an access entry of the role behind their session: listing that role again fails the
# apply (one entry per principal), so it is refused at plan time.
data "aws_caller_identity" "current" {}

data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.cluster_admin_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value

  lifecycle {
    precondition {
      condition     = lower(each.value) != lower(data.aws_iam_session_context.current.issuer_arn)
      error_message = "cluster_admin_arns lists ${each.value}, the principal creating the cluster: it is cluster admin already (the creator's access entry); take it out of the list."
    }
  }
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.cluster_admin_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  policy_arn    = "arn:${var.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.admin]
}

# ---- Nodes ---------------------------------------------------------------------------------

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.ec2.name]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = local.role_names.node
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/${each.value}"
}

# IMDSv2 only, hop limit 1: pods (not host-network agents) cannot reach the node role;
# workloads get AWS access through IRSA. Encrypted gp3 root.
resource "aws_launch_template" "node" {
  for_each = var.node_groups

  # A launch template's name prefix is at most 99 characters (the provider's limit: 125 less
  # its unique suffix).
  name_prefix            = "${substr(var.cluster_name, 0, 97 - length(each.key))}-${each.key}-"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value.disk_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.cluster_name}-${each.key}" }
  }
}

resource "aws_eks_node_group" "this" {
  for_each = var.node_groups

  cluster_name    = aws_eks_cluster.this.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  instance_types  = each.value.instance_types
  capacity_type   = each.value.capacity_type
  labels          = merge({ "node-group" = each.key }, each.value.labels)

  launch_template {
    id      = aws_launch_template.node[each.key].id
    version = aws_launch_template.node[each.key].latest_version
  }

  scaling_config {
    desired_size = each.value.desired_size
    min_size     = each.value.min_size
    max_size     = each.value.max_size
  }

  update_config {
    max_unavailable_percentage = 25
  }

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }

  # The autoscaler owns desired_size after creation.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

# ---- Add-ons -------------------------------------------------------------------------------

data "aws_iam_policy_document" "ebs_csi_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ebs_csi" {
  name               = local.role_names.ebs_csi
  assume_role_policy = data.aws_iam_policy_document.ebs_csi_assume.json
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

locals {
  # Add-ons that run before nodes exist vs. those that need nodes to become healthy.
  addons = {
    "vpc-cni"    = { needs_nodes = false, role = null, config = null }
    "kube-proxy" = { needs_nodes = false, role = null, config = null }
    "coredns"    = { needs_nodes = true, role = null, config = null }
    "aws-ebs-csi-driver" = {
      needs_nodes = true
      role        = aws_iam_role.ebs_csi.arn
      # No add-on default StorageClass: it has no `encrypted` parameter (unencrypted volumes
      # unless the account encrypts EBS by default). deployctl's `namespaces` step applies the
      # default class, gp3 and encrypted (manifests/storage-class.yaml).
      config = jsonencode({
        defaultStorageClass = { enabled = false }
      })
    }
  }
}

# Each add-on at EKS's default version for the cluster's Kubernetes version, so the apply that
# upgrades the control plane moves the add-ons with it (without a version they stay at the one
# they were created with). After the automatic upgrade STANDARD support triggers at its end,
# kubernetes_version must be raised to the cluster's new version anyway (Terraform cannot
# downgrade it); that apply moves them.
data "aws_eks_addon_version" "this" {
  for_each = local.addons

  addon_name         = each.key
  kubernetes_version = var.kubernetes_version
  most_recent        = false
}

resource "aws_eks_addon" "early" {
  for_each = { for k, v in local.addons : k => v if !v.needs_nodes }

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = data.aws_eks_addon_version.this[each.key].version
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
}

resource "aws_eks_addon" "late" {
  for_each = { for k, v in local.addons : k => v if v.needs_nodes }

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = data.aws_eks_addon_version.this[each.key].version
  service_account_role_arn    = each.value.role
  configuration_values        = each.value.config
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  depends_on = [aws_eks_node_group.this]
}
