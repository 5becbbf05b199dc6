output "instance_id" {
  description = "Bastion instance id."
  value       = aws_instance.this.id
}
