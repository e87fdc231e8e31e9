import { ConflictError } from '@natplane/domain';
import { PG_UNIQUE_VIOLATION, pgCode, pgConstraint, type Db } from '../db';
import type { AliasIpRange } from '../entities';
import { ResourceTable, rfc3339, type ResourceRecord } from '../resource-table';
import { bumpForEndpointCte } from './gateways.repository';

export interface SubnetRef {
  id: string;
  name: string;
  networkId: string;
  region: string;
  ipCidrRange: string;
  secondaryIpRanges: { rangeName: string; ipCidrRange: string }[];
  /** PRIVATE_NAT subnets hold no endpoint (immutable, so a remembered value stays true). */
  purpose: 'PRIVATE' | 'PRIVATE_NAT';
}

export interface EndpointRecord extends ResourceRecord {
  scopeId: string;
  subnetId: string;
  subnetName: string;
  networkId: string;
  hostId: string;
  hostName: string;
  /** The host-side device of the NIC; null when the platform did not name it. */
  hostInterface: string | null;
  networkIp: string;
  aliasIpRanges: AliasIpRange[];
  canIpForward: boolean;
  forwardedIpRanges: string[];
}

/**
 * An endpoint's sources collide on its host with another endpoint's (the trigger of migration
 * 1765000000000): `field` is what collides, `holder` the endpoint in the way, for the caller to name.
 */
export class HostSourceConflict extends ConflictError {
  constructor(
    readonly field: 'networkIp' | 'aliasIpRanges' | 'hostInterface',
    readonly holder: string,
  ) {
    super(`${field} collides on the host with endpoint ${holder}`, [{ field, message: 'collides with another endpoint on the host' }]);
  }
}

/** Who holds what collided: the other endpoint's names, for a message. */
export interface EndpointHolder {
  project: string;
  projectId: string;
  network: string;
  endpoint: string;
  hostInterface: string | null;
}

export class EndpointsRepository extends ResourceTable<EndpointRecord> {
  /**
   * insertAndBumpGateways' statement per column list (a create names the same columns every time):
   * written once, so each create neither builds the 1 KB text again nor has it hashed for its
   * statement name (Db's statementName) and compared with the prepared one (node-postgres).
   */
  private readonly insertAndBumpSql = new Map<string, string>();

  constructor(db: Db) {
    super(db, {
      table: 'endpoints',
      scope: 'project_id',
      columns: { subnetId: 'subnet_id', networkId: 'network_id', hostId: 'host_id', hostInterface: 'host_interface', networkIp: 'network_ip', aliasIpRanges: 'alias_ip_ranges', canIpForward: 'can_ip_forward', forwardedIpRanges: 'forwarded_ip_ranges' },
      reads: { networkIp: 'host(t.network_ip)' },
      joined: { subnetName: 's.name', hostName: 'h.name' },
      joins: 'JOIN subnets s ON s.id = t.subnet_id JOIN hosts h ON h.id = t.host_id',
      filterable: { subnet: 's.name', host: 'h.name', networkIp: 'host(t.network_ip)' },
      uniques: { endpoints_project_id_name_key: 'name', endpoints_network_id_network_ip_key: 'networkIp', endpoints_host_id_host_interface_key: 'hostInterface' },
    });
  }

  protected override translate(e: unknown): unknown {
    if (pgCode(e) === PG_UNIQUE_VIOLATION && pgConstraint(e) === 'endpoints_host_sources') {
      try {
        const d = JSON.parse(String((e as { detail?: string }).detail)) as { field: HostSourceConflict['field']; endpoint: string };
        return new HostSourceConflict(d.field, d.endpoint);
      } catch {
        return new ConflictError("the endpoint's sources collide with another endpoint's on its host");
      }
    }
    return super.translate(e);
  }

  /** The names of an endpoint (any project's), to explain a collision on a host. */
  async holder(id: string): Promise<EndpointHolder | undefined> {
    return this.db.one<EndpointHolder>(
      `SELECT p.name AS project, p.id AS "projectId", n.name AS network, e.name AS endpoint, e.host_interface AS "hostInterface"
         FROM endpoints e JOIN projects p ON p.id = e.project_id JOIN networks n ON n.id = e.network_id WHERE e.id = $1`,
      [id],
    );
  }

