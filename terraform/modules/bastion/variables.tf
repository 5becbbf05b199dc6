variable "name" {
  description = "Name prefix."
  type        = string
}

variable "region" {
  description = "Region (for the kubeconfig the user data writes)."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster the bastion administers."
  type        = string
}

variable "cluster_arn" {
  description = "Its ARN (DescribeCluster permission)."
  type        = string
}

variable "vpc_id" {
  description = "VPC."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet for the instance."
  type        = string
}

variable "cluster_security_group_id" {
  description = "Cluster security group, so the bastion reaches the private endpoint."
  type        = string
}

variable "database_security_group_id" {
  description = "The database's security group: the bastion may open 5432 to it (infrastructure-verify signs in with the stored credentials through the bastion)."
  type        = string
}

variable "instance_type" {
  description = "Instance type."
  type        = string
}

variable "partition" {
  description = "AWS partition."
  type        = string
}

variable "kubernetes_version" {
  description = "The cluster's Kubernetes minor version: the bastion's kubectl follows it."
  type        = string
}
