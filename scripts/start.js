#!/usr/bin/env node
'use strict';
/**
 * `npm start` (after `prepare.js`): natplane on this machine. The api, the worker and a local host
 * agent run as child processes; their output is line-buffered and prefixed with their name.
 *  - NATPLANE_ADMIN_TOKEN: from the environment, else generated once into .natplane/admin-token
 *  - the local host agent: a host `local` is registered through the api the first time, and its
 *    credentials (returned only then) are kept in .natplane/local-host.json; the agent runs with
 *    AGENT_BACKEND=dry-run unless AGENT_BACKEND is set, so the machine's firewall is untouched.
 *  - a supervisor: a worker or agent that exits (killed, crashed) is started again, after 0.5 s, then
 *    1, 2... up to 30 s while it keeps dying (back to 0.5 s once one ran a minute); the others keep
 *    running meanwhile. The api exiting stops everything (the local agent needs it to register).
 *  - NATPLANE_STATE_DIR: where the admin token, the local host's credentials and the local agent's
 *    state are kept (default .natplane/ in the repository).
 *  - SIGINT/SIGTERM go to every child; this exits once they have stopped (a second one kills).
 */
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const lib = require('./lib');

const STATE_DIR = process.env.NATPLANE_STATE_DIR ? path.resolve(process.env.NATPLANE_STATE_DIR) : path.join(lib.ROOT, '.natplane');
const TOKEN_FILE = path.join(STATE_DIR, 'admin-token');
const HOST_FILE = path.join(STATE_DIR, 'local-host.json');
const HOST_NAME = 'local';
/** A child that exits sooner than this after its start "exits at once". */
const EARLY_EXIT_MS = 5000;
/** Restart back-off of a worker or agent that exits: from 0.5 s, doubling to 30 s; back to 0.5 s once one ran this long. */
const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30000;
const RESTART_RESET_AFTER_MS = 60000;

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const COLORS = { api: 36, worker: 35, 'host-agent': 33, natplane: 32 };
const WIDTH = 10;

function say(name, line, stream = process.stdout) {
  const tag = name.padEnd(WIDTH);
  stream.write(color ? `\x1b[${COLORS[name] ?? 37}m${tag}|\x1b[0m ${line}\n` : `${tag}| ${line}\n`);
}
const note = (line) => say('natplane', line);

// ---------------------------------------------------------------- configuration

function adminToken() {
  const fromEnv = process.env.NATPLANE_ADMIN_TOKEN;
  if (fromEnv) {
    if (fromEnv.length < 16) lib.fail('NATPLANE_ADMIN_TOKEN must be at least 16 characters');
    return { token: fromEnv, source: 'NATPLANE_ADMIN_TOKEN' };
  }
  try {
    const saved = fs.readFileSync(TOKEN_FILE, 'utf8').trim();
    if (saved.length >= 16) return { token: saved, source: path.relative(lib.ROOT, TOKEN_FILE) };
  } catch {
    /* first start */
  }
  const token = `np-admin-${crypto.randomBytes(24).toString('base64url')}`;
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  fs.writeFileSync(TOKEN_FILE, token + '\n', { mode: 0o600 });
  return { token, source: `${path.relative(lib.ROOT, TOKEN_FILE)} (generated now)` };
}

const PORT = Number(process.env.PORT || 8080);
const API_URL = `http://127.0.0.1:${PORT}`;
const AGENT_LISTEN = process.env.AGENT_LISTEN || '127.0.0.1:8081';
const AGENT_URL = `http://${AGENT_LISTEN.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}`;

// ---------------------------------------------------------------- children

const children = new Map(); // name -> { proc, startedAt, exited }
/** Children started again when they exit: name -> { script, env, backoffMs, timer }. */
const supervised = new Map();
let stopping = false;
let exitCode = 0;

