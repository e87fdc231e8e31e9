import type { HostBlockRow, NatGatewaySpec } from '@natplane/domain';
import type { Db } from '../db';

export interface HostTarget {
  id: string;
  name: string;
  agentUrl: string;
  pushSecret: string;
  desiredGeneration: number;
}

const BLOCK_ORDER = 'g.id, e.id, a.rule_number, a.nat_ip, a.port_lo';
/**
 * The gateway's spec comes on the first of its rows only (rows come in BLOCK_ORDER, by gateway
 * first): PostgreSQL sends it and the driver parses it once per gateway rather than once per
 * block; withSpecs() gives it to the other rows.
 */
const BLOCK_ROW = `a.gateway_id AS "gatewayId", g.name AS "gatewayName", p.name AS "projectName",
  CASE WHEN lag(a.gateway_id) OVER (ORDER BY ${BLOCK_ORDER}) IS DISTINCT FROM a.gateway_id THEN g.spec END AS spec,
  e.id AS "endpointId", e.name AS "endpointName", e.host_interface AS "hostInterface", e.created_at AS "endpointCreatedAt", host(e.network_ip) AS "networkIp", e.alias_ip_ranges AS "aliasIpRanges", e.forwarded_ip_ranges AS "forwardedIpRanges", s.name AS "subnetName",
  a.rule_number AS "ruleNumber", host(a.nat_ip) AS "natIp", a.port_lo AS "portLo", a.port_hi AS "portHi", a.state, a.cut`;
const BLOCKS_OF_HOST = `allocations a
  JOIN endpoints e ON e.id = a.endpoint_id
  JOIN subnets s ON s.id = e.subnet_id
  JOIN nat_gateways g ON g.id = a.gateway_id
  JOIN projects p ON p.id = g.project_id`;

/** Gives every row its gateway's spec, which BLOCK_ROW sends on the gateway's first row only. */
function withSpecs(rows: (Omit<HostBlockRow, 'spec'> & { spec: NatGatewaySpec | null })[]): HostBlockRow[] {
  const specs = new Map<string, NatGatewaySpec>();
  for (const r of rows) {
    if (r.spec !== null) specs.set(r.gatewayId, r.spec);
    else r.spec = specs.get(r.gatewayId)!;
  }
  return rows as HostBlockRow[];
}

export class HostProgrammingRepository {
  constructor(private readonly db: Db) {}

  async target(hostId: string): Promise<HostTarget | undefined> {
    return this.db.one<HostTarget & Record<string, unknown>>(
      `SELECT id, name, agent_url AS "agentUrl", push_secret AS "pushSecret", desired_generation::float8 AS "desiredGeneration" FROM hosts WHERE id = $1`,
      [hostId],
    );
  }

  /** Every block of every gateway for the endpoints placed on the host. */
  async blocks(hostId: string): Promise<HostBlockRow[]> {
    const { rows } = await this.db.query<Omit<HostBlockRow, 'spec'> & { spec: NatGatewaySpec | null }>(
      `SELECT ${BLOCK_ROW} FROM ${BLOCKS_OF_HOST} WHERE e.host_id = $1 ORDER BY ${BLOCK_ORDER}`,
      [hostId],
    );
    return withSpecs(rows);
  }

  /**
   * What a push needs: the host, and its blocks when the agent has not acknowledged the desired
   * generation yet (`blocks` undefined when it has: a follow-up job finds nothing to do without
   * reading them). Two statements: the blocks are read after the generation, so they are never
   * older than the generation the document is labelled with (at worst newer, which the push of
   * the next generation repeats). They come as rows, not as one JSON value: a host's blocks
   * aggregated into one value are megabytes in one protocol message, for which the driver grows
   * a buffer by doubling (128 KB .. 4 MB per read), churn that kept ~200 MB of the worker's
   * freed memory in the C allocator's heap in the soak bench.
   */
  async document(hostId: string): Promise<{ host: HostTarget & { appliedGeneration: number }; blocks: HostBlockRow[] | undefined } | undefined> {
    const host = await this.db.one<HostTarget & { appliedGeneration: number }>(
      `SELECT id, name, agent_url AS "agentUrl", push_secret AS "pushSecret", desired_generation::float8 AS "desiredGeneration",
              applied_generation::float8 AS "appliedGeneration"
       FROM hosts WHERE id = $1`,
      [hostId],
    );
    if (!host) return undefined;
    return { host, blocks: host.appliedGeneration >= host.desiredGeneration ? undefined : await this.blocks(hostId) };
  }

  /**
   * The agent acknowledged a generation: records it, never above the desired generation (what
   * it acknowledges is a document of ours, built at most at the desired generation) and never
   * backwards, and returns the gateways that were waiting for this host to reach it before
   * reprogramming a moved VM's old host.
   *
   * Committed without waiting for the WAL flush (synchronous_commit off for this statement's
   * transaction only, set_config(..., true) being SET LOCAL): one acknowledgement per push made
   * this the hot path's third durable commit, and a flush costs PostgreSQL ~0.25 CPU ms here
   * (0.36 -> 0.11 ms a statement measured). Safe to lose: a crash that forgets the last
   * acknowledgements leaves those hosts looking behind, and the sweeper pushes them again; the
   * agent answers with the generation it holds. Only ever for facts an agent can repeat; never
   * for the reconciler's commits, which pushes follow; and never inside a caller's transaction,
   * whose other writes it would make lazy too (there it commits as the transaction does).
   */
  async acknowledged(hostId: string, generation: number): Promise<string[]> {
    const lazy = this.db.inTransaction ? 'SELECT' : `SELECT set_config('synchronous_commit', 'off', true)`;
    const { rows } = await this.db.query<{ id: string }>(
      `WITH lazy AS (${lazy}),
       h AS (UPDATE hosts SET applied_generation = GREATEST(applied_generation, LEAST($2::bigint, desired_generation)), push_failures = 0,
                    last_error = NULL, last_push_status = NULL, last_push_time = now() FROM lazy WHERE id = $1
                  RETURNING applied_generation)
       SELECT DISTINCT gateway_id AS id FROM gateway_hosts, h WHERE wait_host_id = $1 AND wait_generation <= h.applied_generation`,
      [hostId, generation],
    );
    return rows.map((r) => r.id);
  }
}
