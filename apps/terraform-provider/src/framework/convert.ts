/**
 * Between state and the API, through the schema: `toApi` builds a request body from a known
 * value (nulls and unknowns left out: the server applies its defaults), `mergePatch` the RFC 7396
 * patch from one state to another (changed fields only, null to restore a default), and
 * `fromApi` reads an API object into state, using a hint (the prior or planned state) so that
 * what the user wrote survives the round trip: a reference keeps its written form when it names
 * the same object, an attribute the API fills with ''/[]/{} stays null when it was null, a block
 * the server filled with its defaults stays absent, list blocks keep the user's order.
 */
import { apiName, camel, isMultiBlock, specType, type AttrSpec, type BlockSpec, type Schema } from './schema';
import { Unknown, equalValues, isObject, type TfObject, type TfType, type TfValue } from './values';

type Json = unknown;
type JsonObject = Record<string, Json>;

/** The last path segment of a reference: `projects/p/addresses/a` and `https://.../a` name `a`. */
export const refName = (s: string): string => s.replace(/\/+$/, '').split('/').pop() ?? s;

export function sameReference(a: TfValue, b: TfValue): boolean {
  return typeof a === 'string' && typeof b === 'string' && refName(a) === refName(b);
}

// ------------------------------------------------------------------ state -> API

export function toApi(schema: Schema, value: TfObject): JsonObject {
  const out: JsonObject = {};
  for (const [name, spec] of Object.entries(schema)) {
    const field = apiName(name, spec);
    if (!field || (spec.kind === 'attr' && spec.computed && !spec.optional)) continue;
    const v = value[name];
    if (v === null || v === undefined || v === Unknown) continue;
    out[field] = specToApi(spec, v);
  }
  return out;
}

function specToApi(spec: AttrSpec | BlockSpec, v: TfValue): Json {
  if (spec.kind === 'attr') return plainToApi(v, spec.type);
  if (!isMultiBlock(spec)) return isObject(v) ? toApi(spec.block, v) : null;
  return (v as TfValue[]).filter(isObject).map((item) => toApi(spec.block, item));
}

function plainToApi(v: TfValue, type: TfType): Json {
  if (v === null || v === Unknown) return null;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map((x) => plainToApi(x, Array.isArray(type) ? (type[1] as TfType) : 'string'));
  if (isObject(v)) {
    const out: JsonObject = {};
    const attrs = Array.isArray(type) && type[0] === 'object' ? type[1] : undefined;
    for (const [k, x] of Object.entries(v)) {
      if (x === null) continue;
      out[attrs ? camel(k) : k] = plainToApi(x, attrs ? attrs[k] : Array.isArray(type) ? (type[1] as TfType) : 'string');
    }
    return out;
  }
  return v;
}

/**
 * The merge patch that turns `prior` into `planned`: every API field whose value changed, with
 * null where the new state leaves an optional field unset (the server's default comes back).
 */
export function mergePatch(schema: Schema, prior: TfObject, planned: TfObject): JsonObject {
  const after = toApi(schema, planned);
  const patch: JsonObject = {};
  for (const [name, spec] of Object.entries(schema)) {
    const field = apiName(name, spec);
    if (!field || (spec.kind === 'attr' && spec.computed && !spec.optional)) continue;
    const p = planned[name];
    if (p === Unknown) continue;
    if (spec.kind === 'attr' && spec.computed && (p === null || p === undefined)) continue;
    if (equalValues(prior[name] ?? null, p ?? null, specType(spec))) continue;
    patch[field] = field in after ? after[field] : null;
  }
  return patch;
}

// ------------------------------------------------------------------ API -> state

