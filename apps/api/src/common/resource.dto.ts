import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength, registerDecorator, type ValidationOptions } from 'class-validator';

export const NAME_PATTERN = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^[a-z]([-_a-z0-9]{0,62})$/;
const LABEL_VALUE = /^[-_a-z0-9]{0,63}$/;

/** labels: at most 64 entries, keys and values as in Google Cloud labels. */
export function IsLabels(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isLabels',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: 'must be an object of at most 64 labels: keys [a-z][-_a-z0-9]{0,62}, values [-_a-z0-9]{0,63}', ...options },
      validator: {
        validate(v: unknown) {
          if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
          const entries = Object.entries(v);
          return entries.length <= 64 && entries.every(([k, x]) => LABEL_KEY.test(k) && typeof x === 'string' && LABEL_VALUE.test(x));
        },
      },
    });
}

/** Fields every create body accepts. */
export class ResourceInputDto {
  /**
   * RFC 1035 name, unique in its collection, chosen by the client.
   * @example "my-resource"
   */
  @IsString()
  @Matches(NAME_PATTERN, { message: 'must match [a-z]([-a-z0-9]{0,61}[a-z0-9])? (RFC 1035)' })
  name!: string;

  /** Free text. */
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  description?: string;

  /** @example {"env": "prod"} */
  @IsOptional()
  @IsLabels()
  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  labels?: Record<string, string>;
}

/**
 * Fields every PATCH body (an RFC 7396 merge patch) accepts: only the members to change; null
 * removes a member (restores its default). The merged resource is validated as a create body.
 */
export class ResourcePatchDto {
  /** Immutable: only the current name is accepted. */
  name?: string;

  /** Free text; null: empty. */
  @ApiPropertyOptional({ type: 'string', nullable: true, maxLength: 2048 })
  description?: string | null;

  /**
   * Merged key by key: a label set to null is removed; null removes every label.
   * @example {"env": "prod", "old": null}
   */
  @ApiPropertyOptional({ type: 'object', nullable: true, additionalProperties: { type: ['string', 'null'] } })
  labels?: Record<string, string | null> | null;
}

/** Output fields every resource has. */
export class ResourceDto {
  /** @example "0b9d6c1e-8a53-4a4e-9a0c-2b8f4b8e4f11" */
  id!: string;
  /** @example "my-resource" */
  name!: string;
  description!: string;
  /** Canonical URL of the resource. */
  selfLink!: string;
  /** RFC 3339 */
  creationTimestamp!: string;
  /** RFC 3339 */
  updateTimestamp!: string;
  /** Increments on every change of the resource's desired state. */
  generation!: number;
  /** Pass in If-Match to PATCH or DELETE only this version. */
  etag!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  labels!: Record<string, string>;
}

/** Query of every list route. */
export class ListQuery {
  /** 1 to 500, default 50. */
  @IsOptional()
  @IsString()
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 50 })
  pageSize?: string;

  /** nextPageToken of the previous page. */
  @IsOptional()
  @IsString()
  pageToken?: string;

  /**
   * `field = value` or `field != value` terms joined by AND; fields: name, labels.KEY and the
   * collection's reference fields.
   * @example labels.env = "prod"
   */
  @IsOptional()
  @IsString()
  filter?: string;
}
