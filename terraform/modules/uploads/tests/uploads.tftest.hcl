# `terraform test` in this module (run by tests/terraform_real.rs): the bucket is private,
# versioned, encrypted and TLS-only, and named as deployctl names it for the cluster
# (src/roles.rs uploads_bucket) -- for any cluster name EKS accepts.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  cluster_name = "litellm-eks"
  account_id   = "123456789012"
  region       = "us-east-1"
}

run "private_versioned_encrypted_and_named_as_deployctl_names_it" {
  command = plan

  assert {
    # sha256("litellm-eks") starts with 3291dcc5 (python3 hashlib): the same name
    # deployctl's src/roles.rs computes (its unit test has the same literal).
    condition     = aws_s3_bucket.uploads.bucket == "openwebui-123456789012-us-east-1-3291dcc5"
    error_message = "the bucket is not named as deployctl names it: ${aws_s3_bucket.uploads.bucket}"
  }
  assert {
    condition     = aws_s3_bucket.uploads.force_destroy == false
    error_message = "a destroy must not delete the uploads"
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.uploads.block_public_acls,
      aws_s3_bucket_public_access_block.uploads.block_public_policy,
      aws_s3_bucket_public_access_block.uploads.ignore_public_acls,
      aws_s3_bucket_public_access_block.uploads.restrict_public_buckets,
    ])
    error_message = "the bucket is not fully private"
  }
  assert {
    condition     = aws_s3_bucket_versioning.uploads.versioning_configuration[0].status == "Enabled"
    error_message = "the bucket is not versioned"
  }
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.uploads.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256"
    error_message = "the bucket is not encrypted"
  }
}

run "a_100_character_cluster_name_still_makes_an_s3_name" {
  command = plan

  variables {
    cluster_name = "a-very-long-cluster-name-for-a-team-that-likes-to-say-everything-in-the-name-0123456789-abcdefghijkl"
    region       = "ap-southeast-7"
  }

  assert {
    condition     = length(aws_s3_bucket.uploads.bucket) <= 63 && can(regex("^[a-z0-9][a-z0-9-]*[a-z0-9]$", aws_s3_bucket.uploads.bucket))
    error_message = "not an S3 bucket name: ${aws_s3_bucket.uploads.bucket}"
  }
}
