import type { FieldError } from '@natplane/domain';

/**
 * What every input of the api must be before anything else reads it (a body, the path parameters,
 * the query): one iterative walk, so no depth of nesting can overflow the stack, that refuses
 *  - containers (objects and arrays) nested deeper than MAX_INPUT_DEPTH levels, the body itself
 *    being level 1 (the deepest input of the API, a gateway rule's address list, is level 4);
 *  - member names of Object.prototype (`__proto__`, `constructor`, `toString`...), which
 *    class-transformer drops before the unknown-field check could see them (no field of the API
 *    has such a name);
 *  - strings PostgreSQL cannot store, as member names or values: a NUL character (text and jsonb
 *    refuse it) and a lone UTF-16 surrogate (not Unicode: jsonb refuses its escape, and text would
 *    silently get U+FFFD instead).
 * Each error names the JSON path of the member (`rules[0].description`, `labels.env`).
 */
export const MAX_INPUT_DEPTH = 32;

const PROTOTYPE_KEYS = new Set(['__proto__', 'prototype', ...Object.getOwnPropertyNames(Object.prototype)]);

/** A lone high surrogate (not followed by a low one) or a lone low surrogate (not preceded by a high one). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL could not store `s` (text or jsonb), or undefined when it can. */
export function unstorableText(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain a NUL character (U+0000)';
  if (LONE_SURROGATE.test(s)) return 'must be Unicode text (it contains a lone UTF-16 surrogate)';
  return undefined;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | undefined;
  /** Member name or array index within the parent. */
  key: string | number | undefined;
}

/** `a.b[0].c` from the chain of frames (built only for an error, so a deep walk stays linear). */
function pathOf(f: Frame | undefined, prefix: string, last?: string | number): string {
  const keys: (string | number)[] = last === undefined ? [] : [last];
  for (let x = f; x && x.key !== undefined; x = x.parent) keys.push(x.key);
  let path = prefix;
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i];
    path = typeof k === 'number' ? `${path}[${k}]` : path ? `${path}.${k}` : k;
  }
  return path;
}

/**
 * Every error of the input's shape (see above), at most `limit` of them; `prefix` names the input
 * as a whole (empty for a body, whose members are named from the root).
 */
export function inputShapeErrors(value: unknown, opts: { prefix?: string; limit?: number } = {}): FieldError[] {
  const prefix = opts.prefix ?? '';
  const limit = opts.limit ?? 20;
  const out: FieldError[] = [];
  const stack: Frame[] = [{ value, depth: 0, parent: undefined, key: undefined }];
  while (stack.length > 0 && out.length < limit) {
    const f = stack.pop()!;
    const v = f.value;
    if (typeof v === 'string') {
      const why = unstorableText(v);
      if (why) out.push({ field: pathOf(f, prefix), message: why });
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    const depth = f.depth + 1;
    if (depth > MAX_INPUT_DEPTH) {
      out.push({ field: pathOf(f, prefix), message: `nests deeper than ${MAX_INPUT_DEPTH} levels of objects and arrays` });
      continue;
    }
    // Children are pushed in reverse so that errors come out in document order.
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i] as unknown, depth, parent: f, key: i });
      continue;
    }
    const keys = Object.keys(v);
    const children: string[] = [];
    for (const k of keys) {
      const why = PROTOTYPE_KEYS.has(k) ? 'is not a known field' : unstorableText(k);
      if (why) out.push({ field: pathOf(f, prefix, k), message: why });
      else children.push(k);
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push({ value: (v as Record<string, unknown>)[children[i]], depth, parent: f, key: children[i] });
  }
  return out.slice(0, limit);
}

/** The inputs of an HTTP request, each walked once: the path parameters and query by name, then the body. */
export function requestInputErrors(req: { params?: unknown; query?: unknown; body?: unknown }): FieldError[] {
  return [...inputShapeErrors(req.params), ...inputShapeErrors(req.query), ...inputShapeErrors(req.body)];
}
