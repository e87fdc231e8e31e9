import type { Db } from '../db';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface AddressRecord extends ResourceRecord {
  scopeId: string;
  region: string;
  address: string;
  poolId: string;
  autoAllocated: boolean;
  /** The gateway using the address, if any. */
  userGateway: string | null;
}

export class AddressesRepository extends ResourceTable<AddressRecord> {
  constructor(db: Db) {
    super(db, {
      table: 'addresses',
      scope: 'project_id',
      columns: { region: 'region', address: 'address', poolId: 'pool_id', autoAllocated: 'auto_allocated' },
      reads: { address: 'host(t.address)' },
      joined: {
        userGateway: '(SELECT g.name FROM gateway_addresses ga JOIN nat_gateways g ON g.id = ga.gateway_id WHERE ga.address_id = t.id)',
      },
      filterable: { region: 't.region', address: 'host(t.address)' },
      uniques: { addresses_project_id_name_key: 'name', addresses_address_key: 'address' },
    });
  }

  async byNames(projectId: string, names: string[]): Promise<AddressRecord[]> {
    if (names.length === 0) return [];
    const { rows } = await this.db.query<AddressRecord>(
      `SELECT t.id, t.name, t.region, host(t.address) AS address,
              (SELECT g.name FROM gateway_addresses ga JOIN nat_gateways g ON g.id = ga.gateway_id WHERE ga.address_id = t.id) AS "userGateway"
       FROM addresses t WHERE t.project_id = $1 AND t.name = ANY($2::text[])`,
      [projectId, names],
    );
    return rows;
  }

}
