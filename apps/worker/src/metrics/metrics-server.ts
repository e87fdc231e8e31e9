import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { FleetMetrics } from './fleet-metrics';
import { workerRegistry } from './worker-metrics';

export const WORKER_METRICS = Symbol('WORKER_METRICS');

export interface WorkerMetricsConfig {
  /** host:port of GET /metrics (WORKER_METRICS_LISTEN, default 127.0.0.1:9464); undefined: none. */
  listen: { host: string; port: number } | undefined;
  /** NATPLANE_METRICS_TOKEN: when set, /metrics asks for it as a bearer token. */
  token: string | undefined;
}

export function workerMetricsConfig(env: NodeJS.ProcessEnv = process.env): WorkerMetricsConfig {
  const raw = env.WORKER_METRICS_LISTEN ?? '127.0.0.1:9464';
  const token = env.NATPLANE_METRICS_TOKEN || undefined;
  if (raw === '' || raw === 'off') return { listen: undefined, token };
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(raw);
  if (!m || Number(m[2]) > 65535) throw new Error(`WORKER_METRICS_LISTEN must be address:port (or off), got '${raw}'`);
  return { listen: { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) }, token };
}

/**
 * The worker's only HTTP surface: GET /metrics (Prometheus text). The worker serves no API
 * (STYLE.md 1); a scrape port is what Prometheus needs from a process without one.
 */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('metrics');
  private server?: Server;

  constructor(
    @Inject(WORKER_METRICS) private readonly config: WorkerMetricsConfig,
    private readonly fleet: FleetMetrics,
  ) {}

  onApplicationBootstrap(): void {
    const listen = this.config.listen;
    if (!listen) return;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics only\n');
        return;
      }
      if (!authorized(this.config.token, req.headers.authorization)) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('a bearer token (NATPLANE_METRICS_TOKEN) is required\n');
        return;
      }
      this.fleet
        .refresh()
        .catch((e: unknown) => this.log.warn(`fleet metrics not read: ${e instanceof Error ? e.message : String(e)}`))
        .then(() => workerRegistry.metrics())
        .then((text) => res.writeHead(200, { 'content-type': workerRegistry.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
    });
    server.on('error', (e) => this.log.warn(`no /metrics on ${listen.host}:${listen.port}: ${e.message}`));
    server.listen(listen.port, listen.host, () => this.log.log(`metrics on http://${listen.host}:${listen.port}/metrics`));
    this.server = server;
  }

  onApplicationShutdown(): void {
    this.server?.close();
  }
}

export function authorized(token: string | undefined, header: string | undefined): boolean {
  if (!token) return true;
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
