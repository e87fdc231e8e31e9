// Bundles terraform-provider-natplane into one file with its dependencies (gRPC, msgpack, X.509,
// the SDK) and its .proto files: Terraform starts a provider process for every phase of a run,
// and one file that needs no node_modules starts in about half the time and installs anywhere
// (the filesystem mirror holds just this file). Run by scripts/lib.js as part of the build.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The provider and everything it uses, in one file. */
const provider = {
  input: `${root}apps/terraform-provider/src/main.ts`,
  platform: 'node',
  tsconfig: `${root}tsconfig.json`,
  resolve: { alias: { '@natplane/sdk': `${root}libs/sdk/src/index.ts` } },
  moduleTypes: { '.proto': 'text' },
  logLevel: 'warn',
  output: {
    file: `${root}dist/terraform-provider/natplane-provider.js`,
    format: 'cjs',
    minify: true,
    sourcemap: true,
  },
};

/** The executable: a launcher that loads the bundle through V8's compile cache (src/launcher.ts). */
const launcher = {
  input: `${root}apps/terraform-provider/src/launcher.ts`,
  platform: 'node',
  tsconfig: `${root}tsconfig.json`,
  logLevel: 'warn',
  output: { file: `${root}dist/terraform-provider/terraform-provider-natplane.js`, format: 'cjs', banner: '#!/usr/bin/env node', minify: true },
};

export default [provider, launcher];
