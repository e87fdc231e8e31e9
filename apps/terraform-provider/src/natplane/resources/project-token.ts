import { ApiError, ok } from '@natplane/sdk';
import type { ResourceDef } from '../../framework/resource';
import { text } from '../../framework/values';
import { str } from '../../framework/schema';
import { NAME_RE } from '../kit';
import { DiagnosticsError, error } from '../../framework/diagnostics';

/**
 * natplane_project_token (operator): a bearer token scoped to one project. The API shows a token
 * once and has no way to list or revoke one, so: the token is known to the run that created it;
 * destroying the resource forgets it (it stays valid); import takes the project's name and
 * leaves the token unknown to Terraform (null).
 */
export const projectToken: ResourceDef = {
  typeName: 'natplane_project_token',
  description: 'A bearer token scoped to one project (operator; admin token). Shown once: destroying the resource only removes it from the state.',
  schema: {
    project: str('The project. Changing it creates a new token.', { required: true, forceNew: true }),
    token: str('The token: use it as the provider\'s `token` for that project.', { computed: true, sensitive: true, writeOnce: true }),
  },
  async create(ctx, planned) {
    const project = text(planned.project);
    const t = await ok(ctx.client.POST('/v1/admin/projects/{name}/tokens', { params: { path: { name: project } } }));
    return { project, token: t.token };
  },
  async read(ctx, state) {
    try {
      const p = await ok(ctx.client.GET('/v1/admin/projects/{name}', { params: { path: { name: text(state.project) } } }));
      return { project: p.name };
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  },
  async update(_ctx, prior) {
    return { project: text(prior.project) };
  },
  async delete() {
    /* the API cannot revoke a token: Terraform forgets it */
  },
  importState(_ctx, id) {
    if (!NAME_RE.test(id)) throw new DiagnosticsError([error(`Import ID "${id}" is not a project name`)]);
    return { project: id };
  },
};
