output "names" {
  description = "The zones to use, by name, in the region's order."
  value       = slice(local.usable, 0, min(var.count_wanted, length(local.usable)))
}

output "excluded_zone_ids" {
  description = "Zone IDs left out (EKS's unsupported ones and exclude_zone_ids)."
  value       = local.excluded
}
