/**
 * The web console (apps/console, built by Vite into dist/console/) served as static files at
 * /console/. These are plain Fastify routes, outside Nest's router: no guard (the console signs
 * in with a token and calls the API like any client) and no entry in the OpenAPI document.
 * Without a build, /console answers a 404 problem that says how to build it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_BASE, sendProblem } from './common/problem.filter';

export const CONSOLE_PREFIX = '/console';

/** Where the built console is: CONSOLE_DIR, else dist/console beside the built api or the sources. */
export function consoleDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = env.CONSOLE_DIR
    ? [env.CONSOLE_DIR]
    : [
        resolve(__dirname, '..', '..', '..', 'console'), // dist/apps/api/src -> dist/console
        resolve(__dirname, '..', '..', '..', 'dist', 'console'), // apps/api/src (ts-node, jest) -> dist/console
      ];
  return candidates.find((d) => existsSync(join(d, 'index.html')));
}

export async function registerConsole(app: NestFastifyApplication, root = consoleDir()): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  if (!root) {
    const notBuilt = (req: FastifyRequest, reply: FastifyReply) =>
      sendProblem(reply, {
        type: `${PROBLEM_BASE}console-not-built`,
        title: 'Not Found',
        status: 404,
        detail: 'the web console is not built: run `npm run build` (or `npx vite build --config apps/console/vite.config.mts`), then restart the api',
        instance: req.url.split('?')[0],
      });
    fastify.get(CONSOLE_PREFIX, notBuilt);
    fastify.get(`${CONSOLE_PREFIX}/*`, notBuilt);
    return;
  }
  await app.register(fastifyStatic, { root, prefix: `${CONSOLE_PREFIX}/`, index: false, cacheControl: false });
  // The router ignores trailing slashes, so /console/ arrives as /console: the page itself (its
  // assets are absolute, /console/assets/...).
  fastify.get(CONSOLE_PREFIX, (_req, reply) => reply.header('cache-control', 'no-cache').sendFile('index.html', root));
}
