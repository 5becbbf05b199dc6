variable "name" {
  description = "Name prefix."
  type        = string
}

variable "secrets_prefix" {
  description = "Secrets Manager prefix shared with deployctl (SECRETS_PREFIX)."
  type        = string
}

variable "password_version" {
  description = "Changing it writes a new random master password (db_password_version)."
  type        = number
}

variable "database_host" {
  description = "Database host name, for the URL."
  type        = string
}

variable "database_port" {
  description = "Database port, for the URL."
  type        = number
}

variable "database_name" {
  description = "Database name, for the URL."
  type        = string
}

variable "database_user" {
  description = "Master user, for the URL."
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
