output "kms_key_arn" {
  description = "Key of the application secrets."
  value       = aws_kms_key.secrets.arn
}

output "database_url_secret_name" {
  description = "Name of the database-url secret."
  value       = aws_secretsmanager_secret.database_url.name
}

output "database_password_secret_name" {
  description = "Name of the database-password secret."
  value       = aws_secretsmanager_secret.database_password.name
}

output "database_password" {
  description = "The stored master password, read back from Secrets Manager (ephemeral: never in state)."
  value       = ephemeral.aws_secretsmanager_secret_version.database_password.secret_string
  sensitive   = true
  ephemeral   = true
}

output "database_password_version" {
  description = "Changes exactly when a new password is stored: RDS re-sends the password then."
  value       = local.password_version
}
