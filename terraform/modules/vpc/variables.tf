variable "name" {
  description = "Name prefix."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster the subnets are tagged for."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR."
  type        = string
}

variable "azs" {
  description = "Availability zones, one subnet of each tier per zone."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per AZ."
  type        = bool
}

variable "enable_flow_logs" {
  description = "VPC flow logs to CloudWatch Logs."
  type        = bool
}

variable "log_retention_days" {
  description = "Flow-log retention."
  type        = number
}

variable "logs_kms_key_arn" {
  description = "KMS key encrypting the flow-log group."
  type        = string
}
