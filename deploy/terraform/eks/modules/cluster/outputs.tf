output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 certificate authority data of the API endpoint."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "VPC address range (the ALB's source range for the NetworkPolicies)."
  value       = aws_vpc.this.cidr_block
}

output "region" {
  description = "AWS region."
  value       = data.aws_region.current.name
}

output "irsa_role_arns" {
  description = "IAM role ARNs of the controllers' service accounts."
  value       = { for k, r in aws_iam_role.irsa : k => r.arn }
}

output "efs_file_system_id" {
  description = "EFS file system of the shared weights cache."
  value       = aws_efs_file_system.models.id
}

output "ecr_repository_urls" {
  description = "Where to push the skiff and skiff-chat images."
  value       = { for k, r in aws_ecr_repository.image : k => r.repository_url }
}

output "chat_database_url" {
  description = "postgres:// URL of the chat tier's database ."
  value = format("postgres://%s:%s@%s/%s?sslmode=require",
    aws_db_instance.chat.username,
    urlencode(var.database_password),
    aws_db_instance.chat.endpoint,
  aws_db_instance.chat.db_name)
  sensitive = true
}
