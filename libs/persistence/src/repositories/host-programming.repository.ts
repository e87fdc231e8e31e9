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
  networkIp: string;
  aliasIpRanges: AliasIpRange[];
  subnetName: string;
  ruleNumber: number;
  natIp: string;
  portLo: number;
  portHi: number;
  state: BlockState;
}

export interface HostTarget {
  id: string;
  name: string;
  agentUrl: string;
  pushSecret: string;
  desiredGeneration: number;
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
    const { rows } = await this.db.query<HostBlockRow>(
      `SELECT a.gateway_id AS "gatewayId", g.name AS "gatewayName", p.name AS "projectName", g.spec,
              e.id AS "endpointId", e.name AS "endpointName", host(e.network_ip) AS "networkIp", e.alias_ip_ranges AS "aliasIpRanges", s.name AS "subnetName",
              a.rule_number AS "ruleNumber", host(a.nat_ip) AS "natIp", a.port_lo AS "portLo", a.port_hi AS "portHi", a.state
       FROM allocations a
       JOIN endpoints e ON e.id = a.endpoint_id
       JOIN subnets s ON s.id = e.subnet_id
       JOIN nat_gateways g ON g.id = a.gateway_id
       JOIN projects p ON p.id = g.project_id
       WHERE e.host_id = $1
       ORDER BY g.id, e.id, a.rule_number, a.nat_ip, a.port_lo`,
      [hostId],
    );
    return rows;
  }
}
