# `terraform test` in this module (run by tests/terraform_real.rs) with a mocked AWS provider:
# the database URL secret lives under the prefix, is encrypted with the stack's key, and a
# destroy deletes it at once, so a re-create can create it again.

mock_provider "aws" {}

variables {
  name             = "litellm-dev"
  secrets_prefix   = "litellm-dev"
  database_url     = "postgresql://u:not-a-real-password@db.example:5432/litellm?sslmode=require"
  database_version = 1
  partition        = "aws"
  account_id       = "123456789012"
}

run "the_database_url_secret_is_the_prefix_s_and_recreatable" {
  command = plan

  assert {
    condition     = aws_secretsmanager_secret.database_url.name == "litellm-dev/database-url"
    error_message = "the secret is not under secrets_prefix"
  }
  assert {
    condition     = aws_secretsmanager_secret.database_url.recovery_window_in_days == 0
    error_message = "a recovery window blocks re-creating the stack for days"
  }
  assert {
    condition     = aws_kms_key.secrets.deletion_window_in_days == 30
    error_message = "the key of the final snapshot must wait the longest period"
  }
}
