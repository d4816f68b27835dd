variable "region" {
  description = "AWS region, such as us-east-1 (check that it offers the GPU instance type)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Cluster name and prefix of every resource."
  type        = string
  default     = "skiff"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (the chart needs 1.30 or newer)."
  type        = string
  default     = "1.33"
}

variable "vpc_cidr" {
  description = "Address range of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "availability_zone_count" {
  description = "Availability zones to spread subnets and nodes over (2 or 3)."
  type        = number
  default     = 3

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 3
    error_message = "availability_zone_count must be 2 or 3."
  }
}

variable "api_public_access_cidrs" {
  description = "Address ranges allowed to reach the Kubernetes API (your office or VPN; not 0.0.0.0/0)."
  type        = list(string)

  validation {
    condition     = !contains(var.api_public_access_cidrs, "0.0.0.0/0")
    error_message = "Limit the Kubernetes API to your own address ranges instead of 0.0.0.0/0."
  }
}

variable "model_engine" {
  description = "What serves the model: skiff (Skiff's own engine on the app nodes' CPUs; the GPU group stays empty), skiff-gpu (Skiff's engine on the GPU nodes through Vulkan, the chart's profiles/gpu.yaml) or vllm (vLLM on the GPU nodes, the chart's profiles/vllm.yaml)."
  type        = string
  default     = "skiff"

  validation {
    condition     = contains(["skiff", "skiff-gpu", "vllm"], var.model_engine)
    error_message = "model_engine must be skiff, skiff-gpu or vllm."
  }
}

variable "app_instance_types" {
  description = "Instance types of the app-nodes group (chat tier, controllers, Prometheus, and the model service with model_engine skiff)."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "app_min_size" {
  description = "Fewest app nodes."
  type        = number
  default     = 2
}

variable "app_desired_size" {
  description = "App nodes at creation (the cluster autoscaler changes it afterwards)."
  type        = number
  default     = 2
}

variable "app_max_size" {
  description = "Most app nodes."
  type        = number
  default     = 6
}

variable "gpu_instance_types" {
  description = "NVIDIA instance types of the gpu-nodes group: g5.xlarge has one A10G (24 GB); g6.xlarge one L4 (24 GB)."
  type        = list(string)
  default     = ["g5.xlarge"]
}

variable "gpus_per_node" {
  description = "GPUs on one node of gpu_instance_types (1 for g5.xlarge, 4 for g5.12xlarge)."
  type        = number
  default     = 1
}

variable "gpu_min_size" {
  description = "Fewest GPU nodes with model_engine skiff-gpu or vllm (always 0 with skiff); 0 lets the autoscaler remove every GPU node when nothing needs one."
  type        = number
  default     = 0

  validation {
    condition     = var.gpu_min_size >= 0
    error_message = "gpu_min_size must be 0 or more."
  }
}

variable "gpu_desired_size" {
  description = "GPU nodes at creation with model_engine skiff-gpu or vllm (always 0 with skiff)."
  type        = number
  default     = 1
}

variable "gpu_max_size" {
  description = "Most GPU nodes: the ceiling of the model service's autoscaling (check your EC2 GPU quota)."
  type        = number
  default     = 4

  validation {
    condition     = var.gpu_max_size >= 1
    error_message = "gpu_max_size must be at least 1."
  }
}

variable "gpu_warm_nodes" {
  description = "GPU nodes kept warm for the next GPU replicas by low-priority placeholder pods (the chart's model.gpu.warmNodes; `skiff plan --peak-rps` gives warm_nodes). model_engine skiff-gpu or vllm only."
  type        = number
  default     = 0

  validation {
    condition     = var.gpu_warm_nodes >= 0
    error_message = "gpu_warm_nodes must be 0 or more."
  }
}

variable "gpu_capacity_type" {
  description = "ON_DEMAND, or SPOT for cheaper GPU nodes that AWS may take back with two minutes' notice."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_capacity_type)
    error_message = "gpu_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "gpu_disk_size_gib" {
  description = "Root volume of a GPU node in GiB (container images; vLLM's is about 10 GiB)."
  type        = number
  default     = 100
}

variable "database_instance_class" {
  description = "RDS instance class of the chat tier's PostgreSQL."
  type        = string
  default     = "db.t4g.medium"
}

variable "skiff_image_tag" {
  description = "Tag of the skiff and skiff-chat images pushed to the ECR repositories this creates."
  type        = string
  default     = "0.1.0"
}

variable "skiff_values" {
  description = "Extra Helm values for the Skiff chart, as YAML, applied last (for example the file `skiff plan --helm-values` writes)."
  type        = string
  default     = ""
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the ALB; empty serves HTTP only (for a first test)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags on every AWS resource."
  type        = map(string)
  default     = { project = "skiff" }
}
