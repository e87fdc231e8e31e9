/**
 * How the api serves the console (apps/api/src/console.ts), on the api booted without databases:
 * the built files at /console/, and without a build a 404 problem that says how to build it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type * as AppModule from '../../apps/api/src/app';
import type * as ConfigModule from '../../apps/api/src/common/config';
import type * as Jobs from '../../libs/jobs/src';
import { nativeRequire } from '../support/native-require';
import type * as NativeEnv from './native-env';

// Nest 12 is ESM only: the api is loaded with Node's own require (see native-require.ts)
const { createApi } = nativeRequire<typeof AppModule>('apps/api/src/app.ts');
const { loadApiConfig } = nativeRequire<typeof ConfigModule>('apps/api/src/common/config.ts');
const { setNativeEnv } = nativeRequire<typeof NativeEnv>('test/console/native-env.ts');
const { JobQueue } = nativeRequire<typeof Jobs>('libs/jobs/src/index.ts');

describe('the api serves the web console at /console/', () => {
  const dirs: string[] = [];
  let app: NestFastifyApplication | undefined;
  let before: { value: string | undefined } | undefined;

  async function boot(consoleDir: string): Promise<NestFastifyApplication> {
    const was = setNativeEnv('CONSOLE_DIR', consoleDir);
    before ??= { value: was };
    app = await createApi(loadApiConfig(), { connect: false, logger: false });
    await app.init();
    return app;
  }
  const get = (url: string) => app!.getHttpAdapter().getInstance().inject({ method: 'GET', url });

  afterEach(async () => {
    // the job queues connect to Redis even unused: closing them halfway through their connection
    // makes ioredis print errors after the test, so let them connect first
    await app?.get(JobQueue).ping().catch(() => undefined);
    await app?.close();
    app = undefined;
  });

  afterAll(() => {
    if (before) setNativeEnv('CONSOLE_DIR', before.value);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'natplane-console-'));
    dirs.push(d);
    return d;
  };

  it('serves the built page at /console and /console/, and its assets', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)');
    await boot(dir);
    for (const url of ['/console', '/console/', '/console/index.html']) {
      const res = await get(url);
      expect({ url, status: res.statusCode, type: res.headers['content-type'], body: res.body }).toEqual({ url, status: 200, type: 'text/html; charset=utf-8', body: '<!doctype html><div id="root"></div>' });
    }
    expect((await get('/console/assets/app.js')).statusCode).toBe(200);
    expect((await get('/console/assets/nope.js')).statusCode).toBe(404);
  });

  it('without a build, answers a 404 problem that says how to build it', async () => {
    await boot(tmp());
    for (const url of ['/console', '/console/', '/console/assets/app.js']) {
      const res = await get(url);
      expect({ url, status: res.statusCode, type: res.headers['content-type'] }).toEqual({ url, status: 404, type: 'application/problem+json; charset=utf-8' });
      expect(res.json()).toEqual(expect.objectContaining({ status: 404, type: 'https://natplane.dev/problems/console-not-built', detail: expect.stringContaining('npm run build') }));
    }
  });
});
