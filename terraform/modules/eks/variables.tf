variable "cluster_name" {
  description = "EKS cluster name."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes version."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control-plane interfaces and the nodes."
  type        = list(string)
}

variable "endpoint_public_access" {
  description = "Public API endpoint as well as the private one."
  type        = bool
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public endpoint."
  type        = list(string)
}

variable "cluster_admin_arns" {
  description = "IAM principals given cluster-admin access entries."
  type        = list(string)
}

variable "node_groups" {
  description = "Managed node groups (see the root variable eks_node_groups)."
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    disk_size      = number
    desired_size   = number
    min_size       = number
    max_size       = number
    labels         = map(string)
    taints = list(object({
      key    = string
      value  = optional(string)
      effect = string
    }))
  }))
}

variable "log_retention_days" {
  description = "Control-plane log retention."
  type        = number
}

variable "logs_kms_key_arn" {
  description = "KMS key of the control-plane log group."
  type        = string
}

variable "partition" {
  description = "AWS partition."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "support_type" {
  description = "upgrade_policy support type: STANDARD or EXTENDED."
  type        = string
  default     = "STANDARD"
}