/** Starts `name`, and (`restart`) starts it again whenever it exits, with back-off, until we stop. */
function startChild(name, script, env, opts = {}) {
  const file = path.join(lib.ROOT, script);
  if (!fs.existsSync(file)) {
    note(`${name}: ${script} does not exist (not built yet?): running without the ${name}`);
    return undefined;
  }
  if (opts.restart && !supervised.has(name)) supervised.set(name, { script, env, backoffMs: RESTART_FIRST_MS, timer: undefined });
  const proc = spawn(process.execPath, ['--enable-source-maps', file], {
    cwd: lib.ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: a terminal's Ctrl-C reaches it only through us, once
  });
  const child = { proc, startedAt: Date.now(), exited: false };
  children.set(name, child);
  note(`${name} started (pid ${proc.pid})`);
  readline.createInterface({ input: proc.stdout }).on('line', (l) => say(name, l));
  readline.createInterface({ input: proc.stderr }).on('line', (l) => say(name, l, process.stderr));
  proc.on('error', (e) => note(`${name}: ${e.message}`));
  proc.on('exit', (code, signal) => {
    child.exited = true;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (stopping) {
      note(`${name} stopped (${how})`);
    } else if (name === 'api') {
      note(`api exited (${how}): stopping everything`);
      exitCode = 1;
      stop('SIGTERM');
    } else if (supervised.has(name)) {
      restartLater(name, child, how);
    } else if (Date.now() - child.startedAt < EARLY_EXIT_MS) {
      note(`${name} exited at once (${how}): the others keep running without it`);
    } else {
      note(`${name} exited (${how}): the others keep running without it`);
    }
    maybeExit();
  });
  return proc;
}

/** The supervisor: `name` exited unasked; start it again after its back-off, which then doubles. */
function restartLater(name, child, how) {
  const s = supervised.get(name);
  const ran = Date.now() - child.startedAt;
  if (ran >= RESTART_RESET_AFTER_MS) s.backoffMs = RESTART_FIRST_MS;
  const wait = s.backoffMs;
  s.backoffMs = Math.min(s.backoffMs * 2, RESTART_MAX_MS);
  note(`${name} exited${ran < EARLY_EXIT_MS ? ' at once' : ''} (${how}): starting it again in ${wait / 1000} s; the others keep running`);
  s.timer = setTimeout(() => {
    s.timer = undefined;
    if (!stopping) startChild(name, s.script, s.env, { restart: true });
  }, wait);
}

function live() {
  return [...children.entries()].filter(([, c]) => !c.exited);
}

function maybeExit() {
  if (stopping && live().length === 0) process.exit(exitCode);
}

function stop(signal) {
  if (stopping) {
    for (const [name, c] of live()) {
      note(`${name}: killing`);
      killGroup(c.proc, 'SIGKILL');
    }
    return;
  }
  stopping = true;
  note(`stopping (${signal})`);
  for (const [, sv] of supervised) clearTimeout(sv.timer);
  for (const [, c] of live()) killGroup(c.proc, signal);
  setTimeout(() => {
    for (const [name, c] of live()) {
      note(`${name} did not stop in 15 s: killing`);
      killGroup(c.proc, 'SIGKILL');
    }
  }, 15000).unref();
  maybeExit();
}

