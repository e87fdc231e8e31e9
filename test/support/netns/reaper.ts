/**
 * A clean-up trap that outlives the test process. Jest hands test code a copy of `process`, so a
 * test's own `process.on('exit' | 'SIGTERM')` never fires; instead, a small detached child is told
 * over a pipe which namespaces, root-namespace links and processes the test made. When the pipe
 * closes without `done()` (the test process died: killed, crashed, interrupted), it kills those
 * processes and every process left inside those namespaces, then deletes the namespaces and
 * links. The normal path cleans up in afterAll and calls `done()`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

const REAPER_JS = `
const { spawnSync } = require('child_process');
const st = { ns: [], links: [], pids: [] };
let done = false, buf = '';
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const m = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    if (m.done) done = true; else st[m.kind].push(m.value);
  }
});
process.stdin.on('end', () => {
  if (!done) {
    const kill = (pid) => { try { process.kill(pid, 'SIGKILL'); } catch {} };
    st.pids.forEach(kill);
    for (const ns of st.ns) {
      const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
      (r.stdout || '').split('\\n').filter(Boolean).map(Number).forEach(kill);
    }
    for (const ns of st.ns) spawnSync('ip', ['netns', 'del', ns]);
    for (const l of st.links) spawnSync('ip', ['link', 'del', l]);
  }
  process.exit(0);
});
`;

export class Reaper {
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  static start(): Reaper {
    const child = spawn(process.execPath, ['-e', REAPER_JS, 'natplane-test-reaper'], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] }) as unknown as ChildProcessWithoutNullStreams;
    child.unref();
    return new Reaper(child);
  }

  private send(m: Record<string, unknown>): void {
    if (!this.child.stdin.writable) return;
    this.child.stdin.write(`${JSON.stringify(m)}\n`);
  }

  namespace(name: string): string {
    this.send({ kind: 'ns', value: name });
    return name;
  }

  link(name: string): void {
    this.send({ kind: 'links', value: name });
  }

  pid(pid: number | undefined): void {
    if (pid !== undefined) this.send({ kind: 'pids', value: pid });
  }

  /** Everything was cleaned up by the test: the reaper exits without touching anything. */
  done(): void {
    this.send({ done: true });
    this.child.stdin.end();
  }
}
