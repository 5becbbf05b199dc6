output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private (worker) subnets."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets (NAT, internet-facing load balancers)."
  value       = aws_subnet.public[*].id
}

output "database_subnet_group_name" {
  description = "Subnet group over the isolated database subnets."
  value       = aws_db_subnet_group.this.name
}
