import type { NatGatewaySpec } from '@natplane/domain';
import { ConflictError } from '@natplane/domain';
import type { Db } from '../db';
import { PG_UNIQUE_VIOLATION, pgCode } from '../db';
import type { GatewayState } from '../entities';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface GatewayRecord extends ResourceRecord {
  scopeId: string;
  networkId: string;
  networkName: string;
  region: string;
  spec: NatGatewaySpec;
  generation: number;
  observedGeneration: number;
  state: GatewayState;
  statusMessage: string;
  natStatus: Record<string, unknown> | null;
  hostsTotal: number;
  hostsProgrammed: number;
}

export interface GatewayAddressEntry {
  addressId: string;
  ruleNumber: number;
  draining: boolean;
}

export class GatewaysRepository extends ResourceTable<GatewayRecord> {
  constructor(db: Db) {
    super(db, {
      table: 'nat_gateways',
      scope: 'project_id',
      columns: {
        networkId: 'network_id',
        region: 'region',
        spec: 'spec',
        generation: 'generation',
        observedGeneration: 'observed_generation',
        state: 'state',
        statusMessage: 'status_message',
        natStatus: 'nat_status',
      },
      reads: { generation: 't.generation::float8', observedGeneration: 't.observed_generation::float8' },
      joined: {
        networkName: 'n.name',
        hostsTotal: '(SELECT count(*)::int FROM gateway_hosts gh WHERE gh.gateway_id = t.id)',
        hostsProgrammed:
          '(SELECT count(*)::int FROM gateway_hosts gh JOIN hosts h ON h.id = gh.host_id WHERE gh.gateway_id = t.id AND h.applied_generation >= gh.required_generation)',
      },
      joins: 'JOIN networks n ON n.id = t.network_id',
      filterable: { network: 'n.name', region: 't.region' },
      uniques: { nat_gateways_project_id_name_key: 'name' },
    });
  }

  /**
   * Replaces the gateway's address uses (the tenant's: natIps, drainNatIps, rules' IPs). An
   * address used by another gateway -> 409. The addresses the gateway took itself from the pools
   * (AUTO_ONLY, taken by the reconciler) stay while `keepAuto` (the gateway is still AUTO_ONLY:
   * a PATCH of its timeouts must not change its NAT IPs); otherwise they go back to the pools.
   * A drain keeps its start while the address stays draining in the same place (its deadline
   * counts from there); an address that starts draining now starts its drain now.
   */
  async setAddresses(gatewayId: string, entries: GatewayAddressEntry[], keepAuto: boolean): Promise<void> {
    let before: { addressId: string; ruleNumber: number; drainSince: Date | null }[];
    if (keepAuto) {
      ({ rows: before } = await this.db.query<{ addressId: string; ruleNumber: number; drainSince: Date | null }>(
        `DELETE FROM gateway_addresses ga USING addresses a WHERE ga.gateway_id = $1 AND a.id = ga.address_id AND NOT a.auto_allocated
         RETURNING ga.address_id AS "addressId", ga.rule_number AS "ruleNumber", ga.drain_since AS "drainSince"`,
        [gatewayId],
      ));
    } else {
      await this.releaseAutoAddresses(gatewayId);
      ({ rows: before } = await this.db.query<{ addressId: string; ruleNumber: number; drainSince: Date | null }>(
        `DELETE FROM gateway_addresses WHERE gateway_id = $1 RETURNING address_id AS "addressId", rule_number AS "ruleNumber", drain_since AS "drainSince"`,
        [gatewayId],
      ));
    }
    if (entries.length === 0) return;
    const since = new Map(before.filter((b) => b.drainSince !== null).map((b) => [`${b.addressId}/${b.ruleNumber}`, b.drainSince]));
    try {
      await this.db.query(
        `INSERT INTO gateway_addresses (address_id, gateway_id, rule_number, draining, drain_since)
         SELECT a, $1, r, d, CASE WHEN d THEN coalesce(s, now()) END FROM unnest($2::uuid[], $3::int[], $4::bool[], $5::timestamptz[]) AS x(a, r, d, s)`,
        [
          gatewayId,
          entries.map((e) => e.addressId),
          entries.map((e) => e.ruleNumber),
          entries.map((e) => e.draining),
          entries.map((e) => (e.draining ? (since.get(`${e.addressId}/${e.ruleNumber}`) ?? null) : null)),
        ],
      );
    } catch (e) {
      if (pgCode(e) === PG_UNIQUE_VIOLATION) throw new ConflictError('an address is already used by another gateway');
      throw e;
    }
  }

