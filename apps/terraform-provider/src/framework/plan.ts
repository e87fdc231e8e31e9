/**
 * Planning a change (PlanResourceChange), from the schema alone:
 * - create: every computed attribute the configuration leaves null is unknown (known after apply);
 *   on update only the optional ones (a computed-only attribute changes through reads);
 * - update: when anything changes, the volatile computed attributes (etag, generation, state...)
 *   become unknown (a planned value must equal the configuration's wherever that is set, so a
 *   reference is planned as written; reading keeps the written form, see convert.ts);
 * - an immutable (forceNew) attribute or block that changes is listed in requires_replace.
 */
import { isMultiBlock, specType, type Schema } from './schema';
import { Unknown, equalValues, isObject, type TfObject, type TfValue } from './values';

export type AttrPath = (string | number)[];

export interface PlanResult {
  planned: TfObject | null;
  requiresReplace: AttrPath[];
}

export function planChange(schema: Schema, prior: TfObject | null, proposed: TfObject | null, config: TfObject | null): PlanResult {
  if (proposed === null) return { planned: null, requiresReplace: [] };
  if (prior === null) return { planned: fillUnknowns(schema, proposed, config), requiresReplace: [] };
  let planned = fillUnknowns(schema, proposed, config, true);
  if (changed(schema, prior, planned)) {
    planned = { ...planned };
    for (const [name, spec] of Object.entries(schema)) if (spec.kind === 'attr' && spec.volatile) planned[name] = Unknown;
  }
  const requiresReplace: AttrPath[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.forceNew && !equalValues(prior[name] ?? null, planned[name] ?? null, specType(spec))) requiresReplace.push([name]);
  }
  return { planned, requiresReplace };
}

/**
 * Whether the object changes: any attribute sent to the API (not computed-only) differs. Local
 * settings (`timeouts`, api: false) do not count: a `timeouts` block added after an import is
 * recorded in state without touching the object or its etag.
 */
export function changed(schema: Schema, a: TfObject, b: TfObject): boolean {
  return Object.entries(schema).some(([name, spec]) => {
    if (spec.kind === 'attr' && spec.computed && !spec.optional) return false;
    if (spec.api === false) return false;
    return !equalValues(a[name] ?? null, b[name] ?? null, specType(spec));
  });
}

/** Computed attributes left null by the configuration become unknown, in nested blocks too. */
export function fillUnknowns(schema: Schema, value: TfObject, config: TfObject | null, update = false): TfObject {
  const out: TfObject = { ...value };
  for (const [name, spec] of Object.entries(schema)) {
    const c = config ? (config[name] ?? null) : null;
    const v = value[name] ?? null;
    if (spec.kind === 'attr') {
      // on update a computed-only attribute keeps its prior value (null after an import of a
      // token the API shows only once); only volatile ones are re-planned, below
      if (spec.computed && v === null && c === null && !(update && !spec.optional)) out[name] = Unknown;
      continue;
    }
    if (v === null || v === Unknown) continue;
    if (!isMultiBlock(spec)) {
      if (isObject(v)) out[name] = fillUnknowns(spec.block, v, isObject(c) ? c : null, update);
      continue;
    }
    const cs = Array.isArray(c) ? c : [];
    out[name] = (v as TfValue[]).map((item, i) => (isObject(item) ? fillUnknowns(spec.block, item, spec.nesting === 'list' && isObject(cs[i]) ? cs[i] : item, update) : item));
  }
  return out;
}
