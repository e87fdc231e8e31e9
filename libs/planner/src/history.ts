/**
 * A computation's allocation history: which open rows to close and which to open for the
 * gateway's held blocks. Pure; moved from the worker's reconcile handler as it was (the caller
 * reads the open rows).
 */
import type { HistoryRow, LockedGateway, NewHistoryRow, ScopeEndpoint, StoredBlock } from './types';

/**
 * History rows stay open while the holder can still translate on the block: ACTIVE, DRAIN, and
 * QUARANTINE of an endpoint that still exists (its host keeps the block as a drain block, so
 * its established connections go on until the quarantine ends). A deleted endpoint's block leaves
 * its host's document at once (the host removes the leftover connections), so its row closes.
 */
const HELD = new Set(['ACTIVE', 'DRAIN', 'QUARANTINE']);

export interface HistoryChanges {
  /** VMs whose host changed: endpoint id -> the host name it left. */
  moves: Map<string, string>;
  /** Open rows to close, by id. */
  close: string[];
  open: NewHistoryRow[];
  /** Given the rows opened, the open rows afterwards by endpoint. */
  after: (opened: HistoryRow[]) => Map<string, HistoryRow[]>;
}

/**
 * One open history row per held block, holder, host and source address: which rows to close
 * and to open, the VMs whose host changed (endpoint id -> the host it left), and, given the
 * rows opened, the open rows afterwards by endpoint. `blocks`: the gateway's blocks; with
 * `known` (the open rows by endpoint, kept, and the endpoints `touched`), only those endpoints can
 * have changed (an endpoint whose blocks and row are unchanged keeps its rows) and `blocks` are theirs.
 * `open`: the gateway's open rows (with `known`: those of the touched endpoints).
 */
export function historyChanges(
  gw: Pick<LockedGateway, 'id' | 'name' | 'projectId' | 'projectName'>,
  blocks: StoredBlock[],
  endpoints: Map<string, ScopeEndpoint>,
  open: HistoryRow[],
  known?: { prior: Map<string, HistoryRow[]>; touched: Set<string> },
): HistoryChanges {
  const key = (r: { endpointId: string; ruleNumber: number; natIp: string; portLo: number; portHi: number; hostName: string; sourceIp: string; state: string }) =>
    `${r.endpointId}|${r.ruleNumber}|${r.natIp}|${r.portLo}|${r.portHi}|${r.hostName}|${r.sourceIp}|${r.state}`;
  const held = [];
  for (const b of blocks) {
    if (!HELD.has(b.state)) continue;
    if (b.state === 'QUARANTINE' && b.cut === true) continue; // its connections were cut: the holder translates on it no more
    const e = endpoints.get(b.endpointId);
    if (!e) continue;
    held.push({ natIp: b.natIp, portLo: b.portLo, portHi: b.portHi, endpointId: e.id, endpointName: e.name, ruleNumber: b.ruleNumber, hostName: e.hostName, sourceIp: e.networkIp, state: b.state });
  }
  const moves = new Map<string, string>();
  for (const o of open) {
    const e = endpoints.get(o.endpointId);
    if (e && e.hostName !== o.hostName) moves.set(e.id, o.hostName);
  }
  const heldKeys = new Set(held.map(key));
  const openKeys = new Set(open.map(key));
  const [kept, closed] = partition(open, (o) => heldKeys.has(key(o)));
  const toOpen = held.filter((h) => !openKeys.has(key(h))).map((h) => ({ ...h, projectId: gw.projectId, projectName: gw.projectName, gatewayId: gw.id, gatewayName: gw.name }));
  const after = (opened: HistoryRow[]) => {
    // Incremental: the kept rows, updated in place (a failed run drops the whole kept result).
    const out = known?.prior ?? new Map<string, HistoryRow[]>();
    if (known) for (const id of known.touched) out.delete(id);
    for (const r of kept.concat(opened)) pushTo(out, r.endpointId, r);
    return out;
  };
  return { moves, close: closed.map((o) => o.id), open: toOpen, after };
}

function partition<T>(items: T[], test: (t: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const t of items) (test(t) ? yes : no).push(t);
  return [yes, no];
}

function pushTo<T>(index: Map<string, T[]>, key: string, value: T): void {
  const list = index.get(key);
  if (list) list.push(value);
  else index.set(key, [value]);
}
