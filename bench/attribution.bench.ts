/**
 * attribution: "who held NAT IP:port at instant T" over months of history (issue 19), through the
 * built api (GET /v1/admin/attributions), against a fresh migrated database whose closed history
 * is filled straight with SQL: 256 NAT IPs, 64-port blocks, holdings of 1 to 120 minutes spread
 * over ATTR_BENCH_DAYS days of daily partitions, plus the rows held now.
 *
 * 1. Lookups at 1 million closed rows, then at 10 million (ATTR_BENCH_ROWS): random instants and
 *    ports of random NAT IPs (hits and misses), one at a time, ATTR_BENCH_LOOKUPS each; p50 and
 *    p99, and the ratio 10M / 1M (flat: the cost does not grow with the history); CPU ms per lookup
 *    of the api, of PostgreSQL's backends and of this process (the HTTP client).
 * 2. Retention: a partition of 1 million rows is detached (CONCURRENTLY) and dropped while lookups
 *    run; its time, and the lookups' p99 meanwhile.
 *
 * Each fill ends with VACUUM (ANALYZE), as autovacuum leaves a day's partition once written, and
 * each measured phase follows 500 unmeasured lookups (the api's connections warm), the first 4,000
 * (the api's code optimized: see WARMUP).
 *
 * Knobs (env): ATTR_BENCH_ROWS (10000000), ATTR_BENCH_DAYS (60), ATTR_BENCH_LOOKUPS (2000).
 */
import * as http from 'node:http';
import { Client } from 'pg';
import { median, percentile, type Benchmark, type BenchRow } from './harness';
import { dropDatabase, flushRedis, freshDatabase, startApi, type ApiProcess } from './support/api-process';
import { cpuMeter, machineMeter, pgBackends } from './support/cpu';

const DB = 'natplane_bench_attr';
const REDIS_URL = 'redis://127.0.0.1:6379/11';
const ADMIN_TOKEN = 'attr-bench-admin-token-0123456789abcdef';
const BENCH = 'attribution';
const DAY = 86_400_000;

const num = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const ROWS = num('ATTR_BENCH_ROWS', 10_000_000);
const DAYS = num('ATTR_BENCH_DAYS', 60);
const LOOKUPS = num('ATTR_BENCH_LOOKUPS', 2000);
const FIRST = Math.min(1_000_000, ROWS);
/**
 * Unmeasured lookups before each measured phase, for the api's code: V8 keeps optimizing the
 * request path over the first few thousand requests (lookups one at a time after 2,000, then after
 * 4,000: p50 1.29 then 0.83 ms, p99 5.6 then 3.8 ms, quiet machine), so a phase measured on a
 * process that fresh measures its warming, not the history's size: with 500, the 1M phase (first)
 * had p99 6.6 ms and the 10M phase (second) 4.8.
 */
const WARMUP = 4000;

/**
 * The lookups' GET: node:http over one kept-alive connection, as convergence.bench.ts posts. fetch
 * (undici) cost this process 0.42 ms of CPU per lookup, as much as the api spent answering it, on
 * the two cores the api and PostgreSQL share with it; node:http about half that.
 * Idle sockets close after 4 s, before the api closes them (5 s), so a lookup never races a closing socket.
 */
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 4000 });
function get(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: keepAlive, headers }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** A deterministic PRNG (mulberry32), so runs look the same instants up. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Closed rows [from, to) numbered lo..hi-1, spread over the `days` days before `end`, written as
 * pieces of their UTC days (a row crossing midnight is two pieces, as the reconciler writes it).
 */
