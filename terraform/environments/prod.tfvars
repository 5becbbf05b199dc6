# Production: NAT per AZ, three AZs, multi-AZ database with deletion protection.

aws_region   = "us-east-1"
project_name = "litellm"
environment  = "prod"
# One prefix per environment: dev and prod can share an account and region. deployctl's
# SECRETS_PREFIX must be the same (or unset: `complete` takes it from Terraform's outputs).
secrets_prefix = "litellm"
cluster_name   = "litellm-eks"

az_count           = 3
single_nat_gateway = false
log_retention_days = 365

eks_node_groups = {
  general = {
    instance_types = ["m6i.xlarge"]
    capacity_type  = "ON_DEMAND"
    disk_size      = 100
    desired_size   = 3
    min_size       = 3
    max_size       = 9
  }
}

rds_instance_class        = "db.r6g.large"
rds_multi_az              = true
rds_allocated_storage     = 100
rds_max_allocated_storage = 1000
rds_backup_retention_days = 30
rds_deletion_protection   = true

# The way in to the private API endpoint (deployctl tunnels through it over SSM; no inbound
# ports). Without it: endpoint_public_access with public_access_cidrs, or a VPN and
# API_ACCESS=direct.
create_bastion = true
