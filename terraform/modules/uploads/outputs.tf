output "bucket" {
  description = "OpenWebUI's uploads bucket."
  value       = aws_s3_bucket.uploads.bucket
}

output "arn" {
  description = "Its ARN."
  value       = aws_s3_bucket.uploads.arn
}
