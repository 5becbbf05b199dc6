# deployctl reads these with `terraform output -json` after an apply. None is sensitive.

output "aws_region" {
  description = "Region of the stack."
  value       = var.aws_region
}

output "aws_account_id" {
  description = "Account the stack lives in."
  value       = local.account_id
}

output "eks_cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "eks_cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.eks.endpoint
}

output "eks_cluster_oidc_issuer" {
  description = "OIDC issuer URL of the cluster (IRSA)."
  value       = module.eks.oidc_issuer
}

output "eks_oidc_provider_arn" {
  description = "IAM OIDC provider ARN."
  value       = module.eks.oidc_provider_arn
}

output "rds_address" {
  description = "Database host name."
  value       = module.rds.address
}

output "database_url_secret_name" {
  description = "Secrets Manager secret holding the database URL (the name, never the value)."
  value       = module.secrets.database_url_secret_name
}

output "secrets_prefix" {
  description = "Secrets Manager prefix of the stack's secrets (deployctl's SECRETS_PREFIX)."
  value       = var.secrets_prefix
}

output "secrets_kms_key_arn" {
  description = "KMS key of the application secrets (External Secrets needs kms:Decrypt on it)."
  value       = module.secrets.kms_key_arn
}

output "openwebui_uploads_bucket" {
  description = "OpenWebUI's uploads bucket (deployctl computes the same name for its IRSA policy)."
  value       = module.uploads.bucket
}

output "vpc_id" {
  description = "VPC id."
  value       = module.vpc.vpc_id
}

output "bastion_instance_id" {
  description = "Bastion instance id, when create_bastion is on."
  value       = var.create_bastion ? module.bastion[0].instance_id : null
}

output "configure_kubectl" {
  description = "Command that writes the kubeconfig context (no aws CLI needed)."
  value       = "deployctl kubeconfig --cluster ${module.eks.cluster_name} --region ${var.aws_region}"
}
