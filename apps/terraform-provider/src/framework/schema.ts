/**
 * The declarative schema of a resource or data source: every attribute in one line.
 *
 *   name:        str('The name.', { required: true, forceNew: true }),
 *   network:     str('The network.', { required: true, forceNew: true, reference: true }),
 *   min_ports:   num('Minimum ports per VM.', { optional: true, computed: true, api: 'minPortsPerVm' }),
 *   nat_ips:     strSet('Addresses.', { optional: true, reference: true, absentIs: [] }),
 *   rules:       blockList('Rules.', { rule_number: num(...), ... }, { key: 'rule_number' }),
 *
 * An attribute's API field is its name in camelCase unless `api` says otherwise (`api: false`:
 * not an API field). From this one description come the protocol schema (GetProviderSchema),
 * the value type (the msgpack codec), planning (unknowns, replacements), the API body (create and
 * merge patch) and reading the API's object back into state.
 */
import type { TfType, TfValue } from './values';

interface Common {
  description: string;
  /** The API's field name (default: the attribute's name in camelCase); false: not sent or read. */
  api?: string | false;
}

export interface AttrFlags {
  required?: boolean;
  optional?: boolean;
  /** Set by the server (with optional: a server default, shown as known after apply on create). */
  computed?: boolean;
  sensitive?: boolean;
  /** Immutable in the API: a change plans a replacement. */
  forceNew?: boolean;
  /** Names another object (bare name, relative path or selfLink): kept in state as written. */
  reference?: boolean;
  /** A computed value every update changes (etag, generation): unknown in an update's plan. */
  volatile?: boolean;
  /** What the API returns when the attribute was never set ('' or [] or {}): read as null. */
  absentIs?: TfValue;
  /** Returned by the API only when the object is created (a token): kept from state afterwards. */
  writeOnce?: boolean;
  /** A check on a known configured value: the message when it is wrong. */
  validate?: (v: TfValue) => string | undefined;
  /** Reads this attribute from the API object (default: the API field). */
  read?: (obj: Record<string, unknown>) => unknown;
}

export interface AttrSpec extends Common, AttrFlags {
  kind: 'attr';
  type: TfType;
}

export interface BlockSpec extends Common {
  kind: 'block';
  nesting: 'list' | 'set' | 'single';
  block: Schema;
  minItems?: number;
  maxItems?: number;
  /** List blocks: the attribute that identifies an item; read back in the order of state. */
  key?: string;
  /** True when an API value means "not set" (server defaults): read as no block when none was. */
  emptyWhen?: (api: Record<string, unknown>) => boolean;
  forceNew?: boolean;
}

export type Spec = AttrSpec | BlockSpec;
export type Schema = Record<string, Spec>;

const attr = (type: TfType) => (description: string, flags: AttrFlags & { api?: string | false } = {}): AttrSpec => ({ kind: 'attr', type, description, ...flags });

export const str = attr('string');
export const num = attr('number');
export const bool = attr('bool');
export const strSet = attr(['set', 'string']);
export const strList = attr(['list', 'string']);
export const strMap = attr(['map', 'string']);
export const typed = (type: TfType) => attr(type);

type BlockOpts = Omit<BlockSpec, 'kind' | 'nesting' | 'block' | 'description'>;
export const blockList = (description: string, block: Schema, opts: BlockOpts = {}): BlockSpec => ({ kind: 'block', nesting: 'list', description, block, ...opts });
export const blockSet = (description: string, block: Schema, opts: BlockOpts = {}): BlockSpec => ({ kind: 'block', nesting: 'set', description, block, ...opts });
export const blockSingle = (description: string, block: Schema, opts: BlockOpts = {}): BlockSpec => ({ kind: 'block', nesting: 'single', description, block, ...opts });

/** snake_case -> camelCase. */
export const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** camelCase -> snake_case. */
export const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The API field of an attribute or block, or undefined when it has none. */
export function apiName(name: string, spec: Spec): string | undefined {
  if (spec.api === false) return undefined;
  return spec.api ?? camel(name);
}

/** The value type of a schema's objects. */
export function schemaType(schema: Schema): TfType {
  const attrs: Record<string, TfType> = {};
  for (const [name, spec] of Object.entries(schema)) attrs[name] = specType(spec);
  return ['object', attrs];
}

export function specType(spec: Spec): TfType {
  if (spec.kind === 'attr') return spec.type;
  const obj = schemaType(spec.block);
  return spec.nesting === 'single' ? obj : [spec.nesting, obj];
}

/** Whether a block's value is an array of objects in state (list and set) or one object (single). */
export const isMultiBlock = (spec: BlockSpec) => spec.nesting !== 'single';
