import type { Db } from '../db';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export type ProjectRecord = ResourceRecord;

export class ProjectsRepository extends ResourceTable<ProjectRecord> {
  constructor(db: Db) {
    super(db, { table: 'projects', columns: {}, uniques: { projects_name_key: 'name' } });
  }

  /** Resources that keep a project from being deleted (relative paths, at most `limit`). */
  async users(projectId: string, limit = 20): Promise<string[]> {
    const { rows } = await this.db.query<{ path: string }>(
      `SELECT path FROM (
         SELECT 'networks/' || name AS path FROM networks WHERE project_id = $1
         UNION ALL SELECT 'addresses/' || name FROM addresses WHERE project_id = $1 AND NOT auto_allocated
       ) u ORDER BY path LIMIT $2`,
      [projectId, limit],
    );
    return rows.map((r) => r.path);
  }
}
