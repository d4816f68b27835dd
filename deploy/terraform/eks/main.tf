# Skiff on EKS: the cluster (modules/cluster: VPC, EKS, app-nodes and gpu-nodes groups, IRSA
# roles, EBS/EFS CSI, ECR, PostgreSQL), then the cluster software with Helm: the NVIDIA device
# plugin, the AWS Load Balancer Controller, the Cluster Autoscaler, Prometheus with the Prometheus
# Adapter, and the Skiff chart. Step by step: docs/deploy.md.
#
# model_engine picks what serves the model and where. skiff (the default): Skiff's own engine on the
# app nodes' CPUs, with no GPU request; the GPU group then starts empty (min and desired 0) and
# stays so unless something asks for a GPU. skiff-gpu: Skiff's engine on the GPU nodes through
# Vulkan (the chart's profiles/gpu.yaml). vllm: the chart's vLLM profile on the GPU nodes. On GPUs
# the GPU group has the sizes configured and gpu_warm_nodes kept warm.

provider "aws" {
  region = var.region
  default_tags {
    tags = var.tags
  }
}

module "cluster" {
  source = "./modules/cluster"

  name                    = var.name
  kubernetes_version      = var.kubernetes_version
  vpc_cidr                = var.vpc_cidr
  availability_zone_count = var.availability_zone_count
  api_public_access_cidrs = var.api_public_access_cidrs
  app_instance_types      = var.app_instance_types
  app_sizes               = { min = var.app_min_size, desired = var.app_desired_size, max = var.app_max_size }
  gpu_instance_types      = var.gpu_instance_types
  gpu_sizes               = local.gpu_sizes
  gpus_per_node           = var.gpus_per_node
  gpu_capacity_type       = var.gpu_capacity_type
  gpu_disk_size_gib       = var.gpu_disk_size_gib
  database_instance_class = var.database_instance_class
  database_password       = random_password.chat_database.result
  tags                    = var.tags
}

resource "random_password" "chat_database" {
  length  = 32
  special = false
}

locals {
  # The chart's profile for the engine: none for Skiff's engine on CPUs (the chart's defaults).
  engine_profile = { skiff = "", skiff-gpu = "gpu.yaml", vllm = "vllm.yaml" }[var.model_engine]
  on_gpu         = local.engine_profile != ""
  # On CPUs nothing requests a GPU: no GPU node is started for the model, and none is kept.
  gpu_sizes = local.on_gpu ? {
    min = var.gpu_min_size, desired = var.gpu_desired_size, max = var.gpu_max_size
  } : { min = 0, desired = 0, max = var.gpu_max_size }
}

# Both providers authenticate with a fresh token from the AWS CLI on each run.
locals {
  exec_auth = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.cluster.cluster_name, "--region", var.region]
  }
}

provider "kubernetes" {
  host                   = module.cluster.cluster_endpoint
  cluster_ca_certificate = base64decode(module.cluster.cluster_certificate_authority)
  exec {
    api_version = local.exec_auth.api_version
    command     = local.exec_auth.command
    args        = local.exec_auth.args
  }
}

provider "helm" {
  kubernetes {
    host                   = module.cluster.cluster_endpoint
    cluster_ca_certificate = base64decode(module.cluster.cluster_certificate_authority)
    exec {
      api_version = local.exec_auth.api_version
      command     = local.exec_auth.command
      args        = local.exec_auth.args
    }
  }
}

# The shared weights cache class the chart's default claim asks for (ReadWriteMany on EFS; each
# claim gets an access point owned by the images' UID).
resource "kubernetes_storage_class_v1" "efs" {
  metadata {
    name = "efs-sc"
  }
  storage_provisioner = "efs.csi.aws.com"
  reclaim_policy      = "Retain"
  parameters = {
    provisioningMode = "efs-ap"
    fileSystemId     = module.cluster.efs_file_system_id
    directoryPerms   = "750"
    uid              = "10001"
    gid              = "10001"
  }
}

resource "kubernetes_namespace_v1" "skiff" {
  metadata {
    name = "skiff"
  }
}

resource "kubernetes_secret_v1" "chat_database" {
  metadata {
    name      = "skiff-chat-database"
    namespace = kubernetes_namespace_v1.skiff.metadata[0].name
  }
  data = {
    url = module.cluster.chat_database_url
  }
}

# Advertises nvidia.com/gpu on the GPU nodes (the EKS NVIDIA AMI has the driver and the
# container toolkit; the device plugin is what the scheduler needs).
resource "helm_release" "nvidia_device_plugin" {
  name       = "nvidia-device-plugin"
  namespace  = "kube-system"
  repository = "https://nvidia.github.io/k8s-device-plugin"
  chart      = "nvidia-device-plugin"
  version    = "0.17.1"
  values = [yamlencode({
    nodeSelector = { role = "gpu-nodes" }
    tolerations  = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]
  })]
}

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = "1.13.0"
  values = [yamlencode({
    clusterName  = module.cluster.cluster_name
    region       = var.region
    vpcId        = module.cluster.vpc_id
    nodeSelector = { role = "app-nodes" }
    serviceAccount = {
      name        = "aws-load-balancer-controller"
      annotations = { "eks.amazonaws.com/role-arn" = module.cluster.irsa_role_arns["lb_controller"] }
    }
  })]
}

