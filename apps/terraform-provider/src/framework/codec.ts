/**
 * Terraform's msgpack encoding of values (the DynamicValue wire format), driven by the value's
 * type: an object carries every attribute of its type (null when absent), a set is an array
 * without duplicates, a number may arrive as an int, a float, an int64 or a string, and an
 * unknown value is the msgpack extension type 0 (any extension is read as unknown, since
 * Terraform may attach refinements to one; it is written as `d4 00 00`, as Terraform does).
 */
import { Decoder, Encoder, ExtData } from '@msgpack/msgpack';
import { Unknown, equalValues, isObject, normalizeNumber, type TfType, type TfValue } from './values';

const decoder = new Decoder({ useBigInt64: true });
const encoder = new Encoder({ useBigInt64: true, ignoreUndefined: false });
const UNKNOWN_EXT = new ExtData(0, new Uint8Array([0]));

export class CodecError extends Error {}

/** Decodes msgpack bytes as a value of `type`. Empty bytes are null. */
export function decodeValue(bytes: Uint8Array | undefined | null, type: TfType): TfValue {
  if (!bytes || bytes.length === 0) return null;
  return fromWire(decoder.decode(bytes), type, '');
}

/** Encodes `value` as msgpack bytes of `type`. */
export function encodeValue(value: TfValue, type: TfType): Uint8Array {
  return encoder.encode(toWire(value, type, ''));
}

/** Reads a JSON value (UpgradeResourceState's raw state) as a value of `type`. */
export function fromJson(json: unknown, type: TfType): TfValue {
  return fromWire(json, type, '');
}

function fromWire(raw: unknown, type: TfType, at: string): TfValue {
  if (raw === null || raw === undefined) return null;
  if (raw instanceof ExtData) return Unknown;
  if (type === 'string') {
    if (typeof raw !== 'string') throw new CodecError(`${at || 'value'}: expected a string, got ${typeof raw}`);
    return raw;
  }
  if (type === 'bool') {
    if (typeof raw !== 'boolean') throw new CodecError(`${at || 'value'}: expected a bool, got ${typeof raw}`);
    return raw;
  }
  if (type === 'number') {
    if (typeof raw !== 'number' && typeof raw !== 'bigint' && typeof raw !== 'string') throw new CodecError(`${at || 'value'}: expected a number, got ${typeof raw}`);
    return normalizeNumber(raw);
  }
  const [kind, inner] = type;
  if (kind === 'list' || kind === 'set') {
    if (!Array.isArray(raw)) throw new CodecError(`${at || 'value'}: expected an array`);
    return raw.map((x, i) => fromWire(x, inner, `${at}[${i}]`));
  }
  if (typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) throw new CodecError(`${at || 'value'}: expected a map`);
  const src = raw as Record<string, unknown>;
  const out: Record<string, TfValue> = {};
  if (kind === 'map') {
    for (const [k, v] of Object.entries(src)) out[k] = fromWire(v, inner, `${at}.${k}`);
    return out;
  }
  for (const [name, t] of Object.entries(inner)) out[name] = fromWire(src[name], t, at ? `${at}.${name}` : name);
  return out;
}

function toWire(v: TfValue, type: TfType, at: string): unknown {
  if (v === null || v === undefined) return null;
  if (v === Unknown) return UNKNOWN_EXT;
  if (type === 'string') {
    if (typeof v !== 'string') throw new CodecError(`${at || 'value'}: expected a string`);
    return v;
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') throw new CodecError(`${at || 'value'}: expected a bool`);
    return v;
  }
  if (type === 'number') {
    if (typeof v === 'string') return normalizeNumber(v);
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new CodecError(`${at || 'value'}: expected a number`);
    return v;
  }
  const [kind, inner] = type;
  if (kind === 'list' || kind === 'set') {
    if (!Array.isArray(v)) throw new CodecError(`${at || 'value'}: expected a list`);
    const items = kind === 'set' ? v.filter((x, i) => v.findIndex((y) => equalValues(x, y, inner)) === i) : v;
    return items.map((x, i) => toWire(x, inner, `${at}[${i}]`));
  }
  if (!isObject(v)) throw new CodecError(`${at || 'value'}: expected an object`);
  const out: Record<string, unknown> = {};
  if (kind === 'map') {
    for (const [k, x] of Object.entries(v)) out[k] = toWire(x, inner, `${at}.${k}`);
    return out;
  }
  for (const [name, t] of Object.entries(inner)) out[name] = toWire(v[name] ?? null, t, at ? `${at}.${name}` : name);
  return out;
}
