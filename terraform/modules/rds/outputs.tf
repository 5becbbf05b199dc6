output "address" {
  description = "Host name."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port."
  value       = aws_db_instance.this.port
}

output "identifier" {
  description = "Instance identifier."
  value       = aws_db_instance.this.identifier
}

output "security_group_id" {
  description = "The database's security group (the bastion gets 5432 into it, for infrastructure-verify's sign-in)."
  value       = aws_security_group.db.id
}
