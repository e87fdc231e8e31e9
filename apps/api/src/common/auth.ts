import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { NotFoundError, UnauthenticatedError } from '@natplane/domain';
import { AuthChangeListener, HostsRepository, ProjectsRepository, TokensRepository } from '@natplane/persistence';
import { API_CONFIG, type ApiConfig } from './config';

export type Principal = { kind: 'admin' } | { kind: 'project'; projectId: string } | { kind: 'host'; hostId: string };

/**
 * Who may call a route: the operator, a project (or the operator), a host's agent (or the
 * operator), the operator or its metrics scraper (NATPLANE_METRICS_TOKEN), anyone.
 */
export type AccessLevel = 'admin' | 'project' | 'host' | 'metrics' | 'public';
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
/** Project name -> id. */
const PROJECT_CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

/**
 * What the guard remembers between requests: token -> principal and project name -> id, each
 * looked up once however many requests arrive meanwhile. Dropped whole whenever a project or
 * host is created or deleted: at once by the process that did it (after its commit), and by every
 * other api process when PostgreSQL delivers the announcement (TokensRepository.announceChange,
 * AuthChangeListener, milliseconds). While the listener is not connected, nothing is cached. So a
 * deleted project's token is refused from the next request on, and a project created again under
 * its name is usable at once.
 */
@Injectable()
export class AuthCache implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly tokens = new Map<string, { principal: Promise<Principal | null>; until: number }>();
  readonly projects = new Map<string, { project: Promise<ProjectScope | undefined>; until: number }>();
  private readonly listener: AuthChangeListener | undefined;

  /** `listen` false: no database (the OpenAPI document is being generated), nothing cached. */
  constructor(config: ApiConfig, listen: boolean) {
    const log = new Logger('auth');
    this.listener = listen ? new AuthChangeListener(config.databaseUrl, () => this.clear(), (m) => log.warn(m)) : undefined;
  }

  onApplicationBootstrap(): void {
    this.listener?.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.listener?.stop();
  }

  /** Whether entries may be kept: only while every change is heard of. */
  get enabled(): boolean {
    return this.listener?.live ?? false;
  }

  clear(): void {
    this.tokens.clear();
    this.projects.clear();
  }
}

/**
 * The one authorization point. A token that may not see a project or host gets 404 for it,
 * never 403, so that no caller learns what exists outside its scope.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly adminToken: Buffer | undefined;
  private readonly metricsToken: Buffer | undefined;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokensRepository,
    private readonly projects: ProjectsRepository,
    private readonly hosts: HostsRepository,
    private readonly cache: AuthCache,
    @Inject(API_CONFIG) config: ApiConfig,
  ) {
    this.adminToken = config.adminToken ? Buffer.from(config.adminToken) : undefined;
    this.metricsToken = config.metricsToken ? Buffer.from(config.metricsToken) : undefined;
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const level = this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS, [ctx.getHandler(), ctx.getClass()]) ?? 'admin';
    if (level === 'public') return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    if (level === 'metrics' && this.metricsToken && sameToken(bearer(req.headers.authorization), this.metricsToken)) return true;
    const principal = await this.authenticate(req.headers.authorization);
    req.principal = principal;
    const params = req.params as Record<string, string | undefined>;
    switch (level) {
      case 'metrics':
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
    const token = bearer(header);
    if (token === undefined) throw new UnauthenticatedError();
    if (this.adminToken && sameToken(token, this.adminToken)) return { kind: 'admin' };
    const now = Date.now();
    const cache = this.cache.tokens;
    let hit = this.cache.enabled ? cache.get(token) : undefined;
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
      hit = { principal, until: now + TOKEN_CACHE_MS };
      if (this.cache.enabled) {
        if (cache.size >= CACHE_MAX) cache.clear();
        cache.set(token, hit);
        principal.catch(() => cache.delete(token));
      }
    }
    const principal = await hit.principal;
    if (!principal) throw new UnauthenticatedError('The bearer token is not valid');
    return principal;
  }

  private async project(name: string): Promise<ProjectScope | undefined> {
    const now = Date.now();
    const cache = this.cache.projects;
    let hit = this.cache.enabled ? cache.get(name) : undefined;
    if (!hit || hit.until <= now) {
      const project = this.projects.get(undefined, name).then((p) => (p ? { id: p.id, name: p.name } : undefined));
      hit = { project, until: now + PROJECT_CACHE_MS };
      if (this.cache.enabled) {
        if (cache.size >= CACHE_MAX) cache.clear();
        cache.set(name, hit);
        project.catch(() => cache.delete(name));
      }
    }
    return hit.project;
  }
}

/** The token of an `Authorization: Bearer <token>` header (at most 512 characters), if that is what it is. */
function bearer(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S{1,512})\s*$/i.exec(header ?? '')?.[1];
}

/** Constant-time comparison with a configured token. */
function sameToken(token: string | undefined, expected: Buffer): boolean {
  if (token === undefined) return false;
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
