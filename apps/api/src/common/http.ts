import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

let configuredBase: string | undefined;

export function setPublicUrl(url: string | undefined): void {
  configuredBase = url;
}

/** Base of selfLinks: PUBLIC_URL, else the request's own scheme and Host. */
export const BaseUrl = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  if (configuredBase) return configuredBase;
  const req = ctx.switchToHttp().getRequest<FastifyRequest>();
  const proto = (req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0] ?? req.protocol;
  return `${proto}://${req.headers.host ?? 'localhost'}`;
});
