#!/usr/bin/env node
'use strict';
/**
 * `npm run terraform:mirror`: builds terraform-provider-natplane when needed and installs it as a
 * Terraform filesystem mirror, with a CLI configuration that uses it:
 *   dist/terraform/mirror/registry.terraform.io/natplane/natplane/VERSION/OS_ARCH/terraform-provider-natplane_vVERSION
 *   dist/terraform/terraform.rc
 * so that `TF_CLI_CONFIG_FILE=dist/terraform/terraform.rc terraform init` installs the provider
 * offline (Terraform reports it as unauthenticated: a local mirror carries no signature) and
 * every other provider still comes from its registry. The executable is the one-file bundle,
 * run by the node that ran this script; beside it natplane-provider.js, the provider's code,
 * which it loads through V8's compile cache.
 */
const fs = require('node:fs');
const path = require('node:path');
const lib = require('./lib');

const HOST = 'registry.terraform.io';
const NAMESPACE = 'natplane';
const TYPE = 'natplane';
const VERSION = require('../package.json').version;
const ARCH = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };

function main() {
  lib.ensureDeps();
  lib.ensureBuilt();
  const platform = `${process.platform}_${ARCH[process.arch] ?? process.arch}`;
  const out = path.join(lib.DIST, 'terraform');
  const mirror = path.join(out, 'mirror');
  const dir = path.join(mirror, HOST, NAMESPACE, TYPE, VERSION, platform);
  fs.rmSync(path.join(mirror, HOST, NAMESPACE, TYPE), { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const bundle = fs.readFileSync(path.join(lib.ROOT, lib.PROVIDER_BUNDLE), 'utf8');
  // the first line runs this very node, whatever PATH Terraform is started with
  const exe = path.join(dir, `terraform-provider-${TYPE}_v${VERSION}`);
  fs.writeFileSync(exe, bundle.replace(/^#!.*\n/, `#!${process.execPath}\n`), { mode: 0o755 });
  // the provider's code, which the executable loads through V8's compile cache
  fs.copyFileSync(path.join(lib.ROOT, lib.PROVIDER_CODE), path.join(dir, path.basename(lib.PROVIDER_CODE)));
  const rc = path.join(out, 'terraform.rc');
  fs.writeFileSync(
    rc,
    [
      '# Written by `npm run terraform:mirror`: install natplane/natplane from the local mirror, every',
      '# other provider from its registry. Use with TF_CLI_CONFIG_FILE=<this file>.',
      'provider_installation {',
      '  filesystem_mirror {',
      `    path    = ${JSON.stringify(mirror)}`,
      `    include = ["${HOST}/${NAMESPACE}/${TYPE}"]`,
      '  }',
      '  direct {',
      `    exclude = ["${HOST}/${NAMESPACE}/${TYPE}"]`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  lib.log(`terraform mirror: ${path.relative(lib.ROOT, exe)}`);
  lib.log(`terraform CLI config: ${path.relative(lib.ROOT, rc)} (export TF_CLI_CONFIG_FILE=${rc})`);
}

try {
  main();
} catch (e) {
  lib.fail(e instanceof Error ? e.message : String(e));
}
