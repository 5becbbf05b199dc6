# `terraform test` in this module (run by tests/terraform_real.rs) with a mocked AWS provider:
# the database is encrypted with the given key, forces TLS, and its final snapshot name is
# unique per database (a destroy, re-create and second destroy never collide).

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name                    = "litellm-dev"
  vpc_id                  = "vpc-1"
  db_subnet_group_name    = "litellm-dev-db"
  allowed_security_groups = { eks_cluster = "sg-cluster" }
  instance_class          = "db.t4g.micro"
  multi_az                = false
  allocated_storage       = 20
  max_allocated_storage   = 50
  backup_retention_days   = 7
  deletion_protection     = false
  db_name                 = "litellm"
  username                = "litellm"
  password                = "not-a-real-password-0"
  password_version        = 1
  kms_key_arn             = "arn:aws:kms:us-east-1:123456789012:key/secrets"
}

run "encrypted_tls_and_a_unique_final_snapshot_name" {
  command = plan

  assert {
    condition     = can(regex("^litellm-dev-final-[0-9]{14}$", aws_db_instance.this.final_snapshot_identifier))
    error_message = "the final snapshot name is not <name>-final-<timestamp>: ${aws_db_instance.this.final_snapshot_identifier}"
  }
  assert {
    condition     = aws_db_instance.this.skip_final_snapshot == false
    error_message = "a destroy must take a final snapshot"
  }
  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.kms_key_id == var.kms_key_arn
    error_message = "the database is not encrypted with the stack's key"
  }
  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "rds.force_ssl"]) == "1"
    error_message = "the database does not force TLS"
  }
}

run "a_long_name_still_fits_the_monitoring_role_in_64_characters" {
  command = plan

  variables {
    # 50 characters: the longest <project>-<environment> the root module accepts.
    name = "a-project-with-a-long-name-in-an-environment-01234"
  }

  assert {
    condition     = length(var.name) == 50 && length(aws_iam_role.monitoring.name) <= 64
    error_message = "the monitoring role name is over 64 characters: ${aws_iam_role.monitoring.name}"
  }
  assert {
    condition     = strcontains(aws_iam_role.monitoring.name, substr(sha256(var.name), 0, 8)) && endswith(aws_iam_role.monitoring.name, "-rds-monitoring-role")
    error_message = "a cut name carries the name's hash and keeps its suffix: ${aws_iam_role.monitoring.name}"
  }
}
