/**
 * Bench support: the built worker (dist/apps/worker/src/main.js) as a child process. It has no
 * HTTP port: "ready" is its start log line, or simply a short grace when logging is off.
 * Optionally every line it writes goes to a file (for LOG_LEVEL=log analysis).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { DIST } from './api-process';
import { hiddenArgs } from './api-process';

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startWorker(env: Record<string, string>, nodeArgs: string[] = [], logFile?: string): Promise<WorkerProcess> {
  // The script is not named on the command line (see api-process.ts hiddenArgs: a stray `pkill -f`).
  const child = spawn(process.execPath, hiddenArgs(nodeArgs, 'bench-worker'), {
    env: { ...process.env, LOG_LEVEL: 'error', ...env, NATPLANE_BENCH_MAIN: join(DIST, 'apps/worker/src/main.js') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const file: WriteStream | undefined = logFile ? createWriteStream(logFile) : undefined;
  const keep = (b: Buffer) => {
    tail = (tail + b.toString()).slice(-4000);
    file?.write(b);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const worker: WorkerProcess = {
    child,
    output: () => tail,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      await new Promise<void>((resolve) => (file ? file.end(() => resolve()) : resolve()));
    },
  };
  // Nest boots in well under 2 s here; a worker that dies at start is reported.
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode} at start:\n${tail}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return worker;
}
