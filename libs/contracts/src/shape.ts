/**
 * The shape of a host document or patch as it arrives from the wire, checked by validators
 * compiled (once, on first use) from the JSON Schemas of ../schema: the schemas are the one
 * statement of every field, type, range and pattern. What a JSON Schema cannot say (host bits of
 * a CIDR, rule order, duplicates, which rules a mapping may name, collisions of sources) is
 * checked by the programmer after the shape (libs/nftables validate.ts).
 *
 * A programmer ignores fields it does not know (docs/host-protocol.md, the document section), so the
 * schemas are compiled with their objects opened (`additionalProperties: false` dropped); nothing
 * else is changed. Each problem is reported once per field, with its path in the document
 * (`gateways[0].endpoints[1].networkIp`) and a message written from the schema of that field.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import { DEFAULT_RULE } from '@natplane/domain';
import { hostDocumentPatchSchema, hostDocumentSchema } from './schema';

export interface FieldError {
  field: string;
  message: string;
}

/** A programmer lists at most this many problems of one document. */
export const MAX_FIELD_ERRORS = 100;

type Node = Record<string, unknown> & {
  $ref?: string;
  type?: string;
  properties?: Record<string, Node>;
  items?: Node;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  enum?: unknown[];
  const?: unknown;
};
type Schema = { $id: string; $ref: string; $defs: Record<string, Node> };

const DOCUMENT = hostDocumentSchema as unknown as Schema;
const PATCH = hostDocumentPatchSchema as unknown as Schema;

/** Drops `additionalProperties: false` everywhere (see the file comment). */
function opened<T>(schema: T): T {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) => (key === 'additionalProperties' && value === false ? undefined : value)) as T;
}

type Kind = 'document' | 'patch';
const IDS: Record<Kind, string> = { document: DOCUMENT.$id, patch: PATCH.$id };

/**
 * Two compilations of the schemas, each made on first use: one that stops at the first problem
 * (the cost of a valid document, checked on every push) and one that lists every problem (only
 * to answer an invalid document).
 */
const compiled: Record<'fast' | 'all', Ajv2020 | null> = { fast: null, all: null };

function validator(kind: Kind, mode: 'fast' | 'all'): ValidateFunction {
  if (!compiled[mode]) {
    // `ipv4` is a format of the schema's addresses; their pattern states the same rule, so the
    // format itself adds nothing here (and ajv-formats is not needed at run time).
    const ajv = new Ajv2020({ strict: true, allErrors: mode === 'all', unicodeRegExp: false, formats: { ipv4: true } });
    ajv.addSchema(opened(DOCUMENT));
    ajv.addSchema(opened(PATCH));
    compiled[mode] = ajv;
  }
  return compiled[mode].getSchema(IDS[kind])!;
}

/** The problems of a document's shape; empty when it has the shape of the schema. */
export function hostDocumentShapeErrors(input: unknown): FieldError[] {
  return shapeErrors('document', DOCUMENT, input);
}

/** The problems of a patch's shape; empty when it has the shape of the schema. */
export function hostPatchShapeErrors(input: unknown): FieldError[] {
  return shapeErrors('patch', PATCH, input);
}

function shapeErrors(kind: Kind, schema: Schema, input: unknown): FieldError[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return [{ field: '.', message: 'must be a JSON object' }];
  if (validator(kind, 'fast')(input)) return [];
  const all = validator(kind, 'all');
  all(input);
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of all.errors ?? []) {
    const err = describe(schema, e);
    if (seen.has(err.field)) continue;
    seen.add(err.field);
    out.push(err);
    if (out.length >= MAX_FIELD_ERRORS) break;
  }
  return out;
}

/** Where a $ref points: the schema (this one or the document's, by file name) and the def. */
function resolve(schema: Schema, ref: string): { schema: Schema; def: string } {
  const [file, pointer] = ref.split('#');
  const target = file === '' ? schema : file === 'host-document.schema.json' ? DOCUMENT : null;
  const def = /^\/\$defs\/([A-Za-z0-9]+)$/.exec(pointer ?? '')?.[1];
  if (!target || !def || !target.$defs[def]) throw new Error(`unresolved $ref ${ref} in ${schema.$id}`);
  return { schema: target, def };
}

