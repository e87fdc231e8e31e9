/**
 * Property-based fuzzing of every POST and PATCH route (and the query of every list route) with
 * bodies that are invalid by construction: a valid body plus an unknown field, a valid body with
 * one field of the wrong type, JSON that is not an object, text that is not JSON, wrong content
 * types, huge and deeply nested junk, with junk If-Match and Idempotency-Key headers. Every answer
 * must be a 4xx application/problem+json (never 5xx, never 2xx) and no row of any table may change.
 *
 * And the classes an independent probe found (issue 13), on every route and the host reports:
 * a NUL or a lone UTF-16 surrogate in any string of a valid body (a value at any depth, a member
 * name), in a path parameter and in a query parameter; bodies nested past the walk's limit, up to
 * 20,000 levels; every accepted number beyond the column it lands in.
 */
import fc from 'fast-check';
import { expectOk, PROBLEM_JSON, TestApi, type ApiResponse } from '../support/api-harness';

let api: TestApi;
let baseline: Record<string, string>;
let hostToken: string;
const P = 'p1';

type Kind = 'string' | 'int' | 'bool' | 'array' | 'object';

interface Route {
  /** Collection path. */
  path: string;
  /** An existing resource to PATCH. */
  existing: string;
  /** A valid create body (checked to be valid, under another name, before fuzzing). */
  valid: (name: string) => Record<string, unknown>;
  /** Known input fields and their JSON kinds. */
  fields: Record<string, Kind>;
}

const COMMON: Record<string, Kind> = { name: 'string', description: 'string', labels: 'object' };

const ROUTES: Route[] = [
  { path: '/v1/admin/projects', existing: P, valid: (name) => ({ name }), fields: COMMON },
  {
    path: '/v1/admin/hosts',
    existing: 'h1',
    valid: (name) => ({ name, region: 'r1', zone: 'r1-a', agentUrl: 'http://10.0.0.1:8081' }),
    fields: { ...COMMON, region: 'string', zone: 'string', agentUrl: 'string' },
  },
  {
    path: '/v1/admin/addressPools',
    existing: 'pool1',
    valid: (name) => ({ name, region: 'r9', cidrs: [name === 'fuzz-valid' ? '192.0.2.0/25' : '192.0.2.128/25'] }),
    fields: { ...COMMON, region: 'string', cidrs: 'array' },
  },
  { path: `/v1/projects/${P}/networks`, existing: 'net', valid: (name) => ({ name }), fields: COMMON },
  {
    path: `/v1/projects/${P}/subnets`,
    existing: 'sub',
    valid: (name) => ({ name, network: 'net', region: 'r1', ipCidrRange: name === 'fuzz-valid' ? '10.1.0.0/24' : '10.2.0.0/24', secondaryIpRanges: [] }),
    fields: { ...COMMON, network: 'string', region: 'string', ipCidrRange: 'string', secondaryIpRanges: 'array', purpose: 'string' },
  },
  {
    path: `/v1/projects/${P}/endpoints`,
    existing: 'ep',
    valid: (name) => ({ name, subnet: 'sub', host: 'h1', networkIp: name === 'fuzz-valid' ? '10.0.0.3' : '10.0.0.4', aliasIpRanges: [] }),
    fields: { ...COMMON, subnet: 'string', host: 'string', networkIp: 'string', aliasIpRanges: 'array', canIpForward: 'bool', forwardedIpRanges: 'array' },
  },
  {
    path: `/v1/projects/${P}/addresses`,
    existing: 'addr',
    valid: (name) => ({ name, region: 'r1' }),
    fields: { ...COMMON, region: 'string', address: 'string' },
  },
  {
    path: `/v1/projects/${P}/natGateways`,
    existing: 'gw',
    valid: (name) => ({ name, network: name === 'fuzz-valid' ? 'net2' : 'net3', region: 'r1', enableDynamicPortAllocation: false, logConfig: { enable: false } }),
    fields: {
      ...COMMON,
      network: 'string',
      region: 'string',
      type: 'string',
      natIpAllocateOption: 'string',
      natIps: 'array',
      drainNatIps: 'array',
      maxDrainDurationSec: 'int',
      sourceSubnetworkIpRangesToNat: 'string',
      subnetworks: 'array',
      minPortsPerVm: 'int',
      maxPortsPerVm: 'int',
      enableDynamicPortAllocation: 'bool',
      enableEndpointIndependentMapping: 'bool',
      udpIdleTimeoutSec: 'int',
      icmpIdleTimeoutSec: 'int',
      tcpEstablishedIdleTimeoutSec: 'int',
      tcpTransitoryIdleTimeoutSec: 'int',
      tcpTimeWaitTimeoutSec: 'int',
      logConfig: 'object',
      rules: 'array',
    },
  },
];

