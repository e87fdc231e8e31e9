/**
 * Test helpers for specs that need the real kernel: root, nft and scratch network namespaces
 * (so the machine's own firewall is never touched). Every namespace made here is deleted by
 * `deleteNamespaces` (call it in afterAll, it also runs on failure).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Why a real-kernel test cannot run here, or null when it can. */
export function kernelTestsUnavailable(tools: string[] = ['nft', 'ip']): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root';
  for (const t of tools) {
    const r = spawnSync(t, [t === 'ip' ? '-V' : '--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `${t} is not installed (apt-get install -y nftables conntrack iproute2)`;
  }
  return null;
}

const made: string[] = [];

/** A new empty namespace with lo up; its name starts with `prefix`. */
export function makeNamespace(prefix: string): string {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  made.push(name);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function deleteNamespaces(): void {
  while (made.length > 0) {
    const n = made.pop() as string;
    spawnSync('ip', ['netns', 'del', n]);
  }
}

export function inNamespace(ns: string, cmd: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `nft -f -` (or `nft -c -f -`) in the namespace; throws with nft's message on failure. */
export function nft(ns: string, script: string, check = false): void {
  const r = inNamespace(ns, 'nft', [...(check ? ['-c'] : []), '-f', '-'], script);
  if (r.status !== 0) throw new Error(`nft${check ? ' -c' : ''} failed: ${r.stderr}`);
}

/**
 * `nft list table ip natplane` reduced to a comparable form: objects sorted by name, set and map
 * elements sorted (the kernel lists hash sets in hash order), rules in order.
 */
export function listTable(ns: string): string[] | null {
  const r = inNamespace(ns, 'nft', ['list', 'table', 'ip', 'natplane']);
  if (r.status !== 0) return null;
  return normalizeListing(r.stdout);
}

export function normalizeListing(text: string): string[] {
  const blocks: string[] = [];
  let current: string[] | null = null;
  let header = '';
  let elements: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (elements !== null) {
      elements += ` ${line}`;
      if (line.endsWith('}')) {
        (current as string[]).push(`elements ${sortElements(elements)}`);
        elements = null;
      }
      continue;
    }
    const open = /^(chain|set|map|ct timeout) (\S+) \{$/.exec(line);
    if (open) {
      header = `${open[1]} ${open[2]}`;
      current = [];
      continue;
    }
    if (!current) continue;
    if (line === '}') {
      blocks.push(`${header}: ${current.join(' | ')}`);
      current = null;
      continue;
    }
    if (line.startsWith('elements = {')) {
      elements = line.slice('elements = '.length);
      if (line.endsWith('}')) {
        current.push(`elements ${sortElements(elements)}`);
        elements = null;
      }
      continue;
    }
    if (line !== '') current.push(line);
  }
  return blocks.sort();
}

function sortElements(text: string): string {
  const inner = text.trim().replace(/^\{/, '').replace(/\}$/, '');
  return inner
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .sort()
    .join(', ');
}
