/**
 * The JSON Schemas of libs/contracts/schema are written by hand; this spec keeps them equal to the
 * TypeScript types (property names and optionality, checked at compile time by `satisfies` and at
 * test time by the TypeScript compiler), to the documents natplane really builds and sends, to
 * what the reference agent and the API accept, and to the worked example of docs/host-protocol.md.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import fc from 'fast-check';
import ts from 'typescript';
import { GATEWAY_LIMITS, withGatewayDefaults, type NatGatewayInput } from '@natplane/domain';
import { PORT_MAX, PORT_MIN, validateHostDocument, validateHostPatchShape } from '@natplane/nftables';
import type { HostBlockRow } from '@natplane/domain';
// Deep imports: the pure document builder without the database layer, the fixtures and random
// documents of the nftables renderer, and the API's report DTO (what the API really accepts).
import { HostReportAckDto, HostReportDto } from '../../../apps/api/src/host-agent/host-agent.dto';
import { documentAndChangeArb, documentArb } from '../../nftables/src/testing/arbitraries';
import { exampleDocument, gateway } from '../../nftables/src/testing/fixtures';
import { buildHostDocument } from './build-host-document';
import {
  DEFAULT_RULE,
  HOST_DOCUMENT_API_VERSION,
  MAX_CLOCK_SKEW_SEC,
  type HostDocument,
  type HostEndpoint,
  type HostEndpointMapping,
  type HostGateway,
  type HostPortBlock,
  type HostCounters,
  type HostEndpointCounters,
  type HostReport,
  type HostRule,
  type HostTimeouts,
  type MappingMode,
} from './host-document';
import { applyHostPatch, diffHostDocuments, type HostDocumentPatch, type HostGatewaySettings } from './host-document-patch';
import { hostDocumentPatchSchema, hostDocumentSchema, hostReportSchema, HOST_PROTOCOL_SCHEMAS } from './schema';
import { signPush, verifyPush } from './signature';

// ---------------------------------------------------------------------------------------------
// Compile-time key lists: each names every property of its type, with its optionality. Adding,
// removing or making optional a property of a type without changing its list fails `tsc`; the
// tests below then compare each list with the schema and with the TypeScript compiler's view.

type Presence<T> = { [K in keyof T]-?: Record<never, never> extends Pick<T, K> ? 'optional' : 'required' };
type Def = { file: 'document' | 'patch' | 'report'; def: string; keys: Record<string, 'required' | 'optional'>; tsPath?: string[] };

type UsageEntry = HostReport['usage'][number];
type CountersHost = HostCounters['host'];
type EndpointRef = NonNullable<HostDocumentPatch['deleteEndpoints']>[number];
type EndpointPut = NonNullable<HostDocumentPatch['putEndpoints']>[number];
type HostLogging = HostGateway['logging'];

const DEFS: Def[] = [
  {
    file: 'document',
    def: 'HostDocument',
    tsPath: ['HostDocument'],
    keys: { apiVersion: 'required', host: 'required', generation: 'required', gateways: 'required' } satisfies Presence<HostDocument>,
  },
  {
    file: 'document',
    def: 'HostGateway',
    tsPath: ['HostGateway'],
    keys: {
      id: 'required',
      name: 'required',
      mapping: 'required',
      timeouts: 'required',
      logging: 'required',
      rules: 'required',
      unmatched: 'optional',
      endpoints: 'required',
    } satisfies Presence<HostGateway>,
  },
  {
    file: 'document',
    def: 'HostGatewaySettings',
    tsPath: ['HostGatewaySettings'],
    keys: { id: 'required', name: 'required', mapping: 'required', timeouts: 'required', logging: 'required', rules: 'required', unmatched: 'optional' } satisfies Presence<HostGatewaySettings>,
  },
  {
    file: 'document',
    def: 'HostTimeouts',
    tsPath: ['HostTimeouts'],
    keys: {
      udpIdleTimeoutSec: 'required',
      icmpIdleTimeoutSec: 'required',
      tcpEstablishedIdleTimeoutSec: 'required',
      tcpTransitoryIdleTimeoutSec: 'required',
      tcpTimeWaitTimeoutSec: 'required',
    } satisfies Presence<HostTimeouts>,
  },
  { file: 'document', def: 'HostLogging', tsPath: ['HostGateway', 'logging'], keys: { enable: 'required', filter: 'required' } satisfies Presence<HostLogging> },
  { file: 'document', def: 'HostRule', tsPath: ['HostRule'], keys: { ruleNumber: 'required', destinations: 'required', sources: 'optional' } satisfies Presence<HostRule> },
  {
    file: 'document',
    def: 'HostEndpoint',
    tsPath: ['HostEndpoint'],
    keys: {
      id: 'required',
      name: 'required',
      hostInterface: 'optional',
      networkIp: 'required',
      aliasRanges: 'required',
      natPrimary: 'required',
      forwardedRanges: 'optional',
      mappings: 'required',
    } satisfies Presence<HostEndpoint>,
  },
  {
    file: 'document',
    def: 'HostEndpointMapping',
    tsPath: ['HostEndpointMapping'],
    keys: { ruleNumber: 'required', active: 'optional', drain: 'required', sources: 'optional' } satisfies Presence<HostEndpointMapping>,
  },
  { file: 'document', def: 'HostPortBlock', tsPath: ['HostPortBlock'], keys: { natIp: 'required', portLo: 'required', portHi: 'required' } satisfies Presence<HostPortBlock> },
  {
    file: 'patch',
    def: 'HostDocumentPatch',
    tsPath: ['HostDocumentPatch'],
    keys: {
      apiVersion: 'required',
      host: 'required',
      baseGeneration: 'required',
      generation: 'required',
      deleteGateways: 'optional',
      putGateways: 'optional',
      deleteEndpoints: 'optional',
      putEndpoints: 'optional',
    } satisfies Presence<HostDocumentPatch>,
  },
  { file: 'patch', def: 'EndpointRef', tsPath: ['HostDocumentPatch', 'deleteEndpoints', '[]'], keys: { gatewayId: 'required', endpointId: 'required' } satisfies Presence<EndpointRef> },
  { file: 'patch', def: 'EndpointPut', tsPath: ['HostDocumentPatch', 'putEndpoints', '[]'], keys: { gatewayId: 'required', endpoint: 'required' } satisfies Presence<EndpointPut> },
  {
    file: 'report',
    def: 'HostReport',
    tsPath: ['HostReport'],
    keys: { appliedGeneration: 'required', usage: 'required', errors: 'required', counters: 'optional' } satisfies Presence<HostReport>,
  },
  { file: 'report', def: 'HostCounters', tsPath: ['HostCounters'], keys: { readAt: 'required', complete: 'required', endpoints: 'required', host: 'required' } satisfies Presence<HostCounters> },
  {
    file: 'report',
    def: 'HostEndpointCounters',
    tsPath: ['HostEndpointCounters'],
    keys: {
      endpoint: 'required',
      ruleNumber: 'required',
      since: 'required',
      newConnections: 'required',
      openConnections: 'required',
      sentPackets: 'required',
      sentBytes: 'required',
      receivedPackets: 'required',
      receivedBytes: 'required',
      droppedSentPackets: 'required',
    } satisfies Presence<HostEndpointCounters>,
  },
  {
    file: 'report',
    def: 'DroppedSentPackets',
    tsPath: ['HostEndpointCounters', 'droppedSentPackets'],
    keys: { OUT_OF_RESOURCES: 'required', ENDPOINT_INDEPENDENT_CONFLICT: 'required', UNTRANSLATABLE_FRAGMENT: 'required', UNTRANSLATABLE_PROTOCOL: 'required' } satisfies Presence<
      HostEndpointCounters['droppedSentPackets']
    >,
  },
  {
    file: 'report',
    def: 'HostCountersHost',
    tsPath: ['HostCounters', 'host'],
    keys: { since: 'required', droppedReceivedUnsolicited: 'required', droppedReceivedFragments: 'required' } satisfies Presence<CountersHost>,
  },
  {
    file: 'report',
    def: 'UsageEntry',
    tsPath: ['HostReport', 'usage', '[]'],
    keys: { endpoint: 'required', ruleNumber: 'required', portsInUse: 'required' } satisfies Presence<UsageEntry>,
  },
  // The answer is a class of the API (no interface in libs/contracts): compile-time check only.
  { file: 'report', def: 'HostReportAck', keys: { desiredGeneration: 'required' } satisfies Presence<HostReportAckDto> },
];

type Exhaustive<Union, List extends readonly unknown[]> = [Exclude<Union, List[number]>] extends [never] ? true : false;
const MAPPING_MODES = ['ENDPOINT_INDEPENDENT', 'ENDPOINT_DEPENDENT'] as const satisfies readonly MappingMode[];
const LOG_FILTERS = ['ALL', 'ERRORS_ONLY', 'TRANSLATIONS_ONLY'] as const satisfies readonly HostLogging['filter'][];
/** Fails `tsc` when a union member is added to MappingMode or to the logging filter. */
const ENUMS_COMPLETE: [Exhaustive<MappingMode, typeof MAPPING_MODES>, Exhaustive<HostLogging['filter'], typeof LOG_FILTERS>] = [true, true];

