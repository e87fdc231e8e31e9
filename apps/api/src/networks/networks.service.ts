import { Injectable } from '@nestjs/common';
import { AlreadyExistsError, InUseError } from '@natplane/domain';
import { Db, NetworksRepository, type NetworkRecord, type Page } from '@natplane/persistence';
import type { ProjectScope } from '../common/auth';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { NetworkInputDto } from './networks.dto';

@Injectable()
export class NetworksService {
  constructor(
    private readonly db: Db,
    private readonly networks: NetworksRepository,
  ) {}

  async create(p: ProjectScope, input: NetworkInputDto): Promise<NetworkRecord> {
    return this.db.transaction(async () => {
      if (await this.networks.get(p.id, input.name)) throw new AlreadyExistsError('network', input.name);
      const id = await this.networks.insert(p.id, { name: input.name, description: input.description ?? '', labels: input.labels ?? {} });
      return (await this.networks.getById(id))!;
    });
  }

  async get(p: ProjectScope, name: string): Promise<NetworkRecord> {
    return getOr404(this.networks, p.id, 'network', name);
  }

  list(p: ProjectScope, req: ListRequest): Promise<Page<NetworkRecord>> {
    return this.networks.list(p.id, req);
  }

  async patch(p: ProjectScope, name: string, patch: unknown, ifMatch?: string): Promise<NetworkRecord> {
    return this.db.transaction(async () => {
      const cur = await lockForWrite(this.networks, p.id, 'network', name, ifMatch, 'update');
      const next = await mergePatch({ name: cur.name, description: cur.description, labels: cur.labels }, patch, NetworkInputDto, ['name']);
      await this.networks.update(cur.id, { description: next.description ?? '', labels: next.labels ?? {} });
      return (await this.networks.getById(cur.id))!;
    });
  }

  async delete(p: ProjectScope, name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await lockForWrite(this.networks, p.id, 'network', name, ifMatch, 'delete');
      const users = await this.networks.users(cur.id);
      if (users.length) throw new InUseError(`network '${name}'`, users.map((u) => `projects/${p.name}/${u}`));
      await this.networks.delete(cur.id);
    });
  }
}
