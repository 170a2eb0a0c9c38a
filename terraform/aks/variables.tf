variable "subscription_id" {
  description = "Azure subscription that holds every resource of the environment."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription GUID."
  }
}

variable "environment" {
  description = "Environment name, part of every resource name (staging or prod)."
  type        = string

  validation {
    condition     = contains(["staging", "prod"], var.environment)
    error_message = "environment must be staging or prod."
  }
}

variable "location" {
  description = "Azure region; it must offer three availability zones."
  type        = string
  default     = "westeurope"

  validation {
    condition     = can(regex("^[a-z0-9]+$", var.location))
    error_message = "location must be an Azure region name such as westeurope."
  }
}

variable "name_prefix" {
  description = "Short prefix of resource names (lower-case letters and digits)."
  type        = string
  default     = "todo"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.name_prefix))
    error_message = "name_prefix must be 2-10 lower-case letters or digits, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "AKS Kubernetes minor version (patches are applied automatically)."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version such as 1.33."
  }
}

variable "availability_zones" {
  description = "Zones the node pools and the database spread over."
  type        = list(string)
  default     = ["1", "2", "3"]

  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "Spread over exactly three availability zones."
  }
}

variable "api_authorized_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API server (CI runners, operators)."
  type        = list(string)

  validation {
    condition     = length(var.api_authorized_cidrs) > 0 && alltrue([for c in var.api_authorized_cidrs : can(cidrhost(c, 0))])
    error_message = "api_authorized_cidrs must hold at least one valid CIDR."
  }
}

variable "admin_cidrs" {
  description = "CIDRs allowed through the Key Vault and registry firewalls (the machine running Terraform)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0))])
    error_message = "admin_cidrs must be valid CIDRs."
  }
}

variable "vnet_cidr" {
  description = "Address space of the virtual network."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vnet_cidr, 0))
    error_message = "vnet_cidr must be a valid CIDR."
  }
}

variable "nodes_subnet_cidr" {
  description = "Subnet of the AKS nodes (pods use the overlay network, not this range)."
  type        = string
  default     = "10.42.0.0/20"

  validation {
    condition     = can(cidrhost(var.nodes_subnet_cidr, 0))
    error_message = "nodes_subnet_cidr must be a valid CIDR."
  }
}

variable "postgres_subnet_cidr" {
  description = "Subnet delegated to PostgreSQL Flexible Server (helm values-aks.yaml allows egress to it)."
  type        = string
  default     = "10.42.16.0/24"

  validation {
    condition     = can(cidrhost(var.postgres_subnet_cidr, 0))
    error_message = "postgres_subnet_cidr must be a valid CIDR."
  }
}

variable "endpoints_subnet_cidr" {
  description = "Subnet of private endpoints (Key Vault, registry, managed Kafka)."
  type        = string
  default     = "10.42.24.0/24"

  validation {
    condition     = can(cidrhost(var.endpoints_subnet_cidr, 0))
    error_message = "endpoints_subnet_cidr must be a valid CIDR."
  }
}

variable "system_node_vm_size" {
  description = "VM size of the system node pool."
  type        = string
  default     = "Standard_D4ds_v5"
}

variable "system_node_min" {
  description = "Minimum nodes in the system pool (at least one per zone)."
  type        = number
  default     = 3

  validation {
    condition     = var.system_node_min >= 3
    error_message = "system_node_min must be at least 3, one per zone."
  }
}

variable "system_node_max" {
  description = "Maximum nodes in the system pool."
  type        = number
  default     = 5

  validation {
    condition     = var.system_node_max >= 3 && var.system_node_max <= 100
    error_message = "system_node_max must be between 3 and 100."
  }
}

variable "workload_node_vm_size" {
  description = "VM size of the workload node pool."
  type        = string
  default     = "Standard_D8ds_v5"
}

variable "workload_node_min" {
  description = "Minimum nodes in the workload pool."
  type        = number
  default     = 3

  validation {
    condition     = var.workload_node_min >= 3
    error_message = "workload_node_min must be at least 3, one per zone."
  }
}

variable "workload_node_max" {
  description = "Maximum nodes in the workload pool."
  type        = number
  default     = 12

  validation {
    condition     = var.workload_node_max >= 3 && var.workload_node_max <= 1000
    error_message = "workload_node_max must be between 3 and 1000."
  }
}

variable "postgres_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"

  validation {
    condition     = contains(["15", "16", "17"], var.postgres_version)
    error_message = "postgres_version must be 15, 16 or 17."
  }
}

variable "postgres_sku" {
  description = "PostgreSQL Flexible Server SKU (General Purpose or Memory Optimized for zone-redundant HA)."
  type        = string
  default     = "GP_Standard_D4ds_v5"

  validation {
    condition     = can(regex("^(GP|MO)_", var.postgres_sku))
    error_message = "Zone-redundant high availability needs a GP_ or MO_ SKU."
  }
}

variable "postgres_storage_mb" {
  description = "PostgreSQL storage in MB."
  type        = number
  default     = 131072

  validation {
    condition     = var.postgres_storage_mb >= 32768
    error_message = "postgres_storage_mb must be at least 32768."
  }
}

variable "log_retention_days" {
  description = "Log Analytics retention."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "app_namespace" {
  description = "Kubernetes namespace of the Helm release (the workload identity is federated with its service accounts)."
  type        = string
  default     = "todo"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.app_namespace))
    error_message = "app_namespace must be a valid Kubernetes namespace name."
  }
}

variable "app_service_accounts" {
  description = "Service accounts of the chart: the app pods and the migration Job."
  type        = list(string)
  default     = ["todo", "todo-migrate"]
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose deploy workflow may sign in (OIDC)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_environment" {
  description = "GitHub environment of the deploy job for this environment (production or staging)."
  type        = string
}

variable "dapr_extension_version" {
  description = "Version of the AKS Dapr extension (the Dapr runtime), pinned; upgrades are a reviewed change."
  type        = string
  default     = "1.15.12"
}
