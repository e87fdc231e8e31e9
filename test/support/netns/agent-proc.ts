/**
 * A real host agent (the built dist/apps/host-agent) running inside a host's network namespace, for
 * the end-to-end tests. Its output goes to a log file in the test's directory.
 */
import { existsSync, readFileSync, symlinkSync, createWriteStream, type WriteStream } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Json } from '../control-loop/api-client';
import { ROOT } from '../control-loop/stack';

const AGENT_MAIN = join(ROOT, 'dist/apps/host-agent/src/main.js');

/** A real agent inside its host's namespace (`ip netns exec` and nsenter keep the pid: they exec node). */
export class AgentProc {
  private child?: ChildProcess;
  private out?: WriteStream;

  constructor(
    readonly host: string,
    readonly ns: string,
    readonly url: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly dir: string,
  ) {}

  get logFile(): string {
    return join(this.dir, `agent-${this.host}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.out = createWriteStream(this.logFile, { flags: 'a' });
    // started through a link in the test's directory, so that its command line does not name
    // dist/apps/... (a broad `pkill -f` by someone else on the machine must not take it down);
    // node resolves the link, so main.js still runs as the main module
    const main = join(this.dir, `agent-${this.host}.js`);
    if (!existsSync(main)) symlinkSync(AGENT_MAIN, main);
    // the eBPF backend pins its maps and links in the host's bpffs, which `ip netns exec` hides
    // (it mounts a /sys of its own): nsenter enters the network namespace only
    const [cmd, args] =
      this.env.AGENT_BACKEND === 'ebpf' ? ['nsenter', [`--net=/run/netns/${this.ns}`, process.execPath, main]] : ['ip', ['netns', 'exec', this.ns, process.execPath, main]];
    const child = spawn(cmd, args, { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(this.out, { end: false });
    child.stderr.pipe(this.out, { end: false });
    this.child = child;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async status(): Promise<Json> {
    // The agent's status answers its host token only.
    const res = await fetch(`${this.url}/v1/status`, { headers: { authorization: `Bearer ${this.env.NATPLANE_HOST_TOKEN ?? ''}` }, signal: AbortSignal.timeout(2000) });
    return res.json();
  }

  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c && this.running) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }
    await new Promise<void>((r) => (this.out ? this.out.end(r) : r()));
  }
}

