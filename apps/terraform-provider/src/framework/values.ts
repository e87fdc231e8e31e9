/**
 * Terraform's values as the provider sees them: plain JSON-like data, plus `Unknown` (a value
 * known only after apply) and numbers that may be bigints (Terraform's numbers are arbitrary
 * precision; integers beyond 2^53 arrive as msgpack int64 or as strings).
 *
 * Types are Terraform's type constraints in their JSON form, as GetProviderSchema sends them:
 * "string", "number", "bool", ["list", T], ["set", T], ["map", T], ["object", {name: T}].
 */
export const Unknown: unique symbol = Symbol('unknown');
export type Unknown = typeof Unknown;

export type TfPrimitive = string | number | bigint | boolean;
export type TfValue = null | Unknown | TfPrimitive | TfValue[] | TfObject;
export interface TfObject {
  [name: string]: TfValue;
}

export type TfType = 'string' | 'number' | 'bool' | ['list' | 'set' | 'map', TfType] | ['object', Record<string, TfType>];

export const isUnknown = (v: unknown): v is Unknown => v === Unknown;

export function isObject(v: TfValue | undefined): v is TfObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when `v` holds no Unknown anywhere. */
export function isWhollyKnown(v: TfValue): boolean {
  if (v === Unknown) return false;
  if (Array.isArray(v)) return v.every(isWhollyKnown);
  if (isObject(v)) return Object.values(v).every(isWhollyKnown);
  return true;
}

/** A number as a JS number when it is exactly representable, a bigint otherwise. */
export function normalizeNumber(n: number | bigint | string): number | bigint {
  if (typeof n === 'number') return n;
  if (typeof n === 'bigint') return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  const s = n.trim();
  if (/^-?\d+$/.test(s)) return normalizeNumber(BigInt(s));
  const f = Number(s);
  if (!Number.isFinite(f)) throw new Error(`not a number: ${JSON.stringify(n)}`);
  return f;
}

/** Deep equality under a type: sets compare without order, Unknown equals only Unknown. */
export function equalValues(a: TfValue, b: TfValue, type?: TfType): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === Unknown || b === Unknown) return false;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) return BigInt(a) === BigInt(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    const elem = Array.isArray(type) && type[0] !== 'object' ? (type[1]) : undefined;
    if (Array.isArray(type) && type[0] === 'set') {
      const used = new Set<number>();
      return a.every((x) => {
        const j = b.findIndex((y, k) => !used.has(k) && equalValues(x, y, elem));
        if (j < 0) return false;
        used.add(j);
        return true;
      });
    }
    return a.every((x, i) => equalValues(x, b[i], elem));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const attrs = Array.isArray(type) && type[0] === 'object' ? type[1] : undefined;
    const elem = Array.isArray(type) && type[0] === 'map' ? type[1] : undefined;
    for (const k of keys) if (!equalValues(a[k] ?? null, b[k] ?? null, attrs ? attrs[k] : elem)) return false;
    return true;
  }
  return false;
}

/** A primitive value as text ('' for null, unknown and collections). */
export function text(v: TfValue | undefined): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? String(v) : '';
}
