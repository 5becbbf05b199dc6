# The application secrets' key. deployctl's `secrets` step creates the other secrets under the
# same prefix; Terraform owns only <prefix>/database-url, because only Terraform knows the
# database password.
resource "aws_kms_key" "secrets" {
  description         = "${var.name} application secrets and database storage"
  enable_key_rotation = true
  # The database's final snapshot is encrypted with this key and can be restored only while
  # the key exists: `deployctl infrastructure-destroy` takes the key out of the state before
  # destroying, so the key outlives the stack. A plain `terraform destroy` schedules its
  # deletion with the longest waiting period.
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Key use is then granted through IAM policies (External Secrets' role, RDS).
        Sid       = "AccountAdmin"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

resource "aws_secretsmanager_secret" "database_url" {
  name        = "${var.secrets_prefix}/database-url"
  description = "LiteLLM database URL, with the password (managed by Terraform)"
  kms_key_id  = aws_kms_key.secrets.arn
  # Deleted at once on destroy: a 7-day recovery window would make the next apply's
  # CreateSecret of the same name fail for a week. Nothing is lost: the URL names a database
  # that the same destroy removes (its final snapshot restores with a new master password).
  recovery_window_in_days = 0
}

# Write-only: the URL (and its password) goes to Secrets Manager and nowhere else.
resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id                = aws_secretsmanager_secret.database_url.id
  secret_string_wo         = var.database_url
  secret_string_wo_version = var.database_version
}
