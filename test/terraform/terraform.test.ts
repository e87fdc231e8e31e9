/**
 * Acceptance tests of terraform-provider-natplane with the real terraform binary, against the
 * built api and worker (child processes, a fresh database) and a fake host agent that
 * acknowledges the worker's pushes. The provider is installed from the filesystem mirror that
 * `npm run terraform:mirror` writes, as a user would. Skipped, saying why, when no terraform
 * binary is found (TERRAFORM_BIN, /usr/local/bin/terraform or PATH).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createNatplaneClient, ok, type NatplaneClient } from '@natplane/sdk';
import { FakeAgent } from '../support/control-loop/fake-agent';
import { ADMIN_TOKEN, ROOT, Stack } from '../support/control-loop/stack';
import { findTerraform, installMirror, TerraformDir } from './terraform-cli';

const TERRAFORM = findTerraform();
const describeTf = TERRAFORM ? describe : describe.skip;
if (!TERRAFORM) console.warn('terraform acceptance tests skipped: no terraform binary (set TERRAFORM_BIN, or install terraform at /usr/local/bin/terraform or on PATH)');

/** What .ci/run prints: which terraform ran how many of these tests to the end. */
const SUMMARY = join(ROOT, 'test-results', 'terraform', 'summary.txt');
rmSync(SUMMARY, { force: true });
mkdirSync(join(ROOT, 'test-results', 'terraform'), { recursive: true });
if (!TERRAFORM) writeFileSync(SUMMARY, 'skipped: no terraform binary (TERRAFORM_BIN, /usr/local/bin/terraform or PATH)\n');

const REGION = 'r1';
const HOST = 'hv-1';
const EXAMPLE_VARS = { TF_VAR_project: 'demo', TF_VAR_region: REGION, TF_VAR_host: HOST, TF_VAR_pool_cidr: '203.0.113.0/28' };

