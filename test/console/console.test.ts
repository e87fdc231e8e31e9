/**
 * The web console in a real browser (Debian's chromium driven by playwright-core) against the
 * real stack: the built api (which serves dist/console at /console/) and worker as child
 * processes, and a fake host agent on loopback that acknowledges the worker's pushes.
 *
 * The operator's part (a project and its token, an address pool, the host) goes through the SDK;
 * everything a tenant does goes through the console's pages only: sign in, create (and edit and
 * delete) networks, a subnet, two endpoints, an address and a gateway (after the API refused a bad value, shown beside
 * its field), see it READY with every host programmed, edit its minimum ports and see the preview
 * before saving, look up who held a NAT IP and port. A screenshot of each page lands in
 * test-results/console/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createNatplaneClient, ok, type NatplaneClient } from '@natplane/sdk';
import { FakeAgent } from '../support/control-loop/fake-agent';
import { ADMIN_TOKEN, ROOT, Stack } from '../support/control-loop/stack';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-results', 'console');
const PROJECT = 'demo';
const REGION = 'r1';
const HOST = 'hv-1';

const describeBrowser = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`console.test skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

describeBrowser('web console, through a browser', () => {
  let stack: Stack | undefined;
  let agent: FakeAgent | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let profile = '';
  let token = '';
  let base = '';
  const pageErrors: string[] = [];

  const shot = async (name: string) => {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const nav = async (label: string) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
    await page.getByRole('heading', { level: 1 }).waitFor();
  };
  const field = (label: string) => page.getByLabel(label, { exact: true });
  /** The API's messages shown beside a field (data-field = the API's field path). */
  const fieldErrors = (apiField: string) => page.locator(`[data-field="${apiField}"] .field-errors`);

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await Stack.start({ file: __filename, redisDb: 9 });
    base = stack.api.baseUrl;
    const admin: NatplaneClient = createNatplaneClient(base, ADMIN_TOKEN);
    await ok(admin.POST('/v1/admin/projects', { body: { name: PROJECT, description: 'console test' } }));
    token = (await ok(admin.POST('/v1/admin/projects/{name}/tokens', { params: { path: { name: PROJECT } } }))).token;
    await ok(admin.POST('/v1/admin/addressPools', { body: { name: 'pool-1', region: REGION, cidrs: ['203.0.113.0/28'] } }));
    agent = new FakeAgent(HOST);
    await agent.start();
    agent.secret = (await ok(admin.POST('/v1/admin/hosts', { body: { name: HOST, region: REGION, zone: `${REGION}-a`, agentUrl: agent.url } }))).pushSecret;

    profile = mkdtempSync(join(tmpdir(), 'natplane-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // without the background-networking flags chromium dials out, and this machine refuses it
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await agent?.stop();
    await stack?.close();
  });

  afterEach(() => {
    expect(pageErrors).toEqual([]);
  });

  it('the api serves the console at /console/ (outside the OpenAPI document)', async () => {
    const res = await fetch(`${base}/console/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<div id="root">');
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/console'))).toEqual([]);
  });

  it('signs in with a project token, with the keyboard only', async () => {
    await page.goto(`${base}/console/`);
    // React renders after the page's load event: wait for the form before using the keyboard.
    await field('Token').waitFor();
    await page.keyboard.press('Tab');
    const focused = () => page.evaluate('document.activeElement && document.activeElement.id');
    expect(await focused()).toBe(await field('Token').getAttribute('id'));
    await page.keyboard.type(token);
    await page.keyboard.press('Tab');
    expect(await focused()).toBe(await field('Project').getAttribute('id'));
    await page.keyboard.type(PROJECT);
    await shot('01-sign-in');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'NAT gateways', level: 1 }).waitFor();
    expect(await page.getByTestId('project').textContent()).toBe(PROJECT);
  });

  it('creates, edits and deletes networks; creates a subnet, two endpoints and an address', async () => {
    await nav('Networks');
    await field('Name').fill('net-1');
    await field('Description').fill('main network');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('Created network net-1.').waitFor();
    await page.getByTestId('row-net-1').waitFor();
    // edit and delete, on a second network
    await field('Name').fill('net-2');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('Created network net-2.').waitFor();
    await page.getByRole('button', { name: 'Edit network net-2' }).click();
    expect(await field('Name').isDisabled()).toBe(true);
    await field('Description').fill('to be deleted');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved network net-2.').waitFor();
    await page.getByTestId('row-net-2').getByText('to be deleted').waitFor();
    await shot('02-networks');
    await page.getByRole('button', { name: 'Delete network net-2' }).click();
    await page.getByRole('button', { name: 'Confirm delete of net-2' }).click();
    await page.getByText('Deleted network net-2.').waitFor();
    await page.getByTestId('row-net-2').waitFor({ state: 'detached' });

    await nav('Subnets');
    await field('Name').fill('sub-1');
    await field('Network').fill('net-1');
    await field('Region').fill(REGION);
    await field('Primary range (CIDR)').fill('10.0.0.0/24');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('Created subnet sub-1.').waitFor();
    await shot('03-subnets');

    await nav('Endpoints');
    for (const [name, ip, device] of [
      ['vm-1', '10.0.0.2', 'tap-vm-1'],
      ['vm-2', '10.0.0.3', ''],
    ]) {
      await field('Name').fill(name);
      await field('Subnet').fill('sub-1');
      await field('Host').fill(HOST);
      if (device) await field('Host interface (optional)').fill(device);
      await field('Network IP').fill(ip);
      await page.getByRole('button', { name: 'Create' }).click();
      await page.getByText(`Created endpoint ${name}.`).waitFor();
    }
    await page.getByTestId('row-vm-2').waitFor();
    // the device the platform named is shown in the list
    expect(await page.getByTestId('row-vm-1').textContent()).toContain('tap-vm-1');
    await shot('04-endpoints');

    await nav('Addresses');
    await field('Name').fill('nat-ip-1');
    await field('Region').fill(REGION);
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('Created address nat-ip-1.').waitFor();
    await shot('05-addresses');
  });

  it("creates a gateway, showing the API's own message beside a wrong field, and sees it READY", async () => {
    await nav('NAT gateways');
    await page.getByRole('link', { name: 'Create a NAT gateway' }).click();
    await field('Name').fill('gw-1');
    await field('Network').fill('net-1');
    await field('Region').fill(REGION);
    await field('NAT IPs (addresses)').fill('nat-ip-1');
    await field('Minimum ports per VM').fill('100000');
    // every field of the form, subnets and rules included, has a label
    await page.getByRole('button', { name: 'Add a subnet' }).click();
    await page.getByRole('button', { name: 'Add a rule' }).click();
    // (a string: this program's types have no DOM)
    const unlabelled = await page.evaluate(`[...document.querySelectorAll('form input, form select, form textarea')]
      .filter((el) => !el.labels.length && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      .map((el) => el.outerHTML)`);
    expect(unlabelled).toEqual([]);
    expect(await page.getByRole('group', { name: 'Subnet 1 ranges to NAT' }).count()).toBe(1);
    await page.getByRole('button', { name: 'Remove subnet 1' }).click();
    await page.getByRole('button', { name: 'Remove rule 1' }).click();
    await page.getByRole('button', { name: 'Create' }).click();
    await fieldErrors('minPortsPerVm').waitFor();
    expect(await fieldErrors('minPortsPerVm').textContent()).toMatch(/57344|minPortsPerVm/);
    expect(await field('Minimum ports per VM').getAttribute('aria-invalid')).toBe('true');
    await shot('06-gateway-form-error');

    await field('Minimum ports per VM').fill('64');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: /NAT gateway gw-1/, level: 1 }).waitFor();
    await page.getByTestId('gateway-state-value').filter({ hasText: 'READY' }).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('hosts-programmed').textContent()).toBe('1 of 1');
    expect(await page.getByTestId('min-extra').textContent()).toBe('0');
    await page.getByTestId('mapping-vm-2').waitFor();
    await shot('07-gateway-ready');

    // the mappings search by endpoint
    await page.getByLabel('Search mappings by endpoint').fill('vm-2');
    await page.getByTestId('mapping-vm-1').waitFor({ state: 'detached' });
    expect(await page.getByTestId('mapping-vm-2').isVisible()).toBe(true);
    await page.getByLabel('Search mappings by endpoint').fill('');
    // the port space: text beside the picture, not colour alone
    const counts = page.locator('[data-testid^="portcounts-"]');
    expect(await counts.first().textContent()).toMatch(/^128 held, 0 draining, \d+ in quarantine, 0 held by another gateway, \d+ free\.$/);
  });

  it('edits the minimum ports: the preview tells what moves and breaks before anything is saved', async () => {
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit NAT gateway gw-1', level: 1 }).waitFor();
    await field('Minimum ports per VM').fill('128');
    await page.getByRole('button', { name: 'Preview the change' }).click();
    const summary = page.getByTestId('preview-summary');
    await summary.waitFor();
    expect(await summary.textContent()).toMatch(/^This change moves \d+ endpoints? and breaks \d+ connections?\.$/);
    await shot('08-gateway-preview');
    // nothing saved yet
    const admin = createNatplaneClient(base, token);
    expect((await ok(admin.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: { project: PROJECT, name: 'gw-1' } } }))).minPortsPerVm).toBe(64);

    await page.getByRole('button', { name: 'Save (as previewed)' }).click();
    await page.getByTestId('ports-per-vm').filter({ hasText: 'min 128' }).waitFor();
    await page.getByTestId('gateway-state-value').filter({ hasText: 'READY' }).waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="mapping-vm-1"] td:nth-child(5)').filter({ hasText: /^128$/ }).waitFor();
    await shot('09-gateway-edited');

    // the blocks the resize released are in quarantine: the status lists them by port with the
    // end of their cool-down, and the picture draws them at their ports with a Q (not colour alone)
    const st = await ok(admin.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path: { project: PROJECT, name: 'gw-1' } } }));
    const quarantine = st.portUtilization.flatMap((u) => u.quarantineRanges);
    expect(quarantine.length).toBeGreaterThan(0);
    for (const q of quarantine) {
      expect(q.range).toMatch(/^\d+\.\d+\.\d+\.\d+:\d+-\d+$/);
      expect(Date.parse(q.until)).toBeGreaterThan(Date.now());
    }
    const cell = page.locator('[data-testid^="cells-"] [data-state="quarantine"]').first();
    await cell.waitFor();
    expect(await cell.textContent()).toBe('Q');
    expect(await cell.getAttribute('title')).toMatch(/in quarantine until /);
    await shot('09b-gateway-quarantine');
  });

  it("draws the gateway's traffic: ports in use against allocated, drops by reason (from a host's report)", async () => {
    const admin = createNatplaneClient(base, token);
    const vm1 = await ok(admin.GET('/v1/projects/{project}/endpoints/{name}', { params: { path: { project: PROJECT, name: 'vm-1' } } }));
    const since = new Date(Date.now() - 60_000).toISOString();
    const figures = (oor: number) => ({
      endpoint: vm1.id,
      ruleNumber: -1,
      since,
      newConnections: 140,
      openConnections: 128,
      sentPackets: 1400,
      sentBytes: 140_000,
      receivedPackets: 1300,
      receivedBytes: 130_000,
      droppedSentPackets: { OUT_OF_RESOURCES: oor, ENDPOINT_INDEPENDENT_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: 0 },
    });
    for (const oor of [0, 12]) {
      await stack!.api.must('POST', `/v1/hosts/${HOST}/reports`, 200, {
        appliedGeneration: 0,
        errors: [],
        usage: [{ endpoint: vm1.id, ruleNumber: -1, portsInUse: 128 }],
        counters: { readAt: new Date().toISOString(), complete: true, endpoints: [figures(oor)], host: { since, droppedReceivedUnsolicited: null, droppedReceivedFragments: null } },
      });
    }
    await page.getByTestId('dropped-oor').filter({ hasText: /^12$/ }).waitFor({ timeout: 20_000 });
    await page.getByTestId('chart-ports').waitFor();
    await page.getByTestId('chart-drops').waitFor();
    expect(await page.getByTestId('chart-drops').locator('figcaption').textContent()).toBe('Packets dropped by reason, per minute');
    expect(await page.getByTestId('chart-drops').locator('canvas').count()).toBe(1);
    expect(await page.locator('[data-testid="mapping-vm-1"] td:nth-child(10)').textContent()).toBe('12');
    // the worker samples the gateway's allocated ports every 15 s: wait for the line, then the picture
    await page.getByTestId('traffic-now').getByText(/^128 \/ 256$/).waitFor({ timeout: 20_000 });
    await page.getByRole('heading', { name: 'Traffic and drops' }).scrollIntoViewIfNeeded();
    await shot('09c-gateway-traffic');
  });

  it('looks up who held a NAT IP and port', async () => {
    const range = (await page.locator('[data-testid="mapping-vm-1"] td:nth-child(4)').textContent()) ?? '';
    const m = /^([\d.]+):(\d+)-(\d+)$/.exec(range.trim());
    expect(m).not.toBeNull();
    await nav('Attribution');
    await field('NAT IP').fill(m![1]);
    await field('Port').fill(String(Number(m![2]) + 5));
    await field('Time').fill(new Date().toISOString());
    await page.getByRole('button', { name: 'Look up' }).click();
    const result = page.getByTestId('attribution-result');
    await result.getByText('vm-1', { exact: true }).waitFor();
    expect(await result.textContent()).toContain(range.trim());
    await shot('10-attribution');
  });

  it('drains an address with a deadline: the form sets maxDrainDurationSec, the page shows each drain and when it ends', async () => {
    const admin = createNatplaneClient(base, token);
    await ok(admin.POST('/v1/projects/{project}/addresses', { params: { path: { project: PROJECT } }, body: { name: 'nat-ip-2', region: REGION } }));
    await nav('NAT gateways');
    await page.getByRole('link', { name: 'gw-1', exact: true }).click();
    await page.getByRole('heading', { name: /NAT gateway gw-1/, level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit NAT gateway gw-1', level: 1 }).waitFor();
    await field('Max drain duration (s)').fill('-5');
    await page.getByRole('button', { name: /^Save/ }).first().click();
    await fieldErrors('maxDrainDurationSec').waitFor();
    expect(await fieldErrors('maxDrainDurationSec').textContent()).toMatch(/0 \(no deadline\) to 86400/);
    await field('NAT IPs (addresses)').fill('nat-ip-2');
    await field('Draining NAT IPs').fill('nat-ip-1');
    await field('Max drain duration (s)').fill('600');
    await page.getByRole('button', { name: /^Save/ }).first().click();
    await page.getByTestId('max-drain').filter({ hasText: '600 s' }).waitFor();
    const drains = page.getByTestId('drains');
    await drains.getByText('nat-ip-1', { exact: true }).waitFor();
    const st = await ok(admin.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path: { project: PROJECT, name: 'gw-1' } } }));
    expect(st.drains).toHaveLength(1);
    expect(Date.parse(st.drains[0].drainDeadline!) - Date.parse(st.drains[0].drainStartTime)).toBe(600_000);
    expect(await drains.textContent()).toContain(st.drains[0].natIp);
    expect(await drains.textContent()).not.toContain('no deadline');
    await shot('11-gateway-drain-deadline');
  });

  it("shows a PRIVATE gateway's type and its rules' NAT ranges, on its page and in its form", async () => {
    const api = createNatplaneClient(base, token);
    const project = { project: PROJECT };
    await ok(api.POST('/v1/projects/{project}/networks', { params: { path: project }, body: { name: 'net-p' } }));
    await ok(api.POST('/v1/projects/{project}/subnets', { params: { path: project }, body: { name: 'sub-p', network: 'net-p', region: REGION, ipCidrRange: '10.0.0.0/24' } }));
    await ok(api.POST('/v1/projects/{project}/subnets', { params: { path: project }, body: { name: 'pnat-p', network: 'net-p', region: REGION, ipCidrRange: '100.64.9.0/29', purpose: 'PRIVATE_NAT' } }));
    await ok(api.POST('/v1/projects/{project}/endpoints', { params: { path: project }, body: { name: 'vm-p', subnet: 'sub-p', host: HOST, hostInterface: 'tap-vm-p', networkIp: '10.0.0.2' } }));
    await ok(
      api.POST('/v1/projects/{project}/natGateways', {
        params: { path: project },
        body: { name: 'gw-p', network: 'net-p', region: REGION, type: 'PRIVATE', rules: [{ ruleNumber: 10, match: "inIpRange(destination.ip, '10.20.0.0/16')", action: { sourceNatActiveRanges: ['pnat-p'] } }] },
      }),
    );
    await nav('NAT gateways');
    await page.getByRole('link', { name: 'gw-p', exact: true }).click();
    await page.getByRole('heading', { name: /NAT gateway gw-p/, level: 1 }).waitFor();
    await page.getByTestId('gateway-state-value').filter({ hasText: 'READY' }).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('gateway-type').textContent()).toMatch(/^PRIVATE \(Private NAT/);
    expect(await page.getByTestId('rule-ranges-10').textContent()).toBe('pnat-p');
    // the rule's mapping is on the range's addresses
    await page.getByTestId('mapping-vm-p').waitFor();
    expect(await page.getByTestId('mapping-vm-p').textContent()).toMatch(/10: 100\.64\.9\.[1-6]:\d+-\d+/);
    await shot('12-private-gateway');
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit NAT gateway gw-p', level: 1 }).waitFor();
    expect(await field('Type').inputValue()).toBe('PRIVATE');
    expect(await field('Rule 1 NAT ranges').inputValue()).toBe('pnat-p');
    // a wrong range is shown beside its field
    await field('Rule 1 NAT ranges').fill('sub-p');
    await page.getByRole('button', { name: /^Save/ }).first().click();
    await fieldErrors('rules[0].action.sourceNatActiveRanges').waitFor();
    expect(await fieldErrors('rules[0].action.sourceNatActiveRanges').textContent()).toMatch(/purpose PRIVATE/);
  });
});
