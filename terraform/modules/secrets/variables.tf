variable "name" {
  description = "Name prefix."
  type        = string
}

variable "secrets_prefix" {
  description = "Secrets Manager prefix shared with deployctl (SECRETS_PREFIX)."
  type        = string
}

variable "database_url" {
  description = "postgresql:// URL including the password (ephemeral: never stored in state)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "database_version" {
  description = "Changing it rewrites the secret (follows db_password_version)."
  type        = number
}

variable "partition" {
  description = "AWS partition."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}
