import { Injectable } from '@nestjs/common';
import { AlreadyExistsError, cidr, ConflictError, formatIpv4, InUseError, isHostAddressOf, parseIpv4 } from '@natplane/domain';
import { AddressesRepository, AddressPoolsRepository, Db, type AddressRecord, type Page } from '@natplane/persistence';
import type { ProjectScope } from '../common/auth';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { invalid } from '../common/validation';
import { AddressInputDto } from './addresses.dto';

@Injectable()
export class AddressesService {
  constructor(
    private readonly db: Db,
    private readonly addresses: AddressesRepository,
    private readonly pools: AddressPoolsRepository,
  ) {}

  async create(p: ProjectScope, input: AddressInputDto): Promise<AddressRecord> {
    return this.db.transaction(async () => {
      if (await this.addresses.get(p.id, input.name)) throw new AlreadyExistsError('address', input.name);
      const { address, poolId } = await this.pick(input.region, input.address);
      const id = await this.addresses.insert(p.id, {
        name: input.name,
        description: input.description ?? '',
        labels: input.labels ?? {},
        region: input.region,
        address,
        poolId,
        autoAllocated: false,
      });
      return (await this.addresses.getById(id))!;
    });
  }

  /** A free address of a pool of the region: the one asked for, or the first free one. */
  async pick(region: string, wanted: string | undefined): Promise<{ address: string; poolId: string }> {
    const pools = await this.pools.inRegion(region);
    if (pools.length === 0) throw invalid([{ field: 'region', message: `no address pool serves region ${region}` }]);
    if (wanted !== undefined) {
      const ip = parseIpv4(wanted);
      if (!ip.ok) throw invalid([{ field: 'address', message: ip.message }]);
      const pool = pools.find((pl) => isHostAddressOf(pl.cidrs.map(cidr), ip.value));
      if (!pool) throw invalid([{ field: 'address', message: `is not a usable address of any pool of region ${region}` }]);
      await this.pools.lock(pool.id);
      if ((await this.pools.takenAddresses(pool.id)).includes(wanted)) throw new ConflictError(`address ${wanted} is already reserved`, [{ field: 'address', message: 'is already reserved' }]);
      return { address: formatIpv4(ip.value), poolId: pool.id };
    }
    const free = await this.pools.firstFree(region);
    if (free) return free;
    throw new ConflictError(`no free address is left in the pools of region ${region}`, [{ field: 'region', message: 'pools exhausted' }]);
  }

  async get(p: ProjectScope, name: string): Promise<AddressRecord> {
    return getOr404(this.addresses, p.id, 'address', name);
  }

  list(p: ProjectScope, req: ListRequest): Promise<Page<AddressRecord>> {
    return this.addresses.list(p.id, req);
  }

  async patch(p: ProjectScope, name: string, patch: unknown, ifMatch?: string): Promise<AddressRecord> {
    return this.db.transaction(async () => {
      const cur = await lockForWrite(this.addresses, p.id, 'address', name, ifMatch, 'update');
      const next = await mergePatch(
        { name: cur.name, description: cur.description, labels: cur.labels, region: cur.region, address: cur.address },
        patch,
        AddressInputDto,
        ['name', 'region', 'address'],
      );
      await this.addresses.update(cur.id, { description: next.description ?? '', labels: next.labels ?? {} });
      return (await this.addresses.getById(cur.id))!;
    });
  }

  async delete(p: ProjectScope, name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await lockForWrite(this.addresses, p.id, 'address', name, ifMatch, 'delete');
      if (cur.userGateway) throw new InUseError(`address '${name}'`, [`projects/${p.name}/natGateways/${cur.userGateway}`]);
      await this.addresses.delete(cur.id);
    });
  }
}
