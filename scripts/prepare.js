#!/usr/bin/env node
'use strict';
/**
 * `node scripts/prepare.js [--test]`: run before `npm start`, `npm test` and `npm run bench`, on a
 * fresh clone as on a working tree. Plain Node with no dependency: node_modules may not exist yet.
 *   1. `npm ci` when node_modules is missing or older than package-lock.json
 *   2. `nest build api` when dist is older than any source (stamp: dist/.build-stamp); the eBPF
 *      datapath (apps/host-agent/ebpf) into dist/ebpf when clang, libbpf-dev and bpftool are here
 *   3. PostgreSQL and Redis: start the local servers when they do not answer, wait for them
 *   4. migrations on DATABASE_URL (with --test and no DATABASE_URL: the natplane_test database)
 */
const lib = require('./lib');

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !['--test', '--no-migrate'].includes(a));
  if (unknown.length) lib.fail(`prepare.js: unknown option ${unknown.join(' ')} (usage: prepare.js [--test] [--no-migrate])`);
  const env = { ...process.env };
  if (args.includes('--test') && !env.DATABASE_URL) env.DATABASE_URL = lib.DEFAULT_TEST_DATABASE_URL;
  lib.ensureDeps();
  lib.ensureBuilt();
  lib.ensureEbpfBuilt();
  await lib.ensureServices(env);
  if (!args.includes('--no-migrate')) lib.migrate(env);
  lib.log('ready');
}

main().catch((e) => lib.fail(e instanceof Error ? e.message : String(e)));