// ---------------------------------------------------------------------------------------------

type JsonSchema = Record<string, unknown> & { $defs: Record<string, JsonSchemaDef> };
type JsonSchemaDef = { type?: string; properties?: Record<string, Record<string, unknown>>; required?: string[]; additionalProperties?: unknown; enum?: unknown[] };

const SCHEMAS: Record<Def['file'], JsonSchema> = {
  document: hostDocumentSchema,
  patch: hostDocumentPatchSchema,
  report: hostReportSchema,
};

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  for (const s of HOST_PROTOCOL_SCHEMAS) ajv.addSchema(s);
  return ajv;
}

const ajv = newAjv();
const validators = {
  document: ajv.getSchema(hostDocumentSchema.$id) as ValidateFunction,
  patch: ajv.getSchema(hostDocumentPatchSchema.$id) as ValidateFunction,
  report: ajv.getSchema(hostReportSchema.$id) as ValidateFunction,
};

function expectValid(kind: keyof typeof validators, value: unknown): void {
  const v = validators[kind];
  const ok = v(value);
  if (!ok) throw new Error(`${kind} refused by its schema: ${ajv.errorsText(v.errors, { separator: '\n' })}`);
}

function invalidPaths(kind: keyof typeof validators, value: unknown): string[] {
  const v = validators[kind];
  return v(value) ? [] : (v.errors ?? []).map((e) => e.instancePath);
}

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

