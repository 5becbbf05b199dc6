data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# CloudWatch Logs' service principal in this region's partition (logs.amazonaws.com.cn in
# China), as the provider knows it.
data "aws_service_principal" "logs" {
  service_name = "logs"
}

# The zones: regular ones only, without those EKS refuses (by zone ID), and any in
# exclude_zone_ids (modules/zones).
module "zones" {
  source = "./modules/zones"

  region           = var.aws_region
  count_wanted     = var.az_count
  exclude_zone_ids = var.exclude_zone_ids
}

locals {
  name_prefix = "${var.project_name}-${var.environment}"
  azs         = module.zones.names
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
}

# One key for the CloudWatch log groups (VPC flow logs, EKS control plane).
resource "aws_kms_key" "logs" {
  description             = "${local.name_prefix} CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdmin"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.aws_region}.${data.aws_service_principal.logs.suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name_prefix}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

module "vpc" {
  source = "./modules/vpc"

  name               = local.name_prefix
  cluster_name       = var.cluster_name
  cidr               = var.vpc_cidr
  azs                = local.azs
  single_nat_gateway = var.single_nat_gateway
  enable_flow_logs   = var.enable_flow_logs
  log_retention_days = var.log_retention_days
  logs_kms_key_arn   = aws_kms_key.logs.arn
}

module "eks" {
  source = "./modules/eks"

  cluster_name           = var.cluster_name
  kubernetes_version     = var.kubernetes_version
  support_type           = var.eks_support_type
  subnet_ids             = module.vpc.private_subnet_ids
  endpoint_public_access = var.endpoint_public_access
  public_access_cidrs    = var.public_access_cidrs
  node_groups            = var.eks_node_groups
  cluster_admin_arns     = var.cluster_admin_arns
  log_retention_days     = var.log_retention_days
  logs_kms_key_arn       = aws_kms_key.logs.arn
  partition              = local.partition
  account_id             = local.account_id
}

module "secrets" {
  source = "./modules/secrets"

  name             = local.name_prefix
  secrets_prefix   = var.secrets_prefix
  password_version = var.db_password_version
  database_host    = module.rds.address
  database_port    = module.rds.port
  database_name    = var.db_name
  database_user    = var.db_username
  partition        = local.partition
  account_id       = local.account_id
}

module "rds" {
  source = "./modules/rds"

  name                    = local.name_prefix
  vpc_id                  = module.vpc.vpc_id
  db_subnet_group_name    = module.vpc.database_subnet_group_name
  allowed_security_groups = { eks_cluster = module.eks.cluster_security_group_id }
  instance_class          = var.rds_instance_class
  multi_az                = var.rds_multi_az
  allocated_storage       = var.rds_allocated_storage
  max_allocated_storage   = var.rds_max_allocated_storage
  backup_retention_days   = var.rds_backup_retention_days
  deletion_protection     = var.rds_deletion_protection
  db_name                 = var.db_name
  username                = var.db_username
  password                = module.secrets.database_password
  password_version        = module.secrets.database_password_version
  kms_key_arn             = module.secrets.kms_key_arn
}

# OpenWebUI's uploads (STORAGE_PROVIDER=s3), reached through the IRSA role deployctl makes.
module "uploads" {
  source = "./modules/uploads"

  cluster_name = var.cluster_name
  account_id   = local.account_id
  region       = var.aws_region
}

module "bastion" {
  source = "./modules/bastion"
  count  = var.create_bastion ? 1 : 0

  name                       = local.name_prefix
  region                     = var.aws_region
  cluster_name               = module.eks.cluster_name
  cluster_arn                = module.eks.cluster_arn
  kubernetes_version         = module.eks.kubernetes_version
  vpc_id                     = module.vpc.vpc_id
  subnet_id                  = module.vpc.private_subnet_ids[0]
  cluster_security_group_id  = module.eks.cluster_security_group_id
  database_security_group_id = module.rds.security_group_id
  instance_type              = var.bastion_instance_type
  partition                  = local.partition
}
