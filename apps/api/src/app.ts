import 'reflect-metadata';
import { ConsoleLogger, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { JobQueue } from '@natplane/jobs';
import { AppModule } from './app.module';
import { registerConsole } from './console';
import type { ApiConfig } from './common/config';
import { setPublicUrl } from './common/http';
import { requestInputErrors } from './common/input-shape';
import { PROBLEM_BASE, problemFor, sendProblem } from './common/problem.filter';
import { invalid, validationPipe } from './common/validation';
import { httpDuration, httpRequests } from './health/metrics';

export function jsonLogger(context = 'natplane'): LoggerService {
  return new ConsoleLogger(context, { json: true, logLevels: (process.env.LOG_LEVEL ?? 'log').split(',') as never });
}

/** Builds the api application: Fastify, problem+json everywhere, metrics, OpenAPI at /openapi.json and /docs. */
export async function createApi(config: ApiConfig, opts: { connect?: boolean; logger?: LoggerService | false } = {}): Promise<NestFastifyApplication> {
  setPublicUrl(config.publicUrl);
  const adapter = new FastifyAdapter({
    bodyLimit: 1 << 20,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // Errors the router raises before any handler (bad URL encoding, a path segment over 256
    // characters): problems too.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => sendProblem(reply, problemFor(err, req.url.split('?')[0])),
    // Requests Node's HTTP parser refuses before Fastify sees them (a request line or headers over
    // 16 KB, a malformed request): problems too.
    clientErrorHandler: clientError,
  });
  const fastify = adapter.getInstance();
  // JSON, and RFC 7396 merge patches, which are JSON too. An empty body (a DELETE sent with a
  // JSON content type, as some clients do) is no body rather than an error.
  fastify.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      const err = new Error(`the body is not valid JSON: ${(e as Error).message}`) as FastifyError;
      err.statusCode = 400;
      done(err, undefined);
    }
  });
  // Before the guards, the pipes and any read: a body nested deeper than the walk allows, a member
  // named like Object.prototype's, a string PostgreSQL cannot store (in the body, a path
  // parameter or the query) -> 400 naming it (common/input-shape.ts).
  fastify.addHook('preHandler', (req, reply, done) => {
    const errors = requestInputErrors(req);
    if (errors.length === 0) return done();
    sendProblem(reply, problemFor(invalid(errors), req.url.split('?')[0]));
  });
  fastify.addHook('onRequest', (req, _reply, done) => {
    (req as FastifyRequest & { startedAt?: bigint }).startedAt = process.hrtime.bigint();
    done();
  });
  fastify.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const started = (req as FastifyRequest & { startedAt?: bigint }).startedAt;
    httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    if (started !== undefined) httpDuration.observe({ method: req.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
    done();
  });
  // Errors raised by Fastify itself (malformed JSON, wrong content type, body too large) reach
  // Nest's error handler, which Nest installs on Fastify at init, and through it the problem
  // filter: problems too (test/api/fuzz.test.ts sends them all).

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config, { connect: opts.connect }), adapter, {
    logger: opts.logger ?? jsonLogger(),
    bufferLogs: false,
    bodyParser: false, // ours above: JSON and merge-patch JSON, empty bodies allowed
  });
  app.useGlobalPipes(validationPipe());
  app.enableShutdownHooks();
  const document = openApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json', raw: ['json'] });
  await registerConsole(app);
  const jobs = app.get(JobQueue);
  app.getHttpAdapter().getInstance().addHook('onClose', async () => {
    await jobs.close();
  });
  return app;
}

/** Fastify's clientErrorHandler: the same answer as Node's or Fastify's own, as problem+json. */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request line and headers exceed 16 KB (a query string that long is not a request of this API)']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time']
        : [400, 'the request is not valid HTTP'];
  const title = STATUS_CODES[status] ?? 'Client error';
  const body = JSON.stringify({ type: `${PROBLEM_BASE}http-${status}`, title, status, detail });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${title}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/problem+json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

export function openApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('natplane')
    .setDescription('Managed cloud NAT control plane. Field names follow Google Cloud NAT. Errors are application/problem+json (RFC 9457).')
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'admin, project or host token' })
    .addServer('/')
    .build();
  return SwaggerModule.createDocument(app, config, { operationIdFactory: (_c, method) => method });
}
