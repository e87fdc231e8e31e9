#!/usr/bin/env node
'use strict';
/** `node scripts/ensure-built.js`: installs dependencies and builds dist/ when either is stale. */
const lib = require('./lib');

try {
  lib.ensureDeps();
  lib.ensureBuilt();
  lib.ensureEbpfBuilt();
} catch (e) {
  lib.fail(e instanceof Error ? e.message : String(e));
}
