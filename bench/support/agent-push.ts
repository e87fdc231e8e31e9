/** What the benches that drive a real host agent over its push API share. */
import { spawnSync } from 'node:child_process';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signPush } from '@natplane/contracts';

/** A push to the agent at `url`, signed with `secret` as the worker signs it; the answer's status. */
export async function signedPush(url: string, secret: string, method: 'PUT' | 'PATCH', body: string): Promise<number> {
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(`${url}/v1/programming`, {
    method,
    headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signPush(secret, ts, body) },
    body,
  });
  await res.arrayBuffer();
  return res.status;
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
