/**
 * The long-lived eBPF loader (apps/host-agent/ebpf/loader.c), driven over its stdin/stdout: one
 * command a line, answers by line (docs/ebpf-backend.md "The loader's protocol"). Map writes go
 * as one binary batch (`B`: fixed-size keys and values back to back, written by the loader with
 * the kernel's batch map operations), answered once: a block update is one pipe write and one
 * read, microseconds, not a process.
 *
 * Commands are answered in order, so requests are queued and matched to answers first in, first out.
 * The walks of the 1 M-entry maps (sweep, release, counters, usage) go on a second channel (the
 * child's fd 3), answered by a thread of their own: a patch's batch does not wait behind them.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Duplex, Writable } from 'node:stream';
import { Logger } from '../log';

/** Where prepare.js puts the built object and loader: dist/ebpf of the repository. */
export function ebpfArtifacts(): { object: string; loader: string } {
  let dir = resolve(__dirname);
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'apps'))) break;
    dir = dirname(dir);
  }
  const base = process.env.AGENT_EBPF_DIR || join(dir, 'dist', 'ebpf');
  return { object: join(base, 'natplane.bpf.o'), loader: join(base, 'natplane-ebpf-loader') };
}

/**
 * Why the eBPF backend cannot run here (null: it can): the build left no loader because a tool or
 * library was missing, or the kernel has no BTF.
 */
export function ebpfProblem(): string | null {
  const { object, loader } = ebpfArtifacts();
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux): the eBPF backend needs a kernel built with CONFIG_DEBUG_INFO_BTF';
  if (!existsSync(object) || !existsSync(loader)) {
    const missing = missingBuildTools();
    const pkgs = missing.length ? missing.join(' ') : 'clang llvm libbpf-dev bpftool';
    return `the eBPF programs are not built (${existsSync(object) ? loader : object} is missing): install ${pkgs} (apt-get install -y ${pkgs}) and run node scripts/prepare.js`;
  }
  return null;
}

/** The Debian packages the eBPF build needs that are missing here. */
export function missingBuildTools(): string[] {
  const out: string[] = [];
  const onPath = (cmd: string) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
  if (!onPath('clang')) out.push('clang');
  if (!onPath('llvm-strip') && !existsSync('/usr/bin/llvm-strip') && !onPath('llc')) out.push('llvm');
  if (!existsSync('/usr/include/bpf/libbpf.h')) out.push('libbpf-dev');
  if (!onPath('bpftool') && !existsSync('/usr/sbin/bpftool')) out.push('bpftool');
  return out;
}

interface Waiter {
  /** Lines a command answers with before its final `ok`/`err` line. */
  lines: string[];
  resolve: (r: { lines: string[]; last: string }) => void;
  reject: (e: Error) => void;
}

export class LoaderError extends Error {}

/** The loader's fd for the walks' channel (NATPLANE_LOADER_WALK_FD): the child's fourth stdio. */
const WALK_FD = 3;

/** One way to the loader: commands written in order, answers matched to them first in, first out. */
class Channel {
  private buffer = '';
  private readonly waiters: Waiter[] = [];

  constructor(
    private readonly name: string,
    private readonly log: Logger,
  ) {}

  /** Queues a waiter for the next answer, then writes (so an answer never comes before its waiter). */
  send(write: () => void): Promise<{ lines: string[]; last: string }> {
    const p = new Promise<{ lines: string[]; last: string }>((resolveReq, rejectReq) => this.waiters.push({ lines: [], resolve: resolveReq, reject: rejectReq }));
    write();
    return p;
  }

  onData(text: string): void {
    this.buffer += text;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const w = this.waiters[0];
      if (!w) {
        this.log.warn('the eBPF loader said something unasked', { channel: this.name, line });
        continue;
      }
      if (line.startsWith('ok') || line.startsWith('err')) {
        this.waiters.shift();
        w.resolve({ lines: w.lines, last: line });
      } else w.lines.push(line);
    }
  }

  fail(why: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(why);
  }
}

export class LoaderClient {
  private proc: ChildProcessWithoutNullStreams | null = null;
  /** stdin/stdout: batches, dumps, devices */
  private readonly main: Channel;
  /**
   * The walks' channel (w, r, c, p: walks of 1 M-entry maps, tens of ms each), served by a thread
   * of its own in the loader: a batch (a patch) never waits behind a sweep, a release or a
   * counter read.
   */
  private readonly walks: Channel;
  private walkSocket: Writable | null = null;
  private stderr = '';
  private closed = false;
  ifindex = 0;

  constructor(
    private readonly netns: string | undefined,
    private readonly pinDir: string,
    private readonly uplink: string,
    log: Logger,
  ) {
    this.main = new Channel('main', log);
    this.walks = new Channel('walks', log);
  }

