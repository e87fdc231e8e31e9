'use strict';
/**
 * Shared helpers of the start/test/CI scripts. Plain Node (CommonJS, node: modules only): these
 * run before node_modules may exist.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, '.build-stamp');
/** Folders whose .ts files are compiled by `nest build api` (see tsconfig.build.json). */
const SOURCE_DIRS = ['apps', 'libs', 'migrations', 'bench'];
/** The web console, built by Vite into dist/console (it also bundles libs/sdk, a source above). */
const CONSOLE_DIR = path.join('apps', 'console');
const CONSOLE_CONFIG = path.join(CONSOLE_DIR, 'vite.config.mts');
const CONSOLE_SOURCE = /\.(ts|tsx|mts|css|html|json)$/;
/** terraform-provider-natplane, bundled by rolldown into one executable file (with its .proto files and libs/sdk). */
const PROVIDER_DIR = path.join('apps', 'terraform-provider');
const PROVIDER_CONFIG = path.join(PROVIDER_DIR, 'rolldown.config.mjs');
const PROVIDER_BUNDLE = 'dist/terraform-provider/terraform-provider-natplane.js';
/** The provider itself, which the executable (PROVIDER_BUNDLE, a launcher) loads from beside it. */
const PROVIDER_CODE = 'dist/terraform-provider/natplane-provider.js';
/** Files that change the build output without being sources. */
const BUILD_CONFIG = ['tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package-lock.json'];
/** Outputs every build must leave behind. */
const BUILD_OUTPUTS = ['dist/apps/api/src/main.js', 'dist/libs/persistence/src/cli.js', 'dist/console/index.html', PROVIDER_BUNDLE, PROVIDER_CODE];

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/natplane';
const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/natplane_test';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function log(msg) {
  process.stdout.write(`natplane: ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`natplane: ${msg}\n`);
  process.exit(1);
}

/** Runs a command in the foreground (output inherited); throws when it fails. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function has(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  return r.status === 0;
}

// ---------------------------------------------------------------- dependencies

/** Why `npm ci` must run, or undefined when node_modules is up to date with the lock. */
function installReason() {
  const lock = path.join(ROOT, 'package-lock.json');
  const installed = path.join(ROOT, 'node_modules', '.package-lock.json');
  if (!fs.existsSync(path.join(ROOT, 'node_modules'))) return 'node_modules is missing';
  const installedAt = mtime(installed);
  if (installedAt === undefined) return 'node_modules was not installed by npm';
  const lockAt = mtime(lock);
  if (lockAt !== undefined && lockAt > installedAt) return 'package-lock.json is newer than node_modules';
  return undefined;
}

function ensureDeps() {
  const reason = installReason();
  if (!reason) return false;
  const hasLock = fs.existsSync(path.join(ROOT, 'package-lock.json'));
  const cmd = hasLock ? 'ci' : 'install';
  log(`${reason}: npm ${cmd}`);
  run('npm', [cmd, '--no-audit', '--no-fund']);
  return true;
}

// ---------------------------------------------------------------- build

/** Every .ts file the build compiles (specs excluded: they are not built) and the console's sources, sorted. */
function sourceFiles() {
  const out = [];
  const walk = (dir, keep = (name) => name.endsWith('.ts') && !/\.(spec|test)\.ts$/.test(name)) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (path.relative(ROOT, p) === CONSOLE_DIR) continue;
        walk(p, keep);
      } else if (keep(e.name)) {
        out.push(path.relative(ROOT, p));
      }
    }
  };
  for (const d of SOURCE_DIRS) walk(path.join(ROOT, d));
  walk(path.join(ROOT, CONSOLE_DIR), (name) => CONSOLE_SOURCE.test(name));
  walk(path.join(ROOT, PROVIDER_DIR, 'proto'), (name) => name.endsWith('.proto'));
  out.push(PROVIDER_CONFIG);
  return out.sort();
}

function readStamp() {
  try {
    return JSON.parse(fs.readFileSync(STAMP, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Why the build must run, or undefined when dist is newer than every source. */
function buildReason(files = sourceFiles()) {
  for (const o of BUILD_OUTPUTS) if (!fs.existsSync(path.join(ROOT, o))) return `${o} is missing`;
  const stamp = readStamp();
  const builtAt = mtime(STAMP);
  if (!stamp || builtAt === undefined) return 'no build stamp';
  const newer = [...files, ...BUILD_CONFIG].find((f) => (mtime(path.join(ROOT, f)) ?? 0) > builtAt);
  if (newer) return `${newer} changed`;
  const before = new Set(stamp.files ?? []);
  const added = files.find((f) => !before.has(f));
  if (added) return `${added} is new`;
  const now = new Set(files);
  const removed = [...before].find((f) => !now.has(f));
  if (removed) return `${removed} was removed`;
  return undefined;
}

function nestBin() {
  const local = path.join(ROOT, 'node_modules', '.bin', 'nest');
  return fs.existsSync(local) ? [local, []] : ['npx', ['nest']];
}

function rolldownBin() {
  const local = path.join(ROOT, 'node_modules', '.bin', 'rolldown');
  return fs.existsSync(local) ? [local, []] : ['npx', ['rolldown']];
}

function viteBin() {
  const local = path.join(ROOT, 'node_modules', '.bin', 'vite');
  return fs.existsSync(local) ? [local, []] : ['npx', ['vite']];
}

/**
 * Builds when needed: `nest build api` compiles every app, lib, migration and bench; `vite build`
 * bundles the web console (apps/console and the SDK) into dist/console; rolldown bundles the
 * Terraform provider (apps/terraform-provider and the SDK) into one executable file,
 * dist/terraform-provider/terraform-provider-natplane.js.
 */
function ensureBuilt() {
  const files = sourceFiles();
  const reason = buildReason(files);
  if (!reason) {
    log('build: up to date');
    return false;
  }
  // A removed source leaves its old .js behind (deleteOutDir is off): start from a clean dist.
  if (/was removed$/.test(reason)) {
    for (const d of SOURCE_DIRS) fs.rmSync(path.join(DIST, d), { recursive: true, force: true });
  }
  log(`build (${reason}): nest build api, vite build (console), rolldown (terraform provider)`);
  const started = Date.now();
  const startedWall = new Date();
  const [bin, pre] = nestBin();
  run(bin, [...pre, 'build', 'api']);
  const [vite, vitePre] = viteBin();
  run(vite, [...vitePre, 'build', '--config', CONSOLE_CONFIG, '--logLevel', 'warn']);
  const [rolldown, rolldownPre] = rolldownBin();
  run(rolldown, [...rolldownPre, '--config', PROVIDER_CONFIG]);
  fs.chmodSync(path.join(ROOT, PROVIDER_BUNDLE), 0o755);
  fs.mkdirSync(DIST, { recursive: true });
  fs.writeFileSync(STAMP, JSON.stringify({ builtAt: startedWall.toISOString(), files }, null, 1) + '\n');
  // The stamp's time is the build's start, so an edit made during the build triggers the next one.
  fs.utimesSync(STAMP, startedWall, startedWall);
  log(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

// ---------------------------------------------------------------- eBPF datapath

const EBPF_SRC = path.join('apps', 'host-agent', 'ebpf');
const EBPF_OUT = path.join(DIST, 'ebpf');

/** The Debian packages the eBPF build needs that are missing here. */
function missingEbpfTools() {
  const out = [];
  if (!has('clang')) out.push('clang');
  if (!has('llvm-strip') && !has('llc')) out.push('llvm');
  if (!fs.existsSync('/usr/include/bpf/libbpf.h')) out.push('libbpf-dev');
  if (!has('bpftool') && !fs.existsSync('/usr/sbin/bpftool')) out.push('bpftool');
  return out;
}

/**
 * Builds the eBPF datapath (AGENT_BACKEND=ebpf) into dist/ebpf when its sources are newer:
 * vmlinux.h from the running kernel's BTF (never committed), the programs with clang (CO-RE),
 * the loader against libbpf. Without the toolchain or BTF it says what is missing and goes on:
 * the other backends do not need it, and the agent refuses AGENT_BACKEND=ebpf with the same words.
 */
function ensureEbpfBuilt() {
  const src = path.join(ROOT, EBPF_SRC);
  if (!fs.existsSync(src)) return false;
  const sources = fs.readdirSync(src).filter((f) => /\.(c|h)$/.test(f)).map((f) => path.join(src, f));
  const outputs = [path.join(EBPF_OUT, 'natplane.bpf.o'), path.join(EBPF_OUT, 'natplane-ebpf-loader')];
  const builtAt = Math.min(...outputs.map((o) => mtime(o) ?? 0));
  if (builtAt > 0 && sources.every((f) => (mtime(f) ?? 0) < builtAt)) return false;
  const missing = missingEbpfTools();
  if (missing.length) {
    log(`eBPF datapath not built: install ${missing.join(' ')} (apt-get install -y ${missing.join(' ')}); AGENT_BACKEND=ebpf needs it`);
    return false;
  }
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) {
    log('eBPF datapath not built: the kernel has no BTF (/sys/kernel/btf/vmlinux)');
    return false;
  }
  fs.mkdirSync(EBPF_OUT, { recursive: true });
  const vmlinux = path.join(EBPF_OUT, 'vmlinux.h');
  const bpftool = has('bpftool') ? 'bpftool' : '/usr/sbin/bpftool';
  const dump = spawnSync(bpftool, ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { maxBuffer: 1 << 28 });
  if (dump.status !== 0) throw new Error(`bpftool btf dump failed: ${String(dump.stderr)}`);
  fs.writeFileSync(vmlinux, dump.stdout);
  const arch = { x64: 'x86', arm64: 'arm64' }[process.arch] ?? process.arch;
  const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch] ?? '';
  run('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', `-D__TARGET_ARCH_${arch}`, `-I${EBPF_OUT}`, `-I/usr/include/${multiarch}`, '-c', path.join(src, 'natplane.bpf.c'), '-o', outputs[0]]);
  run('clang', ['-O2', '-Wall', '-Werror', `-I${EBPF_OUT}`, '-o', outputs[1], path.join(src, 'loader.c'), '-lbpf']);
  log('eBPF datapath built (dist/ebpf)');
  return true;
}

// ---------------------------------------------------------------- services

function endpointOf(url, defaultPort) {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  return { host, port: Number(u.port || defaultPort) };
}

function isLocal(host) {
  return ['127.0.0.1', 'localhost', '::1', '0.0.0.0'].includes(host) || host.startsWith('127.');
}

/** Resolves true when a TCP connection to host:port opens within timeoutMs. */
function tcpReachable(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** PostgreSQL accepts TCP while still starting up: ask pg_isready when it is there. */
function pgReady(host, port) {
  if (!has('pg_isready')) return true;
  return spawnSync('pg_isready', ['-q', '-h', host, '-p', String(port), '-t', '2'], { stdio: 'ignore' }).status === 0;
}

async function waitUntil(check, seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await sleep(300);
  }
}

function startPostgres() {
  if (!has('pg_ctlcluster') || !fs.existsSync('/etc/postgresql')) {
    log('PostgreSQL: pg_ctlcluster not found: start PostgreSQL yourself (or set DATABASE_URL)');
    return;
  }
  const versions = fs.readdirSync('/etc/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (!versions.length) return log('PostgreSQL: no cluster under /etc/postgresql');
  log(`PostgreSQL: starting cluster ${versions[0]}/main`);
  spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', versions[0], 'main', 'start'], { stdio: 'inherit' });
}

function startRedis(port) {
  if (!has('redis-server')) {
    log('Redis: redis-server not found: start Redis yourself (or set REDIS_URL)');
    return;
  }
  for (const d of ['/var/lib/redis', '/var/log/redis']) {
    try {
      fs.mkdirSync(d, { recursive: true });
    } catch {
      /* not root: redis-server says why it cannot start */
    }
  }
  log('Redis: starting redis-server');
  spawnSync(
    'redis-server',
    ['--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log'],
    { stdio: 'inherit' },
  );
}

/** Makes sure PostgreSQL and Redis answer, starting the local servers when they do not. */
async function ensureServices(env = process.env) {
  const pg = endpointOf(env.DATABASE_URL || DEFAULT_DATABASE_URL, 5432);
  const redis = endpointOf(env.REDIS_URL || DEFAULT_REDIS_URL, 6379);
  const services = [
    { name: 'PostgreSQL', ...pg, start: () => startPostgres(), ready: () => pgReady(pg.host, pg.port) },
    { name: 'Redis', ...redis, start: () => startRedis(redis.port), ready: () => true },
  ];
  for (const s of services) {
    const up = async () => (await tcpReachable(s.host, s.port)) && s.ready();
    if (await up()) {
      log(`${s.name}: ${s.host}:${s.port} answers`);
      continue;
    }
    if (isLocal(s.host)) s.start();
    else log(`${s.name}: ${s.host}:${s.port} does not answer yet; waiting`);
    if (!(await waitUntil(up, 30))) throw new Error(`${s.name} at ${s.host}:${s.port} does not answer`);
    log(`${s.name}: ${s.host}:${s.port} answers`);
  }
}

// ---------------------------------------------------------------- migrations

function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Runs the migrations on env.DATABASE_URL (creating the database when it is missing). */
function migrate(env = process.env) {
  const url = env.DATABASE_URL || DEFAULT_DATABASE_URL;
  log(`migrate ${redactUrl(url)}`);
  run(process.execPath, ['dist/libs/persistence/src/cli.js', 'migrate'], { env: { ...env, DATABASE_URL: url } });
}

module.exports = {
  ROOT,
  PROVIDER_BUNDLE,
  PROVIDER_CODE,
  DIST,
  STAMP,
  DEFAULT_DATABASE_URL,
  DEFAULT_TEST_DATABASE_URL,
  DEFAULT_REDIS_URL,
  log,
  fail,
  run,
  has,
  sleep,
  installReason,
  ensureDeps,
  sourceFiles,
  buildReason,
  ensureBuilt,
  ensureEbpfBuilt,
  missingEbpfTools,
  tcpReachable,
  waitUntil,
  ensureServices,
  migrate,
  redactUrl,
};
