# The description predates the bastion's 5432 rule (modules/bastion: infrastructure-verify's
# sign-in); it stays, because changing a group's description replaces the group.
resource "aws_security_group" "db" {
  name        = "${var.name}-rds-sg"
  description = "PostgreSQL from the EKS cluster only"
  vpc_id      = var.vpc_id
  tags        = { Name = "${var.name}-rds-sg" }
}

resource "aws_vpc_security_group_ingress_rule" "from_cluster" {
  for_each = var.allowed_security_groups

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-pg16"
  family      = "postgres16"
  description = "${var.name} PostgreSQL 16"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name         = "shared_preload_libraries"
    value        = "pg_stat_statements"
    apply_method = "pending-reboot"
  }
  parameter {
    name  = "pg_stat_statements.track"
    value = "all"
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.monitoring.name]
    }
  }
}

data "aws_service_principal" "monitoring" {
  service_name = "monitoring.rds"
}

resource "aws_iam_role" "monitoring" {
  # At most 64 characters: a long name is cut and hashed (as in modules/eks).
  name               = length("${var.name}-rds-monitoring-role") <= 64 ? "${var.name}-rds-monitoring-role" : "${substr(var.name, 0, 35)}-${substr(sha256(var.name), 0, 8)}-rds-monitoring-role"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

data "aws_partition" "current" {}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = "16"
  instance_class = var.instance_class

  db_name  = var.db_name
  username = var.username
  # Write-only: sent to RDS, never stored in state. Bump password_version to change it.
  password_wo         = var.password
  password_wo_version = var.password_version

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = var.db_subnet_group_name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this.name

  iam_database_authentication_enabled = true
  deletion_protection                 = var.deletion_protection
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "03:00-04:00"
  maintenance_window                  = "Mon:04:30-Mon:05:30"
  copy_tags_to_snapshot               = true
  skip_final_snapshot                 = false
  # Unique per database: the name is fixed when the instance is created (ignore_changes), so
  # a destroy, re-create and second destroy never collide with the first snapshot.
  final_snapshot_identifier  = "${var.name}-final-${formatdate("YYYYMMDDhhmmss", plantimestamp())}"
  auto_minor_version_upgrade = true

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn

  lifecycle {
    ignore_changes = [final_snapshot_identifier]
  }

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}

resource "aws_cloudwatch_metric_alarm" "cpu" {
  alarm_name          = "${var.name}-rds-cpu-high"
  alarm_description   = "Database CPU above 80% for 10 minutes"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
}

resource "aws_cloudwatch_metric_alarm" "storage" {
  alarm_name          = "${var.name}-rds-storage-low"
  alarm_description   = "Less than 10 GiB of database storage free"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 10737418240
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
}
