# `terraform test` in this module (run by tests/terraform_real.rs): the bastion is the way in to
# the private API endpoint (deployctl's SSM tunnel goes through it) and to the database for
# infrastructure-verify's sign-in, and nothing more — its own security group with no inbound
# rule, 443 into the cluster group and 5432 into the database's group from that group only, IMDSv2
# with hop limit 1, an encrypted disk, and the tags `deployctl` finds bastions by.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_ssm_parameter" {
    defaults = {
      value = "ami-0123456789abcdef0"
    }
  }
}

variables {
  name                       = "litellm-dev"
  region                     = "us-east-1"
  cluster_name               = "litellm-dev"
  cluster_arn                = "arn:aws:eks:us-east-1:123456789012:cluster/litellm-dev"
  vpc_id                     = "vpc-1"
  subnet_id                  = "subnet-1"
  cluster_security_group_id  = "sg-cluster"
  database_security_group_id = "sg-database"
  instance_type              = "t3.micro"
  partition                  = "aws"
  kubernetes_version         = "1.35"
}

run "the_bastion_reaches_the_api_and_the_database_and_nothing_else" {
  command = plan

  assert {
    condition     = aws_vpc_security_group_ingress_rule.api_from_bastion.security_group_id == "sg-cluster" && aws_vpc_security_group_ingress_rule.api_from_bastion.from_port == 443 && aws_vpc_security_group_ingress_rule.api_from_bastion.to_port == 443 && aws_vpc_security_group_ingress_rule.api_from_bastion.ip_protocol == "tcp"
    error_message = "the cluster group must admit exactly 443/tcp from the bastion"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.api_from_bastion.cidr_ipv4 == null
    error_message = "the API rule admits the bastion's group, not an address range"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.database_from_bastion.security_group_id == "sg-database" && aws_vpc_security_group_ingress_rule.database_from_bastion.from_port == 5432 && aws_vpc_security_group_ingress_rule.database_from_bastion.to_port == 5432 && aws_vpc_security_group_ingress_rule.database_from_bastion.cidr_ipv4 == null
    error_message = "the database group admits 5432 from the bastion's group only (infrastructure-verify signs in through it)"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.database.referenced_security_group_id == "sg-database" && aws_vpc_security_group_egress_rule.database.from_port == 5432 && aws_vpc_security_group_egress_rule.database.to_port == 5432 && aws_vpc_security_group_egress_rule.database.cidr_ipv4 == null
    error_message = "the bastion's way out to the database is 5432 to the database's group, no address range"
  }
  assert {
    condition     = length(aws_instance.this.vpc_security_group_ids) == 1
    error_message = "the bastion carries its own group only (the cluster group would open node ports and the database)"
  }
  assert {
    condition     = aws_instance.this.metadata_options[0].http_tokens == "required" && aws_instance.this.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 only, hop limit 1 (as `deployctl bastion create`)"
  }
  assert {
    condition     = aws_instance.this.root_block_device[0].encrypted == true
    error_message = "the bastion's disk is encrypted"
  }
  assert {
    condition     = aws_instance.this.tags["Purpose"] == "llm-bastion"
    error_message = "deployctl finds bastions by Purpose=llm-bastion (and the Cluster default tag)"
  }
  assert {
    condition     = strcontains(aws_instance.this.user_data, "1.35")
    error_message = "the bastion's kubectl follows the cluster's Kubernetes version"
  }
}
