import { isDeepStrictEqual } from 'node:util';
import { getMetadataStorage } from 'class-validator';
import { applyMergePatch, InvalidArgumentError, NotFoundError, parseListFilter, type FieldError, type ListFilter } from '@natplane/domain';
import type { ResourceRecord, ResourceTable } from '@natplane/persistence';
import { checkIfMatch } from './etag';
import { parsePaging, pageToken } from './paging';
import { inputShapeErrors } from './input-shape';
import { invalid, validateAs } from './validation';
import type { ListQuery } from './resource.dto';

/** The parsed query of a list route. */
export interface ListRequest {
  limit: number;
  after?: string;
  filter: ListFilter;
}

export function listRequest(q: ListQuery): ListRequest {
  return { ...parsePaging(q.pageSize, q.pageToken), filter: parseListFilter(q.filter) };
}

export function listResponse<R, V>(page: { items: R[]; nextAfter?: string }, view: (r: R) => V): { items: V[]; nextPageToken: string } {
  return { items: page.items.map(view), nextPageToken: pageToken(page.nextAfter) };
}

/**
 * PATCH as an RFC 7396 merge patch over the resource's input form: merge, then validate the
 * result exactly as a create body, then refuse changed immutable fields. Returns the new input.
 */
export async function mergePatch<T extends object>(current: object, patch: unknown, dto: new () => T, immutable: string[]): Promise<T> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw invalid([{ field: '', message: 'a PATCH body must be a JSON merge patch object' }]);
  }
  const bad = inputShapeErrors(patch);
  // Every member of the patch must be an input field, also when it is null (a no-op in RFC 7396).
  const known = inputFields(dto);
  for (const k of Object.keys(patch)) if (!known.has(k)) bad.push({ field: k, message: 'is not a known field' });
  if (bad.length) throw invalid(bad);
  const merged = applyMergePatch(current, patch) as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const f of immutable) {
    if (f in (patch) && !isDeepStrictEqual(merged[f], (current as Record<string, unknown>)[f])) {
      errors.push({ field: f, message: 'is immutable' });
    }
  }
  if (errors.length) throw new InvalidArgumentError(`${errors.map((e) => e.field).join(', ')}: immutable`, errors);
  return validateAs(dto, merged);
}

const fieldsCache = new Map<new () => object, Set<string>>();

/** The input fields of a DTO class: those class-validator knows (every input field has a rule). */
function inputFields(dto: new () => object): Set<string> {
  let set = fieldsCache.get(dto);
  if (!set) {
    set = new Set(getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false).map((m) => m.propertyName));
    fieldsCache.set(dto, set);
  }
  return set;
}


/** The resource, or 404 naming it. */
export async function getOr404<T extends ResourceRecord>(table: ResourceTable<T>, scopeId: string | undefined, collection: string, name: string): Promise<T> {
  const r = await table.get(scopeId, name);
  if (!r) throw new NotFoundError(collection, name);
  return r;
}

/**
 * The resource locked for the rest of the transaction, 404 when missing, 412 when If-Match
 * differs. `update` for a PATCH, `delete` for a DELETE (ResourceTable.getForUpdate says which lock
 * each takes).
 *
 * The one lock order of the api's writes (docs/api-writes.md): network, subnet, endpoint, then
 * gateways in id order. A write never waits for an earlier one of these while it holds a later
 * one; a foreign-key check (a key-share lock) on a network, subnet or host never waits for a PATCH
 * of it.
 */
export async function lockForWrite<T extends ResourceRecord>(
  table: ResourceTable<T>,
  scopeId: string | undefined,
  collection: string,
  name: string,
  ifMatch: string | undefined,
  mode: 'update' | 'delete',
): Promise<T> {
  const cur = await table.getForUpdate(scopeId, name, mode);
  if (!cur) throw new NotFoundError(collection, name);
  checkIfMatch(ifMatch, cur.id, cur.version);
  return cur;
}