function killGroup(proc, signal) {
  try {
    process.kill(-proc.pid, signal);
  } catch {
    try {
      proc.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGHUP', () => stop('SIGTERM'));
process.on('exit', () => {
  for (const [, c] of live()) killGroup(c.proc, 'SIGKILL');
});

// ---------------------------------------------------------------- api calls

async function call(method, urlPath, token, body) {
  const res = await fetch(API_URL + urlPath, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

async function waitReady(seconds) {
  let last = 'no answer';
  const ok = await lib.waitUntil(async () => {
    if (stopping) return true;
    try {
      const res = await fetch(`${API_URL}/readyz`, { signal: AbortSignal.timeout(2000) });
      last = `${res.status} ${(await res.text()).slice(0, 200)}`;
      return res.status === 200;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
      return false;
    }
  }, seconds);
  return { ok: ok && !stopping, last };
}

function readHostFile() {
  try {
    const h = JSON.parse(fs.readFileSync(HOST_FILE, 'utf8'));
    return h && h.hostToken && h.pushSecret ? h : undefined;
  } catch {
    return undefined;
  }
}

/** The local host's credentials: registered the first time, then read from .natplane/local-host.json. */
async function localHostCredentials(token) {
  const rel = path.relative(lib.ROOT, HOST_FILE);
  const saved = readHostFile();
  const existing = await call('GET', `/v1/admin/hosts/${HOST_NAME}`, token);
  if (existing.status === 200) {
    if (saved) return saved;
    note(`WARNING: host '${HOST_NAME}' is registered but ${rel} is missing: its hostToken and pushSecret were shown only`);
    note(`WARNING: when it was created. Starting the local agent without credentials (it will be refused).`);
    note(`WARNING: to start over, delete what uses the host, then: curl -X DELETE -H "Authorization: Bearer $NATPLANE_ADMIN_TOKEN" ${API_URL}/v1/admin/hosts/${HOST_NAME}`);
    return undefined;
  }
  if (existing.status === 401 || existing.status === 403) {
    note(`WARNING: the api refused the admin token (${existing.status}): is NATPLANE_ADMIN_TOKEN the one the api runs with?`);
    return saved;
  }
  if (existing.status !== 404) {
    note(`WARNING: GET /v1/admin/hosts/${HOST_NAME} answered ${existing.status}: ${existing.text.slice(0, 200)}`);
    return saved;
  }
  if (saved) note(`${rel} names a host the database does not have (a new database?): registering it again`);
  const created = await call('POST', '/v1/admin/hosts', token, { name: HOST_NAME, region: 'local', zone: 'local-a', agentUrl: AGENT_URL });
  if (created.status === 201 && created.json && created.json.hostToken && created.json.pushSecret) {
    const creds = { name: HOST_NAME, apiUrl: API_URL, agentUrl: AGENT_URL, hostToken: created.json.hostToken, pushSecret: created.json.pushSecret, createdAt: new Date().toISOString() };
    fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
    fs.writeFileSync(HOST_FILE, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
    note(`registered host '${HOST_NAME}' (agentUrl ${AGENT_URL}); its credentials are in ${rel}`);
    return creds;
  }
  note(`WARNING: could not register host '${HOST_NAME}': POST /v1/admin/hosts answered ${created.status}: ${created.text.slice(0, 300)}`);
  return undefined;
}

// ---------------------------------------------------------------- main

async function main() {
  // Another process on the port would answer /readyz in the api's place.
  if (await lib.tcpReachable('127.0.0.1', PORT)) lib.fail(`port ${PORT} is already in use (another natplane?): stop it or set PORT`);
  const { token, source } = adminToken();
  const env = { NATPLANE_ADMIN_TOKEN: token };

  note(`admin token (from ${source}):`);
  note(`  ${token}`);
  note(`try it:`);
  note(`  export NATPLANE_ADMIN_TOKEN=${process.env.NATPLANE_ADMIN_TOKEN ? '...' : `$(cat ${path.relative(lib.ROOT, TOKEN_FILE)})`}`);
  note(`  curl -s -H "Authorization: Bearer $NATPLANE_ADMIN_TOKEN" ${API_URL}/v1/admin/projects`);
  note(`  console: ${API_URL}/console/ (sign in with the admin token)`);
  note(`  OpenAPI: ${API_URL}/openapi.json, Swagger UI: ${API_URL}/docs; Ctrl-C stops everything`);

  startChild('api', 'dist/apps/api/src/main.js', env);
  if (!children.has('api')) lib.fail('dist/apps/api/src/main.js is missing: run `npm run build`');
  startChild('worker', 'dist/apps/worker/src/main.js', env, { restart: true });

  const ready = await waitReady(90);
  if (stopping) return;
  if (!ready.ok) {
    note(`the api is not ready after 90 s (last /readyz: ${ready.last}); not starting the local host agent`);
    return;
  }
  note(`api ready at ${API_URL}`);

  let creds;
  try {
    creds = await localHostCredentials(token);
  } catch (e) {
    note(`WARNING: registering host '${HOST_NAME}' failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (stopping) return;
  const backend = process.env.AGENT_BACKEND || 'dry-run';
  startChild(
    'host-agent',
    'dist/apps/host-agent/src/main.js',
    {
      NATPLANE_API_URL: API_URL,
      NATPLANE_HOST: HOST_NAME,
      NATPLANE_HOST_TOKEN: creds ? creds.hostToken : '',
      NATPLANE_PUSH_SECRET: creds ? creds.pushSecret : '',
      AGENT_LISTEN,
      AGENT_BACKEND: backend,
      AGENT_STATE_DIR: process.env.AGENT_STATE_DIR || path.join(STATE_DIR, `agent-${HOST_NAME}`),
    },
    { restart: true },
  );
  if (children.has('host-agent')) note(`started the local host agent '${HOST_NAME}' (AGENT_LISTEN ${AGENT_LISTEN}, AGENT_BACKEND ${backend})`);
}

main().catch((e) => {
  note(`start failed: ${e instanceof Error ? e.stack : String(e)}`);
  exitCode = 1;
  stop('SIGTERM');
});
