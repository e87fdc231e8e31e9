/**
 * AUTO_ONLY through the built worker (medium test): the reconciler's full load takes addresses
 * from the region's pools as the allocator asks (ReconcileLoader.takeAutoAddresses), links them
 * to the gateway and maps every endpoint on them; endpoints added later make it take more. No
 * other test drove that path through a worker.
 */
import { byEndpoint, parseRange, World } from '../support/control-loop/world';

jest.setTimeout(90_000);

const P = 'p1';
const POOL = '198.18.7.';
let w: World;

beforeAll(async () => {
  w = await World.start({ file: __filename, redisDb: 4 });
  await w.project(P);
  await w.api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool1', region: 'r1', cidrs: [`${POOL}0/29`] });
  await w.host('h1');
  await w.host('h2');
  await w.create(P, 'networks', { name: 'n1' });
  await w.create(P, 'subnets', { name: 's1', network: 'n1', region: 'r1', ipCidrRange: '10.1.0.0/16' });
}, 120_000);

afterAll(async () => {
  await w?.close();
});

/** The NAT IP of each endpoint's first mapping, by endpoint name. */
async function natIps(): Promise<Map<string, string>> {
  const conv = await w.converged();
  const m = byEndpoint(conv.mappings.get(`${P}/gw`) ?? []);
  return new Map([...m].map(([name, item]) => [name, parseRange(item.natIpPortRanges[0]).natIp]));
}

it('takes one pool address per 32,768-port endpoint, and more when endpoints are added', async () => {
  await w.create(P, 'natGateways', { name: 'gw', network: 'n1', region: 'r1', natIpAllocateOption: 'AUTO_ONLY', minPortsPerVm: 32768 });
  for (let i = 1; i <= 2; i++) await w.create(P, 'endpoints', { name: `e${i}`, subnet: 's1', host: `h${i}`, networkIp: `10.1.0.${i + 10}` });
  const first = await natIps();
  expect([...first.keys()].sort()).toEqual(['e1', 'e2']);
  expect(new Set(first.values()).size).toBe(2);
  for (const ip of first.values()) expect(ip.startsWith(POOL)).toBe(true);

  await w.create(P, 'endpoints', { name: 'e3', subnet: 's1', host: 'h1', networkIp: '10.1.0.13' });
  const second = await natIps();
  expect(new Set(second.values()).size).toBe(3);
  // stability: the endpoints mapped before keep their addresses
  for (const [name, ip] of first) expect(second.get(name)).toBe(ip);
  const [{ n }] = await w.stack.sql<{ n: number }>(`SELECT count(*)::int AS n FROM addresses WHERE auto_allocated`);
  expect(n).toBe(3);
});
