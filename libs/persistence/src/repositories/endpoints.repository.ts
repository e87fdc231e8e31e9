import type { Db } from '../db';
import type { AliasIpRange } from '../entities';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface EndpointRecord extends ResourceRecord {
  scopeId: string;
  subnetId: string;
  subnetName: string;
  networkId: string;
  hostId: string;
  hostName: string;
  networkIp: string;
  aliasIpRanges: AliasIpRange[];
}

export class EndpointsRepository extends ResourceTable<EndpointRecord> {
  constructor(db: Db) {
    super(db, {
      table: 'endpoints',
      scope: 'project_id',
      columns: { subnetId: 'subnet_id', networkId: 'network_id', hostId: 'host_id', networkIp: 'network_ip', aliasIpRanges: 'alias_ip_ranges' },
      reads: { networkIp: 'host(t.network_ip)' },
      joined: { subnetName: 's.name', hostName: 'h.name' },
      joins: 'JOIN subnets s ON s.id = t.subnet_id JOIN hosts h ON h.id = t.host_id',
      filterable: { subnet: 's.name', host: 'h.name', networkIp: 'host(t.network_ip)' },
      uniques: { endpoints_project_id_name_key: 'name', endpoints_network_id_network_ip_key: 'networkIp' },
    });
  }

  /** The id of the endpoint holding the address in the network, if any. */
  async holderOfIp(networkId: string, ip: string): Promise<string | undefined> {
    return (await this.db.one<{ id: string; name: string }>('SELECT id, name FROM endpoints WHERE network_id = $1 AND network_ip = $2::inet', [networkId, ip]))?.id;
  }

  async nameOf(id: string): Promise<string | undefined> {
    return (await this.db.one<{ name: string }>('SELECT name FROM endpoints WHERE id = $1', [id]))?.name;
  }
}
