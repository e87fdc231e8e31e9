/**
 * terraform: the Terraform provider with the real terraform binary (/usr/local/bin/terraform or
 * TERRAFORM_BIN), against the built api and worker (child processes, a fresh database) and one
 * simulated host agent (support/agent-farm.ts: verifies every push's signature, acknowledges it).
 *
 * 1. Handshake: the provider executable as installed in the mirror (`npm run terraform:mirror`),
 *    started as Terraform starts it (magic cookie, protocol versions, a client certificate), timed
 *    from exec to its handshake line on stdout; TF_BENCH_HANDSHAKES runs (20), after one that warms
 *    the compile cache. Target <= 250 ms. The CPU the process used until then is reported beside
 *    it (on a busy machine the wall time is mostly the wait for a core).
 * 2. A configuration of 1 gateway with 3 rules, 50 endpoints, a network, a subnet and 4 addresses
 *    (57 resources; the operator's project, pool and host are made through the API): `terraform
 *    apply` from nothing, `plan` with nothing to change and `destroy`, each TF_BENCH_RUNS times
 *    (3), median wall time. Target: plan <= 3 s.
 * 3. Requests per resource on refresh: the provider talks to the api through a counting proxy;
 *    the requests of one `plan` (which refreshes every resource) divided by the resources in the
 *    state. Target <= 1.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, percentile, type Benchmark, type BenchRow } from './harness';
import { startAgentFarm, type AgentFarm } from './support/agent-farm';
import { processCpuMs } from './support/cpu';
import { call, flushRedis, freshDatabase, startApi, type ApiProcess } from './support/api-process';
import { num } from './support/knobs';
import { printTails, tearDown } from './support/teardown';
import { startWorker, type WorkerProcess } from './support/worker-process';

const BENCH = 'terraform';
const DB = 'natplane_bench_tf';
/** Database 5 of REDIS_URL's server (flushed before and after). */
const REDIS_URL = (() => {
  const u = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  u.pathname = '/5';
  return u.toString();
})();
const ADMIN_TOKEN = 'tf-bench-admin-token-0123456789abcdef';
const ROOT = join(__dirname, '..', '..');
const HANDSHAKES = num('TF_BENCH_HANDSHAKES', 20);
const RUNS = num('TF_BENCH_RUNS', 3);
const ENDPOINTS = 50;
const COOKIE = { TF_PLUGIN_MAGIC_COOKIE: 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2', PLUGIN_PROTOCOL_VERSIONS: '5,6', PLUGIN_MIN_PORT: '10000', PLUGIN_MAX_PORT: '25000' };

function terraformBin(): string | undefined {
  const b = process.env.TERRAFORM_BIN ?? '/usr/local/bin/terraform';
  return existsSync(b) ? b : undefined;
}

/** Exec to handshake line, in ms, of one provider process (then asked to stop). */
function handshakeOnce(exe: string, clientCert: string, cpu: number[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(exe, [], { env: { PATH: process.env.PATH, ...COOKIE, PLUGIN_CLIENT_CERT: clientCert }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!out.includes('\n')) return;
      const ms = performance.now() - t0;
      // CPU the process used until then: on a busy machine wall time mostly measures the wait for a core
      cpu.push(processCpuMs(child.pid));
      if (!/^1\|6\|tcp\|127\.0\.0\.1:\d+\|grpc\|[A-Za-z0-9+/]+\n/.test(out)) reject(new Error(`bad handshake line: ${out}`));
      child.kill('SIGTERM');
      child.once('exit', () => resolve(ms));
    });
    child.once('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`provider exited ${code} before its handshake: ${err}`));
    });
  });
}

