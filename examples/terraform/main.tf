# A complete natplane setup with Terraform: the operator's part (a project, a public address pool)
# and a tenant's (a network, a subnet, two VM interfaces, two static NAT addresses and a NAT
# gateway with a rule), against `npm start` on this machine. See the README's Terraform section:
#
#   npm run terraform:mirror && export TF_CLI_CONFIG_FILE=$PWD/dist/terraform/terraform.rc
#   cd examples/terraform && export NATPLANE_API_URL=http://127.0.0.1:8080 NATPLANE_TOKEN=$(cat ../../.natplane/admin-token)
#   terraform init && terraform apply
#
# The token here is the admin token (the operator's resources need it; it also works on every
# project). A tenant with a project token writes only the tenant part, with `project` set.

terraform {
  required_providers {
    natplane = {
      source = "natplane/natplane"
    }
  }
}

variable "project" {
  description = "The project this configuration creates and fills."
  type        = string
  default     = "tf-demo"
}

variable "region" {
  description = "The region of the host and of everything created (npm start's host `local` is in `local`)."
  type        = string
  default     = "local"
}

variable "host" {
  description = "The host the VM interfaces are on (npm start registers `local`)."
  type        = string
  default     = "local"
}

variable "pool_cidr" {
  description = "Public IPv4 block of the address pool (must not overlap another pool)."
  type        = string
  default     = "198.51.100.0/28"
}

variable "min_ports_per_vm" {
  description = "Ports per VM interface on the gateway (a power of two)."
  type        = number
  default     = 128
}

provider "natplane" {
  # endpoint and token: NATPLANE_API_URL and NATPLANE_TOKEN
  project = var.project
}

# ---------------------------------------------------------------- operator

resource "natplane_project" "demo" {
  name        = var.project
  description = "managed by terraform"
}

resource "natplane_address_pool" "pool" {
  name   = "${var.project}-pool"
  region = var.region
  cidrs  = [var.pool_cidr]
}

# ---------------------------------------------------------------- tenant

resource "natplane_network" "main" {
  project     = natplane_project.demo.name
  name        = "main"
  description = "the tenant's network"
}

resource "natplane_subnet" "apps" {
  project       = natplane_project.demo.name
  name          = "apps"
  network       = natplane_network.main.name
  region        = var.region
  ip_cidr_range = "10.10.0.0/24"

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = "10.20.0.0/20"
  }
}

resource "natplane_endpoint" "vm" {
  count      = 2
  project    = natplane_project.demo.name
  name       = "vm-${count.index + 1}-nic0"
  subnet     = natplane_subnet.apps.name
  host       = var.host
  network_ip = "10.10.0.${count.index + 10}"

  alias_ip_range {
    ip_cidr_range         = "10.20.${count.index}.0/24"
    subnetwork_range_name = "pods"
  }
}

resource "natplane_address" "nat" {
  count   = 2
  project = natplane_project.demo.name
  name    = "nat-ip-${count.index + 1}"
  region  = var.region

  depends_on = [natplane_address_pool.pool]
}

resource "natplane_nat_gateway" "gw" {
  project                = natplane_project.demo.name
  name                   = "gw"
  network                = natplane_network.main.name
  region                 = var.region
  nat_ip_allocate_option = "MANUAL_ONLY"
  nat_ips                = [natplane_address.nat[0].name]
  min_ports_per_vm       = var.min_ports_per_vm

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }

  # traffic to 192.0.2.0/24 leaves from the second address
  rules {
    rule_number = 10
    description = "partner network"
    match       = "inIpRange(destination.ip, '192.0.2.0/24')"
    action {
      source_nat_active_ips = [natplane_address.nat[1].name]
    }
  }

  timeouts {
    create = "2m"
    update = "2m"
  }

  # the endpoints are NATed as soon as they exist; creating them first means READY covers them
  depends_on = [natplane_endpoint.vm]
}

data "natplane_nat_gateway_status" "gw" {
  project = natplane_project.demo.name
  name    = natplane_nat_gateway.gw.name
}

data "natplane_nat_gateway_mappings" "gw" {
  project = natplane_project.demo.name
  name    = natplane_nat_gateway.gw.name
}

output "nat_ips" {
  description = "The gateway's NAT IPs."
  value       = natplane_address.nat[*].address
}

output "endpoints_with_nat_mappings" {
  value = data.natplane_nat_gateway_status.gw.num_vm_endpoints_with_nat_mappings
}

output "min_extra_nat_ips_needed" {
  value = data.natplane_nat_gateway_status.gw.min_extra_nat_ips_needed
}

output "mappings" {
  description = "Each VM interface's NAT IP and ports."
  value       = { for m in data.natplane_nat_gateway_mappings.gw.mappings : m.endpoint => m.nat_ip_port_ranges }
}
