import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { IdempotencyInterceptor, ONE_TIME_SECRETS } from './idempotency.interceptor';
import { ApiBody, ApiConsumes, ApiExtraModels, ApiHeader, ApiParam, ApiResponse, getSchemaPath } from '@nestjs/swagger';

export class FieldErrorDto {
  /** JSON path of the field. @example "rules[0].match" */
  field!: string;
  /** @example "at position 9: expected '('" */
  message!: string;
}

/** RFC 9457 problem details: every error of the API. */
export class ProblemDto {
  /** @example "https://natplane.dev/problems/invalid-argument" */
  type!: string;
  /** @example "Invalid argument" */
  title!: string;
  /** @example 400 */
  status!: number;
  detail!: string;
  instance?: string;
  /** One entry per invalid field (400). */
  errors?: FieldErrorDto[];
  /** The resources still using the one being deleted (409 in use). */
  users?: string[];
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: `errors` names each wrong field',
  401: 'Missing or invalid bearer token',
  404: 'Not found (also: not visible to this token)',
  409: 'Conflict: already exists, in use (`users`), or clashes with another resource',
  412: 'If-Match does not match the current etag',
  422: 'Idempotency-Key reused with another request',
};

/** Problem responses of a route or of every route of a controller. */
export function ApiProblems(...codes: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ProblemDto, FieldErrorDto),
    ...codes.map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status], content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } } }),
    ),
  );
}

/** The `{project}` path parameter of project-scoped controllers (resolved by the auth guard). */
export function ApiProjectParam(): ClassDecorator & MethodDecorator {
  return ApiParam({ name: 'project', description: 'Project name', schema: { type: 'string', pattern: '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$' } });
}

/** `If-Match` on PATCH and DELETE: only when the resource's etag is still this one (412 otherwise). */
export function ApiIfMatch(): MethodDecorator {
  return ApiHeader({ name: 'If-Match', required: false, description: "The resource's etag: act only on that version (412 when it changed)", schema: { type: 'string' } });
}

/**
 * The Idempotency-Key header. `secrets`: members of the 201 that are shown once (a token, a push
 * secret); they are never kept with the key, and a retry of a request that already succeeded
 * answers 409 (saying so, with the Location of what was created) instead of the first response.
 * Documents the header and applies IdempotencyInterceptor, which honours it: every POST route.
 */
export function ApiIdempotencyKey(opts: { secrets?: string[] } = {}): MethodDecorator {
  const secrets = opts.secrets ?? [];
  const description = secrets.length
    ? `A retry with the same key and body, once the first succeeded, answers 409: ${secrets.join(' and ')} ${secrets.length > 1 ? 'are' : 'is'} shown once, in the first response, and never stored with the key. The same key with another body gets 422`
    : 'A retry with the same key and body returns the first response; the same key with another body gets 422';
  return applyDecorators(
    ApiHeader({ name: 'Idempotency-Key', required: false, description, schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' } }),
    SetMetadata(ONE_TIME_SECRETS, secrets),
    UseInterceptors(IdempotencyInterceptor),
  );
}

/** An RFC 7396 merge patch body, sent as application/merge-patch+json (application/json accepted too). */
export function ApiMergePatchBody(type: new () => object, description: string): MethodDecorator {
  return applyDecorators(ApiConsumes('application/merge-patch+json', 'application/json'), ApiBody({ type, description }));
}
