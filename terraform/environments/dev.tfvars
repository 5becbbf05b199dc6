# Cheap development stack: one NAT gateway, two AZs, single-AZ small database, spot nodes.
# deployctl infrastructure --var-file terraform/environments/dev.tfvars (or TFVARS_FILE=...).

aws_region   = "us-east-1"
project_name = "litellm"
environment  = "dev"
# One prefix per environment: dev and prod can share an account and region. deployctl's
# SECRETS_PREFIX must be the same (or unset: `complete` takes it from Terraform's outputs).
secrets_prefix = "litellm-dev"
cluster_name   = "litellm-dev"

az_count           = 2
single_nat_gateway = true
log_retention_days = 30

eks_node_groups = {
  spot = {
    instance_types = ["t3.large", "t3a.large", "m5.large"]
    capacity_type  = "SPOT"
    disk_size      = 30
    desired_size   = 2
    min_size       = 1
    max_size       = 3
  }
}

rds_instance_class        = "db.t4g.micro"
rds_multi_az              = false
rds_allocated_storage     = 20
rds_max_allocated_storage = 50
rds_backup_retention_days = 7
# Dev databases are disposable; prod keeps deletion protection on.
rds_deletion_protection = false

create_bastion = true
