import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { InvalidArgumentError, type FieldError } from '@natplane/domain';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validate, ValidationTypes } from 'class-validator';
import { compileBodyCheck, VALIDATION_OPTIONS, type BodyCheck } from './body-check';
import { inputShapeErrors } from './input-shape';

export { VALIDATION_OPTIONS };

/** Flattens class-validator's tree into JSON paths: `rules[1].action.sourceNatActiveIps`. */
export function fieldErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const path = /^\d+$/.test(e.property) ? `${prefix}[${e.property}]` : prefix ? `${prefix}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) {
      out.push({ field: path, message: message.replace(/^property (\S+) should not exist$/, 'is not a known field') });
    }
    if (e.children?.length) out.push(...fieldErrors(e.children, path));
  }
  return out;
}

export function invalid(errors: FieldError[]): InvalidArgumentError {
  const first = errors[0];
  return new InvalidArgumentError(first ? `${first.field}: ${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}` : 'invalid request', errors);
}

/**
 * The fields of a DTO whose every rule is IsOptional or IsString (ListQuery and the like), or
 * undefined when it has any other rule or transformation.
 */
function optionalStringFields(cls: new () => object): Set<string> | undefined {
  const rules = getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false);
  const plain = rules.every(
    (m) =>
      !m.each &&
      ((m.type === ValidationTypes.CONDITIONAL_VALIDATION && m.name === 'isOptional') || (m.type === ValidationTypes.CUSTOM_VALIDATION && m.name === 'isString')),
  );
  return plain ? new Set(rules.map((m) => m.propertyName)) : undefined;
}

/** The global pipe: unknown fields, wrong types and ranges become one 400 listing every field. */
class ApiValidationPipe extends ValidationPipe {
  private readonly stringQueries = new Map<unknown, Set<string> | undefined>();
  private readonly bodyChecks = new Map<unknown, BodyCheck | undefined>();

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // Bodies, path parameters and queries were checked by inputShapeErrors before the guards
    // (app.ts): no deeper than the walk allows, no prototype member names, only storable strings.
    // A query of optional strings (every list route, per request): when every member is a known
    // field with a string value, class-transformer and class-validator would return the same
    // object; skip them. Anything else (an unknown or repeated parameter) goes to them as before.
    if (metadata.type === 'query' && typeof metadata.metatype === 'function' && typeof value === 'object' && value !== null) {
      const cls = metadata.metatype as new () => object;
      if (!this.stringQueries.has(cls)) this.stringQueries.set(cls, optionalStringFields(cls));
      const fields = this.stringQueries.get(cls);
      if (fields && Object.entries(value).every(([k, v]) => fields.has(k) && typeof v === 'string')) return Object.assign(new cls(), value);
    }
    // A body (every create, hundreds per second for endpoints): its rules run directly when it
    // passes them with nothing to transform (compileBodyCheck); anything else, every invalid body
    // included, goes to class-transformer and class-validator as before.
    if (metadata.type === 'body' && typeof metadata.metatype === 'function' && typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
      const cls = metadata.metatype as new () => object;
      if (!this.bodyChecks.has(cls)) this.bodyChecks.set(cls, this.toValidate(metadata) ? compileBodyCheck(cls) : undefined);
      const check = this.bodyChecks.get(cls);
      if (check?.(value as Record<string, unknown>)) return Object.assign(new cls(), value);
    }
    return super.transform(value, metadata);
  }
}

export function validationPipe(): ValidationPipe {
  return new ApiValidationPipe({ ...VALIDATION_OPTIONS, exceptionFactory: (errors) => invalid(fieldErrors(errors)) });
}

/** Validates a plain object (a merged PATCH) against a DTO class, the same way the pipe does. */
export async function validateAs<T extends object>(cls: new () => T, plain: unknown): Promise<T> {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) throw invalid([{ field: '', message: 'the body must be a JSON object' }]);
  const bad = inputShapeErrors(plain);
  if (bad.length) throw invalid(bad);
  const obj = plainToInstance(cls, plain);
  const errors = await validate(obj, VALIDATION_OPTIONS);
  if (errors.length) throw invalid(fieldErrors(errors));
  return obj;
}
