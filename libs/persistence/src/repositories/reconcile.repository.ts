import type { NatGatewaySpec } from '@natplane/domain';
import type { Db } from '../db';
import { closeHistoryCte, insertOpenHistory, parameters, type Param } from './history.sql';
import type { EndpointChange, GatewayHostState, HistoryRow, LockedGateway, ReconcileCommit, StoredBlock } from '@natplane/planner';

/** A drain that reached the gateway's maxDrainDurationSec. */
export interface EndedDrain {
  name: string;
  ip: string;
  ruleNumber: number;
}

const GATEWAY_SELECT = `SELECT g.id, g.name, g.project_id AS "projectId", p.name AS "projectName", g.network_id AS "networkId", g.region, g.spec,
              g.generation::float8 AS generation, g.observed_generation::float8 AS "observedGeneration",
              g.reconcile_seq::float8 AS "reconcileSeq"`;

/** A host whose document generation a commit raised, with what a push to it needs. */
export interface BumpedHost {
  id: string;
  name: string;
  agentUrl: string;
  pushSecret: string;
  desiredGeneration: number;
}

/** What commitReconcile wrote (see there). */
export interface ReconcileCommitted {
  seq: number | null;
  bumped: BumpedHost[];
  states: GatewayHostState[];
  opened: HistoryRow[];
}



/** INSERT of the gateway's blocks (one array parameter per column); `guard`: an SQL condition for writing at all. */
function insertBlocks($: Param, gatewayId: string, blocks: StoredBlock[], guard = 'true'): string {
  const col = <T>(f: (b: StoredBlock) => T) => $(blocks.map(f));
  return `INSERT INTO allocations (nat_ip, port_lo, port_hi, gateway_id, endpoint_id, rule_number, state, since, until, quarantine_sec, cut)
    SELECT ip::inet, lo, hi, ${$(gatewayId)}, ep, rn, st, si, un, qs, cu
    FROM unnest(${col((b) => b.natIp)}::text[], ${col((b) => b.portLo)}::int[], ${col((b) => b.portHi)}::int[], ${col((b) => b.endpointId)}::uuid[],
                ${col((b) => b.ruleNumber)}::int[], ${col((b) => b.state)}::text[], ${col((b) => b.since)}::timestamptz[], ${col((b) => b.until)}::timestamptz[],
                ${col((b) => b.quarantineSec ?? 120)}::int[], ${col((b) => b.cut === true)}::bool[])
      AS b(ip, lo, hi, ep, rn, st, si, un, qs, cu)
    WHERE ${guard}`;
}

/** The key of a gateway's advisory lock (held by a computation of the gateway while it writes). */
function lockKey(gatewayId: string): string {
  return `gateway:${gatewayId}`;
}

/**
 * A gateway's computation: its lock and reads (lockGateway, readIncremental), the drains it ends,
 * and its one commit (commitReconcile). The inputs it plans on are PlanInputsRepository's, its
 * hosts GatewayHostsRepository's, its history HistoryRepository's.
 */
export class ReconcileRepository {
  constructor(private readonly db: Db) {}

  /**
   * The gateway, under a per-gateway advisory lock held until the transaction ends: two workers
   * never compute the same gateway at once. The row itself is not locked, so the api's
   * generation bumps (every endpoint write) never wait for a computation. When the lock is free
   * (the usual case), taking it and reading are one statement; the snapshot of that statement
   * could in a rare race predate another worker's commit, which commitReconcile detects (reconcile_seq
   * moved) by refusing to commit, so such a run is retried, never wrong. When the lock is taken,
   * this waits for it and then reads. Undefined for a gateway that no longer exists, the lock
   * held all the same (its release is serialized like a computation).
   */
  async lockGateway(id: string): Promise<LockedGateway | undefined> {
    const key = lockKey(id);
    const first = await this.db.one<{ locked: boolean; id: string | null } & LockedGateway & Record<string, unknown>>(
      `${GATEWAY_SELECT}, l.locked FROM (SELECT pg_try_advisory_xact_lock(hashtext($2)) AS locked) l
       LEFT JOIN (nat_gateways g JOIN projects p ON p.id = g.project_id) ON g.id = $1`,
      [id, key],
    );
    if (first?.locked) {
      if (first.id === null) return undefined;
      const { locked: _locked, ...gw } = first;
      return gw;
    }
    await this.db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
    return this.db.one<LockedGateway & Record<string, unknown>>(`${GATEWAY_SELECT} FROM nat_gateways g JOIN projects p ON p.id = g.project_id WHERE g.id = $1`, [id]);
  }

