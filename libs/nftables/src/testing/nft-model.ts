/**
 * A strict model of what nftables does with the scripts this library renders, for tests: it
 * parses the rendered commands and applies them to an in-memory table, failing the way the kernel
 * fails (and stricter): deleting a missing element, object or chain, adding an object twice,
 * adding an existing element, deleting an object still referenced, naming a missing set or chain.
 * Like a transaction, a script that fails leaves the model unchanged.
 */
import { NftObject, NftState, ObjectKind, addElement, addObject, emptyState, objectId } from '../state';

const PREFIX = 'ip natplane';

export class NftModelError extends Error {}

export class NftModel {
  state: NftState | null = null;

  /** Applies a script as one transaction. */
  apply(script: string): void {
    const work = this.state ? cloneState(this.state) : null;
    const holder = { state: work };
    script
      .split('\n')
      .filter((l) => l.trim() !== '')
      .forEach((line, i) => {
        try {
          applyLine(holder, line);
        } catch (e) {
          throw new NftModelError(`line ${i + 1}: ${(e as Error).message}: ${line.slice(0, 200)}`);
        }
      });
    this.state = holder.state;
  }
}

function cloneState(s: NftState): NftState {
  const out = emptyState();
  for (const [id, o] of s.objects) out.objects.set(id, { ...o, rules: o.rules ? [...o.rules] : undefined });
  for (const [name, m] of s.elements) out.elements.set(name, new Map(m));
  return out;
}

function need<T>(v: T | undefined | null, message: string): T {
  if (v === undefined || v === null) throw new Error(message);
  return v;
}

function applyLine(h: { state: NftState | null }, line: string): void {
  let m: RegExpExecArray | null;
  if (line === `add table ${PREFIX}`) {
    h.state ??= emptyState();
    return;
  }
  if (line === `delete table ${PREFIX}`) {
    need(h.state, 'no such table');
    h.state = null;
    return;
  }
  const s = need(h.state, 'no such table');
  if ((m = /^add (chain|set|map|ct timeout) ip natplane (\S+)(?: \{ (.*) \})?$/.exec(line))) {
    const kind = m[1] as ObjectKind;
    const id = objectId(kind, m[2]);
    if (s.objects.has(id)) throw new Error(`${kind} ${m[2]} exists`);
    if ((kind === 'set' || kind === 'map') && s.objects.has(objectId(kind === 'set' ? 'map' : 'set', m[2]))) throw new Error(`set ${m[2]} exists`);
    const o: NftObject = { kind, name: m[2], spec: m[3] ?? '' };
    if (kind === 'chain') o.rules = [];
    addObject(s, o);
    return;
  }
  if ((m = /^flush chain ip natplane (\S+)$/.exec(line))) {
    need(s.objects.get(objectId('chain', m[1])), `no chain ${m[1]}`).rules = [];
    return;
  }
  if ((m = /^add rule ip natplane (\S+) (.*)$/.exec(line))) {
    const chain = need(s.objects.get(objectId('chain', m[1])), `no chain ${m[1]}`);
    for (const ref of m[2].matchAll(/@(\w+)/g)) need(setOf(s, ref[1]), `rule names missing set ${ref[1]}`);
    for (const ref of m[2].matchAll(/(?:tcp|udp) : "(\w+)"/g)) need(s.objects.get(objectId('ct timeout', ref[1])), `rule names missing ct timeout ${ref[1]}`);
    (chain.rules as string[]).push(m[2]);
    return;
  }
  if ((m = /^(add|delete) element ip natplane (\S+) \{ (.*) \}$/.exec(line))) {
    const set = need(setOf(s, m[2]), `no set ${m[2]}`);
    const elements = s.elements.get(set.name) ?? new Map<string, string>();
    for (const item of m[3].split(', ')) {
      const sep = item.indexOf(' : ');
      const key = sep < 0 ? item : item.slice(0, sep);
      const value = sep < 0 ? '' : item.slice(sep + 3);
      if (m[1] === 'delete') {
        if (sep >= 0) throw new Error('delete element with a value');
        if (!elements.delete(key)) throw new Error(`no element ${key} in ${m[2]}`);
      } else {
        if (elements.has(key)) throw new Error(`element ${key} exists in ${m[2]}`);
        if (set.spec.includes(': verdict') !== (sep >= 0 && value.startsWith('jump '))) throw new Error(`element ${item} does not fit ${m[2]}`);
        const jump = /^jump (\S+)$/.exec(value);
        if (jump) need(s.objects.get(objectId('chain', jump[1])), `element jumps to missing chain ${jump[1]}`);
        addElement(s, set.name, key, value);
      }
    }
    if (m[1] === 'delete') s.elements.set(set.name, elements);
    return;
  }
  if ((m = /^delete (chain|set|map|ct timeout) ip natplane (\S+)$/.exec(line))) {
    const kind = m[1] as ObjectKind;
    const o = need(s.objects.get(objectId(kind, m[2])), `no ${kind} ${m[2]}`);
    if (kind === 'chain') {
      if ((o.rules ?? []).length > 0) throw new Error(`chain ${m[2]} is not empty`);
      for (const els of s.elements.values()) for (const v of els.values()) if (v === `jump ${m[2]}`) throw new Error(`chain ${m[2]} is in use`);
    }
    for (const other of s.objects.values()) {
      for (const r of other.rules ?? []) {
        if (r.includes(`@${m[2]}`) || r.includes(`"${m[2]}"`)) throw new Error(`${kind} ${m[2]} is in use by chain ${other.name}`);
      }
    }
    s.objects.delete(objectId(kind, m[2]));
    s.elements.delete(m[2]);
    return;
  }
  throw new Error('unknown command');
}

function setOf(s: NftState, name: string): NftObject | undefined {
  return s.objects.get(objectId('set', name)) ?? s.objects.get(objectId('map', name));
}

/** Comparable plain form of a state: sorted objects with rules, sorted elements (empty sets omitted). */
export function canonical(s: NftState | null): unknown {
  if (!s) return null;
  const objects = [...s.objects.values()].map((o) => `${o.kind} ${o.name} {${o.spec}} [${(o.rules ?? []).join(' | ')}]`).sort();
  const elements: Record<string, string[]> = {};
  for (const [name, m] of [...s.elements].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (m.size > 0) elements[name] = [...m].map(([k, v]) => `${k}=${v}`).sort();
  }
  return { objects, elements };
}
