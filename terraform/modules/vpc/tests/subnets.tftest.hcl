# `terraform test` in this module (run by tests/suite/terraform_real.rs): the AWS Load Balancer
# Controller finds the subnets of the entry point's load balancer by their role tags —
# kubernetes.io/role/elb on the public subnets (internet-facing), kubernetes.io/role/internal-elb
# on the private ones (internal) — and the cluster's own tag; the database subnets carry
# neither, so no load balancer is ever placed there.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name               = "litellm-dev"
  cluster_name       = "litellm-dev"
  cidr               = "10.0.0.0/16"
  azs                = ["us-east-1a", "us-east-1b"]
  logs_kms_key_arn   = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  single_nat_gateway = true
  enable_flow_logs   = true
  log_retention_days = 30
}

run "load_balancer_subnets_carry_their_role_tags" {
  command = plan

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.tags["kubernetes.io/role/elb"] == "1" && s.tags["kubernetes.io/cluster/litellm-dev"] == "shared"])
    error_message = "public subnets must carry kubernetes.io/role/elb=1 and the cluster tag (internet-facing load balancers)"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.private : s.tags["kubernetes.io/role/internal-elb"] == "1" && s.tags["kubernetes.io/cluster/litellm-dev"] == "shared"])
    error_message = "private subnets must carry kubernetes.io/role/internal-elb=1 and the cluster tag (internal load balancers)"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.database : !contains(keys(s.tags), "kubernetes.io/role/elb") && !contains(keys(s.tags), "kubernetes.io/role/internal-elb")])
    error_message = "database subnets must never be chosen for a load balancer"
  }
}
