# The Availability Zones the stack uses: regular zones only (Local and Wavelength Zones, opt-in
# zone groups, cannot hold EKS control-plane interfaces or managed node groups: EKS user guide,
# "Amazon EKS on AWS Local Zones"), without the zones EKS refuses, chosen by zone ID.

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
  filter {
    name   = "zone-type"
    values = ["availability-zone"]
  }
}

locals {
  # Zones EKS does not allow cluster subnets in, by zone ID (zone names map to IDs differently
  # in each account, so no name can be excluded): EKS user guide, "View Amazon EKS networking
  # requirements for VPC and subnets" (read 2026-12-06). CreateCluster fails with
  # UnsupportedAvailabilityZoneException in them — after the VPC and NAT gateways are built.
  eks_unsupported_zone_ids = {
    "us-east-1"    = ["use1-az3"]
    "us-west-1"    = ["usw1-az2"]
    "ca-central-1" = ["cac1-az3"]
  }
  excluded = distinct(concat(
    lookup(local.eks_unsupported_zone_ids, var.region, []),
    var.exclude_zone_ids,
  ))
  # The usable zones' names, in the region's order, resolved through their IDs.
  usable = [
    for i, id in data.aws_availability_zones.available.zone_ids :
    data.aws_availability_zones.available.names[i] if !contains(local.excluded, id)
  ]
}

# Enough zones must be left once the excluded ones are out: a plan-time error, before the VPC
# is built.
resource "terraform_data" "enough" {
  input = slice(local.usable, 0, min(var.count_wanted, length(local.usable)))

  lifecycle {
    precondition {
      condition     = length(local.usable) >= var.count_wanted
      error_message = "az_count is ${var.count_wanted} but the region has only ${length(local.usable)} usable Availability Zones (after the zones EKS refuses, ${jsonencode(local.excluded)})."
    }
  }
}