/** Reads the API object `obj` into a state object of `schema`; `hint` is the prior or planned state. */
export function fromApi(schema: Schema, obj: JsonObject, hint: TfObject | null): TfObject {
  const out: TfObject = {};
  for (const [name, spec] of Object.entries(schema)) {
    const h = hint ? (hint[name] ?? null) : null;
    const field = apiName(name, spec);
    if (spec.kind === 'attr' && spec.read) {
      out[name] = readAttr(spec, spec.read(obj), h);
      continue;
    }
    if (!field) {
      out[name] = h === Unknown ? null : h;
      continue;
    }
    if (spec.kind === 'attr') out[name] = readAttr(spec, obj[field], h);
    else out[name] = readBlock(spec, obj[field], h);
  }
  return out;
}

function readAttr(spec: AttrSpec, raw: Json, hint: TfValue): TfValue {
  if (spec.writeOnce && (raw === undefined || raw === null)) return hint === Unknown ? null : hint;
  let v = apiToValue(raw, spec.type);
  if (spec.absentIs !== undefined && (hint === null || hint === Unknown) && equalValues(v, spec.absentIs, spec.type)) return null;
  if (spec.reference) v = keepReferences(v, hint);
  return v;
}

/** A reference (or a list or set of them) in the form the hint wrote it, when it names the same object. */
function keepReferences(v: TfValue, hint: TfValue): TfValue {
  if (typeof v === 'string') return sameReference(v, hint) ? hint : v;
  if (Array.isArray(v) && Array.isArray(hint)) return v.map((x) => hint.find((h) => sameReference(x, h)) ?? x);
  return v;
}

function readBlock(spec: BlockSpec, raw: Json, hint: TfValue): TfValue {
  if (!isMultiBlock(spec)) {
    if (!raw || typeof raw !== 'object') return null;
    const o = raw as JsonObject;
    if (spec.emptyWhen && !isObject(hint) && spec.emptyWhen(o)) return null;
    return fromApi(spec.block, o, isObject(hint) ? hint : null);
  }
  const items = Array.isArray(raw) ? (raw as JsonObject[]) : [];
  const hints = Array.isArray(hint) ? hint.filter(isObject) : [];
  if (spec.emptyWhen && hints.length === 0 && items.length === 1 && spec.emptyWhen(items[0])) return [];
  const keyed = spec.key ? orderByHint(spec, items, hints) : items.map((item, i) => ({ item, hint: hints[i] ?? null }));
  return keyed.map(({ item, hint: h }) => fromApi(spec.block, item, h));
}

/** List blocks with a key: the API's items in the order of the hint's, new ones after, each with its own hint. */
function orderByHint(spec: BlockSpec, items: JsonObject[], hints: TfObject[]): { item: JsonObject; hint: TfObject | null }[] {
  const key = spec.key!;
  const field = apiName(key, spec.block[key]) ?? key;
  const keyOf = (v: unknown) => (typeof v === 'string' ? refName(v) : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '');
  const rest = [...items];
  const out: { item: JsonObject; hint: TfObject | null }[] = [];
  for (const h of hints) {
    const i = rest.findIndex((it) => keyOf(it[field]) === keyOf(h[key]));
    if (i >= 0) out.push({ item: rest.splice(i, 1)[0], hint: h });
  }
  return [...out, ...rest.map((item) => ({ item, hint: null }))];
}

/** An API JSON value as a value of `type` (object types: snake_case attributes from camelCase fields). */
export function apiToValue(raw: Json, type: TfType): TfValue {
  if (raw === null || raw === undefined) return null;
  if (type === 'string') return typeof raw === 'string' ? raw : JSON.stringify(raw);
  if (type === 'number') return typeof raw === 'number' ? raw : Number(raw);
  if (type === 'bool') return Boolean(raw);
  const [kind, inner] = type;
  if (kind === 'list' || kind === 'set') return Array.isArray(raw) ? raw.map((x) => apiToValue(x, inner)) : null;
  if (typeof raw !== 'object') return null;
  const src = raw as JsonObject;
  const out: TfObject = {};
  if (kind === 'map') {
    for (const [k, v] of Object.entries(src)) out[k] = apiToValue(v, inner);
    return out;
  }
  for (const [name, t] of Object.entries(inner)) out[name] = apiToValue(src[camel(name)], t);
  return out;
}
