output "cluster_name" {
  description = "Cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "Cluster ARN."
  value       = aws_eks_cluster.this.arn
}

output "endpoint" {
  description = "API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "oidc_issuer" {
  description = "OIDC issuer URL."
  value       = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider ARN."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "cluster_security_group_id" {
  description = "The security group EKS attaches to the control plane and to managed nodes."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "kubernetes_version" {
  description = "Kubernetes minor version of the cluster."
  value       = aws_eks_cluster.this.version
}

output "support_type" {
  description = "EKS upgrade policy (STANDARD: upgraded when standard support ends)."
  value       = aws_eks_cluster.this.upgrade_policy[0].support_type
}
