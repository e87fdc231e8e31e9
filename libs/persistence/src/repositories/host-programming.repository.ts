import type { NatGatewaySpec } from '@natplane/domain';
import type { Db } from '../db';
import type { AliasIpRange, BlockState } from '../entities';

/** One block of one endpoint placed on the host, with what the host document needs around it. */
export interface HostBlockRow {
  gatewayId: string;
  gatewayName: string;
  projectName: string;
  spec: NatGatewaySpec;
  endpointId: string;
  endpointName: string;
  /** The host-side device of the endpoint's NIC; null when none is named. */
  hostInterface: string | null;
  /** When the endpoint was made: the older of two endpoints whose sources collide on a host wins. */
  endpointCreatedAt?: string;
  networkIp: string;
  aliasIpRanges: AliasIpRange[];
  subnetName: string;
  ruleNumber: number;
  natIp: string;
  portLo: number;
  portHi: number;
  state: BlockState;
  /** QUARANTINE whose holder's connections were cut (a drain past its deadline): not in the document. */
  cut?: boolean;
}

export interface HostTarget {
  id: string;
  name: string;
  agentUrl: string;
  pushSecret: string;
  desiredGeneration: number;
}

const BLOCK_ROW = `a.gateway_id AS "gatewayId", g.name AS "gatewayName", p.name AS "projectName", g.spec,
  e.id AS "endpointId", e.name AS "endpointName", e.host_interface AS "hostInterface", e.created_at AS "endpointCreatedAt", host(e.network_ip) AS "networkIp", e.alias_ip_ranges AS "aliasIpRanges", s.name AS "subnetName",
  a.rule_number AS "ruleNumber", host(a.nat_ip) AS "natIp", a.port_lo AS "portLo", a.port_hi AS "portHi", a.state, a.cut`;
const BLOCKS_OF_HOST = `allocations a
  JOIN endpoints e ON e.id = a.endpoint_id
  JOIN subnets s ON s.id = e.subnet_id
  JOIN nat_gateways g ON g.id = a.gateway_id
  JOIN projects p ON p.id = g.project_id`;
const BLOCK_ORDER = 'g.id, e.id, a.rule_number, a.nat_ip, a.port_lo';

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
    const { rows } = await this.db.query<HostBlockRow>(
      `SELECT ${BLOCK_ROW} FROM ${BLOCKS_OF_HOST} WHERE e.host_id = $1 ORDER BY ${BLOCK_ORDER}`,
      [hostId],
    );
    return rows;
  }

  /** target() and blocks() in one read (what a push needs). */
  async document(hostId: string): Promise<{ host: HostTarget & { appliedGeneration: number }; blocks: HostBlockRow[] } | undefined> {
    const row = await this.db.one<HostTarget & { appliedGeneration: number; blocks: HostBlockRow[] }>(
      `SELECT h.id, h.name, h.agent_url AS "agentUrl", h.push_secret AS "pushSecret", h.desired_generation::float8 AS "desiredGeneration",
              h.applied_generation::float8 AS "appliedGeneration",
              (SELECT coalesce(json_agg(x ORDER BY x."gatewayId", x."endpointId", x."ruleNumber", x.ip, x."portLo"), '[]')
               FROM (SELECT ${BLOCK_ROW}, a.nat_ip AS ip FROM ${BLOCKS_OF_HOST} WHERE e.host_id = h.id) x) AS blocks
       FROM hosts h WHERE h.id = $1`,
      [hostId],
    );
    if (!row) return undefined;
    const { blocks, ...host } = row;
    return { host, blocks: blocks.map(({ ip: _ip, ...b }: HostBlockRow & { ip?: unknown }) => b) };
  }

  /**
   * The agent acknowledged a generation: records it, never above the desired generation (what
   * it acknowledges is a document of ours, built at most at the desired generation) and never
   * backwards, and returns the gateways that were waiting for this host to reach it before
   * reprogramming a moved VM's old host.
   */
  async acknowledged(hostId: string, generation: number): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `WITH h AS (UPDATE hosts SET applied_generation = GREATEST(applied_generation, LEAST($2::bigint, desired_generation)), push_failures = 0,
                    last_error = NULL, last_push_status = NULL, last_push_time = now() WHERE id = $1
                  RETURNING applied_generation)
       SELECT DISTINCT gateway_id AS id FROM gateway_hosts, h WHERE wait_host_id = $1 AND wait_generation <= h.applied_generation`,
      [hostId, generation],
    );
    return rows.map((r) => r.id);
  }
}