describe('host protocol JSON Schemas', () => {
  it('are valid draft 2020-12 schemas that compile in strict mode', () => {
    const fresh = new Ajv2020({ strict: true });
    addFormats(fresh);
    for (const s of HOST_PROTOCOL_SCHEMAS) {
      expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(fresh.validateSchema(s as object)).toBe(true);
    }
    expect(Object.values(validators).every((v) => typeof v === 'function')).toBe(true);
  });

  describe('match the TypeScript types property for property', () => {
    it.each(DEFS.map((d) => [`${d.file}#/$defs/${d.def}`, d] as const))('%s', (_label, d) => {
      const def = SCHEMAS[d.file].$defs[d.def];
      expect(def).toBeDefined();
      expect(def.type).toBe('object');
      expect(def.additionalProperties).toBe(false);
      expect(Object.keys(def.properties ?? {}).sort()).toEqual(Object.keys(d.keys).sort());
      const required = Object.entries(d.keys)
        .filter(([, p]) => p === 'required')
        .map(([k]) => k)
        .sort();
      expect([...(def.required ?? [])].sort()).toEqual(required);
    });

    it('as the TypeScript compiler reads the interfaces (drift is caught by jest too, not only by tsc)', () => {
      const actual = typeScriptShapes(DEFS.filter((d) => d.tsPath).map((d) => d.tsPath!));
      for (const d of DEFS.filter((x) => x.tsPath)) {
        expect({ type: d.tsPath!.join('.'), keys: actual.get(d.tsPath!.join('.')) }).toEqual({ type: d.tsPath!.join('.'), keys: sortKeys(d.keys) });
      }
    });

    it('enums and constants', () => {
      expect(ENUMS_COMPLETE).toEqual([true, true]);
      const defs = SCHEMAS.document.$defs;
      expect(defs.MappingMode.enum).toEqual(MAPPING_MODES);
      expect(defs.HostLogging.properties!.filter.enum).toEqual(LOG_FILTERS);
      expect(defs.HostDocument.properties!.apiVersion.const).toBe(HOST_DOCUMENT_API_VERSION);
      expect(SCHEMAS.patch.$defs.HostDocumentPatch.properties!.apiVersion.const).toBe(HOST_DOCUMENT_API_VERSION);
      expect(defs.Port).toMatchObject({ minimum: PORT_MIN, maximum: PORT_MAX });
      expect(defs.RuleNumber).toMatchObject({ minimum: GATEWAY_LIMITS.ruleNumber.min, maximum: GATEWAY_LIMITS.ruleNumber.max });
      expect(defs.HostEndpointMapping.properties!.ruleNumber).toMatchObject({ minimum: DEFAULT_RULE, maximum: GATEWAY_LIMITS.ruleNumber.max });
      // natplane sends timeouts within the API's limits; the schema accepts at least those
      expect((defs.TimeoutSec as { minimum: number }).minimum).toBeLessThanOrEqual(GATEWAY_LIMITS.timeoutSec.min);
      expect((defs.TimeoutSec as { maximum: number }).maximum).toBeGreaterThanOrEqual(GATEWAY_LIMITS.timeoutSec.max);
    });
  });

  describe('accept the documents natplane builds', () => {
    it('the nftables fixtures', () => {
      expectValid('document', exampleDocument());
      expectValid('document', { apiVersion: 'natplane.host/v1', host: 'host-a', generation: 0, gateways: [gateway()] });
    });

    it('random valid documents, and the patches between them', () => {
      fc.assert(
        fc.property(documentArb, (doc) => {
          expectValid('document', doc);
        }),
        { numRuns: 300 },
      );
      fc.assert(
        fc.property(documentAndChangeArb, ([a, b]) => {
          const patch = diffHostDocuments(a, b);
          expectValid('patch', patch);
          expectValid('document', applyHostPatch(a, patch));
        }),
        { numRuns: 300 },
      );
    });

    it('a document built by buildHostDocument from allocation rows', () => {
      const doc = buildHostDocument('host-a', 42, allocationRows());
      expectValid('document', doc);
      // the rows exercise every optional shape: no active block, drain blocks, alias ranges, natPrimary false
      const mappings = doc.gateways.flatMap((g) => g.endpoints.flatMap((e) => e.mappings));
      expect(mappings.some((m) => m.active === undefined)).toBe(true);
      expect(mappings.some((m) => m.drain.length > 0)).toBe(true);
      expect(doc.gateways.flatMap((g) => g.endpoints).some((e) => !e.natPrimary && e.aliasRanges.length > 0)).toBe(true);
      expect(validateHostDocument(JSON.parse(JSON.stringify(doc))).ok).toBe(true);
    });
  });

  describe('refuse what the reference agent refuses', () => {
    const base = (): HostDocument => exampleDocument();
    const cases: [string, (d: HostDocument) => void, string][] = [
      ['port below 1024', (d) => (d.gateways[0].endpoints[0].mappings[0].active!.portLo = 1023), '/gateways/0/endpoints/0/mappings/0/active/portLo'],
      ['port above 65535', (d) => (d.gateways[0].endpoints[0].mappings[0].active!.portHi = 65536), '/gateways/0/endpoints/0/mappings/0/active/portHi'],
      ['fractional port', (d) => (d.gateways[0].endpoints[0].mappings[0].drain = [{ natIp: '203.0.113.6', portLo: 1024.5, portHi: 2047 }]), '/gateways/0/endpoints/0/mappings/0/drain/0/portLo'],
      ['rule number below -1 in a mapping', (d) => (d.gateways[0].endpoints[0].mappings[0].ruleNumber = -2), '/gateways/0/endpoints/0/mappings/0/ruleNumber'],
      ['rule number -1 as a rule', (d) => (d.gateways[0].rules[0].ruleNumber = DEFAULT_RULE), '/gateways/0/rules/0/ruleNumber'],
      ['rule number above 65000', (d) => (d.gateways[0].rules[0].ruleNumber = 65001), '/gateways/0/rules/0/ruleNumber'],
      ['NAT IP with a leading zero', (d) => (d.gateways[0].endpoints[0].mappings[0].active!.natIp = '203.0.113.05'), '/gateways/0/endpoints/0/mappings/0/active/natIp'],
      ['source that is not IPv4', (d) => (d.gateways[0].endpoints[0].networkIp = 'fd00::1'), '/gateways/0/endpoints/0/networkIp'],
      ['destination without a length', (d) => (d.gateways[0].rules[0].destinations = ['198.51.100.0/33']), '/gateways/0/rules/0/destinations/0'],
      ['mapping mode unknown', (d) => ((d.gateways[0] as { mapping: string }).mapping = 'FULL_CONE'), '/gateways/0/mapping'],
      ['timeout zero', (d) => (d.gateways[0].timeouts = { ...d.gateways[0].timeouts, udpIdleTimeoutSec: 0 }), '/gateways/0/timeouts/udpIdleTimeoutSec'],
      ['timeout above a year', (d) => (d.gateways[0].timeouts = { ...d.gateways[0].timeouts, tcpTimeWaitTimeoutSec: 31536001 }), '/gateways/0/timeouts/tcpTimeWaitTimeoutSec'],
      ['negative generation', (d) => (d.generation = -1), '/generation'],
      ['another apiVersion', (d) => ((d as { apiVersion: string }).apiVersion = 'natplane.host/v2'), '/apiVersion'],
      ['drain missing', (d) => delete (d.gateways[0].endpoints[0].mappings[0] as Partial<HostEndpointMapping>).drain, '/gateways/0/endpoints/0/mappings/0'],
      ['natPrimary not a boolean', (d) => ((d.gateways[0].endpoints[0] as { natPrimary: unknown }).natPrimary = 'yes'), '/gateways/0/endpoints/0/natPrimary'],
      ['gateway id without letters or digits', (d) => (d.gateways[0].id = '--'), '/gateways/0/id'],
    ];
    it.each(cases)('%s', (_name, mutate, path) => {
      const doc = clone(base());
      mutate(doc);
      expect(invalidPaths('document', doc)).toContain(path);
      expect(validateHostDocument(doc).ok).toBe(false);
    });

    it('a patch whose putGateways carry endpoints, and a patch without its generations', () => {
      const settings = { ...exampleDocument().gateways[0] };
      const withEndpoints = { apiVersion: 'natplane.host/v1', host: 'host-a', baseGeneration: 1, generation: 2, putGateways: [settings] };
      expect(invalidPaths('patch', withEndpoints)).toContain('/putGateways/0');
      expect(validateHostPatchShape(withEndpoints).ok).toBe(false);
      const noBase = { apiVersion: 'natplane.host/v1', host: 'host-a', generation: 2 };
      expect(invalidPaths('patch', noBase)).toContain('');
      expect(validateHostPatchShape(noBase).ok).toBe(false);
    });
  });

  describe('agree with the API on reports', () => {
    const e = '3f6b7a4e-2c1d-4e8f-9a0b-1c2d3e4f5a6b';
    /** A counters section with one (endpoint, rule), its fields overridden by `over` (undefined: removed). */
    const counters = (over: Record<string, unknown> = {}) => {
      const entry: Record<string, unknown> = {
        endpoint: e,
        ruleNumber: -1,
        since: '2026-01-01T00:00:00.000Z',
        newConnections: 3,
        openConnections: 1,
        sentPackets: 10,
        sentBytes: 840,
        receivedPackets: 9,
        receivedBytes: 756,
        droppedSentPackets: { OUT_OF_RESOURCES: 6, ENDPOINT_INDEPENDENT_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: 0, UNTRANSLATABLE_PROTOCOL: 1 },
        ...over,
      };
      for (const [k, v] of Object.entries(over)) if (v === undefined) delete entry[k];
      return {
        readAt: '2026-01-01T00:00:05.000Z',
        complete: true,
        endpoints: [entry],
        host: { since: '2026-01-01T00:00:00.000Z', droppedReceivedUnsolicited: 2, droppedReceivedFragments: null },
      };
    };
    const good: unknown[] = [
      { appliedGeneration: 0, usage: [], errors: [] },
      { appliedGeneration: 12, usage: [{ endpoint: e, ruleNumber: -1, portsInUse: 0 }, { endpoint: e, ruleNumber: 65000, portsInUse: 64512 }], errors: ['apply failed'] },
      { appliedGeneration: 3, usage: [{ endpoint: e.toUpperCase(), ruleNumber: 5, portsInUse: 1 }], errors: ['x'.repeat(2000)] },
      { appliedGeneration: 2 ** 53 - 1, usage: [{ endpoint: e, ruleNumber: 65000, portsInUse: 2 ** 31 - 1 }], errors: [] },
      { appliedGeneration: 4, usage: [], errors: [], counters: counters() },
      { appliedGeneration: 4, usage: [], errors: [], counters: counters({ newConnections: null, sentBytes: null, droppedSentPackets: { OUT_OF_RESOURCES: null, ENDPOINT_INDEPENDENT_CONFLICT: null, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: null } }) },
      { appliedGeneration: 4, usage: [], errors: [], counters: { ...counters(), endpoints: [], complete: false } },
    ];
    const bad: unknown[] = [
      { appliedGeneration: -1, usage: [], errors: [] },
      { appliedGeneration: 1.5, usage: [], errors: [] },
      { appliedGeneration: 1, usage: [], errors: [], extra: true },
      { appliedGeneration: 1, usage: [] },
      { appliedGeneration: 1, usage: [{ endpoint: 'e1', ruleNumber: -1, portsInUse: 1 }], errors: [] },
      { appliedGeneration: 1, usage: [{ endpoint: e, ruleNumber: -2, portsInUse: 1 }], errors: [] },
      { appliedGeneration: 1, usage: [{ endpoint: e, ruleNumber: -1, portsInUse: -1 }], errors: [] },
      { appliedGeneration: 1, usage: [{ endpoint: e, ruleNumber: -1, portsInUse: 1, protocol: 'tcp' }], errors: [] },
      { appliedGeneration: 1, usage: [{ endpoint: e, ruleNumber: -1 }], errors: [] },
      { appliedGeneration: 1, usage: [], errors: ['x'.repeat(2001)] },
      { appliedGeneration: 1, usage: [], errors: Array.from({ length: 101 }, () => 'e') },
      { appliedGeneration: 1, usage: [], errors: [42] },
      // Numbers beyond the columns they land in (issue 13, item 4).
      { appliedGeneration: 1e300, usage: [], errors: [] },
      { appliedGeneration: 2 ** 53, usage: [], errors: [] },
      { appliedGeneration: 1, usage: [{ endpoint: e, ruleNumber: 65001, portsInUse: 1 }], errors: [] },
      { appliedGeneration: 1, usage: [{ endpoint: e, ruleNumber: 2 ** 31, portsInUse: 1 }], errors: [] },
      { appliedGeneration: 1, usage: [{ endpoint: e, ruleNumber: -1, portsInUse: 2 ** 31 }], errors: [] },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ sentPackets: -1 }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ sentPackets: 1.5 }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ sentPackets: '3' }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ endpoint: 'e1' }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ since: 'yesterday' }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ openConnections: undefined }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ droppedSentPackets: { OUT_OF_RESOURCES: 1, ENDPOINT_INDEPENDENT_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: 0 } }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: counters({ extra: 1 }) },
      { appliedGeneration: 1, usage: [], errors: [], counters: { ...counters(), complete: 'yes' } },
      { appliedGeneration: 1, usage: [], errors: [], counters: { ...counters(), host: { since: '2026-01-01T00:00:00.000Z', droppedReceivedUnsolicited: -3, droppedReceivedFragments: 0 } } },
    ];
    it.each(good.map((r, i) => [i, r]))('accepted by both: good report %i', async (_i, r) => {
      expectValid('report', r);
      expect(await apiErrors(r)).toEqual([]);
    });
    it.each(bad.map((r, i) => [i, r]))('refused by both: bad report %i', async (_i, r) => {
      expect(invalidPaths('report', r).length).toBeGreaterThan(0);
      expect((await apiErrors(r)).length).toBeGreaterThan(0);
    });
  });

  describe('the worked example of docs/host-protocol.md', () => {
    const md = readFileSync(join(__dirname, '../../../docs/host-protocol.md'), 'utf8');
    const block = (name: string): string => {
      const m = new RegExp(`<!-- example:${name} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(md);
      if (!m) throw new Error(`docs/host-protocol.md has no example:${name} block`);
      return m[1];
    };
    const inputs = Object.fromEntries(
      block('inputs')
        .split('\n')
        .map((l) => /^(\w+):\s*(\S+)$/.exec(l.trim())!)
        .map((m) => [m[1], m[2]]),
    ) as { pushSecret: string; timestamp: string };
    const request = block('request');
    const [head, body] = request.split(/\n\n/);
    const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(head)![1];
    const document = JSON.parse(block('document')) as HostDocument;

    it('the request carries the document, compact, and the signature signPush computes', () => {
      expect(head.split('\n')[0]).toBe('PUT /v1/programming HTTP/1.1');
      expect(body).toBe(JSON.stringify(document));
      expect(header('X-Natplane-Timestamp')).toBe(inputs.timestamp);
      const ts = Number(inputs.timestamp);
      expect(header('X-Natplane-Signature')).toBe(signPush(inputs.pushSecret, ts, body));
      expect(header('X-Natplane-Signature')).toMatch(/^v1=[0-9a-f]{64}$/);
      expect(md.includes(`(${Buffer.byteLength(body).toLocaleString('en-US')} bytes;`)).toBe(true);
    });

    it('the clock skew window is as the page says', () => {
      const ts = Number(inputs.timestamp);
      const sig = header('X-Natplane-Signature');
      expect(MAX_CLOCK_SKEW_SEC).toBe(300);
      expect(verifyPush(inputs.pushSecret, inputs.timestamp, sig, body, ts + 300)).toEqual({ ok: true });
      expect(verifyPush(inputs.pushSecret, inputs.timestamp, sig, body, ts + 301)).toEqual({ ok: false, reason: 'stale-timestamp' });
      expect(verifyPush(inputs.pushSecret, inputs.timestamp, sig.toUpperCase().replace('V1=', 'v1='), body, ts)).toEqual({ ok: false, reason: 'bad-signature' });
      expect(verifyPush(inputs.pushSecret, inputs.timestamp, sig, `${body} `, ts)).toEqual({ ok: false, reason: 'bad-signature' });
    });

    it('every message passes its schema and the checks of the agent and of the API', async () => {
      expectValid('document', document);
      expect(validateHostDocument(document).ok).toBe(true);
      const patch = JSON.parse(block('patch')) as HostDocumentPatch;
      expectValid('patch', patch);
      expect(validateHostPatchShape(patch).ok).toBe(true);
      const next = applyHostPatch(document, patch);
      expectValid('document', next);
      expect(diffHostDocuments(document, next)).toEqual(patch);
      const report = JSON.parse(block('report')) as unknown;
      expectValid('report', report);
      expect(await apiErrors(report)).toEqual([]);
      const answer = JSON.parse(block('answer')) as unknown;
      const ack = ajv.getSchema(`${hostReportSchema.$id}#/$defs/HostReportAck`) as ValidateFunction;
      expect(ack(answer)).toBe(true);
    });
  });
});

