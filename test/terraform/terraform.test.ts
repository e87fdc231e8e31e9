/**
 * Acceptance tests of terraform-provider-natplane with the real terraform binary, against the
 * built api and worker (child processes, a fresh database) and a fake host agent that
 * acknowledges the worker's pushes. The provider is installed from the filesystem mirror that
 * `npm run terraform:mirror` writes, as a user would. Skipped, saying why, when no terraform
 * binary is found (TERRAFORM_BIN, /usr/local/bin/terraform or PATH).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNatplaneClient, ok, type NatplaneClient } from '@natplane/sdk';
import { FakeAgent } from '../support/control-loop/fake-agent';
import { ADMIN_TOKEN, ROOT, Stack } from '../support/control-loop/stack';
import { findTerraform, installMirror, TerraformDir } from './terraform-cli';

const TERRAFORM = findTerraform();
const describeTf = TERRAFORM ? describe : describe.skip;
if (!TERRAFORM) console.warn('terraform acceptance tests skipped: no terraform binary (set TERRAFORM_BIN, or install terraform at /usr/local/bin/terraform or on PATH)');

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

  afterAll(async () => {
    await agent?.stop();
    await stack?.close();
  });

  afterEach(() => {
    const failed = (expect.getState() as { currentTestName?: string; assertionCalls?: number }).currentTestName;
    void failed;
  });

  it('terraform init installs the provider from the mirror; apply of examples/terraform, then plan shows no changes', async () => {
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
});
