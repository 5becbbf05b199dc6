output "kms_key_arn" {
  description = "Key of the application secrets."
  value       = aws_kms_key.secrets.arn
}

output "database_url_secret_name" {
  description = "Name of the database-url secret."
  value       = aws_secretsmanager_secret.database_url.name
}
