# OpenWebUI's uploads: one private, versioned, encrypted bucket per cluster, which OpenWebUI
# reaches through the IRSA role `deployctl irsa` makes (<cluster>-openwebui-uploads, policy
# iam/openwebui-uploads-policy.json: this bucket only). Its name is the one deployctl computes
# for the cluster (src/roles.rs uploads_bucket): `openwebui-<account>-<region>-<8 hex of the
# SHA-256 of the cluster name>`, at most 46 characters.

locals {
  bucket = "openwebui-${var.account_id}-${var.region}-${substr(sha256(var.cluster_name), 0, 8)}"
}

data "aws_partition" "current" {}

resource "aws_s3_bucket" "uploads" {
  #checkov:skip=CKV_AWS_18:Access logs would need a second bucket per cluster; S3 data events in CloudTrail are the account's choice, and OpenWebUI records who uploaded what.
  #checkov:skip=CKV2_AWS_62:Nothing consumes upload events; OpenWebUI reads the bucket itself.
  #checkov:skip=CKV_AWS_144:Replication to another region is a disaster-recovery choice for the account (a second bucket, a role); versioning keeps overwritten and deleted uploads here.
  #checkov:skip=CKV_AWS_145:Encrypted at rest with S3-managed keys (SSE-S3); a customer-managed KMS key would have to be granted to OpenWebUI's IRSA role as well.
  bucket = local.bucket
  # The uploads are what people made: a destroy stops at a bucket that still holds them.
  force_destroy = false
}

resource "aws_s3_bucket_ownership_controls" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "uploads" {
  bucket                  = aws_s3_bucket.uploads.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "uploads" {
  bucket = aws_s3_bucket.uploads.id
  rule {
    id     = "old-versions-and-unfinished-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.uploads]
}

# TLS only.
data "aws_iam_policy_document" "uploads" {
  statement {
    sid     = "DenyPlainHttp"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.uploads.arn,
      "${aws_s3_bucket.uploads.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "uploads" {
  bucket     = aws_s3_bucket.uploads.id
  policy     = data.aws_iam_policy_document.uploads.json
  depends_on = [aws_s3_bucket_public_access_block.uploads]
}
