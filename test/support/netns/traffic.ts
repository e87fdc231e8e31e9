/**
 * Real traffic between network namespaces, shared by the host-agent packet test and the
 * end-to-end test: a server (TCP echo on :8080, UDP on :9090 and :9091 of each given address)
 * that logs, one JSON line per event, the source address and port it sees, and a client run
 * inside a VM namespace (`probe`: n TCP connections and n UDP request/replies; `eim`: one UDP
 * socket towards two destinations; `hold`: one TCP connection kept open, echoing stdin lines;
 * `pair`: one UDP exchange from port 40000 and one TCP exchange from port 40001 at a given
 * instant, reporting the answers, so that two VMs can send identical tuples at once; `many`: n UDP
 * flows at once; `big`: a UDP answer larger than the MTU; `bulk`: n bytes through the TCP echo;
 * `listen`: one UDP socket that says what reached it).
 *
 * A probe tags its traffic (`<tag>-<i>` in UDP payloads, `<tag>-t<i>` as the first TCP data), so
 * the server's log says which flow came from which VM. Only addresses inside the caller's
 * namespaces are used.
 */
import { ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../../host-agent/support';

const run = promisify(execFile);

export const SERVER_JS = `
const net = require('net'), dgram = require('dgram');
const log = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
net.createServer((s) => {
  const peer = s.remoteAddress, port = s.remotePort, local = s.localAddress;
  log({ proto: 'tcp', local, peer, port });
  let first = true;
  s.on('data', (d) => {
    if (first) { first = false; log({ proto: 'tcp-data', local, peer, port, tag: d.toString().split('\\n')[0] }); }
    s.write(d);
  });
  s.on('error', () => {});
}).listen(8080, '0.0.0.0', () => log({ ready: true }));
// one socket per address, so that a reply leaves from the address the datagram was sent to
for (const addr of process.argv.slice(2)) {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => { log({ proto: 'udp', local: addr, peer: r.address, port: r.port, tag: m.toString() }); u.send('ok ' + m.toString(), r.port, r.address); });
  u.bind(9090, addr);
  const v = dgram.createSocket('udp4');
  v.on('message', (m, r) => { log({ proto: 'udp', local: addr + ':9091', peer: r.address, port: r.port, tag: m.toString() }); v.send('ok', r.port, r.address); });
  v.bind(9091, addr);
  // an answer larger than the MTU: it leaves in IPv4 fragments
  const w = dgram.createSocket('udp4');
  w.on('message', (m, r) => { log({ proto: 'udp', local: addr + ':9092', peer: r.address, port: r.port, tag: m.toString() }); w.send(Buffer.alloc(4000, 'x'), r.port, r.address); });
  w.bind(9092, addr);
}
`;

export const CLIENT_JS = `
const net = require('net'), dgram = require('dgram');
const [mode, dst, tag, n] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
function tcp(i) { return new Promise((res) => { const s = net.connect({ host: dst, port: 8080, timeout: 1500 }); s.on('connect', () => { s.end(tag + '-t' + i + '\\n'); res(true); }); s.on('timeout', () => { s.destroy(); res(false); }); s.on('error', () => res(false)); }); }
function udp(i) { return new Promise((res) => { const u = dgram.createSocket('udp4'); const t = setTimeout(() => { u.close(); res(false); }, 1500); u.on('message', () => { clearTimeout(t); u.close(); res(true); }); u.send(tag + '-' + i, 9090, dst); }); }
(async () => {
  if (mode === 'eim') {
    // one socket, one source port, two destinations
    const u = dgram.createSocket('udp4');
    u.bind(40000, () => {
      let got = 0;
      u.on('message', () => { if (++got === 2) { u.close(); out({ udpOk: 2 }); } });
      u.send(tag + '-9090', 9090, dst);
      u.send(tag + '-9091', 9091, dst);
      setTimeout(() => { u.close(); out({ udpOk: got }); }, 1500).unref();
    });
  } else if (mode === 'pair') {
    // at the instant n (ms since the epoch): UDP from port 40000, TCP from port 40001, to dst
    setTimeout(async () => {
      const udp = new Promise((res) => {
        const u = dgram.createSocket('udp4');
        u.bind(40000, () => {
          const t = setTimeout(() => { u.close(); res('none'); }, 2000);
          u.on('message', (m) => { clearTimeout(t); u.close(); res(m.toString()); });
          u.send(tag + '-u', 9090, dst);
        });
      });
      const tcp = new Promise((res) => {
        let got = '';
        const s = net.connect({ host: dst, port: 8080, localPort: 40001, timeout: 2000 });
        s.on('connect', () => s.write(tag + '-t\\n'));
        s.on('data', (d) => { got += d.toString(); if (got.includes('\\n')) { s.destroy(); res(got.trim()); } });
        s.on('timeout', () => { s.destroy(); res('none'); });
        s.on('error', (e) => res('error ' + e.message));
      });
      const [u, t] = await Promise.all([udp, tcp]);
      out({ udp: u, tcp: t });
    }, Math.max(0, Number(n) - Date.now()));
  } else if (mode === 'many') {
    // n UDP flows at once (one socket each, one datagram each): how many got an answer
    let got = 0;
    const socks = [];
    for (let i = 0; i < Number(n); i++) {
      const u = dgram.createSocket('udp4');
      socks.push(u);
      u.on('message', () => { if (++got === Number(n)) { socks.forEach((x) => x.close()); out({ udpOk: got }); process.exit(0); } });
      u.send(tag + '-' + i, 9090, dst);
    }
    setTimeout(() => { socks.forEach((u) => u.close()); out({ udpOk: got }); }, 2000);
  } else if (mode === 'listen') {
    // one socket on port 40000: sends one datagram to dst:9090, then prints every datagram it gets for n ms
    const u = dgram.createSocket('udp4');
    const got = [];
    u.on('message', (m, r) => got.push(r.address + ':' + r.port + ' ' + m.toString()));
    u.bind(40000, () => u.send(tag, 9090, dst));
    setTimeout(() => { u.close(); out({ got }); }, Number(n));
  } else if (mode === 'big') {
    // one datagram to :9092, answered with 4000 bytes (fragmented on the way back)
    const u = dgram.createSocket('udp4');
    const t = setTimeout(() => { u.close(); out({ bytes: 0 }); }, 2000);
    u.on('message', (m) => { clearTimeout(t); u.close(); out({ bytes: m.length }); });
    u.send(tag, 9092, dst);
  } else if (mode === 'bulk') {
    // n bytes through the echo server and back, checked byte for byte
    const size = Number(n), chunk = Buffer.alloc(65536);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7 + 3) & 255;
    let sent = 0, got = 0, bad = 0;
    const s = net.connect({ host: dst, port: 8080 }, () => {
      const pump = () => { while (sent < size) { const c = chunk.subarray(0, Math.min(chunk.length, size - sent)); sent += c.length; if (!s.write(c)) return s.once('drain', pump); } };
      pump();
    });
    s.on('data', (d) => { for (let i = 0; i < d.length; i++) if (d[i] !== chunk[(got + i) % 65536]) bad++; got += d.length; if (got >= size) { s.destroy(); out({ bytes: got, bad }); } });
    s.on('error', (e) => out({ bytes: got, bad, error: e.message }));
  } else if (mode === 'probe') {
    let tcpOk = 0, udpOk = 0;
    for (let i = 0; i < Number(n); i++) { if (await tcp(i)) tcpOk++; if (await udp(i)) udpOk++; }
    out({ tcpOk, udpOk });
  } else {
    const s = net.connect({ host: dst, port: 8080 }, () => out({ connected: true, localPort: s.localPort }));
    s.on('data', (d) => d.toString().trim().split('\\n').forEach((l) => out({ echo: l })));
    s.on('error', (e) => out({ error: e.message }));
    s.on('close', () => out({ closed: true }));
    process.stdin.on('data', (d) => s.write(d));
  }
})();
`;

/** One line of the server's log. */
export interface Seen {
  proto?: 'tcp' | 'tcp-data' | 'udp';
  peer?: string;
  port?: number;
  tag?: string;
  local?: string;
  ready?: boolean;
}

/** Parses a child's stdout, one JSON object per line, into `into`. */
function collectJsonLines<T>(child: ChildProcessWithoutNullStreams, into: T[]): void {
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== '') into.push(JSON.parse(line) as T);
    }
  });
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Writes server.js and client.js into `dir` (a scratch directory of the test). */
export function writeTrafficScripts(dir: string): void {
  writeFileSync(join(dir, 'server.js'), SERVER_JS);
  writeFileSync(join(dir, 'client.js'), CLIENT_JS);
}

