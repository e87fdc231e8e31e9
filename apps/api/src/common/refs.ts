import { canonicalRef, type FieldError, type RefScope } from '@natplane/domain';

/** A reference in any accepted form (name, relative path, selfLink) -> the bare name, or a field error. */
export function refName(input: string, scope: RefScope, field: string, errors: FieldError[]): string {
  const r = canonicalRef(input, scope);
  if (!r.ok) {
    errors.push({ field, message: r.message });
    return input;
  }
  return r.name;
}
