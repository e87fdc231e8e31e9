import { CallHandler, ExecutionContext, Injectable, NestInterceptor, RequestMethod, type Type } from '@nestjs/common';
import { HTTP_CODE_METADATA, INTERCEPTORS_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { ConflictError, IdempotencyMismatchError, InvalidArgumentError } from '@natplane/domain';
import { Db, IdempotencyRepository } from '@natplane/persistence';
import { principalKey, type AuthedRequest } from './auth';

/** Route metadata: the members of the response that are secrets shown once (never stored, never replayed). */
export const ONE_TIME_SECRETS = 'natplane:one-time-secrets';

/**
 * `Idempotency-Key` on POST: the whole request runs in one transaction with the key's claim, so
 * a retry with the same key and body replays the first response, the same key with another body
 * gets 422, and concurrent duplicates wait for the first and then replay it (one row created).
 *
 * Secrets shown once (a project token; a host's hostToken and pushSecret: the route's
 * ApiIdempotencyKey({secrets})) are stored hashed or not at all, so they are never kept with the
 * key either: the stored response lacks them, and a retry of a request that already succeeded
 * answers 409 saying so (with the Location of the resource created), rather than a 201 without
 * them that a client would take for the answer.
 *
 * Applied by ApiIdempotencyKey() to each POST route, not globally: Nest runs a route with any
 * interceptor through an RxJS pipeline, and the GETs (an attribution lookup, issue 19) would pay
 * for it on every request while it only ever passes them through. Every POST route of the api
 * carries it (assertIdempotentPosts, at start).
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly db: Db,
    private readonly keys: IdempotencyRepository,
    private readonly reflector: Reflector,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const raw = req.headers['idempotency-key'];
    if (req.method !== 'POST' || raw === undefined || !req.principal) return next.handle();
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw InvalidArgumentError.field('Idempotency-Key', 'must be 1 to 255 visible ASCII characters');
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    const scope = principalKey(req.principal);
    const hash = createHash('sha256')
      .update(`${req.method} ${req.url.split('?')[0]}\n${JSON.stringify(req.body ?? null)}`)
      .digest('hex');
    const status = this.reflector.get<number | undefined>(HTTP_CODE_METADATA, ctx.getHandler()) ?? 201;
    const secrets = this.reflector.get<string[] | undefined>(ONE_TIME_SECRETS, ctx.getHandler()) ?? [];
    return from(
      this.db.transaction(async () => {
        if (!(await this.keys.claim(scope, key, hash))) {
          const stored = (await this.keys.get(scope, key))!;
          if (stored.requestHash !== hash) throw new IdempotencyMismatchError();
          for (const [h, v] of Object.entries(stored.responseHeaders)) void reply.header(h, v);
          void reply.header('idempotent-replayed', 'true');
          if (secrets.length) {
            throw new ConflictError(
              `this request was already applied (Idempotency-Key ${key})${stored.responseHeaders.location ? `: ${stored.responseHeaders.location}` : ''}; its ${secrets.join(' and ')} ${secrets.length > 1 ? 'were' : 'was'} shown once, in the first response, and ${secrets.length > 1 ? 'are' : 'is'} not kept`,
            );
          }
          void reply.header('content-type', 'application/json; charset=utf-8');
          return stored.responseBody;
        }
        const body: unknown = await lastValueFrom(next.handle(), { defaultValue: undefined });
        const location = reply.getHeader('location');
        await this.keys.store(scope, key, status, JSON.stringify(withoutMembers(body, secrets) ?? null), typeof location === 'string' ? { location } : {});
        return body;
      }),
    );
  }
}

/**
 * Throws unless every POST handler of `controllers` runs IdempotencyInterceptor (ApiIdempotencyKey
 * on it), so that a new POST route cannot silently ignore Idempotency-Key: the api does not start.
 */
export function assertIdempotentPosts(controllers: Type[]): void {
  const missing: string[] = [];
  for (const c of controllers) {
    const proto = c.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const fn = proto[name];
      if (name === 'constructor' || typeof fn !== 'function' || Reflect.getMetadata(METHOD_METADATA, fn) !== RequestMethod.POST) continue;
      const interceptors = [...((Reflect.getMetadata(INTERCEPTORS_METADATA, c) as unknown[] | undefined) ?? []), ...((Reflect.getMetadata(INTERCEPTORS_METADATA, fn) as unknown[] | undefined) ?? [])];
      if (!interceptors.includes(IdempotencyInterceptor)) missing.push(`${c.name}.${name}`);
    }
  }
  if (missing.length) throw new Error(`POST routes without ApiIdempotencyKey() (IdempotencyInterceptor): ${missing.join(', ')}`);
}

/** `body` without the named top-level members (a copy; `body` itself is what the client gets). */
function withoutMembers(body: unknown, names: string[]): unknown {
  if (names.length === 0 || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const n of names) delete copy[n];
  return copy;
}
