import { cidr, firstFreeAddress, formatIpv4, parseIpv4 } from '@natplane/domain';
import type { Db } from '../db';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface AddressPoolRecord extends ResourceRecord {
  region: string;
  cidrs: string[];
}

export class AddressPoolsRepository extends ResourceTable<AddressPoolRecord> {
  constructor(db: Db) {
    super(db, {
      table: 'address_pools',
      columns: { region: 'region', cidrs: 'cidrs' },
      reads: { cidrs: 't.cidrs::text[]' },
      arrays: ['cidrs'],
      filterable: { region: 't.region' },
      uniques: { address_pools_name_key: 'name' },
    });
  }

  /** Serializes pool CIDR changes (no two pools may overlap). */
  async lockAll(): Promise<void> {
    await this.db.query('LOCK TABLE address_pools IN SHARE ROW EXCLUSIVE MODE');
  }

  async inRegion(region: string): Promise<AddressPoolRecord[]> {
    const { rows } = await this.db.query<AddressPoolRecord>(
      `SELECT id, name, region, cidrs::text[] AS cidrs FROM address_pools WHERE region = $1 ORDER BY name`,
      [region],
    );
    return rows;
  }

  async all(): Promise<AddressPoolRecord[]> {
    return (await this.db.query<AddressPoolRecord>(`SELECT id, name, region, cidrs::text[] AS cidrs FROM address_pools ORDER BY name`)).rows;
  }

  /** Addresses taken from the pool (they keep it, or the CIDRs holding them, from going away). */
  async addresses(poolId: string): Promise<{ path: string; address: string }[]> {
    const { rows } = await this.db.query<{ path: string; address: string }>(
      `SELECT 'projects/' || p.name || '/addresses/' || a.name AS path, host(a.address) AS address
       FROM addresses a JOIN projects p ON p.id = a.project_id WHERE a.pool_id = $1 ORDER BY 1`,
      [poolId],
    );
    return rows;
  }

  /** Serializes address allocation from one pool (two requests never pick the same free address). */
  async lock(poolId: string): Promise<void> {
    await this.db.query('SELECT 1 FROM address_pools WHERE id = $1 FOR UPDATE', [poolId]);
  }

  /**
   * The first free host address of the region's pools (pools in name order), each pool locked
   * while it is searched so two requests never pick the same address.
   */
  async firstFree(region: string): Promise<{ address: string; poolId: string } | undefined> {
    for (const pool of await this.inRegion(region)) {
      await this.lock(pool.id);
      const taken = new Set((await this.takenAddresses(pool.id)).map((a) => (parseIpv4(a) as { value: number }).value));
      const free = firstFreeAddress(pool.cidrs.map(cidr), taken);
      if (free !== undefined) return { address: formatIpv4(free), poolId: pool.id };
    }
    return undefined;
  }

  async takenAddresses(poolId: string): Promise<string[]> {
    return (await this.db.query<{ a: string }>('SELECT host(address) AS a FROM addresses WHERE pool_id = $1', [poolId])).rows.map((r) => r.a);
  }
}
