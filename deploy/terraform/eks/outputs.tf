output "cluster_name" {
  description = "EKS cluster name."
  value       = module.cluster.cluster_name
}

output "kubeconfig_command" {
  description = "Writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.cluster.cluster_name}"
}

output "kubeconfig" {
  description = "A kubeconfig for the cluster (token from the AWS CLI)."
  value = yamlencode({
    apiVersion        = "v1"
    kind              = "Config"
    "current-context" = module.cluster.cluster_name
    clusters = [{
      name    = module.cluster.cluster_name
      cluster = { server = module.cluster.cluster_endpoint, "certificate-authority-data" = module.cluster.cluster_certificate_authority }
    }]
    contexts = [{
      name    = module.cluster.cluster_name
      context = { cluster = module.cluster.cluster_name, user = module.cluster.cluster_name }
    }]
    users = [{
      name = module.cluster.cluster_name
      user = { exec = { apiVersion = local.exec_auth.api_version, command = local.exec_auth.command, args = local.exec_auth.args } }
    }]
  })
}

output "ecr_repository_urls" {
  description = "Push the skiff and skiff-chat images here (docs/deploy.md)."
  value       = module.cluster.ecr_repository_urls
}

output "efs_file_system_id" {
  description = "EFS file system of the shared weights cache."
  value       = module.cluster.efs_file_system_id
}