/** A proxy to the api that counts the requests passing through. */
async function countingProxy(target: string): Promise<{ url: string; count: () => number; reset: () => void; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers };
      for (const h of ['host', 'content-length', 'connection', 'keep-alive', 'transfer-encoding']) delete headers[h];
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      fetch(target + req.url, { method: req.method, headers: headers as Record<string, string>, body })
        .then(async (r) => {
          const buf = Buffer.from(await r.arrayBuffer());
          res.writeHead(r.status, Object.fromEntries([...r.headers.entries()].filter(([k]) => k !== 'content-encoding' && k !== 'content-length' && k !== 'transfer-encoding')));
          res.end(buf);
        })
        .catch((e: unknown) => res.writeHead(502).end(String(e)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => n,
    reset: () => (n = 0),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function configuration(): string {
  return `terraform {
  required_providers {
    natplane = { source = "natplane/natplane" }
  }
}
provider "natplane" {
  project = "bench"
}
resource "natplane_network" "n" {
  name = "net"
}
resource "natplane_subnet" "s" {
  name          = "sub"
  network       = natplane_network.n.name
  region        = "b1"
  ip_cidr_range = "10.0.0.0/24"
}
resource "natplane_endpoint" "vm" {
  count      = ${ENDPOINTS}
  name       = "vm-\${count.index}"
  subnet     = natplane_subnet.s.name
  host       = "hv-1"
  network_ip = "10.0.0.\${count.index + 10}"
}
resource "natplane_address" "ip" {
  count  = 4
  name   = "ip-\${count.index}"
  region = "b1"
}
resource "natplane_nat_gateway" "gw" {
  name             = "gw"
  network          = natplane_network.n.name
  region           = "b1"
  nat_ips          = [natplane_address.ip[0].name]
  min_ports_per_vm = 256
${[0, 1, 2]
  .map(
    (i) => `  rules {
    rule_number = ${(i + 1) * 10}
    match       = "inIpRange(destination.ip, '192.0.${i}.0/24')"
    action {
      source_nat_active_ips = [natplane_address.ip[${i + 1}].name]
    }
  }`,
  )
  .join('\n')}
  depends_on = [natplane_endpoint.vm]
}
`;
}

const bench: Benchmark = {
  name: BENCH,
  async run(): Promise<BenchRow[]> {
    const tf = terraformBin();
    const rows: BenchRow[] = [];
    const mirror = execFileSync(process.execPath, [join(ROOT, 'scripts/terraform-mirror.js')], { cwd: ROOT, encoding: 'utf8' });
    const exe = /terraform mirror: (\S+)/.exec(mirror)?.[1];
    if (!exe) throw new Error(`terraform:mirror printed no executable:\n${mirror}`);
    const clientCert = execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=localhost', '-days', '1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await handshakeOnce(join(ROOT, exe), clientCert); // warm the file cache and V8's compile cache (as every run after the first)
    const hs: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < HANDSHAKES; i++) hs.push(await handshakeOnce(join(ROOT, exe), clientCert, cpu));
    const hsMedian = median(hs);
    rows.push({
      benchmark: BENCH,
      metric: 'provider exec to handshake',
      value: hsMedian,
      unit: 'ms',
      target: '<= 250 ms',
      pass: hsMedian <= 250,
      details: { p90_ms: percentile(hs, 90), cpu_median_ms: median(cpu), runs: HANDSHAKES },
    });
    if (!tf) {
      process.stderr.write('  no terraform binary (TERRAFORM_BIN or /usr/local/bin/terraform): plan and apply not measured\n');
      return rows;
    }

    let api: ApiProcess | undefined;
    let worker: WorkerProcess | undefined;
    let farm: AgentFarm | undefined;
    let proxy: Awaited<ReturnType<typeof countingProxy>> | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'natplane-tf-bench-'));
    try {
      await flushRedis(REDIS_URL);
      const databaseUrl = await freshDatabase(DB);
      const env = { NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: databaseUrl, REDIS_URL, LOG_LEVEL: 'error' };
      api = await startApi(env);
      worker = await startWorker(env);
      farm = await startAgentFarm(1);
      await call(api.url, ADMIN_TOKEN, 'POST', '/v1/admin/projects', { name: 'bench' });
      await call(api.url, ADMIN_TOKEN, 'POST', '/v1/admin/addressPools', { name: 'pool', region: 'b1', cidrs: ['203.0.113.0/28'] });
      const host = await call<{ pushSecret: string }>(api.url, ADMIN_TOKEN, 'POST', '/v1/admin/hosts', { name: 'hv-1', region: 'b1', zone: 'b1-a', agentUrl: farm.urls[0] });
      await farm.setSecret(0, host.pushSecret);
      proxy = await countingProxy(api.url);

      writeFileSync(join(dir, 'main.tf'), configuration());
      const tfEnv = {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        CHECKPOINT_DISABLE: '1',
        TF_IN_AUTOMATION: '1',
        TF_INPUT: '0',
        TF_CLI_CONFIG_FILE: join(ROOT, 'dist/terraform/terraform.rc'),
        NATPLANE_API_URL: proxy.url,
        NATPLANE_TOKEN: ADMIN_TOKEN,
      };
      // asynchronous: the counting proxy runs in this process
      const terraform = (...args: string[]) =>
        new Promise<number>((resolve, reject) => {
          const t0 = performance.now();
          execFile(tf, [...args, '-no-color'], { cwd: dir, env: tfEnv, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
            if (!e) return resolve(performance.now() - t0);
            const what = e.code === 2 && args.includes('-detailed-exitcode') ? 'planned changes where none were expected' : `exited ${String(e.code)}`;
            reject(new Error(`terraform ${args.join(' ')} ${what}:\n${stdout}\n${stderr}`, { cause: e }));
          });
        });
      await terraform('init');
      const apply: number[] = [];
      const plan: number[] = [];
      const destroy: number[] = [];
      const perResource: number[] = [];
      const resources = ENDPOINTS + 4 + 3;
      for (let k = 0; k < RUNS; k++) {
        apply.push(await terraform('apply', '-auto-approve'));
        proxy.reset();
        plan.push(await terraform('plan', '-detailed-exitcode'));
        perResource.push(proxy.count() / resources);
        destroy.push(await terraform('destroy', '-auto-approve'));
        process.stderr.write(`  run ${k + 1}: apply ${(apply[k] / 1000).toFixed(1)} s, plan ${(plan[k] / 1000).toFixed(1)} s (${perResource[k].toFixed(2)} requests per resource), destroy ${(destroy[k] / 1000).toFixed(1)} s\n`);
      }
      const details = { resources, endpoints: ENDPOINTS, rules: 3, runs: RUNS };
      rows.push({ benchmark: BENCH, metric: 'apply, from nothing', value: median(apply) / 1000, unit: 's', target: '', details });
      rows.push({ benchmark: BENCH, metric: 'plan, no changes', value: median(plan) / 1000, unit: 's', target: '<= 3 s', pass: median(plan) <= 3000, details });
      rows.push({ benchmark: BENCH, metric: 'destroy', value: median(destroy) / 1000, unit: 's', target: '', details });
      rows.push({ benchmark: BENCH, metric: 'requests per resource, refresh', value: median(perResource), unit: 'req', target: '<= 1', pass: median(perResource) <= 1, details });
      return rows;
    } catch (e) {
      printTails({ api, worker });
      throw e;
    } finally {
      await proxy?.close();
      await tearDown(DB, REDIS_URL, [farm, worker, api]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
