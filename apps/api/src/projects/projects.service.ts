import { Injectable } from '@nestjs/common';
import { AlreadyExistsError, InUseError } from '@natplane/domain';
import { Db, ProjectsRepository, TokensRepository, type Page, type ProjectRecord } from '@natplane/persistence';
import { AuthCache } from '../common/auth';
import { getOr404, type ListRequest, lockForWrite, mergePatch } from '../common/crud';
import { ProjectInputDto } from './projects.dto';

@Injectable()
export class ProjectsService {
  constructor(
    private readonly db: Db,
    private readonly projects: ProjectsRepository,
    private readonly tokens: TokensRepository,
    private readonly authCache: AuthCache,
  ) {}

  /** Who may call what changes with this commit: every api process forgets what it cached (AuthCache). */
  private async authChanged(): Promise<void> {
    await this.tokens.announceChange();
    this.db.afterCommit(() => this.authCache.clear());
  }

  async create(input: ProjectInputDto): Promise<ProjectRecord> {
    return this.db.transaction(async () => {
      if (await this.projects.get(undefined, input.name)) throw new AlreadyExistsError('project', input.name);
      const id = await this.projects.insert(undefined, { name: input.name, description: input.description ?? '', labels: input.labels ?? {} });
      await this.authChanged();
      return (await this.projects.getById(id))!;
    });
  }

  async get(name: string): Promise<ProjectRecord> {
    return getOr404(this.projects, undefined, 'project', name);
  }

  list(req: ListRequest): Promise<Page<ProjectRecord>> {
    return this.projects.list(undefined, req);
  }

  async patch(name: string, patch: unknown, ifMatch?: string): Promise<ProjectRecord> {
    return this.db.transaction(async () => {
      const cur = await lockForWrite(this.projects, undefined, 'project', name, ifMatch, 'update');
      const next = await mergePatch(inputOf(cur), patch, ProjectInputDto, ['name']);
      await this.projects.update(cur.id, { description: next.description ?? '', labels: next.labels ?? {} });
      return (await this.projects.getById(cur.id))!;
    });
  }

  async delete(name: string, ifMatch?: string): Promise<void> {
    await this.db.transaction(async () => {
      const cur = await lockForWrite(this.projects, undefined, 'project', name, ifMatch, 'delete');
      const users = await this.projects.users(cur.id);
      if (users.length) throw new InUseError(`project '${name}'`, users.map((u) => `projects/${name}/${u}`));
      await this.projects.delete(cur.id);
      await this.authChanged();
    });
  }

  async issueToken(name: string): Promise<string> {
    const p = await this.get(name);
    return this.tokens.issue('project', { projectId: p.id });
  }
}

export function inputOf(r: ProjectRecord): ProjectInputDto {
  return { name: r.name, description: r.description, labels: r.labels };
}
