import type { Db } from '../db';
import type { SecondaryRange, SubnetPurpose } from '../entities';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface SubnetRecord extends ResourceRecord {
  scopeId: string;
  networkId: string;
  networkName: string;
  region: string;
  ipCidrRange: string;
  secondaryIpRanges: SecondaryRange[];
  purpose: SubnetPurpose;
}

export class SubnetsRepository extends ResourceTable<SubnetRecord> {
  constructor(db: Db) {
    super(db, {
      table: 'subnets',
      scope: 'project_id',
      columns: { networkId: 'network_id', region: 'region', ipCidrRange: 'ip_cidr_range', secondaryIpRanges: 'secondary_ip_ranges', purpose: 'purpose' },
      reads: { ipCidrRange: 't.ip_cidr_range::text' },
      joined: { networkName: 'n.name' },
      joins: 'JOIN networks n ON n.id = t.network_id',
      filterable: { network: 'n.name', region: 't.region' },
      uniques: { subnets_project_id_name_key: 'name' },
    });
  }

  async inNetwork(networkId: string): Promise<SubnetRecord[]> {
    const { rows } = await this.db.query<SubnetRecord>(
      `SELECT id, name, region, ip_cidr_range::text AS "ipCidrRange", secondary_ip_ranges AS "secondaryIpRanges" FROM subnets WHERE network_id = $1 ORDER BY name`,
      [networkId],
    );
    return rows;
  }

  /**
   * Keeps the subnet of the named endpoint as it is until the transaction ends (FOR SHARE: a PATCH
   * of the subnet waits), so that an endpoint PATCH checks its address against the range that
   * stays; the first lock of an endpoint PATCH (a subnet comes before its endpoints).
   */
  async shareOfEndpoint(projectId: string, endpointName: string): Promise<void> {
    await this.db.query('SELECT 1 FROM subnets WHERE id = (SELECT subnet_id FROM endpoints WHERE project_id = $1 AND name = $2) FOR SHARE', [projectId, endpointName]);
  }

  async users(subnetId: string, limit = 20): Promise<string[]> {
    const { rows } = await this.db.query<{ path: string }>(
      `SELECT path FROM (
         SELECT 'endpoints/' || name AS path FROM endpoints WHERE subnet_id = $1
         UNION ALL SELECT 'natGateways/' || g.name FROM gateway_subnets gs JOIN nat_gateways g ON g.id = gs.gateway_id WHERE gs.subnet_id = $1
       ) u ORDER BY path LIMIT $2`,
      [subnetId, limit],
    );
    return rows.map((r) => r.path);
  }

  /**
   * Serialises the writes that put PRIVATE_NAT ranges to use (until the transaction ends): a NAT IP
   * and port is held once across every gateway (allocations_no_overlap), so two gateways, of any
   * projects, must never take overlapping ranges at once.
   */
  async lockPrivateNatRanges(): Promise<void> {
    await this.db.query(`SELECT pg_advisory_xact_lock(hashtext('natplane.private_nat_ranges'))`);
  }

  /**
   * What already holds addresses of `range` as NAT IPs: another gateway's PRIVATE_NAT subnet
   * (with its project, so that the caller names it only to its own project) or a region's
   * address pool.
   */
  async privateNatRangeUsers(range: string, excludeGatewayId: string | null): Promise<{ kind: 'gateway' | 'pool'; projectId: string | null; name: string; range: string }[]> {
    const { rows } = await this.db.query<{ kind: 'gateway' | 'pool'; projectId: string | null; name: string; range: string }>(
      `SELECT 'gateway' AS kind, g.project_id AS "projectId", g.name, s.ip_cidr_range::text AS range
         FROM gateway_subnets gs JOIN subnets s ON s.id = gs.subnet_id JOIN nat_gateways g ON g.id = gs.gateway_id
        WHERE s.purpose = 'PRIVATE_NAT' AND s.ip_cidr_range && $1::cidr AND ($2::uuid IS NULL OR g.id <> $2)
       UNION ALL
       SELECT 'pool', NULL, p.name, c::text FROM address_pools p, unnest(p.cidrs) c WHERE c && $1::cidr
       ORDER BY 1, 3 LIMIT 20`,
      [range, excludeGatewayId],
    );
    return rows;
  }

  /** Endpoints whose alias ranges come from the named secondary ranges. */
  async aliasUsers(subnetId: string, rangeNames: string[]): Promise<string[]> {
    const { rows } = await this.db.query<{ name: string }>(
      `SELECT name FROM endpoints WHERE subnet_id = $1
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(alias_ip_ranges) a WHERE a->>'subnetworkRangeName' = ANY($2::text[]))
       ORDER BY name LIMIT 20`,
      [subnetId, rangeNames],
    );
    return rows.map((r) => r.name);
  }

  async endpointsOutside(subnetId: string, cidr: string): Promise<string[]> {
    const { rows } = await this.db.query<{ name: string }>(
      `SELECT name FROM endpoints WHERE subnet_id = $1 AND NOT (network_ip <<= $2::cidr) ORDER BY name LIMIT 20`,
      [subnetId, cidr],
    );
    return rows.map((r) => r.name);
  }
}