const LIST_PATHS = ROUTES.map((r) => r.path);

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.project(P);
  hostToken = (await api.host('h1', 'r1')).hostToken as string;
  await api.pool('pool1', 'r1', ['198.18.0.0/24']);
  await api.network(P, 'net');
  await api.network(P, 'net2');
  await api.network(P, 'net3');
  await api.subnet(P, 'sub', { network: 'net', ipCidrRange: '10.0.0.0/24', secondaryIpRanges: [{ rangeName: 'pods', ipCidrRange: '10.4.0.0/16' }] });
  await api.endpoint(P, 'ep', { subnet: 'sub', host: 'h1', networkIp: '10.0.0.2' });
  await api.address(P, 'addr', 'r1');
  await api.address(P, 'addr2', 'r1');
  await api.gateway(P, 'gw', { network: 'net', natIps: ['addr'], rules: [{ ruleNumber: 1, match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: ['addr2'] } }] });
}, 60_000);

afterAll(async () => {
  await api?.close();
});

// ------------------------------------------------------------------------------------------------
// Arbitraries
// ------------------------------------------------------------------------------------------------

const visibleAscii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), visibleAscii);
/** Arbitrary JSON, deep and wide at times. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, '', 0, -1, 1e308, true, [], {}, [[[]]], { a: { b: { c: {} } } }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 50 }).map((d) => nest(d)) },
);

function nest(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

/** Unknown member names, Object.prototype's among them (`__proto__`, `constructor`, `toString`...). */
const unknownKey = fc.oneof(
  fc.constantFrom('id', 'selfLink', 'etag', 'generation', 'status', 'creationTimestamp', 'users', 'hostToken', 'pushSecret', '__proto__', 'constructor', 'toString', 'hasOwnProperty'),
  anyText.map((s) => `x_${s}`),
);

/** A JSON value that is not of `kind` (and not null: null means "default" in a merge patch). */
function wrongTypeFor(kind: Kind): fc.Arbitrary<unknown> {
  const str = anyText;
  const int = fc.integer();
  const dbl = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d));
  const bool = fc.boolean();
  const arr = fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 4 });
  const obj = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 4 });
  switch (kind) {
    case 'string':
      return fc.oneof(int, dbl, bool, arr, obj);
    case 'int':
      return fc.oneof(str, dbl, bool, arr, obj);
    case 'bool':
      return fc.oneof(str, int, arr, obj, fc.constantFrom('true', 'false', 0, 1));
    case 'array':
      return fc.oneof(str, int, bool, obj);
    case 'object':
      return fc.oneof(str, int, bool, arr);
  }
}

