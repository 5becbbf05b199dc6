variable "cluster_name" {
  description = "The EKS cluster whose OpenWebUI keeps its uploads here (the name carries its hash)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (bucket names are global: the account is in it)."
  type        = string
}

variable "region" {
  description = "The stack's region."
  type        = string
}

variable "noncurrent_days" {
  description = "Days an overwritten or deleted upload's old version is kept before it expires."
  type        = number
  default     = 90
}