resource "helm_release" "cluster_autoscaler" {
  name       = "cluster-autoscaler"
  namespace  = "kube-system"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = "9.46.6"
  values = [yamlencode({
    awsRegion     = var.region
    autoDiscovery = { clusterName = module.cluster.cluster_name }
    nodeSelector  = { role = "app-nodes" }
    rbac = {
      serviceAccount = {
        name        = "cluster-autoscaler"
        annotations = { "eks.amazonaws.com/role-arn" = module.cluster.irsa_role_arns["cluster_autoscaler"] }
      }
    }
    extraArgs = {
      "balance-similar-node-groups"   = true
      "skip-nodes-with-local-storage" = false
      # A GPU node costs dollars an hour: remove it ten minutes after its last model pod left.
      "scale-down-unneeded-time" = "10m"
    }
  })]
}

# Prometheus (scrapes the ServiceMonitors of every namespace) and the Prometheus Adapter, which
# serves the model service's queue depth to the HorizontalPodAutoscaler with the rules the Skiff
# chart renders into this namespace.
resource "helm_release" "kube_prometheus_stack" {
  name             = "kube-prometheus-stack"
  namespace        = "monitoring"
  create_namespace = true
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "kube-prometheus-stack"
  version          = "72.6.2"
  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        serviceMonitorSelectorNilUsesHelmValues = false
        nodeSelector                            = { role = "app-nodes" }
      }
    }
    grafana = { enabled = false }
  })]
}

resource "helm_release" "prometheus_adapter" {
  name       = "prometheus-adapter"
  namespace  = "monitoring"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus-adapter"
  version    = "4.14.1"
  values = [yamlencode({
    prometheus   = { url = "http://kube-prometheus-stack-prometheus.monitoring.svc", port = 9090 }
    rules        = { existing = "skiff-prometheus-adapter-rules" }
    nodeSelector = { role = "app-nodes" }
  })]
  depends_on = [helm_release.kube_prometheus_stack, helm_release.skiff]
}

resource "helm_release" "skiff" {
  name      = "skiff"
  namespace = kubernetes_namespace_v1.skiff.metadata[0].name
  chart     = "${path.module}/../../helm/skiff"
  values = compact([
    # The chart's defaults are Skiff's engine on the app nodes, with no GPU request; skiff-gpu and
    # vllm add the chart's profile for them (GPU request, GPU node selector and toleration).
    local.on_gpu ? file("${path.module}/../../helm/skiff/profiles/${local.engine_profile}") : "",
    yamlencode({
      model = {
        image = { repository = module.cluster.ecr_repository_urls["skiff"], tag = var.skiff_image_tag }
        gpu   = { warmNodes = var.gpu_warm_nodes }
      }
      chat = {
        image          = { repository = module.cluster.ecr_repository_urls["skiff-chat"], tag = var.skiff_image_tag }
        databaseSecret = { name = kubernetes_secret_v1.chat_database.metadata[0].name, key = "url" }
      }
      autoscaling = {
        prometheusAdapter = { namespace = "monitoring" }
      }
      monitoring = {
        serviceMonitor = { enabled = true }
      }
      networkPolicy = {
        loadBalancerCIDRs = [module.cluster.vpc_cidr]
        chatDatabaseTo    = [{ ipBlock = { cidr = module.cluster.vpc_cidr } }]
      }
      ingress = {
        certificateArn = var.certificate_arn
      }
    }),
    var.skiff_values,
  ])
  # The first start downloads the weights and may wait for a GPU node: do not block on it.
  wait    = false
  timeout = 900

  lifecycle {
    precondition {
      condition     = local.on_gpu || var.gpu_warm_nodes == 0
      error_message = "gpu_warm_nodes keeps GPU nodes warm for GPU replicas; with model_engine = \"skiff\" nothing uses a GPU: set it to 0, or model_engine = \"skiff-gpu\" or \"vllm\"."
    }
    precondition {
      condition     = var.gpu_warm_nodes <= var.gpu_max_size
      error_message = "gpu_warm_nodes cannot exceed gpu_max_size: each warm node is a GPU node of the gpu-nodes group."
    }
  }

  depends_on = [
    helm_release.nvidia_device_plugin,
    helm_release.aws_load_balancer_controller,
    helm_release.kube_prometheus_stack,
    kubernetes_storage_class_v1.efs,
  ]
}
