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

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.project_name)) && length("${var.project_name}-${var.environment}") <= 50 && !strcontains("${var.project_name}-${var.environment}", "--")
    error_message = "project_name starts with a letter and holds lowercase letters, digits and single hyphens; <project_name>-<environment> is at most 50 characters (it names the database, whose identifier RDS limits to 63)."
  }
}

variable "environment" {
  description = "Environment name, e.g. dev or prod."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z0-9]+(-[a-z0-9]+)*$", var.environment))
    error_message = "environment holds lowercase letters, digits and single hyphens, e.g. dev or prod."
  }
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
  description = "More Availability Zone IDs (e.g. use1-az6) never to use, beside the zones EKS documents as unsupported, which are always left out (use1-az3, usw1-az2, cac1-az3)."
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

  validation {
    # EKS CreateCluster: 1-100 characters, ^[0-9A-Za-z][A-Za-z0-9\-_]*$ (EKS API reference).
    condition     = can(regex("^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$", var.cluster_name))
    error_message = "cluster_name is 1-100 letters, digits, hyphens and underscores, starting with a letter or digit (EKS's rule)."
  }
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
  description = "IAM role or user ARNs given cluster-admin through EKS access entries (the creator is admin already: do not list it)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_arns : !can(regex("^arn:[a-z-]+:sts::[0-9]{12}:assumed-role/", a))])
    error_message = "cluster_admin_arns lists an assumed-role session ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION): a session is not a principal. Name its role instead: arn:aws:iam::ACCOUNT:role/ROLE (with the role's path, if it has one; `aws iam get-role --role-name ROLE` shows it)."
  }
  validation {
    condition     = alltrue([for a in var.cluster_admin_arns : can(regex("^arn:[a-z-]+:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "cluster_admin_arns holds IAM role or user ARNs: arn:aws:iam::ACCOUNT:role/NAME or arn:aws:iam::ACCOUNT:user/NAME."
  }
  validation {
    condition     = length(distinct([for a in var.cluster_admin_arns : lower(a)])) == length(var.cluster_admin_arns)
    error_message = "cluster_admin_arns lists a principal twice: EKS has one access entry per principal."
  }
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
