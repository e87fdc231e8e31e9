import { Injectable } from '@nestjs/common';
import {
  AlreadyExistsError,
  cidr,
  cidrContains,
  cidrsOverlap,
  ConflictError,
  findOverlappingPairs,
  InUseError,
  parseCidr,
  parseIpv4,
  type FieldError,
} from '@natplane/domain';
import { AddressPoolsRepository, Db, type AddressPoolRecord, type Page } from '@natplane/persistence';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { invalid } from '../common/validation';
import { AddressPoolInputDto } from './address-pools.dto';

@Injectable()
export class AddressPoolsService {
  constructor(
    private readonly db: Db,
    private readonly pools: AddressPoolsRepository,
  ) {}

  async create(input: AddressPoolInputDto): Promise<AddressPoolRecord> {
    return this.db.transaction(async () => {
      const cidrs = checkCidrs(input.cidrs);
      if (await this.pools.get(undefined, input.name)) throw new AlreadyExistsError('addressPool', input.name);
      await this.pools.lockAll();
      await this.checkNoOverlap(cidrs, undefined);
      const id = await this.pools.insert(undefined, { name: input.name, description: input.description ?? '', labels: input.labels ?? {}, region: input.region, cidrs });
      return (await this.pools.getById(id))!;
    });
  }

  async get(name: string): Promise<AddressPoolRecord> {
    return getOr404(this.pools, undefined, 'addressPool', name);
  }

  list(req: ListRequest): Promise<Page<AddressPoolRecord>> {
    return this.pools.list(undefined, req);
  }

  async usage(poolId: string): Promise<number> {
    return (await this.pools.takenAddresses(poolId)).length;
  }

  async patch(name: string, patch: unknown, ifMatch?: string): Promise<AddressPoolRecord> {
    return this.db.transaction(async () => {
      const cur = await lockForWrite(this.pools, undefined, 'addressPool', name, ifMatch, 'update');
      const next = await mergePatch(
        { name: cur.name, description: cur.description, labels: cur.labels, region: cur.region, cidrs: cur.cidrs },
        patch,
        AddressPoolInputDto,
        ['name', 'region'],
      );
      const cidrs = checkCidrs(next.cidrs);
      await this.pools.lockAll();
      await this.checkNoOverlap(cidrs, cur.id);
      // Addresses outside the new CIDRs would be orphaned.
      const blocks = cidrs.map(cidr);
      const orphans = (await this.pools.addresses(cur.id)).filter((a) => {
        const ip = parseIpv4(a.address);
        return ip.ok && !blocks.some((b) => cidrContains(b, ip.value));
      });
      if (orphans.length) throw new InUseError('the removed CIDRs', orphans.map((o) => o.path));
      await this.pools.update(cur.id, { description: next.description ?? '', labels: next.labels ?? {}, cidrs });
      return (await this.pools.getById(cur.id))!;
    });
  }

  async delete(name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await lockForWrite(this.pools, undefined, 'addressPool', name, ifMatch, 'delete');
      const users = await this.pools.addresses(cur.id);
      if (users.length) throw new InUseError(`addressPool '${name}'`, users.slice(0, 20).map((u) => u.path));
      await this.pools.delete(cur.id);
    });
  }

  private async checkNoOverlap(cidrs: string[], selfId: string | undefined): Promise<void> {
    const mine = cidrs.map(cidr);
    for (const other of await this.pools.all()) {
      if (other.id === selfId) continue;
      for (const c of other.cidrs) {
        const hit = mine.findIndex((m) => cidrsOverlap(m, cidr(c)));
        if (hit >= 0) throw new ConflictError(`${cidrs[hit]} overlaps ${c} of addressPool '${other.name}'`, [{ field: `cidrs[${hit}]`, message: `overlaps ${c} of addressPool '${other.name}'` }]);
      }
    }
  }
}

/** Valid, canonical and pairwise disjoint CIDRs, else 400 naming each bad element. */
function checkCidrs(cidrs: string[]): string[] {
  const errors: FieldError[] = [];
  cidrs.forEach((c, i) => {
    const r = parseCidr(c);
    if (!r.ok) errors.push({ field: `cidrs[${i}]`, message: r.message });
  });
  if (errors.length) throw invalid(errors);
  for (const [a, b] of findOverlappingPairs(cidrs.map(cidr))) errors.push({ field: `cidrs[${b}]`, message: `overlaps cidrs[${a}]` });
  if (errors.length) throw invalid(errors);
  return cidrs;
}
