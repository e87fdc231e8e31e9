/**
 * fast-check arbitraries of valid host documents, drawn from small pools of ids, addresses and
 * blocks so that two random documents share gateways, endpoints and elements (diffs then change,
 * keep, move and swap things rather than replace everything).
 */
import fc from 'fast-check';
import { DEFAULT_RULE, HostDocument, HostEndpoint, HostGateway, HostPortBlock } from '@natplane/contracts';
import { SourceOwners, validateHostDocument } from '../validate';

const GATEWAY_IDS = ['7f3c2a10-0000-4000-8000-000000000001', '7f3c2a10-0000-4000-8000-000000000002', 'gw-3'];
const RULE_NUMBERS = [0, 5, 100, 65000];
const DESTINATIONS = ['198.51.100.0/24', '198.51.100.128/25', '203.0.113.7/32', '10.0.0.0/8', '10.1.0.0/16', '0.0.0.0/0'];
const ENDPOINT_IDS = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'];
const SOURCE_IPS = ['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6', '10.99.1.2', '10.99.1.3'];
const ALIASES = ['10.200.0.0/24', '10.200.1.0/24', '10.200.2.0/28', '10.200.3.7/32'];
const NAT_IPS = ['203.0.113.5', '203.0.113.6', '203.0.113.9'];
/** Sources of source-based rules, and ranges VMs forward from (some inside them, some not). */
const RULE_SOURCES = ['192.168.0.0/16', '192.168.1.0/24', '10.99.0.2/32', '10.99.0.0/24'];
const FORWARDED = ['192.168.1.0/24', '192.168.2.0/25', '172.16.0.0/24'];
/** Devices VMs are attached by: two networks' endpoints may share an address on different ones. */
const INTERFACES = ['tapA', 'tapB', 'veth-c.1'];

const block: fc.Arbitrary<HostPortBlock> = fc
  .record({ natIp: fc.constantFrom(...NAT_IPS), slot: fc.integer({ min: 0, max: 5 }), size: fc.constantFrom(1, 64, 1024) })
  .map(({ natIp, slot, size }) => ({ natIp, portLo: 1024 + slot * size, portHi: 1024 + slot * size + size - 1 }));

const timeouts = fc.record({
  udpIdleTimeoutSec: fc.constantFrom(30, 120),
  icmpIdleTimeoutSec: fc.constantFrom(30, 60),
  tcpEstablishedIdleTimeoutSec: fc.constantFrom(1200, 7440),
  tcpTransitoryIdleTimeoutSec: fc.constantFrom(30, 240),
  tcpTimeWaitTimeoutSec: fc.constantFrom(30, 120),
});

function endpointArb(rules: number[], sourceRules: number[] = []): fc.Arbitrary<HostEndpoint> {
  return fc
    .record({
      forwardedRanges: sourceRules.length > 0 ? fc.subarray(FORWARDED, { maxLength: 2 }) : fc.constant([] as string[]),
      id: fc.constantFrom(...ENDPOINT_IDS),
      networkIp: fc.constantFrom(...SOURCE_IPS),
      aliasRanges: fc.oneof({ weight: 4, arbitrary: fc.constant([] as string[]) }, { weight: 1, arbitrary: fc.subarray(ALIASES, { maxLength: 2 }) }),
      natPrimary: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      hostInterface: fc.option(fc.constantFrom(...INTERFACES), { nil: undefined, freq: 2 }),
      mappings: fc.subarray([DEFAULT_RULE, ...rules]).chain((numbers) =>
        fc.tuple(...numbers.map((n) => fc.record({ ruleNumber: fc.constant(n), active: fc.option(block, { nil: undefined, freq: 4 }), drain: fc.array(block, { maxLength: 2 }) }))),
      ),
    })
    .map(({ hostInterface, forwardedRanges, ...e }) => ({
      ...e,
      ...(hostInterface === undefined ? {} : { hostInterface }),
      ...(forwardedRanges.length > 0 ? { forwardedRanges } : {}),
      name: `projects/p/endpoints/${e.id}`,
      mappings: e.mappings.map((m) => {
        const base = m.active ? m : { ruleNumber: m.ruleNumber, drain: m.drain };
        if (!sourceRules.includes(m.ruleNumber)) return base;
        // a source rule applies to some of the endpoint's sources: its primary address, forwarded ranges
        const sources = [...(e.natPrimary && m.ruleNumber % 2 === 0 ? [`${e.networkIp}/32`] : []), ...forwardedRanges.slice(0, 1 + (m.ruleNumber % 2))];
        return { ...base, sources };
      }),
    }));
}

