/**
 * A computation's block difference: which stored blocks of a gateway go and which come, from the
 * allocator's new blocks. Pure; moved from the worker's reconcile handler as it was.
 */
import type { Block } from '@natplane/allocator';
import { parseIpv4 } from '@natplane/domain';
import { fromBlock } from './planner';
import type { StoredBlock } from './types';

const ipNumbers = new Map<string, number>();

/** A stored NAT IP as a number (stored addresses are valid: a malformed one is a bug). */
function ipv4Value(ip: string): number {
  const parsed = parseIpv4(ip);
  if (!parsed.ok) throw new RangeError(parsed.message);
  return parsed.value;
}

/** A block's place as a number: its NAT IP (as an integer) and first port. */
function blockKey(b: { natIp: string; portLo: number }): number {
  let n = ipNumbers.get(b.natIp);
  if (n === undefined) {
    n = ipv4Value(b.natIp);
    if (ipNumbers.size > 100_000) ipNumbers.clear();
    ipNumbers.set(b.natIp, n);
  }
  return n * 65536 + b.portLo;
}

/** Same place (compared by the caller), holder, size, state, quarantine end and cut. */
function sameBlock(a: { endpointId: string; ruleNumber: number; state: string; cut?: boolean }, aSize: number, aUntil: number | undefined, b: Block): boolean {
  return a.endpointId === b.endpointId && a.ruleNumber === b.ruleNumber && aSize === b.size && a.state === b.state && aUntil === b.until && (a.cut === true) === (b.cut === true);
}

/**
 * The stored blocks removed or changed (`removed`) from `previous` to the allocator's `blocks`,
 * and the new or changed ones (`added`, stored with the gateway's quarantine length).
 */
export function blockDiff(previous: StoredBlock[], blocks: Block[], quarantineSec: number): { removed: StoredBlock[]; added: StoredBlock[] } {
  // Blocks left here at the end were removed or changed.
  const before = new Map<number, StoredBlock>();
  for (const b of previous) before.set(blockKey(b), b);
  const added: StoredBlock[] = [];
  for (const b of blocks) {
    const k = blockKey(b);
    const a = before.get(k);
    if (a && a.quarantineSec === quarantineSec && sameBlock(a, a.portHi - a.portLo + 1, a.until?.getTime(), b)) before.delete(k);
    else added.push({ ...fromBlock(b), quarantineSec });
  }
  return { removed: [...before.values()], added };
}

/**
 * blockDiff for a run that starts from this worker's own last result: `priorBlocks` (the
 * allocator's blocks) and `priorStored` (the same blocks as stored, index for index). An
 * unchanged block keeps its stored object; only new or changed ones are converted.
 */
export function reuseUnchanged(
  priorBlocks: Block[],
  priorStored: StoredBlock[],
  blocks: Block[],
  quarantineSec: number,
): { next: StoredBlock[]; removed: StoredBlock[]; added: StoredBlock[] } {
  const index = new Map<number, number>();
  for (let i = 0; i < priorBlocks.length; i++) index.set(blockKey(priorBlocks[i]), i);
  const next = new Array<StoredBlock>(blocks.length);
  const added: StoredBlock[] = [];
  for (let j = 0; j < blocks.length; j++) {
    const b = blocks[j];
    const k = blockKey(b);
    const i = index.get(k);
    if (i !== undefined && sameBlock(priorBlocks[i], priorBlocks[i].size, priorBlocks[i].until, b)) {
      next[j] = priorStored[i];
      index.delete(k);
    } else {
      next[j] = { ...fromBlock(b), quarantineSec };
      added.push(next[j]);
    }
  }
  return { next, removed: [...index.values()].map((i) => priorStored[i]), added };
}
