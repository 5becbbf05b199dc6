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
