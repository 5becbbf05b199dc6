variable "name" {
  description = "Name prefix and instance identifier."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "db_subnet_group_name" {
  description = "Subnet group over the isolated database subnets."
  type        = string
}

variable "allowed_security_groups" {
  description = "Security groups allowed to connect on 5432, keyed by a static name (the EKS cluster security group)."
  type        = map(string)
}

variable "instance_class" {
  description = "Instance class."
  type        = string
}

variable "multi_az" {
  description = "Multi-AZ standby."
  type        = bool
}

variable "allocated_storage" {
  description = "Initial storage (GiB)."
  type        = number
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
}

variable "backup_retention_days" {
  description = "Backup retention (days)."
  type        = number
}

variable "deletion_protection" {
  description = "Deletion protection."
  type        = bool
}

variable "db_name" {
  description = "Initial database."
  type        = string
}

variable "username" {
  description = "Master user."
  type        = string
}

variable "password" {
  description = "Master password (ephemeral: never stored)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "password_version" {
  description = "Changing it re-sends the password."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key for storage and Performance Insights."
  type        = string
}
