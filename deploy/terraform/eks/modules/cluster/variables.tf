variable "name" {
  description = "Name of the cluster and prefix of every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2 to 31 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
}

variable "vpc_cidr" {
  description = "Address range of the VPC."
  type        = string
}

variable "availability_zone_count" {
  description = "Availability zones to spread subnets and nodes over."
  type        = number
}

variable "api_public_access_cidrs" {
  description = "Address ranges allowed to reach the public Kubernetes API endpoint."
  type        = list(string)
}

variable "app_instance_types" {
  description = "Instance types of the app-nodes group."
  type        = list(string)
}

variable "app_sizes" {
  description = "min, desired and max nodes of the app-nodes group."
  type        = object({ min = number, desired = number, max = number })
}

variable "gpu_instance_types" {
  description = "NVIDIA instance types of the gpu-nodes group."
  type        = list(string)
}

variable "gpu_sizes" {
  description = "min, desired and max nodes of the gpu-nodes group (min 0 lets the autoscaler empty it)."
  type        = object({ min = number, desired = number, max = number })
}

variable "gpus_per_node" {
  description = "GPUs on one node of gpu_instance_types: tells the cluster autoscaler what an empty group would offer."
  type        = number
}

variable "gpu_capacity_type" {
  description = "ON_DEMAND or SPOT for the GPU nodes."
  type        = string
}

variable "gpu_disk_size_gib" {
  description = "Root volume of a GPU node: the vLLM image alone is about 10 GiB."
  type        = number
}

variable "database_instance_class" {
  description = "RDS PostgreSQL instance class of the chat tier's database."
  type        = string
}

variable "database_password" {
  description = "Password of the chat database's user."
  type        = string
  sensitive   = true
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
}