  /**
   * Gives back to the pools the addresses the gateway took itself (AUTO_ONLY): they are deleted
   * with their use, so the next gateway can take them. Called when the gateway is deleted or
   * stops being AUTO_ONLY. Returns their names.
   */
  async releaseAutoAddresses(gatewayId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ name: string }>(
      `WITH uses AS (
         DELETE FROM gateway_addresses ga USING addresses a
         WHERE ga.gateway_id = $1 AND a.id = ga.address_id AND a.auto_allocated
         RETURNING ga.address_id)
       DELETE FROM addresses a USING uses WHERE a.id = uses.address_id AND a.auto_allocated RETURNING a.name`,
      [gatewayId],
    );
    return rows.map((r) => r.name);
  }

  /** The PRIVATE_NAT subnets a gateway's rules take their NAT IPs from: name -> primary range. */
  async privateNatRanges(gatewayId: string): Promise<Map<string, string>> {
    const { rows } = await this.db.query<{ name: string; range: string }>(
      `SELECT s.name, s.ip_cidr_range::text AS range FROM gateway_subnets gs JOIN subnets s ON s.id = gs.subnet_id
       WHERE gs.gateway_id = $1 AND s.purpose = 'PRIVATE_NAT'`,
      [gatewayId],
    );
    return new Map(rows.map((r) => [r.name, r.range]));
  }

  async gatewayIps(gatewayId: string): Promise<{ name: string; ip: string; ruleNumber: number; draining: boolean }[]> {
    const { rows } = await this.db.query<{ name: string; ip: string; ruleNumber: number; draining: boolean }>(
      `SELECT a.name, host(a.address) AS ip, ga.rule_number AS "ruleNumber", ga.draining FROM gateway_addresses ga JOIN addresses a ON a.id = ga.address_id
       WHERE ga.gateway_id = $1 ORDER BY a.address`,
      [gatewayId],
    );
    return rows;
  }

  /** Addresses a gateway took from the pools itself (AUTO_ONLY), in the order taken. */
  async autoAddresses(gatewayId: string): Promise<{ id: string; name: string; ip: string }[]> {
    const { rows } = await this.db.query<{ id: string; name: string; ip: string }>(
      `SELECT a.id, a.name, host(a.address) AS ip FROM gateway_addresses ga JOIN addresses a ON a.id = ga.address_id
       WHERE ga.gateway_id = $1 AND a.auto_allocated ORDER BY a.created_at, a.address`,
      [gatewayId],
    );
    return rows;
  }

  async attachAutoAddress(gatewayId: string, addressId: string): Promise<void> {
    await this.db.query('INSERT INTO gateway_addresses (address_id, gateway_id, rule_number, draining) VALUES ($1, $2, -1, false)', [addressId, gatewayId]);
  }

  /**
   * The gateway's drains: each drained address (by name), its rule, when it started draining and,
   * with a maxDrainDurationSec, when its drain ends by itself.
   */
  async drains(gatewayId: string): Promise<{ address: string; ruleNumber: number; drainStartTime: Date; drainDeadline: Date | null }[]> {
    const { rows } = await this.db.query<{ address: string; ruleNumber: number; drainStartTime: Date; drainDeadline: Date | null }>(
      `SELECT a.name AS "address", ga.rule_number AS "ruleNumber", ga.drain_since AS "drainStartTime",
              CASE WHEN coalesce((g.spec->>'maxDrainDurationSec')::int, 0) > 0
                   THEN ga.drain_since + make_interval(secs => (g.spec->>'maxDrainDurationSec')::int) END AS "drainDeadline"
       FROM gateway_addresses ga JOIN addresses a ON a.id = ga.address_id JOIN nat_gateways g ON g.id = ga.gateway_id
       WHERE ga.gateway_id = $1 AND ga.draining ORDER BY ga.rule_number, a.name`,
      [gatewayId],
    );
    return rows;
  }

  async setSubnets(gatewayId: string, subnetIds: string[]): Promise<void> {
    await this.db.query('DELETE FROM gateway_subnets WHERE gateway_id = $1', [gatewayId]);
    if (subnetIds.length === 0) return;
    await this.db.query('INSERT INTO gateway_subnets (gateway_id, subnet_id) SELECT $1, unnest($2::uuid[])', [gatewayId, subnetIds]);
  }

  /**
   * The other gateways of a network and region, for the 409 rules on overlapping scopes. Read
   * under the network's lock (NetworksRepository.lock), which every write of a gateway's spec
   * holds: no row lock of theirs is needed (taking them, in name order after one's own, is what
   * deadlocked two PATCHes of one network).
   */
  async othersInNetworkRegion(networkId: string, region: string, excludeId: string | null): Promise<{ id: string; name: string; spec: NatGatewaySpec }[]> {
    const { rows } = await this.db.query<{ id: string; name: string; spec: NatGatewaySpec }>(
      `SELECT id, name, spec FROM nat_gateways WHERE network_id = $1 AND region = $2 AND ($3::uuid IS NULL OR id <> $3) ORDER BY name`,
      [networkId, region, excludeId],
    );
    return rows;
  }

  /** Every gateway whose scope includes the subnet (same network and region; listed or all). */
  async coveringSubnet(subnetId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT g.id FROM subnets s JOIN nat_gateways g ON g.network_id = s.network_id AND g.region = s.region
       WHERE s.id = $1 AND (g.spec->>'sourceSubnetworkIpRangesToNat' <> 'LIST_OF_SUBNETWORKS'
              OR EXISTS (SELECT 1 FROM gateway_subnets gs WHERE gs.gateway_id = g.id AND gs.subnet_id = s.id))`,
      [subnetId],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Bumps, in one statement (the hot path of endpoint writes), every gateway an endpoint write
   * concerns: those covering its subnet, and those still holding blocks of the endpoint (a block
   * in quarantine or drain after the endpoint left their scope is in its host's document too).
   */
  async bumpForEndpoint(subnetId: string, endpointId: string): Promise<{ id: string; generation: number }[]> {
    const { rows } = await this.db.query<{ id: string; generation: number }>(
      `WITH ${bumpForEndpointCte('$1', '$2')}
       SELECT id, generation::float8 AS generation FROM bumped`,
      [subnetId, endpointId],
    );
    return rows;
  }

  /**
   * A committed change concerns these gateways: bump their generation in the same transaction.
   * Their rows are locked in id order, as by every statement that bumps several gateways.
   */
  async bumpGeneration(ids: string[]): Promise<{ id: string; generation: number }[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<{ id: string; generation: number }>(
      `WITH locked AS (SELECT id FROM nat_gateways WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE)
       UPDATE nat_gateways g SET generation = g.generation + 1, state = 'PROVISIONING' FROM locked l WHERE g.id = l.id
       RETURNING g.id, g.generation::float8 AS generation`,
      [[...new Set(ids)]],
    );
    return rows;
  }
}

/**
 * The WITH members (`bumped`, then `recorded`) that bump every gateway an endpoint write concerns
 * (see bumpForEndpoint), given the SQL parameters holding the subnet and endpoint ids. `bumped`
 * returns (id, generation). Each bump records its generation and the endpoint
 * (gateway_endpoint_changes), so that the reconciler can update its last result for this
 * endpoint alone. Shared with the endpoint insert, which runs it in the same statement, only if
 * (`onlyIf`, an SQL condition) the endpoint was inserted, and for an endpoint just `created`
 * (no gateway can hold blocks of it yet) reads nat_gateways once instead of twice: its one
 * gateway row is also the hottest row of the database, whose dead versions every read visits.
 */
export function bumpForEndpointCte(subnetParam: string, endpointParam: string, opts: { onlyIf?: string; created?: boolean } = {}): string {
  const onlyIf = opts.onlyIf ? `(${opts.onlyIf}) AND ` : '';
  const covering = `(g2.spec->>'sourceSubnetworkIpRangesToNat' <> 'LIST_OF_SUBNETWORKS'
                  OR EXISTS (SELECT 1 FROM gateway_subnets gs WHERE gs.gateway_id = g2.id AND gs.subnet_id = s.id))`;
  // The gateway rows are locked in id order (a subnet may be NATed by two gateways, one for its
  // primary and one for its secondary ranges), as by every statement that bumps several.
  const bumped = opts.created
    ? `bumped AS (
         UPDATE nat_gateways g SET generation = g.generation + 1, state = 'PROVISIONING'
         FROM (SELECT g2.id FROM subnets s JOIN nat_gateways g2 ON g2.network_id = s.network_id AND g2.region = s.region
               WHERE ${onlyIf}s.id = ${subnetParam}::uuid AND ${covering}
               ORDER BY g2.id FOR NO KEY UPDATE OF g2) l
         WHERE g.id = l.id
         RETURNING g.id, g.generation)`
    : `bumped AS (
         UPDATE nat_gateways g SET generation = g.generation + 1, state = 'PROVISIONING'
         FROM (SELECT id FROM nat_gateways WHERE ${onlyIf}id IN (
                 SELECT g2.id FROM subnets s JOIN nat_gateways g2 ON g2.network_id = s.network_id AND g2.region = s.region
                 WHERE s.id = ${subnetParam}::uuid AND ${covering}
                 UNION SELECT a.gateway_id FROM allocations a WHERE a.endpoint_id = ${endpointParam}::uuid)
               ORDER BY id FOR NO KEY UPDATE) l
         WHERE g.id = l.id
         RETURNING g.id, g.generation)`;
  return `${bumped},
       recorded AS (INSERT INTO gateway_endpoint_changes (gateway_id, generation, endpoint_id) SELECT id, generation, ${endpointParam}::uuid FROM bumped)`;
}
