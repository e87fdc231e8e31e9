/**
 * Idempotency-Key on create (API.md): a retry with the same key and body returns the first
 * response byte for byte and creates nothing more; the same key with another body -> 422;
 * concurrent duplicates create exactly one row.
 */
import { expectOk, expectProblem, TestApi, type ApiResponse } from '../support/api-harness';

let api: TestApi;
const P = 'p1';
const base = `/v1/projects/${P}`;
let seq = 0;
const uniq = (prefix: string) => `${prefix}-${++seq}`;

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.project(P);
  await api.project('p2');
  await api.host('h1', 'r1');
  await api.pool('pool1', 'r1', ['198.18.0.0/24']);
  await api.network(P, 'net');
  await api.subnet(P, 'sub', { network: 'net', ipCidrRange: '10.0.0.0/24' });
});

afterAll(async () => {
  await api?.close();
});

const withKey = (key: string) => ({ headers: { 'idempotency-key': key } });

async function rows(table: string, name: string): Promise<number> {
  const [r] = await api.sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE name = $1`, [name]);
  return Number(r.n);
}

function expectSameResponse(a: ApiResponse, b: ApiResponse): void {
  expect(b.status).toBe(a.status);
  expect(b.text).toBe(a.text);
  expect(b.headers.location).toBe(a.headers.location);
  expect(b.contentType.split(';')[0]).toBe(a.contentType.split(';')[0]);
}

describe('replay', () => {
  it.each([
    ['networks', 'networks', () => ({ name: uniq('n'), labels: { a: 'b' } })],
    ['addresses', 'addresses', () => ({ name: uniq('a'), region: 'r1' })],
    ['endpoints', 'endpoints', () => ({ name: uniq('e'), subnet: 'sub', host: 'h1', networkIp: `10.0.0.${++seq % 200 + 2}` })],
  ])('%s: same key and body -> the first response, byte for byte, one row', async (collection, table, body) => {
    const b = body();
    const key = uniq('key');
    const first = await api.post(`${base}/${collection}`, b, withKey(key));
    expectOk(first, 201);
    const second = await api.post(`${base}/${collection}`, b, withKey(key));
    expectSameResponse(first, second);
    const third = await api.post(`${base}/${collection}`, b, withKey(key));
    expectSameResponse(first, third);
    expect(await rows(table, b.name)).toBe(1);
  });

  it('natGateways: replay returns the first response even after the gateway changed', async () => {
    const a = uniq('a');
    await api.address(P, a, 'r1');
    const net = uniq('n');
    await api.network(P, net);
    const body = { name: uniq('gw'), network: net, region: 'r1', natIps: [a], rules: [] };
    const key = uniq('key');
    const first = await api.post(`${base}/natGateways`, body, withKey(key));
    expectOk(first, 201);
    await api.patch(`${base}/natGateways/${body.name}`, { udpIdleTimeoutSec: 77 });
    const again = await api.post(`${base}/natGateways`, body, withKey(key));
    expectSameResponse(first, again);
    expect(await rows('nat_gateways', body.name)).toBe(1);
    expect((await api.get(`${base}/natGateways/${body.name}`)).body.udpIdleTimeoutSec).toBe(77);
  });

  it('replay after the resource was deleted returns the first response and creates nothing', async () => {
    const body = { name: uniq('n') };
    const key = uniq('key');
    const first = await api.post(`${base}/networks`, body, withKey(key));
    expectOk(first, 201);
    expect((await api.del(`${base}/networks/${body.name}`)).status).toBe(204);
    const again = await api.post(`${base}/networks`, body, withKey(key));
    expectSameResponse(first, again);
    expect(await rows('networks', body.name)).toBe(0);
  });

  it('the same body with the members in another order is the same request', async () => {
    const name = uniq('n');
    const key = uniq('key');
    const first = await api.req('POST', `${base}/networks`, { raw: JSON.stringify({ name, description: 'd' }), ...withKey(key) });
    expectOk(first, 201);
    const again = await api.req('POST', `${base}/networks`, { raw: `{ "name" : "${name}",\n "description": "d" }`, ...withKey(key) });
    expectSameResponse(first, again);
    expect(await rows('networks', name)).toBe(1);
  });

  it('without a key, a retry is a duplicate -> 409', async () => {
    const body = { name: uniq('n') };
    expectOk(await api.post(`${base}/networks`, body), 201);
    expectProblem(await api.post(`${base}/networks`, body), 409);
  });
});

describe('mismatch', () => {
  it('same key, another body -> 422 problem, nothing created', async () => {
    const key = uniq('key');
    const n1 = uniq('n');
    expectOk(await api.post(`${base}/networks`, { name: n1 }, withKey(key)), 201);
    const n2 = uniq('n');
    expectProblem(await api.post(`${base}/networks`, { name: n2 }, withKey(key)), 422);
    expectProblem(await api.post(`${base}/networks`, { name: n1, description: 'other' }, withKey(key)), 422);
    expect(await rows('networks', n2)).toBe(0);
    // the key still replays its own body
    expect((await api.post(`${base}/networks`, { name: n1 }, withKey(key))).status).toBe(201);
  });

  it('same key and body on another collection -> 422', async () => {
    const key = uniq('key');
    const name = uniq('x');
    expectOk(await api.post(`${base}/networks`, { name }, withKey(key)), 201);
    const r = await api.post(`${base}/addresses`, { name }, withKey(key));
    expect(r.status).toBe(422);
    expect(await rows('addresses', name)).toBe(0);
  });

  it('keys are per caller: two projects may use the same key', async () => {
    const [ta, tb] = [await api.projectToken(P), await api.projectToken('p2')];
    const key = uniq('shared');
    const a = await api.post(`${base}/networks`, { name: 'same' }, { token: ta, ...withKey(key) });
    const b = await api.post('/v1/projects/p2/networks', { name: 'same' }, { token: tb, ...withKey(key) });
    expectOk(a, 201);
    expectOk(b, 201);
    expect(b.body.selfLink).toMatch(/\/projects\/p2\/networks\/same$/);
    expect(b.body.id).not.toBe(a.body.id);
  });

  it('a failed request is not stored: the corrected retry with the same key succeeds', async () => {
    const key = uniq('key');
    const name = uniq('n');
    expectProblem(await api.post(`${base}/networks`, { name, bogus: 1 }, withKey(key)), 400);
    expectProblem(await api.post(`${base}/networks`, { name: 'Bad Name' }, withKey(key)), 400);
    expectOk(await api.post(`${base}/networks`, { name }, withKey(key)), 201);
  });

  it.each([['x'.repeat(256)], ['has space'], ['tab\there'], ['ünïcode']])('a malformed key %j -> 400 and nothing created', async (key) => {
    const name = uniq('n');
    const r = await api.post(`${base}/networks`, { name }, withKey(key)).catch((e: Error) => ({ status: 400, thrown: e.message }) as unknown as ApiResponse);
    if ('thrown' in r) return; // the HTTP layer itself refused the header value
    expectProblem(r, 400);
    expect(await rows('networks', name)).toBe(0);
  });
});

describe('concurrency', () => {
  it('20 identical requests at once -> all 201 with identical bodies, exactly one row', async () => {
    const body = { name: uniq('race'), labels: { k: 'v' } };
    const key = uniq('key');
    const rs = await Promise.all(Array.from({ length: 20 }, () => api.post(`${base}/networks`, body, withKey(key))));
    for (const r of rs) {
      expect(r.status).toBe(201);
      expect(r.text).toBe(rs[0].text);
      expect(r.headers.location).toBe(rs[0].headers.location);
    }
    expect(await rows('networks', body.name)).toBe(1);
    const list = expectOk(await api.get(`${base}/networks`, { query: { filter: `name = ${body.name}` } }));
    expect(list.items).toHaveLength(1);
    expect(list.items[0].id).toBe(rs[0].body.id);
  });

  it('20 identical gateway creates at once -> one gateway, one address use', async () => {
    const a = uniq('a');
    await api.address(P, a, 'r1');
    const net = uniq('n');
    await api.network(P, net);
    const body = { name: uniq('gw'), network: net, region: 'r1', natIps: [a] };
    const key = uniq('key');
    const rs = await Promise.all(Array.from({ length: 20 }, () => api.post(`${base}/natGateways`, body, withKey(key))));
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(rs.map((r) => r.text)).size).toBe(1);
    expect(await rows('nat_gateways', body.name)).toBe(1);
    const [g] = await api.sql<{ n: string }>('SELECT count(*)::text AS n FROM gateway_addresses ga JOIN nat_gateways g ON g.id = ga.gateway_id WHERE g.name = $1', [body.name]);
    expect(Number(g.n)).toBe(1);
  });

  it('20 creates of one name with different keys at once -> one 201, nineteen 409', async () => {
    const name = uniq('race');
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post(`${base}/networks`, { name }, withKey(`${name}-k${i}`))));
    const statuses = rs.map((r) => r.status).sort();
    expect(statuses).toEqual([201, ...Array(19).fill(409)]);
    for (const r of rs.filter((x) => x.status === 409)) expectProblem(r, 409);
    expect(await rows('networks', name)).toBe(1);
  });

  it('20 creates of one name without keys at once -> one 201, nineteen 409 (never 500)', async () => {
    const name = uniq('race');
    const rs = await Promise.all(Array.from({ length: 20 }, () => api.post(`${base}/addresses`, { name, region: 'r1' })));
    expect(rs.map((r) => r.status).sort()).toEqual([201, ...Array(19).fill(409)]);
    expect(await rows('addresses', name)).toBe(1);
  });

  it('10 concurrent address reservations without a given address get 10 distinct addresses', async () => {
    const names = Array.from({ length: 10 }, () => uniq('addr'));
    const rs = await Promise.all(names.map((name) => api.post(`${base}/addresses`, { name, region: 'r1' })));
    expect(rs.map((r) => r.status)).toEqual(Array(10).fill(201));
    expect(new Set(rs.map((r) => r.body.address)).size).toBe(10);
  });
});

describe('secrets shown once (issue 13, item 6): never kept in idempotency_keys, never replayed', () => {
  /** Every stored response, as text. */
  async function storedText(): Promise<string> {
    const rs = await api.sql<{ b: string; h: string }>('SELECT response_body AS b, response_headers::text AS h FROM idempotency_keys');
    return rs.map((r) => `${r.b} ${r.h}`).join('\n');
  }

  it('a project token: the first answer carries it, nothing stored does, a replay is a 409 that says why', async () => {
    const key = uniq('key');
    const first = await api.post(`/v1/admin/projects/${P}/tokens`, undefined, withKey(key));
    const { token } = expectOk<{ token: string }>(first, 201);
    expect(token).toMatch(/^npp_/);
    expect(await storedText()).not.toContain(token);
    // The token works, and is stored hashed only.
    expectOk(await api.get(`${base}/networks`, { token }));
    const again = await api.post(`/v1/admin/projects/${P}/tokens`, undefined, withKey(key));
    const p = expectProblem(again, 409);
    expect(p.detail).toMatch(/already applied.*shown once/i);
    expect(again.text).not.toContain(token);
    // Still one token issued by the two requests (the replay issued none).
    const [{ n }] = await api.sql<{ n: string }>(`SELECT count(*)::text AS n FROM api_tokens t JOIN projects p ON p.id = t.project_id WHERE p.name = $1`, [P]);
    const before = Number(n);
    expectProblem(await api.post(`/v1/admin/projects/${P}/tokens`, undefined, withKey(key)), 409);
    const [{ n: after }] = await api.sql<{ n: string }>(`SELECT count(*)::text AS n FROM api_tokens t JOIN projects p ON p.id = t.project_id WHERE p.name = $1`, [P]);
    expect(Number(after)).toBe(before);
  });

  it('a host: hostToken and pushSecret are in the first answer only; a replay is a 409 with the Location of the host', async () => {
    const key = uniq('key');
    const body = { name: uniq('h'), region: 'r1', zone: 'r1-a', agentUrl: 'http://127.0.0.1:1' };
    const first = await api.post('/v1/admin/hosts', body, withKey(key));
    const created = expectOk(first, 201);
    expect(typeof created.hostToken).toBe('string');
    expect(typeof created.pushSecret).toBe('string');
    const stored = await storedText();
    expect(stored).not.toContain(created.hostToken);
    expect(stored).not.toContain(created.pushSecret);
    // What is stored is the host without its secrets (the id, to point at it).
    expect(stored).toContain(created.id);
    const again = await api.post('/v1/admin/hosts', body, withKey(key));
    const p = expectProblem(again, 409);
    expect(p.detail).toMatch(/hostToken and pushSecret/);
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.text).not.toContain(created.hostToken);
    expect(await rows('hosts', body.name)).toBe(1);
  });

  it('10 identical host creates at once: one 201 with the secrets, nine 409, one host', async () => {
    const key = uniq('key');
    const body = { name: uniq('h'), region: 'r1', zone: 'r1-a', agentUrl: 'http://127.0.0.1:1' };
    const rs = await Promise.all(Array.from({ length: 10 }, () => api.post('/v1/admin/hosts', body, withKey(key))));
    expect(rs.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(409)]);
    expect(await rows('hosts', body.name)).toBe(1);
  });
});