/**
 * Errors of the API's validation for a report body: the report DTO under the options of the API's
 * global pipe (VALIDATION_OPTIONS of apps/api/src/common/validation.ts, repeated here because that
 * file loads @nestjs/common, which plain `npx jest` cannot require).
 */
async function apiErrors(body: unknown): Promise<string[]> {
  const options = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true };
  const errors = await validate(plainToInstance(HostReportDto, body) as object, options);
  return errors.map((e) => e.property);
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Property names and optionality of the contracts' types as the TypeScript compiler sees them.
 * A path is a type name, then property names, with '[]' for an array's element.
 */
function typeScriptShapes(paths: string[][]): Map<string, Record<string, 'required' | 'optional'>> {
  const files = ['host-document.ts', 'host-document-patch.ts'].map((f) => join(__dirname, f));
  const program = ts.createProgram(files, { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, lib: ['lib.es5.d.ts'], skipLibCheck: true, types: [] });
  const checker = program.getTypeChecker();
  const named = new Map<string, ts.Type>();
  for (const f of files) {
    const source = program.getSourceFile(f)!;
    for (const symbol of checker.getExportsOfModule(checker.getSymbolAtLocation(source)!)) {
      if (symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) named.set(symbol.name, checker.getDeclaredTypeOfSymbol(symbol));
    }
  }
  const out = new Map<string, Record<string, 'required' | 'optional'>>();
  for (const path of paths) {
    let type = named.get(path[0]);
    if (!type) throw new Error(`libs/contracts exports no type ${path[0]}`);
    for (const step of path.slice(1)) {
      if (step === '[]') type = checker.getIndexTypeOfType(type, ts.IndexKind.Number)!;
      else {
        const prop = checker.getPropertyOfType(type, step)!;
        type = checker.getNonNullableType(checker.getTypeOfSymbol(prop));
      }
      if (!type) throw new Error(`cannot follow ${path.join('.')}`);
    }
    const keys: Record<string, 'required' | 'optional'> = {};
    for (const p of checker.getPropertiesOfType(type)) keys[p.name] = p.flags & ts.SymbolFlags.Optional ? 'optional' : 'required';
    out.set(path.join('.'), sortKeys(keys) as Record<string, 'required' | 'optional'>);
  }
  return out;
}

