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
export interface HostScopeInfo {
  id: string;
  name: string;
}
/** The host of a /v1/hosts/{host}/... route, resolved and authorized by the guard. */
export const HostScope = createParamDecorator((_: unknown, ctx: ExecutionContext): HostScopeInfo => ctx.switchToHttp().getRequest<AuthedRequest>().hostScope!);
export const Caller = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest<AuthedRequest>().principal!);

/** Principal key for idempotency scopes and logs. */
export function principalKey(p: Principal): string {
  return p.kind === 'admin' ? 'admin' : p.kind === 'project' ? `project:${p.projectId}` : `host:${p.hostId}`;
}

const TOKEN_CACHE_MS = 10_000;
/** Project name -> id: a deleted project stays visible to this instance for at most this long
 * (writes into it then fail on the foreign key with 409, never corrupt anything). */
const PROJECT_CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

/**
 * The one authorization point. A token that may not see a project or host gets 404 for it,
 * never 403, so that no caller learns what exists outside its scope.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly cache = new Map<string, { principal: Promise<Principal | null>; until: number }>();
  private readonly projectCache = new Map<string, { project: Promise<ProjectScope | undefined>; until: number }>();
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
        const project = await this.project(name);
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
    let hit = this.cache.get(token);
    if (!hit || hit.until <= now) {
      // One lookup per token however many requests arrive while it runs.
      const principal = this.tokens.find(token).then((owner): Principal | null =>
        !owner
          ? null
          : owner.kind === 'admin'
            ? { kind: 'admin' }
            : owner.kind === 'project'
              ? { kind: 'project', projectId: owner.projectId! }
              : { kind: 'host', hostId: owner.hostId! },
      );
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      hit = { principal, until: now + TOKEN_CACHE_MS };
      this.cache.set(token, hit);
      principal.catch(() => this.cache.delete(token));
    }
    const principal = await hit.principal;
    if (!principal) throw new UnauthenticatedError('The bearer token is not valid');
    return principal;
  }

  private async project(name: string): Promise<ProjectScope | undefined> {
    const now = Date.now();
    let hit = this.projectCache.get(name);
    if (!hit || hit.until <= now) {
      const project = this.projects.get(undefined, name).then((p) => (p ? { id: p.id, name: p.name } : undefined));
      if (this.projectCache.size >= CACHE_MAX) this.projectCache.clear();
      hit = { project, until: now + PROJECT_CACHE_MS };
      this.projectCache.set(name, hit);
      project.catch(() => this.projectCache.delete(name));
    }
    return hit.project;
  }
}