export class TrafficServer {
  readonly seen: Seen[] = [];

  private constructor(readonly proc: ChildProcessWithoutNullStreams) {}

  /** Starts the server in `ns` (UDP on each of `udpAddrs`) and waits until it listens. */
  static async start(ns: string, dir: string, udpAddrs: string[]): Promise<TrafficServer> {
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, join(dir, 'server.js'), ...udpAddrs]);
    const server = new TrafficServer(proc);
    collectJsonLines(proc, server.seen);
    await eventually(() => {
      if (proc.exitCode !== null) throw new Error(`the traffic server exited with ${proc.exitCode}`);
      return server.seen.some((s) => s.ready);
    }, `the traffic server in ${ns}`);
    return server;
  }

  /** UDP datagrams of a probe tagged `tag`. */
  udp(tag: string): Seen[] {
    const re = new RegExp(`^${escapeRe(tag)}-\\d+$`);
    return this.seen.filter((s) => s.proto === 'udp' && re.test(s.tag ?? ''));
  }

  /** TCP connections of a probe tagged `tag` (by their first data). */
  tcp(tag: string): Seen[] {
    const re = new RegExp(`^${escapeRe(tag)}-t\\d+$`);
    return this.seen.filter((s) => s.proto === 'tcp-data' && re.test(s.tag ?? ''));
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

/**
 * `n` TCP connections and `n` UDP request/replies from the namespace `ns` to `dst`, tagged `tag`;
 * resolves with how many got an answer, once the server logged every flow that did.
 */
export async function probe(server: TrafficServer, dir: string, ns: string, dst: string, tag: string, n = 3): Promise<{ tcpOk: number; udpOk: number }> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, join(dir, 'client.js'), 'probe', dst, tag, String(n)]);
  const result = JSON.parse(stdout) as { tcpOk: number; udpOk: number };
  await eventually(() => server.udp(tag).length >= result.udpOk && server.tcp(tag).length >= result.tcpOk, `the server log of ${tag}`);
  // a flow that got no answer may still have reached the server: let its log line arrive
  await new Promise((r) => setTimeout(r, 50));
  return result;
}

