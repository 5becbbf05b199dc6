# `terraform test` in this module (run by tests/suite/terraform_real.rs): zone names map to
# zone IDs differently in each account, and EKS refuses cluster subnets in some zone IDs. An
# account whose us-east-1a is use1-az3 must get other zones.

mock_provider "aws" {}

variables {
  region       = "us-east-1"
  count_wanted = 3
}

run "an_account_whose_first_zone_is_one_eks_refuses_gets_other_zones" {
  command = plan

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names    = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
      zone_ids = ["use1-az3", "use1-az1", "use1-az2", "use1-az4"]
    }
  }

  assert {
    condition     = output.names == ["us-east-1b", "us-east-1c", "us-east-1d"]
    error_message = "use1-az3 (us-east-1a in this account) must be left out"
  }
}

run "exclude_zone_ids_leaves_out_more" {
  command = plan

  variables {
    count_wanted     = 2
    exclude_zone_ids = ["use1-az2"]
  }

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names    = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
      zone_ids = ["use1-az1", "use1-az2", "use1-az3", "use1-az4"]
    }
  }

  assert {
    condition     = output.names == ["us-east-1a", "us-east-1d"]
    error_message = "use1-az2 (asked) and use1-az3 (EKS) must be left out"
  }
}

run "other_regions_keep_their_zones" {
  command = plan

  variables {
    region = "eu-west-1"
  }

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      zone_ids = ["euw1-az3", "euw1-az1", "euw1-az2"]
    }
  }

  assert {
    condition     = output.names == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    error_message = "no zone of eu-west-1 is refused by EKS"
  }
}

run "too_few_zones_left_is_an_error_before_anything_is_built" {
  command = plan

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names    = ["us-east-1a", "us-east-1b", "us-east-1c"]
      zone_ids = ["use1-az3", "use1-az1", "use1-az2"]
    }
  }

  expect_failures = [terraform_data.enough]
}
