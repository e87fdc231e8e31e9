import type { Db } from '../db';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface NetworkRecord extends ResourceRecord {
  scopeId: string;
}

export class NetworksRepository extends ResourceTable<NetworkRecord> {
  constructor(db: Db) {
    super(db, { table: 'networks', scope: 'project_id', columns: {}, uniques: { networks_project_id_name_key: 'name' } });
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
