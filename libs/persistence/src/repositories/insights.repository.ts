import type { Db } from '../db';
import { PG_UNDEFINED_TABLE, pgCode } from '../db';
import { HISTORY_RETENTION, OPEN_HISTORY, closedPartition } from './history.sql';
import type { HistoryRetention } from './history.repository';
import type { AliasIpRange, BlockState } from '../entities';

export interface MappingBlockRow {
  endpointName: string;
  hostName: string;
  networkIp: string;
  aliasIpRanges: AliasIpRange[];
  ruleNumber: number;
  natIp: string;
  portLo: number;
  portHi: number;
  state: BlockState;
}

export interface AttributionRow {
  projectName: string;
  gatewayName: string;
  endpointName: string;
  hostName: string;
  sourceIp: string;
  natIp: string;
  portLo: number;
  portHi: number;
  validFrom: Date;
  validTo: Date | null;
}

/** Who held a NAT IP and port at an instant (undefined: nobody), and the history's retention. */
export interface Attribution {
  held: AttributionRow | undefined;
  kept: HistoryRetention;
}

export interface QuarantineBlockRow {
  natIp: string;
  portLo: number;
  portHi: number;
  ruleNumber: number;
  until: Date;
}

/** Read models over allocations and their history: mappings, attribution. */
export class InsightsRepository {
  constructor(private readonly db: Db) {}

  /** The blocks (ACTIVE and DRAIN) of a page of the gateway's mapped endpoints, by endpoint name. */
  async mappings(gatewayId: string, after: string | undefined, limit: number): Promise<{ rows: MappingBlockRow[]; nextAfter?: string }> {
    const { rows: names } = await this.db.query<{ name: string }>(
      `SELECT DISTINCT e.name FROM allocations a JOIN endpoints e ON e.id = a.endpoint_id
       WHERE a.gateway_id = $1 AND a.state IN ('ACTIVE', 'DRAIN') AND ($2::text IS NULL OR e.name > $2)
       ORDER BY e.name LIMIT $3`,
      [gatewayId, after ?? null, limit + 1],
    );
    const more = names.length > limit;
    const page = (more ? names.slice(0, limit) : names).map((n) => n.name);
    if (page.length === 0) return { rows: [] };
    const { rows } = await this.db.query<MappingBlockRow>(
      `SELECT e.name AS "endpointName", h.name AS "hostName", host(e.network_ip) AS "networkIp", e.alias_ip_ranges AS "aliasIpRanges",
              a.rule_number AS "ruleNumber", host(a.nat_ip) AS "natIp", a.port_lo AS "portLo", a.port_hi AS "portHi", a.state
       FROM allocations a JOIN endpoints e ON e.id = a.endpoint_id JOIN hosts h ON h.id = e.host_id
       WHERE a.gateway_id = $1 AND a.state IN ('ACTIVE', 'DRAIN') AND e.name = ANY($2::text[])
       ORDER BY e.name, a.rule_number, a.nat_ip, a.port_lo`,
      [gatewayId, page],
    );
    return { rows, nextAfter: more ? page[page.length - 1] : undefined };
  }

  /** The gateway's blocks still in quarantine (until in the future), by NAT IP and port. */
  async quarantine(gatewayId: string): Promise<QuarantineBlockRow[]> {
    const { rows } = await this.db.query<QuarantineBlockRow>(
      `SELECT host(nat_ip) AS "natIp", port_lo AS "portLo", port_hi AS "portHi", rule_number AS "ruleNumber", until
       FROM allocations WHERE gateway_id = $1 AND state = 'QUARANTINE' AND until > now()
       ORDER BY nat_ip, port_lo`,
      [gatewayId],
    );
    return rows;
  }

