/**
 * The host agent's Prometheus registry, served at GET /metrics on AGENT_LISTEN
 * (docs/observability.md "Agent"): applies and failures by mode, apply duration, the applied
 * document generation, endpoints programmed, reports sent, pushes refused, NAT log records written
 * and suppressed.
 */
import { timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const agentRegistry = new Registry();
collectDefaultMetrics({ register: agentRegistry });
// prom-client names three gauges *_total, which `promtool check metrics` refuses (only counters end in _total)
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) agentRegistry.removeSingleMetric(name);

export type ApplyMode = 'full' | 'diff' | 'patch';

const applies = new Counter({
  name: 'natplane_agent_applies_total',
  help: 'Documents and patches applied to the data plane, by mode (full load, diff, patch) and outcome (ok, failed)',
  labelNames: ['mode', 'outcome'] as const,
  registers: [agentRegistry],
});
const applyDuration = new Histogram({
  name: 'natplane_agent_apply_duration_seconds',
  help: 'Time to apply a document or patch to the data plane, by mode',
  labelNames: ['mode'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [agentRegistry],
});
const generation = new Gauge({ name: 'natplane_agent_document_generation', help: 'The generation of the document the data plane holds (0: none yet)', registers: [agentRegistry] });
const endpoints = new Gauge({ name: 'natplane_agent_endpoints', help: 'Endpoints programmed on this host', registers: [agentRegistry] });
const reports = new Counter({ name: 'natplane_agent_reports_total', help: 'Reports sent to the api, by outcome (ok, failed)', labelNames: ['outcome'] as const, registers: [agentRegistry] });
export const natLogRecords = new Counter({
  name: 'natplane_agent_nat_log_records_total',
  help: 'NAT log records written to the sink, by allocation status (OK, DROPPED)',
  labelNames: ['allocation_status'] as const,
  registers: [agentRegistry],
});
export const natLogSuppressed = new Counter({ name: 'natplane_agent_nat_log_suppressed_total', help: 'NAT log records not written because of the rate limit', registers: [agentRegistry] });
const pushRefusals = new Counter({
  name: 'natplane_agent_push_refusals_total',
  help: 'Pushes this agent refused, by method, HTTP status and reason (the problem type: older-generation, base-generation-mismatch, bad-signature, ...)',
  labelNames: ['method', 'status', 'reason'] as const,
  registers: [agentRegistry],
});
generation.set(0);
endpoints.set(0);

export function observeRefusal(method: string, status: number, reason: string): void {
  pushRefusals.inc({ method, status: String(status), reason });
}

export function observeApply(mode: ApplyMode, outcome: 'ok' | 'failed', ms: number, state?: { generation: number; endpoints?: number }): void {
  applies.inc({ mode, outcome });
  applyDuration.observe({ mode }, ms / 1000);
  if (state) {
    generation.set(state.generation);
    if (state.endpoints !== undefined) endpoints.set(state.endpoints);
  }
}

export function observeReport(outcome: 'ok' | 'failed'): void {
  reports.inc({ outcome });
}

/** NATPLANE_METRICS_TOKEN, when set, is asked for as a bearer token. */
export function metricsAuthorized(token: string | undefined, header: string | undefined): boolean {
  if (!token) return true;
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