/** JSON text of `obj` with extra members appended as raw text (so `__proto__` is a real member). */
function withMembers(obj: Record<string, unknown>, extra: Array<[string, unknown]>): string {
  const inner = JSON.stringify(obj).slice(1, -1);
  const more = extra.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`);
  return `{${[inner, ...more].filter((x) => x !== '').join(',')}}`;
}

interface Call {
  method: 'POST' | 'PATCH';
  url: string;
  raw: string | Buffer;
  contentType: string;
  headers: Record<string, string>;
}

const target = fc.record({ route: fc.constantFrom(...ROUTES), method: fc.constantFrom<'POST' | 'PATCH'>('POST', 'PATCH') });

const junkHeaders = fc.record(
  {
    'if-match': fc.oneof(visibleAscii, fc.constantFrom('*', '"x"', 'W/"abc"', '"', ',,,', '*,*')),
    'idempotency-key': fc.oneof(visibleAscii, fc.constant('k'.repeat(300))),
  },
  { requiredKeys: [] },
);

function urlOf(route: Route, method: 'POST' | 'PATCH'): string {
  return method === 'POST' ? route.path : `${route.path}/${route.existing}`;
}

// ------------------------------------------------------------------------------------------------
// The oracle
// ------------------------------------------------------------------------------------------------

async function send(c: Call): Promise<ApiResponse> {
  return api.req(c.method, c.url, { raw: c.raw, contentType: c.contentType, headers: c.headers });
}

async function expectRejected(c: Call): Promise<void> {
  const before = await api.fingerprint();
  const rowsBefore = process.env.FUZZ_DEBUG ? await dumpRows() : undefined;
  const r = await send(c);
  const shown = typeof c.raw === 'string' ? c.raw.slice(0, 400) : `<${c.raw.length} bytes>`;
  const ok = r.status >= 400 && r.status < 500 && r.contentType.startsWith(PROBLEM_JSON) && typeof r.body?.status === 'number' && r.body.status === r.status;
  if (!ok) {
    throw new Error(`${c.method} ${c.url} [${c.contentType}] ${JSON.stringify(c.headers)} ${shown}\n -> ${r.status} ${r.contentType} ${r.text.slice(0, 600)}`);
  }
  const after = await api.fingerprint();
  const changed = Object.keys(after).filter((t) => after[t] !== before[t]);
  if (changed.length) {
    const detail = rowsBefore ? `\nbefore: ${JSON.stringify(pick(rowsBefore, changed))}\nafter: ${JSON.stringify(pick(await dumpRows(), changed))}` : '';
    throw new Error(`${c.method} ${c.url} ${JSON.stringify(c.headers)} ${shown} -> ${r.status} ${r.text.slice(0, 300)} but tables changed: ${changed.join(', ')}${detail}`);
  }
}

async function dumpRows(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of ['projects', 'hosts', 'address_pools', 'networks', 'subnets', 'endpoints', 'addresses', 'nat_gateways', 'gateway_addresses', 'gateway_subnets', 'api_tokens', 'idempotency_keys']) {
    out[t] = await api.sql(`SELECT * FROM ${t} ORDER BY 1, 2`);
  }
  return out;
}

function pick<T>(o: Record<string, T>, keys: string[]): Record<string, T> {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const params = (n = RUNS) => ({ numRuns: n, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: false });

// ------------------------------------------------------------------------------------------------

describe('fuzz: POST and PATCH', () => {
  it('the valid base bodies are valid (so every mutation below is what makes a body invalid)', async () => {
    for (const route of ROUTES) {
      const r = await api.post(route.path, route.valid('fuzz-valid'));
      if (r.status !== 201) throw new Error(`${route.path}: ${r.status} ${r.text}`);
    }
  });

  it('a valid body plus unknown members -> 4xx problem, nothing changes', async () => {
    await fc.assert(
      fc.asyncProperty(target, fc.array(fc.tuple(unknownKey, junk), { minLength: 1, maxLength: 3 }), junkHeaders, async ({ route, method }, extra, headers) => {
        const body = method === 'POST' ? route.valid('fuzz-new') : {};
        await expectRejected({ method, url: urlOf(route, method), raw: withMembers(body, extra), contentType: 'application/json', headers });
      }),
      params(),
    );
  });

  it('a valid body with one known field of the wrong type -> 4xx problem, nothing changes', async () => {
    const arb = target.chain(({ route, method }) =>
      fc.constantFrom(...Object.keys(route.fields)).chain((field) => wrongTypeFor(route.fields[field]).map((value) => ({ route, method, field, value }))),
    );
    await fc.assert(
      fc.asyncProperty(arb, junkHeaders, async ({ route, method, field, value }, headers) => {
        const body = { ...(method === 'POST' ? route.valid('fuzz-new') : {}), [field]: value };
        await expectRejected({ method, url: urlOf(route, method), raw: JSON.stringify(body), contentType: 'application/json', headers });
      }),
      params(RUNS * 2),
    );
  });

  it('nested junk inside known list and object fields of a gateway -> 4xx problem, nothing changes', async () => {
    const gwRoute = ROUTES.find((r) => r.path.endsWith('/natGateways'))!;
    const item = fc.oneof(
      fc.record({ ruleNumber: fc.oneof(fc.integer({ min: -5, max: 70000 }), anyText), match: fc.oneof(anyText, fc.integer()), action: junk, extra: junk }, { requiredKeys: ['extra'] }),
      fc.record({ name: fc.oneof(anyText, fc.integer()), sourceIpRangesToNat: junk, secondaryIpRangeNames: junk, zz: junk }, { requiredKeys: ['zz'] }),
    );
    const field = fc.constantFrom('rules', 'subnetworks', 'natIps', 'drainNatIps');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<'POST' | 'PATCH'>('POST', 'PATCH'), field, fc.array(item, { minLength: 1, maxLength: 3 }), async (method, f, items) => {
        const body = { ...(method === 'POST' ? gwRoute.valid('fuzz-new') : {}), [f]: items };
        await expectRejected({ method, url: urlOf(gwRoute, method), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
      }),
      params(),
    );
  });

  it('maxDrainDurationSec: any number -> 200 with it echoed when a whole second count from 0 to 86400, else 400 naming it; never a 5xx', async () => {
    const gwRoute = ROUTES.find((r) => r.path.endsWith('/natGateways'))!;
    const value = fc.oneof(
      fc.integer({ min: -100, max: 90_000 }),
      fc.constantFrom(0, 86400, 86401, -0, 2 ** 31, -(2 ** 31), 2 ** 53, 1e308, 0.5),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    );
    await fc.assert(
      fc.asyncProperty(value, fc.constantFrom<'POST' | 'PATCH'>('POST', 'PATCH'), async (v, method) => {
        const body = { ...(method === 'POST' ? gwRoute.valid('fuzz-new') : {}), maxDrainDurationSec: v };
        const valid = Number.isInteger(v) && v >= 0 && v <= 86400;
        if (!valid) {
          await expectRejected({ method, url: urlOf(gwRoute, method), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
          const r = await send({ method, url: urlOf(gwRoute, method), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
          expect({ v, fields: (r.body.errors as { field: string }[]).map((e) => e.field) }).toEqual({ v, fields: ['maxDrainDurationSec'] });
          return;
        }
        if (method === 'POST') return; // a valid create would add a gateway: the PATCH case covers the echo
        const r = await send({ method, url: urlOf(gwRoute, method), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
        expect({ v, status: r.status, echoed: r.body?.maxDrainDurationSec }).toEqual({ v, status: 200, echoed: v === 0 ? 0 : v });
      }),
      params(),
    );
  });

  it('forwarding fields of an endpoint (canIpForward, forwardedIpRanges): 200 or 400 naming one of them; never a 5xx', async () => {
    const epRoute = ROUTES.find((r) => r.path.endsWith('/endpoints'))!;
    const range = fc.oneof(
      fc.constantFrom('192.168.1.0/24', '192.168.0.0/16', '10.0.0.0/24', '10.0.0.2/32', '0.0.0.0/0', '192.168.1.1/24', '10.4.0.0/16', '300.0.0.0/8', '', '/'),
      fc.tuple(fc.nat(255), fc.nat(255), fc.integer({ min: 0, max: 33 })).map(([a, b, len]) => `172.${a}.${b}.0/${len}`),
      anyText,
      junk,
    );
    const body = fc.record({ canIpForward: fc.oneof(fc.boolean(), fc.constant(null), junk), forwardedIpRanges: fc.oneof(fc.array(range, { maxLength: 4 }), fc.constant(null), junk) }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const r = await send({ method: 'PATCH', url: urlOf(epRoute, 'PATCH'), raw: JSON.stringify(b), contentType: 'application/json', headers: {} });
        if (r.status === 200) return;
        const fields = ((r.body?.errors ?? []) as { field: string }[]).map((e) => e.field);
        expect({ b, status: r.status, problem: r.contentType.startsWith(PROBLEM_JSON), named: fields.length > 0 && fields.every((f) => /^(canIpForward|forwardedIpRanges)/.test(f)) }).toEqual({
          b,
          status: 400,
          problem: true,
          named: true,
        });
      }),
      params(),
    );
    // leave the endpoint as it was for the other properties
    expectOk(await api.patch(`${epRoute.path}/${epRoute.existing}`, { canIpForward: null, forwardedIpRanges: null }));
  });

  it('rule matches over source.ip, destination.ip or both: 200 or 400 naming the rule match; never a 5xx', async () => {
    const gwRoute = ROUTES.find((r) => r.path.endsWith('/natGateways'))!;
    const term = fc.oneof(
      fc.tuple(fc.constantFrom('source', 'destination', 'sorce', 'source.ip'), fc.constantFrom('192.168.1.0/24', '10.0.0.2/32', '10.0.0.1/24', '1.2.3.4')).map(([s, c]) => `inIpRange(${s}.ip, '${c}')`),
      fc.tuple(fc.constantFrom('source', 'destination'), fc.constantFrom('10.0.0.2', '192.0.2.1', '10.0.0.0/24')).map(([s, ip]) => `${s}.ip == '${ip}'`),
      anyText,
    );
    const match = fc.array(term, { minLength: 1, maxLength: 3 }).map((ts) => ts.join(' || '));
    await fc.assert(
      fc.asyncProperty(match, async (m) => {
        const body = { rules: [{ ruleNumber: 1, description: 'rule one', match: m, action: { sourceNatActiveIps: ['addr2'] } }] };
        const r = await send({ method: 'PATCH', url: urlOf(gwRoute, 'PATCH'), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
        if (r.status === 200) return;
        const fields = ((r.body?.errors ?? []) as { field: string }[]).map((e) => e.field);
        expect({ m, status: r.status, fields }).toEqual({ m, status: 400, fields: ['rules[0].match'] });
      }),
      params(),
    );
    expectOk(await api.patch(`${gwRoute.path}/${gwRoute.existing}`, { rules: [{ ruleNumber: 1, description: 'rule one', match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: ['addr2'] } }] }));
  });

  it('Private NAT (type, rules[].action.sourceNatActiveRanges): 200, 400 naming a field, or 409; never a 5xx', async () => {
    const base = `/v1/projects/${P}`;
    // a network of its own (the routes' valid bodies use net2 and net3): a PRIVATE_NAT subnet, a
    // larger one, a plain one, and a PRIVATE gateway to PATCH; gone again at the end
    await api.network(P, 'net-priv');
    await api.subnet(P, 'pnat', { network: 'net-priv', ipCidrRange: '100.64.0.0/28', purpose: 'PRIVATE_NAT' });
    await api.subnet(P, 'pnat-big', { network: 'net-priv', ipCidrRange: '100.66.0.0/22', purpose: 'PRIVATE_NAT' });
    await api.subnet(P, 'sub3', { network: 'net-priv', ipCidrRange: '10.0.0.0/24' });
    const valid = { ruleNumber: 1, match: "inIpRange(destination.ip, '10.20.0.0/16')", action: { sourceNatActiveRanges: ['pnat'] } };
    await api.gateway(P, 'gwp', { network: 'net-priv', type: 'PRIVATE', rules: [valid] });
    const ref = fc.oneof(fc.constantFrom('pnat', 'pnat-big', 'sub3', 'sub', 'nope', `projects/${P}/subnets/pnat`, `projects/${P}/addresses/addr`, ''), anyText, junk);
    const refs = fc.oneof({ weight: 4, arbitrary: fc.array(ref, { maxLength: 3 }) }, { weight: 1, arbitrary: junk });
    const action = fc.record(
      { sourceNatActiveRanges: refs, sourceNatActiveIps: fc.oneof(fc.constant(['addr2']), fc.constant([]), junk), sourceNatDrainIps: fc.oneof(fc.constant([]), junk) },
      { requiredKeys: [] },
    );
    const match = fc.constantFrom("inIpRange(destination.ip, '10.20.0.0/16')", "destination.ip == '10.30.0.1'", "inIpRange(source.ip, '10.0.0.0/24')", 'x');
    const rule = fc.record({ ruleNumber: fc.oneof(fc.integer({ min: 0, max: 3 }), junk), match, action: fc.oneof({ weight: 5, arbitrary: action }, { weight: 1, arbitrary: junk }) }, { requiredKeys: ['ruleNumber', 'match'] });
    const body = fc.record(
      {
        type: fc.oneof(fc.constantFrom('PRIVATE', 'PUBLIC', 'private', null), junk),
        natIps: fc.oneof(fc.constant(['addr']), fc.constant([]), junk),
        natIpAllocateOption: fc.constantFrom('AUTO_ONLY', 'MANUAL_ONLY', null),
        rules: fc.oneof(fc.array(rule, { maxLength: 3 }), fc.constant(null), junk),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<'preview' | 'PATCH'>('preview', 'PATCH'), body, async (how, b) => {
        const r =
          how === 'preview'
            ? await send({ method: 'POST', url: `${base}/natGateways:preview`, raw: JSON.stringify({ name: 'fuzz-p', network: 'net-priv', region: 'r1', ...b }), contentType: 'application/json', headers: {} })
            : await send({ method: 'PATCH', url: `${base}/natGateways/gwp`, raw: JSON.stringify(b), contentType: 'application/json', headers: {} });
        if (r.status === 200) return;
        const fields = ((r.body?.errors ?? []) as { field: string }[]).map((e) => e.field);
        expect({ how, b, status: r.status < 500 && [400, 409].includes(r.status), problem: r.contentType.startsWith(PROBLEM_JSON), named: r.status === 409 || fields.length > 0 }).toEqual({
          how,
          b,
          status: true,
          problem: true,
          named: true,
        });
        // the 400s name a field, never the gateway as a whole
        if (r.status === 400) expect(fields.every((f) => f.length > 0)).toBe(true);
      }),
      params(),
    );
    expectOk(await api.del(`${base}/natGateways/gwp`), 204);
    for (const sub of ['pnat', 'pnat-big', 'sub3']) expectOk(await api.del(`${base}/subnets/${sub}`), 204);
    expectOk(await api.del(`${base}/networks/net-priv`), 204);
  });

  it('JSON that is not an object (null, numbers, strings, arrays) -> 4xx problem, nothing changes', async () => {
    const notObject = fc.oneof(
      fc.constant(null),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      anyText,
      fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
      target.map(({ route }) => [route.valid('fuzz-new')]),
    );
    await fc.assert(
      fc.asyncProperty(target, notObject, junkHeaders, async ({ route, method }, value, headers) => {
        await expectRejected({ method, url: urlOf(route, method), raw: JSON.stringify(value), contentType: 'application/json', headers });
      }),
      params(),
    );
  });

  it('text that is not JSON, sent as application/json -> 4xx problem, nothing changes', async () => {
    const notJson = fc.oneof(
      fc.constantFrom('{', '}', '{"name":', '{"name": "x",}', "{'name': 'x'}", 'undefined', 'NaN', '{"a":1}{"b":2}', '[1,]', '\u0000', '{"name":"x"', 'nul', 'tru'),
      fc.string({ maxLength: 60 }).filter((s) => s.trim() !== '' && !isJson(s)),
      target.map(({ route }) => JSON.stringify(route.valid('fuzz-new')).slice(0, -1)),
    );
    await fc.assert(
      fc.asyncProperty(target, notJson, async ({ route, method }, raw) => {
        await expectRejected({ method, url: urlOf(route, method), raw, contentType: fc.sample(fc.constantFrom('application/json', 'application/json; charset=utf-8'), 1)[0], headers: {} });
      }),
      params(),
    );
  });

  it('a wrong content type, even with a valid JSON body -> 4xx problem, nothing changes', async () => {
    const ct = fc.oneof(
      fc.constantFrom('text/plain', 'application/xml', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/jsonp', 'image/png', 'application/problem+json'),
      visibleAscii.filter((s) => !/json/i.test(s) && s.trim() !== ''),
    );
    await fc.assert(
      fc.asyncProperty(target, ct, async ({ route, method }, contentType) => {
        const raw = JSON.stringify(method === 'POST' ? route.valid('fuzz-new') : { description: 'changed' });
        await expectRejected({ method, url: urlOf(route, method), raw, contentType, headers: {} });
      }),
      params(),
    );
  });

  it('huge strings and huge bodies -> 4xx problem, nothing changes', async () => {
    const size = fc.constantFrom(5_000, 70_000, 1_100_000);
    await fc.assert(
      fc.asyncProperty(target, size, fc.boolean(), async ({ route, method }, n, asName) => {
        const big = 'a'.repeat(n);
        const body = asName ? { ...(method === 'POST' ? route.valid('fuzz-new') : {}), name: big } : { ...(method === 'POST' ? route.valid('fuzz-new') : {}), description: big, x_unknown: 1 };
        await expectRejected({ method, url: urlOf(route, method), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
      }),
      params(20),
    );
  });

  it('PATCH of a name that does not exist, with junk -> 4xx problem, nothing changes', async () => {
    // Path segments over 256 characters get Fastify's own 414 JSON today (a known bug pinned in
    // rules.test.ts), so names stay shorter here.
    const name = fc.oneof(fc.constantFrom('nope', 'a'.repeat(250), '%2e%2e', '..', 'A', '-'), visibleAscii.filter((s) => s.length > 0).map((s) => encodeURIComponent(s).slice(0, 200)));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), name, junk, async (route, n, body) => {
        await expectRejected({ method: 'PATCH', url: `${route.path}/${n}`, raw: JSON.stringify(body ?? null), contentType: 'application/json', headers: {} });
      }),
      params(),
    );
  });
});

describe('fuzz: list queries', () => {
  it('random pageSize, pageToken, filter and unknown parameters -> 200 with items or 4xx problem; never 5xx; nothing changes', async () => {
    baseline = await api.fingerprint();
    const query = fc.dictionary(fc.oneof(fc.constantFrom('pageSize', 'pageToken', 'filter'), anyText), fc.oneof(anyText, fc.integer().map(String), fc.constantFrom('', '0', '500', '501', '-1', 'labels.env = "x"', 'name = net', 'host = h1')), {
      maxKeys: 4,
    });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...LIST_PATHS), query, async (path, q) => {
        const qs = new URLSearchParams(q).toString();
        const r = await api.get(`${path}${qs ? `?${qs}` : ''}`);
        if (r.status === 200) {
          expect(Array.isArray(r.body?.items)).toBe(true);
          expect(typeof (r.body?.nextPageToken ?? '')).toBe('string');
        } else if (!(r.status >= 400 && r.status < 500 && r.contentType.startsWith(PROBLEM_JSON))) {
          throw new Error(`GET ${path}?${qs} -> ${r.status} ${r.text.slice(0, 400)}`);
        }
        expect(await api.fingerprint()).toEqual(baseline);
      }),
      params(RUNS * 2),
    );
  });

  it('raw, badly encoded query strings -> 200 or 4xx problem; never 5xx', async () => {
    const raw = fc.oneof(fc.constantFrom('%', '%zz', 'pageSize=%', 'filter=%E0%A4%A', 'pageSize=1&pageSize=2', 'filter=a&filter=b', '&&&', '=', 'pageToken=%00'), visibleAscii.map((s) => s.replace(/[#\s]/g, '')));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...LIST_PATHS), raw, async (path, q) => {
        const r = await api.get(`${path}?${q}`);
        if (r.status !== 200 && !(r.status >= 400 && r.status < 500 && r.contentType.startsWith(PROBLEM_JSON))) {
          throw new Error(`GET ${path}?${q} -> ${r.status} ${r.text.slice(0, 400)}`);
        }
      }),
      params(),
    );
  });
});

// ------------------------------------------------------------------------------------------------
// The classes of issue 13
// ------------------------------------------------------------------------------------------------

/** A body valid on its own (checked below), with strings in every place a route takes them. */
function richPost(route: Route, name: string): Record<string, unknown> {
  const extra: Record<string, unknown> = { description: 'a description', labels: { env: 'prod', team: 'net' } };
  if (route.path.endsWith('/natGateways')) {
    Object.assign(extra, { logConfig: { enable: true, filter: 'ERRORS_ONLY' }, sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES' });
  }
  if (route.path.endsWith('/subnets')) extra.secondaryIpRanges = [{ rangeName: 'pods', ipCidrRange: '10.12.0.0/16' }];
  return { ...route.valid(name), ...extra };
}

/** A valid PATCH of the route's existing resource, with strings in every place it takes them. */
function richPatch(route: Route): Record<string, unknown> {
  const base: Record<string, unknown> = { description: 'patched', labels: { env: 'test' } };
  if (route.path.endsWith('/natGateways')) {
    base.natIps = ['addr'];
    base.rules = [{ ruleNumber: 1, description: 'rule one', match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: ['addr2'] } }];
  }
  if (route.path.endsWith('/hosts')) base.agentUrl = 'http://10.0.0.1:8081';
  if (route.path.endsWith('/endpoints')) Object.assign(base, { host: 'h1', networkIp: '10.0.0.2' });
  return base;
}

/** Paths (as key lists) of every string value in `v`. */
function stringPaths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (typeof v === 'string') return [at];
  if (Array.isArray(v)) return v.flatMap((x, i) => stringPaths(x, [...at, i]));
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => stringPaths(x, [...at, k]));
  return [];
}

function setAt(body: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [k, ...rest] = path;
  if (Array.isArray(body)) return body.map((x: unknown, i) => (i === k ? setAt(x, rest, value) : x));
  const obj = body as Record<string, unknown>;
  return { ...obj, [k]: setAt(obj[k], rest, value) };
}

/** A string PostgreSQL cannot store: a NUL or a lone surrogate somewhere in otherwise good text. */
const badChar = fc.oneof({ weight: 2, arbitrary: fc.constantFrom('\u0000', '\u0000\u0000') }, { weight: 2, arbitrary: fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff') });
const badString = fc.tuple(fc.string({ unit: 'grapheme', maxLength: 10 }), badChar, fc.string({ unit: 'grapheme', maxLength: 10 })).map(([a, c, b]) => a + c + b);
/** Numbers past every column of the API (int4, an exact JSON integer, bigint), and the far ends. */
const outOfRange = fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e21, 1e300, -(2 ** 31) - 1, -(2 ** 63), -1e300, Number.MAX_VALUE);
/** Generations are bigint columns read as exact JSON integers: up to 2^53 - 1. */
const outOfGeneration = fc.constantFrom(2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e21, 1e300, -1, -(2 ** 63), -1e300, Number.MAX_VALUE);
const REPORT = '/v1/hosts/h1/reports';
const EP = '00000000-0000-4000-8000-000000000001';

/** `{"k": ... }` / `[[...]]` nested `depth` levels around `leaf`, as text (JSON.stringify would recurse). */
function deepText(depth: number, kind: 'object' | 'array', leaf = '"x"'): string {
  return kind === 'object' ? `${'{"k":'.repeat(depth)}${leaf}${'}'.repeat(depth)}` : `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;
}

