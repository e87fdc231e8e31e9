/**
 * The worker's Prometheus registry (docs/observability.md "Worker"): job durations and outcomes
 * (the reconcile duration is job="reconcile-gateway"), pushes to agents, queue depths, and the
 * fleet's convergence read from PostgreSQL at scrape time (hosts behind their desired generation,
 * for how long, last report of each host, gateways not yet reconciled).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const workerRegistry = new Registry();
collectDefaultMetrics({ register: workerRegistry });
// prom-client names three gauges *_total, which `promtool check metrics` refuses (only counters end in _total)
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) workerRegistry.removeSingleMetric(name);

export const jobDuration = new Histogram({
  name: 'natplane_worker_job_duration_seconds',
  help: 'Time a job took in its handler, by job and outcome (reconcile-gateway: the reconcile duration)',
  labelNames: ['job', 'outcome'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [workerRegistry],
});

export const pushes = new Counter({
  name: 'natplane_worker_host_pushes_total',
  help: 'Pushes of host documents to agents, by method (PUT whole, PATCH difference) and outcome (acknowledged; refused: the agent answered 409, holding another generation or base; failed)',
  labelNames: ['method', 'outcome'] as const,
  registers: [workerRegistry],
});

export const pushDuration = new Histogram({
  name: 'natplane_worker_host_push_duration_seconds',
  help: 'Time from sending a push to the agent answering, by method',
  labelNames: ['method'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [workerRegistry],
});

/** Times a job's handler. */
export async function observeJob<T>(job: string, run: () => Promise<T>): Promise<T> {
  const end = jobDuration.startTimer({ job });
  try {
    const r = await run();
    end({ outcome: 'completed' });
    return r;
  } catch (e) {
    end({ outcome: 'failed' });
    throw e;
  }
}

/** Times and counts one push. */
export async function observePush<T>(method: 'PUT' | 'PATCH', run: () => Promise<T>, refused: (e: unknown) => boolean = () => false): Promise<T> {
  const end = pushDuration.startTimer({ method });
  try {
    const r = await run();
    pushes.inc({ method, outcome: 'acknowledged' });
    return r;
  } catch (e) {
    pushes.inc({ method, outcome: refused(e) ? 'refused' : 'failed' });
    throw e;
  } finally {
    end();
  }
}

/** Gauges set at scrape time by FleetMetrics. */
export const fleet = {
  queueJobs: new Gauge({ name: 'natplane_worker_queue_jobs', help: 'Jobs in the BullMQ queues, by queue and state', labelNames: ['queue', 'state'] as const, registers: [workerRegistry] }),
  hostsBehind: new Gauge({ name: 'natplane_hosts_behind', help: 'Hosts whose applied generation is behind their desired generation', registers: [workerRegistry] }),
  hostsUnreachable: new Gauge({ name: 'natplane_hosts_unreachable', help: 'Hosts with 3 or more consecutive failed pushes', registers: [workerRegistry] }),
  convergenceLag: new Gauge({ name: 'natplane_convergence_lag_seconds', help: 'How long the host furthest behind has been behind its desired generation (0: every host converged)', registers: [workerRegistry] }),
  hostBehind: new Gauge({ name: 'natplane_host_behind_seconds', help: 'How long a host has been behind its desired generation (only hosts behind have a series)', labelNames: ['host'] as const, registers: [workerRegistry] }),
  lastReport: new Gauge({ name: 'natplane_host_last_report_timestamp_seconds', help: "Unix time of a host's agent's last report (hosts that reported at least once)", labelNames: ['host'] as const, registers: [workerRegistry] }),
  gatewaysUnconverged: new Gauge({ name: 'natplane_gateways_unconverged', help: 'Gateways whose observed generation is behind their generation (reconcile pending)', registers: [workerRegistry] }),
};
