import { databaseConfig } from '@natplane/persistence';
import { redisConfig } from '@natplane/jobs';

/** The api's environment, validated once at start into a typed object. */
export interface ApiConfig {
  port: number;
  host: string;
  adminToken: string | undefined;
  /** A bearer token that may read /metrics only (for a Prometheus scraper); the admin token may too. */
  metricsToken: string | undefined;
  databaseUrl: string;
  redisUrl: string;
  /** Base of selfLinks; default: derived from each request's Host header. */
  publicUrl: string | undefined;
  dbPoolSize: number;
  /**
   * NATPLANE_METRICS_PER_ENDPOINT: /metrics also has one series per endpoint (natplane_endpoint_nat_*),
   * as many series as endpoints times metrics: off by default (docs/observability.md "Cardinality").
   */
  metricsPerEndpoint: boolean;
}

export const API_CONFIG = Symbol('API_CONFIG');

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got '${env.PORT}'`);
  const adminToken = env.NATPLANE_ADMIN_TOKEN || undefined;
  if (adminToken !== undefined && adminToken.length < 16) throw new Error('NATPLANE_ADMIN_TOKEN must be at least 16 characters');
  const metricsToken = env.NATPLANE_METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && metricsToken.length < 16) throw new Error('NATPLANE_METRICS_TOKEN must be at least 16 characters');
  const poolSize = Number(env.DB_POOL_SIZE ?? 10);
  const perEndpoint = (env.NATPLANE_METRICS_PER_ENDPOINT ?? 'false').toLowerCase();
  if (!['true', 'false', '1', '0', ''].includes(perEndpoint)) throw new Error(`NATPLANE_METRICS_PER_ENDPOINT must be true or false, got '${env.NATPLANE_METRICS_PER_ENDPOINT}'`);
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    adminToken,
    metricsToken,
    databaseUrl: databaseConfig(env).url,
    redisUrl: redisConfig(env).url,
    publicUrl: env.PUBLIC_URL?.replace(/\/$/, '') || undefined,
    dbPoolSize: Number.isInteger(poolSize) && poolSize > 0 ? poolSize : 10,
    metricsPerEndpoint: perEndpoint === 'true' || perEndpoint === '1',
  };
}
