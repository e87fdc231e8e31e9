/**
 * The exact difference between two states as nft commands, in an order one transaction accepts:
 *
 *   1. add new chains (before anything that names them), ct timeouts, sets and maps
 *   2. flush the chains that change or go (their rules held references)
 *   3. delete elements that go or change value (skipped for a set that goes as a whole)
 *   4. add elements that come or change value (`add element` on an existing key fails, and deleting
 *      a missing key aborts the whole batch: both sides are computed from the states, never guessed)
 *   5. add the rules of new and changed chains
 *   6. delete chains, sets and maps, then ct timeouts, that go
 *
 * Both states must cover the same scope: a whole table, or the same slices of it.
 */
import { TABLE } from './names';
import { NftObject, NftState } from './state';

export function diffStates(before: NftState, after: NftState): string[] {
  const out: string[] = [];
  const added: NftObject[] = [];
  const removed: NftObject[] = [];
  const rewritten: NftObject[] = [];
  for (const [id, o] of after.objects) {
    const old = before.objects.get(id);
    if (!old || old.spec !== o.spec) {
      if (old) removed.push(old);
      added.push(o);
    } else if (o.kind === 'chain' && !sameRules(old.rules, o.rules)) rewritten.push(o);
  }
  for (const [id, o] of before.objects) if (!after.objects.has(id)) removed.push(o);
  const replaced = new Set(removed.map((o) => o.name));
  if (added.some((o) => replaced.has(o.name))) {
    // never produced by the renderer (specs are fixed per name); kept correct anyway
    throw new Error('an object changed its definition under the same name');
  }

  const order: Record<NftObject['kind'], number> = { chain: 0, 'ct timeout': 1, set: 2, map: 3 };
  added.sort((a, b) => order[a.kind] - order[b.kind]);
  for (const o of added) out.push(`add ${o.kind} ${TABLE} ${o.name}${o.spec ? ` { ${o.spec} }` : ''}`);
  for (const o of [...rewritten, ...removed]) if (o.kind === 'chain') out.push(`flush chain ${TABLE} ${o.name}`);

  const goneSets = new Set(removed.filter((o) => o.kind === 'set' || o.kind === 'map').map((o) => o.name));
  const newSets = new Set(added.filter((o) => o.kind === 'set' || o.kind === 'map').map((o) => o.name));
  const adds: string[] = [];
  const names = new Set([...before.elements.keys(), ...after.elements.keys()]);
  for (const name of names) {
    const old = before.elements.get(name) ?? EMPTY;
    const now = after.elements.get(name) ?? EMPTY;
    const del: string[] = [];
    const add: string[] = [];
    if (!goneSets.has(name)) {
      const fresh = newSets.has(name);
      for (const [k, v] of old) {
        if (fresh) break;
        const nv = now.get(k);
        if (nv === undefined || nv !== v) del.push(k);
      }
      for (const [k, v] of now) {
        if (fresh || old.get(k) !== v) add.push(v === '' ? k : `${k} : ${v}`);
      }
    }
    if (del.length > 0) out.push(`delete element ${TABLE} ${name} { ${del.join(', ')} }`);
    if (add.length > 0) adds.push(`add element ${TABLE} ${name} { ${add.join(', ')} }`);
  }
  out.push(...adds);

  for (const o of [...added, ...rewritten]) {
    if (o.kind === 'chain') for (const r of o.rules ?? []) out.push(`add rule ${TABLE} ${o.name} ${r}`);
  }
  const removeOrder: Record<NftObject['kind'], number> = { chain: 0, set: 1, map: 1, 'ct timeout': 2 };
  for (const o of [...removed].sort((a, b) => removeOrder[a.kind] - removeOrder[b.kind])) out.push(`delete ${o.kind} ${TABLE} ${o.name}`);
  return out;
}

const EMPTY: ReadonlyMap<string, string> = new Map();

function sameRules(a: string[] | undefined, b: string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((r, i) => r === y[i]);
}
