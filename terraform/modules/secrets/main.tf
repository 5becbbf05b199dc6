# The application secrets' key, and the database's credentials. deployctl's `secrets` step
# creates the other secrets under the same prefix; Terraform owns <prefix>/database-password
# and <prefix>/database-url.
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

# ---- The database password: one source of truth ---------------------------------------------
#
# <prefix>/database-password holds the master password and is the only place it is decided.
# A new random password is written there when the secret is created or db_password_version
# changes (write-only: never in state or a plan). Everything else *reads it back* from
# Secrets Manager in the same apply, keyed on the version that was written:
#
# - RDS re-sends it whenever that version changes (password_version below), and a new or
#   replaced database is created with it;
# - <prefix>/database-url is rewritten from it whenever the version, host, port, database or
#   user changes.
#
# So the two follow one value: replacing the secret makes a new version (RDS and the URL
# follow), replacing the database creates it with the stored password (the URL already holds
# it), and an apply stopped before RDS was changed is finished by the next one from the same
# stored value. One edge remains, the provider's: when RDS *refuses* the ModifyDBInstance that
# carries a new password, the provider still records the new password_wo_version, so the next
# apply does not re-send it. deployctl names the fix when an apply fails at the database:
# `-replace` of aws_secretsmanager_secret_version.database_password (a new password for both).
# (RDS-managed credentials, manage_master_user_password, were not chosen: RDS rotates them
# every 7 days on its own, and a URL copy -- which LiteLLM needs -- would go stale silently.)

ephemeral "aws_secretsmanager_random_password" "database" {
  password_length     = 40
  exclude_punctuation = true # URL-safe inside postgresql://user:password@host/db
}

resource "aws_secretsmanager_secret" "database_password" {
  name        = "${var.secrets_prefix}/database-password"
  description = "Database master password, the one source of truth (managed by Terraform)"
  kms_key_id  = aws_kms_key.secrets.arn
  # As database-url below: deleted at once, with the database it opens.
  recovery_window_in_days = 0
}

resource "aws_secretsmanager_secret_version" "database_password" {
  secret_id                = aws_secretsmanager_secret.database_password.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.database.random_password
  secret_string_wo_version = var.password_version
}

# The stored password, read back at exactly the version written above.
ephemeral "aws_secretsmanager_secret_version" "database_password" {
  secret_id  = aws_secretsmanager_secret.database_password.arn
  version_id = aws_secretsmanager_secret_version.database_password.version_id
}

locals {
  # A number for the write-only *_version attributes: changes exactly when its inputs do.
  password_version = parseint(substr(sha256(aws_secretsmanager_secret_version.database_password.version_id), 0, 12), 16)
  url_version = parseint(substr(sha256(join("|", [
    aws_secretsmanager_secret_version.database_password.version_id,
    var.database_host, var.database_port, var.database_name, var.database_user,
  ])), 0, 12), 16)
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
  secret_string_wo         = "postgresql://${var.database_user}:${ephemeral.aws_secretsmanager_secret_version.database_password.secret_string}@${var.database_host}:${var.database_port}/${var.database_name}?sslmode=require"
  secret_string_wo_version = local.url_version
}