/** The schema of one field, followed from the root along an instance path. */
interface Site {
  /** The field's node as written (maybe a $ref), and the def it resolves to, if any. */
  node: Node;
  def?: string;
  /** The name of the property that holds it in its object ('' for an array item or the root). */
  key: string;
  /** The def of the object holding it, if any. */
  parentDef?: string;
  /** The path walked, in the document's notation. */
  path: string;
  /** The outermost field on the way whose def is reported whole (REPORTED_WHOLE). */
  collapsedAt?: { path: string; def: string };
}

/** Defs whose problems are reported once, at the field that holds them, with one message. */
const REPORTED_WHOLE = new Set(['HostLogging', 'EndpointRef']);

function walk(schema: Schema, segments: string[]): Site {
  let current = schema;
  let def: string | undefined;
  let node: Node = { $ref: schema.$ref };
  const deref = () => {
    def = undefined;
    while (node.$ref) {
      const r = resolve(current, node.$ref);
      current = r.schema;
      def = r.def;
      node = current.$defs[r.def];
    }
  };
  deref();
  let site: Site = { node, def, key: '', path: '' };
  for (const seg of segments) {
    const parentDef = def;
    const isIndex = /^\d+$/.test(seg) && node.items !== undefined;
    const next = isIndex ? node.items : node.properties?.[seg];
    const path = isIndex ? `${site.path}[${seg}]` : site.path ? `${site.path}.${seg}` : seg;
    if (!next) return { ...site, path, key: seg, parentDef };
    const written = next;
    node = next;
    deref();
    site = { node: written, def, key: isIndex ? '' : seg, parentDef, path, collapsedAt: site.collapsedAt };
    if (!site.collapsedAt && def && REPORTED_WHOLE.has(def)) site.collapsedAt = { path, def };
  }
  return site;
}

function describe(schema: Schema, e: ErrorObject): FieldError {
  const segments = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'required') segments.push((e.params as { missingProperty: string }).missingProperty);
  const site = walk(schema, segments);
  if (site.collapsedAt) return { field: site.collapsedAt.path, message: messageOfDef(site.collapsedAt.def) };
  return { field: site.path || '.', message: messageOf(site, e.keyword) };
}

function messageOfDef(def: string): string {
  const defs = DOCUMENT.$defs;
  switch (def) {
    case 'HostLogging': {
      const filter = defs.HostLogging.properties!.filter.enum!.join('|');
      return `must be {enable: boolean, filter: ${filter}}`;
    }
    case 'EndpointRef':
      return 'must be {gatewayId, endpointId}';
    default:
      throw new Error(`no message for ${def}`);
  }
}

function messageOf(site: Site, keyword: string): string {
  const { def, key, parentDef } = site;
  if (parentDef === 'HostEndpointMapping' && key === 'ruleNumber') return `must be ${DEFAULT_RULE} (default) or a ruleNumber of the gateway's rules`;
  if (key === 'gatewayId' || site.path.startsWith('deleteGateways[')) return 'must be a gateway id';
  if (def === 'GatewayId' && keyword === 'pattern') return 'must contain letters or digits';
  switch (def) {
    case 'Ipv4Address':
      return 'must be an IPv4 address';
    case 'Ipv4Cidr':
      return 'must be an IPv4 CIDR with no host bits set';
    case 'HostInterface':
      return "must be a network device name: 1-15 characters of [A-Za-z0-9_.@+-], not '.' or '..'";
    case 'Generation':
      return 'must be a non-negative integer';
  }
  const node = def ? (def in DOCUMENT.$defs ? DOCUMENT.$defs[def] : PATCH.$defs[def]) : site.node;
  if (typeof node.const === 'string') return `must be ${node.const}${optional(site) ? ' or absent' : ''}`;
  if (node.enum) return `must be ${node.enum.join(' or ')}`;
  switch (node.type) {
    case 'integer':
      return `must be an integer from ${node.minimum} to ${node.maximum}`;
    case 'string':
      return `must be a non-empty string of at most ${node.maxLength ?? 1024} characters`;
    case 'boolean':
      return 'must be a boolean';
    case 'array':
      return 'must be an array';
    case 'object':
      return 'must be an object';
    default:
      return 'is not valid';
  }
}

/** Whether the field may be absent from the object that holds it. */
function optional(site: Site): boolean {
  if (!site.parentDef || !site.key) return false;
  const parent = site.parentDef in DOCUMENT.$defs ? DOCUMENT.$defs[site.parentDef] : PATCH.$defs[site.parentDef];
  return !((parent.required as string[] | undefined) ?? []).includes(site.key);
}