  /** Whether the gateway has a generation not computed yet (no lock): lets a job with nothing to do end without a transaction. */
  async behind(id: string): Promise<boolean | undefined> {
    return (await this.db.one<{ b: boolean }>('SELECT observed_generation < generation AS b FROM nat_gateways WHERE id = $1', [id]))?.b;
  }

  /**
   * For an incremental computation, in one statement and without a lock or a transaction: the
   * gateway as lockGateway reads it, and the endpoint writes behind generations (after, current]
   * (gateway_endpoint_changes), each with the endpoint as candidateEndpoints would return it
   * (null: no longer in the network and region). When there is one per generation, nothing else
   * changed the gateway in between. Nothing read here is trusted at commit: commitReconcile
   * writes only on the reconcile_seq read here.
   */
  async readIncremental(id: string, after: number): Promise<(LockedGateway & { changes: EndpointChange[] }) | undefined> {
    return this.db.one<LockedGateway & { changes: EndpointChange[] } & Record<string, unknown>>(
      `${GATEWAY_SELECT},
              (SELECT coalesce(json_agg(json_build_object('generation', c.generation::float8, 'endpointId', c.endpoint_id, 'endpoint',
                 CASE WHEN e.id IS NULL THEN NULL ELSE json_build_object('id', e.id, 'name', e.name, 'hostInterface', e.host_interface, 'networkIp', host(e.network_ip),
                   'aliasIpRanges', e.alias_ip_ranges, 'forwardedIpRanges', e.forwarded_ip_ranges, 'hostId', e.host_id, 'hostName', h.name, 'subnetName', s.name) END)), '[]')
               FROM gateway_endpoint_changes c
               LEFT JOIN (endpoints e JOIN subnets s ON s.id = e.subnet_id AND s.network_id = g.network_id AND s.region = g.region
                          JOIN hosts h ON h.id = e.host_id) ON e.id = c.endpoint_id
               WHERE c.gateway_id = g.id AND c.generation > $2 AND c.generation <= g.generation) AS changes
       FROM nat_gateways g JOIN projects p ON p.id = g.project_id WHERE g.id = $1`,
      [id, after],
    );
  }

  /**
   * Ends the gateway's drains that reached its maxDrainDurationSec (under the gateway's lock, in
   * the computation's transaction): the addresses leave the spec's drain lists and the gateway's
   * addresses (free to delete), and the gateway gets a new generation. Returns what ended and the
   * new spec and generation; nothing ended: an empty list and the gateway as given.
   */
  async endDrains(gw: LockedGateway): Promise<{ ended: EndedDrain[]; spec: NatGatewaySpec; generation: number }> {
    const due = () =>
      this.db.query<EndedDrain & { addressId: string }>(
        `SELECT ga.address_id AS "addressId", a.name, host(a.address) AS ip, ga.rule_number AS "ruleNumber"
         FROM gateway_addresses ga JOIN addresses a ON a.id = ga.address_id JOIN nat_gateways g ON g.id = ga.gateway_id
         WHERE ga.gateway_id = $1 AND ga.draining AND coalesce((g.spec->>'maxDrainDurationSec')::int, 0) > 0
           AND ga.drain_since + make_interval(secs => (g.spec->>'maxDrainDurationSec')::int) <= now()
         ORDER BY a.address`,
        [gw.id],
      );
    // The usual case, nothing due: no row lock (the api's generation bumps never wait for us).
    if ((await due()).rows.length === 0) return { ended: [], spec: gw.spec, generation: gw.generation };
    // The spec is rewritten from the row as it is now, under the lock every api write of the
    // gateway takes: a PATCH committed since lockGateway's read is kept, never overwritten.
    const cur = (await this.db.one<{ spec: NatGatewaySpec; generation: number }>(
      'SELECT spec, generation::float8 AS generation FROM nat_gateways WHERE id = $1 FOR NO KEY UPDATE',
      [gw.id],
    ))!;
    const { rows } = await due();
    if (rows.length === 0) return { ended: [], spec: cur.spec, generation: cur.generation };
    const gone = (ruleNumber: number) => new Set(rows.filter((r) => r.ruleNumber === ruleNumber).map((r) => r.name));
    const spec: NatGatewaySpec = {
      ...cur.spec,
      drainNatIps: cur.spec.drainNatIps.filter((n) => !gone(-1).has(n)),
      rules: cur.spec.rules.map((r) => ({ ...r, action: { ...r.action, sourceNatDrainIps: r.action.sourceNatDrainIps.filter((n) => !gone(r.ruleNumber).has(n)) } })),
    };
    await this.db.query('DELETE FROM gateway_addresses WHERE gateway_id = $1 AND address_id = ANY($2::uuid[])', [gw.id, rows.map((r) => r.addressId)]);
    const row = await this.db.one<{ generation: number }>(
      `UPDATE nat_gateways SET spec = $2, generation = generation + 1, state = 'PROVISIONING', version = version + 1, updated_at = now()
       WHERE id = $1 RETURNING generation::float8 AS generation`,
      [gw.id, JSON.stringify(spec)],
    );
    return { ended: rows.map(({ addressId: _a, ...r }) => r), spec, generation: row!.generation };
  }

