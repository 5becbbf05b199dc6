# ---- General -------------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region for every resource."
  type        = string
  default     = "us-east-1"
}

variable "project_name" {
  description = "Prefix of resource names (<project>-<environment>-...)."
  type        = string
  default     = "litellm"
}

variable "environment" {
  description = "Environment name, e.g. dev or prod."
  type        = string
  default     = "prod"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# ---- Network -------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC; each subnet is a /20 of it (newbits 4)."
  type        = string
  default     = "10.0.0.0/16"
}

variable "az_count" {
  description = "Availability zones to spread subnets over (2 or 3)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3 (RDS subnet groups need two AZs; the /20 layout fits three)."
  }
}

variable "exclude_zone_ids" {
  description = "Availability Zone IDs (e.g. use1-az3) never to use: zones EKS refuses for this account (its UnsupportedAvailabilityZoneException lists the valid ones)."
  type        = list(string)
  default     = []
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = false
}

variable "enable_flow_logs" {
  description = "VPC flow logs (ALL traffic) to CloudWatch Logs."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the flow-log and EKS control-plane log groups."
  type        = number
  default     = 365
}

# ---- EKS -----------------------------------------------------------------------------------

variable "cluster_name" {
  description = "EKS cluster name (deployctl's EKS_CLUSTER_NAME)."
  type        = string
  default     = "litellm-eks"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version. It must be in EKS support on the day of the plan (eks-versions.json holds the calendar); the default is in standard support."
  type        = string
  default     = "1.35"

  validation {
    condition     = can(regex("^1\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version is a minor version written like \"1.35\"."
  }
}

variable "eks_support_type" {
  description = "EKS upgrade policy: STANDARD (the cluster is upgraded when standard support ends; no extended-support fees) or EXTENDED (stay, billed per cluster hour)."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXTENDED"], var.eks_support_type)
    error_message = "eks_support_type is STANDARD or EXTENDED."
  }
}

variable "endpoint_public_access" {
  description = "Expose the EKS API endpoint publicly as well as privately."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public endpoint (required when it is on)."
  type        = list(string)
  default     = []
}

variable "cluster_admin_arns" {
  description = "IAM principal ARNs given cluster-admin through EKS access entries (the creator is admin already)."
  type        = list(string)
  default     = []
}

variable "eks_node_groups" {
  description = "Managed node groups, keyed by name."
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    disk_size      = optional(number, 50)
    desired_size   = number
    min_size       = number
    max_size       = number
    labels         = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = optional(string)
      effect = string
    })), [])
  }))
  default = {
    general = {
      instance_types = ["m6i.large"]
      desired_size   = 3
      min_size       = 2
      max_size       = 6
    }
  }
}

# ---- Database ------------------------------------------------------------------------------

variable "rds_instance_class" {
  description = "RDS PostgreSQL instance class."
  type        = string
  default     = "db.r6g.large"
}

variable "rds_multi_az" {
  description = "Multi-AZ standby for the database."
  type        = bool
  default     = true
}

variable "rds_allocated_storage" {
  description = "Initial database storage (GiB)."
  type        = number
  default     = 50
}

variable "rds_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 500
}

variable "rds_backup_retention_days" {
  description = "Automated backup retention (days)."
  type        = number
  default     = 14
}

variable "rds_deletion_protection" {
  description = "Deletion protection on the database (turn off deliberately before a destroy)."
  type        = bool
  default     = true
}

variable "db_name" {
  description = "Database LiteLLM uses."
  type        = string
  default     = "litellm"
}

variable "db_username" {
  description = "Master user name."
  type        = string
  default     = "litellm"
}

variable "db_password_version" {
  description = "Bump to generate a new master password; it is written to RDS and to <secrets_prefix>/database-url only, never to state."
  type        = number
  default     = 1
}

# ---- Secrets -------------------------------------------------------------------------------

variable "secrets_prefix" {
  description = "Secrets Manager prefix (deployctl's SECRETS_PREFIX); Terraform owns <prefix>/database-url. One per environment sharing an account."
  type        = string
  default     = "litellm"

  validation {
    condition     = can(regex("^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*$", var.secrets_prefix))
    error_message = "secrets_prefix is a Secrets Manager path: letters, digits and _+=.@- in /-separated parts, no wildcards."
  }
}

# ---- Bastion -------------------------------------------------------------------------------

variable "create_bastion" {
  description = "Create an SSM-only bastion in a private subnet with cluster-admin access. With the private API endpoint (the default) it is how deployctl reaches the cluster from outside the VPC (an SSM port-forwarding tunnel); without it, use endpoint_public_access with public_access_cidrs, or run from inside the VPC."
  type        = bool
  default     = true
}

variable "bastion_instance_type" {
  description = "Bastion instance type."
  type        = string
  default     = "t3.small"
}
