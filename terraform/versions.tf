terraform {
  # 1.11: write-only attributes keep the database password out of state and plans.
  required_version = ">= 1.11.0"

  required_providers {
    # Only the AWS provider: the module validates and plans offline against a local mirror.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 7.0.0"
    }
  }

  # Partial configuration: bucket, key, region and locking come from
  # `-backend-config=backend.hcl` (see backend.hcl.example). deployctl passes it on init.
  backend "s3" {}
}
