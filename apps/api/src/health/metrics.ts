import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The api's Prometheus registry: request counts and latency per route, and process metrics. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });
// prom-client names three gauges *_total, which `promtool check metrics` refuses (only counters end in _total)
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);

export const httpRequests = new Counter({
  name: 'natplane_http_requests_total',
  help: 'HTTP requests by method, route and status code',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'natplane_http_request_duration_seconds',
  help: 'HTTP request latency by method and route',
  labelNames: ['method', 'route'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const dbReplays = new Counter({
  name: 'natplane_db_replays_total',
  help: 'Transactions and statements replayed after PostgreSQL aborted them (40001 serialization failure, 40P01 deadlock)',
  labelNames: ['code'] as const,
  registers: [registry],
});
