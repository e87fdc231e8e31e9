import type { Db } from '../db';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface NetworkRecord extends ResourceRecord {
  scopeId: string;
}

export class NetworksRepository extends ResourceTable<NetworkRecord> {
  constructor(db: Db) {
    super(db, { table: 'networks', scope: 'project_id', columns: {}, uniques: { networks_project_id_name_key: 'name' } });
  }

  /**
   * The first lock of the api's order (apps/api/src/common/crud.ts lockForWrite): held by every
   * write of the network's subnets and gateways, so that their checks against one another (range
   * overlaps, addresses, scopes NATed twice) read a stable set. FOR NO KEY UPDATE: an endpoint
   * inserted into the network (its foreign key takes a key-share lock) never waits for it.
   */
  async lock(networkId: string): Promise<void> {
    await this.db.query('SELECT 1 FROM networks WHERE id = $1 FOR NO KEY UPDATE', [networkId]);
  }

  /**
   * lock() of the network of the named subnet or gateway, taken before that row itself; the
   * network's id, or undefined when there is no such subnet or gateway.
   */
  async lockOf(table: 'subnets' | 'nat_gateways', projectId: string, name: string): Promise<string | undefined> {
    const sql =
      table === 'subnets'
        ? 'SELECT id FROM networks WHERE id = (SELECT network_id FROM subnets WHERE project_id = $1 AND name = $2) FOR NO KEY UPDATE'
        : 'SELECT id FROM networks WHERE id = (SELECT network_id FROM nat_gateways WHERE project_id = $1 AND name = $2) FOR NO KEY UPDATE';
    return (await this.db.one<{ id: string }>(sql, [projectId, name]))?.id;
  }

  async users(networkId: string, limit = 20): Promise<string[]> {
    const { rows } = await this.db.query<{ path: string }>(
      `SELECT path FROM (
         SELECT 'subnets/' || name AS path FROM subnets WHERE network_id = $1
         UNION ALL SELECT 'natGateways/' || name FROM nat_gateways WHERE network_id = $1
       ) u ORDER BY path LIMIT $2`,
      [networkId, limit],
    );
    return rows.map((r) => r.path);
  }
}
