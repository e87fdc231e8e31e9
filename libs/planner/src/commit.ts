/**
 * What a computation commits, beyond decide(): the hosts of a full computation (with the VM-move
 * ordering), the whole commit of a decision, and the commit of a gateway that is gone. Pure; the
 * worker hands the result to commitReconcile (libs/persistence), which writes it under one guard.
 */
import type { HostGateway } from '@natplane/contracts';
import type { Decision } from './decide';
import type { GatewayPlan } from './planner';
import { hostSections } from './host-sections';
import type { GatewayHostState, HistoryRow, HostsCommit, LockedGateway, ReconcileCommit, ScopeEndpoint, StoredBlock } from './types';

/**
 * Open history rows whose holder is now on another host: the names of the hosts they left (the
 * loader resolves them to ids for fullHosts).
 */
export function hostsLeft(candidates: ScopeEndpoint[], open: HistoryRow[]): string[] {
  const hostOf = new Map(candidates.map((e) => [e.id, e.hostName]));
  const names = new Set<string>();
  for (const o of open) {
    const now = hostOf.get(o.endpointId);
    if (now !== undefined && now !== o.hostName) names.add(o.hostName);
  }
  return [...names];
}

/**
 * For a full computation, against the gateway's host states as stored (`old`): each host's
 * section, the hosts that get a new generation, and the states written or dropped, for every
 * host of the gateway. A host a VM left (`d.history.moves`, host names resolved by `hostIds`)
 * is `leaving`: its old section stays until the VM's new host applied the generation that
 * carries the VM (programmed on the new host before removed from the old one); the commit
 * decides, on the hosts' generations as it writes them, whether it waits.
 */
export function fullHosts(
  gw: LockedGateway,
  plan: GatewayPlan,
  d: Decision,
  old: GatewayHostState[],
  hostIds: Map<string, string>,
): HostsCommit & { sections: Map<string, { fingerprint: string; section: HostGateway }> } {
  const before = new Map(old.map((h) => [h.hostId, h]));
  const sections = hostSections(gw, d.next, d.byId);
  const scopeHosts = new Set(plan.inScope.map((x) => x.endpoint.hostId));
  // Hosts a VM left, waiting for the VM's new host: host id -> the new host id.
  const leaving = new Map<string, string>();
  for (const [endpointId, fromName] of d.history.moves) {
    const from = hostIds.get(fromName);
    const to = d.byId.get(endpointId)?.hostId;
    if (from && to && from !== to) leaving.set(from, to);
  }
  const fingerprint = (h: string) => sections.get(h)?.fingerprint ?? '';
  const all = new Set([...before.keys(), ...sections.keys(), ...scopeHosts]);
  const changed = new Set([...all].filter((h) => (before.get(h)?.fingerprint ?? '') !== fingerprint(h)));
  const out: HostsCommit = { bump: [], leaving: [], states: [], drop: [] };
  for (const h of all) {
    const to = leaving.get(h);
    if (changed.has(h)) {
      if (to === undefined) out.bump.push(h);
      else out.leaving.push({ hostId: h, waitHostId: to, fingerprint: before.get(h)?.fingerprint ?? '', requiredGeneration: before.get(h)?.requiredGeneration ?? null });
    }
    if (!scopeHosts.has(h) && fingerprint(h) === '') {
      if (before.has(h)) out.drop.push(h); // nothing of this gateway there any more (unless it waits)
      continue;
    }
    out.states.push({ hostId: h, requiredGeneration: changed.has(h) ? null : (before.get(h)?.requiredGeneration ?? null), fingerprint: fingerprint(h) });
  }
  return { ...out, sections };
}

/** A decision and its hosts as one commit, at `at`. */
export function commitOf(d: Decision, hosts: HostsCommit, at: Date): ReconcileCommit {
  return { status: d.status, blocks: { removed: d.removed, added: d.added }, history: { close: d.history.close, open: d.history.open, at }, hosts };
}

/**
 * The commit of a gateway that no longer exists: each of its blocks cools down for the
 * quarantine its gateway had (recorded with the block), a quarantine that ended goes, every open
 * history row closes, and `hostIds` (the hosts of its endpoints, when it held a block that was
 * not in quarantine yet) get a new generation.
 */
export function goneCommit(blocks: StoredBlock[], open: HistoryRow[], hostIds: string[], now: Date): ReconcileCommit {
  const cooling = (b: StoredBlock) => b.state === 'QUARANTINE' && b.until !== null && b.until > now;
  const removed = blocks.filter((b) => !cooling(b));
  const added = removed
    .filter((b) => b.state !== 'QUARANTINE')
    .map((b) => ({ ...b, state: 'QUARANTINE' as const, until: new Date(now.getTime() + (b.quarantineSec ?? 120) * 1000) }));
  return {
    status: undefined,
    blocks: { removed, added },
    history: { close: open.map((o) => o.id), open: [], at: now },
    hosts: { bump: hostIds, leaving: [], states: [], drop: [] },
  };
}