async function fill(pg: Client, lo: number, hi: number, end: number): Promise<void> {
  const step = 500_000;
  for (let a = lo; a < hi; a += step) {
    const b = Math.min(hi, a + step);
    await pg.query(
      `WITH r AS (
         SELECT i AS id, ('198.18.' || (i % 256) || '.1')::inet AS ip, 1024 + ((i / 256) % 1008) * 64 AS lo,
                $3::timestamptz - (((i * 7919) % ($4::bigint * 86400)) || ' seconds')::interval AS vf,
                (1 + (i % 120)) * interval '1 minute' AS len
         FROM generate_series($1::bigint, $2::bigint - 1) i)
       INSERT INTO allocation_history_closed (id, nat_ip, port_lo, port_hi, project_id, project_name, gateway_id, gateway_name, endpoint_id, endpoint_name,
                                              host_name, source_ip, rule_number, state, valid_from, valid_to, piece_from, piece_to)
       SELECT r.id, r.ip, r.lo, r.lo + 63, '00000000-0000-4000-8000-000000000001', 'bench', '00000000-0000-4000-8000-000000000002', 'gw',
              md5(r.id::text)::uuid, 'vm-' || r.id, 'host-' || (r.id % 1000), ('10.' || (r.id % 250) || '.0.2')::inet, -1, 'ACTIVE',
              r.vf, least(r.vf + r.len, $3::timestamptz), greatest(r.vf, d), least(r.vf + r.len, $3::timestamptz, d + interval '24 hours')
       FROM r, LATERAL generate_series(date_trunc('day', r.vf, 'UTC'), least(r.vf + r.len, $3::timestamptz), interval '24 hours') d
       WHERE greatest(r.vf, d) < least(r.vf + r.len, $3::timestamptz, d + interval '24 hours')`,
      [a, b, new Date(end), DAYS],
    );
  }
  // What autovacuum does to a day's partition once it is written (docs/postgresql.md): the
  // visibility map set, so lookups are index-only scans, and the statistics.
  await pg.query('VACUUM (ANALYZE) allocation_history_closed');
}

/**
 * n lookups one at a time: every other one an instant inside a row written by fill() among the
 * first `rows` (a hit, unless a later row of the same block took over), the others random.
 */