  /**
   * Who held natIp:port at `at` (optionally within one project): at most one row (quarantine),
   * and how far back the history is kept (what a miss before it means). One statement, so a
   * lookup is one round trip hit or miss: two index probes, the rows held now and the closed
   * rows of the one day partition that holds `at` (a closed row is stored once per day it
   * spans), named directly so that planning never walks the months of partitions (a day past
   * the retention has no partition: nobody), beside the retention's one row.
   */
  async attribution(natIp: string, port: number, at: Date, projectId: string | undefined): Promise<Attribution> {
    const cols = `project_name AS "projectName", gateway_name AS "gatewayName", endpoint_name AS "endpointName", host_name AS "hostName",
              host(source_ip) AS "sourceIp", host(nat_ip) AS "natIp", port_lo AS "portLo", port_hi AS "portHi", valid_from AS "validFrom"`;
    const params = [natIp, port, at, projectId ?? null];
    const open = `SELECT ${cols}, NULL::timestamptz AS "validTo" FROM ${OPEN_HISTORY}
         WHERE nat_ip = $1::inet AND int4range(port_lo, port_hi, '[]') @> $2::int AND tstzrange(valid_from, NULL, '[)') @> $3::timestamptz
           AND ($4::uuid IS NULL OR project_id = $4)`;
    const closed = `SELECT ${cols}, valid_to AS "validTo" FROM ${closedPartition(at)}
         WHERE nat_ip = $1::inet AND int4range(port_lo, port_hi, '[]') @> $2::int AND tstzrange(piece_from, piece_to, '[)') @> $3::timestamptz
           AND ($4::uuid IS NULL OR project_id = $4)`;
    const withRetention = (held: string) =>
      `SELECT k.kept_from AS "keptFrom", k.retention_days AS "retentionDays", h.* FROM ${HISTORY_RETENTION} k LEFT JOIN LATERAL (${held}) h ON true`;
    let r: (AttributionRow & HistoryRetention) | undefined;
    try {
      r = await this.db.one(withRetention(`(${open}) UNION ALL (${closed}) ORDER BY "validFrom" DESC LIMIT 1`), params);
    } catch (e) {
      if (pgCode(e) !== PG_UNDEFINED_TABLE) throw e;
      r = await this.db.one(withRetention(`${open} ORDER BY valid_from DESC LIMIT 1`), params);
    }
    if (!r) throw new Error(`${HISTORY_RETENTION} has no row: run the migrations`);
    const { keptFrom, retentionDays, ...held } = r;
    return { held: held.projectName === null ? undefined : held, kept: { keptFrom, retentionDays } };
  }

  /** Address name -> IP of a project's addresses (for status and preview). */
  /** The project's PRIVATE_NAT subnets: name -> primary range (a PRIVATE gateway's NAT IPs). */
  async privateNatRanges(projectId: string): Promise<Map<string, string>> {
    const { rows } = await this.db.query<{ name: string; range: string }>(
      `SELECT name, ip_cidr_range::text AS range FROM subnets WHERE project_id = $1 AND purpose = 'PRIVATE_NAT'`,
      [projectId],
    );
    return new Map(rows.map((r) => [r.name, r.range]));
  }

  async addressIps(projectId: string): Promise<Map<string, { ip: string; autoAllocated: boolean }>> {
    const { rows } = await this.db.query<{ name: string; ip: string; autoAllocated: boolean }>(
      `SELECT name, host(address) AS ip, auto_allocated AS "autoAllocated" FROM addresses WHERE project_id = $1`,
      [projectId],
    );
    return new Map(rows.map((r) => [r.name, { ip: r.ip, autoAllocated: r.autoAllocated }]));
  }

  /** The addresses a gateway took itself (AUTO_ONLY). */
  async autoIps(gatewayId: string): Promise<{ ip: string; draining: boolean }[]> {
    const { rows } = await this.db.query<{ ip: string; draining: boolean }>(
      `SELECT host(a.address) AS ip, ga.draining FROM gateway_addresses ga JOIN addresses a ON a.id = ga.address_id
       WHERE ga.gateway_id = $1 AND a.auto_allocated ORDER BY a.address`,
      [gatewayId],
    );
    return rows;
  }

  async endpointNames(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const { rows } = await this.db.query<{ id: string; name: string }>('SELECT id, name FROM endpoints WHERE id = ANY($1::uuid[])', [ids]);
    return new Map(rows.map((r) => [r.id, r.name]));
  }
}
