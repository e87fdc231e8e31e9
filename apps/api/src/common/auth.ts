import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { NotFoundError, UnauthenticatedError } from '@natplane/domain';
import { HostsRepository, ProjectsRepository, TokensRepository } from '@natplane/persistence';
import { API_CONFIG, type ApiConfig } from './config';

export type Principal = { kind: 'admin' } | { kind: 'project'; projectId: string } | { kind: 'host'; hostId: string };

/** Who may call a route: the operator, a project (or the operator), a host's agent (or the operator), anyone. */
export type AccessLevel = 'admin' | 'project' | 'host' | 'public';
export const ACCESS = 'natplane:access';
export const Access = (level: AccessLevel) => SetMetadata(ACCESS, level);

export interface ProjectScope {
  id: string;
  name: string;
}

export interface AuthedRequest extends FastifyRequest {
  principal?: Principal;
  project?: ProjectScope;
  hostScope?: { id: string; name: string };
}

/** The project of a /v1/projects/{project}/... route, resolved and authorized by the guard. */
export const Project = createParamDecorator((_: unknown, ctx: ExecutionContext): ProjectScope => ctx.switchToHttp().getRequest<AuthedRequest>().project!);
export const Caller = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest<AuthedRequest>().principal!);

/** Principal key for idempotency scopes and logs. */
export function principalKey(p: Principal): string {
  return p.kind === 'admin' ? 'admin' : p.kind === 'project' ? `project:${p.projectId}` : `host:${p.hostId}`;
}

const TOKEN_CACHE_MS = 10_000;
const TOKEN_CACHE_MAX = 10_000;

/**
 * The one authorization point. A token that may not see a project or host gets 404 for it,
 * never 403, so that no caller learns what exists outside its scope.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();
  private readonly adminToken: Buffer | undefined;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokensRepository,
    private readonly projects: ProjectsRepository,
    private readonly hosts: HostsRepository,
    @Inject(API_CONFIG) config: ApiConfig,
  ) {
    this.adminToken = config.adminToken ? Buffer.from(config.adminToken) : undefined;
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const level = this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS, [ctx.getHandler(), ctx.getClass()]) ?? 'admin';
    if (level === 'public') return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const principal = await this.authenticate(req.headers.authorization);
    req.principal = principal;
    const params = req.params as Record<string, string | undefined>;
    switch (level) {
      case 'admin':
        if (principal.kind !== 'admin') throw new NotFoundError('route', req.url.split('?')[0]);
        return true;
      case 'project': {
        const name = params.project ?? '';
        const project = await this.projects.get(undefined, name);
        if (!project || (principal.kind !== 'admin' && !(principal.kind === 'project' && principal.projectId === project.id))) {
          throw new NotFoundError('project', name);
        }
        req.project = { id: project.id, name: project.name };
        return true;
      }
      case 'host': {
        const name = params.host ?? '';
        const host = await this.hosts.get(undefined, name);
        if (!host || (principal.kind !== 'admin' && !(principal.kind === 'host' && principal.hostId === host.id))) {
          throw new NotFoundError('host', name);
        }
        req.hostScope = { id: host.id, name: host.name };
        return true;
      }
    }
  }

  private async authenticate(header: string | undefined): Promise<Principal> {
    const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header ?? '');
    if (!m) throw new UnauthenticatedError();
    const token = m[1];
    if (this.adminToken && token.length === this.adminToken.length && timingSafeEqual(Buffer.from(token), this.adminToken)) return { kind: 'admin' };
    const now = Date.now();
    const hit = this.cache.get(token);
    let principal: Principal | null;
    if (hit && hit.until > now) principal = hit.principal;
    else {
      const owner = await this.tokens.find(token);
      principal = !owner
        ? null
        : owner.kind === 'admin'
          ? { kind: 'admin' }
          : owner.kind === 'project'
            ? { kind: 'project', projectId: owner.projectId! }
            : { kind: 'host', hostId: owner.hostId! };
      if (this.cache.size >= TOKEN_CACHE_MAX) this.cache.clear();
      this.cache.set(token, { principal, until: now + TOKEN_CACHE_MS });
    }
    if (!principal) throw new UnauthenticatedError('The bearer token is not valid');
    return principal;
  }
}