  /**
   * The whole commit of a computation, full or incremental, as ONE statement (atomic with or
   * without a transaction), under one guard: the gateway is as the computation read it (its
   * reconcile_seq is still `status.seq`; for a gateway that is gone, there is no row) and the
   * gateway's advisory lock is free or held by this session (a full computation holds it in its
   * transaction; an incremental one takes it for the statement, so it never writes beside a full
   * computation under way). Only if the guard holds: the status and one more reconciler commit;
   * the removed and changed blocks deleted, then (after them, so the exclusion constraint sees the
   * final state) the new ones inserted; history rows closed and opened; the hosts `bump` raised to
   * a new generation, then each `leaving` host unless it waits (its VM's new host was just raised
   * and has not applied that generation); the host states written and dropped (a waiting host's
   * state keeps its old section and names the host and generation it waits for); the consumed
   * endpoint changes deleted. Undefined, having written nothing, when the guard fails. Otherwise
   * the new reconcile_seq (null: gone), the raised hosts (with what a push needs), the host states
   * as written, and the opened history rows.
   */
  async commitReconcile(gatewayId: string, c: ReconcileCommit): Promise<ReconcileCommitted | undefined> {
    const { values, $ } = parameters();
    const gw = $(gatewayId);
    const fin = 'EXISTS (SELECT FROM fin)';
    const at = $(c.history.at);
    const lock = `pg_try_advisory_xact_lock(hashtext(${$(lockKey(gatewayId))}))`;
    const f = c.status;
    const observed = f ? $(f.observedGeneration) : 'NULL';
    const guard = f
      ? `UPDATE nat_gateways SET observed_generation = GREATEST(observed_generation, ${observed}), state = ${$(f.state)}, status_message = ${$(f.message)},
           nat_status = ${$(JSON.stringify(f.natStatus))}, reconcile_seq = reconcile_seq + 1
         WHERE id = ${gw} AND reconcile_seq = ${$(f.seq)} AND ${lock}
         RETURNING reconcile_seq`
      : `SELECT NULL::bigint AS reconcile_seq WHERE NOT EXISTS (SELECT FROM nat_gateways WHERE id = ${gw}) AND ${lock}`;
    const { blocks, history, hosts } = c;
    const hostCols = 'id, name, agent_url, push_secret, desired_generation, applied_generation';
    const current = (h: string) => `(SELECT hh.desired_generation FROM hosts hh WHERE hh.id = ${h})`;
    const row = await this.db.one<{ ok: boolean; seq: number | null; bumped: BumpedHost[]; states: GatewayHostState[]; opened: HistoryRow[] }>(
      `WITH fin AS (${guard}),
       removed AS (
         DELETE FROM allocations a USING unnest(${$(blocks.removed.map((r) => r.natIp))}::text[], ${$(blocks.removed.map((r) => r.portLo))}::int[]) AS x(ip, lo)
         WHERE a.gateway_id = ${gw} AND a.nat_ip = x.ip::inet AND a.port_lo = x.lo AND ${fin} RETURNING 1),
       added AS (${insertBlocks($, gatewayId, blocks.added, `${fin} AND (SELECT count(*) FROM removed) >= 0`)}),
       ${closeHistoryCte($, 'closed', history.close, at, fin)},
       opened AS (${insertOpenHistory($, history.open, at, fin)}),
       bumped_now AS (
         UPDATE hosts SET desired_generation = desired_generation + 1 WHERE id = ANY(${$(hosts.bump)}::uuid[]) AND ${fin}
         RETURNING ${hostCols}),
       leaving AS (
         SELECT x.h, x.w, x.f, x.g, b.desired_generation AS wg, (b.id IS NOT NULL AND b.applied_generation < b.desired_generation) AS waits
         FROM unnest(${$(hosts.leaving.map((l) => l.hostId))}::uuid[], ${$(hosts.leaving.map((l) => l.waitHostId))}::uuid[],
                     ${$(hosts.leaving.map((l) => l.fingerprint))}::text[], ${$(hosts.leaving.map((l) => l.requiredGeneration))}::bigint[]) AS x(h, w, f, g)
           LEFT JOIN bumped_now b ON b.id = x.w),
       bumped_later AS (
         UPDATE hosts SET desired_generation = desired_generation + 1 FROM leaving l WHERE hosts.id = l.h AND NOT l.waits AND ${fin}
         RETURNING ${hostCols.split(', ').map((col) => `hosts.${col}`).join(', ')}),
       bumped AS (SELECT * FROM bumped_now UNION ALL SELECT * FROM bumped_later),
       waiting AS (SELECT h, w, f, g, wg FROM leaving WHERE waits),
       written AS (
         INSERT INTO gateway_hosts (gateway_id, host_id, required_generation, fingerprint, wait_host_id, wait_generation)
         SELECT ${gw}, x.h, COALESCE(b.desired_generation, x.g, ${current('x.h')}, 0), x.f, NULL::uuid, NULL::bigint
         FROM unnest(${$(hosts.states.map((s) => s.hostId))}::uuid[], ${$(hosts.states.map((s) => s.requiredGeneration))}::bigint[],
                     ${$(hosts.states.map((s) => s.fingerprint))}::text[]) AS x(h, g, f)
           LEFT JOIN bumped b ON b.id = x.h
         WHERE ${fin} AND NOT EXISTS (SELECT FROM waiting w WHERE w.h = x.h)
         UNION ALL
         SELECT ${gw}, w.h, COALESCE(w.g, ${current('w.h')}, 0), w.f, w.w, w.wg FROM waiting w WHERE ${fin}
         ON CONFLICT (gateway_id, host_id) DO UPDATE SET required_generation = EXCLUDED.required_generation, fingerprint = EXCLUDED.fingerprint,
           wait_host_id = EXCLUDED.wait_host_id, wait_generation = EXCLUDED.wait_generation
         RETURNING host_id, required_generation, fingerprint, wait_host_id, wait_generation),
       dropped AS (
         DELETE FROM gateway_hosts WHERE gateway_id = ${gw} AND host_id = ANY(${$(hosts.drop)}::uuid[]) AND ${fin}
           AND NOT EXISTS (SELECT FROM waiting w WHERE w.h = host_id)),
       consumed AS (DELETE FROM gateway_endpoint_changes WHERE gateway_id = ${gw} AND generation <= ${observed} AND ${fin})
       SELECT ${fin} AS ok, (SELECT reconcile_seq::float8 FROM fin) AS seq,
              (SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, 'agentUrl', agent_url, 'pushSecret', push_secret,
                 'desiredGeneration', desired_generation::float8)), '[]') FROM bumped) AS bumped,
              (SELECT coalesce(json_agg(json_build_object('hostId', host_id, 'requiredGeneration', required_generation::float8, 'fingerprint', fingerprint,
                 'waitHostId', wait_host_id, 'waitGeneration', wait_generation::float8)), '[]') FROM written) AS states,
              (SELECT coalesce(json_agg(opened), '[]') FROM opened) AS opened`,
      values,
    );
    if (!row?.ok) return undefined;
    return { seq: row.seq, bumped: row.bumped, states: row.states, opened: row.opened };
  }
}