describeTf('terraform-provider-natplane, with the real terraform', () => {
  let stack: Stack | undefined;
  let agent: FakeAgent | undefined;
  let admin: NatplaneClient;
  let env: NodeJS.ProcessEnv;
  let example: TerraformDir;
  const dirs: TerraformDir[] = [];

  const tf = (source: string | Record<string, string>, extraEnv: NodeJS.ProcessEnv = {}) => {
    const d = TerraformDir.create(TERRAFORM!, { ...env, ...extraEnv }, source);
    dirs.push(d);
    return d;
  };
  const gateway = (project: string, name: string) => ok(admin.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: { project, name } } }));

  beforeAll(async () => {
    const rc = installMirror();
    version = spawnSync(TERRAFORM!, ['version'], { encoding: 'utf8', env: { ...process.env, CHECKPOINT_DISABLE: '1' } }).stdout.split('\n')[0];
    stack = await Stack.start({ file: __filename, redisDb: 15 });
    admin = createNatplaneClient(stack.api.baseUrl, ADMIN_TOKEN);
    agent = new FakeAgent(HOST);
    await agent.start();
    agent.secret = (await ok(admin.POST('/v1/admin/hosts', { body: { name: HOST, region: REGION, zone: `${REGION}-a`, agentUrl: agent.url } }))).pushSecret;
    env = {
      PATH: process.env.PATH,
      HOME: mkdtempSync(join(tmpdir(), 'natplane-tf-home-')),
      CHECKPOINT_DISABLE: '1',
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      TF_CLI_CONFIG_FILE: rc,
      NATPLANE_API_URL: stack.api.baseUrl,
      NATPLANE_TOKEN: ADMIN_TOKEN,
    };
  }, 120_000);

  let completed = 0;
  let version = '';
  /** A test whose completion is counted for the summary. */
  const test = (name: string, fn: () => Promise<void>, timeout: number) =>
    it(
      name,
      async () => {
        await fn();
        completed++;
      },
      timeout,
    );

  afterAll(async () => {
    writeFileSync(SUMMARY, `ran with ${version || TERRAFORM}: ${completed} acceptance tests completed\n`);
    for (const d of dirs) rmSync(d.dir, { recursive: true, force: true });
    await agent?.stop();
    await stack?.close();
  });

  test('terraform init installs the provider from the mirror; apply of examples/terraform, then plan shows no changes', async () => {
    example = tf(join(ROOT, 'examples/terraform'), EXAMPLE_VARS);
    const init = await example.ok(['init']);
    expect(init.stdout).toMatch(/Installing natplane\/natplane v0\.1\.0/);
    await example.ok(['apply', '-auto-approve']);
    const gw = await gateway('demo', 'gw');
    expect(gw.status.state).toBe('READY');
    expect(gw.minPortsPerVm).toBe(128);
    const out = JSON.parse((await example.ok(['output', '-json'])).stdout) as Record<string, { value: unknown }>;
    expect(out.endpoints_with_nat_mappings.value).toBe(2);
    expect(Object.keys(out.mappings.value as object).sort()).toEqual(['vm-1-nic0', 'vm-2-nic0']);
    const plan = await example.run(['plan', '-detailed-exitcode']);
    expect({ code: plan.code, out: plan.stdout }).toEqual({ code: 0, out: expect.stringContaining('No changes.') });
  }, 300_000);

  test('updates in place with a merge PATCH carrying If-Match; a change made after the plan is refused (412), not overwritten', async () => {
    const before = await gateway('demo', 'gw');
    expect(await example.planActions(['-var=min_ports_per_vm=256'])).toEqual({ 'natplane_nat_gateway.gw': ['update'] });
    await example.ok(['apply', 'plan.tfplan']);
    const after = await gateway('demo', 'gw');
    expect(after.id).toBe(before.id);
    expect(after.minPortsPerVm).toBe(256);
    expect(after.generation).toBe(before.generation + 1);
    expect(after.status.state).toBe('READY');
    expect((await example.run(['plan', '-detailed-exitcode', '-var=min_ports_per_vm=256'])).code).toBe(0);

    // a saved plan, then someone else changes the gateway: applying the plan must not overwrite it
    expect(await example.planActions(['-var=min_ports_per_vm=512'])).toEqual({ 'natplane_nat_gateway.gw': ['update'] });
    await ok(admin.PATCH('/v1/projects/{project}/natGateways/{name}', { params: { path: { project: 'demo', name: 'gw' } }, body: { description: 'changed by hand' } }));
    const stale = await example.run(['apply', 'plan.tfplan']);
    expect(stale.code).toBe(1);
    expect(stale.stdout + stale.stderr).toMatch(/changed since it was last read/);
    expect((await gateway('demo', 'gw')).minPortsPerVm).toBe(256);
    // the next plan shows both: the description planned back to none, the ports to 512
    await example.ok(['apply', '-auto-approve', '-var=min_ports_per_vm=512']);
    const converged = await gateway('demo', 'gw');
    expect({ ports: converged.minPortsPerVm, description: converged.description }).toEqual({ ports: 512, description: '' });
    expect((await example.run(['plan', '-detailed-exitcode', '-var=min_ports_per_vm=512'])).code).toBe(0);
  }, 300_000);

  test('an object deleted outside terraform is planned for creation; one changed outside is planned back', async () => {
    const vars = ['-var=min_ports_per_vm=512'];
    await ok(admin.DELETE('/v1/projects/{project}/endpoints/{name}', { params: { path: { project: 'demo', name: 'vm-2-nic0' } } }));
    await ok(
      admin.PATCH('/v1/projects/{project}/networks/{name}', { params: { path: { project: 'demo', name: 'main' } }, body: { description: 'edited by hand', labels: { owner: 'someone' } } }),
    );
    await ok(admin.PATCH('/v1/projects/{project}/natGateways/{name}', { params: { path: { project: 'demo', name: 'gw' } }, body: { udpIdleTimeoutSec: 99, logConfig: { enable: false } } }));
    const actions = await example.planActions(vars);
    expect(actions).toEqual({ 'natplane_endpoint.vm[1]': ['create'], 'natplane_network.main': ['update'], 'natplane_nat_gateway.gw': ['update'] });
    await example.ok(['apply', '-auto-approve', ...vars]);
    const net = await ok(admin.GET('/v1/projects/{project}/networks/{name}', { params: { path: { project: 'demo', name: 'main' } } }));
    expect({ description: net.description, labels: net.labels }).toEqual({ description: "the tenant's network", labels: {} });
    const gw = await gateway('demo', 'gw');
    expect({ udp: gw.udpIdleTimeoutSec, log: gw.logConfig }).toEqual({ udp: 99, log: { enable: true, filter: 'ERRORS_ONLY' } });
    expect((await example.run(['plan', '-detailed-exitcode', ...vars])).code).toBe(0);
  }, 300_000);

  const PROVIDER = 'terraform {\n  required_providers {\n    natplane = { source = "natplane/natplane" }\n  }\n}\n';

  test('an immutable attribute plans a replacement; a mutable one updates in place', async () => {
    const scratch = (region: string, range: string) => `${PROVIDER}
provider "natplane" {
  project = "demo"
}
resource "natplane_network" "s" {
  name = "scratch"
}
# the reference written as a relative path: the API answers the bare name, state keeps the path
resource "natplane_subnet" "s" {
  name          = "scratch"
  network       = "projects/demo/networks/\${natplane_network.s.name}"
  region        = "${region}"
  ip_cidr_range = "${range}"
}
`;
    const d = tf({ 'main.tf': scratch('r1', '10.99.0.0/24') });
    await d.ok(['init']);
    await d.ok(['apply', '-auto-approve']);
    const first = await ok(admin.GET('/v1/projects/{project}/subnets/{name}', { params: { path: { project: 'demo', name: 'scratch' } } }));
    expect(first.network).toBe('scratch');
    expect((await d.run(['plan', '-detailed-exitcode'])).code).toBe(0);
    d.write('main.tf', scratch('r2', '10.99.0.0/24'));
    expect(await d.planActions()).toEqual({ 'natplane_subnet.s': ['delete', 'create'] });
    const shown = await d.run(['plan']);
    expect(shown.stdout).toMatch(/region\s+= "r1" -> "r2" # forces replacement/);
    await d.ok(['apply', 'plan.tfplan']);
    const second = await ok(admin.GET('/v1/projects/{project}/subnets/{name}', { params: { path: { project: 'demo', name: 'scratch' } } }));
    expect(second.id).not.toBe(first.id);
    expect(second.region).toBe('r2');
    d.write('main.tf', scratch('r2', '10.99.0.0/23'));
    expect(await d.planActions()).toEqual({ 'natplane_subnet.s': ['update'] });
    await d.ok(['apply', 'plan.tfplan']);
    const third = await ok(admin.GET('/v1/projects/{project}/subnets/{name}', { params: { path: { project: 'demo', name: 'scratch' } } }));
    expect({ id: third.id, range: third.ipCidrRange }).toEqual({ id: second.id, range: '10.99.0.0/23' });
    await d.ok(['destroy', '-auto-approve']);
  }, 300_000);

  test('a PRIVATE gateway (Private NAT): rules name PRIVATE_NAT subnets by any reference form, no diff after apply, ranges updated in place', async () => {
    const config = (ranges: string) => `${PROVIDER}
provider "natplane" {
  project = "demo"
}
resource "natplane_network" "p" {
  name = "priv-net"
}
resource "natplane_subnet" "pnat" {
  count         = 2
  name          = "priv-pnat-\${count.index}"
  network       = natplane_network.p.name
  region        = "r1"
  ip_cidr_range = "100.64.\${count.index + 40}.0/28"
  purpose       = "PRIVATE_NAT"
}
resource "natplane_nat_gateway" "p" {
  name    = "priv-gw"
  network = natplane_network.p.name
  region  = "r1"
  type    = "PRIVATE"
  rules {
    rule_number = 10
    match       = "inIpRange(destination.ip, '10.20.0.0/16')"
    action {
      source_nat_active_ranges = [${ranges}]
    }
  }
}
`;
    // the first range written as a relative path: the API answers the bare name, state keeps the path
    const d = tf({ 'main.tf': config('"projects/demo/subnets/${natplane_subnet.pnat[0].name}"') });
    await d.ok(['init']);
    await d.ok(['apply', '-auto-approve']);
    const first = await gateway('demo', 'priv-gw');
    expect({ type: first.type, ranges: first.rules[0].action.sourceNatActiveRanges, state: first.status.state }).toEqual({ type: 'PRIVATE', ranges: ['priv-pnat-0'], state: 'READY' });
    expect((await d.run(['plan', '-detailed-exitcode'])).code).toBe(0);
    d.write('main.tf', config('natplane_subnet.pnat[1].name'));
    expect(await d.planActions()).toEqual({ 'natplane_nat_gateway.p': ['update'] });
    await d.ok(['apply', 'plan.tfplan']);
    const second = await gateway('demo', 'priv-gw');
    expect({ id: second.id, ranges: second.rules[0].action.sourceNatActiveRanges }).toEqual({ id: first.id, ranges: ['priv-pnat-1'] });
    expect((await d.run(['plan', '-detailed-exitcode'])).code).toBe(0);
    await d.ok(['destroy', '-auto-approve']);
  }, 300_000);

  test('an API problem is shown on the attribute its errors[].field names, and nothing half-created is left', async () => {
    const d = tf({
      'main.tf': `${PROVIDER}
provider "natplane" {
  project = "demo"
}
resource "natplane_network" "bad" {
  name = "bad-net"
}
resource "natplane_subnet" "bad" {
  name          = "bad-subnet"
  network       = natplane_network.bad.name
  region        = "r1"
  ip_cidr_range = "10.98.0.0/33"
}
`,
    });
    await d.ok(['init']);
    const r = await d.run(['apply', '-auto-approve']);
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/Error: creating natplane_subnet: 400/);
    // Terraform points at the attribute: the configuration line of ip_cidr_range
    expect(out).toMatch(/with natplane_subnet\.bad,[\s\S]*ip_cidr_range = "10\.98\.0\.0\/33"[\s\S]*ipCidrRange: /);
    const subnets = await ok(admin.GET('/v1/projects/{project}/subnets', { params: { path: { project: 'demo' } } }));
    expect(subnets.items.map((x) => x.name)).not.toContain('bad-subnet');
    expect((await d.ok(['state', 'list'])).stdout.trim().split('\n')).toEqual(['natplane_network.bad']);
    await d.ok(['destroy', '-auto-approve']);
  }, 300_000);

  test('a NAT gateway that does not become READY within its timeout fails with the status message and is not left behind', async () => {
    const d = tf({
      'main.tf': `${PROVIDER}
provider "natplane" {
  project = "demo"
}
resource "natplane_network" "slow" {
  name = "slow"
}
resource "natplane_subnet" "slow" {
  name          = "slow"
  network       = natplane_network.slow.name
  region        = "r1"
  ip_cidr_range = "10.97.0.0/24"
}
resource "natplane_endpoint" "slow" {
  name       = "slow-vm"
  subnet     = natplane_subnet.slow.name
  host       = "${HOST}"
  network_ip = "10.97.0.5"
}
resource "natplane_address" "slow" {
  name   = "slow-ip"
  region = "r1"
}
resource "natplane_nat_gateway" "slow" {
  name       = "slow-gw"
  network    = natplane_network.slow.name
  region     = "r1"
  nat_ips    = [natplane_address.slow.name]
  depends_on = [natplane_endpoint.slow]
  timeouts {
    create = "3s"
  }
}
`,
    });
    await d.ok(['init']);
    await d.ok(['apply', '-auto-approve', '-target=natplane_endpoint.slow', '-target=natplane_address.slow']);
    await agent!.stop();
    try {
      const r = await d.run(['apply', '-auto-approve']);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/NAT gateway "slow-gw": not READY after 3s[\s\S]*state (PROVISIONING|DEGRADED) .*hosts programmed 0 of 1/);
    } finally {
      await agent!.start();
    }
    const gateways = await ok(admin.GET('/v1/projects/{project}/natGateways', { params: { path: { project: 'demo' } } }));
    expect(gateways.items.map((g) => g.name)).toEqual(['gw']);
    expect((await d.ok(['state', 'list'])).stdout).not.toMatch(/natplane_nat_gateway/);
    // with the agent back, the same configuration applies
    await d.ok(['apply', '-auto-approve']);
    expect((await gateway('demo', 'slow-gw')).status.state).toBe('READY');
    await d.ok(['destroy', '-auto-approve']);
  }, 300_000);

  test('terraform import takes every resource type created through the API (NAME or PROJECT/NAME), then plans no changes', async () => {
    const P = 'imp';
    await ok(admin.POST('/v1/admin/projects', { body: { name: P, description: 'imported', labels: { team: 'net' } } }));
    await ok(admin.POST('/v1/admin/addressPools', { body: { name: 'imp-pool', region: REGION, cidrs: ['198.18.0.0/28'] } }));
    await ok(admin.POST('/v1/admin/hosts', { body: { name: 'imp-host', region: REGION, zone: `${REGION}-b`, agentUrl: 'http://127.0.0.1:9/agent' } }));
    await ok(admin.POST('/v1/projects/{project}/networks', { params: { path: { project: P } }, body: { name: 'net' } }));
    await ok(
      admin.POST('/v1/projects/{project}/subnets', {
        params: { path: { project: P } },
        body: { name: 'sub', network: `projects/${P}/networks/net`, region: REGION, ipCidrRange: '10.1.0.0/24', secondaryIpRanges: [{ rangeName: 'pods', ipCidrRange: '10.2.0.0/20' }] },
      }),
    );
    await ok(admin.POST('/v1/projects/{project}/addresses', { params: { path: { project: P } }, body: { name: 'ip-1', region: REGION } }));
    await ok(admin.POST('/v1/projects/{project}/addresses', { params: { path: { project: P } }, body: { name: 'ip-2', region: REGION, address: '198.18.0.9' } }));
    await ok(
      admin.POST('/v1/projects/{project}/endpoints', {
        params: { path: { project: P } },
        body: { name: 'vm', subnet: 'sub', host: HOST, hostInterface: 'tap-imp0', networkIp: '10.1.0.7', aliasIpRanges: [{ ipCidrRange: '10.2.1.0/24', subnetworkRangeName: 'pods' }] },
      }),
    );
    await ok(
      admin.POST('/v1/projects/{project}/natGateways', {
        params: { path: { project: P } },
        body: {
          name: 'gw',
          network: 'net',
          region: REGION,
          natIps: ['ip-1'],
          sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
          subnetworks: [{ name: 'sub', sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }],
          minPortsPerVm: 256,
          tcpEstablishedIdleTimeoutSec: 600,
          logConfig: { enable: true },
          rules: [{ ruleNumber: 5, match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: ['ip-2'] } }],
        },
      }),
    );
    await ok(admin.POST('/v1/admin/projects/{name}/tokens', { params: { path: { name: P } } }));

    const d = tf({
      'main.tf': `${PROVIDER}
provider "natplane" {
  project = "${P}"
}
resource "natplane_project" "p" {
  name        = "${P}"
  description = "imported"
  labels      = { team = "net" }
}
resource "natplane_project_token" "t" {
  project = natplane_project.p.name
}
resource "natplane_address_pool" "pool" {
  name   = "imp-pool"
  region = "${REGION}"
  cidrs  = ["198.18.0.0/28"]
}
resource "natplane_host" "h" {
  name      = "imp-host"
  region    = "${REGION}"
  zone      = "${REGION}-b"
  agent_url = "http://127.0.0.1:9/agent"
}
resource "natplane_network" "net" {
  project = natplane_project.p.name
  name = "net"
}
resource "natplane_subnet" "sub" {
  project = natplane_project.p.name
  name          = "sub"
  network       = natplane_network.net.name
  region        = "${REGION}"
  ip_cidr_range = "10.1.0.0/24"
  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = "10.2.0.0/20"
  }
}
resource "natplane_address" "ip1" {
  project    = natplane_project.p.name
  depends_on = [natplane_address_pool.pool]
  name   = "ip-1"
  region = "${REGION}"
}
resource "natplane_address" "ip2" {
  project    = natplane_project.p.name
  depends_on = [natplane_address_pool.pool]
  name    = "ip-2"
  region  = "${REGION}"
  address = "198.18.0.9"
}
resource "natplane_endpoint" "vm" {
  project = natplane_project.p.name
  name       = "vm"
  subnet     = natplane_subnet.sub.name
  host           = "${HOST}"
  host_interface = "tap-imp0"
  network_ip     = "10.1.0.7"
  alias_ip_range {
    ip_cidr_range         = "10.2.1.0/24"
    subnetwork_range_name = "pods"
  }
}
resource "natplane_nat_gateway" "gw" {
  project = natplane_project.p.name
  name                               = "gw"
  network                            = natplane_network.net.name
  region                             = "${REGION}"
  nat_ips                            = [natplane_address.ip1.name]
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"
  subnetwork {
    name                    = natplane_subnet.sub.name
    source_ip_ranges_to_nat = ["PRIMARY_IP_RANGE"]
  }
  min_ports_per_vm                 = 256
  tcp_established_idle_timeout_sec = 600
  log_config {
    enable = true
  }
  rules {
    rule_number = 5
    match       = "destination.ip == '192.0.2.1'"
    action {
      source_nat_active_ips = [natplane_address.ip2.name]
    }
  }
}
`,
    });
    await d.ok(['init']);
    const imports: [string, string][] = [
      ['natplane_project.p', P],
      ['natplane_project_token.t', P],
      ['natplane_address_pool.pool', 'imp-pool'],
      ['natplane_host.h', 'imp-host'],
      ['natplane_network.net', `${P}/net`],
      ['natplane_subnet.sub', 'sub'],
      ['natplane_address.ip1', `${P}/ip-1`],
      ['natplane_address.ip2', 'ip-2'],
      ['natplane_endpoint.vm', 'vm'],
      ['natplane_nat_gateway.gw', `${P}/gw`],
    ];
    for (const [address, id] of imports) await d.ok(['import', address, id]);
    const plan = await d.run(['plan', '-detailed-exitcode']);
    expect({ code: plan.code, out: plan.stdout }).toEqual({ code: 0, out: expect.stringContaining('No changes.') });

    // destroy leaves the project empty (and then deletes it)
    await d.ok(['destroy', '-auto-approve']);
    // (the api remembers a project's id for up to 5 s: a list answers [] then, 404 afterwards)
    for (const collection of ['networks', 'subnets', 'endpoints', 'addresses', 'natGateways'] as const) {
      const r = await stack!.api.get(`/v1/projects/${P}/${collection}`);
      const items = r.status === 200 ? (r.body as { items: unknown[] }).items : [];
      expect({ collection, status: r.status === 200 ? 404 : r.status, items }).toEqual({ collection, status: 404, items: [] });
    }
    expect((await stack!.api.get(`/v1/admin/projects/${P}`)).status).toBe(404);
    const pools = await ok(admin.GET('/v1/admin/addressPools', {}));
    expect(pools.items.map((x) => x.name)).not.toContain('imp-pool');
  }, 300_000);

  test('destroy of examples/terraform deletes everything it created', async () => {
    await example.ok(['destroy', '-auto-approve', '-var=min_ports_per_vm=512']);
    expect((await stack!.api.get('/v1/admin/projects/demo')).status).toBe(404);
    expect((await ok(admin.GET('/v1/admin/addressPools', {}))).items).toEqual([]);
    expect((await example.ok(['state', 'list'])).stdout.trim()).toBe('');
  }, 300_000);
});
