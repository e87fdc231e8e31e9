/**
 * AUTO_ONLY gateways take addresses from the region's pools themselves (the reconciler inserts
 * them with autoAllocated and links them to the gateway). Those addresses are the gateway's: a
 * PATCH that leaves it AUTO_ONLY keeps them (its VMs keep their NAT IPs), and they go back to the
 * pools when the gateway stops being AUTO_ONLY or is deleted. Before: any spec change dropped
 * the links (the reconciler then took new addresses, changing every VM's NAT IP), and the old
 * addresses, like those of a deleted gateway, stayed taken forever.
 */
import { TestApi, expectOk } from '../support/api-harness';

let api: TestApi;

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.project('pa');
  await api.pool('pool', 'r1', ['198.18.40.0/29']);
  await api.network('pa', 'n1');
  await api.subnet('pa', 's1', { network: 'n1', ipCidrRange: '10.0.0.0/24' });
  await api.network('pa', 'n2');
});

afterAll(async () => {
  await api?.close();
});

/** What the reconciler does for an AUTO_ONLY gateway (takeAutoAddresses): an address from the pool, linked. */
async function takeAuto(gateway: string, ip: string): Promise<string> {
  const name = `${gateway}-auto-${ip.replace(/\./g, '-')}`;
  await api.sql(
    `WITH a AS (
       INSERT INTO addresses (id, name, project_id, region, address, pool_id, auto_allocated)
       SELECT gen_random_uuid(), $1, p.id, 'r1', $2::inet, ap.id, true FROM projects p, address_pools ap WHERE p.name = 'pa' AND ap.name = 'pool'
       RETURNING id)
     INSERT INTO gateway_addresses (address_id, gateway_id, rule_number, draining)
     SELECT a.id, g.id, -1, false FROM a, nat_gateways g WHERE g.name = $3`,
    [name, ip, gateway],
  );
  return name;
}

async function addressNames(): Promise<string[]> {
  const r = expectOk(await api.get('/v1/projects/pa/addresses'));
  return (r.items as { name: string }[]).map((a) => a.name).sort();
}

async function linked(gateway: string): Promise<number> {
  const [row] = await api.sql<{ n: number }>(`SELECT count(*)::int AS n FROM gateway_addresses ga JOIN nat_gateways g ON g.id = ga.gateway_id WHERE g.name = $1`, [gateway]);
  return row.n;
}

describe('addresses an AUTO_ONLY gateway took', () => {
  it('stay with it through a PATCH that leaves it AUTO_ONLY', async () => {
    await api.gateway('pa', 'gw-a', { network: 'n1', natIpAllocateOption: 'AUTO_ONLY' });
    const name = await takeAuto('gw-a', '198.18.40.1');
    expectOk(await api.patch('/v1/projects/pa/natGateways/gw-a', { udpIdleTimeoutSec: 45 }));
    expect(await linked('gw-a')).toBe(1);
    expect(await addressNames()).toContain(name);
  });

  it('go back to the pools when it becomes MANUAL_ONLY', async () => {
    await api.address('pa', 'mine');
    expectOk(await api.patch('/v1/projects/pa/natGateways/gw-a', { natIpAllocateOption: 'MANUAL_ONLY', natIps: ['mine'] }));
    expect(await addressNames()).toEqual(['mine']);
    expect(await linked('gw-a')).toBe(1);
  });

  it('go back to the pools when it is deleted, and the next gateway can take them', async () => {
    await api.gateway('pa', 'gw-b', { network: 'n2', natIpAllocateOption: 'AUTO_ONLY' });
    await takeAuto('gw-b', '198.18.40.5');
    expectOk(await api.del('/v1/projects/pa/natGateways/gw-a'), 204);
    expect(await addressNames()).toEqual(['gw-b-auto-198-18-40-5', 'mine']);
    expect(await api.del('/v1/projects/pa/natGateways/gw-b')).toMatchObject({ status: 204 });
    expect(await addressNames()).toEqual(['mine']);
    const [{ n }] = await api.sql<{ n: number }>(`SELECT count(*)::int AS n FROM addresses WHERE auto_allocated`);
    expect(n).toBe(0);
    await api.gateway('pa', 'gw-c', { network: 'n1', natIpAllocateOption: 'AUTO_ONLY' });
    await takeAuto('gw-c', '198.18.40.5');
    expect(await linked('gw-c')).toBe(1);
  });
});