const gatewayArb: fc.Arbitrary<HostGateway> = fc
  .record({
    id: fc.constantFrom(...GATEWAY_IDS),
    mapping: fc.constantFrom('ENDPOINT_INDEPENDENT' as const, 'ENDPOINT_DEPENDENT' as const),
    timeouts,
    logging: fc.record({ enable: fc.boolean(), filter: fc.constantFrom('ALL' as const, 'ERRORS_ONLY' as const, 'TRANSLATIONS_ONLY' as const) }),
    rules: fc.subarray(RULE_NUMBERS, { maxLength: 2 }).chain((numbers) =>
      fc.tuple(
        ...numbers.map((n) =>
          fc.oneof(
            { weight: 2, arbitrary: fc.record({ ruleNumber: fc.constant(n), destinations: fc.subarray(DESTINATIONS, { minLength: 0, maxLength: 3 }) }) },
            { weight: 1, arbitrary: fc.record({ ruleNumber: fc.constant(n), destinations: fc.constant([] as string[]), sources: fc.subarray(RULE_SOURCES, { minLength: 1, maxLength: 2 }) }) },
          ),
        ),
      ),
    ),
  })
  .chain((g) =>
    fc
      .array(
        endpointArb(
          g.rules.map((r) => r.ruleNumber),
          g.rules.filter((r) => 'sources' in r).map((r) => r.ruleNumber),
        ),
        { maxLength: 5 },
      )
      .map((endpoints) => ({ ...g, name: `projects/p/natGateways/${g.id}`, endpoints })),
  );

/** Removes what would make the document invalid (duplicate ids, sources colliding on one device). */
export function makeValid(doc: HostDocument): HostDocument {
  const gatewayIds = new Set<string>();
  const owners = new SourceOwners();
  const gateways: HostGateway[] = [];
  for (const g of doc.gateways) {
    if (gatewayIds.has(g.id)) continue;
    gatewayIds.add(g.id);
    const ids = new Set<string>();
    const endpoints: HostEndpoint[] = [];
    for (const e of g.endpoints) {
      if (ids.has(e.id) || owners.claimEndpoint(g.id, e, '').length > 0) continue;
      ids.add(e.id);
      endpoints.push(e);
    }
    gateways.push({ ...g, endpoints });
  }
  const out = { ...doc, gateways };
  const v = validateHostDocument(out);
  if (!v.ok) throw new Error(`generator made an invalid document: ${JSON.stringify(v.errors)}`);
  return out;
}

export const documentArb: fc.Arbitrary<HostDocument> = fc
  .record({ generation: fc.integer({ min: 1, max: 1000 }), gateways: fc.array(gatewayArb, { maxLength: 3 }) })
  .map(({ generation, gateways }) => makeValid({ apiVersion: 'natplane.host/v1', host: 'host-a', generation, gateways }));

/** A document and a small random change of it (the common case: one endpoint moves, a rule comes). */
export const documentAndChangeArb: fc.Arbitrary<[HostDocument, HostDocument]> = fc.tuple(documentArb, documentArb).chain(([a, other]) =>
  fc
    .array(
      fc.record({
        what: fc.constantFrom('takeGateway', 'dropGateway', 'takeEndpoint', 'dropEndpoint', 'settings'),
        i: fc.nat(),
        j: fc.nat(),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((changes) => {
      let gateways = a.gateways.map((g) => ({ ...g, endpoints: [...g.endpoints] }));
      for (const { what, i, j } of changes) {
        const og = other.gateways[i % Math.max(1, other.gateways.length)];
        const g = gateways[i % Math.max(1, gateways.length)];
        if (what === 'takeGateway' && og) gateways = [...gateways.filter((x) => x.id !== og.id), og];
        if (what === 'dropGateway' && g) gateways = gateways.filter((x) => x !== g);
        if (what === 'dropEndpoint' && g && g.endpoints.length) g.endpoints.splice(j % g.endpoints.length, 1);
        if (what === 'settings' && g && og) Object.assign(g, { mapping: og.mapping, timeouts: og.timeouts, logging: og.logging });
        if (what === 'takeEndpoint' && g && og && og.endpoints.length) {
          const rules = new Set([DEFAULT_RULE, ...g.rules.map((r) => r.ruleNumber)]);
          const sourceRules = new Set(g.rules.filter((r) => r.sources !== undefined).map((r) => r.ruleNumber));
          const e = og.endpoints[j % og.endpoints.length];
          const { forwardedRanges, ...rest } = e;
          const fitted = {
            ...rest,
            ...(forwardedRanges && sourceRules.size > 0 ? { forwardedRanges } : {}),
            mappings: e.mappings
              .filter((m) => rules.has(m.ruleNumber))
              .map((m) => {
                const { sources, ...plain } = m;
                return sourceRules.has(m.ruleNumber) ? { ...plain, sources: sources ?? [] } : plain;
              }),
          };
          g.endpoints = [...g.endpoints.filter((x) => x.id !== e.id), fitted];
        }
      }
      return [a, makeValid({ ...a, generation: a.generation + 1, gateways })] as [HostDocument, HostDocument];
    }),
);
