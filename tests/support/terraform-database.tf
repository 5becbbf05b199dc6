# A root module for tests/suite/terraform_real.rs: the real modules/secrets and modules/rds,
# wired as terraform/main.tf wires them, on the smallest network RDS accepts. Applied for real
# against moto (Terraform 1.11 cannot mock the ephemeral password resources).

terraform {
  required_version = ">= 1.11.1"
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.100.0" }
  }
}

variable "name" { type = string }
variable "secrets_prefix" { type = string }
variable "db_name" { type = string }
variable "db_password_version" { type = number }

provider "aws" {}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_vpc" "this" {
  cidr_block = "10.0.0.0/16"
}

resource "aws_subnet" "a" {
  vpc_id            = aws_vpc.this.id
  cidr_block        = "10.0.1.0/24"
  availability_zone = "us-east-1a"
}

resource "aws_subnet" "b" {
  vpc_id            = aws_vpc.this.id
  cidr_block        = "10.0.2.0/24"
  availability_zone = "us-east-1b"
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-db"
  subnet_ids = [aws_subnet.a.id, aws_subnet.b.id]
}

resource "aws_security_group" "cluster" {
  name   = "${var.name}-cluster"
  vpc_id = aws_vpc.this.id
}

module "secrets" {
  source = "../modules/secrets"

  name             = var.name
  secrets_prefix   = var.secrets_prefix
  password_version = var.db_password_version
  database_host    = module.rds.address
  database_port    = module.rds.port
  database_name    = var.db_name
  database_user    = "litellm"
  partition        = data.aws_partition.current.partition
  account_id       = data.aws_caller_identity.current.account_id
}

module "rds" {
  source = "../modules/rds"

  name                    = var.name
  vpc_id                  = aws_vpc.this.id
  db_subnet_group_name    = aws_db_subnet_group.this.name
  allowed_security_groups = { eks_cluster = aws_security_group.cluster.id }
  instance_class          = "db.t4g.micro"
  multi_az                = false
  allocated_storage       = 20
  max_allocated_storage   = 50
  backup_retention_days   = 7
  deletion_protection     = false
  db_name                 = var.db_name
  username                = "litellm"
  password                = module.secrets.database_password
  password_version        = module.secrets.database_password_version
  kms_key_arn             = module.secrets.kms_key_arn
}
