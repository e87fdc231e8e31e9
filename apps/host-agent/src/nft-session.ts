/**
 * Talking to nftables. Measured here (../../shared/reference/dataplane-notes.md): a new `nft -f`
 * process costs 16-28 ms whatever it does (start-up and cache load), one line written to a
 * long-running `nft -i` about 1 ms. So small transactions go to one long-running `nft -i` (one
 * line = one transaction: the script's commands joined with `; `), big ones (full loads, large
 * diffs) to a one-shot `nft -f -`, which is one transaction as well.
 *
 * `nft -i` says nothing on success. To know when a transaction is committed, and whether it
 * failed, each line is followed by `describe tcp dport`, which prints one known line without
 * touching the kernel; stderr is merged into stdout (`2>&1`) so an error always arrives before
 * that line. One transaction is in flight at a time.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { Logger } from './log';

const MARKER_COMMAND = 'describe tcp dport';
const MARKER_OUTPUT = 'payload expression, datatype inet_service (internet network service) (basetype integer), 16 bits';
/** Above this, a script goes to a one-shot `nft -f -` rather than one huge interactive line. */
const INTERACTIVE_MAX_BYTES = 256 * 1024;
const TIMEOUT_MS = 60_000;

export class NftError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

interface Pending {
  output: string;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** How to run a command: directly, or inside a network namespace (`ip netns exec NS ...`). */
export function commandIn(netns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
}

export function runCommand(netns: string | undefined, cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const [file, argv] = commandIn(netns, cmd, args);
  return new Promise((resolve, reject) => {
    const p = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    p.stdin.on('error', () => undefined);
    p.stdin.end(input ?? '');
  });
}

export class NftSession {
  private proc: ChildProcessWithoutNullStreams | null = null;
  private buffer = '';
  private pending: Pending | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly netns: string | undefined,
    private readonly log: Logger,
  ) {}

  /** Applies a script (lines of nft commands) as one transaction. Resolves once committed. */
  run(script: string): Promise<void> {
    const lines = script.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) return Promise.resolve();
    const job = this.tail.then(() => (Buffer.byteLength(script) > INTERACTIVE_MAX_BYTES ? this.oneShot(script) : this.interactive(lines.join('; '))));
    this.tail = job.catch(() => undefined);
    return job;
  }

  /** `nft -f -`: one transaction, one process. */
  async oneShot(script: string): Promise<void> {
    const r = await runCommand(this.netns, 'nft', ['-f', '-'], script);
    if (r.code !== 0) throw new NftError(`nft -f failed: ${firstLines(r.stderr)}`, r.stderr);
  }

  private interactive(line: string): Promise<void> {
    const proc = this.ensureProcess();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        this.kill('timeout');
        reject(new NftError(`nft -i did not answer within ${TIMEOUT_MS} ms`, ''));
      }, TIMEOUT_MS);
      this.pending = { output: '', resolve, reject, timer };
      proc.stdin.write(`${line}\n${MARKER_COMMAND}\n`);
    });
  }

  private ensureProcess(): ChildProcessWithoutNullStreams {
    if (this.closed) throw new NftError('nft session is closed', '');
    if (this.proc) return this.proc;
    const [file, argv] = commandIn(this.netns, 'sh', ['-c', 'exec nft -i 2>&1']);
    const proc = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    this.buffer = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => this.onData(chunk));
    proc.stderr.on('data', (b: Buffer) => this.log.warn('nft -i stderr', { output: b.toString().slice(0, 2000) }));
    proc.stdin.on('error', () => undefined);
    proc.on('error', (e) => this.onExit(`failed to start: ${e.message}`));
    proc.on('exit', (code, signal) => this.onExit(`exited (code ${code}, signal ${signal})`));
    return proc;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const p = this.pending;
      if (!p) {
        if (line.trim() !== '') this.log.warn('unexpected nft output', { line });
        continue;
      }
      if (line === MARKER_OUTPUT) {
        this.pending = null;
        clearTimeout(p.timer);
        if (/(^|\n)Error:/.test(p.output)) p.reject(new NftError(`nft rejected the transaction: ${firstLines(p.output)}`, p.output));
        else {
          if (p.output.trim() !== '') this.log.warn('nft said something', { output: p.output.slice(0, 2000) });
          p.resolve();
        }
      } else p.output += `${line}\n`;
    }
  }

  private onExit(why: string): void {
    if (!this.proc) return;
    this.proc = null;
    const p = this.pending;
    this.pending = null;
    if (p) {
      clearTimeout(p.timer);
      p.reject(new NftError(`nft -i ${why}`, p.output));
    }
    if (!this.closed) this.log.warn('nft -i session ended', { why });
  }

  private kill(why: string): void {
    const proc = this.proc;
    if (!proc) return;
    this.onExit(why);
    proc.kill('SIGKILL');
  }

  /** Ends the long-running process (after the transaction in flight). */
  async close(): Promise<void> {
    await this.tail;
    this.closed = true;
    const proc = this.proc;
    if (!proc) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.stdin.end();
      setTimeout(() => {
        proc.kill('SIGKILL');
        resolve();
      }, 2000).unref();
    });
    this.proc = null;
  }
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 3).join(' / ').slice(0, 500);
}
