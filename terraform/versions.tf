terraform {
  # 1.11: write-only attributes keep the database password out of state and plans; 1.11.1
  # fixed write-only values passed through modules (our password reaches RDS and Secrets
  # Manager through modules/rds and modules/secrets).
  required_version = ">= 1.11.1"

  required_providers {
    # Only the AWS provider: the module validates and plans offline against a local mirror.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100.0"
    }
  }

  # Partial configuration: bucket, key, region and locking come from
  # `-backend-config=backend.hcl` (see backend.hcl.example). deployctl passes it on init.
  backend "s3" {}
}
