import type { Db } from '../db';
import type { PlanReads, ScopeEndpoint, StoredBlock, UsageRow } from '@natplane/planner';

export const BLOCK_COLUMNS = `host(nat_ip) AS "natIp", port_lo AS "portLo", port_hi AS "portHi", endpoint_id AS "endpointId",
  rule_number AS "ruleNumber", state, since, until, quarantine_sec AS "quarantineSec", cut`;

/**
 * What the allocator's input is read from (PlanReads): the endpoints a gateway may cover, its
 * blocks, other gateways' blocks on its IPs, and recent usage. Read by the worker's full load
 * and by the api's preview of a proposed gateway.
 */
export class PlanInputsRepository implements PlanReads {
  constructor(private readonly db: Db) {}

  /** Endpoints of the network's subnets in the region (the caller applies the gateway's range rules). */
  async candidateEndpoints(networkId: string, region: string): Promise<ScopeEndpoint[]> {
    const { rows } = await this.db.query<ScopeEndpoint>(
      `SELECT e.id, e.name, e.host_interface AS "hostInterface", host(e.network_ip) AS "networkIp", e.alias_ip_ranges AS "aliasIpRanges", e.forwarded_ip_ranges AS "forwardedIpRanges", e.host_id AS "hostId", h.name AS "hostName", s.name AS "subnetName"
       FROM endpoints e JOIN subnets s ON s.id = e.subnet_id JOIN hosts h ON h.id = e.host_id
       WHERE s.network_id = $1 AND s.region = $2 ORDER BY e.id::text COLLATE "C"`,
      [networkId, region],
    );
    return rows;
  }

  async blocks(gatewayId: string): Promise<StoredBlock[]> {
    return (await this.db.query<StoredBlock>(`SELECT ${BLOCK_COLUMNS} FROM allocations WHERE gateway_id = $1`, [gatewayId])).rows;
  }

  /** Blocks on these IPs held by other gateways (e.g. an address moved between gateways, still in quarantine). */
  async foreign(ips: string[], gatewayId: string): Promise<StoredBlock[]> {
    if (ips.length === 0) return [];
    return (await this.db.query<StoredBlock>(`SELECT ${BLOCK_COLUMNS} FROM allocations WHERE nat_ip = ANY($1::inet[]) AND gateway_id <> $2`, [ips, gatewayId])).rows;
  }

  async usage(endpointIds: string[]): Promise<UsageRow[]> {
    if (endpointIds.length === 0) return [];
    const { rows } = await this.db.query<{ endpointId: string; ruleNumber: number; portsInUse: number; reportedAt: Date }>(
      `SELECT endpoint_id AS "endpointId", rule_number AS "ruleNumber", ports_in_use AS "portsInUse", reported_at AS "reportedAt"
       FROM endpoint_usage WHERE endpoint_id = ANY($1::uuid[]) AND reported_at > now() - interval '15 minutes'
       ORDER BY reported_at`,
      [endpointIds],
    );
    return rows;
  }
}
