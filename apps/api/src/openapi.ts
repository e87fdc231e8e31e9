/**
 * `node dist/apps/api/src/openapi.js [--check] openapi/openapi.json`: boots the api without
 * databases and writes the OpenAPI document (or, with --check, fails when the committed file
 * differs from what the code describes).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createApi, openApiDocument } from './app';
import { loadApiConfig } from './common/config';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const file = args.find((a) => !a.startsWith('--')) ?? 'openapi/openapi.json';
  const app = await createApi(loadApiConfig(), { connect: false, logger: false });
  await app.init();
  const text = JSON.stringify(openApiDocument(app), null, 2) + '\n';
  await app.close();
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(file, 'utf8');
    } catch {
      /* missing */
    }
    if (committed !== text) {
      console.error(`${file} is out of date: run \`npm run openapi\` and commit the result`);
      return 1;
    }
    console.log(`${file} matches the code`);
    return 0;
  }
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
  return 0;
}

main().then(
  (c) => process.exit(c),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
