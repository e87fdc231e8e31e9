import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, InUseError } from '@natplane/domain';
import { Db, HostsRepository, TokensRepository, type HostRecord, type Page } from '@natplane/persistence';
import { AuthCache } from '../common/auth';
import { ChangeNotifier } from '../common/change-notifier';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { HostInputDto } from './hosts.dto';

@Injectable()
export class HostsService {
  constructor(
    private readonly db: Db,
    private readonly hosts: HostsRepository,
    private readonly tokens: TokensRepository,
    private readonly changes: ChangeNotifier,
    private readonly authCache: AuthCache,
  ) {}

  async create(input: HostInputDto): Promise<{ host: HostRecord; hostToken: string; pushSecret: string }> {
    return this.db.transaction(async () => {
      if (await this.hosts.get(undefined, input.name)) throw new AlreadyExistsError('host', input.name);
      const pushSecret = randomBytes(32).toString('base64url');
      const id = await this.hosts.insert(undefined, {
        name: input.name,
        description: input.description ?? '',
        labels: input.labels ?? {},
        region: input.region,
        zone: input.zone,
        agentUrl: input.agentUrl,
        pushSecret,
      });
      const hostToken = await this.tokens.issue('host', { hostId: id });
      await this.changes.hostsChanged([id]);
      return { host: (await this.hosts.getById(id))!, hostToken, pushSecret };
    });
  }

  async get(name: string): Promise<HostRecord> {
    return getOr404(this.hosts, undefined, 'host', name);
  }

  list(req: ListRequest): Promise<Page<HostRecord>> {
    return this.hosts.list(undefined, req);
  }

  async patch(name: string, patch: unknown, ifMatch?: string): Promise<HostRecord> {
    return this.db.transaction(async () => {
      const cur = await lockForWrite(this.hosts, undefined, 'host', name, ifMatch, 'update');
      const next = await mergePatch(inputOf(cur), patch, HostInputDto, ['name', 'region', 'zone']);
      await this.hosts.update(cur.id, { description: next.description ?? '', labels: next.labels ?? {}, agentUrl: next.agentUrl });
      // A new agent address: push the whole document there again.
      if (next.agentUrl !== cur.agentUrl) await this.changes.hostsChanged([cur.id]);
      return (await this.hosts.getById(cur.id))!;
    });
  }

  async delete(name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await lockForWrite(this.hosts, undefined, 'host', name, ifMatch, 'delete');
      const users = await this.hosts.users(cur.id);
      if (users.length) throw new InUseError(`host '${name}'`, users);
      await this.hosts.delete(cur.id);
      // Its token goes with it: every api process forgets it at once (AuthCache).
      await this.tokens.announceChange();
      this.db.afterCommit(() => this.authCache.clear());
    });
  }
}

function inputOf(r: HostRecord): HostInputDto {
  return { name: r.name, description: r.description, labels: r.labels, region: r.region, zone: r.zone, agentUrl: r.agentUrl };
}