/**
 * From each namespace at the same instant: UDP from port 40000 to `dst`:9090 and TCP from port
 * 40001 to `dst`:8080, tagged with the namespace's tag. Resolves with what each got back (`ok
 * <tag>-u` and `<tag>-t` when its own reply reached it).
 */
export async function pairAtOnce(dir: string, flows: { ns: string; tag: string }[], dst: string): Promise<{ udp: string; tcp: string }[]> {
  const at = Date.now() + 300;
  return Promise.all(
    flows.map(async (f) => {
      const { stdout } = await run('ip', ['netns', 'exec', f.ns, process.execPath, join(dir, 'client.js'), 'pair', dst, f.tag, String(at)]);
      return JSON.parse(stdout) as { udp: string; tcp: string };
    }),
  );
}

/** One UDP socket of `ns` sending to ports 9090 and 9091 of `dst` (endpoint-independent mapping). */
export async function probeEim(dir: string, ns: string, dst: string, tag: string): Promise<{ udpOk: number }> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, join(dir, 'client.js'), 'eim', dst, tag, '0']);
  return JSON.parse(stdout) as { udpOk: number };
}

/** The client script in one of its other modes (`many`, `big`, `bulk`, `listen`), parsed from its one line of output. */
export async function client<T>(dir: string, ns: string, mode: 'many' | 'big' | 'bulk' | 'listen', dst: string, tag: string, n: number): Promise<T> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, join(dir, 'client.js'), mode, dst, tag, String(n)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as T;
}

/** A TCP connection from `ns` to `dst`:8080 held open; `send` writes a line the server echoes. */
export class HeldConnection {
  readonly lines: { connected?: boolean; localPort?: number; echo?: string; error?: string; closed?: boolean }[] = [];

  private constructor(readonly proc: ChildProcessWithoutNullStreams) {}

  static async open(dir: string, ns: string, dst: string): Promise<HeldConnection> {
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, join(dir, 'client.js'), 'hold', dst, 'held', '0']);
    const held = new HeldConnection(proc);
    collectJsonLines(proc, held.lines);
    await eventually(() => {
      const bad = held.lines.find((l) => l.error || l.closed);
      if (bad) throw new Error(`the held connection failed: ${JSON.stringify(bad)}`);
      return held.lines.some((l) => l.connected);
    }, `the held connection from ${ns} to ${dst}`);
    return held;
  }

  /** Sends `text` and waits for its echo. */
  async echo(text: string, timeoutMs = 5_000): Promise<void> {
    this.proc.stdin.write(`${text}\n`);
    await eventually(
      () => {
        const bad = this.lines.find((l) => l.error || l.closed);
        if (bad) throw new Error(`the held connection failed: ${JSON.stringify(bad)}`);
        return this.lines.some((l) => l.echo === text);
      },
      `the echo of ${text} on the held connection`,
      timeoutMs,
    );
  }

  close(): void {
    this.proc.kill('SIGKILL');
  }
}
