variable "region" {
  description = "The stack's region (the zones EKS refuses are listed per region)."
  type        = string
}

variable "count_wanted" {
  description = "How many zones the stack spreads over (az_count)."
  type        = number
}

variable "exclude_zone_ids" {
  description = "More zone IDs to leave out."
  type        = list(string)
  default     = []
}