  /**
   * Inserts an endpoint and bumps the gateways it concerns (GatewaysRepository.bumpForEndpoint) in
   * ONE statement, so both commit together even outside a transaction, in one round trip, and the
   * gateway rows stay locked only while PostgreSQL commits (never while the api is busy).
   *
   * Only if the subnet and the host are still exactly `refs` (what the caller validated the
   * endpoint against, possibly remembered from an earlier request): otherwise nothing is written
   * and the answer is undefined, for the caller to read them again. The subnet is share-locked
   * by that check (a PATCH of it in progress is waited for, and the check made again on what it
   * committed), so a subnet narrowed at the same moment never ends up with this endpoint outside.
   */
  async insertAndBumpGateways(
    projectId: string,
    values: Partial<EndpointRecord> & { subnetId: string },
    refs: { subnet: SubnetRef; host: { id: string; region: string } },
  ): Promise<{ id: string; createdAt: string; updatedAt: string; bumped: { id: string; generation: number }[] } | undefined> {
    const ins = this.insertStatement(projectId, values);
    let text = this.insertAndBumpSql.get(ins.columns);
    if (text === undefined) {
      text = insertAndBumpSql(ins.columns, ins.placeholders, ins.params.length);
      this.insertAndBumpSql.set(ins.columns, text);
    }
    try {
      const { rows } = await this.db.query<{ createdAt: string; updatedAt: string; bumped: { id: string; generation: number }[] }>(
        text,
        [
          ...ins.params,
          refs.subnet.id,
          ins.id,
          refs.subnet.networkId,
          refs.subnet.region,
          refs.subnet.ipCidrRange,
          JSON.stringify(refs.subnet.secondaryIpRanges),
          refs.host.id,
          refs.host.region,
        ],
      );
      const row = rows[0];
      return row && { id: ins.id, createdAt: row.createdAt, updatedAt: row.updatedAt, bumped: row.bumped };
    } catch (e) {
      throw this.translate(e);
    }
  }

  /** The subnet and host an endpoint names, in one round trip (undefined members: not found). */
  async refs(projectId: string, subnetName: string, hostName: string): Promise<{ subnet?: SubnetRef; host?: { id: string; region: string } }> {
    const { rows } = await this.db.query<{ kind: string; row: Record<string, unknown> }>(
      `SELECT 'subnet' AS kind, json_build_object('id', id, 'name', name, 'networkId', network_id, 'region', region, 'ipCidrRange', ip_cidr_range::text,
              'secondaryIpRanges', secondary_ip_ranges, 'purpose', purpose) AS row FROM subnets WHERE project_id = $1 AND name = $2
       UNION ALL SELECT 'host', json_build_object('id', id, 'region', region) FROM hosts WHERE name = $3`,
      [projectId, subnetName, hostName],
    );
    return {
      subnet: rows.find((r) => r.kind === 'subnet')?.row as SubnetRef | undefined,
      host: rows.find((r) => r.kind === 'host')?.row as { id: string; region: string } | undefined,
    };
  }

  /** The endpoint of the project holding the address (its network's), if any. */
  async holderNameInProject(projectId: string, ip: string): Promise<string | undefined> {
    return (await this.db.one<{ name: string }>('SELECT name FROM endpoints WHERE project_id = $1 AND network_ip = $2::inet LIMIT 1', [projectId, ip]))?.name;
  }
}

/** The statement of insertAndBumpGateways for an INSERT of `columns` ($1..$n), its checks and bump after them. */
function insertAndBumpSql(columns: string, placeholders: string, n: number): string {
  const p = (k: number) => `$${n + k}`;
  return `WITH ins AS (
           INSERT INTO endpoints (${columns}) SELECT ${placeholders}
           WHERE EXISTS (SELECT 1 FROM subnets s WHERE s.id = ${p(1)}::uuid AND s.network_id = ${p(3)}::uuid AND s.region = ${p(4)}::text
                           AND s.ip_cidr_range::text = ${p(5)}::text AND s.secondary_ip_ranges = ${p(6)}::jsonb FOR SHARE)
             AND EXISTS (SELECT 1 FROM hosts h WHERE h.id = ${p(7)}::uuid AND h.region = ${p(8)}::text)
           RETURNING created_at, updated_at),
         ${bumpForEndpointCte(p(1), p(2), { onlyIf: 'EXISTS (SELECT 1 FROM ins)', created: true })}
         SELECT ${rfc3339('ins.created_at')} AS "createdAt", ${rfc3339('ins.updated_at')} AS "updatedAt",
                (SELECT coalesce(json_agg(json_build_object('id', b.id, 'generation', b.generation::float8)), '[]') FROM bumped b) AS bumped
         FROM ins`;
}