/**
 * Allocation rows as HostProgrammingRepository.blocks returns them: two gateways (one with a rule
 * and endpoint-independent mapping, one NATing only alias ranges), ACTIVE, DRAIN and QUARANTINE
 * blocks, and an endpoint with no block on a rule.
 */
function allocationRows(): HostBlockRow[] {
  const specA = withGatewayDefaults({
    network: 'net-1',
    region: 'r1',
    natIps: ['nat-a', 'nat-b'],
    sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES',
    enableEndpointIndependentMapping: true,
    udpIdleTimeoutSec: 120,
    logConfig: { enable: true, filter: 'ERRORS_ONLY' },
    rules: [
      { ruleNumber: 200, match: "inIpRange(destination.ip, '198.51.100.0/24')", action: { sourceNatActiveIps: ['nat-c'] } },
      { ruleNumber: 10, match: "destination.ip == '203.0.113.7' || inIpRange(destination.ip, '10.0.0.0/8')", action: { sourceNatActiveIps: ['nat-d'] } },
    ],
  } satisfies NatGatewayInput);
  const specB = withGatewayDefaults({
    network: 'net-1',
    region: 'r1',
    natIps: ['nat-e'],
    sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
    subnetworks: [{ name: 'subnet-b', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] }],
  });
  const a = { gatewayId: '11111111-1111-4111-8111-111111111111', gatewayName: 'nat-a', projectName: 'shop', spec: specA };
  const b = { gatewayId: '22222222-2222-4222-8222-222222222222', gatewayName: 'nat-b', projectName: 'shop', spec: specB };
  const vm1 = { endpointId: 'aaaaaaaa-0000-4000-8000-000000000001', hostInterface: 'tap-vm1', endpointName: 'vm-1', networkIp: '10.0.0.2', aliasIpRanges: [], subnetName: 'subnet-a' };
  const vm2 = {
    endpointId: 'aaaaaaaa-0000-4000-8000-000000000002',
    hostInterface: null,
    endpointName: 'vm-2',
    networkIp: '10.1.0.2',
    aliasIpRanges: [
      { ipCidrRange: '10.8.0.0/28', subnetworkRangeName: 'pods' },
      { ipCidrRange: '10.1.0.16/28', subnetworkRangeName: '' },
    ],
    subnetName: 'subnet-b',
  };
  const block = (ruleNumber: number, natIp: string, portLo: number, size: number, state: HostBlockRow['state']) => ({
    ruleNumber,
    natIp,
    portLo,
    portHi: portLo + size - 1,
    state,
  });
  return [
    { ...a, ...vm1, ...block(DEFAULT_RULE, '192.0.2.1', 1024, 64, 'ACTIVE') },
    { ...a, ...vm1, ...block(DEFAULT_RULE, '192.0.2.2', 1088, 64, 'DRAIN') },
    { ...a, ...vm1, ...block(DEFAULT_RULE, '192.0.2.1', 2048, 1024, 'QUARANTINE') },
    { ...a, ...vm1, ...block(200, '192.0.2.3', 1024, 64, 'ACTIVE') },
    { ...a, ...vm1, ...block(10, '192.0.2.4', 1024, 64, 'DRAIN') },
    { ...a, ...vm2, ...block(DEFAULT_RULE, '192.0.2.1', 1088, 64, 'ACTIVE') },
    { ...b, ...vm2, ...block(DEFAULT_RULE, '192.0.2.5', 1024, 1024, 'ACTIVE') },
  ];
}
