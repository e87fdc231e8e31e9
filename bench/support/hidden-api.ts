/**
 * Bench support: the built api as a child process whose command line does not name its script
 * (`node -e "require(process.env.NATPLANE_BENCH_MAIN)"`), so that a broad `pkill -f
 * dist/apps/...` run by someone else on a shared machine does not take a long benchmark down
 * (test/support/control-loop does the same). Otherwise as support/api-process startApi.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST, freePort, type ApiProcess } from './api-process';

/** argv for `node` that runs `script` without naming it on the command line. */
export function hiddenArgs(nodeArgs: string[], label: string): string[] {
  return [...nodeArgs, '-e', 'require(process.env.NATPLANE_BENCH_MAIN)', label];
}

export async function startHiddenApi(env: Record<string, string>, nodeArgs: string[] = []): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, hiddenArgs(nodeArgs, 'bench-api'), {
    env: { ...process.env, LOG_LEVEL: 'error', ...env, PORT: String(port), HOST: '127.0.0.1', NATPLANE_BENCH_MAIN: join(DIST, 'apps/api/src/main.js') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (b: Buffer) => {
    tail = (tail + b.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const api: ApiProcess = {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => tail,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`api exited with ${child.exitCode} before ready:\n${tail}`);
    try {
      const r = await fetch(`${api.url}/readyz`);
      if (r.ok) return api;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await api.stop();
      throw new Error(`api not ready within 30 s:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
