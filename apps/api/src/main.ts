import { Logger } from '@nestjs/common';
import { createApi, jsonLogger } from './app';
import { loadApiConfig } from './common/config';

async function main(): Promise<void> {
  const config = loadApiConfig();
  const logger = jsonLogger('api');
  if (!config.adminToken) logger.warn?.('NATPLANE_ADMIN_TOKEN is not set: no admin token will be accepted');
  const app = await createApi(config, { logger });
  await app.listen({ port: config.port, host: config.host });
  new Logger('api').log(`natplane api listening on http://${config.host}:${config.port}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
