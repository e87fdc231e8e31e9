/** The example of each docs/terraform page (HCL), and its import line where there is one. */
export const EXAMPLES: Record<string, { hcl: string; importId?: string }> = {
  natplane_project: { hcl: 'resource "natplane_project" "demo" {\n  name        = "demo"\n  description = "the demo team"\n  labels      = { team = "demo" }\n}', importId: 'demo' },
  natplane_project_token: {
    hcl: 'resource "natplane_project_token" "ci" {\n  project = natplane_project.demo.name\n}\n\noutput "token" {\n  value     = natplane_project_token.ci.token\n  sensitive = true\n}',
    importId: 'demo',
  },
  natplane_address_pool: { hcl: 'resource "natplane_address_pool" "eu" {\n  name   = "pool-eu-1"\n  region = "eu-1"\n  cidrs  = ["203.0.113.0/28"]\n}', importId: 'pool-eu-1' },
  natplane_host: {
    hcl: 'resource "natplane_host" "hv1" {\n  name      = "hv-1"\n  region    = "eu-1"\n  zone      = "eu-1-a"\n  agent_url = "http://10.0.0.11:8081"\n}\n\n# the agent\'s credentials, for its NATPLANE_HOST_TOKEN and NATPLANE_PUSH_SECRET\noutput "hv1_token" {\n  value     = natplane_host.hv1.host_token\n  sensitive = true\n}',
    importId: 'hv-1',
  },
  natplane_network: { hcl: 'resource "natplane_network" "main" {\n  name        = "main"\n  description = "production"\n}', importId: 'demo/main' },
  natplane_subnet: {
    hcl: 'resource "natplane_subnet" "apps" {\n  name          = "apps"\n  network       = natplane_network.main.name\n  region        = "eu-1"\n  ip_cidr_range = "10.10.0.0/24"\n\n  secondary_ip_range {\n    range_name    = "pods"\n    ip_cidr_range = "10.20.0.0/20"\n  }\n}',
    importId: 'demo/apps',
  },
  natplane_address: { hcl: 'resource "natplane_address" "nat1" {\n  name   = "nat-ip-1"\n  region = "eu-1"\n}', importId: 'demo/nat-ip-1' },
  natplane_endpoint: {
    hcl: 'resource "natplane_endpoint" "vm1" {\n  name           = "vm-1-nic0"\n  subnet         = natplane_subnet.apps.name\n  host           = "hv-1"\n  host_interface = "tap-vm1"\n  network_ip     = "10.10.0.10"\n\n  alias_ip_range {\n    ip_cidr_range         = "10.20.1.0/24"\n    subnetwork_range_name = "pods"\n  }\n}',
    importId: 'demo/vm-1-nic0',
  },
  natplane_nat_gateway: {
    hcl: 'resource "natplane_nat_gateway" "gw" {\n  name                   = "gw"\n  network                = natplane_network.main.name\n  region                 = "eu-1"\n  nat_ip_allocate_option = "MANUAL_ONLY"\n  nat_ips                = [natplane_address.nat1.name]\n  min_ports_per_vm       = 256\n\n  log_config {\n    enable = true\n    filter = "ERRORS_ONLY"\n  }\n\n  rules {\n    rule_number = 10\n    description = "partner network"\n    match       = "inIpRange(destination.ip, \'192.0.2.0/24\')"\n    action {\n      source_nat_active_ips = [natplane_address.nat2.name]\n    }\n  }\n\n  timeouts {\n    create = "10m"\n  }\n}',
    importId: 'demo/gw',
  },
  natplane_nat_gateway_status: {
    hcl: 'data "natplane_nat_gateway_status" "gw" {\n  name = natplane_nat_gateway.gw.name\n}\n\noutput "min_extra_nat_ips_needed" {\n  value = data.natplane_nat_gateway_status.gw.min_extra_nat_ips_needed\n}',
  },
  natplane_nat_gateway_mappings: {
    hcl: 'data "natplane_nat_gateway_mappings" "gw" {\n  name = natplane_nat_gateway.gw.name\n}\n\noutput "ports" {\n  value = { for m in data.natplane_nat_gateway_mappings.gw.mappings : m.endpoint => m.nat_ip_port_ranges }\n}',
  },
};
