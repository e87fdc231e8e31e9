/** What the benches that drive a real host agent over its push API share. */
import { spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signPush } from '@natplane/contracts';

/** Kept-alive connections, as the worker's pusher holds them (apps/worker/src/host-pusher.ts). */
const AGENT = new Agent({ keepAlive: true, maxSockets: 4 });

/**
 * A push to the agent at `url`, signed with `secret` and sent as the worker sends it (node:http
 * over a kept-alive connection); the answer's status. Not fetch: undici cost 1.7 ms of CPU a
 * push here, more than the agent's whole handling of a one-endpoint patch, and the pushes and the
 * agent share the bench's process, so the client's work was measured as the agent's latency.
 */
export function signedPush(url: string, secret: string, method: 'PUT' | 'PATCH', body: string): Promise<number> {
  const ts = Math.floor(Date.now() / 1000);
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/programming`,
      {
        method,
        agent: AGENT,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signPush(secret, ts, body) },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Why a bench cannot run here (null: it can): it needs root (`rootFor` says for what) and each
 * command of `tools` ([command, what its absence means]).
 */
export function cannotRun(rootFor: string, tools: [command: string, missing: string][]): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return `needs root (${rootFor})`;
  for (const [command, missing] of tools) {
    const r = spawnSync(command, ['--version']);
    if (r.error || r.status !== 0) return missing;
  }
  return null;
}