describe('fuzz: the classes of issue 13', () => {
  it('the richer base bodies are valid (so the bad string is what makes them invalid below)', async () => {
    for (const route of ROUTES) {
      const created = await api.post(route.path, richPost(route, 'fuzz-new'));
      if (created.status !== 201) throw new Error(`${route.path} rich POST: ${created.status} ${created.text}`);
      const gone = await api.del(`${route.path}/fuzz-new`);
      if (gone.status !== 204) throw new Error(`${route.path}/fuzz-new DELETE: ${gone.status} ${gone.text}`);
      const patched = await api.patch(`${route.path}/${route.existing}`, richPatch(route));
      if (patched.status !== 200) throw new Error(`${route.path}/${route.existing} rich PATCH: ${patched.status} ${patched.text}`);
    }
  });

  it('a NUL or a lone surrogate in any string of a valid body, at any depth -> 4xx problem, nothing changes', async () => {
    const arb = target.chain(({ route, method }) => {
      const body = method === 'POST' ? richPost(route, 'fuzz-new') : richPatch(route);
      return fc.tuple(fc.constantFrom(...stringPaths(body)), badString).map(([path, bad]) => ({ route, method, body: setAt(body, path, bad) }));
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ route, method, body }) => {
        await expectRejected({ method, url: urlOf(route, method), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
      }),
      params(RUNS * 2),
    );
  });

  it('a NUL or a lone surrogate in a member name, at the root or in labels -> 4xx problem, nothing changes', async () => {
    await fc.assert(
      fc.asyncProperty(target, badString, fc.boolean(), async ({ route, method }, bad, inLabels) => {
        const body = method === 'POST' ? richPost(route, 'fuzz-new') : richPatch(route);
        const raw = inLabels ? JSON.stringify({ ...body, labels: { [bad]: 'v' } }) : withMembers(body, [[bad, 'v']]);
        await expectRejected({ method, url: urlOf(route, method), raw, contentType: 'application/json', headers: {} });
      }),
      params(),
    );
  });

  it('a body nested 33 to 20,000 levels in any field -> 4xx problem, nothing changes', async () => {
    const arb = target.chain(({ route, method }) =>
      fc.record({ field: fc.constantFrom(...Object.keys(route.fields), 'x_unknown'), depth: fc.oneof(fc.integer({ min: 33, max: 64 }), fc.integer({ min: 65, max: 20_000 })), kind: fc.constantFrom<'object' | 'array'>('object', 'array') }).map((r) => ({ route, method, ...r })),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ route, method, field, depth, kind }) => {
        const body = JSON.stringify(method === 'POST' ? route.valid('fuzz-new') : {});
        const raw = `${body.slice(0, -1)}${body.length > 2 ? ',' : ''}${JSON.stringify(field)}:${deepText(depth - 1, kind)}}`;
        await expectRejected({ method, url: urlOf(route, method), raw, contentType: 'application/json', headers: {} });
      }),
      params(),
    );
  });

  it('every number a gateway takes, beyond its column -> 4xx problem, nothing changes', async () => {
    const gwRoute = ROUTES.find((r) => r.path.endsWith('/natGateways'))!;
    const ints = Object.entries(gwRoute.fields).filter(([, k]) => k === 'int').map(([f]) => f);
    const arb = fc.record({
      method: fc.constantFrom<'POST' | 'PATCH'>('POST', 'PATCH'),
      where: fc.oneof(fc.constantFrom(...ints), fc.constant('rules[0].ruleNumber')),
      value: outOfRange,
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ method, where, value }) => {
        const base = method === 'POST' ? gwRoute.valid('fuzz-new') : {};
        const body =
          where === 'rules[0].ruleNumber'
            ? { ...base, natIps: ['addr'], rules: [{ ruleNumber: value, match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: ['addr2'] } }] }
            : { ...base, [where]: value };
        await expectRejected({ method, url: urlOf(gwRoute, method), raw: JSON.stringify(body), contentType: 'application/json', headers: {} });
      }),
      params(),
    );
  });

  it('host reports: every number beyond its column, bad strings, deep nesting -> 4xx problem, nothing changes', async () => {
    const report = fc.oneof(
      outOfGeneration.map((v) => ({ appliedGeneration: v, usage: [], errors: [] })),
      fc.tuple(fc.constantFrom('ruleNumber', 'portsInUse'), outOfRange).map(([f, v]) => ({ appliedGeneration: 0, usage: [{ endpoint: EP, ruleNumber: -1, portsInUse: 1, [f]: v }], errors: [] })),
      badString.map((bad) => ({ appliedGeneration: 0, usage: [], errors: ['fine', bad] })),
      fc.integer({ min: 33, max: 20_000 }).map((d) => `{"appliedGeneration":0,"errors":[],"usage":${deepText(d - 1, 'array', '{}')}}`),
    );
    await fc.assert(
      fc.asyncProperty(report, fc.boolean(), async (r, asHost) => {
        const raw = typeof r === 'string' ? r : JSON.stringify(r);
        const before = await api.fingerprint();
        const res = await api.req('POST', REPORT, { raw, token: asHost ? hostToken : undefined });
        if (!(res.status >= 400 && res.status < 500 && res.contentType.startsWith(PROBLEM_JSON))) throw new Error(`POST ${REPORT} ${raw.slice(0, 300)} -> ${res.status} ${res.text.slice(0, 300)}`);
        expect(await api.fingerprint()).toEqual(before);
      }),
      params(),
    );
  });

  it('a NUL or a lone surrogate in a path parameter or a query parameter -> 4xx problem, nothing changes', async () => {
    // URL text of a bad string: %00 for NUL, and the bytes UTF-8 would give a lone surrogate (not UTF-8).
    const enc = (s: string) => [...s].map((c) => (c === '\u0000' ? '%00' : /[\ud800-\udfff]/.test(c) ? '%ED%A0%80' : encodeURIComponent(c))).join('');
    const arb = fc.record({
      route: fc.constantFrom(...ROUTES),
      bad: badString,
      where: fc.constantFrom('name', 'project', 'filter', 'pageToken', 'unknown', 'hostsPath'),
      method: fc.constantFrom<'GET' | 'PATCH' | 'DELETE'>('GET', 'PATCH', 'DELETE'),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ route, bad, where, method }) => {
        let url: string;
        if (where === 'name') url = `${route.path}/${enc(bad)}`;
        else if (where === 'project') url = `/v1/projects/${enc(bad)}/networks`;
        else if (where === 'hostsPath') url = `/v1/hosts/${enc(bad)}/programming`;
        else url = `${route.path}?${where === 'unknown' ? `${enc(bad)}=1` : `${where}=${enc(bad)}`}`;
        const m = where === 'name' ? method : 'GET';
        const before = await api.fingerprint();
        const r = await api.req(m, url, m === 'PATCH' ? { body: { description: 'x' } } : {});
        if (!(r.status >= 400 && r.status < 500 && r.contentType.startsWith(PROBLEM_JSON))) throw new Error(`${m} ${url} -> ${r.status} ${r.text.slice(0, 300)}`);
        expect(await api.fingerprint()).toEqual(before);
      }),
      params(RUNS * 2),
    );
  });
});

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
