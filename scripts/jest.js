#!/usr/bin/env node
'use strict';
/**
 * `npm test [-- jest args]`: jest, in band, against the test database: DATABASE_URL defaults to
 * natplane_test (the database `prepare.js --test` migrated), so tests never touch the database
 * that `npm start` uses.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const lib = require('./lib');

const env = { ...process.env };
if (!env.DATABASE_URL) env.DATABASE_URL = lib.DEFAULT_TEST_DATABASE_URL;
const jest = path.join(lib.ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
const child = spawn(process.execPath, [jest, ...process.argv.slice(2)], { cwd: lib.ROOT, env, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
