/**
 * Diagnostics, and an API problem turned into them: each `errors[{field, message}]` of a
 * problem+json answer becomes an error on the attribute that field names (`rules[0].match` ->
 * rules[0].match; a set's element cannot be addressed, so `natIps[1]` -> nat_ips), the rest a
 * diagnostic on the resource.
 */
import { ApiError } from '@natplane/sdk';
import { apiName, isMultiBlock, type Schema, type Spec } from './schema';
import type { AttrPath } from './plan';

export interface Diagnostic {
  severity: 'ERROR' | 'WARNING';
  summary: string;
  detail?: string;
  path?: AttrPath;
}

export const error = (summary: string, detail?: string, path?: AttrPath): Diagnostic => ({ severity: 'ERROR', summary, detail, path });
export const warning = (summary: string, detail?: string, path?: AttrPath): Diagnostic => ({ severity: 'WARNING', summary, detail, path });

/** Raised inside a handler: its diagnostics are returned to Terraform. */
export class DiagnosticsError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.summary).join('; '));
  }
}

/** `rules[0].action.sourceNatActiveIps[1]` -> ['rules', 0, 'action', 'sourceNatActiveIps', 1]. */
export function parseFieldPath(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return out;
}

/** The attribute path an API field names in `schema`, as far as the schema can follow it. */
export function attributePath(schema: Schema, field: string): AttrPath {
  const steps = parseFieldPath(field);
  const path: AttrPath = [];
  let current: Schema | undefined = schema;
  for (let i = 0; i < steps.length && current; i++) {
    const step = steps[i];
    if (typeof step !== 'string') break;
    const found: [string, Spec] | undefined = Object.entries(current).find(([n, s]) => apiName(n, s) === step);
    if (!found) break;
    const name: string = found[0];
    const spec: Spec = found[1];
    path.push(name);
    const next = steps[i + 1];
    if (spec.kind === 'attr') {
      if (typeof next === 'number' && Array.isArray(spec.type) && spec.type[0] === 'list') path.push(next);
      break;
    }
    if (isMultiBlock(spec)) {
      if (spec.nesting !== 'list' || typeof next !== 'number') break;
      path.push(next);
      i++;
    }
    current = spec.block;
  }
  return path;
}

/** Diagnostics for an error thrown while talking to the API. */
export function apiDiagnostics(e: unknown, schema: Schema, what: string): Diagnostic[] {
  if (e instanceof DiagnosticsError) return e.diagnostics;
  if (!(e instanceof ApiError)) {
    // fetch() says "fetch failed" and puts the reason (ECONNREFUSED ...) in its cause
    const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
    const msg = e instanceof Error ? e.message + cause : String(e);
    return [error(`${what}: ${msg}`)];
  }
  const p = e.problem;
  const head = `${what}: ${e.status} ${p.title}`;
  const fieldErrors = e.errors;
  if (fieldErrors.length === 0) return [error(head, p.detail)];
  return fieldErrors.map((fe) => {
    const path = attributePath(schema, fe.field);
    return error(head, `${fe.field}: ${fe.message}`, path.length ? path : undefined);
  });
}