async function lookups(api: ApiProcess, n: number, end: number, rows: number, seed: number): Promise<{ ms: number[]; hits: number; cpu: Record<string, number>; machine: { busyPct: number; stealPct: number } }> {
  const meter = cpuMeter(() => ({ api: api.child.pid ? [api.child.pid] : [], postgres: pgBackends(DB) }));
  const machine = machineMeter();
  const rand = prng(seed);
  const ms: number[] = [];
  let hits = 0;
  for (let i = 0; i < n; i++) {
    let ip: string;
    let port: number;
    let at: string;
    if (i % 2 === 0) {
      const id = Math.floor(rand() * rows);
      const from = end - ((id * 7919) % (DAYS * 86400)) * 1000;
      ip = `198.18.${id % 256}.1`;
      port = 1024 + (Math.floor(id / 256) % 1008) * 64 + 5;
      at = new Date(Math.min(end - 1000, from + ((1 + (id % 120)) * 60_000) / 2)).toISOString();
    } else {
      ip = `198.18.${Math.floor(rand() * 256)}.1`;
      port = 1024 + Math.floor(rand() * 64512);
      at = new Date(end - rand() * DAYS * DAY).toISOString();
    }
    const t0 = performance.now();
    const status = await get(`${api.url}/v1/admin/attributions?natIp=${ip}&port=${port}&time=${at}`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    ms.push(performance.now() - t0);
    if (status === 200) hits++;
    else if (status !== 404) throw new Error(`lookup answered ${status}`);
  }
  return { ms, hits, cpu: meter.stop(), machine: machine.stop() };
}

const bench: Benchmark = {
  name: BENCH,
  async run(): Promise<BenchRow[]> {
    const url = await freshDatabase(DB);
    await flushRedis(REDIS_URL);
    const pg = new Client({ connectionString: url });
    await pg.connect();
    let api: ApiProcess | undefined;
    try {
      const end = Date.now();
      // the days of history and one old extra day for the retention drop
      await pg.query(`SELECT natplane_history_partition(d::date) FROM generate_series($1::date, $2::date, interval '1 day') d`, [
        new Date(end - (DAYS + 2) * DAY).toISOString().slice(0, 10),
        new Date(end + DAY).toISOString().slice(0, 10),
      ]);
      await pg.query(`UPDATE allocation_history_retention SET kept_from = $1`, [new Date(Math.floor((end - (DAYS + 2) * DAY) / DAY) * DAY)]);
      api = await startApi({ NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: url, REDIS_URL });
      const rows: BenchRow[] = [];

      const t0 = Date.now();
      await fill(pg, 0, FIRST, end);
      // Each phase first warms up (the api's pool connections open, each backend reads the
      // partitions' catalog entries once), unmeasured and with other instants, as a running api is.
      await lookups(api, WARMUP, end, FIRST, 7);
      const small = await lookups(api, LOOKUPS, end, FIRST, 1);
      await fill(pg, FIRST, ROWS, end);
      const fillS = (Date.now() - t0) / 1000;
      const pieces = Number((await pg.query<{ n: string }>('SELECT count(*)::text AS n FROM allocation_history_closed')).rows[0].n);
      // As long a warm-up as the first phase's: the api and this bench idled through the fill (4
      // minutes for 10M rows), and after 500 lookups both still spent about twice the CPU per
      // lookup they had spent in the 1M phase (api 0.90 vs 0.40 ms, client 0.80 vs 0.46, quiet
      // machine): V8 had let the idle request path's optimized code go, as it does with code
      // that stops running.
      await lookups(api, WARMUP, end, ROWS, 7);
      const big = await lookups(api, LOOKUPS, end, ROWS, 1);
      for (const [label, r, n] of [
        ['1M', small, FIRST],
        [`${ROWS / 1e6}M`, big, ROWS],
      ] as const) {
        const p99 = percentile(r.ms, 99);
        rows.push({
          benchmark: BENCH,
          metric: `lookup through the api at ${label} closed rows over ${DAYS} days, p99`,
          value: p99,
          unit: 'ms',
          target: '<= 5 ms',
          pass: p99 <= 5,
          details: {
            p50: median(r.ms),
            lookups: r.ms.length,
            hits: r.hits,
            rows: n,
            // CPU per lookup: the api process, PostgreSQL's backends of this database, this bench (the HTTP client)
            api_cpu_ms: r.cpu.api / r.ms.length,
            pg_cpu_ms: r.cpu.postgres / r.ms.length,
            client_cpu_ms: r.cpu.bench / r.ms.length,
            // the machine over the phase (all cores): busy and stolen shares, to tell a quiet phase
            machine_busy_pct: r.machine.busyPct,
            machine_steal_pct: r.machine.stealPct,
            ...(n === ROWS ? { pieces, fill_s: fillS } : {}),
          },
        });
      }
      rows.push({
        benchmark: BENCH,
        metric: `lookup p50 at ${ROWS / 1e6}M / at 1M rows (flat in history size)`,
        value: median(big.ms) / median(small.ms),
        unit: 'x',
        target: '<= 1.5 x',
        pass: median(big.ms) / median(small.ms) <= 1.5,
        details: { p99_ratio: percentile(big.ms, 99) / percentile(small.ms, 99) },
      });

      // retention: drop a day of 1,000,000 rows while lookups run
      const oldDay = new Date(end - (DAYS + 1) * DAY).toISOString().slice(0, 10);
      const part = `allocation_history_closed_p${oldDay.replace(/-/g, '')}`;
      await pg.query(
        `INSERT INTO ${part} (id, nat_ip, port_lo, port_hi, project_id, project_name, gateway_id, gateway_name, endpoint_id, endpoint_name,
                              host_name, source_ip, rule_number, state, valid_from, valid_to, piece_from, piece_to)
         SELECT 100000000 + i, ('198.18.' || (i % 256) || '.1')::inet, 1024, 1087, '00000000-0000-4000-8000-000000000001', 'bench',
                '00000000-0000-4000-8000-000000000002', 'gw', '00000000-0000-4000-8000-000000000003', 'vm', 'h', '10.0.0.2', -1, 'ACTIVE',
                $1::date + (i % 86000) * interval '1 second', $1::date + (i % 86000 + 60) * interval '1 second',
                $1::date + (i % 86000) * interval '1 second', $1::date + (i % 86000 + 60) * interval '1 second'
         FROM generate_series(1, 1000000) i`,
        [oldDay],
      );
      let stop = false;
      const during: number[] = [];
      const load = (async () => {
        let seed = 7;
        while (!stop) during.push(...(await lookups(api, 20, end, ROWS, seed++)).ms);
      })();
      await new Promise((r) => setTimeout(r, 500));
      const d0 = performance.now();
      await pg.query(`ALTER TABLE allocation_history_closed DETACH PARTITION ${part} CONCURRENTLY`);
      await pg.query(`DROP TABLE ${part}`);
      const dropMs = performance.now() - d0;
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await load;
      rows.push({
        benchmark: BENCH,
        metric: 'retention: drop a partition of 1,000,000 rows with lookups running',
        value: dropMs,
        unit: 'ms',
        target: '< 1000 ms',
        pass: dropMs < 1000,
        details: { lookups_during: during.length, lookup_p99_during_ms: percentile(during, 99), lookup_max_during_ms: Math.max(...during) },
      });
      return rows;
    } finally {
      keepAlive.destroy();
      await api?.stop();
      await pg.end();
      await dropDatabase(DB).catch(() => undefined);
      await flushRedis(REDIS_URL).catch(() => undefined);
    }
  },
};

export default bench;