  /** Starts the loader: loads the programs, reuses the pinned maps, attaches (or swaps) the programs. */
  async start(): Promise<void> {
    const { object, loader } = ebpfArtifacts();
    const args = [object, this.pinDir, this.uplink];
    // nsenter, not `ip netns exec`: the latter mounts a new /sys and hides /sys/fs/bpf
    const [file, argv] = this.netns ? ['nsenter', [`--net=/run/netns/${this.netns}`, loader, ...args]] : [loader, args];
    const proc = spawn(file, argv, {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, NATPLANE_LOADER_WALK_FD: String(WALK_FD) },
    });
    this.proc = proc;
    const walkSocket = proc.stdio[WALK_FD] as Duplex;
    this.walkSocket = walkSocket;
    walkSocket.on('data', (b: Buffer) => this.walks.onData(b.toString()));
    walkSocket.on('error', () => undefined);
    proc.stderr.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    proc.stdin.on('error', () => undefined);
    const ready = new Promise<void>((resolveReady, rejectReady) => {
      let head = '';
      const onData = (b: Buffer) => {
        head += b.toString();
        const nl = head.indexOf('\n');
        if (nl < 0) return;
        const first = head.slice(0, nl);
        proc.stdout.off('data', onData);
        proc.stdout.on('data', (d: Buffer) => this.main.onData(d.toString()));
        this.main.onData(head.slice(nl + 1));
        const m = /^ready (\d+) (\d+)$/.exec(first);
        if (!m) return rejectReady(new LoaderError(`the eBPF loader said ${JSON.stringify(first)}`));
        this.ifindex = Number(m[1]);
        resolveReady();
      };
      proc.stdout.on('data', onData);
      proc.on('exit', (code, signal) => {
        this.closed = true;
        const why = new LoaderError(`the eBPF loader exited (${signal ?? `code ${code}`}): ${this.stderr.trim().split('\n').slice(-3).join('; ')}`);
        rejectReady(why);
        this.main.fail(why);
        this.walks.fail(why);
      });
      proc.on('error', (e) => rejectReady(new LoaderError(`the eBPF loader cannot be run: ${e.message}`)));
    });
    await ready;
  }

  /** Sends lines; the last must be a command that answers (the others are batched writes). */
  request(lines: string[]): Promise<{ lines: string[]; last: string }> {
    const proc = this.proc;
    if (!proc || this.closed) return Promise.reject(new LoaderError('the eBPF loader is not running'));
    return this.main.send(() => proc.stdin.write(lines.join('\n') + '\n'));
  }

  /**
   * Sends map writes and deletes as one binary batch (`B`, OpList.encode): one pipe write and one
   * answer however many entries; throws with the first error.
   */
  async writeBatch(body: Buffer): Promise<void> {
    if (body.length === 0) return;
    const proc = this.proc;
    if (!proc || this.closed) throw new LoaderError('the eBPF loader is not running');
    // one write: the command line and its bytes together, so one system call and one wake-up of
    // the loader, where two writes cost two of each
    const head = `B ${body.length}\n`;
    const out = Buffer.allocUnsafe(head.length + body.length);
    out.write(head, 0, 'latin1');
    body.copy(out, head.length);
    const r = await this.main.send(() => proc.stdin.write(out));
    if (r.last.startsWith('err')) throw new LoaderError(`eBPF map update failed: ${r.last.replace(/^err \d+ \d+ /, '')}`);
  }

  /**
   * A walk (`w`, `r ...`, `c`, `p`) on the walks' channel, answered by the loader's walk thread
   * while batches go on; throws on an `err` answer.
   */
  async walk(line: string): Promise<{ lines: string[]; last: string }> {
    const socket = this.walkSocket;
    if (!socket || !this.proc || this.closed) throw new LoaderError('the eBPF loader is not running');
    const r = await this.walks.send(() => socket.write(line + '\n'));
    if (r.last.startsWith('err')) throw new LoaderError(`eBPF loader: ${r.last.slice(4)}`);
    return r;
  }

  /** Every key and value of a map. */
  async dump(map: string): Promise<[string, string][]> {
    const r = await this.request([`k ${map}`]);
    if (r.last.startsWith('err')) throw new LoaderError(r.last);
    return r.lines.map((l) => {
      const [, k, v] = l.split(' ');
      return [k, v];
    });
  }

  async simple(line: string): Promise<{ lines: string[]; last: string }> {
    const r = await this.request([line]);
    if (r.last.startsWith('err')) throw new LoaderError(`eBPF loader: ${r.last.slice(4)}`);
    return r;
  }

  async close(): Promise<void> {
    const proc = this.proc;
    if (!proc || this.closed) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.stdin.end('q\n');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
