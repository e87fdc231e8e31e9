import { getMetadataStorage, ValidationTypes, type ValidationArguments, type ValidatorConstraintInterface } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';

/** Where class-transformer's decorators (@Type, @Transform, @Expose, @Exclude) record themselves. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const transformerMetadata = (require('class-transformer/cjs/storage') as typeof import('class-transformer/types/storage')).defaultMetadataStorage;

/** How the api validates every input DTO (the global pipe, merged PATCHes). */
export const VALIDATION_OPTIONS = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  transform: true,
  validationError: { target: false, value: false },
} as const;

/** Whether a body passes a DTO's rules with nothing to transform: true, or false for "ask class-validator". */
export type BodyCheck = (body: Record<string, unknown>) => boolean;

/**
 * A DTO's class-validator rules run directly, the way class-validator's ValidationExecutor runs
 * them for the pipe's options (whitelist, forbidNonWhitelisted, no groups), for bodies that pass:
 * every member is a property with rules (else: not whitelisted), each property's conditions
 * (IsOptional, ValidateIf) say whether its rules apply, and then every rule's own validator
 * (IsString, Matches, MaxLength, IsLabels... each element with `each` on an array) accepts it.
 * It answers false, and the pipe runs class-transformer and class-validator as before, whenever
 * it is not that simple: a rule fails (so every 400 is still class-validator's own, naming
 * fields as always), a present member is validated as a nested object or has a class-transformer
 * decorator (@Type, @Transform: the instance would not be a copy of the body), or a value is not
 * JSON's. undefined for a class it cannot run at all (async or promise rules, class-level
 * @Expose/@Exclude). What passes gets `Object.assign(new cls(), body)`, which is what
 * plainToInstance builds from such a body (the same members, the same values).
 */
export function compileBodyCheck(cls: new () => object): BodyCheck | undefined {
  const storage = getMetadataStorage();
  // The metadatas ValidationExecutor uses for validate(instance, VALIDATION_OPTIONS).
  const rules = storage.getTargetValidationMetadatas(cls, undefined as unknown as string, false, false, undefined);
  if (rules.length === 0) return undefined; // forbidUnknownValues: class-validator refuses it
  if (transformerMetadata.getExposedMetadatas(cls).length || transformerMetadata.getExcludedMetadatas(cls).length) return undefined;
  type Check = { conditions: ValidationMetadata[]; validators: { m: ValidationMetadata; v: ValidatorConstraintInterface }[]; full: boolean };
  const props = new Map<string, Check>();
  for (const m of rules) {
    let c = props.get(m.propertyName);
    if (!c) props.set(m.propertyName, (c = { conditions: [], validators: [], full: false }));
    switch (m.type) {
      case ValidationTypes.CONDITIONAL_VALIDATION:
        c.conditions.push(m);
        break;
      case ValidationTypes.CUSTOM_VALIDATION:
      case ValidationTypes.IS_DEFINED:
        for (const k of storage.getTargetValidatorConstraints(m.constraintCls)) {
          if (k.async) return undefined;
          c.validators.push({ m, v: k.instance });
        }
        break;
      case ValidationTypes.NESTED_VALIDATION:
        c.full = true;
        break;
      case ValidationTypes.WHITELIST:
        break;
      default:
        return undefined; // PROMISE_VALIDATION and anything newer
    }
  }
  for (const [name, c] of props) {
    if (transformerMetadata.findTypeMetadata(cls, name) || transformerMetadata.findTransformMetadatas(cls, name, 1 /* PLAIN_TO_CLASS */).length) c.full = true;
  }
  return (body) => {
    for (const k in body) if (!props.has(k)) return false;
    for (const [name, c] of props) {
      const value = body[name];
      if (!jsonValue(value)) return false;
      let applies = true;
      for (const m of c.conditions) applies = (m.constraints[0] as (o: object, v: unknown) => boolean)(body, value) && applies;
      if (!applies) continue;
      if (c.full) return false;
      for (const { m, v } of c.validators) {
        if (m.validateIf && !m.validateIf(body, value)) continue;
        const args: ValidationArguments = { targetName: cls.name, property: name, object: body, value, constraints: m.constraints };
        const ok = m.each && Array.isArray(value) ? value.every((x) => v.validate(x, args) === true) : v.validate(value, args) === true;
        if (!ok) return false;
      }
    }
    return true;
  };
}

/** A value JSON.parse can give (a plain object or array at most), so class-transformer would copy it as it is. */
function jsonValue(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return typeof v !== 'function' && typeof v !== 'symbol' && typeof v !== 'bigint';
  const proto = Object.getPrototypeOf(v) as unknown;
  return Array.isArray(v) || proto === Object.prototype || proto === null;
}
